"""A scripted chef that needs no training (`kitchen_greedy`): a partner for trained policies and people.

Each chef, in index order and vectorised over copies, picks the nearest useful tile for what it holds:
- a soup: a serving tile;
- an onion: a pot that is empty or idle with fewer than 3 onions;
- a dish: a pot that is cooking or ready;
- nothing: a pot of 3 idle onions to start (new dynamics), else a dish source when cooking or ready pots
  outnumber the dishes held, else an onion source (a dispenser; items on counters only for a chef that reaches
  no dispenser of them).
When nothing useful is free it puts the item on the nearest empty counter (one the others cannot reach, if
any); when no tile of that kind is reachable at all (forced_coordination's split kitchen), it hands the item
over on an empty counter that another chef can reach.
It walks a shortest path (distances precomputed over the floor), faces the tile and interacts; when the next
cell holds another chef it waits, or with probability `random_when_blocked` takes a random action, which
breaks deadlocks in corridors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

import marl
from envs.kitchen.env import DISH, GROUP, INTERACT, MAX_INGREDIENTS, NOTHING, ONION, SOUP, STAY, KitchenEnv
from envs.kitchen.layout import DISH_DISPENSER, FLOOR, ONION_DISPENSER, POT, SERVING

FAR = 1 << 20


@dataclass
class GreedyConfig:
    random_when_blocked: float = 0.3
    seed: int = 0


def reach_table(env: KitchenEnv) -> tuple[Tensor, Tensor]:
    """`reach [cells, cells]`: steps from a floor cell to stand next to a tile (FAR if unreachable), and
    `neighbour [cells, 4]`: the cell in each direction (the cell itself off the grid)."""
    H, W = env.height, env.width
    cells = H * W
    index = torch.arange(cells)
    x, y = index % W, index // W
    inside = torch.stack([y > 0, y < H - 1, x < W - 1, x > 0], dim=1)
    neighbour = torch.where(inside, index[:, None] + env.step_delta[:4].cpu(), index[:, None])
    floor = env.terrain.cpu() == FLOOR
    dist = torch.full((cells, cells), FAR, dtype=torch.long)
    dist[index[floor], index[floor]] = 0
    for _ in range(cells):  # Bellman-Ford over the floor: dist[a, b] from a to b
        via = dist[:, neighbour].min(dim=2).values + 1  # step from b's neighbour into b
        updated = torch.where(floor[None, :], torch.minimum(dist, via), dist)
        if torch.equal(updated, dist):
            break
        dist = updated
    # stand on the floor cell next to tile t: t's neighbour in some direction
    stand = dist[:, neighbour]  # [from, t, 4]
    stand = torch.where(floor[neighbour][None] & (neighbour[None] != index[None, :, None]), stand, FAR)
    return stand.min(dim=2).values.clamp(max=FAR), neighbour


class GreedyChef(marl.ScriptedPolicy):
    """Fetch onions, fill pots, fetch a dish, take the soup, serve; hand items over where a kitchen is split."""

    def __init__(self, env: marl.BatchedEnv, config: GreedyConfig, device: torch.device) -> None:
        if not isinstance(env, KitchenEnv):
            raise TypeError(f"GreedyChef plays kitchen environments; got {type(env).__name__}")
        super().__init__(env, config, device)
        self.generator = torch.Generator(device=env.device)
        self.generator.manual_seed(int(config.seed))
        reach, neighbour = reach_table(env)
        self.reach, self.neighbour = reach.to(env.device), neighbour.to(env.device)

    def act(self, step: marl.Step, policy_state: Any, deterministic: bool = False, generator=None):
        env: KitchenEnv = self.env
        generator = self.generator if generator is None else generator
        n = env.n_chefs
        terrain, item, onions, tick = env.terrain, env.item, env.onions, env.tick
        pot_soup = env.is_pot & (item == SOUP)
        idle = tick < 0
        fillable = env.is_pot & ((item == NOTHING) | (pot_soup & idle & (onions < MAX_INGREDIENTS)))
        busy_pot = pot_soup & ~idle
        to_start = pot_soup & idle & (onions == MAX_INGREDIENTS)
        dish_dispenser, onion_dispenser = (
            (terrain == DISH_DISPENSER)[None],
            (terrain == ONION_DISPENSER)[None],
        )
        dish_on_counter, onion_on_counter = (item == DISH) & env.is_counter, (item == ONION) & env.is_counter
        empty_counter = env.is_counter & (item == NOTHING)
        want_dish = busy_pot.sum(1) > (env.held == DISH).sum(1)
        wanted, ahead = [], []
        for i in range(n):
            pos, hand = env.pos[:, i], env.held[:, i]
            reach = self.reach[pos]  # [B, cells]
            by_others = torch.zeros_like(empty_counter)
            for j in range(n):
                if j != i:
                    by_others |= self.reach[env.pos[:, j]] < FAR
            # items lying on counters are fetched only by chefs that reach no dispenser of them (else a
            # chef would take back what it just handed over)
            dish_source = self._first_reachable(reach, dish_dispenser.expand_as(reach), dish_on_counter)
            onion_source = self._first_reachable(reach, onion_dispenser.expand_as(reach), onion_on_counter)
            empty_handed = torch.where(want_dish[:, None], dish_source, onion_source)
            if not env.old_dynamics:
                empty_handed = torch.where(
                    self._any_reachable(reach, to_start)[:, None], to_start, empty_handed
                )
            empty_handed = torch.where(
                self._any_reachable(reach, empty_handed)[:, None],
                empty_handed,
                torch.where(want_dish[:, None], onion_source, dish_source),
            )
            useful = torch.where((hand == SOUP)[:, None], (terrain == SERVING)[None], empty_handed)
            useful = torch.where((hand == ONION)[:, None], fillable, useful)
            useful = torch.where((hand == DISH)[:, None], busy_pot, useful)
            # nothing useful free: put the item down on the nearest empty counter (one the others cannot reach
            # if there is one, keeping shared counters free), or, when no tile of the kind is reachable at all,
            # on one another chef can reach (a hand-over)
            kind = torch.where((hand == SOUP)[:, None], terrain == SERVING, terrain == POT)
            private = empty_counter & ~by_others
            aside = torch.where(self._any_reachable(reach, private)[:, None], private, empty_counter)
            put_down = torch.where(
                self._any_reachable(reach, kind)[:, None], aside, empty_counter & by_others
            )
            put_down &= (hand != NOTHING)[:, None]
            useful = torch.where(self._any_reachable(reach, useful)[:, None], useful, put_down)
            action, cell = self._towards(i, reach, useful)
            wanted.append(action)
            ahead.append(cell)
        return {GROUP: self._give_way(torch.stack(wanted, 1), torch.stack(ahead, 1), generator)}, policy_state

    def _give_way(self, action: Tensor, ahead: Tensor, generator: torch.Generator) -> Tensor:
        """A chef whose next cell holds a chef, or is also wanted (or swapped) by an earlier chef, waits, or
        with probability `random_when_blocked` takes a random action."""
        env: KitchenEnv = self.env
        n = env.n_chefs
        moving = ahead != env.pos
        earlier = torch.ones(n, n, dtype=torch.bool, device=env.device).tril(-1)  # [i, j]: j < i
        occupied = (ahead[:, :, None] == env.pos[:, None, :]) & ~torch.eye(
            n, dtype=torch.bool, device=env.device
        )
        contested = (ahead[:, :, None] == ahead[:, None, :]) & moving[:, None, :] & earlier
        blocked = moving & (occupied | contested).any(2)
        shake = (
            torch.rand(blocked.shape, generator=generator, device=env.device)
            < self.config.random_when_blocked
        )
        random_action = torch.randint(6, blocked.shape, generator=generator, device=env.device)
        return torch.where(blocked, torch.where(shake, random_action, STAY), action)

    @staticmethod
    def _any_reachable(reach: Tensor, mask: Tensor) -> Tensor:
        return (mask & (reach < FAR)).any(1)

    @classmethod
    def _first_reachable(cls, reach: Tensor, preferred: Tensor, otherwise: Tensor) -> Tensor:
        return torch.where(cls._any_reachable(reach, preferred)[:, None], preferred, otherwise)

    def _towards(self, i: int, reach: Tensor, target_mask: Tensor) -> tuple[Tensor, Tensor]:
        """Chef i's action towards the nearest tile of `target_mask [B, cells]` (step, turn to face it, or
        interact; STAY when none is reachable) and the cell the action leads to."""
        env: KitchenEnv = self.env
        rows = torch.arange(env.num_envs, device=env.device)
        pos, facing = env.pos[:, i], env.facing[:, i]
        cost = torch.where(target_mask, reach, FAR)
        target = cost.argmin(1)
        distance = cost[rows, target]
        around = self.neighbour[pos]  # [B, 4]
        face = (around == target[:, None]).float().argmax(1)
        adjacent_action = torch.where(facing == face, INTERACT, face)
        onward = self.reach[around, target[:, None]]  # [B, 4]: the move whose cell is one step nearer
        onward = torch.where(env.terrain[around] == FLOOR, onward, FAR)
        move = onward.argmin(1)
        walking = (distance > 0) & (distance < FAR)
        action = torch.where(walking, move, torch.where(distance == 0, adjacent_action, STAY))
        return action, torch.where(walking, around[rows, move], pos)


def register() -> None:
    """Register the scripted chef (idempotent)."""
    marl.register_algo("kitchen_greedy", GreedyChef, GreedyConfig)
