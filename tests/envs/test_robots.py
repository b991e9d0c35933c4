"""Robots environments: the filter keeps robots apart where the nominal controller collides, the metrics,
the keys that the conformance grid (defaults only) does not reach, and the picture."""

import math

import pytest
import torch

import marl
import marl.testing
from envs import robots
from marl.learning.algorithm import evaluate

robots.register()
robots.register_baselines()


def controller(name, env):
    from envs.robots.controllers import (
        AggressiveConfig,
        ConservativeConfig,
        FixedGainCBF,
        NominalConfig,
        NominalController,
        PriorityCBF,
        PriorityConfig,
    )

    table = {
        "nominal": (NominalController, NominalConfig()),
        "conservative": (FixedGainCBF, ConservativeConfig()),
        "aggressive": (FixedGainCBF, AggressiveConfig()),
        "priority": (PriorityCBF, PriorityConfig()),
    }
    cls, config = table[name]
    return cls(env, config, env.device)


def episodes(name, seed, **keys):
    env = marl.make("robots/random", num_envs=12, seed=seed, n_agents=16, max_steps=100, **keys)
    return evaluate(controller(name, env), env, episodes=12, deterministic=True, seed=seed)


@pytest.mark.parametrize("gain", ["conservative", "aggressive"])
def test_the_filter_prevents_every_collision_the_nominal_controller_makes(gain):
    nominal = [sum(episodes("nominal", seed)["robot_collisions"]) for seed in range(3)]
    assert all(c > 0 for c in nominal)  # straight at the goal, robots run into each other
    for seed in range(3):
        result = episodes(gain, seed, control="gain")
        assert sum(result["robot_collisions"]) == 0
        # a barrier that ends at h = 0 up to rounding, or a rare unconverged solve, may need a tiny slack
        assert sum(result["infeasible_steps"]) / len(result["infeasible_steps"]) < 2e-3
        assert sum(result["success_rate"]) > 0


def test_static_obstacles_are_avoided_and_metrics_are_sane():
    result = episodes("aggressive", 0, control="gain", n_obstacles=6, obstacle_radius=0.15)
    assert sum(result["obstacle_collisions"]) == 0 and sum(result["robot_collisions"]) == 0
    unfiltered = episodes("nominal", 0, n_obstacles=6, obstacle_radius=0.15)
    assert sum(unfiltered["obstacle_collisions"]) > 0
    for name in ("success_rate", "deadlocks", "infeasible_steps", "interventions"):
        assert all(0 <= v <= 1 for v in result[name])
    assert all(v > 0 for v in result["path_length"]) and all(v > 0 for v in result["time_to_goal"])
    assert max(unfiltered["interventions"]) == 0


@pytest.mark.parametrize(
    "keys",
    [
        dict(control="gain", dynamics="double", n_obstacles=3),
        dict(filter=True, dynamics="single", n_obstacles=2, neighbour_search="cells"),
    ],
)
def test_keys_keep_the_contract(keys):
    for check in ("spaces", "seeding", "auto_reset", "batched_ops", "render"):
        marl.testing.CHECKS[check]("robots/crossing", num_envs=3, steps=20, n_agents=8, **keys)


def test_all_at_goal_ends_the_episode_with_success():
    env = marl.make(
        "robots/random", num_envs=2, seed=0, n_agents=4, k_neighbours=3, control="gain", max_steps=400
    )
    result = evaluate(controller("aggressive", env), env, episodes=2, deterministic=True, seed=0)
    assert result["success_rate"] == [1.0, 1.0]
    assert all(length < 400 for length in result["episode_length"])


def test_an_online_gain_passes_the_circle_where_every_fixed_gain_deadlocks():
    success = {}
    for name in ("conservative", "aggressive", "priority"):
        env = marl.make("robots/circle", num_envs=4, seed=0, n_agents=8, control="gain")
        result = evaluate(controller(name, env), env, episodes=4, deterministic=True, seed=0)
        assert sum(result["robot_collisions"]) == 0
        success[name] = sum(result["success_rate"]) / 4
    assert success["conservative"] == success["aggressive"] == 0  # the ring closes in the middle
    assert success["priority"] >= 0.25  # half the robots yield; measured 0.5 on these episodes


def test_team_reward_mixes_the_copys_mean_into_each_robots_reward():
    rewards = {}
    for weight in (0.0, 0.5, 1.0):
        env = marl.make("robots/swap", num_envs=2, seed=0, n_agents=8, control="gain", team_reward=weight)
        env.reset(seed=0)
        policy = controller("aggressive", env)
        for _ in range(3):  # the same states whatever the weight: the reward does not move the robots
            step = env.step(policy.act(None, None)[0])
        rewards[weight] = step["robot"].reward
    own = rewards[0.0]
    assert own.std(1).min() > 0  # robots progress differently, so the mix is visible
    team = own.mean(1, keepdim=True).expand_as(own)
    torch.testing.assert_close(rewards[1.0], team)
    torch.testing.assert_close(rewards[0.5], (own + team) / 2)
    with pytest.raises(ValueError, match="team_reward"):
        marl.make("robots/swap", team_reward=1.5)


def test_bad_keys_are_rejected():
    with pytest.raises(ValueError, match="dynamics"):
        marl.make("robots/circle", dynamics="triple")
    with pytest.raises(ValueError, match="gain_max"):
        marl.make("robots/circle", gain_min=5.0, gain_max=1.0)
    env = marl.make("robots/circle", control="gain")
    with pytest.raises(ValueError, match="control='command'"):
        controller("nominal", env)
    with pytest.raises(ValueError, match="gain must be in"):
        env.action_of_gain(100.0)


def test_render_marks_active_constraints():
    env = marl.make("robots/circle", num_envs=1, seed=0, n_agents=8, control="gain", n_obstacles=2)
    env.reset()
    policy = controller("aggressive", env)
    step = env.reset()
    for _ in range(25):
        step = env.step(policy.act(step, None)[0])
    assert env.last_filter.active.any()
    frame = env.render(0)
    assert frame.dtype.name == "uint8" and frame.shape == (500, 500, 3)
    red = (frame[..., 0] > 200) & (frame[..., 1] < 60) & (frame[..., 2] < 60)
    assert red.sum() > 0


def test_a_graph_policy_learns_gains_and_drives_more_robots_unchanged():
    """gnn_cbf's pieces: IPPO with model=gnn on control=gain trains, and its weights (no agent ids) act for
    four times as many robots."""
    from algos.ppo import IPPO
    from marl.learning.models import ModelConfig

    torch.manual_seed(0)
    model = ModelConfig(kind="gnn", agent_id_size=0)
    env = marl.make("robots/swap", num_envs=4, seed=0, n_agents=8, control="gain")
    algo = IPPO(env, {"rollout_length": 8}, "cpu", model)
    assert algo.models["robot"].uses_neighbours
    assert all(math.isfinite(v) for v in algo.train_iteration().metrics.values())
    big = marl.make("robots/swap", num_envs=2, seed=0, n_agents=32, control="gain")
    transferred = IPPO(big, {"rollout_length": 8}, "cpu", model)
    transferred.load_state_dict(algo.state_dict())
    step, state = big.reset(), transferred.initial_policy_state(2)
    for _ in range(3):
        actions, state = transferred.act(step, state, deterministic=True)
        step = big.step(actions)
    assert big.last_filter is not None and actions["robot"].shape == (2, 32, 1)
