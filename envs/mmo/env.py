"""A Neural-MMO-like world, batched: many players per copy forage, fight and survive on procedural terrain.

Every copy is tensors: the tile map (`uint8`, the reference's material indices), and one row per entity, the
players first, then the NPCs (position, health, combat levels, ...). A tick follows NM 2.x's `Realm.step`:

1. NPCs choose their actions from the state before the tick (as NM's `npcs.actions()` comes first).
2. Update (NM's `Player.update`, before any action): +10 HP if food > 50 and water > 50 (at most 100); -10 HP
   for food at 0 and -10 for water at 0; food and water -5 (at least 0); then food back to 100 on a foliage
   tile (one player per tile harvests it; it turns to scrub) and water back to 100 when 4-adjacent to water.
   NPCs regenerate 1 HP. Entities whose health fell to 0 here do not act.
3. Attacks (priority 50), all at once: damage `int(max(mult * offense - defense, 0.25 * offense))`, `mult`
   1.5 when the attack's style beats the target's top style (melee beats range, range beats mage, mage beats
   melee), reach 3 in Chebyshev distance; player offense 10 + 5 * level of the style, defense 5 * the highest
   combat level; NPC offense and defense int(8 * (level - U[0, 1))). A player younger than 20 ticks is
   immune to players (NM's spawn immunity). Each attack gives the attacker 6 XP in its style (NM's levels:
   level l from 90 * (sqrt 1 + ... + sqrt(l - 1)) XP, rounded per term, at most 10).
4. Moves (priority 60): N, S, E, W (row -1, row +1, col +1, col -1, NM's `Direction`) or stay; only onto
   grass, scrub or foliage (masked). Entities may share a tile.
5. Players at 0 HP die (their slot stays, `alive` False); depleted scrub regrows into foliage with probability
   `foliage_regrowth` (0.025) per tick (drawn as a geometric waiting time at harvest, the same law); dead NPCs respawn at a random
   passable tile, their kind and level set by the danger there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from envs.mmo import terrain
from envs.mmo.tasks import EXPLORE, REACH, parse_task
from envs.mmo.terrain import FOLIAGE, MATERIALS, PASSABLE, SCRUB, WATER
from marl import BatchedEnv, GroupSpec, Step, agent_names
from marl.core.validation import check_bool, check_choice, check_int, check_number, validated

GROUP = "agent"
NORTH, SOUTH, EAST, WEST, STAY = range(5)
MOVES = ((-1, 0), (1, 0), (0, 1), (0, -1), (0, 0))  # (row, col) per move, NM's Direction order
STYLES = ("melee", "range", "mage")
PASSIVE, NEUTRAL, AGGRESSIVE = 1, 2, 3  # NM's npc_type
MAX_HEALTH = FULL = 100
REGEN, STARVE, DEPLETION, NPC_REGEN = 10, 10, 5, 1
ATTACK_REACH, IMMUNITY = 3, 20
MAX_LEVEL, XP_PER_ATTACK = 10, 6  # NM's PROGRESSION_LEVEL_MAX, PROGRESSION_COMBAT_XP_SCALE
# XP at which each level starts: NM's default_exp_threshold(90, 10), sum of round(90 sqrt(l)) for l < level
XP_THRESHOLDS = tuple(
    sum(round(90 * math.sqrt(k)) for k in range(1, level)) for level in range(1, MAX_LEVEL + 1)
)
SPAWN_ATTEMPTS = 4  # random tiles an NPC tries per tick until one is passable
ENTITY_FEATURES = (
    "player", "passive", "neutral", "aggressive", "d_row", "d_col", "health", "food", "water",
    "melee_level", "range_level", "mage_level", "immune",
)  # fmt: skip
SELF_FEATURES = (
    "health", "food", "water", "melee_level", "range_level", "mage_level", "row", "col", "immune", "progress",
)  # fmt: skip
STATE_FEATURES = (
    "alive", "row", "col", "health", "food", "water", "melee_level", "range_level", "mage_level", "npc", "kind",
)  # fmt: skip
TILE_CHANNELS = (*MATERIALS, "players", "npcs")


@dataclass
class MMOConfig:
    """Config keys of every MMO world; the defaults are the `medium` preset (NM's Medium / Default)."""

    n_agents: int = 128
    map_size: int = 160  # tiles per side, void border included
    map_center: int = 128  # the playable square is map_center + 1 tiles wide (NM's MAP_CENTER)
    n_npcs: int = 128
    npc_max_level: int = 10
    max_steps: int = 1024  # the horizon: a copy is truncated after this many ticks
    npcs: bool = True  # False: no NPCs at all (a survival-only game with `combat: false`)
    combat: bool = True  # False: no attacks (the attack action is always "none")
    respawn_delay: int | None = (
        None  # None: death is final (the reference); k: a dead player rejoins k ticks later
    )
    vision: int = 7  # crop radius: a (2 vision + 1)^2 tile window
    k_entities: int = 16  # nearest visible entities observed (and attackable); the reference shows 100
    tasks: list[str] = field(default_factory=lambda: ["survive"])  # see envs/mmo/tasks.py
    task_assignment: str = "cycle"  # "cycle": agent i gets tasks[i % len]; "sample": each draws one per reset
    foliage_regrowth: float = 0.025  # probability per tick that a depleted foliage tile (scrub) grows back

    def validate(self) -> None:
        check_int("n_agents", self.n_agents, low=1)
        check_int("map_size", self.map_size, low=1)
        check_int("map_center", self.map_center, low=2, high=self.map_size)
        check_int("n_npcs", self.n_npcs, low=0)
        check_int("npc_max_level", self.npc_max_level, low=1)
        check_int("max_steps", self.max_steps, low=1)
        check_bool("npcs", self.npcs)
        check_bool("combat", self.combat)
        check_int("respawn_delay", self.respawn_delay, low=1, allow_none=True)
        check_int("vision", self.vision, low=1)
        check_int("k_entities", self.k_entities, low=1)
        check_choice("task_assignment", self.task_assignment, ("cycle", "sample"))
        border = (self.map_size - self.map_center) // 2
        if self.map_size % 2 or self.map_center % 2 or border <= self.vision:
            raise ValueError(
                f"map_size {self.map_size} and map_center {self.map_center}: both must be even (NM's layout: the "
                f"playable square is rows {border} to {border + self.map_center}), and the void border of {border} "
                f"tiles must be wider than vision={self.vision} for the {2 * self.vision + 1}x"
                f"{2 * self.vision + 1} crop (e.g. map_size >= {self.map_center + 2 * self.vision + 2})"
            )
        ring = 4 * self.map_center
        if self.n_agents > ring:
            raise ValueError(
                f"n_agents={self.n_agents} players do not fit the spawn edge of map_center {self.map_center} "
                f"({ring} edge tiles); use map_center >= {-(-self.n_agents // 4)}"
            )
        check_number("foliage_regrowth", self.foliage_regrowth, low=0.0, high=1.0)
        if not isinstance(self.tasks, (list, tuple)) or not self.tasks:
            raise ValueError(f"tasks must be a non-empty list of task names, got {self.tasks!r}")
        for spec in self.tasks:
            parse_task(spec, self.max_steps, self.map_size)


@dataclass
class MMOSmallConfig(MMOConfig):
    """NM's Small preset: 64 players on a 64x64 map (32x32 playable), 32 NPCs up to level 5, 128 ticks."""

    n_agents: int = 64
    map_size: int = 64
    map_center: int = 32
    n_npcs: int = 32
    npc_max_level: int = 5
    max_steps: int = 128


@dataclass
class MMOLargeConfig(MMOConfig):
    """NM's Large preset: 1,024 players on 1,056x1,056 (1,024 playable), 1,024 NPCs up to level 15, 8,192 ticks."""

    n_agents: int = 1024
    map_size: int = 1056
    map_center: int = 1024
    n_npcs: int = 1024
    npc_max_level: int = 15
    max_steps: int = 8192


PRESETS: dict[str, type[MMOConfig]] = {"small": MMOSmallConfig, "medium": MMOConfig, "large": MMOLargeConfig}


class View(NamedTuple):
    """What the entities see of one state (computed once per state): crops and nearest entities."""

    tiles: Tensor  # uint8 [B, N, crop]: the players' tile crops, row-major
    ids: Tensor  # int32 [B, N, crop]: the entity on each tile of a player's crop (the lowest index; E: none)
    slots: Tensor  # long [B, N, K]: each player's K nearest other visible entities, nearest first (-1: empty)
    delta: Tensor  # long [B, N, K, 2]: their (row, col) relative to the player (0 for empty slots)
    in_reach: Tensor  # bool [B, N, K]: the slot's entity is within attack reach
    prey: Tensor  # long [B, M]: the nearest living player each NPC sees (-1: none)
    table: Tensor  # float [B, E, 11]: every entity's features (`_entity_table`), for observations and state


class MMOEnv(BatchedEnv):
    """A Neural-MMO-like world on `num_envs` copies: group `agent` (the players), NPCs scripted as tensors."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 8}

    def __init__(
        self,
        config: MMOConfig | None = None,
        *,
        num_envs: int = 1,
        device: str | torch.device = "cpu",
        seed: int | None = None,
    ) -> None:
        self.config = config = validated(config, MMOConfig)
        dev = torch.device(device)
        self.N = N = config.n_agents
        self.M = M = config.n_npcs if config.npcs else 0
        self.E = E = N + M
        self.H = self.W = S = config.map_size
        self.centre, self.border = config.map_center, (config.map_size - config.map_center) // 2
        self.K, self.vision, self.combat = config.k_entities, config.vision, config.combat
        self.horizon, self.respawn_delay = config.max_steps, config.respawn_delay
        self.npc_max_level = config.npc_max_level
        self.level_scale = float(max(MAX_LEVEL, config.npc_max_level))
        side = 2 * self.vision + 1
        self.crop = side * side
        dr, dc = torch.meshgrid(
            torch.arange(-self.vision, self.vision + 1),
            torch.arange(-self.vision, self.vision + 1),
            indexing="ij",
        )
        # the crop's cells nearest first (Chebyshev, then Manhattan, then row-major): the K nearest are a prefix
        key = (
            dr.abs().maximum(dc.abs()) * 10_000
            + (dr.abs() + dc.abs()) * 1_000
            + torch.arange(self.crop).view(side, side)
        )
        self.nearest_order = key.flatten().argsort().to(dev)
        self.moves = torch.tensor(MOVES, device=dev)
        order = torch.tensor([NORTH, SOUTH, WEST, EAST] * 2, device=dev)  # NM's DIRECTIONS, twice
        self.meander_cycle = torch.stack([order[k : k + 4] for k in range(4)])  # [4 starts, 4 directions]
        self.xp_thresholds = torch.tensor(XP_THRESHOLDS, device=dev)
        self.regrow_p = config.foliage_regrowth
        self.move_offsets = self.moves[:, 0] * S + self.moves[:, 1]
        self.passable = torch.tensor(PASSABLE, device=dev)
        self.material_ids = torch.arange(len(MATERIALS), dtype=torch.uint8, device=dev)[:, None]
        self.ring = terrain.edge_ring(S, self.centre, dev)
        specs = [parse_task(t, config.max_steps, S) for t in config.tasks]
        self.task_kinds = torch.tensor([t.kind for t in specs], device=dev)
        self.task_targets = torch.tensor([float(t.target) for t in specs], device=dev)
        self.task_tiles = torch.tensor([t.tile for t in specs], device=dev)
        self.tracks_visits = any(t.kind == EXPLORE for t in specs)
        self.sample_tasks = config.task_assignment == "sample"
        self.is_player = torch.arange(E, device=dev) < N
        B, HW = num_envs, S * S
        self.player_ids = torch.arange(N, dtype=torch.int32, device=dev)
        self.copy_index = torch.arange(B, device=dev)[:, None]
        self.cell_numbers = torch.arange(self.crop, dtype=torch.int32, device=dev)
        # 1..K for every player, the running counts `_sight` searches (contiguous: searchsorted wants it so)
        self.slot_numbers = torch.arange(1, self.K + 1, dtype=torch.int32, device=dev).repeat(B, N, 1)
        self.HW = HW
        # the map, flat, with one spare cell at HW that writes of nobody's interest go to
        self.tiles_flat = torch.zeros(B, HW + 1, dtype=torch.uint8, device=dev)
        self.regrow_at = torch.zeros(B, HW + 1, dtype=torch.int32, device=dev)
        self.pos = torch.full((B, E, 2), self.border, dtype=torch.long, device=dev)
        self.health = torch.zeros(B, E, dtype=torch.long, device=dev)
        self.live = torch.zeros(B, E, dtype=torch.bool, device=dev)
        self.time_alive = torch.zeros(B, E, dtype=torch.long, device=dev)
        self.food = torch.zeros(B, N, dtype=torch.long, device=dev)
        self.water = torch.zeros(B, N, dtype=torch.long, device=dev)
        self.xp = torch.zeros(B, N, 3, dtype=torch.long, device=dev)
        self.npc_level = torch.zeros(B, M, dtype=torch.long, device=dev)
        self.npc_kind = torch.zeros(B, M, dtype=torch.long, device=dev)
        self.npc_style = torch.zeros(B, M, dtype=torch.long, device=dev)
        self.npc_offense = torch.zeros(B, M, dtype=torch.long, device=dev)
        self.npc_defense = torch.zeros(B, M, dtype=torch.long, device=dev)
        self.npc_target = torch.full((B, M), -1, dtype=torch.long, device=dev)
        self.npc_attacker = torch.full(
            (B, M), -1, dtype=torch.long, device=dev
        )  # the player that hit it last tick
        self.eaten = torch.zeros(B, N, dtype=torch.long, device=dev)
        self.drunk = torch.zeros(B, N, dtype=torch.long, device=dev)
        self.kills = torch.zeros(B, N, dtype=torch.long, device=dev)
        self.visits = torch.zeros(B, N, dtype=torch.long, device=dev)
        self.reached = torch.zeros(B, N, dtype=torch.bool, device=dev)
        self.visited = torch.zeros(B, N, HW + 1 if self.tracks_visits else 0, dtype=torch.bool, device=dev)
        self.progress = torch.zeros(B, N, device=dev)
        self.task = torch.zeros(B, N, dtype=torch.long, device=dev)  # index into config.tasks
        self.respawn_at = torch.full((B, N), -1, dtype=torch.long, device=dev)
        self.last_attack = torch.full(
            (B, E), -1, dtype=torch.long, device=dev
        )  # target of the last tick, for rendering
        self._forced: tuple[Tensor, Tensor] | None = None
        self.render_region: tuple[int, int, int] | None = None  # (row, col, size): zoom the picture
        # what the entities see of the current state, computed once per state and dropped by every change of it
        # (a dropped cache rather than a step counter: torch.compile would recompile for every new counter value)
        self._view_cache: View | None = None
        lives = 1 if self.respawn_delay is None else 1 + (config.max_steps - 1) // (self.respawn_delay + 1)
        obs_space = gym.spaces.Dict(
            {
                "tiles": gym.spaces.Box(0, 1, (len(TILE_CHANNELS), side, side), np.uint8),  # one-hot bytes
                "entities": gym.spaces.Box(-1.0, 1.0, (self.K, len(ENTITY_FEATURES)), np.float32),
                "entities_mask": gym.spaces.Box(0.0, 1.0, (self.K,), np.float32),
                "self": gym.spaces.Box(0.0, 1.0, (len(SELF_FEATURES),), np.float32),
            }
        )
        action_space = gym.spaces.MultiDiscrete([len(MOVES), 1 + len(STYLES) * self.K])
        group = GroupSpec(agent_names(GROUP, N), obs_space, action_space, lives=lives)
        state_space = gym.spaces.Box(0.0, 1.0, (E * len(STATE_FEATURES) + 1,), np.float32)
        super().__init__(
            groups={GROUP: group},
            num_envs=num_envs,
            device=dev,
            seed=seed,
            max_steps=config.max_steps,
            state_space=state_space,
        )

    # ------------------------------------------------------------------ views of the state
    @property
    def tiles(self) -> Tensor:
        """`uint8 [B, H, W]`: the material of every tile (a view of the flat map)."""
        return self.tiles_flat[:, : self.HW].view(self.num_envs, self.H, self.W)

    def flat(self, pos: Tensor) -> Tensor:
        return pos[..., 0] * self.W + pos[..., 1]

    def levels(self) -> Tensor:
        """`long [B, E, 3]` combat levels: a player's from its XP, an NPC's level in its style (1 in the others)."""
        player = (self.xp[..., None] >= self.xp_thresholds).sum(-1)
        own = self.npc_style[..., None] == torch.arange(3, device=self.device)
        npc = torch.where(own, self.npc_level[..., None], 1)
        return torch.cat([player, npc], dim=1)

    def top_style(self) -> Tensor:
        """`long [B, E]`: a player's style with the most XP (the first on ties; -1, no style, when all three are
        equal: NM's `damage_multiplier`), an NPC's own style (the only one it has XP in)."""
        top = torch.where(self.xp.amax(-1) == self.xp.amin(-1), -1, self.xp.argmax(-1))
        return torch.cat([top, self.npc_style], dim=1)

    def _move_mask(self, pos: Tensor) -> Tensor:
        """`bool [B, n, 5]`: which moves lead onto a passable tile (staying always does)."""
        target = self.flat(pos)[..., None] + self.move_offsets
        return self.passable[self.tiles_flat.gather(1, target.flatten(1)).long()].view(target.shape)

    def _sight(self) -> View:
        """What the entities see in this state (crop tiles and occupants, each player's K nearest, each NPC's
        prey), computed once per state."""
        if self._view_cache is not None:
            return self._view_cache
        B, E, N, HW = self.num_envs, self.E, self.N, self.HW
        # the entity on every tile (the lowest index; E: nobody), one spare cell at HW for the dead
        occupant = torch.full((B, HW + 1), E, dtype=torch.int32, device=self.device)
        entity = torch.arange(E, dtype=torch.int32, device=self.device).expand(B, E)
        occupant.scatter_reduce_(1, torch.where(self.live, self.flat(self.pos), HW), entity, "amin")
        players, npcs = self.pos[:, :N], self.pos[:, N:]
        ids = self._crops(occupant, players)
        tiles = self._crops(self.tiles_flat, players)
        # players: the first K others in distance order, found by binary search in the running count of the
        # occupied cells (the own tile, nearest of all, shows the player itself unless a lower index shares it)
        mine = ids.gather(2, self.nearest_order.expand(B, N, -1))  # (gather with a stride-0 index is fast)
        occupied = mine < E
        occupied[..., 0] &= mine[..., 0] != self.player_ids
        count = occupied.cumsum(-1, dtype=torch.int32)
        at = torch.searchsorted(count, self.slot_numbers)  # [B, N, K]: where the k-th other is (crop: none)
        found = at < self.crop
        slots = torch.where(found, mine.gather(2, at.clamp(max=self.crop - 1)), -1).long()
        other = self.pos.gather(1, slots.clamp(min=0).view(B, -1, 1).expand(-1, -1, 2)).view(B, N, self.K, 2)
        delta = torch.where(found[..., None], other - self.pos[:, :N, None], 0)
        in_reach = found & (delta.abs().amax(-1) <= ATTACK_REACH)
        # NPCs: the nearest player in sight (a bool max with indices would do, but inductor's C++ fails on it)
        theirs = self._crops(occupant, npcs).gather(2, self.nearest_order.expand(B, self.M, -1))
        first = torch.where(theirs < N, self.cell_numbers, self.crop).amin(-1, keepdim=True)
        prey = torch.where(first < self.crop, theirs.gather(2, first.clamp(max=self.crop - 1)), -1)
        prey = prey[..., 0].long()
        view = View(tiles, ids, slots, delta, in_reach, prey, self._entity_table())
        self._view_cache = view
        return view

    def _crops(self, grid: Tensor, pos: Tensor) -> Tensor:
        """`[B, n, crop]`: the (2 vision + 1)^2 cells of a flat map `grid [B, HW + 1]` around each of `pos [B, n,
        2]`, row-major. Indexes a window view of the map (unfold allocates nothing), which copies each crop in
        rows instead of gathering it cell by cell through a `long` index of every cell (3x faster, far less
        memory)."""
        side = 2 * self.vision + 1
        windows = grid[:, : self.HW].view(self.num_envs, self.H, self.W).unfold(1, side, 1).unfold(2, side, 1)
        corner = pos - self.vision
        return windows[self.copy_index, corner[..., 0], corner[..., 1]].view(*pos.shape[:2], self.crop)

    def _attackable(self, view: View) -> Tensor:
        """`bool [B, N, K]`: slots a player may attack: in reach, and not a player younger than `IMMUNITY` ticks
        (NM 2.1.2's spawn immunity, `Attack.call`)."""
        if not self.combat:
            return torch.zeros_like(view.in_reach)
        target = view.slots.clamp(min=0)
        young = (target < self.N) & (self.time_alive.gather(1, target.flatten(1)).view_as(target) < IMMUNITY)
        return view.in_reach & ~young

    # ------------------------------------------------------------------ reset
    def reset_to(self, terrain_map: Tensor, spawns: Tensor) -> Step:
        """Reset every copy onto the given terrain (`long [num_envs, H, W]`, the reference's tile indices 0-5)
        with the players at `spawns` (`long [num_envs, n_agents, 2]`, (row, col)); NPCs, if on, spawn at random.
        Later auto-resets draw new terrain as usual. For side-by-side checks against the reference."""
        B, N, S = self.num_envs, self.N, self.H
        for name, value, shape in (("terrain", terrain_map, (B, S, S)), ("spawns", spawns, (B, N, 2))):
            if not isinstance(value, Tensor) or value.dtype != torch.long or tuple(value.shape) != shape:
                got = (
                    f"{value.dtype} {tuple(value.shape)}"
                    if isinstance(value, Tensor)
                    else type(value).__name__
                )
                raise ValueError(f"reset_to: {name} must be a LongTensor of shape {shape}, got {got}")
        terrain_map, spawns = terrain_map.to(self.device), spawns.to(self.device)
        if bool(((terrain_map < 0) | (terrain_map >= len(MATERIALS))).any()):
            bad = sorted(set(terrain_map[(terrain_map < 0) | (terrain_map >= len(MATERIALS))].tolist()))
            raise ValueError(
                f"reset_to: terrain has tile indices {bad[:8]}; this world plays 0-5 ({', '.join(MATERIALS)}), "
                "not the reference's resource tiles 6-15"
            )
        low, high = terrain.playable(self.H, self.centre)
        rows = torch.arange(S, device=self.device)
        inside = ((rows >= low) & (rows <= high))[:, None] & ((rows >= low) & (rows <= high))[None, :]
        walkable_outside = self.passable[terrain_map] & ~inside
        if bool(walkable_outside.any()):
            b, r, c = (int(x) for x in walkable_outside.nonzero()[0])
            raise ValueError(
                f"reset_to: copy {b} has {MATERIALS[int(terrain_map[b, r, c])]} at ({r}, {c}), outside the playable "
                f"square [{low}, {high}]^2; only void, water or stone may lie there (NM's maps are void there)"
            )
        outside = ((spawns < low) | (spawns > high)).any(-1)
        if bool(outside.any()):
            b, i = (int(x) for x in outside.nonzero()[0])
            raise ValueError(
                f"reset_to: spawn of agent {i} in copy {b} is {spawns[b, i].tolist()}, outside the playable "
                f"square [{low}, {high}]^2"
            )
        material = terrain_map.view(B, -1).gather(1, self.flat(spawns))
        blocked = ~self.passable[material]
        if bool(blocked.any()):
            b, i = (int(x) for x in blocked.nonzero()[0])
            raise ValueError(
                f"reset_to: agent {i} in copy {b} spawns at {spawns[b, i].tolist()} on "
                f"{MATERIALS[int(material[b, i])]}, which is not passable"
            )
        self._forced = (terrain_map.to(torch.uint8), spawns)
        try:
            return self.reset()
        finally:
            self._forced = None

    def _reset(self, mask: Tensor) -> None:
        B, N, M, dev, gen = self.num_envs, self.N, self.M, self.device, self.generator
        if self._forced is None:
            tiles = terrain.generate(B, self.H, self.centre, gen, dev)
            order = torch.rand(B, len(self.ring), generator=gen, device=dev).argsort(1)[:, :N]
            spawns = self.ring[order]
        else:
            tiles, spawns = self._forced
        m = mask[:, None]
        self.tiles_flat[:, : self.HW] = torch.where(m, tiles.view(B, -1), self.tiles_flat[:, : self.HW])
        self.regrow_at = torch.where(m, self._regrowth_times(0, (B, self.HW + 1)), self.regrow_at)
        self.pos[:, :N] = torch.where(m[..., None], spawns, self.pos[:, :N])
        self.health[:, :N] = torch.where(m, FULL, self.health[:, :N])
        self.live[:, :N] = torch.where(m, True, self.live[:, :N])
        self.time_alive = torch.where(m, 0, self.time_alive)
        self.last_attack = torch.where(m, -1, self.last_attack)
        for name in ("food", "water"):
            setattr(self, name, torch.where(m, FULL, getattr(self, name)))
        for name in ("xp", "eaten", "drunk", "kills", "visits", "reached", "visited", "progress"):
            value = getattr(self, name)
            setattr(self, name, self.where(mask, torch.zeros_like(value), value))
        self.respawn_at = torch.where(m, -1, self.respawn_at)
        if self.sample_tasks:
            task = torch.randint(len(self.task_kinds), (B, N), generator=gen, device=dev)
        else:
            task = (torch.arange(N, device=dev) % len(self.task_kinds)).expand(B, N)
        self.task = torch.where(m, task, self.task)
        self._mark_visits(mask[:, None] & self.live[:, :N])
        self.progress = self.where(mask, self._progress(), self.progress)
        if M:
            self.live[:, N:] = torch.where(m, False, self.live[:, N:])
            self.health[:, N:] = torch.where(m, 0, self.health[:, N:])
            self.pos[:, N:] = torch.where(m[..., None], self.border, self.pos[:, N:])
            for name in ("npc_level", "npc_kind", "npc_style", "npc_offense", "npc_defense"):
                setattr(self, name, torch.where(m, 0, getattr(self, name)))
            self.npc_target = torch.where(m, -1, self.npc_target)
            self.npc_attacker = torch.where(m, -1, self.npc_attacker)
            self._spawn_npcs(m & torch.ones(B, M, dtype=torch.bool, device=dev))
        self._view_cache = None

    def _regrowth_times(self, tick: int | Tensor, shape: tuple[int, ...]) -> Tensor:
        """The tick at whose end a tile depleted at `tick` regrows: a geometric wait (p = `foliage_regrowth` per
        tick, the first trial at the end of `tick` itself), which is the reference's per-tick coin flip in one draw."""
        u = torch.rand(shape, generator=self.generator, device=self.device).clamp(min=1e-12)
        if self.regrow_p == 0.0:
            wait = torch.full_like(u, 2**30)
        elif self.regrow_p == 1.0:
            wait = torch.zeros_like(u)
        else:
            wait = torch.floor(torch.log(u) / math.log1p(-self.regrow_p))
        return (tick + wait.clamp(max=2**30)).to(torch.int32)

    def _spawn_npcs(self, which: Tensor) -> None:
        """Dead NPCs in `which [B, M]` try `SPAWN_ATTEMPTS` random tiles of the centre; those that find a
        passable one appear there at full health, their kind and level set by the danger of the tile."""
        B, N, M, dev, gen = self.num_envs, self.N, self.M, self.device, self.generator
        # rows and columns border to border + centre - 1: NM spawns no NPC where danger < 0 (the far edge)
        cand = self.border + torch.randint(self.centre, (B, M, SPAWN_ATTEMPTS, 2), generator=gen, device=dev)
        ok = self.passable[self.tiles_flat.gather(1, self.flat(cand).view(B, -1)).long()].view(B, M, -1)
        first = ok.long().argmax(-1)
        pos = cand.gather(2, first[..., None, None].expand(-1, -1, 1, 2))[:, :, 0]
        spawn = which & ok.any(-1) & ~self.live[:, N:]
        danger = terrain.danger(pos, self.H, self.centre)
        level = (danger * (self.npc_max_level - 1) + 1).long()
        kind = torch.where(danger >= 0.8, AGGRESSIVE, torch.where(danger >= 0.5, NEUTRAL, PASSIVE))
        u = torch.rand(B, M, 2, generator=gen, device=dev)
        strength = (8 * (level[..., None] - u)).long().clamp(min=0)
        style = torch.randint(len(STYLES), (B, M), generator=gen, device=dev)
        s = spawn[..., None]
        self.pos[:, N:] = torch.where(s, pos, self.pos[:, N:])
        self.health[:, N:] = torch.where(spawn, MAX_HEALTH, self.health[:, N:])
        self.time_alive[:, N:] = torch.where(spawn, 0, self.time_alive[:, N:])
        self.live[:, N:] |= spawn
        self.npc_level = torch.where(spawn, level, self.npc_level)
        self.npc_kind = torch.where(spawn, kind, self.npc_kind)
        self.npc_style = torch.where(spawn, style, self.npc_style)
        self.npc_offense = torch.where(spawn, strength[..., 0], self.npc_offense)
        self.npc_defense = torch.where(spawn, strength[..., 1], self.npc_defense)
        self.npc_target = torch.where(spawn, -1, self.npc_target)
        self.npc_attacker = torch.where(spawn, -1, self.npc_attacker)

    def _mark_visits(self, who: Tensor) -> None:
        """Players in `who [B, N]` stand where they are: tiles of `explore` and the tile of `reach`."""
        if self.tracks_visits:
            cell = torch.where(who, self.flat(self.pos[:, : self.N]), self.HW)
            new = ~self.visited.gather(2, cell[..., None])[..., 0] & who
            self.visited.scatter_(2, cell[..., None], True)
            self.visits += new
        tile = self.task_tiles[self.task]
        self.reached |= who & (self.pos[:, : self.N] == tile).all(-1) & (self.task_kinds[self.task] == REACH)

    # ------------------------------------------------------------------ step
    def _step(self, actions: dict[str, Tensor]) -> dict[str, tuple[Tensor, ...]]:
        N = self.N
        tick = self.elapsed  # [B]: the tick being played
        act = actions[GROUP]
        view = self._sight()
        npc_move, npc_target = self._npc_decisions(view)
        # 2. update (before any action)
        self._update_players(tick)
        self.health[:, N:] = torch.where(
            self.live[:, N:], (self.health[:, N:] + NPC_REGEN).clamp(max=MAX_HEALTH), self.health[:, N:]
        )
        self.time_alive += self.live.long()
        acting = self.live & (self.health > 0)
        # 3. attacks
        attack = act[..., 1]
        slot = ((attack - 1) % self.K).clamp(min=0)
        legal = self._attackable(view).gather(2, slot[..., None])[..., 0]
        target = torch.cat([view.slots.gather(2, slot[..., None])[..., 0], npc_target], dim=1)
        style = torch.cat([((attack - 1) // self.K).clamp(min=0), self.npc_style], dim=1)
        striking = torch.cat([(attack > 0) & legal, npc_target >= 0], dim=1) & acting & (target >= 0)
        target = target.clamp(min=0)
        striking &= self.health.gather(1, target) > 0
        self._resolve_attacks(striking, target, style)
        # 4. moves
        move = torch.cat([act[..., 0], npc_move], dim=1)
        moving = acting & (self.health > 0)
        allowed = self._move_mask(self.pos).gather(2, move[..., None])[..., 0]
        self.pos = torch.where((moving & allowed)[..., None], self.pos + self.moves[move], self.pos)
        # 5. deaths, the map, NPC respawns
        died = self.live & (self.health <= 0)
        self.live &= ~died
        terminated = died[:, :N]
        self.tiles_flat.masked_fill_((self.tiles_flat == SCRUB) & (self.regrow_at <= tick[:, None]), FOLIAGE)
        if self.M:
            self._spawn_npcs(~self.live[:, N:])
        joined = self._respawn_players(terminated, tick)
        self._mark_visits(self.live[:, :N])
        progress = self._progress()
        reward = progress - self.progress - terminated.float()  # the change of progress, -1 for a death
        self.progress = progress
        self._view_cache = None
        return {
            GROUP: (reward, terminated, joined) if self.respawn_delay is not None else (reward, terminated)
        }

    def _update_players(self, tick: Tensor) -> None:
        """NM's `Player.update` for every living player: health from food and water, then foraging."""
        live = self.live[:, : self.N]
        food, water, health = self.food, self.water, self.health[:, : self.N]
        health = torch.where((food > 50) & (water > 50), (health + REGEN).clamp(max=MAX_HEALTH), health)
        health = health - STARVE * (food == 0).long() - STARVE * (water == 0).long()
        food, water = (food - DEPLETION).clamp(min=0), (water - DEPLETION).clamp(min=0)
        cell = self.flat(self.pos[:, : self.N])
        on_foliage = live & (self.tiles_flat.gather(1, cell) == FOLIAGE)
        # one harvester per foliage tile: the lowest player index standing on it
        key = torch.where(on_foliage, cell * self.N + torch.arange(self.N, device=self.device), -1)
        sorted_key, order = key.sort(1)
        sorted_cell = torch.div(sorted_key, self.N, rounding_mode="floor")
        first = (sorted_key >= 0) & torch.cat(
            [
                torch.ones_like(sorted_cell[:, :1], dtype=torch.bool),
                sorted_cell[:, 1:] != sorted_cell[:, :-1],
            ],
            1,
        )
        harvest = torch.zeros_like(first).scatter_(1, order, first)
        near = self.tiles_flat.gather(1, (cell[..., None] + self.move_offsets[:4]).flatten(1)).view(
            *cell.shape, 4
        )
        drink = live & (near == WATER).any(-1)
        spot = torch.where(harvest, cell, self.HW)
        self.tiles_flat.scatter_(1, spot, torch.where(harvest, SCRUB, 0).to(torch.uint8))
        self.regrow_at.scatter_(1, spot, self._regrowth_times(tick[:, None], spot.shape))
        self.food = torch.where(live, torch.where(harvest, FULL, food), self.food)
        self.water = torch.where(live, torch.where(drink, FULL, water), self.water)
        self.health[:, : self.N] = torch.where(live, health, self.health[:, : self.N])
        self.eaten += harvest.long()
        self.drunk += drink.long()

    def _resolve_attacks(self, striking: Tensor, target: Tensor, style: Tensor) -> None:
        """Every strike of the tick at once: damage, XP, the NPCs' grudges and the defeats credited."""
        N = self.N
        level = self.levels()
        offense = torch.cat(
            [10 + 5 * level[:, :N].gather(2, style[:, :N, None])[..., 0], self.npc_offense], dim=1
        ).float()
        defense = torch.cat([5 * level[:, :N].amax(-1), self.npc_defense], dim=1).float()
        weak = (style + 1) % 3 == self.top_style().gather(1, target)
        mult = torch.where(weak, 1.5, 1.0)
        damage = torch.maximum(mult * offense - defense.gather(1, target), 0.25 * offense).long()
        damage = torch.where(striking, damage, 0)
        before = self.health.clone()
        self.health -= torch.zeros_like(self.health).scatter_add_(1, target, damage)
        self.last_attack = torch.where(striking, target, -1)
        hits = striking[:, :N, None] & (torch.arange(3, device=self.device) == style[:, :N, None])
        self.xp += XP_PER_ATTACK * hits.long()
        if self.M:
            player_hits = striking & self.is_player & (target >= N)
            grudge = torch.full_like(target, -1).scatter_reduce_(
                1,
                torch.where(player_hits, target, 0),
                torch.where(player_hits, torch.arange(self.E, device=self.device), -1),
                "amax",
            )
            self.npc_attacker = grudge[:, N:]
            defeated = (before > 0) & (self.health <= 0)
            credit = striking[:, :N] & (target[:, :N] >= N) & defeated.gather(1, target[:, :N])
            self.kills += credit.long()

    def _npc_decisions(self, view: View) -> tuple[Tensor, Tensor]:
        """`(move [B, M], target [B, M])` of every NPC (target -1: no attack), as NM's `npc.py`: a passive NPC
        meanders; a neutral one keeps its target while it lives and stays within `vision`, else takes the
        player that hit it last tick; an aggressive one does the same, else takes the nearest living player it
        sees. With a target it steps towards it (along the axis with the larger distance, else the other) and
        strikes it when in reach (the strike comes first); without one it meanders: from a random one of N, S,
        W, E, the first passable direction in that cycle (NM's `get_habitable_dir`)."""
        B, N, M, dev = self.num_envs, self.N, self.M, self.device
        if M == 0:
            empty = torch.zeros(B, 0, dtype=torch.long, device=dev)
            return empty, empty

        def in_sight(who: Tensor) -> Tensor:
            held = who.clamp(min=0)
            gap = (self.pos.gather(1, held[..., None].expand(-1, -1, 2)) - self.pos[:, N:]).abs().amax(-1)
            return (who >= 0) & self.live.gather(1, held) & (gap <= self.vision)

        kind = self.npc_kind
        target = torch.where(in_sight(self.npc_target), self.npc_target, -1)
        target = torch.where((target < 0) & (self.npc_attacker >= 0), self.npc_attacker, target)
        target = torch.where((target < 0) & (kind == AGGRESSIVE), view.prey, target)
        target = torch.where(self.live[:, N:] & (kind != PASSIVE), target, -1)
        self.npc_target = target
        delta = self.pos.gather(1, target.clamp(min=0)[..., None].expand(-1, -1, 2)) - self.pos[:, N:]
        distance = delta.abs().amax(-1)
        strike = (target >= 0) & (distance <= ATTACK_REACH) & self.combat
        allowed = self._move_mask(self.pos[:, N:])

        def ok(m: Tensor) -> Tensor:
            return allowed.gather(2, m[..., None])[..., 0]

        start = torch.randint(4, (B, M), generator=self.generator, device=dev)
        cycle = self.meander_cycle[start]  # [B, M, 4]: the directions from the drawn start
        passable = allowed.gather(2, cycle)
        wander = torch.where(
            passable.any(-1), cycle.gather(2, passable.long().argmax(-1, keepdim=True))[..., 0], STAY
        )
        row_move = torch.where(delta[..., 0] < 0, NORTH, SOUTH)
        col_move = torch.where(delta[..., 1] > 0, EAST, WEST)
        rows_first = delta[..., 0].abs() >= delta[..., 1].abs()
        first = torch.where(rows_first, row_move, col_move)
        second = torch.where(rows_first, col_move, row_move)
        second_ok = torch.where(rows_first, delta[..., 1] != 0, delta[..., 0] != 0)
        chase = torch.where(ok(first), first, torch.where(second_ok & ok(second), second, STAY))
        chase = torch.where(distance > 0, chase, STAY)
        move = torch.where(target >= 0, chase, wander)
        return move, torch.where(strike, target, -1)

    def _respawn_players(self, died: Tensor, tick: Tensor) -> Tensor:
        """With `respawn_delay`, players dead for that many ticks rejoin on a random edge tile, fresh."""
        if self.respawn_delay is None:
            return torch.zeros_like(died)
        N, gen = self.N, self.generator
        self.respawn_at = torch.where(died, tick[:, None] + self.respawn_delay, self.respawn_at)
        back = ~self.live[:, :N] & (self.respawn_at >= 0) & (self.respawn_at <= tick[:, None])
        spot = self.ring[torch.randint(len(self.ring), back.shape, generator=gen, device=self.device)]
        self.pos[:, :N] = torch.where(back[..., None], spot, self.pos[:, :N])
        self.health[:, :N] = torch.where(back, FULL, self.health[:, :N])
        self.live[:, :N] |= back
        self.time_alive[:, :N] = torch.where(back, 0, self.time_alive[:, :N])
        self.respawn_at = torch.where(back, -1, self.respawn_at)
        for name in ("food", "water"):
            setattr(self, name, torch.where(back, FULL, getattr(self, name)))
        for name in ("xp", "eaten", "drunk", "kills", "visits", "reached", "visited", "progress"):
            value = getattr(self, name)
            fresh = back.view(*back.shape, *([1] * (value.dim() - 2)))
            setattr(self, name, torch.where(fresh, torch.zeros_like(value), value))
        return back

    def _progress(self) -> Tensor:
        """`[B, N]`: every player's task progress in [0, 1] from its counts."""
        counts = torch.stack(  # in the order of the task kinds (SURVIVE, EAT, DRINK, DEFEAT_NPCS, EXPLORE, REACH)
            [
                self.time_alive[:, : self.N],
                self.eaten,
                self.drunk,
                self.kills,
                self.visits,
                self.reached.long(),
            ],
            -1,
        )
        value = counts.gather(2, self.task_kinds[self.task][..., None])[..., 0].float()
        return (value / self.task_targets[self.task]).clamp(max=1.0)

    # ------------------------------------------------------------------ what agents see
    def _observe(self) -> dict[str, dict[str, Tensor]]:
        B, N, K = self.num_envs, self.N, self.K
        view = self._sight()
        side = 2 * self.vision + 1
        ids = view.ids
        # bytes (a quarter of float32's memory: at many copies allocating the crop is much of a step's cost),
        # written in place by comparisons through a bool view of the same bytes
        tiles = torch.empty(B, N, len(TILE_CHANNELS), self.crop, dtype=torch.uint8, device=self.device)
        flags = tiles.view(torch.bool)
        torch.eq(view.tiles[:, :, None], self.material_ids, out=flags[:, :, :-2])
        torch.lt(ids, N, out=flags[:, :, -2])
        torch.lt(ids, self.E, out=flags[:, :, -1])  # anybody (E: nobody), less the players
        tiles[:, :, -1] -= tiles[:, :, -2]
        slots, table = view.slots, view.table
        rows = table.gather(1, slots.clamp(min=0).view(B, -1, 1).expand(-1, -1, table.shape[-1])).view(
            B, N, K, -1
        )
        delta = view.delta.float() / self.vision
        entities = torch.cat([rows[..., :4], delta, rows[..., 4:]], dim=-1)
        valid = slots >= 0
        entities = torch.where(valid[..., None], entities, 0.0)
        me = table[:, :N]
        place = (self.pos[:, :N] - self.border).float() / self.centre
        own = torch.cat([me[..., 4:10], place, me[..., 10:11], self.progress[..., None]], dim=-1)
        return {
            GROUP: {  # in the space's key order (gymnasium sorts a Dict's keys)
                "entities": entities,
                "entities_mask": valid.float(),
                "self": own,
                "tiles": tiles.view(B, N, -1, side, side),
            }
        }

    def _entity_table(self) -> Tensor:
        """`float [B, E, 11]`: type one-hot (player, passive, neutral, aggressive), health, food, water, the 3
        levels and spawn immunity of every entity, scaled to [0, 1]."""
        kind = torch.cat([torch.zeros_like(self.health[:, : self.N]), self.npc_kind], dim=1)
        zeros = torch.zeros_like(self.health[:, self.N :])
        food = torch.cat([self.food, zeros], dim=1)
        water = torch.cat([self.water, zeros], dim=1)
        immune = self.is_player & (self.time_alive < IMMUNITY)
        return torch.cat(
            [
                (kind[..., None] == torch.arange(4, device=self.device)).float(),
                torch.stack([self.health.clamp(min=0), food, water], -1).float() / FULL,
                self.levels().float() / self.level_scale,
                immune[..., None].float(),
            ],
            dim=-1,
        )

    def _state(self) -> Tensor:
        B = self.num_envs
        table = self._sight().table
        place = (self.pos - self.border).float() / self.centre
        kind = torch.cat([torch.zeros_like(self.health[:, : self.N]), self.npc_kind], dim=1).float() / 3
        per_entity = torch.cat(
            [
                self.live[..., None].float(),
                place,
                table[..., 4:10],
                (~self.is_player).float().expand(B, -1)[..., None],
                kind[..., None],
            ],
            dim=-1,
        )
        clock = (self.elapsed.float() / self.horizon).clamp(max=1.0)[:, None]
        return torch.cat([per_entity.flatten(1), clock], dim=1)

    def _action_mask(self) -> dict[str, Tensor]:
        view = self._sight()
        moves = self._move_mask(self.pos[:, : self.N])
        attack = self._attackable(view)
        none = torch.ones_like(moves[..., :1])
        return {GROUP: torch.cat([moves, none, attack.repeat(1, 1, len(STYLES))], dim=-1)}

    def _episode_stats(self) -> dict[str, Tensor]:
        lifetime = self.time_alive[:, : self.N].float()
        return {
            "lifetime": lifetime.mean(1),
            "task_progress": self.progress.mean(1),
            "task_completed": (self.progress >= 1.0).float().mean(1),
            "npcs_defeated": self.kills.float().sum(1),
        }

    def _render(self, index: int) -> np.ndarray:
        from envs.mmo.render import draw

        return draw(self, index)
