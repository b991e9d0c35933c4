"""MAgent's battle (magent2 `battle_v4`, the game of Yang et al. 2018's mean-field battles), batched.

Two armies, `red` and `blue`, stand in two square formations on a walled square map (MAgent's
`generate_map`: `0.04 * map_size**2` agents per army, every other cell, 3 cells either side of the centre
line; 45 x 45 gives 81 vs 81, 40 x 40 Yang et al.'s 64 vs 64, 20 x 20 12 vs 12). Every agent has 10 HP and
21 actions: 13 moves (every cell within distance 2, the centre being "stay") and 8 attacks (the 8 neighbouring
cells). Positions are `(x, y)`; the border cells are walls.

A step, in the engine's order (MAgent2's `GridWorld::step`):
1. attacks, in a uniformly random order (the engine shuffles them): an attack on a cell holding a live enemy
   takes 2 HP from it; the enemy dies when its HP drops below 0 (the 6th hit on a full-HP agent) and leaves
   the map at once, so that later attacks on its cell, and its own attack if it had not come yet, do
   nothing. An attack on anything else (an empty cell, a wall, a team-mate) does nothing;
2. every live agent recovers 0.1 HP (capped at 10);
3. moves, one agent at a time in slot order (red, then blue): a move succeeds when its target cell is inside
   the walls and free at that moment (earlier movers have left their cells or taken new ones); a move of 2
   jumps over whatever lies between.
Rewards (battle_v4's defaults; each agent for itself): `step_reward` -0.005 every step, `attack_penalty`
-0.1 for every attack made, `attack_opponent_reward` +0.2 for a hit that does not kill, `kill_reward` +5 for
the killing hit (instead of the +0.2); an agent that dies gets `dead_penalty` -0.1 instead of what it had
earned at this step, plus +0.2 if it had hit (without killing) before it died. The game ends, every agent
terminated, when one army is wiped out; `max_steps` (battle_v4's `max_cycles`, 1000) truncates it.

Batching without a loop over agents: the sequential rules have unique outcomes that depend only on earlier
agents (in the attack order, or in slot order for moves), so they are computed as a fixed point: start from
"every attack lands" / "every move succeeds", recompute each agent's outcome from the others', and stop when
nothing changes (at most one round per link of the longest chain of dependent agents, a handful in practice).

Observations (battle_v4's, channels first): `view [C, 13, 13]`, the cells within distance 6 of the agent
(rows y, columns x, the agent at the centre; 0 outside the circle and off the map): walls, own army's
presence and HP / 10, the other army's presence and HP / 10; `minimap_mode` adds a density channel after
each army's two (the army's agents binned over a 13 x 13 coarse map, divided by its size, plus 1 at the
observer's own bin) and the agent's position `(x / size, y / size)` as `features`; `extra_features` puts the
binary id (10 bits), the one-hot action just taken and the reward of the step before in `features` too
(battle_v4 tiles `features` over the view as extra channels; here it is a vector of its own).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from marl import BatchedEnv, GroupSpec, Neighbours, agent_names
from marl.core.neighbours import nearest
from marl.core.validation import check_bool, check_int, check_number, check_positive_int, validated

GROUPS = ("red", "blue")
HP = 10.0  # hit points of every agent
DAMAGE = 2.0  # HP an attack takes (a power of two: repeated subtraction equals one multiplication exactly)
STEP_RECOVER = 0.1  # HP regained by every live agent each step
VIEW_RADIUS = 6  # cells within this Euclidean distance are seen
ATTACK_RADIUS = 1.5  # the 8 neighbouring cells
EMBEDDING_BITS = 10  # the binary id of `extra_features`
GAP = 3  # cells between each formation and the centre line
CELLS_FROM_AGENTS = 2048  # army size from which the neighbour search uses cell lists
# MAgent's CircleRange(2) move offsets (dx, dy) in its order; MOVES[STAY] is (0, 0)
MOVES = (
    (0, -2),
    (-1, -1), (0, -1), (1, -1),
    (-2, 0), (-1, 0), (0, 0), (1, 0), (2, 0),
    (-1, 1), (0, 1), (1, 1),
    (0, 2),
)  # fmt: skip
STAY = 6
# MAgent's CircleRange(1.5) without its centre: the attack offsets (dx, dy) of actions 13..20
ATTACKS = ((-1, -1), (0, -1), (1, -1), (-1, 0), (1, 0), (-1, 1), (0, 1), (1, 1))
N_ACTIONS = len(MOVES) + len(ATTACKS)
FIRST_ATTACK = len(MOVES)


@dataclass
class MAgentBattleConfig:
    """Config keys of `magent/battle` (battle_v4's arguments and defaults, plus the armies' distance and the
    published neighbours)."""

    map_size: int = 45  # cells per side, walls included; 0.04 map_size^2 agents per army
    gap: int = 3  # cells between each army's formation and the centre line (battle_v4's 3)
    max_steps: int = 1000  # battle_v4's max_cycles
    step_reward: float = -0.005  # every step
    dead_penalty: float = -0.1  # dying (replaces the step's other rewards)
    attack_penalty: float = -0.1  # every attack
    attack_opponent_reward: float = 0.2  # a hit on an enemy that does not kill it
    kill_reward: float = 5.0  # the killing hit (battle_v4's KILL_REWARD, fixed there)
    minimap_mode: bool = False  # add the armies' coarse density maps and the agent's position
    extra_features: bool = False  # add the binary id, the action just taken and the previous reward
    neighbours: int = 8  # k: same-army agents within the view radius published per agent (0: none)

    def validate(self) -> None:
        check_int("map_size", self.map_size, low=12)  # battle_v4 asserts the same bound
        check_int("gap", self.gap, low=0, high=self.map_size // 4)
        check_positive_int("max_steps", self.max_steps)
        for key in ("step_reward", "dead_penalty", "attack_penalty", "attack_opponent_reward", "kill_reward"):
            check_number(key, getattr(self, key))
        check_bool("minimap_mode", self.minimap_mode)
        check_bool("extra_features", self.extra_features)
        check_int("neighbours", self.neighbours, low=0)


def formation(map_size: int, gap: int = GAP) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """The start cells `(x, y)` of the red and the blue army: battle_v4's `generate_map` (the blue army is
    cut to the red one's size, as there), each `gap` cells from the centre line."""
    side = int(math.sqrt(map_size * map_size * 0.04)) * 2
    top = (map_size - side) // 2

    def square(left: int) -> list[tuple[int, int]]:
        cells = [(x, y) for x in range(left, left + side, 2) for y in range(top, top + side, 2)]
        return [(x, y) for x, y in cells if 0 < x < map_size - 1 and 0 < y < map_size - 1]

    red = square(map_size // 2 - gap - side)
    return red, square(map_size // 2 + gap)[: len(red)]


class MAgentBattle(BatchedEnv):
    """`num_envs` copies of MAgent's battle; groups `red` and `blue`, both learning (self-play)."""

    # the start is fixed and the one random draw, the attack order, only matters when attacks on one agent
    # conflict: two seeds often give one trajectory
    random_dynamics = False

    def __init__(
        self,
        config: MAgentBattleConfig | None = None,
        *,
        num_envs: int = 1,
        device: str | torch.device = "cpu",
        seed: int | None = None,
    ) -> None:
        config = validated(config, MAgentBattleConfig)
        self.config = config
        S = self.size = config.map_size
        red, blue = formation(S, config.gap)
        self.sizes = {"red": len(red), "blue": len(blue)}
        self.n_total = N = len(red) + len(blue)
        self.minimap, self.extra = config.minimap_mode, config.extra_features
        channels = 7 if self.minimap else 5
        side = 2 * VIEW_RADIUS + 1
        high = np.ones((channels, side, side), np.float32)
        if self.minimap:
            high[[3, 6]] = 2.0  # density plus the observer's own 1
        spaces = {"view": gym.spaces.Box(np.zeros_like(high), high, dtype=np.float32)}
        low_f, high_f = self._feature_bounds()
        if len(low_f):
            spaces["features"] = gym.spaces.Box(low_f, high_f, dtype=np.float32)
        obs_space = gym.spaces.Dict(spaces)
        groups = {
            g: GroupSpec(
                agent_names(g, self.sizes[g]),
                obs_space,
                gym.spaces.Discrete(N_ACTIONS),
                neighbours=config.neighbours,
            )
            for g in GROUPS
        }
        super().__init__(
            groups=groups,
            num_envs=num_envs,
            device=device,
            seed=seed,
            max_steps=config.max_steps,
            state_space=gym.spaces.Box(0.0, 1.0, (5 * S * S,), np.float32),
        )
        dev, B = self.device, num_envs
        # cells are indexed on a map padded by the view radius: (y + R) * P + (x + R)
        R = VIEW_RADIUS
        self.padded = P = S + 2 * R
        self.team = torch.tensor([0] * len(red) + [1] * len(blue), device=dev)
        self.start = torch.tensor(red + blue, dtype=torch.long, device=dev)  # [N, 2] (x, y)
        self.moves = torch.tensor(MOVES, device=dev)
        attacks = torch.tensor(ATTACKS, device=dev)
        self.attack_offsets = attacks[:, 1] * P + attacks[:, 0]
        grid = torch.arange(side, device=dev)
        self.window = (grid[:, None] * P + grid[None]).flatten()  # from the window's top-left cell
        dy, dx = grid[:, None] - R, grid[None] - R
        self.circle = (dx * dx + dy * dy <= R * R).flatten().float()
        walls = torch.zeros(P, P, device=dev)
        walls[R : R + S, R : R + S] = 1.0
        walls[R + 1 : R + S - 1, R + 1 : R + S - 1] = 0.0
        self.walls = walls.flatten()
        # each observer's channels (of walls, red, red HP, blue, blue HP): its own army first
        self.channel_order = torch.tensor([[0, 1, 2, 3, 4], [0, 3, 4, 1, 2]], device=dev)[self.team]
        bits = (torch.arange(N, device=dev)[:, None] >> torch.arange(EMBEDDING_BITS, device=dev)) & 1
        self.embedding = bits.float()  # the engine's ids: red 0..n-1, then blue
        self.index = torch.arange(N, device=dev)
        self.team_of = torch.cat([self.team, self.team.new_full((1,), -1)])  # slot N: nobody
        self.directions = torch.arange(len(ATTACKS), device=dev)
        self.pos = self.start.expand(B, N, 2).clone()
        self.hp = torch.full((B, N), HP, device=dev)
        self.living = torch.ones(B, N, dtype=torch.bool, device=dev)
        self.counted = torch.ones(B, N, dtype=torch.bool, device=dev)  # in the engine's lists (minimap)
        self.last_action = torch.full((B, N), -1, dtype=torch.long, device=dev)
        self.last_reward = torch.zeros(B, N, device=dev)  # the reward of the step before the last
        self.step_reward_now = torch.zeros(B, N, device=dev)
        self._order: Tensor | None = None

    def _feature_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Bounds of `features` (empty without minimap or extra features); the reward's are battle_v4's."""
        cfg = self.config
        low, high = [], []
        if self.extra:
            values = np.array(
                [
                    cfg.kill_reward,
                    cfg.step_reward,
                    cfg.dead_penalty,
                    cfg.attack_penalty,
                    cfg.attack_opponent_reward,
                ]
            )
            low += [0.0] * (EMBEDDING_BITS + N_ACTIONS) + [float(np.minimum(values, 0).sum())]
            high += [1.0] * (EMBEDDING_BITS + N_ACTIONS) + [float(np.maximum(values, 0).sum())]
        if self.minimap:
            low += [0.0, 0.0]
            high += [1.0, 1.0]
        return np.array(low, np.float32), np.array(high, np.float32)

    # ------------------------------------------------------------------ replay and hand-made states
    def set_attack_order(self, rank: Tensor) -> None:
        """Resolve the next step's attacks in this order instead of a random one: `rank [B, N]` (all slots,
        red then blue; lower goes first; distinct within a copy). For replaying a recorded MAgent episode."""
        rank = torch.as_tensor(rank, device=self.device)
        if tuple(rank.shape) != (self.num_envs, self.n_total):
            raise ValueError(f"rank must have shape {(self.num_envs, self.n_total)}, got {tuple(rank.shape)}")
        if bool((rank.sort(1).values[:, 1:] == rank.sort(1).values[:, :-1]).any()):
            raise ValueError("rank must be distinct within each copy")
        self._order = rank.long()

    def set_state(self, pos: Tensor, hp: Tensor, living: Tensor) -> None:
        """Put every copy in a given state: `pos [B, N, 2]` (x, y) inside the walls, `hp [B, N]` in (0, 10],
        `living [B, N]`; slots red then blue. Call it after `reset()`; the live agents must hold distinct
        cells."""
        B, N, S = self.num_envs, self.n_total, self.size
        pos = torch.as_tensor(pos, device=self.device).long()
        hp = torch.as_tensor(hp, device=self.device).float()
        living = torch.as_tensor(living, device=self.device).bool()
        for name, value, shape in (("pos", pos, (B, N, 2)), ("hp", hp, (B, N)), ("living", living, (B, N))):
            if tuple(value.shape) != shape:
                raise ValueError(f"set_state: {name} must have shape {shape}, got {tuple(value.shape)}")
        if bool(((pos < 1) | (pos > S - 2))[living].any()):
            raise ValueError(f"set_state: live agents must stand inside the walls, 1 <= x, y <= {S - 2}")
        if bool(((hp <= 0) | (hp > HP))[living].any()):
            raise ValueError(f"set_state: live agents need 0 < hp <= {HP}")
        cells = torch.where(living, pos[..., 1] * S + pos[..., 0], -1 - self.index)
        if bool((cells.sort(1).values[:, 1:] == cells.sort(1).values[:, :-1]).any()):
            raise ValueError("set_state: two live agents share a cell")
        self.pos, self.hp, self.living = pos.clone(), hp.clone(), living.clone()
        self.counted = living.clone()
        for g, part in zip(GROUPS, self._split(living), strict=True):
            self.alive[g] = part.clone()

    # ------------------------------------------------------------------ contract
    def _reset(self, mask: Tensor) -> None:
        self.pos = self.where(mask, self.start.expand_as(self.pos), self.pos)
        self.hp = self.where(mask, torch.full_like(self.hp, HP), self.hp)
        self.living |= mask[:, None]
        self.counted |= mask[:, None]
        self.last_action.masked_fill_(mask[:, None], -1)
        self.last_reward.masked_fill_(mask[:, None], 0.0)
        self.step_reward_now.masked_fill_(mask[:, None], 0.0)

    def _split(self, values: Tensor) -> tuple[Tensor, Tensor]:
        return values[:, : self.sizes["red"]], values[:, self.sizes["red"] :]

    def _cells(self, pos: Tensor) -> Tensor:
        """Padded cell index of positions `[..., 2]` (x, y)."""
        R = VIEW_RADIUS
        return (pos[..., 1] + R) * self.padded + pos[..., 0] + R

    def _occupancy(self, present: Tensor) -> Tensor:
        """`[B, P * P + 1]`: the slot standing on each padded cell, `N` where none (the last entry is a
        cell nobody stands on, for lookups that must miss)."""
        B, N, P = self.num_envs, self.n_total, self.padded
        occupancy = torch.full((B, P * P + 1), N, dtype=torch.long, device=self.device)
        cells = torch.where(present, self._cells(self.pos), P * P)
        return occupancy.scatter_(1, cells, self.index.expand(B, N).masked_fill(~present, N))

    def _step(self, actions: dict[str, Tensor]) -> dict[str, tuple[Tensor, Tensor]]:
        cfg = self.config
        action = torch.cat([actions[g] for g in GROUPS], dim=1)
        before = self.living
        hit, kill, died, acted, taken = self._attacks(action, before)
        living = before & ~died
        hp = self.hp - DAMAGE * taken
        self.hp = torch.where(living, torch.clamp(hp + STEP_RECOVER, max=HP), hp)
        self.living = living
        self._moves(action, living)
        nonkill_hit = (hit & ~kill).float()
        earned = cfg.step_reward + acted.float() * cfg.attack_penalty + kill.float() * cfg.kill_reward
        reward = torch.where(died, cfg.dead_penalty, earned) + nonkill_hit * cfg.attack_opponent_reward
        reward = torch.where(before, reward, 0.0)
        self.last_action = torch.where(before, action, self.last_action)
        self.last_reward, self.step_reward_now = self.step_reward_now, reward
        self.counted = before  # the engine clears its dead after observing: they still count in the minimap
        red, blue = self._split(living)
        over = ~red.any(1) | ~blue.any(1)  # one army wiped out: the game ends for every agent
        terminated = died | (living & over[:, None])
        return {
            g: (r, t) for g, r, t in zip(GROUPS, self._split(reward), self._split(terminated), strict=True)
        }

    def _attacks(self, action: Tensor, living: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """`(hit, kill, died, acted, taken)` `[B, N]` of this step's attacks, resolved in a random order.

        hit: the agent's attack took HP from an enemy (it came while both were alive); kill: that hit killed;
        died: the agent was killed; acted: the agent attacked while alive (it pays the attack penalty);
        taken: the hits the agent took."""
        B, N, A = self.num_envs, self.n_total, len(ATTACKS)
        attacking = living & (action >= FIRST_ATTACK)
        direction = (action - FIRST_ATTACK).clamp(0, A - 1)
        occupancy = self._occupancy(living)
        target_cell = self._cells(self.pos) + self.attack_offsets[direction]
        target = occupancy.gather(1, target_cell)  # N: nobody there
        enemy = attacking & (target < N) & (self.team_of[target] != self.team)
        rank = self._attack_rank()
        # the other attackers of each agent's target: whoever stands one attack offset away from it and
        # attacks in that direction at an enemy (so at this target)
        around = occupancy.gather(1, (target_cell[..., None] - self.attack_offsets).flatten(1))  # [B, N * 8]

        def of_others(values: Tensor, fill: float | bool) -> Tensor:
            """`values [B, N]` of the agents around each target, `[B, N, 8]` (`fill` for empty cells)."""
            return _with_sentinel(values, fill).gather(1, around).view(B, N, A)

        co_attacker = of_others(enemy, False) & (of_others(direction, -1) == self.directions)
        earlier = co_attacker & (of_others(rank, N) < rank[..., None])
        needed = torch.floor(_with_sentinel(self.hp, HP).gather(1, target) / DAMAGE) + 1  # hits that kill
        lands = enemy
        while True:  # the fixed point over the attack order (see the module's docstring)
            landed_before = (earlier & of_others(lands, False)).sum(-1)
            hit = lands & (landed_before < needed)
            kill = hit & (landed_before == needed - 1)
            death_rank = torch.full((B, N + 1), N, dtype=torch.long, device=self.device)
            death_rank = death_rank.scatter_reduce_(1, torch.where(kill, target, N), rank, "amin")[:, :N]
            still = enemy & (rank < death_rank)  # attackers not killed before their turn
            if torch.equal(still, lands):
                break
            lands = still
        taken = torch.zeros(B, N + 1, device=self.device)
        taken = taken.scatter_add_(1, torch.where(hit, target, N), hit.float())[:, :N]
        return hit, kill, death_rank < N, attacking & (rank < death_rank), taken

    def _attack_rank(self) -> Tensor:
        """This step's attack order: a uniformly random permutation of the slots per copy (or the one set
        by `set_attack_order`)."""
        if self._order is not None:
            rank, self._order = self._order, None
            return rank
        order = torch.rand(self.num_envs, self.n_total, generator=self.generator, device=self.device).argsort(
            1
        )
        rank = torch.empty_like(order)
        return rank.scatter_(1, order, self.index.expand_as(order))

    def _moves(self, action: Tensor, living: Tensor) -> None:
        """Move the live agents one at a time in slot order (computed as a fixed point)."""
        B, N, S, P = self.num_envs, self.n_total, self.size, self.padded
        moving = living & (action < FIRST_ATTACK) & (action != STAY)
        target = self.pos + self.moves[action.clamp(max=FIRST_ATTACK - 1)]
        inside = ((target >= 1) & (target <= S - 2)).all(-1)
        candidate = moving & inside
        cell = torch.where(candidate, self._cells(target), P * P)
        standing = self._occupancy(living).gather(1, cell)  # who stands on the target cell now
        index = self.index.expand(B, N)
        moved = candidate
        while True:
            first = torch.full((B, P * P + 1), N, dtype=torch.long, device=self.device)
            first.scatter_reduce_(1, torch.where(moved, cell, P * P), index, "amin")
            taken = first.gather(1, cell) < index  # an earlier mover got there first
            left = (standing < index) & torch.cat([moved, moved.new_zeros(B, 1)], 1).gather(1, standing)
            now = candidate & ~taken & ((standing == N) | left)
            if torch.equal(now, moved):
                break
            moved = now
        self.pos = torch.where(moved[..., None], target, self.pos)

    def _observe(self) -> dict[str, dict[str, Tensor]]:
        B, N, P = self.num_envs, self.n_total, self.padded
        planes = self._planes()
        top_left = self._cells(self.pos) - VIEW_RADIUS * P - VIEW_RADIUS  # [B, N]
        window = (top_left[..., None] + self.window).flatten(1)  # [B, N * 169]
        view = planes.gather(2, window[:, None].expand(B, 5, -1)).view(B, 5, N, -1).transpose(1, 2)
        view = view.gather(2, self.channel_order[None, :, :, None].expand(B, N, 5, view.shape[-1]))
        view = view * self.circle
        features = []
        if self.minimap:
            density, own_bin = self._minimap()
            own, other = density[:, self.team], density[:, 1 - self.team]  # [B, N, 169]
            mark = torch.zeros_like(own).scatter_(2, own_bin[..., None], 1.0)
            view = torch.cat(
                [view[:, :, :3], (own + mark)[:, :, None], view[:, :, 3:], (other + mark)[:, :, None]], 2
            )
        if self.extra:
            onehot = torch.zeros(B, N, N_ACTIONS + 1, device=self.device)
            onehot.scatter_(
                2, torch.where(self.last_action >= 0, self.last_action, N_ACTIONS)[..., None], 1.0
            )
            features += [
                self.embedding.expand(B, N, -1),
                onehot[..., :N_ACTIONS],
                self.last_reward[..., None],
            ]
        if self.minimap:
            features.append(self.pos.float() / self.size)
        side = 2 * VIEW_RADIUS + 1
        obs = {"view": view.reshape(B, N, -1, side, side)}
        if features:
            obs["features"] = torch.cat(features, -1)
        split = {key: self._split(value) for key, value in obs.items()}
        return {g: {key: parts[t] for key, parts in split.items()} for t, g in enumerate(GROUPS)}

    def _minimap(self) -> tuple[Tensor, Tensor]:
        """Each army's density over a 13 x 13 coarse map `[B, 2, 169]` (the engine's agents, divided by
        their count) and each agent's own bin `[B, N]`."""
        B, side = self.num_envs, 2 * VIEW_RADIUS + 1
        scale = (self.size + side - 1) // side
        bins = (self.pos[..., 1] // scale) * side + self.pos[..., 0] // scale
        density = torch.zeros(B, 2, side * side, device=self.device)
        counted = self.counted.float()
        for t in range(2):
            mine = counted * (self.team == t)
            density[:, t].scatter_add_(1, bins, mine)
            density[:, t] /= mine.sum(1, keepdim=True).clamp(min=1)
        return density, bins

    def _state(self) -> Tensor:
        """`[B, 5 * S * S]`: walls, red presence, red HP / 10, blue presence, blue HP / 10 over the map
        (channels first, rows y, columns x)."""
        B, S, P, R = self.num_envs, self.size, self.padded, VIEW_RADIUS
        planes = self._planes()[:, :, : P * P].view(B, 5, P, P)
        return planes[:, :, R : R + S, R : R + S].reshape(B, -1)

    def _planes(self) -> Tensor:
        """`[B, 5, P * P + 1]` over the padded map: walls, red presence, red HP / 10, blue presence, blue
        HP / 10 (the last cell, nobody's, stays 0)."""
        B, P = self.num_envs, self.padded
        planes = torch.zeros(B, 5, P * P + 1, device=self.device)
        planes[:, 0, : P * P] = self.walls
        for t in range(2):  # per army
            mine = self.living & (self.team == t)
            cell = torch.where(mine, self._cells(self.pos), P * P)
            planes[:, 1 + 2 * t].scatter_(1, cell, mine.float())
            planes[:, 2 + 2 * t].scatter_(1, cell, torch.where(mine, self.hp / HP, 0.0))
        planes[:, :, P * P] = 0.0
        return planes

    def _neighbours(self) -> dict[str, Neighbours]:
        """Each agent's k nearest live team-mates within the view radius (the mean action's neighbours)."""
        k = self.config.neighbours
        out = {}
        for g, pos, living in zip(GROUPS, self._split(self.pos), self._split(self.living), strict=True):
            points = pos.float()
            # one agent per cell: a 3 x 3 block of view-radius cells holds up to 324 agents, so cell lists
            # only pay for armies many times that size
            method = "brute" if points.shape[1] <= CELLS_FROM_AGENTS else "cells"
            out[g] = nearest(
                points, points, k, radius=VIEW_RADIUS, exclude_self=True, key_valid=living, method=method
            )
        return out

    def _episode_stats(self) -> dict[str, Tensor]:
        """Survivors and kills of each army; a win is having more survivors at the end (a wipe-out, or more
        left when time runs out), as in Yang et al.'s battles."""
        red, blue = (part.sum(1).float() for part in self._split(self.living))
        return {
            "red_alive": red,
            "blue_alive": blue,
            "red_kills": self.sizes["blue"] - blue,
            "blue_kills": self.sizes["red"] - red,
            "red_win": (red > blue).float(),
            "blue_win": (blue > red).float(),
        }

    def _render(self, index: int) -> np.ndarray:
        from envs.magent.render import draw

        return draw(self, index)


def _with_sentinel(values: Tensor, fill: float | bool) -> Tensor:
    """`values [B, N]` with one more column holding `fill`: what index N (nobody) reads."""
    return torch.cat([values, values.new_full((values.shape[0], 1), fill)], 1)
