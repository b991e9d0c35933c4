"""Batched Overcooked kitchen (overcooked_ai's rules) for 2 to 8 chefs, every copy as tensors.

State per copy: each chef's cell (flat index `y * W + x`), facing (0..3 = N, S, E, W) and held item (with the
onion count of a held soup); per cell the item lying there (on a counter, or the soup in a pot), its onion
count and the pot's cooking tick (-1 while idle).

A step follows overcooked_ai's `get_state_transition`:
1. interacts, chef by chef in index order, from the positions and facings before the move (vectorised over
   copies; the loop runs over the few chefs because a later chef sees what an earlier one took or dropped);
2. movement: a move turns the chef even when blocked and enters the cell only if it is floor; if any two
   chefs would end on one cell or swap cells, no chef of that copy moves (the reference's rule, for any N);
3. cooking: with `old_dynamics` an idle pot of 3 onions starts by itself; every cooking pot ticks once.

Rewards: sparse = what a delivery pays (to the deliverer); shaped (kept apart, `self.shaped_reward`): 3 per
onion put in a pot, 5 per soup taken from a pot, 3 per useful dish pickup. The reward handed to learners is
`sparse + w * shaped`, with `w` annealed linearly from `shaped_reward_weight` to 0 over
`shaped_reward_horizon` transitions (steps x copies) taken by this object; horizon 0 keeps `w` constant.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from envs.kitchen.layout import (
    COUNTER,
    DISH_DISPENSER,
    FLOOR,
    MAX_INGREDIENTS,
    ONION_DISPENSER,
    POT,
    SERVING,
    TOMATO_DISPENSER,
    KitchenLayout,
    LayoutError,
)
from marl import BatchedEnv, GroupSpec, agent_names
from marl.core.validation import (
    check_bool,
    check_choice,
    check_int,
    check_number,
    check_positive_int,
    validated,
)

GROUP = "chefs"
NORTH, SOUTH, EAST, WEST, STAY, INTERACT = range(6)
ACTION_NAMES = ("north", "south", "east", "west", "stay", "interact")
DIRECTIONS = ((0, -1), (0, 1), (1, 0), (-1, 0))  # (dx, dy) for N, S, E, W
NOTHING, ONION, TOMATO, DISH, SOUP = range(5)  # held or lying items
ITEM_NAMES = ("nothing", "onion", "tomato", "dish", "soup")
PLACEMENT_IN_POT_REWARD, DISH_PICKUP_REWARD, SOUP_PICKUP_REWARD = 3.0, 3.0, 5.0
URGENCY_STEPS = 40
MAX_CHEFS = 8
OBSERVATIONS = ("lossless", "features")  # the `observation` key: lossless [C, H, W] grids, or feature vectors
BASE_CHANNELS = (
    "pot",
    "counter",
    "onion_dispenser",
    "tomato_dispenser",
    "dish_dispenser",
    "serving",
    "onions_in_pot",
    "tomatoes_in_pot",
    "onions_in_soup",
    "tomatoes_in_soup",
    "soup_cook_time_remaining",
    "soup_done",
    "dishes",
    "onions",
    "tomatoes",
    "urgency",
)


def channel_names(n_chefs: int) -> tuple[str, ...]:
    """The lossless encoding's channels for one chef: its own position first, then the other chefs' in index
    order, then orientations (own, then the others', N/S/E/W each), then the map and item layers. For 2 chefs
    this is overcooked_ai's 26-channel `lossless_state_encoding` order."""
    others = [f"other_{k}" for k in range(1, n_chefs)]
    who = ["own", *others]
    positions = [f"{w}_position" for w in who]
    orientations = [f"{w}_facing_{d}" for w in who for d in ("north", "south", "east", "west")]
    return (*positions, *orientations, *BASE_CHANNELS)


@dataclass
class KitchenConfig:
    """Config keys of every kitchen task (`kitchen/<layout>`)."""

    n_chefs: int | None = None  # None: one chef per start cell of the layout
    old_dynamics: bool | None = None  # None: on where every order has 3 onions (the 2019 setting)
    horizon: int = 400  # steps per episode
    shaped_reward_weight: float = 1.0  # weight of the shaped reward added to the sparse one
    shaped_reward_horizon: int = 0  # environment steps over which that weight anneals to 0; 0: constant
    observation: str = (
        "lossless"  # "lossless": [C, H, W] grids; "features": the reference's 48 N-value vector
    )

    def validate(self) -> None:
        check_int("n_chefs", self.n_chefs, low=2, high=MAX_CHEFS, allow_none=True)
        if self.old_dynamics is not None:
            check_bool("old_dynamics", self.old_dynamics)
        check_positive_int("horizon", self.horizon)
        check_number("shaped_reward_weight", self.shaped_reward_weight, low=0.0)
        check_int("shaped_reward_horizon", self.shaped_reward_horizon, low=0)
        check_choice("observation", self.observation, OBSERVATIONS)


@dataclass
class KitchenLayoutConfig(KitchenConfig):
    """`kitchen/layout`: any layout, by name (a file of maps/kitchen/) or by path to a `.layout` file."""

    layout: str = "cramped_room"


class KitchenEnv(BatchedEnv):
    """Overcooked on `num_envs` copies of one layout; observation: the lossless `[C, H, W]` encoding, or with
    `observation="features"` overcooked_ai's featurized vector (envs/kitchen/features.py)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 8}
    random_dynamics = False  # fixed layout and starts, as overcooked_ai: the seed changes nothing
    # `marl play`: the first person's keys (arrows, space), the second's (WASD, e); no key: stay
    play_keys = (
        {"up": NORTH, "down": SOUTH, "right": EAST, "left": WEST, "space": INTERACT},
        {"w": NORTH, "s": SOUTH, "d": EAST, "a": WEST, "e": INTERACT},
    )
    play_idle_action = STAY

    def __init__(
        self,
        layout: KitchenLayout,
        config: KitchenConfig | None = None,
        num_envs: int = 1,
        device: str = "cpu",
        seed: int | None = None,
    ) -> None:
        config = validated(config, KitchenConfig)
        old_dynamics, horizon = config.old_dynamics, config.horizon
        n = len(layout.starts) if config.n_chefs is None else config.n_chefs
        if n > len(layout.starts):
            raise LayoutError(
                f"{layout.path}:1: {n} chefs need {n} start cells (1..{n}); the grid has {len(layout.starts)}"
            )
        if old_dynamics is None:
            old_dynamics = layout.orders_have_three
        if old_dynamics and not layout.orders_have_three:
            raise LayoutError(
                f"{layout.path}:1: old_dynamics needs every order to have {MAX_INGREDIENTS} onions "
                "(pots start cooking only when full); use old_dynamics=False"
            )
        self.layout, self.n_chefs, self.old_dynamics, self.horizon = layout, n, bool(old_dynamics), horizon
        self.shaped_reward_weight = float(config.shaped_reward_weight)
        self.shaped_reward_horizon = config.shaped_reward_horizon
        H, W = layout.height, layout.width
        self.height, self.width = H, W
        self.channels = channel_names(n)
        high = float(max(max(layout.cook_time), MAX_INGREDIENTS))
        obs_space = gym.spaces.Box(0.0, high, (len(self.channels), H, W), np.float32)
        self.observation = config.observation
        if self.observation == "features":  # cell offsets and positions, counts, cook times
            from envs.kitchen.features import features_size

            reach = float(max(H, W) - 1)
            obs_space = gym.spaces.Box(-reach, max(reach, high), (features_size(n),), np.float32)
        groups = {GROUP: GroupSpec(agent_names("chef", n), obs_space, gym.spaces.Discrete(len(ACTION_NAMES)))}
        state_space = gym.spaces.Box(0.0, high, (len(self.channels) * H * W,), np.float32)
        super().__init__(
            groups=groups,
            num_envs=num_envs,
            device=device,
            seed=seed,
            max_steps=horizon,
            state_space=state_space,
        )
        B, dev = num_envs, self.device
        self.terrain = torch.as_tensor(layout.terrain.reshape(-1), device=dev)
        self.is_pot = self.terrain == POT
        self.is_counter = self.terrain == COUNTER
        self.cook_time = torch.tensor(layout.cook_time, device=dev)
        self.delivery_value = torch.tensor(layout.delivery_value, dtype=torch.float32, device=dev)
        self.start_cells = torch.tensor([y * W + x for x, y in layout.starts[:n]], device=dev)
        self.step_delta = torch.tensor([dy * W + dx for dx, dy in DIRECTIONS] + [0, 0], device=dev)
        # map layers of the encoding (pot, counter, onion/tomato/dish dispensers, serving), the same everywhere
        tiles = (POT, COUNTER, ONION_DISPENSER, TOMATO_DISPENSER, DISH_DISPENSER, SERVING)
        self.map_layers = torch.stack([(self.terrain == t).float().view(H, W) for t in tiles])
        self.pos = torch.zeros(B, n, dtype=torch.long, device=dev)
        self.facing = torch.zeros_like(self.pos)
        self.held = torch.zeros_like(self.pos)
        self.held_onions = torch.zeros_like(self.pos)
        self.item = torch.zeros(B, H * W, dtype=torch.long, device=dev)
        self.onions = torch.zeros_like(self.item)
        self.tick = torch.full_like(self.item, -1)
        self.sparse_reward = torch.zeros(B, n, device=dev)
        self.shaped_reward = torch.zeros(B, n, device=dev)
        self.soups_delivered = torch.zeros(B, device=dev)
        self.sparse_return = torch.zeros(B, device=dev)
        self.shaped_return = torch.zeros(B, device=dev)
        # a tensor, not an int: torch.compile would recompile the step for every new value of a Python counter
        self.transitions = torch.zeros((), dtype=torch.long, device=dev)
        # the encoding `_observe` computed for the current state (for `_state`), dropped by every reset and step (a
        # dropped cache rather than a step counter: torch.compile would recompile for every new counter value)
        self._last_encoding: Tensor | None = None
        self._renderer = None
        self._features = None
        if self.observation == "features":
            from envs.kitchen.features import KitchenFeatures

            self._features = KitchenFeatures(self)

    # ------------------------------------------------------------------ contract
    def _reset(self, mask: Tensor) -> None:
        self._last_encoding = None
        rows = mask[:, None]
        self.pos = torch.where(rows, self.start_cells, self.pos)
        for tensor, value in ((self.facing, NORTH), (self.held, NOTHING), (self.held_onions, 0)):
            tensor.masked_fill_(rows, value)
        for tensor, value in ((self.item, NOTHING), (self.onions, 0), (self.tick, -1)):
            tensor.masked_fill_(rows, value)
        for tensor in (self.soups_delivered, self.sparse_return, self.shaped_return):
            tensor.masked_fill_(mask, 0.0)

    def _step(self, actions: dict[str, Tensor]) -> dict[str, tuple[Tensor, Tensor]]:
        self._last_encoding = None
        action = actions[GROUP]
        sparse, shaped = self._interact(action)
        self._move(action)
        self._cook()
        self.sparse_reward, self.shaped_reward = sparse, shaped
        self.soups_delivered += (sparse > 0).sum(1)
        self.sparse_return += sparse.sum(1)
        self.shaped_return += shaped.sum(1)
        reward = sparse + self.shaping_weight() * shaped
        self.transitions += self.num_envs
        return {GROUP: (reward, torch.zeros_like(self.alive[GROUP]))}

    def _observe(self) -> dict[str, Tensor]:
        if self._features is not None:
            return {GROUP: self._features()}
        self._last_encoding = self.lossless_encoding()
        return {GROUP: self._last_encoding}

    def _state(self) -> Tensor:
        """Chef 0's encoding: it shows every chef, item and pot (the other chefs' encodings only reorder it);
        taken from the observation of the same state when `_observe` has just computed it."""
        encoding = self._last_encoding
        if encoding is None:
            encoding = self.lossless_encoding(chefs=[0])
        return encoding[:, 0].flatten(1)

    def _episode_stats(self) -> dict[str, Tensor]:
        return {
            "soups_delivered": self.soups_delivered.clone(),
            "sparse_return": self.sparse_return.clone(),
            "shaped_return": self.shaped_return.clone(),
        }

    def _render(self, index: int) -> np.ndarray:
        from envs.kitchen.render import KitchenRenderer

        if self._renderer is None:
            self._renderer = KitchenRenderer(self)
        return self._renderer.draw(index)

    # ------------------------------------------------------------------ rules
    def shaping_weight(self) -> float | Tensor:
        """The weight of the shaped reward now: annealed linearly to 0 over `shaped_reward_horizon` (a 0-dim
        tensor then, computed from the transition count without reading it on the host)."""
        if self.shaped_reward_horizon == 0:
            return self.shaped_reward_weight
        return self.shaped_reward_weight * (1.0 - self.transitions / self.shaped_reward_horizon).clamp(
            min=0.0
        )

    def soup_ready(self, item: Tensor, onions: Tensor, tick: Tensor) -> Tensor:
        return (item == SOUP) & (tick >= 0) & (tick >= self.cook_time[onions])

    def _interact(self, action: Tensor) -> tuple[Tensor, Tensor]:
        """Every chef's interact, in chef order; returns (sparse, shaped) rewards `[B, n]`."""
        B, n = action.shape
        rows = torch.arange(B, device=self.device)
        sparse = torch.zeros(B, n, device=self.device)
        shaped = torch.zeros(B, n, device=self.device)
        pot_soup = self.is_pot & (self.item == SOUP)
        # pots a dish could serve, from the state before any interact: cooking, ready or partly filled
        full_idle = (self.tick < 0) & (self.onions == MAX_INGREDIENTS)
        dish_demand = (pot_soup & ~full_idle).sum(1)
        for i in range(n):
            act = action[:, i] == INTERACT
            front = self.pos[:, i] + self.step_delta[self.facing[:, i]]
            tile = self.terrain[front]
            hand, hand_onions = self.held[:, i].clone(), self.held_onions[:, i].clone()
            item, onions, tick = self.item[rows, front], self.onions[rows, front], self.tick[rows, front]
            empty_hand = hand == NOTHING
            at_counter = act & (tile == COUNTER)
            drop = at_counter & ~empty_hand & (item == NOTHING)
            take = at_counter & empty_hand & (item != NOTHING)
            take_onion = act & (tile == ONION_DISPENSER) & empty_hand
            take_dish = act & (tile == DISH_DISPENSER) & empty_hand
            at_pot = act & (tile == POT)
            idle_soup = (item == SOUP) & (tick < 0)
            start = at_pot & empty_hand & idle_soup if not self.old_dynamics else torch.zeros_like(act)
            take_soup = at_pot & (hand == DISH) & self.soup_ready(item, onions, tick)
            add = at_pot & (hand == ONION) & ((item == NOTHING) | (idle_soup & (onions < MAX_INGREDIENTS)))
            serve = act & (tile == SERVING) & (hand == SOUP)
            if bool(take_dish.any()):
                no_dish_on_counters = ~(self.item == DISH).any(1)
                useful = no_dish_on_counters & ((self.held == DISH).sum(1) < dish_demand)
                shaped[:, i] += DISH_PICKUP_REWARD * (take_dish & useful)
            shaped[:, i] += PLACEMENT_IN_POT_REWARD * add + SOUP_PICKUP_REWARD * take_soup
            sparse[:, i] += torch.where(serve, self.delivery_value[hand_onions], 0.0)
            # the chef's hand
            new_hand = torch.where(drop | add | serve, NOTHING, hand)
            new_hand = torch.where(take, item, new_hand)
            new_hand = torch.where(take_onion, ONION, new_hand)
            new_hand = torch.where(take_dish, DISH, new_hand)
            new_hand = torch.where(take_soup, SOUP, new_hand)
            self.held[:, i] = new_hand
            self.held_onions[:, i] = torch.where(
                take | take_soup, onions, torch.where(new_hand == SOUP, hand_onions, 0)
            )
            # the faced cell
            new_item = torch.where(drop, hand, torch.where(take | take_soup, NOTHING, item))
            new_item = torch.where(add, SOUP, new_item)
            new_onions = torch.where(drop, hand_onions, torch.where(take | take_soup, 0, onions + add.long()))
            new_tick = torch.where(start, 0, torch.where(take_soup, -1, tick))
            self.item[rows, front] = new_item
            self.onions[rows, front] = new_onions
            self.tick[rows, front] = new_tick
        return sparse, shaped

    def _move(self, action: Tensor) -> None:
        """Turn and move; any shared target cell or swap in a copy keeps all its chefs in place."""
        moving = action < STAY
        self.facing = torch.where(moving, action, self.facing)
        target = self.pos + self.step_delta[action]
        target = torch.where(moving & (self.terrain[target] == FLOOR), target, self.pos)
        n = self.n_chefs
        others = ~torch.eye(n, dtype=torch.bool, device=self.device)
        same_cell = target[:, :, None] == target[:, None, :]
        swap = (target[:, :, None] == self.pos[:, None, :]) & (self.pos[:, :, None] == target[:, None, :])
        collision = ((same_cell | swap) & others).flatten(1).any(1)
        self.pos = torch.where(collision[:, None], self.pos, target)

    def _cook(self) -> None:
        pot_soup = self.is_pot & (self.item == SOUP)
        if self.old_dynamics:
            self.tick = torch.where(
                pot_soup & (self.tick < 0) & (self.onions == MAX_INGREDIENTS), 0, self.tick
            )
        cooking = pot_soup & (self.tick >= 0) & (self.tick < self.cook_time[self.onions])
        self.tick = self.tick + cooking.long()

    # ------------------------------------------------------------------ observation
    def lossless_encoding(self, chefs: list[int] | None = None) -> Tensor:
        """overcooked_ai's lossless encoding `[B, len(chefs), C, H, W]` (all chefs by default), as `[C, H, W]`
        per chef: the reference's `(W, H, C)` array transposed."""
        B, n, H, W = self.num_envs, self.n_chefs, self.height, self.width
        cells, dev = H * W, self.device
        chosen = list(range(n)) if chefs is None else chefs
        m, C = len(chosen), len(self.channels)
        obs = torch.empty(B, m, C, cells, device=dev)
        # chef layers: one-hot positions (own first), then one-hot facings, as one scatter over C * cells
        order = torch.tensor([[c] + [o for o in range(n) if o != c] for c in chosen], device=dev)  # [m, n]
        pos, facing = self.pos[:, order], self.facing[:, order]  # [B, m, n]
        slot = torch.arange(n, device=dev)
        at = torch.cat([slot * cells + pos, (n + 4 * slot + facing) * cells + pos], dim=2)
        chef_part = obs[:, :, : 5 * n].view(B, m, 5 * n * cells)
        chef_part.zero_().scatter_(2, at, 1.0)
        # map layers, then the 9 item layers and urgency, the same for every chef
        obs[:, :, 5 * n : 5 * n + 6] = self.map_layers.view(1, 1, 6, cells)
        obs[:, :, 5 * n + 6 : C - 1] = self._item_layers()[:, None]
        obs[:, :, C - 1] = (self.horizon - self.elapsed < URGENCY_STEPS).float()[:, None, None]
        return obs.view(B, m, C, H, W)

    def _item_layers(self) -> Tensor:
        """`[B, 9, cells]`: onions / tomatoes in an idle pot, onions / tomatoes in a soup, cook time remaining,
        soup done, dishes, onions, tomatoes; held items lie at their chef's cell."""
        layers = torch.zeros(self.num_envs, 9, self.height * self.width, device=self.device)
        soup = self.item == SOUP
        idle_pot = soup & self.is_pot & (self.tick < 0)
        onions = self.onions.float()
        cook_time = self.cook_time[self.onions]
        layers[:, 0] = torch.where(idle_pot, onions, 0.0)
        layers[:, 2] = torch.where(soup & ~idle_pot, onions, 0.0)
        cooking = soup & self.is_pot & (self.tick >= 0)
        layers[:, 4] = torch.where(cooking, (cook_time - self.tick).float(), 0.0)
        layers[:, 5] = ((cooking & (self.tick >= cook_time)) | (soup & ~self.is_pot)).float()
        layers[:, 6] = (self.item == DISH).float()
        layers[:, 7] = (self.item == ONION).float()
        held_soup = (self.held == SOUP).float()
        layers[:, 2].scatter_add_(1, self.pos, held_soup * self.held_onions.float())
        layers[:, 5].scatter_add_(1, self.pos, held_soup)
        layers[:, 6].scatter_add_(1, self.pos, (self.held == DISH).float())
        layers[:, 7].scatter_add_(1, self.pos, (self.held == ONION).float())
        return layers

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
