"""Batched, partially observed multi-agent pathfinding (POGEMA's rules) on many grid copies at once.

State per copy: the obstacle grid (maps of one batch are padded to a common size with obstacles), every
agent's cell and goal as flat indices `row * W + column`. Actions (POGEMA's MOVES): 0 wait, 1 up, 2 down,
3 left, 4 right. A move into an obstacle or off the map is a wait; the collision system (`collisions.py`)
resolves the rest.

Modes (POGEMA's `on_target`):
- `finish` (one-shot): +1 when an agent reaches its goal; it terminates and leaves the map.
- `classic` (POGEMA's `nothing`): agents stay; when all stand on their goals at once every agent gets +1 and the
  episode terminates.
- `lifelong` (POGEMA's `restart`): +1 per goal reached, and a new goal is drawn at once, uniformly in the
  agent's connected component; episodes end by truncation at `max_steps`.

Starts and goals (`placement`): `pogema` (the default) as POGEMA's placement makes them from one shuffled order of
the free cells, `uniform_pairs` the same kind of pairs drawn uniformly (see `ComponentTables.sample_pairs`).

Observation of an agent, flattened: channels of the `(2R+1) x (2R+1)` window centred on it (obstacles, with
off-map cells as obstacles; present agents, itself included; its goal, projected onto the window's border
when outside; optionally the cells of its planned shortest path), then the unit vector towards its goal
(row, column; zero on the goal). `split_observation()` splits it. Global state: the obstacle grid, then
every agent's (row, column) and goal normalised to [0, 1], then which agents are present.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from envs.pathfinding.collisions import COLLISION_SYSTEMS, RESOLVERS, CellTable
from envs.pathfinding.congestion import CongestionPlanner
from envs.pathfinding.planning import (
    MOVES,
    PLACEMENTS,
    ComponentTables,
    GoalDistances,
    component_labels,
    greedy_actions,
)
from envs.pathfinding.sources import MapSource
from marl import BatchedEnv, GroupSpec, agent_names
from marl.core.recycling import RecycledTensors
from marl.core.validation import check_bool, check_choice, check_number, check_positive_int, validated

MODES = ("finish", "classic", "lifelong")
OBSERVATIONS = ("pogema", "follower")
GROUP = "agent"


@dataclass
class PathfindingConfig:
    """Config keys of every pathfinding task (the tasks add where their maps come from)."""

    n_agents: int = 32
    obs_radius: int = 5  # an agent sees the (2R+1) x (2R+1) window around it
    mode: str = "lifelong"  # finish, classic or lifelong (POGEMA's on_target: finish, nothing, restart)
    collision: str = "soft"  # priority, block_both or soft (POGEMA's collision systems)
    placement: str = "pogema"  # starts and goals: pogema (POGEMA's placing) or uniform_pairs
    max_steps: int = 256
    path_channel: bool = False  # add an observation channel with the agent's planned shortest path
    # pogema: obstacles, agents, goal (+ path) windows and the goal direction; follower: Learn to Follow's two
    # windows (obstacles -1 / congestion-aware planned path +1; agents), replanned every step
    observation: str = "pogema"
    # reward per goal reached (classic: to all when all stand on theirs); Learn to Follow trains with 0
    goal_reward: float = 1.0
    # reward for entering the next cell of the planned path (observation=follower); Learn to Follow: 0.01
    path_reward: float = 0.0
    action_mask: bool = False  # publish masks of the moves that leave the map or hit an obstacle
    render_paths: bool = False  # draw every agent's planned path
    render_windows: bool = False  # draw every agent's observation window

    def validate(self) -> None:
        check_positive_int("n_agents", self.n_agents)
        check_positive_int("obs_radius", self.obs_radius)
        check_choice("mode", self.mode, MODES)
        check_choice("collision", self.collision, COLLISION_SYSTEMS)
        check_choice("placement", self.placement, PLACEMENTS)
        check_choice("observation", self.observation, OBSERVATIONS)
        check_number("goal_reward", self.goal_reward)
        check_number("path_reward", self.path_reward)
        if self.observation == "follower" and self.path_channel:
            raise ValueError(
                "path_channel adds a shortest-path channel to the pogema observation; observation=follower "
                "already draws the congestion-aware planned path, so leave path_channel false"
            )
        if self.path_reward != 0.0 and self.observation != "follower":
            raise ValueError(
                f"path_reward={self.path_reward} rewards following the congestion-aware planned path, which only "
                "observation=follower plans; set observation=follower or path_reward=0"
            )
        check_positive_int("max_steps", self.max_steps)
        for key in ("path_channel", "action_mask", "render_paths", "render_windows"):
            check_bool(key, getattr(self, key))


class PathfindingEnv(BatchedEnv):
    """Decentralised, partially observed MAPF on `num_envs` grid copies (one-shot, classic or lifelong)."""

    def __init__(
        self,
        maps: MapSource,
        config: PathfindingConfig | None = None,
        num_envs: int = 1,
        device: str = "cpu",
        seed: int | None = None,
    ) -> None:
        self.config = config = validated(config, PathfindingConfig)
        n_agents, obs_radius, path_channel = config.n_agents, config.obs_radius, config.path_channel
        self.maps = maps
        self.n_agents, self.radius, self.mode, self.collision = (
            n_agents,
            obs_radius,
            config.mode,
            config.collision,
        )
        self.path_channel, self.use_action_mask = path_channel, config.action_mask
        self.render_paths, self.render_windows = config.render_paths, config.render_windows
        self.height, self.width = maps.shape
        self.window = 2 * obs_radius + 1
        self.follower = config.observation == "follower"
        if self.follower:
            self.channels: tuple[str, ...] = ("obstacles_path", "agents")
        else:
            self.channels = ("obstacles", "agents", "goal") + (("path",) if path_channel else ())
        self.direction_size = 0 if self.follower else 2  # the goal direction after the windows
        obs_size = len(self.channels) * self.window**2 + self.direction_size
        H, W, n = self.height, self.width, n_agents
        groups = {
            GROUP: GroupSpec(
                agent_names("agent", n),
                gym.spaces.Box(-1.0, 1.0, (obs_size,), np.float32),
                gym.spaces.Discrete(len(MOVES)),
            )
        }
        state_space = gym.spaces.Box(0.0, 1.0, (H * W + 5 * n,), np.float32)
        super().__init__(
            groups=groups,
            num_envs=num_envs,
            device=device,
            seed=seed,
            max_steps=config.max_steps,
            state_space=state_space,
        )
        B, dev, R = num_envs, self.device, obs_radius
        self.padded_width = W + 2 * R
        self.free = torch.zeros(B, H, W, dtype=torch.bool, device=dev)
        self._obstacle_state = torch.ones(B, H * W, device=dev)
        self.map_size = torch.zeros(B, 2, dtype=torch.long, device=dev)  # each copy's own map (rows, cols)
        self.map_id = torch.zeros(B, dtype=torch.long, device=dev)
        self.map_version = torch.zeros(B, dtype=torch.long, device=dev)  # bumped when a copy gets a map
        padded_cells = (H + 2 * R) * self.padded_width
        # the obstacle and agent planes, padded by R (outside = obstacle), that windows are gathered from
        self._planes = torch.zeros(B, 2, padded_cells, device=dev)
        self.padded_obstacles = self._planes[:, 0]
        self._agents_drawn_at = torch.zeros(B, n, dtype=torch.long, device=dev)  # cells set in plane 1
        # every (2R+1)^2 window of both planes as an overlapping view: row p is the window whose top-left
        # cell is flat position p of the buffer, so one index_select per agent gathers its two channels
        K, Wp = self.window, self.padded_width
        self._windows = self._planes.as_strided(
            (B * 2 * padded_cells - padded_cells - (K - 1) * (Wp + 1), 2, K, K), (1, padded_cells, Wp, 1)
        )
        self._plane_base = torch.arange(B, device=dev)[:, None] * 2 * padded_cells
        self.pos = torch.zeros(B, n, dtype=torch.long, device=dev)
        self.goal = torch.zeros_like(self.pos)
        self.arrival = torch.full_like(self.pos, -1)  # step of (last) arrival at the goal, -1 if none
        self.goals_reached = torch.zeros(B, dtype=torch.long, device=dev)
        self.components = ComponentTables.empty(B, H * W, dev)
        self._planner: GoalDistances | None = None  # built on first use: B x n x H*W distances are large
        # observation=follower: Learn to Follow's planner, built at the first observation
        self.congestion: CongestionPlanner | None = None
        # observation=follower: each agent's next cell on its planned path (-1: none), for path_reward
        self.next_path_cell = torch.full((B, n), -1, dtype=torch.long, device=dev)
        # the change of an agent's flat cell index under each action
        self.move_delta = torch.tensor([dr * W + dc for dr, dc in MOVES], device=dev)
        self._padded_move_delta = torch.tensor([dr * self.padded_width + dc for dr, dc in MOVES], device=dev)
        self._resolve = RESOLVERS[config.collision]
        self._cell_table = CellTable(B, H * W, dev)
        # per-cell lookup tables (cheaper than integer division on every step)
        cells = torch.arange(H * W, device=dev)
        self._row_col = torch.stack([cells // W, cells % W], dim=-1)
        self._padded_index = (cells // W + R) * self.padded_width + cells % W + R
        scale = torch.tensor([max(H - 1, 1), max(W - 1, 1)], device=dev)
        self._normalised_row_col = self._row_col / scale
        # observation and state are computed once per step (the base class asks for them twice), into memory
        # that is reused once the caller has let go of it (fresh large blocks are page-faulted in every step)
        self._obs_memory = RecycledTensors((B, n, obs_size), device=dev)
        self._state_memory = RecycledTensors((B, H * W + 5 * n), device=dev)
        self._obs_cache: dict[str, Tensor] | None = None
        self._state_cache: Tensor | None = None

    # ------------------------------------------------------------------ layout helpers
    def split_observation(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        """Split observations `[..., obs_size]` into the window `[..., C, 2R+1, 2R+1]` and the goal direction
        `[..., 2]` (`[..., 0]` under observation=follower, which has none); channel names are `self.channels`."""
        windows = len(self.channels) * self.window**2
        grid = obs[..., :windows].unflatten(-1, (len(self.channels), self.window, self.window))
        return grid, obs[..., windows:]

    def _padded(self, cells: Tensor) -> Tensor:
        """Flat index in the grid padded by R on every side of the same cell."""
        return self._padded_index[cells]

    def place_agents(
        self, index: int, positions: list[tuple[int, int]], goals: list[tuple[int, int]]
    ) -> None:
        """Put copy `index`'s agents on given (row, column) cells with given goals (hand-built scenarios and
        tests); every cell must be free, starts distinct, each goal in its start's connected component."""
        n = self.n_agents
        if len(positions) != n or len(goals) != n:
            raise ValueError(f"need {n} positions and {n} goals, got {len(positions)} and {len(goals)}")
        rows, cols = int(self.map_size[index, 0]), int(self.map_size[index, 1])
        for what, cells in (("position", positions), ("goal", goals)):
            for i, (r, c) in enumerate(cells):
                if not (0 <= r < rows and 0 <= c < cols) or not bool(self.free[index, r, c]):
                    raise ValueError(f"{what} {(r, c)} of agent_{i} is not a free cell of copy {index}")
        if len(set(map(tuple, positions))) != n:
            raise ValueError(f"agents must start on distinct cells, got {positions}")
        pos = torch.tensor([r * self.width + c for r, c in positions], device=self.device)
        goal = torch.tensor([r * self.width + c for r, c in goals], device=self.device)
        labels = component_labels(self.free[index : index + 1]).flatten()
        apart = (labels[pos] != labels[goal]).nonzero()
        if apart.numel():
            i = int(apart[0])
            raise ValueError(f"goal {goals[i]} of agent_{i} cannot be reached from {positions[i]}")
        self.pos[index], self.goal[index] = pos, goal
        self.arrival[index] = -1
        self._obs_cache = self._state_cache = None

    # ------------------------------------------------------------------ contract
    def _reset(self, mask: Tensor) -> None:
        rows = mask.nonzero().squeeze(1)
        if rows.numel() == 0:
            return
        self._obs_cache = self._state_cache = None
        obstacles, size, ids = self.maps.sample(rows.numel(), self.generator, self.device)
        free = ~obstacles
        labels = component_labels(free).flatten(1)
        tables = ComponentTables.shuffled(labels, self.generator)
        starts, goals = tables.sample_pairs(self.n_agents, self.config.placement, self.generator)
        self.components.write(rows, tables)
        R = self.radius
        self.free[rows] = free
        self._obstacle_state[rows] = obstacles.flatten(1).float()
        self.map_size[rows] = size
        self.map_id[rows] = ids
        self.map_version[rows] += 1
        padded = torch.nn.functional.pad(obstacles.float(), (R, R, R, R), value=1.0)
        self.padded_obstacles[rows] = padded.flatten(1)
        self.pos[rows] = starts
        self.goal[rows] = goals
        self.arrival[rows] = -1
        self.goals_reached[rows] = 0

    def _step(self, actions: dict[str, Tensor]) -> dict[str, tuple[Tensor, Tensor]]:
        self._obs_cache = self._state_cache = None
        action = actions[GROUP]
        present = self.alive[GROUP]
        wall = self.padded_obstacles.gather(1, self._padded(self.pos) + self._padded_move_delta[action]) > 0
        target = torch.where(present & ~wall, self.pos + self.move_delta[action], self.pos)
        self.pos = self._resolve(self.pos, target, present, self._cell_table)
        on_goal = (self.pos == self.goal) & present
        step_number = self.elapsed[:, None] + 1
        if self.mode == "classic":
            arrived = on_goal & (self.arrival < 0)
            self.arrival = torch.where(on_goal, torch.where(arrived, step_number, self.arrival), -1)
            solved = on_goal.all(dim=1, keepdim=True).expand_as(on_goal)
            reward, terminated = solved.float() * self.config.goal_reward, solved
        else:
            arrived = on_goal
            first = arrived & (self.arrival < 0)
            self.arrival = torch.where(first, step_number, self.arrival)
            reward = arrived.float() * self.config.goal_reward
            terminated = arrived if self.mode == "finish" else torch.zeros_like(arrived)
        self.goals_reached += arrived.sum(dim=1)
        if self.config.path_reward:
            reward = reward + self.config.path_reward * (present & (self.pos == self.next_path_cell)).float()
        if self.mode == "lifelong" and bool(arrived.any()):
            rows, agents = arrived.nonzero(as_tuple=True)
            self.goal[rows, agents] = self.components.sample_other_cell(
                rows, self.goal[rows, agents], self.generator
            )
        return {GROUP: (reward, terminated)}

    def _observe(self) -> dict[str, Tensor]:
        if self._obs_cache is None:
            self._obs_cache = {GROUP: self._observation()}
        return self._obs_cache

    def _observation(self) -> Tensor:
        B, n, R, K = self.num_envs, self.n_agents, self.radius, self.window
        KK = K * K
        padded_pos = self._padded(self.pos)
        # the agent plane: clear the cells drawn last time, then count the present agents on each cell (an
        # agent that finished keeps its last cell, which another agent may now stand on)
        agents_plane = self._planes[:, 1]
        agents_plane.scatter_(1, self._agents_drawn_at, 0.0)
        agents_plane.scatter_add_(1, padded_pos, self.alive[GROUP].float())
        self._agents_drawn_at = padded_pos
        # every channel is written in place into the output (large temporaries cost page faults)
        out = self._obs_memory.new()
        rows = out.view(B * n, -1)
        corner = padded_pos - R * self.padded_width - R + self._plane_base  # window's top-left in _planes
        torch.index_select(self._windows, 0, corner.flatten(), out=rows[:, : 2 * KK].view(B * n, 2, K, K))
        if self.follower:
            out[..., :KK] *= -1.0
            self._draw_follower_path(out[..., :KK])
            return out
        offset = self._row_col[self.goal] - self._row_col[self.pos]
        seen = offset.clamp(-R, R) + R
        goal_plane = out[..., 2 * KK : 3 * KK]
        goal_plane.zero_()
        goal_plane.scatter_(2, (seen[..., 0] * K + seen[..., 1])[..., None], 1.0)
        if self.path_channel:
            out[..., 3 * KK : 4 * KK] = self._path_window()
        direction = offset.float()
        out[..., -2:] = direction / direction.square().sum(dim=-1, keepdim=True).sqrt_().clamp_min_(1.0)
        return out

    @property
    def planner(self) -> GoalDistances:
        """The cache of distance maps, allocated the first time a path channel, renderer or baseline asks."""
        if self._planner is None:
            self._planner = GoalDistances(self.num_envs, self.n_agents, self.height, self.width, self.device)
        return self._planner

    def goal_distances(self) -> Tensor:
        """BFS distance maps to every agent's current goal `int32 [B, n, H*W]` (cached, see GoalDistances)."""
        return self.planner.update(self.free, self.goal, self.map_version)

    def planned_paths(self, length: int) -> Tensor:
        """The next `length` cells `[B, n, length]` of each agent's shortest path (descending its goal's
        distance map; it stays on the goal once there)."""
        dist = self.goal_distances()
        cells, path = self.pos, []
        for _ in range(length):
            step = greedy_actions(dist, cells, self.height, self.width)
            cells = cells + self.move_delta[step]
            path.append(cells)
        return torch.stack(path, dim=-1)

    def _path_window(self) -> Tensor:
        """Learn to Follow's path channel: 1 on the window cells that the first 2R steps of the planned
        shortest path visit (a path that leaves the window and comes back is not drawn beyond 2R steps)."""
        B, n, R, K = self.num_envs, self.n_agents, self.radius, self.window
        path = self.planned_paths(2 * R)
        dr = path // self.width - (self.pos // self.width)[..., None] + R
        dc = path % self.width - (self.pos % self.width)[..., None] + R
        inside = (dr >= 0) & (dr < K) & (dc >= 0) & (dc < K)
        channel = torch.zeros(B, n, K * K + 1, device=self.device)
        channel.scatter_(2, torch.where(inside, dr * K + dc, K * K), 1.0)
        return channel[..., : K * K]

    def _draw_follower_path(self, channel: Tensor) -> None:
        """Learn to Follow's planned path into the obstacle window `channel [B, n, (2R+1)^2]` (obstacles -1):
        +1 on the agent's own cell and its congestion-aware path's cells up to the first one outside the window;
        the path's next cell is kept for `path_reward`. The planner counts the agents each agent sees and
        replans every path from its current cell at every step, as Learn to Follow does; agents on their goal
        (or gone) have no path."""
        if self.congestion is None:
            self.congestion = CongestionPlanner(self.free, self.n_agents, self.radius, self.map_version)
        self.congestion.sync(self.free, self.map_version)
        present = self.alive[GROUP]
        self.congestion.observe(self.pos, self.goal, present)
        moving = present & (self.pos != self.goal)
        R, K = self.radius, self.window
        path = self.congestion.paths(self.pos, self.goal, K * K - 1, radius=R)
        cells = torch.cat([self.pos[..., None], path], dim=-1)
        dr = cells // self.width - (self.pos // self.width)[..., None] + R
        dc = cells % self.width - (self.pos % self.width)[..., None] + R
        inside = (dr >= 0) & (dr < K) & (dc >= 0) & (dc < K)
        drawn = inside.cumprod(dim=-1).bool() & moving[..., None]
        spare = torch.zeros_like(channel[..., :1])
        channel_and_spare = torch.cat([channel, spare], dim=-1)
        channel_and_spare.scatter_(2, torch.where(drawn, dr * K + dc, K * K), 1.0)
        channel.copy_(channel_and_spare[..., : K * K])
        self.next_path_cell = torch.where(moving, path[..., 0], -1)

    def _state(self) -> Tensor:
        if self._state_cache is None:
            B = self.num_envs
            self._state_cache = torch.cat(
                [
                    self._obstacle_state,
                    self._normalised_row_col[self.pos].view(B, -1),
                    self._normalised_row_col[self.goal].view(B, -1),
                    self.alive[GROUP].float(),
                ],
                dim=1,
                out=self._state_memory.new(),
            )
        return self._state_cache

    def _action_mask(self) -> dict[str, Tensor] | None:
        if not self.use_action_mask:
            return None
        neighbours = self._padded(self.pos)[..., None] + self._padded_move_delta
        blocked = self.padded_obstacles.gather(1, neighbours.flatten(1)).view(neighbours.shape) > 0
        blocked[..., 0] = False
        return {GROUP: ~blocked}

    def _episode_stats(self) -> dict[str, Tensor]:
        """ISR: share of agents that reached their goal (classic: that stand on it at the end); CSR: all did;
        sum of costs / makespan: sum / max over agents of the step of their (final) arrival, the episode
        length for agents that did not arrive; throughput: goals reached per step."""
        length = self.elapsed[:, None].expand_as(self.arrival)
        succeeded = self.arrival >= 0
        cost = torch.where(succeeded, self.arrival, length).float()
        return {
            "isr": succeeded.float().mean(dim=1),
            "csr": succeeded.all(dim=1).float(),
            "sum_of_costs": cost.sum(dim=1),
            "makespan": cost.max(dim=1).values,
            "throughput": self.goals_reached.float() / self.elapsed.clamp_min(1).float(),
        }

    def _render(self, index: int) -> np.ndarray:
        from envs.pathfinding.render import render_copy

        return render_copy(self, index)
