"""What every conformance check shares: the environment under test, the errors, and the check registry.

A check is a function of one `Subject` (how to build the environment and how hard to exercise it). The
`conformance_check` decorator registers it under a name and lets it be called on its own with anything
`check_env` accepts; whatever goes wrong inside becomes a `ConformanceError` that names the check and the
environment.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

from marl.core import registry
from marl.core.env import BatchedEnv
from marl.core.registry import MissingDependency

EnvSource = str | Callable[..., BatchedEnv] | BatchedEnv


class ConformanceError(AssertionError):
    """An environment broke the contract: `check` names the failed check, `env_name` the environment."""

    def __init__(self, check: str, env_name: str, detail: str) -> None:
        super().__init__(f"{env_name}: conformance check {check!r} failed: {detail}")
        self.check, self.env_name, self.detail = check, env_name, detail


class CheckSkipped(Exception):
    """A check that does not apply to this environment (no renderer, no action validation, ...)."""


@dataclass(frozen=True)
class Subject:
    """The environment under test: a factory called as `factory(num_envs=, device=, seed=, **make_kwargs)`,
    and the batch size, device, number of steps and seed the checks use."""

    name: str
    factory: Callable[..., BatchedEnv]
    make_kwargs: dict[str, Any] = field(default_factory=dict)
    num_envs: int = 4
    device: str = "cpu"
    steps: int = 40
    seed: int = 0

    def make(
        self, num_envs: int | None = None, seed: int | None = None, device: str | None = None
    ) -> BatchedEnv:
        try:
            env = self.factory(
                num_envs=self.num_envs if num_envs is None else num_envs,
                device=self.device if device is None else device,
                seed=self.seed if seed is None else seed,
                **self.make_kwargs,
            )
        except MissingDependency as missing:  # an optional dependency that is not installed here
            raise CheckSkipped(str(missing)) from missing
        if not isinstance(env, BatchedEnv):
            raise TypeError(
                f"the factory of {self.name} returned {type(env).__name__}, not a marl.BatchedEnv"
            )
        return env


def as_subject(
    env_or_id: EnvSource | Subject,
    *,
    num_envs: int = 4,
    device: str = "cpu",
    steps: int = 40,
    seed: int = 0,
    **make_kwargs: Any,
) -> Subject:
    """The `Subject` for a registered id, an environment class or factory, or an environment instance.

    An instance stands for its class: checks that need fresh copies or other batch sizes build them as
    `type(env)(num_envs=..., device=..., seed=..., **make_kwargs)`."""
    if isinstance(env_or_id, Subject):
        return env_or_id
    for option, value, least in (("num_envs", num_envs, 2), ("steps", steps, 1), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{option} must be an int >= {least}, got {value!r}")
    if isinstance(env_or_id, str):
        registry.env_entry(env_or_id)  # an unknown id fails here, with the registry's suggestions
        factory: Callable[..., BatchedEnv] = functools.partial(registry.make, env_or_id)
        name = env_or_id
    elif isinstance(env_or_id, BatchedEnv):
        factory, name = type(env_or_id), type(env_or_id).__name__
    elif callable(env_or_id):
        factory, name = env_or_id, getattr(env_or_id, "__qualname__", repr(env_or_id))
    else:
        raise TypeError(
            "check_env needs a registered environment id, an environment class or factory, or a "
            f"marl.BatchedEnv, got {type(env_or_id).__name__}"
        )
    return Subject(name, factory, dict(make_kwargs), num_envs, str(device), steps, seed)


# name -> check, in the order check_env runs them
CHECKS: dict[str, Callable[..., None]] = {}


def conformance_check(name: str) -> Callable[[Callable[[Subject], None]], Callable[..., None]]:
    """Register `check(subject)` under `name`; the registered function takes `(env_or_id, **options)` like
    `check_env` and raises `ConformanceError` (or `CheckSkipped`)."""

    def register(check: Callable[[Subject], None]) -> Callable[..., None]:
        @functools.wraps(check)
        def run(env_or_id: EnvSource | Subject, **options: Any) -> None:
            subject = as_subject(env_or_id, **options)
            try:
                check(subject)
            except (ConformanceError, CheckSkipped):
                raise
            except AssertionError as err:
                raise ConformanceError(name, subject.name, str(err)) from err
            except Exception as err:
                raise ConformanceError(name, subject.name, f"raised {type(err).__name__}: {err}") from err

        CHECKS[name] = run
        return run

    return register


def require(condition: bool, message: str) -> None:
    """`assert` that survives `python -O`: a conformance check must never pass silently."""
    if not condition:
        raise AssertionError(message)


def require_none(bad: Tensor, message: str) -> None:
    """Fail with `message` and the first copy where `bad` (`[B, ...]` bool) is True, if there is one."""
    if bad.any():
        copy = int(bad.reshape(bad.shape[0], -1).any(1).nonzero()[0, 0])
        raise AssertionError(f"{message} (copy {copy})")
