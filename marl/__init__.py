"""marl: batched, device-resident multi-agent RL environments and a CTDE core that hosts the algorithms.

The names below are imported on first use, so that `import marl` (and `marl --help`) costs nothing until an
environment, a policy or an experiment is actually needed.
"""

from __future__ import annotations

import importlib
from typing import Any

from marl.core.registry import (
    MissingDependency,
    RegistryError,
    list_algos,
    list_envs,
    make,
    register_algo,
    register_env,
)

_LAZY = {
    "marl.bridge": ["from_pettingzoo", "to_aec", "to_parallel"],
    "marl.core.env": [
        "BatchedEnv",
        "GroupSpec",
        "GroupStep",
        "Observation",
        "Step",
        "agent_names",
        "flatten_obs",
        "map_obs",
        "obs_size",
    ],
    "marl.core.neighbours": ["Neighbours"],
    "marl.learning.algorithm": [
        "Algorithm",
        "EpisodeStats",
        "Iteration",
        "RandomConfig",
        "RandomPolicy",
        "ScriptedPolicy",
        "evaluate",
    ],
    "marl.running.experiment": ["Experiment"],
}
_MODULE_OF = {name: module for module, names in _LAZY.items() for name in names}

__all__ = [
    "Algorithm",
    "BatchedEnv",
    "EpisodeStats",
    "Experiment",
    "GroupSpec",
    "GroupStep",
    "Iteration",
    "MissingDependency",
    "Neighbours",
    "Observation",
    "RandomConfig",
    "RandomPolicy",
    "RegistryError",
    "ScriptedPolicy",
    "Step",
    "agent_names",
    "evaluate",
    "flatten_obs",
    "from_pettingzoo",
    "list_algos",
    "list_envs",
    "make",
    "map_obs",
    "obs_size",
    "register_algo",
    "register_env",
    "to_aec",
    "to_parallel",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'marl' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
