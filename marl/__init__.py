"""marl: batched, device-resident multi-agent RL environments and a CTDE core that hosts the algorithms."""

from marl.bridge import from_pettingzoo, to_aec, to_parallel
from marl.core.env import (
    BatchedEnv,
    GroupSpec,
    GroupStep,
    Neighbours,
    Observation,
    Step,
    agent_names,
    flatten_obs,
    map_obs,
    obs_size,
)
from marl.core.registry import (
    RegistryError,
    list_algos,
    list_envs,
    make,
    register_algo,
    register_env,
)
from marl.learning.algorithm import Algorithm, EpisodeStats, Iteration, RandomConfig, RandomPolicy, evaluate

register_algo("random", RandomPolicy, RandomConfig, description="uniformly random legal actions (a baseline)")

__all__ = [
    "Algorithm",
    "BatchedEnv",
    "EpisodeStats",
    "Experiment",
    "GroupSpec",
    "GroupStep",
    "Iteration",
    "Neighbours",
    "Observation",
    "RandomConfig",
    "RandomPolicy",
    "RegistryError",
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


def __getattr__(name: str):
    # marl.Experiment is imported on first use: it pulls in Hydra, which users of the environments alone
    # should not pay for at `import marl`
    if name == "Experiment":
        from marl.running.experiment import Experiment

        return Experiment
    raise AttributeError(f"module 'marl' has no attribute {name!r}")
