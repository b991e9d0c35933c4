"""The batched environment contract.

One `BatchedEnv` object holds `num_envs` independent copies of an environment as tensors on one device.
Agents come in groups of identical spaces; every per-group tensor is stacked `[num_envs, n_group, ...]`.
`step` auto-resets the copies whose episode ended, in one masked tensor operation, and hands back both the
first observation of the new episode and the final observation of the ended one.

A concrete environment subclasses `BatchedEnv` and implements four small methods on all copies at once:
`_reset(mask)`, `_step(actions)`, `_observe()` and (optionally) `_state()`, `_action_mask()`,
`_episode_stats()`, `_render(index)`. It never loops over copies in Python. See docs/adding_an_environment.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor


@dataclass(frozen=True)
class GroupSpec:
    """A group of agents with identical spaces (spaces are for one agent)."""

    agents: tuple[str, ...]
    observation_space: gym.spaces.Box
    action_space: gym.spaces.Space

    def __post_init__(self) -> None:
        if len(self.agents) == 0:
            raise ValueError("a group needs at least one agent")
        if not isinstance(self.observation_space, gym.spaces.Box):
            raise TypeError(
                f"observation spaces must be gymnasium Box spaces, got {self.observation_space!r}"
            )
        if not isinstance(self.action_space, (gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.Box)):
            raise TypeError(
                f"action spaces must be Discrete, MultiDiscrete or Box, got {self.action_space!r}"
            )
        object.__setattr__(self, "agents", tuple(self.agents))

    @property
    def n(self) -> int:
        return len(self.agents)


def agent_names(prefix: str, n: int) -> tuple[str, ...]:
    """`agent_names("agent", 3) == ("agent_0", "agent_1", "agent_2")`."""
    return tuple(f"{prefix}_{i}" for i in range(n))


@dataclass
class GroupStep:
    """What one group of agents sees after a reset or a step; every tensor is `[num_envs, n_group, ...]`.

    For a copy whose episode ended at this step (`Step.done`), `reward` and `terminated` belong to the ended
    episode's last transition while `obs`, `alive` and `action_mask` already belong to the new episode.
    """

    obs: Tensor
    reward: Tensor
    terminated: Tensor
    alive: Tensor
    action_mask: Tensor | None = None


@dataclass
class Step:
    """The result of `reset` or `step` for all copies.

    `done[b]` says copy b's episode ended at this step (every agent terminated, or truncated) and the copy
    was reset: `final_obs` / `final_state` hold the last observation of the ended episode (rows where `done`
    is False repeat the current observation) and `info` holds its episode statistics (valid where `done`; it
    may be empty at a step where no episode ended).
    Terminated and truncated stay apart: learners bootstrap from `final_obs` on truncation only.
    """

    groups: dict[str, GroupStep]
    state: Tensor
    truncated: Tensor
    done: Tensor
    final_obs: dict[str, Tensor] | None = None
    final_state: Tensor | None = None
    info: dict[str, Tensor] = field(default_factory=dict)

    def __getitem__(self, group: str) -> GroupStep:
        return self.groups[group]


class BatchedEnv:
    """Base class of every environment: `num_envs` copies as tensors on `device`.

    Subclasses call `super().__init__(groups=..., state_space=..., ...)` once their own attributes are set,
    then implement:

    - `_reset(mask)`: re-initialise the copies where `mask [B]` is True (draw from `self.generator`);
    - `_step(actions)`: advance every copy; return `{group: (reward [B, n], terminated [B, n])}`;
    - `_observe()`: `{group: obs [B, n, *obs_shape]}` for the current state;
    - optionally `_state()`, `_action_mask()`, `_truncated()`, `_episode_stats()`, `_render(index)`.
    """

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self,
        *,
        groups: dict[str, GroupSpec],
        num_envs: int = 1,
        device: str | torch.device = "cpu",
        seed: int | None = None,
        max_steps: int | None = None,
        state_space: gym.spaces.Box | None = None,
        validate_actions: bool = True,
    ) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive int, got {num_envs!r}")
        if max_steps is not None and (
            isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1
        ):
            raise ValueError(f"max_steps must be a positive int or None, got {max_steps!r}")
        if not groups:
            raise ValueError("an environment needs at least one group of agents")
        names = [a for spec in groups.values() for a in spec.agents]
        if len(set(names)) != len(names):
            raise ValueError(f"agent names must be unique across groups, got {names}")
        self.num_envs = num_envs
        self.device = torch.device(device)
        self.max_steps = max_steps
        self.validate_actions = validate_actions
        self.group_specs: dict[str, GroupSpec] = dict(groups)
        self.possible_agents: list[str] = names
        self._group_of = {a: g for g, spec in groups.items() for a in spec.agents}
        self._index_in_group = {a: i for spec in groups.values() for i, a in enumerate(spec.agents)}
        if state_space is None:
            size = sum(spec.n * int(np.prod(spec.observation_space.shape)) for spec in groups.values())
            state_space = gym.spaces.Box(-np.inf, np.inf, (size,), np.float32)
        self.state_space: gym.spaces.Box = state_space
        self.generator = torch.Generator(device=self.device)
        self.seed(seed)
        B = num_envs
        self.elapsed = torch.zeros(B, dtype=torch.long, device=self.device)
        self.alive = {g: torch.ones(B, s.n, dtype=torch.bool, device=self.device) for g, s in groups.items()}
        self._episode_return = {g: torch.zeros(B, s.n, device=self.device) for g, s in groups.items()}
        self._has_reset = False

    # ------------------------------------------------------------------ identity and spaces
    @property
    def group_names(self) -> list[str]:
        return list(self.group_specs)

    def group_of(self, agent: str) -> str:
        self._check_agent(agent)
        return self._group_of[agent]

    def index_in_group(self, agent: str) -> int:
        self._check_agent(agent)
        return self._index_in_group[agent]

    def observation_space(self, agent: str) -> gym.spaces.Box:
        return self.group_specs[self.group_of(agent)].observation_space

    def action_space(self, agent: str) -> gym.spaces.Space:
        return self.group_specs[self.group_of(agent)].action_space

    def _check_agent(self, agent: str) -> None:
        if agent not in self._group_of:
            raise KeyError(f"unknown agent {agent!r}; this environment has {self.possible_agents}")

    # ------------------------------------------------------------------ seeding
    def seed(self, seed: int | None) -> int:
        """Re-seed the environment's generator; `None` draws a fresh seed. Returns the seed used."""
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1, dtype=np.uint64)[0] >> 1)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative int or None, got {seed!r}")
        self.generator.manual_seed(int(seed))
        self.last_seed = int(seed)
        return int(seed)

    # ------------------------------------------------------------------ the public API
    def reset(self, seed: int | None = None) -> Step:
        """Start a new episode in every copy. With `seed`, the generator is re-seeded first."""
        if seed is not None:
            self.seed(seed)
        everywhere = torch.ones(self.num_envs, dtype=torch.bool, device=self.device)
        self.elapsed.zero_()
        for g in self.group_specs:
            self.alive[g].fill_(True)
            self._episode_return[g].zero_()
        self._reset(everywhere)
        self._has_reset = True
        zeros_b = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        rewards = {
            g: torch.zeros(self.num_envs, s.n, device=self.device) for g, s in self.group_specs.items()
        }
        terminated = {g: torch.zeros_like(self.alive[g]) for g in self.group_specs}
        return self._assemble(rewards, terminated, truncated=zeros_b, done=zeros_b, final=None)

    def step(self, actions: dict[str, Tensor]) -> Step:
        """Advance every copy by one step, then reset (masked, vectorised) the copies whose episode ended."""
        if not self._has_reset:
            raise RuntimeError("call reset() before step()")
        actions = self._check_actions(actions) if self.validate_actions else actions
        out = self._step(actions)
        self.elapsed += 1
        rewards, terminated = {}, {}
        all_dead = torch.ones(self.num_envs, dtype=torch.bool, device=self.device)
        for g in self.group_specs:
            reward, term = out[g]
            was_alive = self.alive[g]
            rewards[g] = torch.where(was_alive, reward.float(), 0.0)
            terminated[g] = term.bool() & was_alive
            self.alive[g] = was_alive & ~terminated[g]
            self._episode_return[g] += rewards[g]
            all_dead &= ~self.alive[g].any(dim=1)
        truncated = self._truncated() & ~all_dead
        if self.max_steps is not None:
            truncated |= (self.elapsed >= self.max_steps) & ~all_dead
        done = all_dead | truncated
        # episode statistics are needed only where an episode ended; on CPU finding out is free, on an
        # accelerator it would cost a host sync, so they are computed every step there
        ended = self.device.type != "cpu" or bool(done.any())
        final = (self._observe(), self._state(), self._episode_info() if ended else {})
        # masked, vectorised auto-reset of the ended copies
        self._reset(done)
        self.elapsed.masked_fill_(done, 0)
        for g in self.group_specs:
            self.alive[g] |= done[:, None]
            self._episode_return[g].masked_fill_(done[:, None], 0.0)
        return self._assemble(rewards, terminated, truncated=truncated, done=done, final=final)

    def sample_actions(self, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Uniformly random legal actions for every agent of every copy (respects action masks)."""
        gen = self.generator if generator is None else generator
        return sample_actions(self.group_specs, self.num_envs, self._action_mask() or {}, gen, self.device)

    def render(self, index: int = 0) -> np.ndarray:
        """An RGB image `uint8 [H, W, 3]` of copy `index`."""
        if not 0 <= index < self.num_envs:
            raise IndexError(f"copy index {index} out of range for num_envs={self.num_envs}")
        frame = np.asarray(self._render(index))
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise RuntimeError(f"_render must return uint8 [H, W, 3], got {frame.dtype} {frame.shape}")
        return frame

    def render_grid(self, indices: list[int] | None = None, columns: int | None = None) -> np.ndarray:
        """Several copies tiled into one image (for rollout videos of a batch)."""
        indices = list(range(min(self.num_envs, 4))) if indices is None else list(indices)
        if not indices:
            raise ValueError("render_grid needs at least one copy index")
        frames = [self.render(i) for i in indices]
        columns = columns or int(np.ceil(np.sqrt(len(frames))))
        rows = int(np.ceil(len(frames) / columns))
        h, w, _ = frames[0].shape
        grid = np.full((rows * h, columns * w, 3), 255, dtype=np.uint8)
        for k, frame in enumerate(frames):
            r, c = divmod(k, columns)
            grid[r * h : (r + 1) * h, c * w : (c + 1) * w] = frame
        return grid

    def close(self) -> None:
        """Release rendering resources; the tensors go with the object."""

    # ------------------------------------------------------------------ what subclasses implement
    def _reset(self, mask: Tensor) -> None:
        raise NotImplementedError

    def _step(self, actions: dict[str, Tensor]) -> dict[str, tuple[Tensor, Tensor]]:
        raise NotImplementedError

    def _observe(self) -> dict[str, Tensor]:
        raise NotImplementedError

    def _state(self) -> Tensor:
        """Global state for centralised critics; by default every agent's observation, concatenated."""
        obs = self._observe()
        return torch.cat([obs[g].reshape(self.num_envs, -1) for g in self.group_specs], dim=1)

    def _action_mask(self) -> dict[str, Tensor] | None:
        """`{group: bool [B, n, A]}` (True = legal) for Discrete action spaces, or None if all are legal."""
        return None

    def _truncated(self) -> Tensor:
        """Extra per-copy truncation besides `max_steps` (e.g. reported by a wrapped environment)."""
        return torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)

    def _episode_stats(self) -> dict[str, Tensor]:
        """Task metrics `{name: [B]}` read at the end of an episode (before the reset)."""
        return {}

    def _render(self, index: int) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} has no renderer")

    # ------------------------------------------------------------------ helpers for subclasses
    def where(self, mask: Tensor, new: Tensor, old: Tensor) -> Tensor:
        """`torch.where` with a per-copy mask `[B]` broadcast over the trailing dimensions of `old`."""
        return torch.where(mask.reshape(-1, *([1] * (old.dim() - 1))), new, old)

    # ------------------------------------------------------------------ internals
    def _episode_info(self) -> dict[str, Tensor]:
        returns = [self._episode_return[g] for g in self.group_specs]
        info = {
            "episode_return": torch.cat(returns, dim=1).mean(dim=1),
            "episode_length": self.elapsed.float(),
        }
        if len(self.group_specs) > 1:
            for g in self.group_specs:
                info[f"episode_return/{g}"] = self._episode_return[g].mean(dim=1)
        for name, value in self._episode_stats().items():
            info[name] = value.float()
        return info

    def _assemble(self, rewards, terminated, *, truncated, done, final) -> Step:
        obs = self._observe()
        masks = self._action_mask() or {}
        groups = {
            g: GroupStep(
                obs=obs[g],
                reward=rewards[g],
                terminated=terminated[g],
                alive=self.alive[g].clone(),
                action_mask=masks.get(g),
            )
            for g in self.group_specs
        }
        step = Step(groups=groups, state=self._state(), truncated=truncated, done=done)
        if final is not None:
            step.final_obs, step.final_state, step.info = final
        return step

    def _check_actions(self, actions: dict[str, Tensor]) -> dict[str, Tensor]:
        if not isinstance(actions, dict):
            raise TypeError(f"actions must be a dict {{group: tensor}}, got {type(actions).__name__}")
        missing = [g for g in self.group_specs if g not in actions]
        extra = [g for g in actions if g not in self.group_specs]
        if missing or extra:
            raise KeyError(
                f"actions must have exactly the groups {self.group_names}; missing {missing}, unexpected {extra}"
            )
        masks = self._action_mask() or {}
        checked = {}
        for g, spec in self.group_specs.items():
            a = actions[g]
            if isinstance(a, np.ndarray):
                a = torch.as_tensor(a, device=self.device)
            if not isinstance(a, Tensor):
                raise TypeError(f"group {g!r}: actions must be a torch.Tensor, got {type(a).__name__}")
            if a.device != self.device:
                raise ValueError(
                    f"group {g!r}: actions are on {a.device}, the environment is on {self.device}"
                )
            checked[g] = _check_group_actions(g, spec, a, self.num_envs, masks.get(g), self.alive[g])
        return checked


def sample_actions(
    specs: dict[str, GroupSpec],
    num_envs: int,
    masks: dict[str, Tensor | None],
    generator: torch.Generator,
    device: torch.device,
) -> dict[str, Tensor]:
    """Uniformly random legal actions `{group: [num_envs, n, ...]}` under the given action masks."""
    actions = {}
    for g, spec in specs.items():
        space, shape = spec.action_space, (num_envs, spec.n)
        if isinstance(space, gym.spaces.Discrete):
            mask = masks.get(g)
            if mask is None:
                a = torch.randint(int(space.n), shape, generator=generator, device=device)
            else:
                weights = mask.float().reshape(-1, mask.shape[-1])
                weights = torch.where(weights.sum(-1, keepdim=True) > 0, weights, torch.ones_like(weights))
                a = torch.multinomial(weights, 1, generator=generator).reshape(shape)
            actions[g] = a + int(space.start)
        elif isinstance(space, gym.spaces.MultiDiscrete):
            nvec = torch.as_tensor(space.nvec, device=device)
            u = torch.rand(*shape, len(space.nvec), generator=generator, device=device)
            actions[g] = (u * nvec).long().clamp_max(nvec - 1)
        else:
            low = torch.as_tensor(space.low, device=device)
            high = torch.as_tensor(space.high, device=device)
            u = torch.rand(*shape, *space.shape, generator=generator, device=device)
            actions[g] = low + u * (high - low)
    return actions


def _check_group_actions(
    group: str, spec: GroupSpec, a: Tensor, num_envs: int, mask: Tensor | None, alive: Tensor
) -> Tensor:
    space = spec.action_space
    if isinstance(space, gym.spaces.Discrete):
        expected, kind = (num_envs, spec.n), "an integer"
    elif isinstance(space, gym.spaces.MultiDiscrete):
        expected, kind = (num_envs, spec.n, len(space.nvec)), "an integer"
    else:
        expected, kind = (num_envs, spec.n, *space.shape), "a floating"
    if tuple(a.shape) != expected:
        raise ValueError(
            f"group {group!r}: actions have shape {tuple(a.shape)}, expected {expected} "
            f"([num_envs, n_agents{', ...' if len(expected) > 2 else ''}]) for {space}"
        )
    integer = not a.is_floating_point() and not a.is_complex() and a.dtype != torch.bool
    if (kind == "an integer") != integer or a.dtype == torch.bool:
        raise TypeError(f"group {group!r}: actions have dtype {a.dtype}, expected {kind} dtype for {space}")

    def fail(bad: Tensor, what: str) -> None:
        b, i = (int(x) for x in bad.nonzero()[0][:2])
        raise ValueError(
            f"group {group!r}: action of agent {spec.agents[i]!r} in copy {b} is {a[b, i].tolist()}, {what}"
        )

    if isinstance(space, gym.spaces.Discrete):
        lo, hi = int(space.start), int(space.start) + int(space.n)
        bad = (a < lo) | (a >= hi)
        if bad.any():
            fail(bad, f"outside {space} (expected {lo} <= action < {hi})")
        if mask is not None:
            legal = mask.gather(2, (a - lo).long().unsqueeze(-1)).squeeze(-1)
            illegal = ~legal & alive
            if illegal.any():
                fail(illegal, "illegal under the action mask")
        return a.long()
    if isinstance(space, gym.spaces.MultiDiscrete):
        nvec = torch.as_tensor(space.nvec, device=a.device)
        bad = ((a < 0) | (a >= nvec)).any(-1)
        if bad.any():
            fail(bad, f"outside {space} (expected 0 <= action < {space.nvec.tolist()})")
        return a.long()
    low = torch.as_tensor(space.low, device=a.device, dtype=a.dtype)
    high = torch.as_tensor(space.high, device=a.device, dtype=a.dtype)
    flat = lambda t: t.reshape(num_envs, spec.n, -1)  # noqa: E731
    bad = (~torch.isfinite(flat(a))).any(-1)
    if bad.any():
        fail(bad, "not finite")
    bad = ((a < low) | (a > high)).reshape(num_envs, spec.n, -1).any(-1)
    if bad.any():
        fail(bad, f"outside the bounds of {space} (low {space.low.tolist()}, high {space.high.tolist()})")
    return a.float()
