"""MMO world: a Neural-MMO-like open world (NM 2.x's survival, foraging, combat, NPCs and tasks) as tensors.

Tasks: `mmo/small` (64 players, 64x64, 128 ticks), `mmo/medium` (128 players, 160x160, 1,024 ticks; NM's
Default) and `mmo/large` (1,024 players, 1,056x1,056, 8,192 ticks), every key overridable
(`marl.make("mmo/small", npcs=False, combat=False)` plays survival only). Baseline policy: `mmo_forager`.
"""

from __future__ import annotations

import functools

import marl
from envs.mmo.env import (
    GROUP,
    MOVES,
    PRESETS,
    STYLES,
    MMOConfig,
    MMOEnv,
    MMOLargeConfig,
    MMOSmallConfig,
)
from envs.mmo.tasks import TASK_NAMES, parse_task


def _build(config: MMOConfig, num_envs: int, device: str, seed: int | None) -> MMOEnv:
    return MMOEnv(config, num_envs=num_envs, device=device, seed=seed)


_factories: dict[str, functools.partial] = {}


def register() -> None:
    """Register `mmo/small`, `mmo/medium` and `mmo/large` (idempotent)."""
    for preset, config in PRESETS.items():
        if preset not in _factories:
            _factories[preset] = functools.partial(_build)
        marl.register_env(
            f"mmo/{preset}",
            _factories[preset],
            config=config,
            description=f"Neural-MMO-like world, preset {preset}: {(config.__doc__ or '').split(':')[-1].strip()}",
        )


def register_baselines() -> None:
    """Register the scripted forager `mmo_forager` (idempotent)."""
    from envs.mmo.baselines import register as register_algos

    register_algos()


__all__ = [
    "GROUP",
    "MOVES",
    "PRESETS",
    "STYLES",
    "TASK_NAMES",
    "MMOConfig",
    "MMOEnv",
    "MMOLargeConfig",
    "MMOSmallConfig",
    "parse_task",
    "register",
    "register_baselines",
]
