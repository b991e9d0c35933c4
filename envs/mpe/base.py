"""The shared part of every MPE task: entities, mpe2's action spaces and action -> force rules, communication.

A task subclasses `MPEEnv`, lists its agents (in mpe2's order, groups contiguous) and landmarks, and implements
`_observations()`, `_rewards()` (one reward per agent, in mpe2's agent order) and optionally `_reset_task(mask)`,
`_terminal()`, `_step_stats()` / `_episode_stats()` and `_load_mpe2_task(index, world)`.

The action rules follow mpe2's `SimpleEnv` (mpe2/_mpe_utils/simple_env.py):

- a movable agent has 5 movement choices (no-op, -x, +x, -y, +y); discrete: `Discrete(5)`, times `dim_c`
  when it also speaks (`Discrete(5 * dim_c)`, movement = a % 5, word = a // 5); continuous: `Box(0, 1, (5,))`
  plus `dim_c` message values, force = `(a[2] - a[1], a[4] - a[3])`;
- the force is scaled by the agent's `accel` (5.0 when mpe2 leaves it `None`);
- a speaking agent's message is the one-hot word (discrete) or the raw message values (continuous); a silent
  agent's message is zeros. A speaker that cannot move has `Discrete(dim_c)` / `Box(0, 1, (dim_c,))`.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from envs.particles.physics import MOVE_DIRECTIONS, ParticleWorld, length
from marl import BatchedEnv, GroupSpec
from marl.core.validation import check_bool, check_choice, check_int, check_positive_int

DEFAULT_ACCEL = 5.0  # mpe2's `sensitivity` when an agent has no `accel`
MOVES = len(MOVE_DIRECTIONS)  # no-op, -x, +x, -y, +y


@dataclass(frozen=True)
class AgentSpec:
    """One agent as mpe2 builds it in `make_world` (defaults are mpe2's `Agent` defaults)."""

    name: str  # `<group>_<i>`: the group is the name's prefix (PettingZoo's convention)
    color: tuple[float, float, float]
    size: float = 0.05
    accel: float | None = None
    max_speed: float | None = None
    movable: bool = True
    silent: bool = False
    collide: bool = True

    @property
    def group(self) -> str:
        return self.name.rsplit("_", 1)[0]


@dataclass(frozen=True)
class LandmarkSpec:
    """One landmark (never movable in the MPE tasks)."""

    color: tuple[float, float, float]
    size: float = 0.05
    collide: bool = True


@dataclass
class MPEConfig:
    """Config keys every MPE task accepts; a task with keys of its own subclasses it."""

    max_steps: int = 25  # mpe2's max_cycles
    continuous_actions: bool = False
    dtype: str = "float32"  # of the physics; observations are float32 either way

    def validate(self) -> None:
        check_positive_int("max_steps", self.max_steps)
        check_bool("continuous_actions", self.continuous_actions)
        check_choice("dtype", self.dtype, ("float32", "float64"))


@dataclass
class PartialObservabilityConfig(MPEConfig):
    """mpe2's partial observability: observe only the nearest agents / landmarks (None: all of them)."""

    k_neighbours: int | None = None
    k_landmarks: int | None = None

    def validate(self) -> None:
        super().validate()
        check_int("k_neighbours", self.k_neighbours, low=1, allow_none=True)
        check_int("k_landmarks", self.k_landmarks, low=1, allow_none=True)


class MPEEnv(BatchedEnv):
    """Base of the MPE tasks: a `ParticleWorld` of agents then landmarks, plus messages `comm [B, n, dim_c]`."""

    config_class: type[MPEConfig] = MPEConfig  # a task with keys of its own names its subclass here

    def __init__(
        self,
        config: MPEConfig,
        *,
        agents: list[AgentSpec],
        landmarks: list[LandmarkSpec],
        obs_dims: dict[str, int],
        dim_c: int,
        num_envs: int,
        device: str | torch.device,
        seed: int | None,
    ) -> None:
        self.config = config
        continuous_actions, dtype = config.continuous_actions, config.dtype
        self.dtype = getattr(torch, dtype)
        self.agent_specs, self.landmark_specs = list(agents), list(landmarks)
        self.dim_c, self.continuous_actions = dim_c, continuous_actions
        self.n_agents, self.n_landmarks = len(agents), len(landmarks)
        group_order = list(dict.fromkeys(a.group for a in agents))
        self.group_slices: dict[str, slice] = {}
        for g in group_order:
            idx = [i for i, a in enumerate(agents) if a.group == g]
            if idx != list(range(idx[0], idx[-1] + 1)):
                raise ValueError(f"agents of group {g!r} must be contiguous in mpe2's agent order")
            roles = {(agents[i].movable, agents[i].silent) for i in idx}
            if len(roles) != 1:
                raise ValueError(f"agents of group {g!r} must all share movable/silent, got {roles}")
            self.group_slices[g] = slice(idx[0], idx[-1] + 1)
        groups = {
            g: GroupSpec(
                tuple(a.name for a in agents[s]),
                gym.spaces.Box(-np.inf, np.inf, (obs_dims[g],), np.float32),
                self._action_space(agents[s.start]),
            )
            for g, s in self.group_slices.items()
        }
        super().__init__(
            groups=groups, num_envs=num_envs, device=device, seed=seed, max_steps=config.max_steps
        )
        entities = agents + landmarks
        self.world = ParticleWorld(
            num_envs,
            [e.size for e in entities],
            movable=[isinstance(e, AgentSpec) and e.movable for e in entities],
            collide=[e.collide for e in entities],
            max_speed=[
                a.max_speed if isinstance(a, AgentSpec) and a.max_speed is not None else float("inf")
                for a in entities
            ],
            device=self.device,
            dtype=self.dtype,
        )
        self.group_accel = {}  # one number per group when its agents share it (always, in mpe2's tasks)
        for g, s in self.group_slices.items():
            accels = [DEFAULT_ACCEL if a.accel is None else a.accel for a in agents[s]]
            self.group_accel[g] = (
                accels[0]
                if len(set(accels)) == 1
                else torch.tensor(accels, dtype=self.dtype, device=self.device)[:, None]
            )
        self.move_directions = torch.tensor(MOVE_DIRECTIONS, dtype=self.dtype, device=self.device)
        self.comm = torch.zeros(num_envs, self.n_agents, dim_c, dtype=self.dtype, device=self.device)
        self.all_silent = all(a.silent for a in agents)
        n, L = self.n_agents, self.n_landmarks
        self.agent_idx = torch.arange(n, device=self.device)
        self.landmark_idx = torch.arange(n, n + L, device=self.device)
        # static index lists: for agent i, the other agents j != i in mpe2's order, and every landmark
        other = [j for i in range(n) for j in range(n) if j != i]
        self._other_idx = torch.tensor(other, dtype=torch.long, device=self.device)
        self._other_rows = self.agent_idx.repeat_interleave(n - 1)
        self._other_flat = self._other_rows * n + self._other_idx
        self._landmark_rows = self.agent_idx.repeat_interleave(L)
        self._landmark_cols = self.landmark_idx.repeat(n)
        self._cache: dict[str, object] = {}

    # ------------------------------------------------------------------ spaces (mpe2's rules)
    def _action_space(self, agent: AgentSpec) -> gym.spaces.Space:
        if self.continuous_actions:
            size = (MOVES if agent.movable else 0) + (0 if agent.silent else self.dim_c)
            return gym.spaces.Box(0.0, 1.0, (size,), np.float32)
        size = MOVES if agent.movable else 1
        return gym.spaces.Discrete(size if agent.silent else size * self.dim_c)

    # ------------------------------------------------------------------ views of the state
    @property
    def pos(self) -> Tensor:
        """Agent positions `[B, n_agents, 2]`."""
        return self.world.pos[:, : self.n_agents]

    @property
    def vel(self) -> Tensor:
        return self.world.vel[:, : self.n_agents]

    @property
    def landmark_pos(self) -> Tensor:
        return self.world.pos[:, self.n_agents :]

    def cached(self, name: str, compute):
        """`compute()` once per state: the cache is emptied whenever positions, messages or goals change.

        Under torch.compile it computes without caching: the compiler merges repeated work by itself, and a
        cache written inside a compiled step would only add outputs the step has to keep."""
        if torch.compiler.is_compiling():
            return compute()
        if name not in self._cache:
            self._cache[name] = compute()
        return self._cache[name]

    def landmark_offsets(self) -> Tensor:
        """Every landmark's position relative to every agent: `[B, n_agents, n_landmarks, 2]`."""

        def compute() -> Tensor:
            pos = self.world.pos
            offsets = pos.index_select(1, self._landmark_cols) - pos.index_select(1, self._landmark_rows)
            return offsets.view(self.num_envs, self.n_agents, self.n_landmarks, 2)

        return self.cached("landmark_offsets", compute)

    def agent_offsets(self) -> Tensor:
        """The other agents' positions relative to each agent, in mpe2's order: `[B, n, n - 1, 2]`."""

        def compute() -> Tensor:
            pos = self.world.pos
            offsets = pos.index_select(1, self._other_idx) - pos.index_select(1, self._other_rows)
            return offsets.view(self.num_envs, self.n_agents, self.n_agents - 1, 2)

        return self.cached("agent_offsets", compute)

    def others(self, values: Tensor) -> Tensor:
        """Per agent, the other agents' rows in mpe2's order: `[B, n, ...] -> [B, n, n - 1, ...]`."""
        picked = values.index_select(1, self._other_idx)
        return picked.view(values.shape[0], self.n_agents, self.n_agents - 1, *values.shape[2:])

    def others_pairwise(self, values: Tensor) -> Tensor:
        """A pairwise tensor without its diagonal: `[B, n, n, ...] -> [B, n, n - 1, ...]`."""
        picked = values.flatten(1, 2).index_select(1, self._other_flat)
        return picked.view(values.shape[0], self.n_agents, self.n_agents - 1, *values.shape[3:])

    @staticmethod
    def nearest_slots(offsets: Tensor, slots: int | None, *values: Tensor) -> list[Tensor]:
        """mpe2's partial observability (`_mpe_utils/partial_observability.py`): per agent, keep the `slots`
        entities nearest first, zero-padded to `slots`; `None` keeps them all in order.

        `offsets [B, n, m, 2]` give the distances; each of `values [B, n, m, k]` is picked in the same order.
        """
        if slots is None:
            return [offsets, *values]
        kept = min(slots, offsets.shape[2])
        order = torch.argsort(length(offsets), dim=-1, stable=True)[..., :kept, None]
        picked = []
        for v in (offsets, *values):
            chosen = v.gather(2, order.expand(-1, -1, -1, v.shape[-1]))
            picked.append(torch.nn.functional.pad(chosen, (0, 0, 0, slots - kept)))
        return picked

    def split(self, per_agent: Tensor) -> dict[str, Tensor]:
        """Cut a `[B, n_agents, ...]` tensor into the groups."""
        return {g: per_agent[:, s] for g, s in self.group_slices.items()}

    # ------------------------------------------------------------------ reset and step
    def _reset(self, mask: Tensor) -> None:
        if self.device.type == "cpu" and not bool(mask.any()):
            return  # nothing ended; skip the draws (a host check costs nothing on the CPU)
        B = self.num_envs
        agent_pos = self.uniform((B, self.n_agents, 2), -1.0, 1.0)
        landmark_pos = self._draw_landmarks()
        pos = torch.cat([agent_pos, landmark_pos], dim=1)
        self.world.pos = self.where(mask, pos, self.world.pos)
        self.world.vel = self.where(mask, torch.zeros_like(self.world.vel), self.world.vel)
        self.comm = self.where(mask, torch.zeros_like(self.comm), self.comm)
        self._reset_task(mask)
        self._cache.clear()

    def _draw_landmarks(self) -> Tensor:
        """Initial landmark positions `[B, n_landmarks, 2]`; uniform in [-1, 1] unless a task says otherwise."""
        return self.uniform((self.num_envs, self.n_landmarks, 2), -1.0, 1.0)

    def uniform(self, shape: tuple[int, ...], low: float, high: float) -> Tensor:
        """Uniform draws in [low, high) from the environment's generator, in the physics dtype."""
        u = torch.rand(shape, generator=self.generator, device=self.device, dtype=self.dtype)
        return low + u * (high - low)

    def _step(self, actions: dict[str, Tensor]) -> dict[str, tuple[Tensor, Tensor]]:
        forces, messages = [], []
        for g, s in self.group_slices.items():
            force, message = self._decode(self.agent_specs[s.start], actions[g], self.group_accel[g])
            forces.append(force)
            messages.append(message)
        self.world.step(forces[0] if len(forces) == 1 else torch.cat(forces, dim=1))
        if not self.all_silent:
            self.comm = torch.cat(messages, dim=1)
        self._cache.clear()
        rewards = self._rewards()
        self._step_stats()
        terminal = self._terminal()[:, None]
        return {g: (r, terminal.expand_as(r)) for g, r in self.split(rewards).items()}

    def _decode(
        self, agent: AgentSpec, action: Tensor, accel: float | Tensor
    ) -> tuple[Tensor, Tensor | None]:
        """One group's actions -> (force `[B, n, 2]`, message `[B, n, dim_c]` or None when silent), by mpe2's rules."""
        B, n = action.shape[:2]
        force, message = None, None
        if self.continuous_actions:
            if agent.movable:
                force = torch.stack([action[..., 2] - action[..., 1], action[..., 4] - action[..., 3]], -1)
            if not agent.silent:
                message = action[..., MOVES if agent.movable else 0 :].to(self.dtype)
        else:
            word = action
            if agent.movable:
                move = action if agent.silent else action % MOVES
                force = self.move_directions.index_select(0, move.flatten()).view(B, n, 2)
                word = action // MOVES
            if not agent.silent:
                message = torch.nn.functional.one_hot(word, self.dim_c).to(self.dtype)
        force = torch.zeros(B, n, 2, dtype=self.dtype, device=self.device) if force is None else force * accel
        if message is None and not self.all_silent:
            message = torch.zeros(B, n, self.dim_c, dtype=self.dtype, device=self.device)
        return force, message

    def _observe(self) -> dict[str, Tensor]:
        return self.cached("obs", lambda: {g: obs.float() for g, obs in self._observations().items()})

    def _state(self) -> Tensor:
        """mpe2's `state()`: every agent's observation, concatenated in agent order."""

        def compute() -> Tensor:
            obs = [o.reshape(self.num_envs, -1) for o in self._observe().values()]
            return obs[0] if len(obs) == 1 else torch.cat(obs, dim=1)

        return self.cached("state", compute)

    # ------------------------------------------------------------------ what tasks implement
    def _observations(self) -> dict[str, Tensor]:
        """Observations `{group: [B, n, obs_dim]}` in mpe2's order (any float dtype; cast to float32)."""
        raise NotImplementedError

    def _rewards(self) -> Tensor:
        """Rewards `[B, n_agents]` in mpe2's agent order, from the state after the physics step."""
        raise NotImplementedError

    def _reset_task(self, mask: Tensor) -> None:
        """Draw task-specific state (goals, keys) for the copies in `mask`."""

    def _terminal(self) -> Tensor:
        """Per-copy early end of the episode (mpe2's `is_terminal`); never by default."""
        return torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)

    def _step_stats(self) -> None:
        """Accumulate per-step episode statistics (called after the rewards of every step)."""

    # ------------------------------------------------------------------ rendering
    def _entity_colors(self, index: int) -> np.ndarray:
        """Colours `[E, 3]` (0..1) of copy `index`'s entities; tasks that colour goals override this."""
        return np.array([e.color for e in self.agent_specs + self.landmark_specs], dtype=np.float64)

    def _render(self, index: int) -> np.ndarray:
        from envs.mpe.render import render_mpe

        return render_mpe(self, index)

    # ------------------------------------------------------------------ test-only hook
    def load_mpe2_world(self, index: int, world) -> None:
        """Copy an mpe2 `World`'s state into copy `index` (for the replay test against mpe2 only).

        Positions, velocities and messages come from `world`; task state (goals, keys) from
        `_load_mpe2_task`. The dynamics, observations and rewards afterwards are this package's own.
        """
        entities = world.agents + world.landmarks
        if len(entities) != self.world.n_entities:
            raise ValueError(
                f"mpe2 world has {len(entities)} entities, this task has {self.world.n_entities}"
            )
        pos = torch.as_tensor(np.array([e.state.p_pos for e in entities]), dtype=self.dtype)
        vel = torch.as_tensor(np.array([e.state.p_vel for e in entities]), dtype=self.dtype)
        comm = torch.as_tensor(np.array([a.state.c for a in world.agents]), dtype=self.dtype)
        self.world.pos[index] = pos.to(self.device)
        self.world.vel[index] = vel.to(self.device)
        self.comm[index] = comm.to(self.device)
        self._load_mpe2_task(index, world)
        self._cache.clear()

    def _load_mpe2_task(self, index: int, world) -> None:
        """Copy task state (goal landmark, key) of an mpe2 world into copy `index`; nothing by default."""


def boundary_penalty(pos: Tensor) -> Tensor:
    """mpe2's penalty for leaving the screen (simple_tag, simple_world_comm), summed over x and y: `[B, n]`.

    Per coordinate x = |p|: 0 below 0.9, 10 (x - 0.9) below 1, then min(exp(2x - 2), 10).
    """
    x = pos.abs()
    penalty = torch.where(x < 1.0, (x - 0.9) * 10, torch.exp(2 * x - 2).clamp(max=10.0))
    return torch.where(x < 0.9, torch.zeros_like(x), penalty).sum(dim=-1)
