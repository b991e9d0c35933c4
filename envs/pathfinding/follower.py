"""`pathfinding_follower`: a trained Learn to Follow follower as a registered policy for `marl eval`.

Learn to Follow (Skrynnik et al., AAAI 2024) splits each agent into a planner (congestion-aware cheapest paths,
replanned every step: `envs.pathfinding.congestion`, run by the environment under `observation=follower`) and a
learned policy that follows the planned path and steps around other agents. This policy loads the learned part
from a `marl train` checkpoint (for example of `configs/experiment/pathfinding_follower.yaml`) and runs it on any
pathfinding environment with the observation it was trained with, so one trained follower can be evaluated on
other maps and agent counts:

    marl eval algo=pathfinding_follower algo.checkpoint=runs/follower_s0 env=pathfinding/maps \
        env.map_set=maze/maze-21-* env.observation=follower env.n_agents=64 env.max_steps=512
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from omegaconf import OmegaConf

import marl
from envs.pathfinding.env import PathfindingEnv
from marl.core import registry
from marl.running.config import algo_config, model_arguments
from marl.running.rundir import load_checkpoint_file, resolve_checkpoint

# observation settings the trained network depends on: the environment must match its checkpoint in these
OBSERVATION_KEYS = ("observation", "obs_radius", "path_channel", "action_mask")
DEFAULT_OBSERVATION = {"observation": "pogema", "path_channel": False, "action_mask": False}


@dataclass
class LearnedFollowerConfig:
    checkpoint: str = ""  # a `marl train` run directory or checkpoint file of a follower (e.g. IPPO) run


def trained_observation(run_config: Any) -> dict[str, Any]:
    """The observation keys a run was trained with (older runs predate `observation`: pogema)."""
    env = run_config.env
    return {key: env.get(key, DEFAULT_OBSERVATION.get(key)) for key in OBSERVATION_KEYS}


class LearnedFollower(marl.ScriptedPolicy):
    """The policy of a trained checkpoint, run on this environment (nothing more to train here)."""

    def __init__(self, env: marl.BatchedEnv, config: LearnedFollowerConfig, device: torch.device) -> None:
        if not isinstance(env, PathfindingEnv):
            raise TypeError(f"pathfinding_follower runs on pathfinding maps; got {type(env).__name__}")
        if not config.checkpoint:
            raise ValueError(
                "pathfinding_follower needs algo.checkpoint=RUN_DIR (or a checkpoint file) of a trained follower, "
                "e.g. from `marl train experiment=pathfinding_follower`"
            )
        super().__init__(env, config, device)
        run, path = resolve_checkpoint(config.checkpoint)
        run_config = OmegaConf.create(run.read_config())
        trained = trained_observation(run_config)
        here = {key: getattr(env.config, key) for key in OBSERVATION_KEYS}
        if trained != here:
            differ = {key: (here[key], trained[key]) for key in OBSERVATION_KEYS if here[key] != trained[key]}
            raise ValueError(
                f"{path} was trained with observation settings {trained}; this environment differs in "
                f"{ {k: f'{v[0]!r} (trained: {v[1]!r})' for k, v in differ.items()} }: set env.KEY to the "
                "trained values"
            )
        name, algo_cfg = algo_config(run_config)
        model = model_arguments(run_config, name)
        if model and model["model"].agent_id_size and env.n_agents != run_config.env.n_agents:
            raise ValueError(
                f"{path} was trained with agent ids on {run_config.env.n_agents} agents, so it cannot run "
                f"{env.n_agents}; train with model.agent_id_size=0 to evaluate other agent counts"
            )
        self.trained_algo = name
        self.policy = registry.algo_entry(name).factory(env, algo_cfg, device, **model)
        self.policy.load_state_dict(load_checkpoint_file(path, map_location=device)["algorithm"])

    def initial_policy_state(self, num_envs: int) -> Any:
        return self.policy.initial_policy_state(num_envs)

    def act(self, step: marl.Step, policy_state: Any, deterministic: bool = False, generator=None):
        return self.policy.act(step, policy_state, deterministic=deterministic, generator=generator)


def register() -> None:
    """Register `pathfinding_follower` (idempotent)."""
    marl.register_algo("pathfinding_follower", LearnedFollower, LearnedFollowerConfig)
