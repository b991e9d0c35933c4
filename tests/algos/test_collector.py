"""The rollout collector: raw storage that grows linearly with the agents, sequence starts at `done | joined`,
legal MultiDiscrete samples, reproducible evaluation, and learning on a Dict observation."""

import numpy as np
import pytest
import torch
from arena_env import RespawnArena
from beacon_env import BeaconGrid
from toy_env import ToyWalk

import marl
from algos.dpo import DPO
from algos.ppo import IPPO, MAPPO
from marl.learning.models import ModelConfig

ALGOS = {"ippo": IPPO, "mappo": MAPPO, "dpo": DPO}


def storage_bytes(n_agents: int) -> int:
    torch.manual_seed(0)
    env = ToyWalk(num_envs=16, seed=0, n_walkers=n_agents, size=64)
    algo = IPPO(env, {"rollout_length": 32}, "cpu")
    return algo.collector.collect(algo.generator).nbytes()


def test_storage_grows_linearly_with_the_number_of_agents():
    """1,024 agents x 16 copies x 32 steps: four times the agents of 256 take four times the memory (a stored
    one-hot id would take sixteen), and no more than a few hundred bytes per agent-step."""
    small, large = storage_bytes(256), storage_bytes(1024)
    assert large / small == pytest.approx(4.0, rel=0.02)
    assert large / (1024 * 16 * 32) < 200


def test_the_rollout_keeps_raw_dict_observations_and_state_once_per_copy():
    torch.manual_seed(0)
    env = RespawnArena(num_envs=3, seed=0, n_agents=4, k=2)
    algo = MAPPO(env, {"rollout_length": 8}, "cpu")
    rollout = algo.collector.collect(algo.generator)
    stored = rollout.groups["agent"]
    assert {k: tuple(v.shape) for k, v in stored["obs"].items()} == {
        "grid": (8, 3, 4, 3, 5, 5),
        "others": (8, 3, 4, 2, 3),
        "others_mask": (8, 3, 4, 2),
    }
    assert rollout.state.shape == (8, 3, *env.state_space.shape)
    assert "neighbour_index" not in stored  # an mlp reads no neighbours, so none are kept


def test_sequences_restart_where_agents_join():
    """Agents that respawn start a new sequence: the GRU update replays the rollout's policy exactly."""
    torch.manual_seed(0)
    env = RespawnArena(num_envs=8, seed=0, n_agents=3, k=2, respawn_delay=1)
    algo = IPPO(env, {"rollout_length": 32, "chunk_length": 8}, "cpu", ModelConfig(kind="gru"))
    batch = algo.prepare_batch()["agent"].data
    rollout = algo.collector.rollout
    joined = rollout.groups["agent"]["joined"]
    assert joined.any() and torch.equal(
        rollout.starts("agent")[joined], torch.ones(int(joined.sum()), dtype=torch.bool)
    )
    with torch.no_grad():
        dist, values_n = algo.evaluate("agent", batch)
    assert torch.allclose(dist.log_prob(batch.action), batch.log_prob, atol=1e-5)
    assert torch.allclose(values_n, batch.value_n, atol=1e-5)


@pytest.mark.parametrize("name", ALGOS)
def test_masked_multi_discrete_components_are_never_sampled_illegal(name):
    torch.manual_seed(0)
    env = RespawnArena(num_envs=16, seed=0, n_agents=3, k=2, size=4)
    algo = ALGOS[name](env, {"rollout_length": 16}, "cpu")
    for _ in range(3):
        algo.train_iteration()
        stored = algo.collector.rollout.groups["agent"]
        move, eat = stored["action"].unbind(-1)
        mask = stored["action_mask"]
        assert mask.gather(-1, move[..., None]).all() and mask[..., 5:].gather(-1, eat[..., None]).all()
        assert (~mask[..., 5:][..., 1]).float().mean() > 0.5  # eating is illegal most of the time
    for deterministic in (True, False):  # the environment refuses illegal actions of live agents
        marl.evaluate(algo, env, 16, deterministic=deterministic, seed=1)


@pytest.mark.parametrize("name", ALGOS)
def test_evaluation_with_a_seed_is_reproducible_and_leaves_training_alone(name):
    torch.manual_seed(0)
    algo = ALGOS[name](ToyWalk(num_envs=4, seed=0), {"rollout_length": 8}, "cpu")
    algo.train_iteration()
    training_draws = algo.generator.get_state()
    env = ToyWalk(num_envs=4)
    first = marl.evaluate(algo, env, 12, deterministic=False, seed=5)
    second = marl.evaluate(algo, env, 12, deterministic=False, seed=5)
    assert first == second
    assert marl.evaluate(algo, env, 12, deterministic=False, seed=6) != first
    assert torch.equal(algo.generator.get_state(), training_draws)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ippo", "mappo"])
def test_learns_from_a_grid_and_an_entity_set(name):
    """BeaconGrid's reward needs the grid (where the agent is) and the entity set (where its beacon is)."""
    env = BeaconGrid(num_envs=32, seed=123)
    random_return = np.mean(
        marl.evaluate(marl.RandomPolicy(env, None, "cpu"), env, 128, False, 123)["episode_return"]
    )
    returns = []
    for seed in range(3):
        torch.manual_seed(seed)
        algo = ALGOS[name](BeaconGrid(num_envs=16, seed=seed), {}, "cpu", ModelConfig(kind="entity"))
        for _ in range(20):
            algo.train_iteration()
        returns.append(
            np.mean(marl.evaluate(algo, env, 128, deterministic=False, seed=123)["episode_return"])
        )
    assert random_return < 0.3 < 1.5 < np.median(returns), returns
