"""Safe multi-robot navigation: disc robots drive to their goals past each other and static obstacles, with
an optional control-barrier-function (CBF) safety filter (marl.core.cbf) between the command and the robot.

Robots are kinematic: they pass through each other, and every overlap is counted as a collision. Dynamics
(key `dynamics`): `single` (the command is a velocity, `|u_x|, |u_y| <= max_speed`) or `double` (the command is
an acceleration, `|u_x|, |u_y| <= max_accel`, velocity kept inside `|v_x|, |v_y| <= max_speed`).

Barriers, per robot i, for each of its `k_neighbours` nearest robots j within `sensing_radius` and its
`k_obstacles` nearest obstacles o (`D = 2 radius + safety_margin` for robots, `radius + obstacle_radius +
safety_margin` for obstacles, `gain` the class-K gain, linear):

- single integrator: `h = |p_i - p_j|^2 - D^2`; robot i takes half of `dh/dt >= -gain h`:
  `-2 (p_i - p_j)^T u_i <= gain h / 2` (an obstacle: the whole, `<= gain h`). With `gain * dt <= 1` this keeps
  `h >= 0` in discrete time too, since `h(t + dt) = h + dt dh/dt + dt^2 |u_i - u_j|^2 >= (1 - gain dt) h`.
- double integrator (Wang, Ames, Egerstedt 2017): `h = sqrt(2 (a_i + a_j) (|dp| - D)) + dp^T dv / |dp|` with
  the braking accelerations `a_i = a_j = max_accel` (`a_j = 0` for an obstacle); robot i takes its share
  `a_i / (a_i + a_j)` of `dh/dt >= -gain h`, which is linear in its acceleration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from marl import BatchedEnv, GroupSpec, Neighbours, agent_names
from marl.core.cbf import FilterResult, safety_filter
from marl.core.neighbours import METHODS, nearest
from marl.core.validation import check_bool, check_choice, check_int, check_number, check_positive_int

GROUP = "robot"
SCENARIOS = ("circle", "swap", "crossing", "random")
DYNAMICS = ("single", "double")
CONTROLS = ("command", "gain")
FAR = 1e6  # where absent obstacles are parked (also left out of every search by `key_valid`)


@dataclass
class RobotsConfig:
    """Config keys of every robots scenario (the scenario itself is the task id)."""

    n_agents: int = 8
    dynamics: str = "single"  # single (velocity command) or double (acceleration command) integrator
    radius: float = 0.1
    max_speed: float = 0.5
    max_accel: float = 1.0  # double integrator only
    dt: float = 0.1
    spacing: float = 4.0  # distance between neighbouring starts, in radii
    jitter: float = 0.25  # starts and goals move by up to this many radii per axis, at random per episode
    n_obstacles: int = 0  # static discs placed between the starts and the goals
    obstacle_radius: float = 0.25
    k_neighbours: int = 6  # nearest robots each robot observes and keeps a barrier to
    k_obstacles: int = 4
    sensing_radius: float = 1.0
    neighbour_search: str = "auto"  # auto, brute or cells: all give the same neighbours
    control: str = "command"  # command: the action is the command; gain: the action is the CBF gain
    filter: bool = False  # control=command: filter the command with the fixed gain cbf_gain
    cbf_gain: float = 1.0
    gain_min: float = 0.1  # control=gain: action -1..1 maps log-uniformly onto gain_min..gain_max
    gain_max: float = 10.0
    safety_margin: float = 0.02  # added to the collision distance inside the barriers
    filter_iterations: int = 30
    nominal_gain: float = 1.0  # the built-in goal-seeking controller's proportional gain (control=gain)
    goal_tolerance: float = 0.05
    deadlock_window: int = 20  # steps below 5% of max_speed, away from the goal, that make a deadlock
    max_steps: int | None = None  # None: 3 times the longest start-goal distance at max_speed, in steps
    progress_reward: float = 1.0
    goal_bonus: float = 1.0
    collision_penalty: float = 1.0
    intervention_penalty: float = 0.1
    infeasible_penalty: float = 0.5
    team_reward: float = 0.0  # weight of the copy's mean reward in each robot's reward (0: own reward only)
    render_neighbours: bool = True
    render_size: int = 500

    def validate(self) -> None:
        check_int("n_agents", self.n_agents, low=2, high=4096)
        check_choice("dynamics", self.dynamics, DYNAMICS)
        for key in ("radius", "max_speed", "max_accel", "dt", "sensing_radius", "cbf_gain", "gain_min"):
            check_number(key, getattr(self, key), low=0.0, low_open=True)
        check_number("spacing", self.spacing, low=2.0, low_open=True)
        check_number("jitter", self.jitter, low=0.0, high=(self.spacing - 2) / 2, high_open=True)
        check_int("n_obstacles", self.n_obstacles, low=0)
        check_number("obstacle_radius", self.obstacle_radius, low=0.0, low_open=True)
        check_int("k_neighbours", self.k_neighbours, low=1, high=self.n_agents - 1)
        check_int("k_obstacles", self.k_obstacles, low=0)
        check_choice("neighbour_search", self.neighbour_search, METHODS)
        check_choice("control", self.control, CONTROLS)
        check_bool("filter", self.filter)
        check_number("gain_max", self.gain_max, low=self.gain_min)
        check_number("safety_margin", self.safety_margin, low=0.0)
        check_int("filter_iterations", self.filter_iterations, low=0)
        check_number("nominal_gain", self.nominal_gain, low=0.0, low_open=True)
        check_number("goal_tolerance", self.goal_tolerance, low=0.0, low_open=True)
        check_positive_int("deadlock_window", self.deadlock_window)
        if self.max_steps is not None:
            check_positive_int("max_steps", self.max_steps)
        for key in ("progress_reward", "goal_bonus", "collision_penalty"):
            check_number(key, getattr(self, key), low=0.0)
        check_number("intervention_penalty", self.intervention_penalty, low=0.0)
        check_number("infeasible_penalty", self.infeasible_penalty, low=0.0)
        check_number("team_reward", self.team_reward, low=0.0, high=1.0)
        check_bool("render_neighbours", self.render_neighbours)
        check_int("render_size", self.render_size, low=64)


def saturate(v: Tensor, limit: float) -> Tensor:
    """`v [..., 2]` scaled down to norm `limit` where longer (direction kept)."""
    return v * (limit / v.norm(dim=-1, keepdim=True).clamp_min(limit))


def scenario_layout(scenario: str, n: int, spacing: float) -> tuple[Tensor, Tensor, float]:
    """Fixed starts and goals `[n, 2]` of a scenario and the half-width of the square that holds them.
    `random` returns the grid of candidate cells (`[cells, 2]`, both the same) that episodes draw from."""
    if scenario == "circle":  # antipodal swap on a circle whose neighbouring starts are `spacing` apart
        r = max(1.0, n * spacing / (2 * math.pi))
        angle = torch.arange(n) * (2 * math.pi / n)
        starts = r * torch.stack([angle.cos(), angle.sin()], dim=-1)
        return starts, -starts, r + spacing
    if scenario in ("swap", "crossing"):
        streams = 2 if scenario == "swap" else 4
        sizes = [n // streams + (1 if s < n % streams else 0) for s in range(streams)]
        columns = max(1, math.ceil(math.sqrt(max(sizes))))
        depth = math.ceil(max(sizes) / columns) * spacing  # a stream's block: `columns` wide, rows deep
        reach = max(1.0, depth + columns * spacing)  # the blocks' centres sit this far from the middle
        starts, goals = [], []
        for s, size in enumerate(sizes):
            i = torch.arange(size)
            across = (i % columns - (columns - 1) / 2) * spacing  # across the stream's direction
            along = -reach - (i // columns).float() * spacing  # behind the front row, which faces the middle
            if scenario == "crossing":  # right-hand traffic: a stream keeps to its right half of the road
                across = across - (columns * spacing) / 2 - spacing / 2
            angle = s * (math.pi if streams == 2 else math.pi / 2)  # direction the stream drives
            c, d = math.cos(angle), math.sin(angle)
            rotate = torch.tensor([[c, d], [-d, c]])  # (along, across) -> world
            start = torch.stack([along, across], dim=-1) @ rotate
            goal = torch.stack([along + 2 * reach + (math.ceil(size / columns) - 1) * spacing, across], -1)
            starts.append(start)
            goals.append(goal @ rotate)
        starts, goals = torch.cat(starts), torch.cat(goals)
        return starts, goals, float(torch.cat([starts, goals]).abs().max()) + spacing
    # random: cells of `spacing` in a square with twice as many cells as robots
    per_side = math.ceil(math.sqrt(2 * n))
    i = torch.arange(per_side * per_side)
    cells = (torch.stack([i % per_side, i // per_side], dim=-1).float() - (per_side - 1) / 2) * spacing
    return cells, cells, per_side * spacing / 2 + spacing


class RobotsEnv(BatchedEnv):
    """Disc robots drive to their goals (circle, swap, crossing or random scenario), optionally through a CBF
    safety filter; see the module docstring and docs/environments/robots.md."""

    config_class = RobotsConfig

    def __init__(
        self,
        config: RobotsConfig,
        scenario: str,
        num_envs: int = 1,
        device: str | torch.device = "cpu",
        seed: int | None = None,
    ) -> None:
        check_choice("scenario", scenario, SCENARIOS)
        config.validate()
        self.config, self.scenario = config, scenario
        c = config
        self.n_agents, self.k_neighbours, self.k_obstacles = c.n_agents, c.k_neighbours, c.k_obstacles
        self.double = c.dynamics == "double"
        self.radius, self.max_speed, self.max_accel, self.dt = c.radius, c.max_speed, c.max_accel, c.dt
        self.command_limit = self.max_accel if self.double else self.max_speed
        self.n_obstacles, self.obstacle_radius = c.n_obstacles, c.obstacle_radius
        self.sensing_radius, self.search = c.sensing_radius, c.neighbour_search
        self.gain_control, self.filtered = c.control == "gain", c.control == "gain" or c.filter
        self.cbf_gain, self.gain_min, self.gain_max = c.cbf_gain, c.gain_min, c.gain_max
        self.margin, self.iterations, self.nominal_gain = c.safety_margin, c.filter_iterations, c.nominal_gain
        self.goal_tolerance, self.deadlock_window = c.goal_tolerance, c.deadlock_window
        self.weights = (c.progress_reward, c.goal_bonus, c.collision_penalty)
        self.intervention_penalty, self.infeasible_penalty = c.intervention_penalty, c.infeasible_penalty
        self.team_reward = c.team_reward
        self.render_neighbours, self.render_size = c.render_neighbours, c.render_size
        spacing = c.spacing * c.radius
        starts, goals, half = scenario_layout(scenario, c.n_agents, spacing)
        self.half = half  # the world drawn and normalised by: [-half, half]^2
        longest = (
            float((goals - starts).norm(dim=-1).max()) if scenario != "random" else 2 * math.sqrt(2) * half
        )
        max_steps = c.max_steps or math.ceil(3 * longest / (c.max_speed * c.dt))
        self.obstacle_blocks = self.n_obstacles > 0 and self.k_obstacles > 0
        own, neighbour_features, obstacle_features = 4, 4, 3
        size = own + self.k_neighbours * (neighbour_features + 1)
        if self.obstacle_blocks:
            size += self.k_obstacles * (obstacle_features + 1)
        observation_space = gym.spaces.Box(-1.0, 1.0, (size,), np.float32)
        action_space = gym.spaces.Box(-1.0, 1.0, (1 if self.gain_control else 2,), np.float32)
        spec = GroupSpec(agent_names(GROUP, c.n_agents), observation_space, action_space, c.k_neighbours)
        state_space = gym.spaces.Box(-1.0, 1.0, (6 * c.n_agents,), np.float32)
        super().__init__(
            groups={GROUP: spec},
            num_envs=num_envs,
            device=device,
            seed=seed,
            max_steps=max_steps,
            state_space=state_space,
        )
        self._layout = (starts.to(self.device), goals.to(self.device))
        B, N, M = self.num_envs, self.n_agents, self.n_obstacles
        zeros = torch.zeros(B, N, 2, device=self.device)
        self.pos, self.vel, self.goal = zeros.clone(), zeros.clone(), zeros.clone()
        self.obstacle_pos = torch.full((B, M, 2), FAR, device=self.device)
        self.obstacle_valid = torch.zeros(B, M, dtype=torch.bool, device=self.device)
        self.rows = self.k_neighbours + (self.k_obstacles if self.n_obstacles else 0)
        self.multipliers = torch.zeros(B, N, self.rows, device=self.device)
        self.last_filter: FilterResult | None = None
        self.last_rows: tuple[Neighbours, Neighbours | None] | None = None
        self._neighbour_cache: Neighbours | None = None
        self._obstacle_cache: Neighbours | None = None
        self._episode = {
            name: torch.zeros(B, N, device=self.device)
            for name in ("reach_time", "path", "slow", "infeasible", "intervened")
        }
        self._collisions = torch.zeros(B, 2, device=self.device)  # robot-robot pairs, robot-obstacle

    # ------------------------------------------------------------------ neighbours
    def neighbours(self) -> Neighbours:
        """Each robot's `k_neighbours` nearest robots within `sensing_radius` (computed once per state)."""
        if self._neighbour_cache is None:
            self._neighbour_cache = nearest(
                self.pos,
                self.pos,
                self.k_neighbours,
                radius=self.sensing_radius,
                exclude_self=True,
                method=self.search,
            )
        return self._neighbour_cache

    def obstacles(self) -> Neighbours | None:
        """Each robot's `k_obstacles` nearest obstacles whose surface is within `sensing_radius` (by centre
        distance `sensing_radius + obstacle_radius`); None without obstacles."""
        if not self.n_obstacles or not self.k_obstacles:
            return None
        if self._obstacle_cache is None:
            self._obstacle_cache = nearest(
                self.pos,
                self.obstacle_pos,
                self.k_obstacles,
                radius=self.sensing_radius + self.obstacle_radius,
                key_valid=self.obstacle_valid,
                method="brute",
            )
        return self._obstacle_cache

    def _neighbours(self) -> dict[str, Neighbours]:
        return {GROUP: self.neighbours()}

    def _moved(self) -> None:
        self._neighbour_cache = self._obstacle_cache = None

    # ------------------------------------------------------------------ reset
    def _reset(self, mask: Tensor) -> None:
        if self.device.type == "cpu" and not bool(mask.any()):
            return
        starts, goals = self._draw_starts_goals()
        self.pos = self.where(mask, starts, self.pos)
        self.goal = self.where(mask, goals, self.goal)
        self.vel = self.where(mask, torch.zeros_like(self.vel), self.vel)
        if self.n_obstacles:
            obstacles, valid = self._draw_obstacles(starts, goals)
            self.obstacle_pos = self.where(mask, obstacles, self.obstacle_pos)
            self.obstacle_valid = self.where(mask, valid, self.obstacle_valid)
        self.multipliers = self.where(mask, torch.zeros_like(self.multipliers), self.multipliers)
        if self.last_filter is not None:  # a new episode has no active barriers to draw yet
            self.last_filter.active = self.last_filter.active & ~mask[:, None, None]
        for name, value in self._episode.items():
            fresh = torch.full_like(value, -1.0) if name == "reach_time" else torch.zeros_like(value)
            self._episode[name] = self.where(mask, fresh, value)
        self._collisions = self.where(mask, torch.zeros_like(self._collisions), self._collisions)
        self._moved()

    def _draw_starts_goals(self) -> tuple[Tensor, Tensor]:
        """Starts and goals `[B, N, 2]` of fresh episodes: the scenario's layout rotated at random about the
        centre (random: distinct cells drawn per episode), each point moved by up to `jitter` radii per axis
        (which breaks the exact symmetry of circle and swap; below `(spacing - 2) / 2` radii nothing overlaps)."""
        B, N, gen, dev = self.num_envs, self.n_agents, self.generator, self.device
        starts, goals = self._layout
        if self.scenario == "random":
            cells = starts.shape[0]
            starts = starts[torch.rand(B, cells, generator=gen, device=dev).argsort(1)[:, :N]]
            goals = goals[torch.rand(B, cells, generator=gen, device=dev).argsort(1)[:, :N]]
        else:
            angle = torch.rand(B, generator=gen, device=dev) * (2 * math.pi)
            c, s = angle.cos()[:, None, None], angle.sin()[:, None, None]
            rotation = torch.cat([torch.cat([c, s], 2), torch.cat([-s, c], 2)], 1)  # row vectors times it
            starts, goals = starts @ rotation, goals @ rotation
        jitter = (torch.rand(B, 2, N, 2, generator=gen, device=dev) * 2 - 1) * (
            self.config.jitter * self.radius
        )
        return starts + jitter[:, 0], goals + jitter[:, 1]

    def _draw_obstacles(self, starts: Tensor, goals: Tensor) -> tuple[Tensor, Tensor]:
        """Obstacle centres `[B, M, 2]`: per obstacle the best of 32 uniform candidates in the middle of the
        scene (the one farthest from every start and goal); an obstacle whose best candidate would still
        touch a start or a goal is left out (parked far away, `valid` False)."""
        B, M, K = self.num_envs, self.n_obstacles, 32
        box = 0.7 * float(torch.cat([starts, goals], 1).abs().amax())
        candidates = (torch.rand(B, M * K, 2, generator=self.generator, device=self.device) * 2 - 1) * box
        ends = torch.cat([starts, goals], dim=1)
        clearance = torch.cdist(candidates, ends).amin(-1).view(B, M, K)
        best = clearance.argmax(-1)
        pos = candidates.view(B, M, K, 2).gather(2, best[..., None, None].expand(B, M, 1, 2))[:, :, 0]
        valid = (
            clearance.gather(2, best[..., None])[..., 0] > self.obstacle_radius + self.radius + self.margin
        )
        return torch.where(valid[..., None], pos, FAR), valid

    # ------------------------------------------------------------------ control
    def nominal_command(self) -> Tensor:
        """The built-in goal-seeking controller, `[B, N, 2]` in command units: a velocity of
        `nominal_gain * (goal - p)` capped at max_speed (single integrator), or the acceleration that steers
        towards that velocity in 2 steps, capped at max_accel (double integrator)."""
        desired = saturate(self.nominal_gain * (self.goal - self.pos), self.max_speed)
        if not self.double:
            return desired
        return saturate((desired - self.vel) / (2 * self.dt), self.max_accel)

    def command_box(self) -> tuple[Tensor, Tensor]:
        """Per robot lower and upper command limits `[B, N, 2]` (double: also keeps the velocity in its box)."""
        limit = torch.full_like(self.pos, self.command_limit)
        if not self.double:
            return -limit, limit
        lower = torch.maximum(-limit, (-self.max_speed - self.vel) / self.dt)
        upper = torch.minimum(limit, (self.max_speed - self.vel) / self.dt)
        return lower.clamp(max=0.0), upper.clamp(min=0.0)  # braking to rest always stays possible

    def gain_of(self, action: Tensor) -> Tensor:
        """Action in [-1, 1] -> class-K gain, log-uniform on [gain_min, gain_max] (`[...]`)."""
        fraction = (action.clamp(-1.0, 1.0) + 1) / 2
        return self.gain_min * (self.gain_max / self.gain_min) ** fraction

    def action_of_gain(self, gain: float) -> float:
        """The control=gain action that asks for `gain` (inverse of `gain_of`)."""
        if not self.gain_min <= gain <= self.gain_max:
            raise ValueError(f"gain must be in [gain_min, gain_max] = [{self.gain_min}, {self.gain_max}]")
        if self.gain_max == self.gain_min:
            return 0.0
        return 2 * math.log(gain / self.gain_min) / math.log(self.gain_max / self.gain_min) - 1

    def barrier_rows(self, gain: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The CBF constraints of every robot, `A [B, N, m, 2] u <= b [B, N, m]` with `mask [B, N, m]`: its
        neighbours' rows, then its obstacles'; `gain [B, N]` is each robot's class-K gain."""
        nb, ob = self.neighbours(), self.obstacles()
        diameter = 2 * self.radius + self.margin
        e = -nb.offset  # p_i - p_j
        if self.double:
            dv = self.vel[:, :, None] - nb.gather(self.vel)
            A, b = self._double_rows(e, dv, diameter, 2 * self.max_accel, gain, share=0.5)
        else:
            A, b = -2 * e, 0.5 * gain[..., None] * ((e * e).sum(-1) - diameter**2)
        A, b, mask = [A], [b], [nb.mask]
        if ob is not None:
            e = -ob.offset
            reach = self.radius + self.obstacle_radius + self.margin
            if self.double:
                dv = self.vel[:, :, None].expand_as(e)
                rows = self._double_rows(e, dv, reach, self.max_accel, gain, share=1.0)
            else:
                rows = -2 * e, gain[..., None] * ((e * e).sum(-1) - reach**2)
            A.append(rows[0])
            b.append(rows[1])
            mask.append(ob.mask)
        A, b, mask = torch.cat(A, 2), torch.cat(b, 2), torch.cat(mask, 2)
        return torch.where(mask[..., None], A, 0.0), torch.where(mask, b, 1.0), mask

    @staticmethod
    def _double_rows(
        e: Tensor, dv: Tensor, distance: float, braking: float, gain: Tensor, share: float
    ) -> tuple[Tensor, Tensor]:
        """Wang-Ames-Egerstedt rows for relative position `e` and velocity `dv` (`[B, N, k, 2]`): robot i's
        `share` of `dh/dt >= -gain h` as `-e^T u_i <= share |e| (gain h + the terms without u)`."""
        d = e.norm(dim=-1).clamp_min(1e-6)
        closing = (e * dv).sum(-1) / d  # d|e|/dt
        root = torch.sqrt(2 * braking * (d - distance).clamp_min(1e-6))
        h = root + closing
        drift = ((dv * dv).sum(-1) - closing**2) / d + braking * closing / root
        return -e, share * d * (gain[..., None] * h + drift)

    def _filter(self, command: Tensor, gain: Tensor) -> Tensor:
        A, b, mask = self.barrier_rows(gain)
        lower, upper = self.command_box()
        result = safety_filter(
            command, A, b, mask, lower, upper, iterations=self.iterations, warm_start=self._warm_start()
        )
        self.multipliers, self.last_filter = result.multipliers, result
        return result.u

    def _warm_start(self) -> Tensor:
        """Last step's multipliers moved to the slots where the same neighbour (obstacle) sits now: slots are
        sorted by distance, so a neighbour's row moves between slots from one step to the next."""
        if self.last_rows is None:
            return self.multipliers
        k = self.k_neighbours
        parts = []
        for now, before, lam in zip(
            (self.neighbours(), self.obstacles()),
            self.last_rows,
            (self.multipliers[..., :k], self.multipliers[..., k:]),
            strict=True,
        ):
            if now is None:
                continue
            same = (now.index[..., :, None] == before.index[..., None, :]) & before.mask[..., None, :]
            parts.append((same & now.mask[..., None]).float() @ lam[..., None])
        return torch.cat(parts, dim=2)[..., 0]

    # ------------------------------------------------------------------ step
    def _step(self, actions: dict[str, Tensor]) -> dict[str, tuple[Tensor, Tensor]]:
        a = actions[GROUP]
        if self.gain_control:
            nominal, gain = self.nominal_command(), self.gain_of(a[..., 0])
        else:
            nominal, gain = a * self.command_limit, torch.full_like(a[..., 0], self.cbf_gain)
        if self.filtered:
            command = self._filter(nominal, gain)
            infeasible = self.last_filter.infeasible.float()
            change = (command - nominal).norm(dim=-1) / self.command_limit
            self.last_rows = (self.neighbours(), self.obstacles())
        else:
            lower, upper = self.command_box()
            command = torch.minimum(torch.maximum(nominal, lower), upper)
            infeasible, change = torch.zeros_like(gain), torch.zeros_like(gain)
        before = (self.goal - self.pos).norm(dim=-1)
        old = self.pos
        if self.double:
            self.vel = self.vel + command * self.dt
            self.pos = self.pos + self.vel * self.dt
        else:
            self.vel = command
            self.pos = self.pos + command * self.dt
        self._moved()
        after = (self.goal - self.pos).norm(dim=-1)
        at_goal = after <= self.goal_tolerance
        ep = self._episode
        first = at_goal & (ep["reach_time"] < 0)
        ep["reach_time"] = torch.where(first, (self.elapsed[:, None] + 1).float() * self.dt, ep["reach_time"])
        ep["path"] = ep["path"] + (self.pos - old).norm(dim=-1)
        slow = (self.vel.norm(dim=-1) < 0.05 * self.max_speed) & ~at_goal
        ep["slow"] = torch.where(slow, ep["slow"] + 1, 0.0)
        ep["infeasible"] = ep["infeasible"] + infeasible
        ep["intervened"] = ep["intervened"] + (change > 1e-3).float()
        robot_hits, obstacle_hits = self._overlaps()
        self._collisions = self._collisions + torch.stack(
            [robot_hits.sum(1) / 2, obstacle_hits.sum(1)], dim=1
        )
        progress, bonus, collision = self.weights
        reward = (
            progress * (before - after) / (self.max_speed * self.dt)
            + bonus * first.float()
            - collision * (robot_hits + obstacle_hits)
            - self.intervention_penalty * change
            - self.infeasible_penalty * infeasible
        )
        if self.team_reward:  # cooperative credit: a robot that yields is paid for the others' progress
            reward = (1 - self.team_reward) * reward + self.team_reward * reward.mean(1, keepdim=True)
        done = at_goal.all(1, keepdim=True).expand_as(at_goal)
        return {GROUP: (reward, done)}

    def _overlaps(self) -> tuple[Tensor, Tensor]:
        """Per robot, how many robots (among its k nearest) and obstacles it overlaps now: `[B, N]` each."""
        nb, ob = self.neighbours(), self.obstacles()
        robots = (nb.mask & (nb.distance < 2 * self.radius)).sum(-1).float()
        if ob is None:
            return robots, torch.zeros_like(robots)
        return robots, (ob.mask & (ob.distance < self.radius + self.obstacle_radius)).sum(-1).float()

    # ------------------------------------------------------------------ observations
    def _observe(self) -> dict[str, Tensor]:
        nb = self.neighbours()
        own = torch.cat([(self.goal - self.pos) / (2 * self.half), self.vel / self.max_speed], dim=-1)
        relative = (nb.gather(self.vel) - self.vel[:, :, None]) / (2 * self.max_speed)
        neighbours = torch.cat([nb.offset / self.sensing_radius, relative * nb.mask[..., None]], dim=-1)
        parts = [own, neighbours.flatten(2), nb.mask.float()]
        if self.obstacle_blocks:
            ob = self.obstacles()
            reach = self.sensing_radius + self.obstacle_radius
            gap = (ob.distance - self.obstacle_radius - self.radius) / self.sensing_radius
            features = torch.cat([ob.offset / reach, gap[..., None]], dim=-1) * ob.mask[..., None]
            parts += [features.flatten(2), ob.mask.float()]
        # every feature is scaled into [-1, 1]; the clamp only catches robots that left the drawn world
        return {GROUP: torch.cat(parts, dim=-1).clamp_(-1.0, 1.0)}

    def _state(self) -> Tensor:
        state = torch.cat([self.pos / self.half, self.goal / self.half, self.vel / self.max_speed], dim=-1)
        return state.reshape(self.num_envs, -1).clamp(-1.0, 1.0)

    def _episode_stats(self) -> dict[str, Tensor]:
        ep, steps = self._episode, self.elapsed.clamp_min(1).float()
        at_goal = (self.goal - self.pos).norm(dim=-1) <= self.goal_tolerance
        reach_time = torch.where(
            ep["reach_time"] < 0, (self.elapsed * self.dt).float()[:, None], ep["reach_time"]
        )
        return {
            "success_rate": at_goal.float().mean(1),
            "robot_collisions": self._collisions[:, 0],
            "obstacle_collisions": self._collisions[:, 1],
            "time_to_goal": reach_time.mean(1),
            "path_length": ep["path"].mean(1),
            "deadlocks": (ep["slow"] >= self.deadlock_window).float().mean(1),
            "infeasible_steps": ep["infeasible"].mean(1) / steps,
            "interventions": ep["intervened"].mean(1) / steps,
        }

    def _render(self, index: int) -> np.ndarray:
        from envs.robots.render import draw_robots

        return draw_robots(self, index)
