"""Learning tests for IPPO, MAPPO and DPO: three seeds each, small budgets, median returns a random policy does
not reach.

ToyWalk (tests/toy_env.py) holds a discrete task (walkers with action masks, dying when they arrive) and a
continuous task (the pusher, a bounded 2D action) side by side; each group's return is asserted separately.
"""

import numpy as np
import pytest
import torch
from toy_env import ToyWalk

import marl
from algos.dpo import DPO, DPOConfig
from algos.ppo import IPPO, MAPPO, IPPOConfig, MAPPOConfig
from marl.learning.models import ModelConfig

ALGOS = {"ippo": (IPPO, IPPOConfig), "mappo": (MAPPO, MAPPOConfig), "dpo": (DPO, DPOConfig)}
SEEDS = (0, 1, 2)


def mean_returns(policy, env=None, episodes=128):
    env = ToyWalk(num_envs=32, seed=123) if env is None else env
    stats = marl.evaluate(policy, env, episodes, deterministic=False, seed=123)
    return {k: float(np.mean(v)) for k, v in stats.items()}


@pytest.fixture(scope="module")
def random_returns():
    env = ToyWalk(num_envs=32, seed=123)
    return mean_returns(marl.RandomPolicy(env, None, "cpu"), env)


WALKER_THRESHOLD = 0.5  # reaching the target quickly; random walkers score about -0.5
PUSHER_THRESHOLD = -10.0  # keeping the puck near the origin; a random pusher scores about -16


def test_thresholds_are_out_of_reach_of_a_random_policy(random_returns):
    assert random_returns["episode_return/walker"] < WALKER_THRESHOLD - 0.5
    assert random_returns["episode_return/pusher"] < PUSHER_THRESHOLD - 3


@pytest.mark.slow
@pytest.mark.parametrize("name", ALGOS)
def test_learns_discrete_and_continuous_toy_walk(name):
    algo_class, config_class = ALGOS[name]
    runs = []
    for seed in SEEDS:
        torch.manual_seed(seed)
        algo = algo_class(ToyWalk(num_envs=16, seed=seed), config_class(), "cpu")
        for _ in range(40):
            algo.train_iteration()
        runs.append(mean_returns(algo))
    assert np.median([r["episode_return/walker"] for r in runs]) > WALKER_THRESHOLD, runs
    assert np.median([r["episode_return/pusher"] for r in runs]) > PUSHER_THRESHOLD, runs


@pytest.mark.slow
def test_recurrent_mappo_learns_with_random_episode_ends():
    runs = []
    for seed in SEEDS:
        torch.manual_seed(seed)
        env = ToyWalk(num_envs=16, seed=seed, end_prob=0.02)
        algo = MAPPO(env, MAPPOConfig(chunk_length=8), "cpu", ModelConfig(kind="gru"))
        for _ in range(40):
            algo.train_iteration()
        runs.append(mean_returns(algo))
    assert np.median([r["episode_return/walker"] for r in runs]) > WALKER_THRESHOLD, runs
    assert np.median([r["episode_return/pusher"] for r in runs]) > PUSHER_THRESHOLD, runs


class CountingWalk(ToyWalk):
    """ToyWalk that counts walker actions that are illegal under the mask, for live and dead agents alike
    (the environment itself only rejects illegal actions of live agents)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.illegal, self.checked = 0, 0

    def step(self, actions):
        mask = self._action_mask()["walker"]
        legal = mask.gather(2, actions["walker"].unsqueeze(-1)).squeeze(-1)
        self.illegal += int((~legal).sum())
        self.checked += legal.numel()
        return super().step(actions)


@pytest.mark.parametrize("name", ALGOS)
def test_illegal_actions_are_never_sampled(name):
    algo_class, config_class = ALGOS[name]
    torch.manual_seed(2)
    env = CountingWalk(num_envs=32, seed=2, size=3)  # on 3 cells, a third of the walker positions mask a move
    algo = algo_class(env, config_class(), "cpu", ModelConfig(kind="gru" if name == "mappo" else "mlp"))
    for _ in range(3):
        algo.train_iteration()
    marl.evaluate(algo, env, 64, deterministic=True, seed=3)
    marl.evaluate(algo, env, 64, deterministic=False, seed=4)
    assert env.checked > 10_000
    assert env.illegal == 0
