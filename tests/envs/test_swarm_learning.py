"""Short on-policy runs learn the swarm tasks: IPPO aligns a Vicsek flock, gathers an aggregate and drives
agents to their goals among obstacles; MAPPO synchronises Kuramoto oscillators.

Each case states its metric, the level a random policy does not reach and the level the learned
(deterministic) policy must reach after a few thousand environment steps.
"""

import pytest
import torch

import envs.swarm
import marl
from algos.ppo import IPPO, MAPPO, IPPOConfig, MAPPOConfig
from marl.learning.models import ModelConfig

envs.swarm.register()
SMALL = {"n_agents": 6, "k_neighbours": 5, "max_steps": 25}


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


@pytest.mark.slow
@pytest.mark.parametrize(
    "env_id, env_kwargs, algo_class, config_class, iterations, metric, random_level, learned_level",
    [
        # higher is better: the order parameters
        ("swarm/vicsek", {**SMALL, "noise": 0.0}, IPPO, IPPOConfig, 15, "polarisation", 0.6, 0.9),
        (
            "swarm/kuramoto",
            {**SMALL, "freq_spread": 0.5, "continuous_actions": False},
            MAPPO,
            MAPPOConfig,
            15,
            "synchrony",
            0.6,
            0.9,
        ),
        (
            "swarm/navigation",
            {"n_agents": 4, "k_neighbours": 3, "n_obstacles": 4, "k_obstacles": 2, "max_steps": 50},
            IPPO,
            IPPOConfig,
            30,
            "reached",
            0.3,
            0.9,
        ),
        # lower is better: distances (given negated so that one comparison serves all)
        ("swarm/aggregation", SMALL, IPPO, IPPOConfig, 30, "-distance_to_centroid", -0.2, -0.12),
    ],
)
def test_swarm_on_policy_learns(
    env_id, env_kwargs, algo_class, config_class, iterations, metric, random_level, learned_level
):
    sign, name = (-1.0, metric[1:]) if metric.startswith("-") else (1.0, metric)
    torch.manual_seed(0)
    env = marl.make(env_id, num_envs=32, seed=0, **env_kwargs)
    random = marl.evaluate(marl.RandomPolicy(env, None, "cpu"), env, episodes=32, deterministic=False, seed=1)
    assert sign * mean(random[name]) < random_level
    config = config_class(rollout_length=25, num_minibatches=2, lr=3e-3, critic_lr=3e-3, gamma=0.9)
    algo = algo_class(env, config, "cpu", model=ModelConfig(agent_id_size=0))
    for _ in range(iterations):
        algo.train_iteration()
    learned = marl.evaluate(algo, env, episodes=32, deterministic=True, seed=1)
    assert sign * mean(learned[name]) > learned_level
