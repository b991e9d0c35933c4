"""Battle: SMAC-style unit battles without StarCraft II (SMAX's units and tick model, SMACv2's interface).

Tasks: `battle/<scenario>` for SMACv2's procedural `protoss_5_vs_5`, `terran_5_vs_5`, `zerg_5_vs_5` and the
classic maps `3m` and `2s3z`; `battle/scenario` plays any scenario by name (`scenario=...`): every classic
map of `CLASSIC` and `<race>_<allies>_vs_<enemies>` for any race and team sizes.
"""

from __future__ import annotations

import functools

import marl
from envs.battle.env import BattleConfig, BattleEnv, BattleScenarioConfig
from envs.battle.scenarios import CLASSIC, PROCEDURAL_NAMES, Scenario, get_scenario, scenario_names

REGISTERED = ("3m", "2s3z", "protoss_5_vs_5", "terran_5_vs_5", "zerg_5_vs_5")


def _build(
    config: BattleConfig, num_envs: int, device: str, seed: int | None, scenario: str | None = None
) -> BattleEnv:
    """The registered factory: `scenario` fixed by the task, or the config's `scenario` key."""
    name = config.scenario if scenario is None else scenario
    return BattleEnv(name, config, num_envs=num_envs, device=device, seed=seed)


_factories: dict[str, functools.partial] = {}


def register() -> None:
    """Register `battle/<scenario>` for a few scenarios and `battle/scenario` for any (idempotent)."""
    for name in REGISTERED:
        if name not in _factories:
            _factories[name] = functools.partial(_build, scenario=name)
        marl.register_env(
            f"battle/{name}", _factories[name], config=BattleConfig, description=f"Battle scenario {name}."
        )
    marl.register_env(
        "battle/scenario",
        _build,
        config=BattleScenarioConfig,
        description="Battle on any scenario: a classic SMAC map or '<race>_<allies>_vs_<enemies>' (key `scenario`).",
    )


__all__ = [
    "CLASSIC",
    "PROCEDURAL_NAMES",
    "REGISTERED",
    "BattleConfig",
    "BattleEnv",
    "BattleScenarioConfig",
    "Scenario",
    "get_scenario",
    "register",
    "scenario_names",
]
