"""Safe multi-robot navigation (`robots/<scenario>`): circle, swap, crossing and random scenarios for 2 to
4,096 disc robots per copy, single- or double-integrator dynamics, static obstacles as a key, and a batched
control-barrier-function safety filter (marl.core.cbf) inside the environment. Scripted controllers:
`robots_nominal`, `robots_cbf_conservative`, `robots_cbf_aggressive`, `robots_cbf_priority`.
See docs/environments/robots.md.
"""

from __future__ import annotations

import functools

import marl
from envs.robots.env import CONTROLS, DYNAMICS, SCENARIOS, RobotsConfig, RobotsEnv


def _build(config: RobotsConfig, num_envs: int, device: str, seed: int | None, scenario: str) -> RobotsEnv:
    return RobotsEnv(config, scenario, num_envs=num_envs, device=device, seed=seed)


def register() -> None:
    """Register `robots/<scenario>` for every scenario (idempotent)."""
    for name in SCENARIOS:
        if name not in _factories:
            _factories[name] = functools.partial(_build, scenario=name)
        marl.register_env(
            f"robots/{name}",
            _factories[name],
            config=RobotsConfig,
            description=f"Safe multi-robot navigation, {name} scenario, with an optional CBF safety filter.",
        )


_factories: dict[str, functools.partial] = {}


def register_baselines() -> None:
    """Register the scripted controllers (idempotent)."""
    from envs.robots.controllers import register as register_controllers

    register_controllers()


__all__ = ["CONTROLS", "DYNAMICS", "SCENARIOS", "RobotsConfig", "RobotsEnv", "register", "register_baselines"]
