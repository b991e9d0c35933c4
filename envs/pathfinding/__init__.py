"""Pathfinding: decentralised, partially observed, lifelong multi-agent pathfinding on grid maps (POGEMA's rules).

Tasks: `pathfinding/random` (a fresh random grid per episode) and `pathfinding/maps` (maps drawn from files
under maps/pathfinding/). Baseline policies: `pathfinding_follow` and `pathfinding_prioritised`.
"""

from __future__ import annotations

from dataclasses import dataclass

import marl
from envs.pathfinding.env import PathfindingConfig, PathfindingEnv
from envs.pathfinding.sources import MapSet, RandomMaps
from marl.core.validation import check_int, check_number, validated


@dataclass
class RandomMapsConfig(PathfindingConfig):
    """`pathfinding/random`: a new random `size` x `size` grid per episode, each cell an obstacle with
    probability `density`."""

    size: int = 20
    density: float = 0.3

    def validate(self) -> None:
        super().validate()
        check_int("size", self.size, low=2)
        check_number("density", self.density, low=0.0, high=1.0, high_open=True)


@dataclass
class MapSetConfig(PathfindingConfig):
    """`pathfinding/maps`: maps drawn per episode from `map_set` (a file, folder or glob under
    maps/pathfinding/)."""

    map_set: str = "random/random-20-*"


def random_task(
    config: RandomMapsConfig | None = None, num_envs: int = 1, device: str = "cpu", seed: int | None = None
) -> PathfindingEnv:
    """Multi-agent pathfinding on a new random `size` x `size` grid per episode (obstacle `density`)."""
    config = validated(config, RandomMapsConfig)
    maps = RandomMaps(config.size, config.size, config.density)
    return PathfindingEnv(maps, config, num_envs=num_envs, device=device, seed=seed)


def map_task(
    config: MapSetConfig | None = None, num_envs: int = 1, device: str = "cpu", seed: int | None = None
) -> PathfindingEnv:
    """Multi-agent pathfinding on maps drawn per episode from `map_set` (a file, folder or glob under
    maps/pathfinding/)."""
    config = validated(config, MapSetConfig)
    return PathfindingEnv(MapSet(config.map_set), config, num_envs=num_envs, device=device, seed=seed)


def register() -> None:
    """Register the pathfinding tasks (idempotent)."""
    marl.register_env("pathfinding/random", random_task, config=RandomMapsConfig)
    marl.register_env("pathfinding/maps", map_task, config=MapSetConfig)


def register_baselines() -> None:
    """Register the planning baselines that need no training (idempotent)."""
    from envs.pathfinding.baselines import register as register_algos

    register_algos()


__all__ = [
    "MapSet",
    "MapSetConfig",
    "PathfindingConfig",
    "PathfindingEnv",
    "RandomMaps",
    "RandomMapsConfig",
    "map_task",
    "random_task",
    "register",
    "register_baselines",
]
