"""Learning where agents die and respawn within an episode (tests/helpers/arena_env.py): lava kills, the dead
come back a step later as a new life, observations are a grid plus an entity set, actions a masked
MultiDiscrete. Random play walks into the lava about every other life; IPPO learns to stay out of it."""

import numpy as np
import pytest
import torch
from arena_env import RespawnArena

import marl
from algos.ppo import IPPO
from marl.learning.models import ModelConfig


@pytest.mark.slow
def test_ippo_learns_in_an_arena_with_respawns():
    env = RespawnArena(num_envs=32, seed=123, respawn_delay=1)
    random_return = np.mean(
        marl.evaluate(marl.RandomPolicy(env, None, "cpu"), env, 128, False, 123)["episode_return"]
    )
    returns = []
    for seed in range(3):
        torch.manual_seed(seed)
        algo = IPPO(
            RespawnArena(num_envs=32, seed=seed, respawn_delay=1), {}, "cpu", ModelConfig(kind="entity")
        )
        for _ in range(20):
            algo.train_iteration()
        returns.append(
            np.mean(marl.evaluate(algo, env, 128, deterministic=False, seed=123)["episode_return"])
        )
    assert random_return < -0.4 < -0.25 < np.median(returns), (random_return, returns)
