"""The planning baselines run through the registry and beat random actions on lifelong throughput."""

import pytest
import torch

import marl
from envs.pathfinding import register, register_baselines

register()
register_baselines()


def throughput(algo_name, config=None):
    env = marl.make("pathfinding/random", num_envs=4, seed=0, size=12, density=0.2, n_agents=12, max_steps=48)
    if algo_name == "random":
        algo = marl.RandomPolicy(env, None, "cpu")
    else:
        entry = marl.core.registry.algo_entry(algo_name)
        algo = entry.factory(env, config or entry.config_class(), "cpu")
    results = marl.evaluate(algo, env, episodes=4, deterministic=True, seed=1)
    return sum(results["throughput"]) / 4, algo


def test_baselines_beat_random_and_have_nothing_to_train():
    random_rate, _ = throughput("random")
    follow_rate, follow = throughput("pathfinding_follow")
    planned_rate, planner = throughput("pathfinding_prioritised")
    assert follow_rate > 2 * random_rate
    assert planned_rate > 2 * random_rate
    for algo in (follow, planner):
        assert algo.state_dict() == {}
        with pytest.raises(RuntimeError, match="nothing to train"):
            algo.train_iteration()


def test_prioritised_planner_moves_a_lone_agent_along_a_shortest_path():
    env = marl.make(
        "pathfinding/random", num_envs=3, seed=4, size=10, density=0.25, n_agents=1, mode="finish"
    )
    entry = marl.core.registry.algo_entry("pathfinding_prioritised")
    planner = entry.factory(env, entry.config_class(horizon=6), "cpu")
    step = env.reset()
    start_dist = env.goal_distances()[torch.arange(3), 0].gather(1, env.pos).squeeze(1)
    lengths = torch.zeros(3, dtype=torch.long)
    arrived = torch.zeros(3, dtype=torch.bool)
    for t in range(1, 40):
        actions, _ = planner.act(step, None)
        step = env.step(actions)
        newly = step["agent"].terminated[:, 0] & ~arrived
        lengths[newly] = t
        arrived |= newly
        if bool(arrived.all()):
            break
    assert torch.equal(lengths, start_dist)


def test_baselines_refuse_other_environments():
    env = marl.make("test/toy_walk", num_envs=2, seed=0)
    entry = marl.core.registry.algo_entry("pathfinding_follow")
    with pytest.raises(TypeError, match="plans on pathfinding maps"):
        entry.factory(env, entry.config_class(), "cpu")
