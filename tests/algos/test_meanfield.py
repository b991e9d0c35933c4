"""MF-Q and MF-AC (algos/meanfield.py): the mean action and the mean-field target against hand computations,
acting on the previous mean action, the Ising lattice's ordered phase, checkpoints and config errors."""

import dataclasses
import math
import statistics
from pathlib import Path

import pytest
import torch
import yaml
from beacon_env import BeaconGrid
from torch import nn

import marl
from algos.meanfield import MFAC, MFQ, MFACConfig, MFQConfig, mean_action, mean_field_value, register
from envs import ising
from marl.learning.algorithm import RandomConfig, RandomPolicy, evaluate

register()
ising.register()


def small_graph():
    """Four agents on a path 0 - 1 - 2 - 3 (two slots each, empty slots masked), agent 2 dead."""
    index = torch.tensor([[[1, 0], [0, 2], [1, 3], [2, 0]]])
    mask = torch.tensor([[[True, False], [True, True], [True, True], [True, False]]])
    onehot = torch.tensor([[[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]]])
    alive = torch.tensor([[True, True, False, True]])
    return marl.Neighbours(index=index, mask=mask), onehot, alive


def test_mean_action_over_neighbours_by_hand():
    neighbours, onehot, alive = small_graph()
    mean = mean_action(onehot, alive, neighbours)[0]
    assert mean[0].tolist() == [0, 1, 0]  # agent 1's action
    assert mean[1].tolist() == [1, 0, 0]  # agents 0 and 2, but 2 is dead
    assert mean[2].tolist() == [0.5, 0.5, 0]  # agents 1 and 3 (a dead agent's own mean is still defined)
    assert mean[3].tolist() == [0, 0, 0]  # its only neighbour is dead


def test_mean_action_over_the_group_by_hand():
    _, onehot, alive = small_graph()
    mean = mean_action(onehot, alive, None)[0]
    assert torch.allclose(mean, torch.tensor([2 / 3, 1 / 3, 0]).expand(4, 3))


def test_mean_field_value_and_target_by_hand():
    q = torch.tensor([1.0, 3.0])
    expected = (math.exp(1 / 0.5) * 1 + math.exp(3 / 0.5) * 3) / (math.exp(1 / 0.5) + math.exp(3 / 0.5))
    assert mean_field_value(q, 0.5, None).item() == pytest.approx(expected)
    assert mean_field_value(q, 0.5, torch.tensor([True, False])).item() == pytest.approx(1.0)

    env = marl.make("ising/lattice", size=2, seed=0)
    algo = MFQ(env, MFQConfig(temperature=0.5, gamma=0.9), "cpu")
    fixed = nn.Linear(6, 2)  # Q'(o', ., abar) = (sum of o', 3 abar_up): 4 spins observed, then abar
    with torch.no_grad():
        fixed.weight.copy_(torch.tensor([[1.0, 1, 1, 1, 0, 0], [0, 0, 0, 0, 0, 3]]))
        fixed.bias.zero_()
    algo.target_q["spin"] = fixed
    batch = {
        "next_obs/spin": torch.tensor([[[1.0, 1, -1, 1]]]),
        "mean_action/spin": torch.tensor([[[0.0, 1.0]]]),
        "reward/spin": torch.tensor([[0.5]]),
        "terminated/spin": torch.tensor([[False]]),
    }
    value = (math.exp(2 / 0.5) * 2 + math.exp(3 / 0.5) * 3) / (math.exp(2 / 0.5) + math.exp(3 / 0.5))
    assert algo.target("spin", batch).item() == pytest.approx(0.5 + 0.9 * value)  # Q' = (2, 3)
    batch["terminated/spin"] = torch.tensor([[True]])
    assert algo.target("spin", batch).item() == pytest.approx(0.5)


def test_acting_reads_the_previous_mean_action():
    env = marl.make("ising/lattice", num_envs=2, size=3, max_steps=2, seed=0)
    algo = MFQ(env, MFQConfig(), "cpu")
    step = env.reset()
    actions, state = algo.act(step, None)
    onehot = nn.functional.one_hot(actions["spin"], 2).float()
    expected = onehot[:, ising.lattice_neighbours(3)].mean(2)
    assert torch.allclose(state["spin"], expected)
    # the next action is the Q network's on that mean action; a new episode starts from zeros
    step = env.step(actions)
    q = algo.q["spin"](torch.cat([step["spin"].obs, state["spin"]], -1))
    greedy, _ = algo.act(step, state, deterministic=True)
    assert torch.equal(greedy["spin"], q.argmax(-1))
    step = env.step(greedy)
    assert step.done.all() and bool((algo.fresh(step, state)["spin"] == 0).all())


def test_group_mean_action_works_without_published_neighbours():
    env = BeaconGrid(num_envs=3, seed=0, n_agents=3)  # dict observations, no neighbours
    with pytest.raises(ValueError, match="publishes no neighbours"):
        MFQ(env, MFQConfig(), "cpu")
    algo = MFQ(env, MFQConfig(mean_action="group", learning_starts=8, batch_size=4, rollout_steps=4), "cpu")
    for _ in range(3):
        algo.train_iteration()
    assert algo.updates > 0


def order_after_training(algo_class: type, seed: int, iterations: int, **keys) -> float:
    torch.manual_seed(seed)
    env = marl.make("ising/lattice", num_envs=4, size=8, max_steps=20, seed=seed)
    algo = algo_class(env, algo_class.config_class(**keys), "cpu")
    for _ in range(iterations):
        algo.train_iteration()
    test_env = marl.make("ising/lattice", num_envs=4, size=8, max_steps=20, seed=100 + seed)
    return statistics.mean(evaluate(algo, test_env, 8, deterministic=False, seed=seed)["order_parameter"])


@pytest.mark.slow
@pytest.mark.parametrize(
    "algo_class, iterations, keys",
    [
        (MFQ, 40, {}),
        (MFQ, 40, {"mean_action": "group"}),
        (MFQ, 40, {"exploration": "epsilon_greedy", "epsilon_anneal_steps": 400, "epsilon_end": 0.02}),
        (MFAC, 60, {"rollout_length": 8}),
    ],
    ids=["mfq_boltzmann", "mfq_group", "mfq_epsilon_greedy", "mfac"],
)
def test_the_small_lattice_orders(algo_class, iterations, keys):
    """8 x 8 lattice, 640 (MF-Q) or 480 (MF-AC) steps per copy: the order parameter goes near 1, where a random
    policy's is near 0.1; median of 3 seeds."""
    env = marl.make("ising/lattice", num_envs=4, size=8, max_steps=20, seed=0)
    random = evaluate(RandomPolicy(env, RandomConfig(), "cpu"), env, 8, deterministic=False, seed=0)
    assert statistics.mean(random["order_parameter"]) < 0.3
    orders = [order_after_training(algo_class, seed, iterations, **keys) for seed in range(3)]
    assert statistics.median(orders) >= 0.95


def test_mfac_critic_and_actor_step():
    env = marl.make("ising/lattice", num_envs=2, size=4, max_steps=5, seed=0)
    algo = MFAC(env, MFACConfig(rollout_length=4), "cpu")
    actor = [p.clone() for p in algo.actors.parameters()]
    metrics = algo.train_iteration().metrics
    assert {"spin/policy_loss", "spin/critic_loss", "spin/entropy"} <= set(metrics)
    assert any(not torch.equal(a, b) for a, b in zip(actor, algo.actors.parameters(), strict=True))


@pytest.mark.parametrize(
    "algo_class, keys",
    [
        (MFQ, {"checkpoint_replay": False}),
        (MFQ, {"checkpoint_replay": True}),
        (MFAC, {"rollout_length": 4}),
    ],
    ids=["mfq", "mfq_with_replay", "mfac"],
)
def test_checkpoint_round_trip(algo_class, keys):
    if algo_class is MFQ:
        keys = {"learning_starts": 8, "batch_size": 4, **keys}

    def build():
        env = marl.make("ising/lattice", num_envs=2, size=4, max_steps=5, seed=0)
        return algo_class(env, algo_class.config_class(**keys), "cpu")

    algo = build()
    for _ in range(4):
        algo.train_iteration()
    clone = build()
    clone.load_state_dict(algo.state_dict())
    step = algo.env.reset(seed=5)
    state = algo.initial_policy_state(2)
    assert torch.equal(algo.act(step, state, True)[0]["spin"], clone.act(step, state, True)[0]["spin"])
    generators = [torch.Generator().manual_seed(0) for _ in range(2)]
    sampled = [
        a.act(step, state, False, gen)[0]["spin"] for a, gen in zip([algo, clone], generators, strict=True)
    ]
    assert torch.equal(*sampled)
    assert (clone.updates, clone.env_steps) == (algo.updates, algo.env_steps)
    if algo_class is MFQ:
        assert clone.buffer.added == algo.buffer.added
        assert len(clone.buffer) == (len(algo.buffer) if keys["checkpoint_replay"] else 0)
        if keys["checkpoint_replay"]:
            a, b = (x.buffer.sample(4, torch.Generator().manual_seed(0)) for x in (algo, clone))
            assert all(torch.equal(a[k], b[k]) for k in a)
    assert clone.train_iteration().env_steps > 0  # resets the environment itself and carries on


@pytest.mark.parametrize("name, config_class", [("mfq", MFQConfig), ("mfac", MFACConfig)])
def test_algo_yaml_matches_the_dataclass_defaults(name, config_class):
    path = Path(__file__).parents[2] / "configs" / "algo" / f"{name}.yaml"
    values = yaml.safe_load(path.read_text())
    assert values.pop("defaults") == [f"/schema/algo/{name}@_here_", "_self_"]
    assert values == dataclasses.asdict(config_class())


@pytest.mark.parametrize(
    "keys, message",
    [
        ({"mean_action": "all"}, "mean_action"),
        ({"exploration": "greedy"}, "exploration"),
        ({"temperature": 0.0}, "temperature"),
        ({"tau": 1.5}, "tau"),
        ({"hidden_sizes": []}, "hidden_sizes"),
    ],
)
def test_bad_config_is_refused(keys, message):
    env = marl.make("ising/lattice", size=2, seed=0)
    with pytest.raises(ValueError, match=message):
        MFQ(env, MFQConfig(**keys), "cpu")


def test_the_benchmark_script_writes_its_result_file(tmp_path):
    import importlib.util

    path = Path(__file__).parents[2] / "benchmarks" / "meanfield_speed.py"
    spec = importlib.util.spec_from_file_location("meanfield_speed", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path / "speed.json"
    tiny = "--size 3 --envs 1 --steps 2 --train-iterations 1 --iterations 1 --seeds 0 --out"
    script.main([*tiny.split(), str(out)])
    result = yaml.safe_load(out.read_text())  # JSON is YAML
    assert result["throughput"][0]["agents_per_copy"] == 9 and set(result["order_parameter"]) >= {
        "mfq",
        "mfac",
    }
