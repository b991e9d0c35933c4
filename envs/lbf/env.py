"""Batched level-based foraging (the rules of lbforaging 2.0.0), every copy as tensors.

State per copy: each player's cell `(row, col)` and level; the foods as a list of `n_food` slots sorted by
cell in row-major order (cell `size * size` and level 0 for a slot never filled), with the current level of
each food (0 once eaten) and the sum of the levels spawned (the reward normaliser).

Spawning (lbforaging's `reset`): players first, one by one, each on a uniformly random free cell; the
reference checks "free" against the other players' positions *of the previous episode* for the players not
yet placed (and the player's own old cell), and so do our auto-resets (`reset()` spawns as a fresh reference
environment does, with no previous cells, so that a seed always gives the same episodes). Player levels are
uniform in `[min_player_level, max_player_level]`. The food level cap is `max_food_level`, or (None) the sum
of the three lowest player levels; non-coop foods are uniform in `[min_food_level, cap]`, coop foods all equal
the cap. Foods go one by one on a uniformly random cell of the interior (rows and columns 1..size-2) that
holds no player, has no food in its 3x3 neighbourhood and none at distance 2 along its row or column; a food
that has no such cell left is not spawned (the reference gives up after 1000 draws).

A step (lbforaging's `step`):
1. an invalid action (a move off the grid or onto a food, LOAD with no food 4-adjacent) becomes NONE;
2. each player claims a cell: its target for a move, its own cell for NONE and LOAD; a cell claimed by more
   than one player blocks all of its claimants (so moving into a standing player fails, swaps and chains
   succeed, and a blocked player may end up sharing a cell with one that entered it, as in the reference);
3. each loader takes the first food 4-adjacent to it (N, S, W, E): the loaders of one food eat it if the
   sum of their levels is at least its level, each earning `level * food_level / (sum_levels * spawned)`
   (without `normalize_reward`: `level * food_level`, as the reference); otherwise each loses `penalty`.
   Under the spawning rules no cell touches two foods, so the grouping is the reference's;
4. the episode terminates (every agent) when every food is eaten; `max_steps` (50) ends it as truncation,
   where the reference reports `done` with `truncated=False`.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from marl import BatchedEnv, GroupSpec, Step, agent_names
from marl.core.validation import check_bool, check_int, check_number, check_positive_int, validated

GROUP = "agent"
NONE, NORTH, SOUTH, WEST, EAST, LOAD = range(6)
ACTION_NAMES = ("none", "north", "south", "west", "east", "load")
MOVES = ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1), (0, 0))  # (d_row, d_col) per action
GRID_CHANNELS = ("agent_levels", "food_levels", "access")
OUTSIDE, EMPTY = -2, -1  # off the grid, a free cell (food cells hold their food's slot)


@dataclass
class LBFConfig:
    """Config keys of every level-based foraging task (`lbf/<task>`, `lbf/foraging`)."""

    size: int = 8  # the grid is size x size (the reference's ids: 5..19)
    n_agents: int = 2  # players (the reference's ids: 2..9)
    n_food: int = 2  # foods spawned at most (max_num_food; the reference's ids: 1..9)
    sight: int | None = None  # an agent sees the (2 sight + 1)^2 square around it; None: the whole grid
    coop: bool = False  # force_coop: every food needs the (up to three) weakest players' levels together
    penalty: float = 0.0  # what each loader of a failed load loses
    min_player_level: int = 1
    max_player_level: int = 2
    min_food_level: int = 1
    max_food_level: int | None = None  # None: the sum of the three lowest player levels of the episode
    max_steps: int = 50
    grid_observation: bool = False  # 3 x (2 sight + 1)^2 grids instead of the vector of foods and players
    observe_agent_levels: bool = True
    normalize_reward: bool = True  # divide by the food spawned, so eating everything sums to 1
    action_mask: bool = True  # publish the valid actions; without masks invalid actions become NONE

    def validate(self) -> None:
        check_int("size", self.size, low=3)
        check_int("n_agents", self.n_agents, low=1)
        if 2 * self.n_agents > self.size * self.size:
            raise ValueError(
                f"n_agents must be at most size * size / 2 (spawning needs a free cell for each player "
                f"besides the previous episode's cells), got n_agents={self.n_agents} for size={self.size}"
            )
        check_int("n_food", self.n_food, low=1, high=127)  # food slots are stored as bytes
        check_int("sight", self.sight, low=1, allow_none=True)
        check_bool("coop", self.coop)
        check_number("penalty", self.penalty, low=0.0)
        check_positive_int("min_player_level", self.min_player_level)
        check_int("max_player_level", self.max_player_level, low=self.min_player_level)
        check_positive_int("min_food_level", self.min_food_level)
        check_int("max_food_level", self.max_food_level, low=self.min_food_level, allow_none=True)
        weakest = self.min_player_level * min(3, self.n_agents)
        if self.max_food_level is None and self.min_food_level > weakest:
            raise ValueError(
                f"min_food_level must be at most the lowest possible food level cap {weakest} "
                f"(min_player_level times min(3, n_agents)) when max_food_level is None, "
                f"got {self.min_food_level}"
            )
        check_positive_int("max_steps", self.max_steps)
        for key in ("grid_observation", "observe_agent_levels", "normalize_reward", "action_mask"):
            check_bool(key, getattr(self, key))


class LBFEnv(BatchedEnv):
    """Level-based foraging on `num_envs` copies: players of several levels load foods together."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self, config: LBFConfig | None = None, num_envs: int = 1, device: str = "cpu", seed: int | None = None
    ) -> None:
        config = validated(config, LBFConfig)
        self.config = config
        S, n, F = config.size, config.n_agents, config.n_food
        self.size, self.n_agents, self.n_food = S, n, F
        self.sight = S if config.sight is None else config.sight
        self.coop, self.penalty = config.coop, float(config.penalty)
        self.player_levels = (config.min_player_level, config.max_player_level)
        self.food_levels = (config.min_food_level, config.max_food_level)
        self.grid_observation, self.observe_levels = config.grid_observation, config.observe_agent_levels
        self.normalize_reward, self.use_action_mask = config.normalize_reward, config.action_mask
        # the observation bounds of the reference: the highest food level is the max_food_level or the
        # sum of the three lowest max player levels
        top_food = config.max_food_level or config.max_player_level * min(3, n)
        top_player = config.max_player_level
        if self.grid_observation:
            side = 2 * self.sight + 1
            high = np.stack(
                [
                    np.full((side, side), top_player if self.observe_levels else 1),
                    np.full((side, side), top_food),
                    np.ones((side, side)),
                ]
            ).astype(np.float32)
            obs_space = gym.spaces.Box(np.zeros_like(high), high, dtype=np.float32)
        else:
            per_player = 3 if self.observe_levels else 2
            low = np.array([-1, -1, 0] * F + [-1, -1, 0][:per_player] * n, np.float32)
            high = np.array(
                [S - 1, S - 1, top_food] * F + [S - 1, S - 1, top_player][:per_player] * n, np.float32
            )
            obs_space = gym.spaces.Box(low, high, dtype=np.float32)
        state_low = np.array([-1, -1, 0] * F + [0, 0, 0] * n, np.float32)
        state_high = np.array([S - 1, S - 1, top_food] * F + [S - 1, S - 1, top_player] * n, np.float32)
        groups = {GROUP: GroupSpec(agent_names(GROUP, n), obs_space, gym.spaces.Discrete(len(ACTION_NAMES)))}
        super().__init__(
            groups=groups,
            num_envs=num_envs,
            device=device,
            seed=seed,
            max_steps=config.max_steps,
            state_space=gym.spaces.Box(state_low, state_high, dtype=np.float32),
        )
        B, dev = num_envs, self.device
        self.moves = torch.tensor(MOVES, device=dev)
        self.empty_slot = torch.tensor([-1, -1, 0], device=dev)  # (row, col, level) of an empty slot
        # the grid with a border of one cell, as flat indices (row + 1) * (size + 2) + col + 1, and one spare cell
        # for eaten foods; the cells' contents: OUTSIDE, EMPTY, or a food's slot
        W = S + 2
        # in bytes (n_food <= 127)
        self.bordered_grid = torch.full((1, W * W + 1), OUTSIDE, dtype=torch.int8, device=dev)
        self.bordered_grid.view(-1)[: W * W].view(W, W)[1:-1, 1:-1] = EMPTY
        self.food_slots = torch.arange(F, dtype=torch.int8, device=dev).repeat(B, 1)
        self.around_offsets = torch.tensor([[-W], [W], [-1], [1]], device=dev)  # N, S, W, E
        rows, cols = torch.arange(S, device=dev).repeat_interleave(S), torch.arange(S, device=dev).repeat(S)
        self.interior = (rows >= 1) & (rows <= S - 2) & (cols >= 1) & (cols <= S - 2)
        # food_keeps[c]: the cells still allowed for a food once one lies on c, all but its 3x3 and the cross
        # of 2 (row size * size: no food placed, nothing excluded)
        d_row, d_col = (rows[:, None] - rows[None]).abs(), (cols[:, None] - cols[None]).abs()
        exclusion = (
            ((d_row <= 1) & (d_col <= 1)) | ((d_row == 0) & (d_col <= 2)) | ((d_col == 0) & (d_row <= 2))
        )
        self.food_keeps = torch.cat([~exclusion, torch.ones_like(exclusion[:1])])
        self.view_order = torch.tensor([[i] + [j for j in range(n) if j != i] for i in range(n)], device=dev)
        side, P = 2 * self.sight + 1, S + 2 * self.sight
        grid = torch.arange(side, device=dev)
        self.window_offsets = (grid[:, None] * P + grid[None]).flatten()
        padded = torch.zeros(P, P, device=dev)
        padded[self.sight : self.sight + S, self.sight : self.sight + S] = 1.0
        self.inside_padded = padded.flatten()
        self.pos = torch.zeros(B, n, 2, dtype=torch.long, device=dev)
        self.level = torch.ones(B, n, dtype=torch.long, device=dev)
        self._place_foods(torch.full((B, F), S * S, dtype=torch.long, device=dev))
        self.food_level = torch.zeros(B, F, dtype=torch.long, device=dev)
        self.food_spawned = torch.zeros(B, device=dev)
        self.has_positions = torch.zeros(B, dtype=torch.bool, device=dev)  # a previous episode's cells
        self.foods_eaten = torch.zeros(B, device=dev)
        self.team_return = torch.zeros(B, device=dev)
        self.always_valid = torch.ones(1, B, n, dtype=torch.bool, device=dev)  # NONE
        self.no_food = torch.zeros(B, 1, dtype=torch.long, device=dev)
        self.all_copies = torch.arange(B, device=dev)
        # resets draw only the copies that reset on the CPU (reading the mask is free there, and a few copies end
        # on most steps); on an accelerator every copy is drawn and the mask selects, without a host sync
        self.draw_every_copy = self.device.type != "cpu"
        self.view_middle = torch.full((n, n, 2, B), float(self.sight), device=dev)  # see vector_obs
        self.players_present = torch.ones(n, B, dtype=torch.bool, device=dev)
        # the valid actions of the current state, computed once per state and dropped by every change of it (a
        # dropped cache rather than a step counter: torch.compile would recompile for every new counter value)
        self._valid_cache: tuple[Tensor, Tensor] | None = None

    # ------------------------------------------------------------------ contract
    def reset(self, seed: int | None = None) -> Step:
        """New episodes everywhere, spawned as in a fresh reference environment (no previous cells), so that
        a seed gives the same episodes on a used instance too; auto-resets keep the previous-cells rule."""
        self.has_positions.fill_(False)
        return super().reset(seed)

    def _reset(self, mask: Tensor) -> None:
        index = self.all_copies if self.draw_every_copy else mask.nonzero().squeeze(1)
        chosen = mask[index].unsqueeze(1)  # [copies drawn, 1]: the drawn copies that reset
        pos, level = self._spawn_players(index)
        pos = torch.where(chosen.unsqueeze(2), pos, self.pos[index])
        level = torch.where(chosen, level, self.level[index])
        cell, food = self._spawn_food(pos, level)
        self.pos = self.pos.index_copy(0, index, pos)
        self.level = self.level.index_copy(0, index, level)
        self._place_foods(
            self.food_cell.index_copy(0, index, torch.where(chosen, cell, self.food_cell[index]))
        )
        self.food_level = self.food_level.index_copy(
            0, index, torch.where(chosen, food, self.food_level[index])
        )
        spawned = torch.where(chosen[:, 0], food.sum(1).float(), self.food_spawned[index])
        self.food_spawned = self.food_spawned.index_copy(0, index, spawned)
        self.has_positions |= mask
        self.foods_eaten.masked_fill_(mask, 0.0)
        self.team_return.masked_fill_(mask, 0.0)
        self._valid_cache = None

    def _step(self, actions: dict[str, Tensor]) -> dict[str, tuple[Tensor, Tensor]]:
        valid, food = self._valid_actions()
        action = actions[GROUP]
        action = torch.where(valid.gather(2, action.unsqueeze(-1)).squeeze(-1), action, NONE)
        # claims: a cell claimed by several players blocks them all
        target = self.pos + self.moves[action]
        flat = target[..., 0] * self.size + target[..., 1]
        claims = (flat.unsqueeze(2) == flat.unsqueeze(1)).sum(2)  # [B, n]: players claiming each one's cell
        self.pos = torch.where((claims == 1).unsqueeze(-1), target, self.pos)
        reward = self._load(action == LOAD, food)
        self.team_return += reward.sum(1)
        self._valid_cache = None
        terminated = (self.food_level == 0).all(1, keepdim=True).expand(-1, self.n_agents)
        return {GROUP: (reward, terminated)}

    def _observe(self) -> dict[str, Tensor]:
        return {GROUP: self.grid_obs() if self.grid_observation else self.vector_obs()}

    def _state(self) -> Tensor:
        """Every food (row, col, level; -1, -1, 0 once eaten), then every player (row, col, level); absolute
        coordinates."""
        food = torch.cat([self.food_pos, self.food_level.unsqueeze(-1)], -1)
        food = torch.where((self.food_level > 0).unsqueeze(-1), food, self.empty_slot)
        players = torch.cat([self.pos, self.level.unsqueeze(-1)], -1)
        return torch.cat([food.flatten(1), players.flatten(1)], 1).float()

    def _action_mask(self) -> dict[str, Tensor] | None:
        return {GROUP: self._valid_actions()[0]} if self.use_action_mask else None

    def _episode_stats(self) -> dict[str, Tensor]:
        eaten = self.foods_eaten
        spawned = (self.food_cell < self.size * self.size).sum(1).float()
        return {
            "foods_eaten": eaten.clone(),
            "all_food_eaten": (eaten == spawned).float(),
            "team_return": self.team_return.clone(),  # summed over the agents: 1 when all food is eaten
        }

    def _render(self, index: int) -> np.ndarray:
        from envs.lbf.render import draw

        return draw(self, index)

    def set_state(
        self, position: Tensor, level: Tensor, field: Tensor, food_spawned: Tensor | None = None
    ) -> None:
        """Put every copy in a given state (to replay another implementation's episodes, or to set up a
        case by hand): players' `position [B, n, 2]` (row, col) and `level [B, n]`, the food levels on the
        grid `field [B, size, size]` (0: no food; at most `n_food` foods per copy) and the normaliser
        `food_spawned [B]` (default: the sum of `field`). Call it after `reset()`."""
        B, n, S, F = self.num_envs, self.n_agents, self.size, self.n_food
        dev = self.device
        position, level = torch.as_tensor(position, device=dev).long(), torch.as_tensor(level, device=dev)
        field = torch.as_tensor(field, device=dev).long()
        for name, value, shape in (("position", position, (B, n, 2)), ("level", level, (B, n))):
            if tuple(value.shape) != shape:
                raise ValueError(f"set_state: {name} must have shape {shape}, got {tuple(value.shape)}")
        if tuple(field.shape) != (B, S, S):
            raise ValueError(f"set_state: field must have shape {(B, S, S)}, got {tuple(field.shape)}")
        if (
            bool(((position < 0) | (position >= S)).any())
            or bool((level < 1).any())
            or bool((field < 0).any())
        ):
            raise ValueError("set_state: positions must lie on the grid, levels be >= 1 and food levels >= 0")
        count = (field > 0).sum((1, 2))
        if int(count.max()) > F:
            raise ValueError(f"set_state: at most n_food={F} foods per copy, got {int(count.max())}")
        flat = field.flatten(1)
        cells = torch.where(flat > 0, torch.arange(S * S, device=dev), S * S).sort(1).values[:, :F]
        self.pos, self.level = position.clone(), level.long().clone()
        self._place_foods(cells)
        self.food_level = torch.cat([flat, flat.new_zeros(B, 1)], 1).gather(1, cells)
        spawned = flat.sum(1).float() if food_spawned is None else torch.as_tensor(food_spawned, device=dev)
        self.food_spawned = spawned.float().clone()
        self.has_positions.fill_(True)
        self._valid_cache = None

    # ------------------------------------------------------------------ rules
    def _place_foods(self, cells: Tensor) -> None:
        """Set the food slots' cells `[B, F]` (row-major, `size * size` for an unspawned slot) and their (row, col),
        kept beside them because observations, masks and the state read them every step."""
        self.food_cell = cells
        self.food_pos = torch.stack([cells // self.size, cells % self.size], -1)

    def food_map(self) -> Tensor:
        """`[B, size * size]` the level of the food on each cell (0: none)."""
        S2 = self.size * self.size
        grid = torch.zeros(self.num_envs, S2 + 1, dtype=torch.long, device=self.device)
        return grid.scatter_(1, self.food_cell, self.food_level)[:, :S2]

    def _valid_actions(self) -> tuple[Tensor, Tensor]:
        """`(valid [B, n, 6], food [B, n])`: the reference's valid actions (a move stays on the grid and off
        the foods; LOAD needs a food 4-adjacent) and the food slot a LOAD takes, the first food found N, S, W,
        E of the player (under the spawning rules there is at most one); computed once per state (sampling,
        checking, stepping and the published mask all read it)."""
        if self._valid_cache is not None:
            return self._valid_cache
        # what lies on each cell of the grid with a border of one cell (OUTSIDE, EMPTY or a food slot), read at
        # the four neighbours of each player as [4, B, n] (direction first: broadcasting over small trailing
        # dimensions is slow on CPU)
        W = self.size + 2
        food_cell = self.food_pos[..., 0] * W + self.food_pos[..., 1] + W + 1
        food_cell = torch.where(self.food_level > 0, food_cell, W * W)  # eaten foods go to the spare cell
        grid = self.bordered_grid.expand(self.num_envs, -1).scatter(1, food_cell, self.food_slots)
        own = self.pos[..., 0] * W + self.pos[..., 1] + W + 1
        around = grid.gather(1, (own.unsqueeze(1) + self.around_offsets).flatten(1))
        around = around.view(self.num_envs, 4, self.n_agents).transpose(0, 1)
        food_there = around >= 0
        first = torch.zeros_like(around[0])  # the food slot in the first direction (N, S, W, E) holding one
        for d in reversed(range(4)):
            first = torch.where(food_there[d], around[d], first)
        valid = torch.cat([self.always_valid, around == EMPTY, food_there.any(0, keepdim=True)])
        result = (valid.permute(1, 2, 0).contiguous(), first.long())
        self._valid_cache = result
        return result

    def _load(self, loading: Tensor, food: Tensor) -> Tensor:
        """Rewards `[B, n]` of the loaders (`loading`, each at its food slot `food`); eaten foods are
        removed."""
        F = self.n_food
        slot = torch.where(loading, food, F)  # slot F: not loading
        lifted = torch.zeros(self.num_envs, F + 1, dtype=torch.long, device=self.device)
        lifted.scatter_add_(1, slot, self.level)  # the sum of the loaders' levels at each food
        level = torch.cat([self.food_level, self.no_food], 1)
        eaten = (lifted >= level) & (level > 0)
        # one division of exact integers, as the reference's `level * food / (sum_levels * spawned)`
        share = (self.level * level.gather(1, slot)).float()
        if self.normalize_reward:
            share = share / (lifted.gather(1, slot) * self.food_spawned.unsqueeze(1)).clamp(min=1)
        reward = torch.where(eaten.gather(1, slot), share, torch.where(loading, -self.penalty, 0.0))
        self.food_level = self.food_level.masked_fill(eaten[:, :F], 0)
        self.foods_eaten += eaten[:, :F].sum(1)
        return reward

    # ------------------------------------------------------------------ observations
    def vector_obs(self) -> Tensor:
        """`[B, n, 3 F + 3 n]` the reference's vector: each visible food (row, col, level) in row-major order,
        then each visible player (row, col, level), self first; coordinates are relative to the corner of
        the agent's view clipped to the grid (`pos - own + min(sight, own)`), empty slots are (-1, -1, 0).
        A player counts as visible when those coordinates lie in [0, 2 sight] (the reference's test, which
        lets an agent near the top or left edge see players a little beyond its square)."""
        # computed as [viewer, slot, (row, col, level), B], the slots being the foods and then the players
        # (the viewer first); batch last: broadcasting over small trailing dimensions is slow on CPU
        s, n, F, B = self.sight, self.n_agents, self.n_food, self.num_envs
        pos = self.pos.permute(1, 2, 0).float()  # [n, 2, B]
        in_view = pos.clamp(max=s)  # the viewer's own cell relative to the corner of its clipped view
        players = torch.cat([pos, self.level.T.unsqueeze(1).float()], 1)
        foods = torch.cat([self.food_pos.permute(1, 2, 0), self.food_level.T.unsqueeze(1)], 1).float()
        entries = torch.cat([foods.expand(n, -1, -1, -1), players[self.view_order]], 1)  # [n, F + n, 3, B]
        entries[:, :, :2] -= (pos - in_view).unsqueeze(1)  # coordinates relative to the view's corner
        # visible: foods within `sight` of the viewer (and not eaten), players inside [0, 2 sight]; both as
        # a distance of at most `sight` from a centre (the viewer's cell, or the middle of the clipped view)
        centre = torch.cat([in_view.unsqueeze(1).expand(-1, F, -1, -1), self.view_middle], 1)
        seen = ((entries[:, :, :2] - centre).abs().amax(2) <= s) & torch.cat(
            [self.food_level.T > 0, self.players_present]
        )
        # visible entries move to the front of their part (foods, players) in their order; the others are empty
        count = seen.cumsum(1)
        slot = count - 1
        slot[:, F:] += F - count[:, F - 1 : F]  # the players' part starts at slot F
        slot.masked_fill_(~seen, F + n)  # a spare slot collects the unseen entries
        empty = self.empty_slot.float().view(1, 1, 3, 1)
        packed = entries.new_zeros(n, F + n + 1, 3, B)  # filled relative to `empty`: unfilled slots are empty
        packed.scatter_(1, slot.unsqueeze(2).expand(-1, -1, 3, -1), entries - empty)
        obs = packed[:, : F + n] + empty
        if not self.observe_levels:
            obs = torch.cat([obs[:, :F].flatten(1, 2), obs[:, F:, :2].flatten(1, 2)], 1)
        return obs.reshape(-1, B).T.contiguous().view(B, n, -1)

    def grid_obs(self) -> Tensor:
        """`[B, n, 3, 2 sight + 1, 2 sight + 1]` the reference's grid: agent levels (1 without
        `observe_agent_levels`; the later player where two share a cell), food levels, and accessibility
        (0 off the grid, on players and on foods), centred on the agent."""
        S, s = self.size, self.sight
        P, B = S + 2 * s, self.num_envs
        padded = (self.pos[..., 0] + s) * P + self.pos[..., 1] + s  # [B, n]
        layers = torch.zeros(B, 3, P * P + 1, device=self.device)  # cell P * P: unspawned foods
        agents, foods, access = layers[:, 0], layers[:, 1], layers[:, 2]
        value = self.level.float() if self.observe_levels else torch.ones_like(self.level, dtype=torch.float)
        for i in range(self.n_agents):  # in player order, so that the later of two on one cell shows
            agents.scatter_(1, padded[:, i : i + 1], value[:, i : i + 1])
        food_row, food_col = self.food_cell // S + s, self.food_cell % S + s
        food_padded = torch.where(self.food_level > 0, food_row * P + food_col, P * P)
        foods.scatter_(1, food_padded, self.food_level.float())
        access[:, : P * P] = self.inside_padded
        access.scatter_(1, padded, 0.0).scatter_(1, food_padded, 0.0)
        window = (padded - s * P - s).unsqueeze(-1) + self.window_offsets  # [B, n, side^2]
        side = 2 * s + 1
        obs = layers.gather(2, window.flatten(1).unsqueeze(1).expand(-1, 3, -1))
        return obs.view(B, 3, self.n_agents, side, side).transpose(1, 2)

    # ------------------------------------------------------------------ spawning
    def _spawn_players(self, index: Tensor) -> tuple[Tensor, Tensor]:
        """Positions and levels `[len(index), n, ...]` drawn for the copies `index` (the caller keeps those of
        the copies that do not reset)."""
        B, n, S = len(index), self.n_agents, self.size
        dev = self.device
        # taken[c]: players placed on cell c, plus those not placed yet that still stand there from the
        # previous episode
        old = self.pos[index, :, 0] * S + self.pos[index, :, 1]
        there = self.has_positions[index].int().unsqueeze(1)
        taken = torch.zeros(B, S * S, dtype=torch.int, device=dev).scatter_add_(1, old, there.expand(-1, n))
        arrive_leave = torch.cat([torch.ones_like(there), -there], 1)
        pos = torch.zeros(B, n, 2, dtype=torch.long, device=dev)
        for i in range(n):  # players in order, as the reference (a loop over players, not over copies)
            cell = self._uniform_cell(taken == 0)
            # player i arrives on its cell and leaves its old one
            taken.scatter_add_(1, torch.stack([cell, old[:, i]], 1), arrive_leave)
            pos[:, i] = torch.stack([cell // S, cell % S], -1)
        low, high = self.player_levels
        level = torch.randint(low, high + 1, (B, n), generator=self.generator, device=dev)
        return pos, level

    def _spawn_food(self, pos: Tensor, level: Tensor) -> tuple[Tensor, Tensor]:
        """Food cells (sorted, row-major) and levels drawn around the players `pos [copies, n, 2]`."""
        B, S, F = len(pos), self.size, self.n_food
        dev = self.device
        low, high = self.food_levels
        if high is None:
            cap = level.sort(1).values[:, :3].sum(1)
        else:
            cap = torch.full((B,), high, dtype=torch.long, device=dev)
        allowed = self.interior.expand(B, -1).clone()
        allowed.scatter_(1, pos[..., 0] * S + pos[..., 1], False)
        cells = torch.full((B, F), S * S, dtype=torch.long, device=dev)
        levels = torch.zeros(B, F, dtype=torch.long, device=dev)
        for k in range(F):  # foods in order (a loop over foods, not over copies)
            cell = self._uniform_cell(allowed)
            ok = allowed.gather(1, cell.unsqueeze(1)).squeeze(1)
            if self.coop:
                food = cap
            else:
                u = torch.rand(B, generator=self.generator, device=dev)
                food = low + (u * (cap - low + 1)).long().clamp(max=cap - low)
            cells[:, k] = torch.where(ok, cell, S * S)
            levels[:, k] = torch.where(ok, food, 0)
            allowed &= self.food_keeps[cells[:, k]]
        cells, order = cells.sort(1)
        return cells, levels.gather(1, order)

    def _uniform_cell(self, free: Tensor) -> Tensor:
        """`[B]` a uniformly random cell among the True ones of `free [B, cells]` (the last cell if none):
        the k-th free cell for k uniform below their count (one draw per copy, not one per cell)."""
        before = free.cumsum(1, dtype=torch.int)  # free cells up to and including each cell
        count = before[:, -1]
        u = torch.rand(free.shape[0], generator=self.generator, device=self.device)
        k = (u * count).int().clamp(max=(count - 1).clamp(min=0))
        cell = torch.searchsorted(before, (k + 1).unsqueeze(1)).squeeze(1)
        return cell.clamp(max=free.shape[1] - 1)
