"""The PettingZoo bridge, both ways.

- `to_parallel(env, index)` / `to_aec(env, index)`: a `pettingzoo.ParallelEnv` (or, through PettingZoo's own
  `parallel_to_aec`, an `AECEnv`) view of one copy of a `marl.BatchedEnv`, so PettingZoo tools and code run on
  our environments.
- `from_pettingzoo(env_fn, num_envs)`: any external `ParallelEnv` factory wrapped into the batched contract, so
  every algorithm of the suite trains on it unchanged. It holds `num_envs` external instances and steps them in
  a Python loop: the external environments are not batched, so neither is this wrapper's speed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.logger import warn as gym_warn
from pettingzoo import AECEnv, ParallelEnv
from pettingzoo.utils.conversions import parallel_to_aec
from torch import Tensor

from marl.core.env import BatchedEnv, GroupSpec, Step, map_obs

RENDER_MODES = ("rgb_array", "human")
ILLEGAL_ACTIONS = ("raise", "resample")


# ====================================================================== our env -> PettingZoo
class ParallelView(ParallelEnv):
    """A `pettingzoo.ParallelEnv` view of copy `index` of a `BatchedEnv` (see `to_parallel`)."""

    def __init__(
        self,
        env: BatchedEnv,
        index: int = 0,
        render_mode: str | None = None,
        illegal_actions: str = "raise",
    ) -> None:
        if not isinstance(env, BatchedEnv):
            raise TypeError(f"to_parallel needs a marl.BatchedEnv, got {type(env).__name__}")
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < env.num_envs:
            raise IndexError(f"copy index {index!r} out of range for num_envs={env.num_envs}")
        if render_mode is not None and render_mode not in RENDER_MODES:
            raise ValueError(f"render_mode must be one of {RENDER_MODES} or None, got {render_mode!r}")
        if illegal_actions not in ILLEGAL_ACTIONS:
            raise ValueError(f"illegal_actions must be one of {ILLEGAL_ACTIONS}, got {illegal_actions!r}")
        self.env, self.index = env, index
        self.render_mode, self.illegal_actions = render_mode, illegal_actions
        self.metadata = {
            "render_modes": list(RENDER_MODES),
            "render_fps": env.metadata.get("render_fps", 10),
            "name": f"{type(env).__name__}[{index}]",
            "is_parallelizable": True,
        }
        # each life of an agent slot is its own PettingZoo agent: "agent_3", then "agent_3#1", "agent_3#2", ...
        self._lives = {
            a: [a] + [f"{a}#{k}" for k in range(1, spec.lives)]
            for spec in env.group_specs.values()
            for a in spec.agents
        }
        self._slot_of = {name: a for a, names in self._lives.items() for name in names}
        self.possible_agents = [name for names in self._lives.values() for name in names]
        self._life: dict[str, int] = {}  # the current life of each slot in this episode
        self._finished: set[str] = set()  # slots whose current life has ended
        self.agents: list[str] = []
        self.state_space = env.state_space
        self._obs: dict[str, np.ndarray] = {}  # this copy's current observations, per agent
        self._masks: dict[str, np.ndarray] = {}  # this copy's current action masks (int8), per agent
        self._state: np.ndarray | None = None
        self._window = None

    # ------------------------------------------------------------------ spaces
    def observation_space(self, agent: str) -> gym.spaces.Box | gym.spaces.Dict:
        return self.env.observation_space(self._slot(agent))

    def action_space(self, agent: str) -> gym.spaces.Space:
        return self.env.action_space(self._slot(agent))

    # ------------------------------------------------------------------ the Parallel API
    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
        """Reset the whole batch (every copy) and show copy `index`; `seed` goes to `env.reset(seed=...)`.

        `options` is accepted for the PettingZoo signature; the batched contract has no reset options.
        """
        step = self.env.reset(seed=seed)
        self._read(step, ended=False)
        self._life = dict.fromkeys(self._lives, 0)
        self._finished = set()
        self.agents = [self._name(a) for a in self._lives if self._alive(step, a)]
        if self.render_mode == "human":
            self.render()
        return {a: self._obs[a] for a in self.agents}, {a: self._info(a) for a in self.agents}

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        """Step the batch: copy `index` takes `actions`; every other copy takes `env.sample_actions()`."""
        if not self.agents:
            raise RuntimeError(
                "no agent is active in this copy: call reset() first (after an episode ends, agents is empty)"
            )
        acting = [self._slot(name) for name in self.agents]
        chosen = {self._slot(name): action for name, action in self._check_actions(actions).items()}
        illegal = [a for a in acting if not self._is_legal(a, chosen[a])]
        if illegal and self.illegal_actions == "raise":
            a = illegal[0]
            raise ValueError(
                f"action {chosen[a].tolist()} of agent {self._name(a)!r} is illegal under its action mask "
                f"(infos[{self._name(a)!r}]['action_mask'])"
            )
        step = self.env.step(self._batch(chosen, illegal))
        ended = bool(step.done[self.index])
        self._read(step, ended=ended)
        truncated = bool(step.truncated[self.index])
        # agents that (re)joined this copy's running episode enter `agents` as new PettingZoo agents
        joining = [] if ended else [a for a in self._lives if a not in acting and self._alive(step, a)]
        for a in joining:
            if a in self._finished:
                self._finished.discard(a)
                self._life[a] += 1
                if self._life[a] >= len(self._lives[a]):
                    raise RuntimeError(
                        f"agent slot {a!r} came back for life {self._life[a] + 1}, but its group declares "
                        f"GroupSpec.lives={len(self._lives[a])}"
                    )
        observations, rewards, terminations, truncations, infos = {}, {}, {}, {}, {}
        for a in acting + joining:
            g, j, name = self.env.group_of(a), self.env.index_in_group(a), self._name(a)
            observations[name] = self._obs[a]
            rewards[name] = float(step[g].reward[self.index, j]) if a in acting else 0.0
            terminations[name] = bool(step[g].terminated[self.index, j]) and a in acting
            truncations[name] = truncated
            infos[name] = self._info(a)
            if a in illegal:
                infos[name]["illegal_action_replaced"] = True
        self._finished |= {a for a in acting if terminations[self._name(a)]}
        self.agents = [] if ended else [self._name(a) for a in self._lives if self._alive(step, a)]
        if self.render_mode == "human":
            self.render()
        return observations, rewards, terminations, truncations, infos

    def state(self) -> np.ndarray:
        """The global state of this copy (the final state once its episode has ended)."""
        if self._state is None:
            raise RuntimeError("call reset() before state()")
        return self._state

    def render(self) -> np.ndarray | None:
        """An RGB array `uint8 [H, W, 3]` of this copy for "rgb_array"; draws a pygame window for "human"."""
        if self.render_mode is None:
            gym_warn("You are calling render method without specifying any render mode.")
            return None
        frame = self.env.render(self.index)
        if self.render_mode == "rgb_array":
            return frame
        self._show(frame)
        return None

    def close(self) -> None:
        if self._window is not None:
            import pygame

            pygame.display.quit()
            self._window = None
        self.env.close()

    # ------------------------------------------------------------------ internals
    def _read(self, step: Step, *, ended: bool) -> None:
        """Copy this copy's row out of `step` (the kept final observation and state if its episode ended)."""
        i = self.index
        obs = step.final_obs if ended else {g: gs.obs for g, gs in step.groups.items()}
        for g, spec in self.env.group_specs.items():
            space = spec.observation_space
            if isinstance(space, gym.spaces.Dict):
                fields = {k: obs[g][k][i].detach().cpu().numpy().astype(s.dtype) for k, s in space.items()}
                rows = [{k: v[j] for k, v in fields.items()} for j in range(spec.n)]
            else:
                rows = obs[g][i].detach().cpu().numpy().astype(space.dtype)
            mask = step[g].action_mask
            mask_rows = None if ended or mask is None else mask[i].detach().cpu().numpy().astype(np.int8)
            for j, a in enumerate(spec.agents):
                self._obs[a] = rows[j]
                if mask_rows is None:
                    self._masks.pop(a, None)
                else:
                    self._masks[a] = mask_rows[j]
        state = step.final_state if ended else step.state
        self._state = state[i].detach().cpu().numpy().astype(self.state_space.dtype)

    def _alive(self, step: Step, slot: str) -> bool:
        return bool(step[self.env.group_of(slot)].alive[self.index, self.env.index_in_group(slot)])

    def _slot(self, agent: str) -> str:
        """The environment's agent slot behind a PettingZoo agent name (one name per life)."""
        if agent not in self._slot_of:
            raise KeyError(f"unknown agent {agent!r}; this view has {self.possible_agents}")
        return self._slot_of[agent]

    def _name(self, slot: str) -> str:
        """The PettingZoo name of a slot's current life."""
        return self._lives[slot][self._life.get(slot, 0)]

    def _info(self, slot: str) -> dict[str, Any]:
        """`action_mask` as gymnasium's `sample(mask)` takes it: an int8 array for Discrete, a tuple of
        int8 arrays (one per component) for MultiDiscrete."""
        if slot not in self._masks:
            return {}
        mask, space = self._masks[slot], self.env.action_space(slot)
        if isinstance(space, gym.spaces.MultiDiscrete):
            return {"action_mask": tuple(np.split(mask, np.cumsum(space.nvec)[:-1]))}
        return {"action_mask": mask}

    def _check_actions(self, actions: dict[str, Any]) -> dict[str, np.ndarray]:
        if not isinstance(actions, dict):
            raise TypeError(f"actions must be a dict {{agent: action}}, got {type(actions).__name__}")
        unknown = [a for a in actions if a not in self.possible_agents]
        finished = [a for a in actions if a in self.possible_agents and a not in self.agents]
        missing = [a for a in self.agents if a not in actions]
        if unknown or finished or missing:
            raise KeyError(
                f"actions must have exactly the active agents {self.agents}; missing {missing}, "
                f"unknown {unknown}, no longer active {finished}"
            )
        return {a: _agent_action(a, self.action_space(a), actions[a]) for a in self.agents}

    def _is_legal(self, slot: str, action: np.ndarray) -> bool:
        if slot not in self._masks:
            return True
        space, mask = self.env.action_space(slot), self._masks[slot]
        if isinstance(space, gym.spaces.MultiDiscrete):
            offsets = np.concatenate([[0], np.cumsum(space.nvec)[:-1]])
            return bool(mask[offsets + action].all())
        return bool(mask[int(action) - int(space.start)])

    def _batch(self, chosen: dict[str, np.ndarray], illegal: list[str]) -> dict[str, Tensor]:
        """The batched actions: ours in row `index` (a placeholder for finished agents), random elsewhere."""
        env = self.env
        sampled = env.sample_actions() if env.num_envs > 1 or illegal else None
        batch = {}
        for g, spec in env.group_specs.items():
            dtype = torch.float32 if isinstance(spec.action_space, gym.spaces.Box) else torch.long
            row = []
            for j, a in enumerate(spec.agents):
                if a in illegal:
                    row.append(sampled[g][self.index, j].to(dtype))
                else:
                    action = chosen.get(a, _placeholder(spec.action_space))
                    row.append(torch.as_tensor(action, dtype=dtype, device=env.device))
            row = torch.stack(row)
            if sampled is None:
                batch[g] = row[None]
            else:
                batch[g] = sampled[g].to(dtype).clone()
                batch[g][self.index] = row
        return batch

    def _show(self, frame: np.ndarray) -> None:
        import pygame

        if self._window is None:
            pygame.display.init()
            pygame.display.set_caption(self.metadata["name"])
            self._window = pygame.display.set_mode(frame.shape[1::-1])
            self._clock = pygame.time.Clock()
        self._window.blit(pygame.surfarray.make_surface(frame.transpose(1, 0, 2)), (0, 0))
        pygame.event.pump()
        pygame.display.flip()
        self._clock.tick(self.metadata["render_fps"])


def _agent_action(agent: str, space: gym.spaces.Space, action: Any) -> np.ndarray:
    """One agent's action as a numpy value of the right kind and shape, or a clear error."""
    arr = np.asarray(action)
    if isinstance(space, (gym.spaces.Discrete, gym.spaces.MultiDiscrete)):
        expected, kinds, what = space.shape, "iu", "integer"
    else:
        expected, kinds, what = space.shape, "iuf", "numeric"
    if arr.dtype.kind not in kinds:
        raise TypeError(f"action of agent {agent!r} must be {what} for {space}, got {action!r} ({arr.dtype})")
    if arr.shape != tuple(expected):
        raise ValueError(
            f"action of agent {agent!r} has shape {arr.shape}, expected {tuple(expected)} for {space}"
        )
    if isinstance(space, gym.spaces.Discrete) and not space.start <= int(arr) < space.start + space.n:
        raise ValueError(
            f"action {int(arr)} of agent {agent!r} is outside {space} "
            f"(expected {space.start} <= action < {space.start + space.n})"
        )
    return arr


def _placeholder(space: gym.spaces.Space) -> np.ndarray:
    """A legal action for an agent that has finished (the contract ignores it)."""
    if isinstance(space, gym.spaces.Discrete):
        return np.asarray(space.start)
    if isinstance(space, gym.spaces.MultiDiscrete):
        return np.zeros(space.shape, dtype=np.int64)
    return np.clip(np.zeros(space.shape, dtype=np.float32), space.low, space.high)


def to_parallel(
    env: BatchedEnv, index: int = 0, render_mode: str | None = None, illegal_actions: str = "raise"
) -> ParallelView:
    """A `pettingzoo.ParallelEnv` view of copy `index` of `env`.

    Observations are numpy arrays of the observation space's dtype, keyed by agent name; action masks are in
    `infos[agent]["action_mask"]` (int8). Agents that terminate leave `agents` after that step; when the copy's
    episode ends `agents` is empty and the returned observations are the ended episode's final ones.
    `reset` and `step` drive the whole batch: the other copies take random legal actions
    (`env.sample_actions()`). `illegal_actions="resample"` replaces an action that the mask forbids by a
    random legal one (flagged in `infos[agent]["illegal_action_replaced"]`) instead of raising; PettingZoo's
    parallel test utilities sample actions without reading masks from infos and need it.
    """
    return ParallelView(env, index, render_mode, illegal_actions)


def to_aec(
    env: BatchedEnv, index: int = 0, render_mode: str | None = None, illegal_actions: str = "raise"
) -> AECEnv:
    """A `pettingzoo.AECEnv` view of copy `index` of `env`, through PettingZoo's own `parallel_to_aec`."""
    return parallel_to_aec(to_parallel(env, index, render_mode, illegal_actions))


# ====================================================================== PettingZoo -> our env
class PettingZooEnv(BatchedEnv):
    """`num_envs` instances of an external `pettingzoo.ParallelEnv` behind the batched contract.

    `copy_seeds[b]` is the seed copy b's external instance was last reset with (drawn from `self.generator`),
    so a copy can be replayed in the raw environment.
    """

    external_copies = True

    def __init__(
        self,
        env_fn: Callable[[], ParallelEnv],
        num_envs: int = 1,
        device: str | torch.device = "cpu",
        seed: int | None = None,
        groups: dict[str, list[str]] | None = None,
        max_steps: int | None = None,
    ) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive int, got {num_envs!r}")
        self.envs = [_external(env_fn) for _ in range(num_envs)]
        first = self.envs[0]
        agents = list(first.possible_agents)
        for other in self.envs[1:]:
            if list(other.possible_agents) != agents:
                raise ValueError(
                    f"env_fn built instances with different possible_agents: {agents} and {other.possible_agents}"
                )
        members = _check_groups(groups, agents) if groups is not None else _infer_groups(agents)
        specs, self._mask_keys = {}, {}
        for g, names in members.items():
            obs_space, self._mask_keys[g] = _observation_box(first, names[0])
            act_space = first.action_space(names[0])
            for a in names[1:]:
                other_obs, _ = _observation_box(first, a)
                if other_obs != obs_space or first.action_space(a) != act_space:
                    raise ValueError(
                        f"agents {names[0]!r} and {a!r} of group {g!r} have different spaces "
                        f"(observation {obs_space} vs {other_obs}, action {act_space} vs {first.action_space(a)}); "
                        "agents of a group must have identical spaces: pass groups={group: [agent names]}"
                    )
            try:
                specs[g] = GroupSpec(tuple(names), obs_space, act_space)
            except TypeError as err:
                raise TypeError(f"agent {names[0]!r} (group {g!r}): {err}") from err
        self._has_state = hasattr(first, "state_space")
        state_space = first.state_space if self._has_state else None
        if self._has_state and not isinstance(state_space, gym.spaces.Box):
            raise TypeError(f"the external state_space must be a gymnasium Box, got {state_space!r}")
        super().__init__(
            groups=specs,
            num_envs=num_envs,
            device=device,
            seed=seed,
            max_steps=max_steps,
            state_space=state_space,
        )
        B = num_envs
        self.copy_seeds = [None] * B
        self._obs_np = {
            g: _map_space(s.observation_space, lambda box, n=s.n: np.zeros((B, n, *box.shape), np.float32))
            for g, s in specs.items()
        }
        self._masks_np = {
            g: np.ones((B, s.n, s.action_mask_size), bool)
            for g, s in specs.items()
            if s.action_mask_size is not None
        }
        self._masked_groups = {g for g, key in self._mask_keys.items() if key is not None}
        self._state_np = np.zeros((B, *self.state_space.shape), np.float32) if self._has_state else None
        self._truncated_np = np.zeros(B, bool)
        self._tensors: dict[str, Any] = {}

    # ------------------------------------------------------------------ the contract
    def _reset(self, mask: Tensor) -> None:
        seeds = torch.randint(
            2**31 - 1, (self.num_envs,), generator=self.generator, device=self.device
        ).tolist()
        for b in mask.nonzero().flatten().tolist():
            self.copy_seeds[b] = seeds[b]
            obs, infos = self.envs[b].reset(seed=self.copy_seeds[b])
            # agents that are not active after the reset start as empty slots and may join later
            active = set(self.envs[b].agents)
            for a in self.possible_agents:
                self.alive[self.group_of(a)][b, self.index_in_group(a)] = a in active
            self._record(b, obs, infos, list(self.envs[b].agents))
        self._publish()

    def _step(self, actions: dict[str, Tensor]) -> dict[str, tuple[Tensor, Tensor, Tensor]]:
        chosen = {g: a.detach().cpu().numpy() for g, a in actions.items()}
        B = self.num_envs
        reward = {g: np.zeros((B, s.n), np.float32) for g, s in self.group_specs.items()}
        terminated = {g: np.zeros((B, s.n), bool) for g, s in self.group_specs.items()}
        joined = {g: np.zeros((B, s.n), bool) for g, s in self.group_specs.items()}
        self._truncated_np[:] = False
        for b, external in enumerate(self.envs):
            acting = list(external.agents)
            step_actions = {a: self._external_action(a, chosen, b) for a in acting}
            obs, rew, term, trunc, infos = external.step(step_actions)
            still_active = set(external.agents)
            for a in acting:
                g, j = self.group_of(a), self.index_in_group(a)
                reward[g][b, j] = float(rew.get(a, 0.0))
                truncated = bool(trunc.get(a, False))
                # an agent that left without a truncation flag has terminated (also if it gave no flag at all)
                terminated[g][b, j] = bool(term.get(a, False)) or (a not in still_active and not truncated)
                self._truncated_np[b] |= truncated
            # agents the external environment added at this step join the running episode
            joining = [a for a in external.agents if a not in acting]
            for a in joining:
                joined[self.group_of(a)][b, self.index_in_group(a)] = True
            self._record(b, obs, infos, acting + joining)
        self._publish()
        to = lambda x: torch.tensor(x, device=self.device)  # noqa: E731
        return {g: (to(reward[g]), to(terminated[g]), to(joined[g])) for g in self.group_specs}

    def _observe(self) -> dict[str, Tensor]:
        return self._tensors["obs"]

    def _state(self) -> Tensor:
        return self._tensors["state"] if self._has_state else super()._state()

    def _action_mask(self) -> dict[str, Tensor] | None:
        masks = {g: self._tensors["masks"][g] for g in self._masked_groups}
        return masks or None

    def _truncated(self) -> Tensor:
        return torch.tensor(self._truncated_np, device=self.device)

    def _render(self, index: int) -> np.ndarray:
        frame = self.envs[index].render()
        if not isinstance(frame, np.ndarray):
            raise RuntimeError(
                f"the external environment's render() returned {type(frame).__name__}, not an RGB array: "
                "build it with render_mode='rgb_array' in env_fn"
            )
        return np.ascontiguousarray(frame, dtype=np.uint8)

    def close(self) -> None:
        for external in self.envs:
            external.close()

    # ------------------------------------------------------------------ internals
    def _record(self, b: int, obs: dict[str, Any], infos: dict[str, dict], agents: list[str]) -> None:
        """Write the observations and masks of copy b's `agents` (those that acted) and its state.

        The others (they left in an earlier step), and agents that left now without a final observation, get
        a zero observation and an all-legal mask.
        """
        for g in self.group_specs:
            for buffer in _leaves(self._obs_np[g]):
                buffer[b] = 0.0
            if g in self._masks_np:
                self._masks_np[g][b] = True
        for a in agents:
            if a not in obs:
                if a in self.envs[b].agents:
                    raise RuntimeError(
                        f"the external environment returned no observation for active agent {a!r}"
                    )
                continue
            g, j = self.group_of(a), self.index_in_group(a)
            value = obs[a]
            key = self._mask_keys[g]
            if key == "obs":
                mask, value = value["action_mask"], value["observation"]
            else:
                mask = infos.get(a, {}).get("action_mask")
            space = self.group_specs[g].observation_space
            if isinstance(space, gym.spaces.Dict):
                if not isinstance(value, dict) or set(value) != set(space.spaces):
                    raise ValueError(
                        f"agent {a!r} observed {value!r}, expected a dict with keys {list(space)}"
                    )
                for key, box in space.items():
                    self._obs_np[g][key][b, j] = _observation_array(f"{a}[{key!r}]", box, value[key])
            else:
                self._obs_np[g][b, j] = _observation_array(a, space, value)
            if mask is not None:
                self._set_mask(a, g, b, j, mask)
        if self._has_state:
            self._state_np[b] = np.asarray(self.envs[b].state(), np.float32).reshape(self.state_space.shape)

    def _set_mask(self, agent: str, g: str, b: int, j: int, mask: Any) -> None:
        if g not in self._masks_np:
            raise ValueError(
                f"agent {agent!r} reports an action mask for {self.group_specs[g].action_space}, "
                "which takes none (only Discrete and MultiDiscrete actions have masks)"
            )
        # a MultiDiscrete mask comes as gymnasium's tuple of per-component masks
        mask = np.concatenate([np.asarray(m) for m in mask]) if isinstance(mask, tuple) else np.asarray(mask)
        n = self._masks_np[g].shape[-1]
        if mask.shape != (n,):
            raise ValueError(f"action mask of agent {agent!r} has shape {mask.shape}, expected ({n},)")
        self._masks_np[g][b, j] = mask.astype(bool)
        self._masked_groups.add(g)

    def _publish(self) -> None:
        """Turn the numpy buffers into (copied) tensors once per reset or step."""
        to = lambda x: torch.tensor(x, device=self.device)  # noqa: E731
        self._tensors = {
            "obs": {g: map_obs(x, to) for g, x in self._obs_np.items()},
            "masks": {g: to(x) for g, x in self._masks_np.items()},
            "state": to(self._state_np) if self._has_state else None,
        }

    def _external_action(self, agent: str, chosen: dict[str, np.ndarray], b: int) -> Any:
        g = self.group_of(agent)
        space = self.group_specs[g].action_space
        action = chosen[g][b, self.index_in_group(agent)]
        return action.astype(space.dtype) if isinstance(space, gym.spaces.Box) else action.astype(np.int64)


def from_pettingzoo(
    env_fn: Callable[[], ParallelEnv],
    num_envs: int = 1,
    device: str | torch.device = "cpu",
    seed: int | None = None,
    groups: dict[str, list[str]] | None = None,
    max_steps: int | None = None,
) -> PettingZooEnv:
    """Wrap an external `pettingzoo.ParallelEnv` factory into the batched contract (`num_envs` instances).

    Groups are inferred from agent names (`adversary_0`, `agent_1` -> `adversary`, `agent`) unless
    `groups={group: [agent names]}` is given; agents of a group must have identical spaces. Agents that leave
    are masked (`alive` False, zero observation); a copy whose agents are all gone, or any of whose agents is
    truncated, ends (truncation is per copy in the contract) and is reset with a seed drawn from the wrapper's
    generator. Observation spaces must be Box (or Dict with "observation" Box and "action_mask"); action
    masks come from `infos[agent]["action_mask"]` or such Dict observations; `state` is the external
    `state()` when the environment has a `state_space`, else the concatenated observations.
    """
    return PettingZooEnv(
        env_fn, num_envs=num_envs, device=device, seed=seed, groups=groups, max_steps=max_steps
    )


def _external(env_fn: Callable[[], ParallelEnv]) -> ParallelEnv:
    env = env_fn()
    if isinstance(env, AECEnv):
        raise TypeError(
            "env_fn returned an AEC environment; from_pettingzoo needs a ParallelEnv "
            "(convert it with pettingzoo.utils.conversions.aec_to_parallel)"
        )
    for attribute in ("possible_agents", "reset", "step", "observation_space", "action_space"):
        if not hasattr(env, attribute):
            raise TypeError(f"env_fn must return a pettingzoo.ParallelEnv; {env!r} has no {attribute!r}")
    return env


def _infer_groups(agents: list[str]) -> dict[str, list[str]]:
    """`adversary_0, agent_0, agent_1` -> `{"adversary": [adversary_0], "agent": [agent_0, agent_1]}`."""
    groups: dict[str, list[str]] = {}
    for a in agents:
        match = re.fullmatch(r"(.+?)_?\d+", str(a))
        groups.setdefault(match.group(1) if match else str(a), []).append(a)
    return groups


def _check_groups(groups: dict[str, list[str]], agents: list[str]) -> dict[str, list[str]]:
    named = [a for members in groups.values() for a in members]
    unknown = sorted({a for a in named if a not in agents})
    missing = [a for a in agents if a not in named]
    repeated = sorted({a for a in named if named.count(a) > 1})
    empty = [g for g, members in groups.items() if not members]
    if unknown or missing or repeated or empty:
        raise ValueError(
            f"groups must name every agent of {agents} exactly once; unknown {unknown}, missing {missing}, "
            f"repeated {repeated}, empty groups {empty}"
        )
    return {g: list(members) for g, members in groups.items()}


def _observation_box(env: ParallelEnv, agent: str) -> tuple[gym.spaces.Box | gym.spaces.Dict, str | None]:
    """The agent's observation space (a Box, or a Dict of Boxes) and where its action mask comes from
    ("obs": PettingZoo's Dict({'observation', 'action_mask'}) convention; None: infos, if any)."""
    space = env.observation_space(agent)
    if isinstance(space, gym.spaces.Box):
        return space, None
    if (
        isinstance(space, gym.spaces.Dict)
        and isinstance(space.spaces.get("observation"), gym.spaces.Box)
        and "action_mask" in space.spaces
    ):
        return space["observation"], "obs"
    if isinstance(space, gym.spaces.Dict) and all(isinstance(s, gym.spaces.Box) for s in space.values()):
        return space, None
    raise TypeError(
        f"agent {agent!r} has observation space {space}; from_pettingzoo supports Box observations, Dicts of "
        "Boxes, and Dict({'observation': Box, 'action_mask': ...}): flatten it first, e.g. with "
        "gymnasium.spaces.flatten_space"
    )


def _map_space(space: gym.spaces.Box | gym.spaces.Dict, fn: Callable[[gym.spaces.Box], Any]) -> Any:
    """`fn` of a Box, or `{key: fn(box)}` for a Dict of Boxes."""
    return {k: fn(box) for k, box in space.items()} if isinstance(space, gym.spaces.Dict) else fn(space)


def _leaves(value: Any) -> list[Any]:
    return list(value.values()) if isinstance(value, dict) else [value]


def _observation_array(agent: str, space: gym.spaces.Box, value: Any) -> np.ndarray:
    arr = np.asarray(value)
    if arr.shape != space.shape:
        raise ValueError(f"agent {agent!r} observed shape {arr.shape}, its observation space is {space}")
    return arr
