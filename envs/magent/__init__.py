"""MAgent-style grid worlds for many-agent RL: `magent/battle`, MAgent's battle (magent2's `battle_v4`, the
game of Yang et al. 2018's mean-field battles), batched. See docs/environments/magent.md."""

from __future__ import annotations

import marl
from envs.magent.battle import (
    ATTACKS,
    GROUPS,
    MOVES,
    N_ACTIONS,
    STAY,
    MAgentBattle,
    MAgentBattleConfig,
    formation,
)

__all__ = [
    "ATTACKS",
    "GROUPS",
    "MOVES",
    "N_ACTIONS",
    "STAY",
    "MAgentBattle",
    "MAgentBattleConfig",
    "formation",
    "register",
]


def register() -> None:
    """Register `magent/battle` with the core (idempotent)."""
    marl.register_env(
        "magent/battle",
        MAgentBattle,
        config=MAgentBattleConfig,
        description="MAgent's battle (battle_v4): two armies of 0.04 map_size^2 agents on a grid, self-play.",
    )
