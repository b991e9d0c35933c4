"""Physical swarm tasks in a walled square arena: aggregation, formation, navigation among obstacles.

Agents are discs of the particle-world physics core (`envs.particles.ParticleWorld`: mpe2's contact forces,
damping and speed limit), pushed by their actions; obstacles are immovable colliding discs. The arena has
hard, elastic walls: after each physics step a disc that crossed a wall is mirrored back inside and the
velocity component across that wall flips sign. (Mirroring rather than clamping keeps distinct discs
distinct: two discs clamped into the same corner would coincide, and the contact force between coinciding
discs has no direction.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from envs.particles.physics import MOVE_DIRECTIONS, ParticleWorld
from envs.swarm.base import GROUP, ObservationBlock, SwarmConfig, SwarmEnv
from envs.swarm.render import AGENT_COLOUR, MARK_COLOUR, OBSTACLE_COLOUR, Canvas, hue_colours
from marl.core.neighbours import Neighbours, nearest
from marl.core.validation import check_choice, check_int, check_number, validated


def spawn_cells(
    num_envs: int, counts: int, world_size: float, cell: float, margin: float, generator, device
) -> Tensor:
    """`counts` points per copy in distinct cells of a `cell`-sized grid over the arena, jittered inside
    their cell by up to `(cell/2 - margin)`: things placed this way never overlap when each has a radius
    below `margin`. Returns `[B, counts, 2]`."""
    per_side = int(world_size // cell)
    if per_side * per_side < counts:
        raise ValueError(
            f"the arena (world_size={world_size}) has {per_side * per_side} free cells of size {cell:.3g} "
            f"but {counts} things need one each; raise world_size or leave it None (sized automatically)"
        )
    scores = torch.rand(num_envs, per_side * per_side, generator=generator, device=device)
    chosen = scores.argsort(dim=1)[:, :counts]
    centre = torch.stack([chosen % per_side, chosen // per_side], dim=-1).float() + 0.5
    offset = (world_size - per_side * cell) / 2 - world_size / 2
    jitter = (torch.rand(num_envs, counts, 2, generator=generator, device=device) * 2 - 1) * (
        cell / 2 - margin
    )
    return centre * cell + offset + jitter


@dataclass
class ArenaConfig(SwarmConfig):
    """Keys of the arena tasks: the arena's side and the agents' discs and dynamics (mpe2's physics)."""

    world_size: float | None = None  # side of the square arena; None: sized to the things placed in it
    agent_size: float = 0.05  # disc radius
    max_speed: float = 1.0
    accel: float = 5.0  # force per unit of action
    damping: float = 0.25
    dt: float = 0.1

    def validate(self) -> None:
        super().validate()
        check_number("world_size", self.world_size, low=0.0, low_open=True, allow_none=True)
        check_number("agent_size", self.agent_size, low=0.0, low_open=True)
        check_number("max_speed", self.max_speed, low=0.0, low_open=True)
        check_number("accel", self.accel, low=0.0)
        check_number("damping", self.damping, low=0.0, high=1.0)
        check_number("dt", self.dt, low=0.0, low_open=True)


class _ArenaSwarm(SwarmEnv):
    """Shared parts of the physical tasks: the physics world, actions -> forces, walls, spawning, the
    own (velocity, position) features and the neighbour features (offset, relative velocity)."""

    def __init__(
        self,
        config: ArenaConfig,
        *,
        n_obstacles: int,
        n_goals: int,
        obstacle_size: float,
        min_world_size: float,
        own_features: int,
        blocks: list[ObservationBlock],
        state_features: int,
        num_envs: int,
        device: str | torch.device,
        seed: int | None,
        extra_state: int = 0,
    ) -> None:
        n_agents = config.n_agents
        self.agent_size, self.obstacle_size = config.agent_size, obstacle_size
        self.max_speed, self.accel = config.max_speed, config.accel
        self.n_obstacles = n_obstacles
        # spawn grid: cells twice the largest diameter, and twice as many cells as things to place
        self.cell = 4 * max(self.agent_size, self.obstacle_size if n_obstacles else 0.0)
        self.spawn_count = n_agents + n_goals + n_obstacles
        world_size = config.world_size
        if world_size is None:
            world_size = max(self.cell * math.ceil(math.sqrt(2 * self.spawn_count)), min_world_size)
        if world_size < min_world_size:
            raise ValueError(
                f"world_size={world_size} is too small for this task: need >= {min_world_size:.3g}"
            )
        self.continuous_actions = config.continuous_actions
        action_space = (
            gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
            if self.continuous_actions
            else gym.spaces.Discrete(len(MOVE_DIRECTIONS))
        )
        super().__init__(
            config,
            world_size=world_size,
            torus=False,
            own_features=own_features,
            blocks=blocks,
            action_space=action_space,
            state_size=n_agents * state_features + extra_state,
            num_envs=num_envs,
            device=device,
            seed=seed,
        )
        radius = self.neighbour_radius
        self.sensing_scale = self.world_size if radius is None else min(radius, self.world_size)
        N, M = self.n_agents, n_obstacles
        self.world = ParticleWorld(
            self.num_envs,
            [self.agent_size] * N + [self.obstacle_size] * M,
            movable=[True] * N + [False] * M,
            collide=[True] * (N + M),
            max_speed=[self.max_speed] * N + [math.inf] * M,
            damping=config.damping,
            dt=config.dt,
            # the neighbour-search key also picks how contacts are found: every pair, or cell lists
            contact_search={"brute": "pairs"}.get(config.neighbour_search, config.neighbour_search),
            device=self.device,
        )
        self.move_directions = torch.tensor(MOVE_DIRECTIONS, device=self.device)
        self._no_obstacle_force = torch.zeros(self.num_envs, M, 2, device=self.device)

    # ------------------------------------------------------------------ state views
    def positions(self) -> Tensor:
        return self.world.pos[:, : self.n_agents]

    @property
    def vel(self) -> Tensor:
        return self.world.vel[:, : self.n_agents]

    @property
    def obstacle_pos(self) -> Tensor:
        return self.world.pos[:, self.n_agents :]

    # ------------------------------------------------------------------ reset and physics
    def _spawn(self, mask: Tensor) -> Tensor:
        """Place agents and obstacles of the copies in `mask` without overlaps; zero their velocities.
        Returns the remaining spawn points `[B, n_goals, 2]` (goal positions, also free of overlaps)."""
        margin = max(self.agent_size, self.obstacle_size if self.n_obstacles else 0.0)
        points = spawn_cells(
            self.num_envs, self.spawn_count, self.world_size, self.cell, margin, self.generator, self.device
        )
        N, M = self.n_agents, self.n_obstacles
        pos = torch.cat([points[:, :N], points[:, N : N + M]], dim=1)
        self.world.pos = self.where(mask, pos, self.world.pos)
        self.world.vel = self.where(mask, torch.zeros_like(self.world.vel), self.world.vel)
        self._state_changed()
        return points[:, N + M :]

    def _move(self, actions: dict[str, Tensor]) -> None:
        """Actions -> forces (`accel` times a vector in [-1, 1]^2, or one of mpe2's five moves), one
        physics step, then the walls."""
        a = actions[GROUP]
        direction = a if self.continuous_actions else self.move_directions[a]
        force = torch.cat([direction * self.accel, self._no_obstacle_force], dim=1)
        self.world.step(force)
        limit = self.world_size / 2 - self.agent_size
        pos, vel = self.world.pos[:, : self.n_agents], self.world.vel[:, : self.n_agents]
        outside = pos.abs() > limit
        mirrored = torch.where(outside, 2 * limit * pos.sign() - pos, pos)
        # a step longer than the arena is wide could still land outside after one mirror: stop it there
        self.world.pos[:, : self.n_agents] = mirrored.clamp(-limit, limit)
        self.world.vel[:, : self.n_agents] = torch.where(outside, -vel, vel)
        self._state_changed()

    def _agent_collisions(self) -> Tensor:
        """Per agent, how many other agents and obstacles it overlaps now: `[B, N]`."""
        return self.world.touching_counts()[:, : self.n_agents]

    # ------------------------------------------------------------------ observations
    def _motion_features(self) -> Tensor:
        """Own velocity / max_speed and position / (world_size / 2): `[B, N, 4]`."""
        return torch.cat([self.vel / self.max_speed, self.positions() / (self.world_size / 2)], dim=-1)

    def _neighbour_block(self) -> tuple[Tensor, Tensor]:
        nb = self.neighbours()
        relative_vel = (nb.gather(self.vel) - self.vel[:, :, None]) / (2 * self.max_speed)
        features = torch.cat([nb.offset / self.sensing_scale, relative_vel * nb.mask[..., None]], dim=-1)
        return features, nb.mask

    def _state(self) -> Tensor:
        return self._own_features().reshape(self.num_envs, -1).clamp_(-1.0, 1.0)

    # ------------------------------------------------------------------ rendering
    def _discs(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Obstacles, then agents (tasks with goals put them first)."""
        positions = self.world.pos[index].cpu().numpy()
        sizes = self.world.size.cpu().numpy()
        colours = np.array([AGENT_COLOUR] * self.n_agents + [OBSTACLE_COLOUR] * self.n_obstacles)
        order = np.r_[np.arange(self.n_agents, len(sizes)), np.arange(self.n_agents)]
        return positions[order], sizes[order], colours[order]


class Aggregation(_ArenaSwarm):
    """Aggregation: gather into one tight cluster. Shared reward: minus the mean distance of the agents to
    the swarm's centroid (world units). Discs cannot overlap, so the best cluster is a packed disc.

    Observation: own velocity / max_speed, position / (world_size / 2); per neighbour its offset / sensing
    scale and velocity relative to one's own / (2 max_speed).
    """

    config_class = ArenaConfig

    def __init__(
        self,
        config: ArenaConfig | None = None,
        num_envs: int = 1,
        device: str = "cpu",
        seed: int | None = None,
    ) -> None:
        config = validated(config, self.config_class)
        super().__init__(
            config,
            n_obstacles=0,
            n_goals=0,
            obstacle_size=config.agent_size,
            min_world_size=0.0,
            own_features=4,
            blocks=[ObservationBlock("neighbours", config.k_neighbours, 4)],
            state_features=4,
            num_envs=num_envs,
            device=device,
            seed=seed,
        )

    def distance_to_centroid(self) -> Tensor:
        """Mean distance of the agents to their centroid, `[B]`."""
        pos = self.positions()
        return (pos - pos.mean(dim=1, keepdim=True)).norm(dim=-1).mean(dim=1)

    def _reset(self, mask: Tensor) -> None:
        if self._nothing_to_reset(mask):
            return
        self._spawn(mask)
        self._forget_metric(mask)

    def _step(self, actions: dict[str, Tensor]) -> dict[str, tuple[Tensor, Tensor]]:
        self._move(actions)
        distance = self.distance_to_centroid()
        self._record_metric(distance)
        reward = -distance[:, None].expand(-1, self.n_agents)
        return {GROUP: (reward, torch.zeros_like(reward, dtype=torch.bool))}

    def _own_features(self) -> Tensor:
        return self._motion_features()

    def _blocks_features(self) -> list[tuple[Tensor, Tensor]]:
        return [self._neighbour_block()]

    def _episode_stats(self) -> dict[str, Tensor]:
        return self._metric_stats("distance_to_centroid")

    def _draw_marks(self, canvas: Canvas, index: int) -> None:
        centroid = self.positions()[index].mean(dim=0).cpu().numpy()
        canvas.crosses(centroid[None], 2 * self.agent_size, MARK_COLOUR, width=2)


FORMATION_SHAPES = ("ring", "grid")


def formation_slots(shape: str, n: int, spacing: float) -> tuple[Tensor, float]:
    """The target slots of a formation around the origin, `[n, 2]`, and its radius (farthest slot).

    `ring`: n slots evenly on a circle whose neighbouring slots are `spacing` apart;
    `grid`: a square grid (ceil(sqrt(n)) columns, filled row by row) with `spacing` between slots, centred.
    """
    if shape == "ring":
        radius = spacing / (2 * math.sin(math.pi / n))
        angle = torch.arange(n) * (2 * math.pi / n)
        slots = radius * torch.stack([angle.cos(), angle.sin()], dim=-1)
    else:
        columns = math.ceil(math.sqrt(n))
        rows = math.ceil(n / columns)
        i = torch.arange(n)
        slots = (
            torch.stack([i % columns - (columns - 1) / 2, i // columns - (rows - 1) / 2], dim=-1) * spacing
        )
        slots = slots.float()
    return slots, float(slots.norm(dim=-1).max())


@dataclass
class FormationConfig(ArenaConfig):
    """Formation's keys: the target shape, its spacing and how many slots an agent observes."""

    n_agents: int = 16
    k_slots: int = 4  # the nearest target slots each agent observes
    shape: str = "ring"  # ring or grid
    spacing: float = 0.2  # between neighbouring slots

    def validate(self) -> None:
        super().validate()
        check_choice("shape", self.shape, FORMATION_SHAPES)
        check_number("spacing", self.spacing, low=2 * self.agent_size, low_open=True)
        check_int("k_slots", self.k_slots, low=1, high=self.n_agents)


class Formation(_ArenaSwarm):
    """Formation: take up a target shape (a ring or a grid of `n_agents` slots) around a goal point drawn
    per episode. No agent is assigned to a slot; the shared reward is minus the formation error, the mean
    over slots of the distance from the slot to its nearest agent (0 exactly when every slot is occupied).

    Observation: own velocity / max_speed, position / (world_size / 2), offset to the formation centre /
    world_size; per neighbour as in aggregation; the `k_slots` nearest target slots' offsets / world_size.
    """

    config_class = FormationConfig

    def __init__(
        self,
        config: FormationConfig | None = None,
        num_envs: int = 1,
        device: str = "cpu",
        seed: int | None = None,
    ) -> None:
        config = validated(config, self.config_class)
        self.shape, self.spacing, self.k_slots = config.shape, config.spacing, config.k_slots
        slots, self.formation_radius = formation_slots(self.shape, config.n_agents, self.spacing)
        # the whole formation fits inside the arena, with a margin of one spacing
        self._centre_room = self.formation_radius + self.spacing
        super().__init__(
            config,
            n_obstacles=0,
            n_goals=0,
            obstacle_size=config.agent_size,
            min_world_size=2 * self._centre_room + 2 * config.agent_size,
            own_features=6,
            blocks=[
                ObservationBlock("neighbours", config.k_neighbours, 4),
                ObservationBlock("slots", self.k_slots, 2),
            ],
            state_features=6,
            num_envs=num_envs,
            device=device,
            seed=seed,
        )
        self.slot_offsets = slots.to(self.device)
        self.centre = torch.zeros(self.num_envs, 2, device=self.device)

    def slots(self) -> Tensor:
        """Target slot positions of every copy, `[B, n_agents, 2]`."""
        return self.centre[:, None, :] + self.slot_offsets

    def formation_error(self) -> Tensor:
        """Mean over slots of the distance from the slot to its nearest agent, `[B]`."""
        slots, pos = self.slots(), self.positions()
        dx = pos[:, None, :, 0] - slots[:, :, None, 0]
        dy = pos[:, None, :, 1] - slots[:, :, None, 1]
        nearest_squared = dx.square_().add_(dy.square_()).min(dim=-1).values
        return nearest_squared.sqrt().mean(dim=-1)

    def _reset(self, mask: Tensor) -> None:
        if self._nothing_to_reset(mask):
            return
        self._spawn(mask)
        room = self.world_size / 2 - self._centre_room
        u = torch.rand(self.num_envs, 2, generator=self.generator, device=self.device) * 2 - 1
        self.centre = self.where(mask, u * room, self.centre)
        self._forget_metric(mask)

    def _step(self, actions: dict[str, Tensor]) -> dict[str, tuple[Tensor, Tensor]]:
        self._move(actions)
        error = self.formation_error()
        self._record_metric(error)
        reward = -error[:, None].expand(-1, self.n_agents)
        return {GROUP: (reward, torch.zeros_like(reward, dtype=torch.bool))}

    def _own_features(self) -> Tensor:
        to_centre = (self.centre[:, None, :] - self.positions()) / self.world_size
        return torch.cat([self._motion_features(), to_centre], dim=-1)

    def _blocks_features(self) -> list[tuple[Tensor, Tensor]]:
        slots = nearest(self.positions(), self.slots(), self.k_slots)
        return [self._neighbour_block(), (slots.offset / self.world_size, slots.mask)]

    def _episode_stats(self) -> dict[str, Tensor]:
        return self._metric_stats("formation_error")

    def _draw_marks(self, canvas: Canvas, index: int) -> None:
        canvas.crosses(self.slots()[index].cpu().numpy(), self.agent_size, MARK_COLOUR)


@dataclass
class NavigationConfig(ArenaConfig):
    """Navigation's keys: obstacles, goals, and the reward's bonus and penalty."""

    n_agents: int = 8
    k_neighbours: int = 4
    n_obstacles: int = 8
    k_obstacles: int = 4  # the nearest obstacles each agent observes
    obstacle_size: float = 0.1  # disc radius
    goal_radius: float = 0.1  # an agent within this distance of its goal has reached it
    goal_bonus: float = 1.0
    collision_penalty: float = 0.1

    def validate(self) -> None:
        super().validate()
        check_int("n_obstacles", self.n_obstacles, low=0)
        check_int("k_obstacles", self.k_obstacles, low=0, high=self.n_obstacles)
        check_number("obstacle_size", self.obstacle_size, low=0.0, low_open=True)
        check_number("goal_radius", self.goal_radius, low=0.0, low_open=True)
        check_number("goal_bonus", self.goal_bonus)
        check_number("collision_penalty", self.collision_penalty)


class Navigation(_ArenaSwarm):
    """Navigation: every agent drives to its own goal among static circular obstacles and the other agents.

    Reward per agent: progress towards its goal (distance before minus after the step), minus
    `collision_penalty` per agent or obstacle it overlaps after the step, plus `goal_bonus` the first time
    it comes within `goal_radius` of its goal. The copy's episode terminates (success) when all agents are
    within `goal_radius` of their goals at once; otherwise it is truncated after `max_steps`.

    Observation: own velocity / max_speed, position / (world_size / 2), goal offset / world_size; per
    neighbour as in aggregation; per nearest obstacle its centre offset / world_size and surface gap
    (centre distance minus both radii) / world_size.
    Episode statistics: `success` (all at their goals), `reached` (fraction of agents that reached their
    goal at least once), `collisions` (overlaps per agent per episode, summed over steps), `time_to_goal`
    (steps to first arrival, averaged over agents; an agent that never arrives counts `max_steps`).
    """

    config_class = NavigationConfig

    def __init__(
        self,
        config: NavigationConfig | None = None,
        num_envs: int = 1,
        device: str = "cpu",
        seed: int | None = None,
    ) -> None:
        config = validated(config, self.config_class)
        self.k_obstacles, self.goal_radius = config.k_obstacles, config.goal_radius
        self.goal_bonus, self.collision_penalty = config.goal_bonus, config.collision_penalty
        blocks = [ObservationBlock("neighbours", config.k_neighbours, 4)]
        if self.k_obstacles:
            blocks.append(ObservationBlock("obstacles", self.k_obstacles, 3))
        super().__init__(
            config,
            n_obstacles=config.n_obstacles,
            n_goals=config.n_agents,
            obstacle_size=config.obstacle_size,
            min_world_size=0.0,
            own_features=6,
            blocks=blocks,
            state_features=6,
            extra_state=2 * config.n_obstacles,
            num_envs=num_envs,
            device=device,
            seed=seed,
        )
        B, N = self.num_envs, self.n_agents
        self.goal = torch.zeros(B, N, 2, device=self.device)
        self.reached = torch.zeros(B, N, dtype=torch.bool, device=self.device)
        self.arrival_step = torch.zeros(B, N, device=self.device)
        self.collision_count = torch.zeros(B, N, device=self.device)
        self.succeeded = torch.zeros(B, dtype=torch.bool, device=self.device)

    def goal_distance(self) -> Tensor:
        return (self.goal - self.positions()).norm(dim=-1)

    def _reset(self, mask: Tensor) -> None:
        if self._nothing_to_reset(mask):
            return
        goals = self._spawn(mask)
        self.goal = self.where(mask, goals, self.goal)
        self.reached = self.where(mask, torch.zeros_like(self.reached), self.reached)
        self.arrival_step = self.where(mask, torch.zeros_like(self.arrival_step), self.arrival_step)
        self.collision_count = self.where(mask, torch.zeros_like(self.collision_count), self.collision_count)
        self.succeeded = self.succeeded & ~mask

    def _step(self, actions: dict[str, Tensor]) -> dict[str, tuple[Tensor, Tensor]]:
        before = self.goal_distance()
        self._move(actions)
        after = self.goal_distance()
        collisions = self._agent_collisions().float()
        at_goal = after < self.goal_radius
        first_arrival = at_goal & ~self.reached
        self.arrival_step = torch.where(first_arrival, (self.elapsed + 1).float()[:, None], self.arrival_step)
        self.reached |= at_goal
        self.collision_count += collisions
        self.succeeded = at_goal.all(dim=1)
        reward = (before - after) - self.collision_penalty * collisions + self.goal_bonus * first_arrival
        return {GROUP: (reward, self.succeeded[:, None].expand(-1, self.n_agents))}

    def _own_features(self) -> Tensor:
        to_goal = (self.goal - self.positions()) / self.world_size
        return torch.cat([self._motion_features(), to_goal], dim=-1)

    def obstacle_neighbours(self) -> Neighbours:
        """Each agent's `k_obstacles` nearest obstacles (index into the obstacles), as the observation has
        them: for graph policies and safety filters that need agent-obstacle edges."""
        return nearest(self.positions(), self.obstacle_pos, self.k_obstacles)

    def _blocks_features(self) -> list[tuple[Tensor, Tensor]]:
        blocks = [self._neighbour_block()]
        if self.k_obstacles:
            ob = self.obstacle_neighbours()
            gap = (ob.distance - self.obstacle_size - self.agent_size) * ob.mask
            blocks.append((torch.cat([ob.offset, gap[..., None]], dim=-1) / self.world_size, ob.mask))
        return blocks

    def _state(self) -> Tensor:
        """Every agent's own features, then the obstacle positions / (world_size / 2)."""
        obstacles = self.obstacle_pos / (self.world_size / 2)
        state = torch.cat(
            [self._own_features().reshape(self.num_envs, -1), obstacles.reshape(self.num_envs, -1)], 1
        )
        return state.clamp_(-1.0, 1.0)

    def _episode_stats(self) -> dict[str, Tensor]:
        steps = float(self.max_steps)
        time_to_goal = torch.where(self.reached, self.arrival_step, steps).mean(dim=1)
        return {
            "success": self.succeeded.float(),
            "reached": self.reached.float().mean(dim=1),
            "collisions": self.collision_count.mean(dim=1),
            "time_to_goal": time_to_goal,
        }

    def _discs(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Goals (pale discs of radius goal_radius), obstacles, then agents; an agent and its goal share a hue."""
        positions, sizes, colours = super()._discs(index)
        hues = np.arange(self.n_agents) / self.n_agents
        colours[-self.n_agents :] = hue_colours(hues)
        goals = self.goal[index].cpu().numpy()
        return (
            np.concatenate([goals, positions]),
            np.concatenate([np.full(self.n_agents, self.goal_radius), sizes]),
            np.concatenate([hue_colours(hues, saturation=0.25, value=1.0), colours]),
        )
