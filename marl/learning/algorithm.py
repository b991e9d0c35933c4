"""What the trainer needs from an algorithm, and the episode bookkeeping every algorithm shares."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import torch
from torch import Tensor

from marl.core.env import BatchedEnv, Step, sample_actions


@dataclass
class Iteration:
    """What one `train_iteration` did: environment steps taken (summed over copies) and training metrics."""

    env_steps: int
    metrics: dict[str, float] = field(default_factory=dict)


class EpisodeStats:
    """Accumulates the episode statistics of ended episodes on device; one host sync when read."""

    def __init__(self) -> None:
        self._sums: dict[str, Tensor] = {}
        self._count: Tensor | None = None

    def record(self, step: Step) -> None:
        done = step.done.float()
        self._count = done.sum() if self._count is None else self._count + done.sum()
        for name, value in step.info.items():
            total = (value * done).sum()
            self._sums[name] = total if name not in self._sums else self._sums[name] + total

    def pop(self) -> dict[str, float]:
        """Means over the episodes ended since the last pop (empty if none ended), then start afresh."""
        if self._count is None or float(self._count) == 0:
            self._sums, self._count = {}, None
            return {}
        count = float(self._count)
        out = {name: float(total) / count for name, total in self._sums.items()}
        out["episodes"] = count
        self._sums, self._count = {}, None
        return out


class EnvRunner:
    """Steps one batched environment for an algorithm: resets it on first use (and after `restart`, e.g. when
    a checkpoint was loaded) and records every ended episode's statistics into `episodes`, which the trainer
    reads, so no algorithm has to remember to."""

    def __init__(self, env: BatchedEnv, episodes: EpisodeStats) -> None:
        self.env = env
        self.episodes = episodes
        self._step: Step | None = None

    @property
    def step(self) -> Step:
        """The current step (the environment is reset first if the runner has not started yet)."""
        if self._step is None:
            self._step = self.env.reset()
        return self._step

    @property
    def started(self) -> bool:
        return self._step is not None

    def advance(self, actions: dict[str, Tensor]) -> Step:
        self._step = self.env.step(actions)
        self.episodes.record(self._step)
        return self._step

    def restart(self) -> None:
        """Start fresh episodes at the next `step`."""
        self._step = None


class Algorithm:
    """Base of every algorithm: it owns its networks and optimisers and how it gathers experience.

    Subclasses implement `train_iteration` (gather, update, report) and `act` (decentralised execution:
    each group's actions from that group's observations only). `state_dict` must hold everything needed
    to resume training exactly where a checkpoint left off.
    """

    def __init__(self, env: BatchedEnv, config: Any, device: torch.device) -> None:
        self.env = env
        self.config = config
        self.device = torch.device(device)
        self.episodes = EpisodeStats()
        self.runner = EnvRunner(env, self.episodes)

    def train_iteration(self) -> Iteration:
        raise NotImplementedError

    def act(
        self,
        step: Step,
        policy_state: Any,
        deterministic: bool = False,
        generator: torch.Generator | None = None,
    ) -> tuple[dict[str, Tensor], Any]:
        """Actions for every group from `step`, and the next recurrent policy state.

        Stochastic actions are drawn from `generator` (None: the algorithm's own training generator).
        Recurrent policies reset the state of copies where `step.done` (a new episode starts there) and of
        agents that joined at this step."""
        raise NotImplementedError

    def initial_policy_state(self, num_envs: int) -> Any:
        """The recurrent state at the start of an episode (None for feed-forward policies)."""
        return None

    def state_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def load_state_dict(self, state: dict[str, Any]) -> None:
        raise NotImplementedError


class ScriptedPolicy(Algorithm):
    """Base of fixed policies (planners, scripted controllers and chefs): nothing to train, no parameters.

    Subclasses implement `act`; `marl eval` and `marl render` run them, `marl train` refuses them."""

    def train_iteration(self) -> Iteration:
        raise RuntimeError(
            f"{type(self).__name__} is a scripted policy with nothing to train; use it with `marl eval`"
        )

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            raise ValueError(
                f"{type(self).__name__} has no parameters; got a state with keys {sorted(state)}"
            )


@dataclass
class RandomConfig:
    steps_per_iteration: int = 32  # environment steps (per copy) between two log lines of `marl train`


class RandomPolicy(Algorithm):
    """Uniformly random legal actions: the baseline learning tests must beat, and `marl render`'s default.

    Under `marl train` it only plays, so its curve is the random baseline of the task."""

    def __init__(self, env: BatchedEnv, config: RandomConfig, device: torch.device) -> None:
        super().__init__(env, config, device)
        self.generator = torch.Generator(device=env.device)
        self.generator.manual_seed(int(torch.randint(2**62, ())))

    def train_iteration(self) -> Iteration:
        for _ in range(self.config.steps_per_iteration):
            actions, _ = self.act(self.runner.step, None)
            self.runner.advance(actions)
        return Iteration(env_steps=self.config.steps_per_iteration * self.env.num_envs)

    def act(self, step: Step, policy_state: Any, deterministic: bool = False, generator=None):
        masks = {g: s.action_mask for g, s in step.groups.items()}
        num_envs = step.state.shape[0]
        generator = self.generator if generator is None else generator
        return sample_actions(
            self.env.group_specs, num_envs, masks, generator, step.state.device
        ), policy_state

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.runner.restart()


@torch.no_grad()
def evaluate(
    policy: Algorithm, env: BatchedEnv, episodes: int, deterministic: bool, seed: int
) -> dict[str, list[float]]:
    """Run `episodes` whole episodes of `policy` on `env` (all copies in parallel) and return each ended
    episode's statistics, `{name: [value per episode]}`, in the order they ended.

    Stochastic actions come from a generator of their own, seeded with `seed`, so the same seed gives the
    same result twice and evaluating never moves the training generator."""
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    generator = torch.Generator(device=env.device)
    generator.manual_seed(seed)
    step = env.reset(seed=seed)
    state = policy.initial_policy_state(env.num_envs)
    # each copy contributes a fixed share of the episodes, so that copies that finish quickly do not
    # crowd out slow ones and the sample is not biased towards short episodes
    wanted = torch.zeros(env.num_envs, dtype=torch.long, device=env.device)
    wanted += episodes // env.num_envs
    wanted[: episodes % env.num_envs] += 1
    results: dict[str, list[float]] = {}
    finished = torch.zeros_like(wanted)
    while bool((finished < wanted).any()):
        actions, state = policy.act(step, state, deterministic=deterministic, generator=generator)
        step = env.step(actions)
        keep = step.done & (finished < wanted)
        if bool(keep.any()):
            for name, value in step.info.items():
                results.setdefault(name, []).extend(value[keep].tolist())
        finished += step.done.long()
    return results


def coerce_config(config: Any, config_class: type) -> Any:
    """Accept the config dataclass itself, an OmegaConf config of it (as Hydra passes it) or a plain dict."""
    if isinstance(config, config_class):
        return config
    try:
        from omegaconf import DictConfig, OmegaConf

        if isinstance(config, DictConfig):
            config = OmegaConf.to_container(config, resolve=True)
    except ImportError:  # pragma: no cover - hydra-core is a dependency
        pass
    if not isinstance(config, dict):
        raise TypeError(
            f"expected a {config_class.__name__} (or a dict of its fields), got {type(config).__name__}"
        )
    known = {f.name for f in fields(config_class)}
    unknown = sorted(set(config) - known)
    if unknown:
        raise TypeError(f"{config_class.__name__} has no fields {unknown}; its fields are {sorted(known)}")
    return config_class(**config)
