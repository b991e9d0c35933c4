"""Swarm tasks (`swarm/<name>`): hundreds of agents per copy observing their k nearest neighbours.

Kinematic tasks on a torus: `swarm/vicsek`, `swarm/kuramoto`; physical tasks in a walled arena (particle
physics core): `swarm/aggregation`, `swarm/formation`, `swarm/navigation`. See docs/environments/swarm.md.
"""

from __future__ import annotations

import marl
from envs.swarm.base import SwarmConfig
from envs.swarm.kinematic import Kuramoto, KuramotoConfig, TorusConfig, Vicsek, VicsekConfig
from envs.swarm.physical import (
    Aggregation,
    ArenaConfig,
    Formation,
    FormationConfig,
    Navigation,
    NavigationConfig,
)

TASKS = {
    "swarm/vicsek": Vicsek,
    "swarm/kuramoto": Kuramoto,
    "swarm/aggregation": Aggregation,
    "swarm/formation": Formation,
    "swarm/navigation": Navigation,
}

__all__ = [
    "Aggregation",
    "ArenaConfig",
    "Formation",
    "FormationConfig",
    "Kuramoto",
    "KuramotoConfig",
    "Navigation",
    "NavigationConfig",
    "SwarmConfig",
    "TASKS",
    "TorusConfig",
    "Vicsek",
    "VicsekConfig",
    "register",
]


def register() -> None:
    """Register every swarm task with the core (idempotent)."""
    for env_id, factory in TASKS.items():
        marl.register_env(env_id, factory, config=factory.config_class)
