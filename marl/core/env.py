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

import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from marl.core.neighbours import Neighbours


@dataclass(frozen=True)
class GroupSpec:
    """A group of agents with identical spaces (spaces are for one agent).

    `observation_space` is a Box, or a Dict of Boxes for structured observations (a grid `[C, H, W]`, an
    entity set `[K, F]` with its validity mask `[K]` under the key `<name>_mask`, a vector). `neighbours` is
    the number of neighbour slots `k` the group publishes in `GroupStep.neighbours` (0: none). `lives` is how
    many times an agent slot may be alive within one episode (more than 1 when agents respawn); the PettingZoo
    views give each life its own agent name.
    """

    agents: tuple[str, ...]
    observation_space: gym.spaces.Box | gym.spaces.Dict
    action_space: gym.spaces.Space
    neighbours: int = 0
    lives: int = 1

    def __post_init__(self) -> None:
        if len(self.agents) == 0:
            raise ValueError("a group needs at least one agent")
        space = self.observation_space
        if isinstance(space, gym.spaces.Dict):
            if not space.spaces:
                raise TypeError("a Dict observation space needs at least one key")
            nested = {k: s for k, s in space.spaces.items() if not isinstance(s, gym.spaces.Box)}
            if nested:
                raise TypeError(f"every value of a Dict observation space must be a Box, got {nested}")
        elif not isinstance(space, gym.spaces.Box):
            raise TypeError(
                f"observation spaces must be gymnasium Box or Dict (of Box) spaces, got {space!r}"
            )
        if not isinstance(self.action_space, (gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.Box)):
            raise TypeError(
                f"action spaces must be Discrete, MultiDiscrete or Box, got {self.action_space!r}"
            )
        for name in ("neighbours", "lives"):
            value, least = getattr(self, name), 0 if name == "neighbours" else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"GroupSpec.{name} must be an int >= {least}, got {value!r}")
        object.__setattr__(self, "agents", tuple(self.agents))

    @property
    def n(self) -> int:
        return len(self.agents)

    def action_tensors(self, device: torch.device) -> dict[str, Tensor]:
        """The action space's constants as tensors on `device`, made once per device so that checking and
        sampling actions copies nothing to the device per step: `nvec` and `offsets` (where each component
        starts in the flat mask) for MultiDiscrete, `low` and `high` (float32) for Box."""
        cache = self.__dict__.setdefault("_action_tensors", {})  # a frozen dataclass: write the dict directly
        key = str(device)
        if key not in cache:
            space = self.action_space
            if isinstance(space, gym.spaces.MultiDiscrete):
                offsets = np.concatenate([[0], np.cumsum(space.nvec)[:-1]])
                values = {"nvec": space.nvec, "offsets": offsets}
            elif isinstance(space, gym.spaces.Box):
                values = {"low": space.low.astype(np.float32), "high": space.high.astype(np.float32)}
            else:
                values = {}
            cache[key] = {name: torch.as_tensor(v, device=device) for name, v in values.items()}
        return cache[key]

    @property
    def action_mask_size(self) -> int | None:
        """Width of the group's action mask: A for Discrete(A), sum(nvec) for MultiDiscrete; None for Box."""
        space = self.action_space
        if isinstance(space, gym.spaces.Discrete):
            return int(space.n)
        if isinstance(space, gym.spaces.MultiDiscrete):
            return int(np.sum(space.nvec))
        return None


Observation = Tensor | dict[str, Tensor]


def obs_size(space: gym.spaces.Box | gym.spaces.Dict) -> int:
    """Number of values in one agent's observation (summed over the keys of a Dict space)."""
    if isinstance(space, gym.spaces.Dict):
        return sum(int(np.prod(s.shape)) for s in space.spaces.values())
    return int(np.prod(space.shape))


def flatten_obs(obs: Observation, batch_dims: int = 2) -> Tensor:
    """One observation as a flat float vector per agent: `[*batch, F]`, the keys of a dict in their order."""
    if isinstance(obs, Tensor):
        return obs.flatten(batch_dims).float()
    parts = [value.flatten(batch_dims).float() for value in obs.values()]
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)


def map_obs(obs: Any, fn: Callable[[Any], Any]) -> Any:
    """Apply `fn` to an observation, or to every field of a dict observation (tensors or numpy arrays)."""
    return {k: fn(v) for k, v in obs.items()} if isinstance(obs, dict) else fn(obs)


def agent_names(prefix: str, n: int) -> tuple[str, ...]:
    """`agent_names("agent", 3) == ("agent_0", "agent_1", "agent_2")`."""
    return tuple(f"{prefix}_{i}" for i in range(n))


@dataclass
class GroupStep:
    """What one group of agents sees after a reset or a step; every tensor is `[num_envs, n_group, ...]`.

    For a copy whose episode ended at this step (`Step.done`), `reward` and `terminated` belong to the ended
    episode's last transition while `obs`, `alive`, `joined`, `action_mask` and `neighbours` already belong to
    the new episode. `joined` marks agents that became alive at this step within a running episode
    (respawns, reinforcements): a learner starts a new sequence for them, as for every agent of a done copy.
    """

    obs: Observation
    reward: Tensor
    terminated: Tensor
    alive: Tensor
    joined: Tensor
    action_mask: Tensor | None = None
    neighbours: Neighbours | None = None


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
    final_obs: dict[str, Observation] | None = None
    final_state: Tensor | None = None
    info: dict[str, Tensor] = field(default_factory=dict)

    def __getitem__(self, group: str) -> GroupStep:
        return self.groups[group]


class BatchedEnv:
    """Base class of every environment: `num_envs` copies as tensors on `device`.

    Subclasses call `super().__init__(groups=..., state_space=..., ...)` once their own attributes are set,
    then implement:

    - `_reset(mask)`: re-initialise the copies where `mask [B]` is True (draw from `self.generator`); every
      agent slot of those copies is alive unless `_reset` sets `self.alive[group][mask]` entries to False
      (slots that start empty);
    - `_step(actions)`: advance every copy; return `{group: (reward [B, n], terminated [B, n])}`, or
      `(reward, terminated, joined [B, n])` for groups whose agents (re)join within an episode;
    - `_observe()`: `{group: obs}` for the current state, obs `[B, n, *shape]` or a dict of such tensors;
    - optionally `_state()`, `_action_mask()`, `_neighbours()`, `_truncated()`, `_episode_stats()`,
      `_render(index)`.

    Each of `_observe`, `_state`, `_action_mask` and `_neighbours` is called once per `reset` / `step`
    (twice at a step where some copy ended: for the final and for the first observation), so environments
    need no caches of their own for them.
    """

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 10}
    # False for environments whose resets and rules draw no randomness (a fixed layout and start): then two
    # seeds give the same trajectory under the same actions, and the conformance suite expects no difference
    random_dynamics: bool = True
    # True for wrappers of external, unbatched environments (one instance per copy, stepped in a Python loop on
    # the host whatever `device` is): the conformance suite skips its batched-operations and device checks
    external_copies: bool = False
    # the step machinery's own methods: a subclass method of the same name would silently replace a part of
    # every step (as an environment's private `_view` once did), so defining one is refused at class creation
    _machinery = ("_advance", "_view", "_episode_info", "_assemble", "_observe_with_state")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        clashes = [name for name in BatchedEnv._machinery if name in vars(cls)]
        if clashes:
            raise TypeError(
                f"{cls.__name__} defines {', '.join(clashes)}: these names belong to BatchedEnv's step machinery; "
                "rename the method (environments implement _reset, _step, _observe and the optional hooks)"
            )

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
            size = sum(spec.n * obs_size(spec.observation_space) for spec in groups.values())
            state_space = gym.spaces.Box(-np.inf, np.inf, (size,), np.float32)
        self.state_space: gym.spaces.Box = state_space
        self.generator = torch.Generator(device=self.device)
        self.seed(seed)
        B = num_envs
        self.elapsed = torch.zeros(B, dtype=torch.long, device=self.device)
        self.alive = {g: torch.ones(B, s.n, dtype=torch.bool, device=self.device) for g, s in groups.items()}
        self._ever_alive = {g: a.clone() for g, a in self.alive.items()}
        self._episode_return = {g: torch.zeros(B, s.n, device=self.device) for g, s in groups.items()}
        self._has_reset = False
        self.compiled = False  # True once `compile()` routes the per-step work through torch.compile
        self._advance_fn, self._view_fn, self._info_fn = self._advance, self._view, self._episode_info

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

    def observation_space(self, agent: str) -> gym.spaces.Box | gym.spaces.Dict:
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
        for g in self.group_specs:
            self._ever_alive[g].copy_(self.alive[g])
        self._has_reset = True
        zeros_b = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        rewards = {
            g: torch.zeros(self.num_envs, s.n, device=self.device) for g, s in self.group_specs.items()
        }
        no_change = {g: torch.zeros_like(self.alive[g]) for g in self.group_specs}
        return self._assemble(
            rewards, no_change, no_change, truncated=zeros_b, done=zeros_b, view=self._view_fn()
        )

    def step(self, actions: dict[str, Tensor]) -> Step:
        """Advance every copy by one step, then reset (masked, vectorised) the copies whose episode ended."""
        if not self._has_reset:
            raise RuntimeError("call reset() before step()")
        actions = self._check_actions(actions) if self.validate_actions else actions
        rewards, terminated, joined, truncated, done, view = self._advance_fn(actions)
        # On CPU, knowing whether an episode ended is free: without one, the step's observation is also the
        # "final" one and statistics are skipped. On an accelerator that would cost a host sync, so the
        # final observation and the statistics are computed every step there.
        if self.device.type == "cpu" and not bool(done.any()):
            return self._assemble(rewards, terminated, joined, truncated=truncated, done=done, view=view)
        info = self._info_fn()
        # masked, vectorised auto-reset of the ended copies (`_reset` may clear alive slots of those copies);
        # it stays eager when compiled: resets draw from `self.generator`, which torch.compile cannot trace
        for g in self.group_specs:
            self.alive[g] |= done[:, None]
        self._reset(done)
        self.elapsed.masked_fill_(done, 0)
        for g in self.group_specs:
            self._episode_return[g].masked_fill_(done[:, None], 0.0)
            self._ever_alive[g] = torch.where(done[:, None], self.alive[g], self._ever_alive[g])
            joined[g] &= ~done[:, None]
        return self._assemble(
            rewards,
            terminated,
            joined,
            truncated=truncated,
            done=done,
            view=self._view_fn(),
            final=(view[0], view[1], info),
        )

    def compile(
        self,
        *,
        backend: str = "inductor",
        mode: str | None = None,
        fullgraph: bool = False,
        options: dict[str, Any] | None = None,
    ) -> BatchedEnv:
        """Run the per-step work through `torch.compile` from now on; returns the environment itself.

        Compiled: the rules, the bookkeeping and the observations, state, action masks and neighbours of a step
        (one graph when the environment has no graph breaks), and the episode statistics. The masked reset stays
        eager (it draws from `self.generator`). The eager path is the reference: a compiled copy gives the same
        trajectories (the conformance suite checks it). `backend`, `mode` and `options` are torch.compile's
        (`mode="reduce-overhead"` replays CUDA graphs on a GPU: untested so far); `fullgraph=True` raises at the
        first graph break instead of running that part eagerly. Each environment compiles its own graphs, at its
        first steps."""
        settings = {"backend": backend, "mode": mode, "fullgraph": fullgraph, "dynamic": False}
        if options is not None:  # torch.compile takes a mode or inductor options, not both
            settings["options"] = options
        self._advance_fn = compile_method(self._advance, **settings)
        self._view_fn = compile_method(self._view, **settings)
        self._info_fn = compile_method(self._episode_info, **settings)
        self.compiled = True
        return self

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

    def render_grid(
        self, indices: list[int] | None = None, columns: int | None = None, border: int = 0
    ) -> np.ndarray:
        """Several copies tiled into one image (for rollout videos of a batch), with `border` grey pixels
        between them (videos use some, so that four small maps never read as one large one)."""
        indices = list(range(min(self.num_envs, 4))) if indices is None else list(indices)
        if not indices:
            raise ValueError("render_grid needs at least one copy index")
        frames = [self.render(i) for i in indices]
        columns = columns or int(np.ceil(np.sqrt(len(frames))))
        rows = int(np.ceil(len(frames) / columns))
        h, w, _ = frames[0].shape
        grid = np.full(
            (rows * (h + border) - border, columns * (w + border) - border, 3), 128, dtype=np.uint8
        )
        for k, frame in enumerate(frames):
            top, left = (k // columns) * (h + border), (k % columns) * (w + border)
            grid[top : top + h, left : left + w] = frame
        return grid

    def close(self) -> None:
        """Release rendering resources; the tensors go with the object."""

    # ------------------------------------------------------------------ what subclasses implement
    def _reset(self, mask: Tensor) -> None:
        raise NotImplementedError

    def _step(self, actions: dict[str, Tensor]) -> dict[str, tuple[Tensor, ...]]:
        raise NotImplementedError

    def _observe(self) -> dict[str, Observation]:
        raise NotImplementedError

    def _state(self) -> Tensor | None:
        """Global state `[B, S]` for centralised critics; None (the default): every agent's observation,
        flattened and concatenated in group order."""
        return None

    def _action_mask(self) -> dict[str, Tensor] | None:
        """`{group: bool [B, n, A]}` (True = legal) for Discrete(A) action spaces, `bool [B, n, sum(nvec)]`
        (the components' masks concatenated) for MultiDiscrete ones; None, or a missing group: all legal."""
        return None

    def _neighbours(self) -> dict[str, Neighbours]:
        """`{group: Neighbours}` for the groups whose spec publishes neighbours (`GroupSpec.neighbours > 0`)."""
        return {}

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
    def _observe_with_state(self) -> tuple[dict[str, Observation], Tensor]:
        """The observations and the global state of the current state, each computed once."""
        obs = self._observe()
        state = self._state()
        if state is None:
            parts = [flatten_obs(obs[g]).reshape(self.num_envs, -1) for g in self.group_specs]
            state = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        return obs, state

    def _episode_info(self) -> dict[str, Tensor]:
        """Episode statistics: the mean return over the agent slots that were alive at some point."""

        def mean_over_present(returns: Tensor, present: Tensor) -> Tensor:
            present = present.float()
            return (returns * present).sum(1) / present.sum(1).clamp(min=1)

        returns = torch.cat([self._episode_return[g] for g in self.group_specs], dim=1)
        present = torch.cat([self._ever_alive[g] for g in self.group_specs], dim=1)
        info = {
            "episode_return": mean_over_present(returns, present),
            "episode_length": self.elapsed.float(),
        }
        if len(self.group_specs) > 1:
            for g in self.group_specs:
                info[f"episode_return/{g}"] = mean_over_present(self._episode_return[g], self._ever_alive[g])
        for name, value in self._episode_stats().items():
            info[name] = value.float()
        return info

    def _advance(self, actions: dict[str, Tensor]) -> tuple:
        """The rules of one step and their bookkeeping, then the view of the state they reached:
        `(rewards, terminated, joined, truncated, done, view)`, each per group a dict; nothing here reads a
        tensor's value on the host, so torch.compile traces it whole when the environment's hooks allow."""
        out = self._step(actions)
        self.elapsed += 1
        rewards, terminated, joined = {}, {}, {}
        all_dead = torch.ones(self.num_envs, dtype=torch.bool, device=self.device)
        for g in self.group_specs:
            reward, term, *join = out[g]
            was_alive = self.alive[g]
            rewards[g] = torch.where(was_alive, reward.float(), 0.0)
            terminated[g] = term.bool() & was_alive
            still_alive = was_alive & ~terminated[g]
            # joining an agent that is still alive means nothing: only empty slots join
            joined[g] = join[0].bool() & ~still_alive if join else torch.zeros_like(was_alive)
            self.alive[g] = still_alive | joined[g]
            self._ever_alive[g] |= joined[g]
            self._episode_return[g] += rewards[g]
            all_dead &= ~self.alive[g].any(dim=1)
        truncated = self._truncated() & ~all_dead
        if self.max_steps is not None:
            truncated |= (self.elapsed >= self.max_steps) & ~all_dead
        done = all_dead | truncated
        return rewards, terminated, joined, truncated, done, self._view()

    def _view(self) -> tuple:
        """What the agents see of the current state: `(obs, state, action masks, neighbours, alive)`."""
        obs, state = self._observe_with_state()
        masks = self._action_mask() or {}
        neighbours = self._neighbours() if any(s.neighbours for s in self.group_specs.values()) else {}
        alive = {g: a.clone() for g, a in self.alive.items()}
        return obs, state, masks, neighbours, alive

    def _assemble(self, rewards, terminated, joined, *, truncated, done, view, final=None) -> Step:
        obs, state, masks, neighbours, alive = view
        groups = {
            g: GroupStep(
                obs=obs[g],
                reward=rewards[g],
                terminated=terminated[g],
                alive=alive[g],
                joined=joined[g],
                action_mask=masks.get(g),
                neighbours=neighbours.get(g),
            )
            for g in self.group_specs
        }
        step = Step(groups=groups, state=state, truncated=truncated, done=done)
        if final is None:
            step.final_obs, step.final_state = obs, state
        else:
            step.final_obs, step.final_state, step.info = final
        return step

    def _check_actions(self, actions: dict[str, Tensor]) -> dict[str, Tensor]:
        """Check every group's actions; all value checks are reduced into one flag read once (one host
        sync per step on an accelerator), and only on failure is the offending agent looked up."""
        if not isinstance(actions, dict):
            raise TypeError(f"actions must be a dict {{group: tensor}}, got {type(actions).__name__}")
        missing = [g for g in self.group_specs if g not in actions]
        extra = [g for g in actions if g not in self.group_specs]
        if missing or extra:
            raise KeyError(
                f"actions must have exactly the groups {self.group_names}; missing {missing}, unexpected {extra}"
            )
        masks = self._action_mask() or {}
        checked, problems = {}, []
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
            checked[g] = _check_action_layout(g, spec, a, self.num_envs)
            for bad, what in _action_problems(spec, checked[g], masks.get(g), self.alive[g]):
                problems.append((g, spec, a, bad, what))
        if problems and bool(torch.stack([bad.any() for *_, bad, _ in problems]).any()):
            for g, spec, a, bad, what in problems:
                if bool(bad.any()):
                    b, i = (int(x) for x in bad.nonzero()[0][:2])
                    raise ValueError(
                        f"group {g!r}: action of agent {spec.agents[i]!r} in copy {b} is {a[b, i].tolist()}, "
                        f"{what}"
                    )
        return checked


def compile_method(method: Callable, **settings: Any) -> Callable:
    """`torch.compile(method, **settings)` on a private copy of the method's code object. torch.compile keeps
    compiled graphs per code object, a limited number of them shared by every caller; a copy per object keeps
    the graphs of one environment (or collector) from crowding out another's."""
    fn = getattr(method, "__func__", method)
    clone = types.FunctionType(
        fn.__code__.replace(), fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__
    )
    bound = types.MethodType(clone, method.__self__) if hasattr(method, "__self__") else clone
    return torch.compile(bound, **settings)


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
            actions[g] = _sample_discrete(int(space.n), shape, masks.get(g), generator, device) + int(
                space.start
            )
        elif isinstance(space, gym.spaces.MultiDiscrete):
            sizes = [int(k) for k in space.nvec]
            mask = masks.get(g)
            parts = [None] * len(sizes) if mask is None else mask.split(sizes, dim=-1)
            actions[g] = torch.stack(
                [_sample_discrete(k, shape, m, generator, device) for k, m in zip(sizes, parts, strict=True)],
                dim=-1,
            )
        else:
            bounds = spec.action_tensors(device)
            low, high = bounds["low"], bounds["high"]
            u = torch.rand(*shape, *space.shape, generator=generator, device=device)
            actions[g] = low + u * (high - low)
    return actions


def _sample_discrete(
    n: int, shape: tuple[int, ...], mask: Tensor | None, generator: torch.Generator, device: torch.device
) -> Tensor:
    """Uniform indices in [0, n) of `shape`; under `mask [*shape, n]`, uniform over the legal ones (a row
    with no legal entry, e.g. a dead agent's, is uniform over all)."""
    if mask is None:
        return torch.randint(n, shape, generator=generator, device=device)
    # the largest of independent uniform keys among the legal entries (one draw per entry; several times faster
    # than torch.multinomial row by row)
    mask = mask.reshape(*shape, n)
    legal = mask | ~mask.any(-1, keepdim=True)
    keys = torch.rand(*shape, n, generator=generator, device=device)
    return keys.masked_fill_(~legal, -1.0).argmax(-1)


def _check_action_layout(group: str, spec: GroupSpec, a: Tensor, num_envs: int) -> Tensor:
    """Shape and dtype of one group's actions (checked on the host, no sync); the actions cast for `_step`."""
    space = spec.action_space
    if isinstance(space, gym.spaces.Discrete):
        expected, integer_space = (num_envs, spec.n), True
    elif isinstance(space, gym.spaces.MultiDiscrete):
        expected, integer_space = (num_envs, spec.n, len(space.nvec)), True
    else:
        expected, integer_space = (num_envs, spec.n, *space.shape), False
    if tuple(a.shape) != expected:
        raise ValueError(
            f"group {group!r}: actions have shape {tuple(a.shape)}, expected {expected} "
            f"([num_envs, n_agents{', ...' if len(expected) > 2 else ''}]) for {space}"
        )
    integer = not a.is_floating_point() and not a.is_complex() and a.dtype != torch.bool
    if integer_space != integer or a.dtype == torch.bool:
        kind = "an integer" if integer_space else "a floating"
        raise TypeError(f"group {group!r}: actions have dtype {a.dtype}, expected {kind} dtype for {space}")
    return a.long() if integer_space else a.float()


def _action_problems(
    spec: GroupSpec, a: Tensor, mask: Tensor | None, alive: Tensor
) -> list[tuple[Tensor, str]]:
    """`(bad [B, n], what is wrong)` for each value check of one group's actions, as tensors (no sync)."""
    space = spec.action_space
    if isinstance(space, gym.spaces.Discrete):
        lo, hi = int(space.start), int(space.start) + int(space.n)
        out_of_range = (a < lo) | (a >= hi)
        problems = [(out_of_range, f"outside {space} (expected {lo} <= action < {hi})")]
        if mask is not None:
            index = (a - lo).clamp(0, int(space.n) - 1)
            legal = mask.gather(2, index.unsqueeze(-1)).squeeze(-1)
            problems.append((~legal & alive & ~out_of_range, "illegal under the action mask"))
        return problems
    if isinstance(space, gym.spaces.MultiDiscrete):
        constants = spec.action_tensors(a.device)
        nvec = constants["nvec"]
        out_of_range = ((a < 0) | (a >= nvec)).any(-1)
        problems = [(out_of_range, f"outside {space} (expected 0 <= action < {space.nvec.tolist()})")]
        if mask is not None:
            index = (a.clamp(min=0).minimum(nvec - 1) + constants["offsets"]).long()
            legal = mask.gather(2, index).all(-1)
            problems.append(
                (~legal & alive & ~out_of_range, "illegal under the action mask (of some component)")
            )
        return problems
    bounds = spec.action_tensors(a.device)
    low, high = bounds["low"], bounds["high"]
    flat = a.reshape(*a.shape[:2], -1)
    return [
        ((~torch.isfinite(flat)).any(-1), "not finite"),
        (
            ((a < low) | (a > high)).reshape(*a.shape[:2], -1).any(-1),
            f"outside the bounds of {space} (low {space.low.tolist()}, high {space.high.tolist()})",
        ),
    ]
