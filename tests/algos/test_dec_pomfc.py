"""Dec-POMFC (algos/dec_pomfc.py): the kernel decision rule at its support points, the permutation-invariant
embedding, decentralised execution, the upper-level reward and clock, learning on a small Vicsek swarm (and
zero-shot at another N), checkpoints and configuration errors."""

import copy
import dataclasses
import statistics
from pathlib import Path

import pytest
import torch
import yaml

import marl
from algos.dec_pomfc import (
    DecPOMFC,
    DecPOMFCConfig,
    episode_steps,
    evaluate_rule,
    kernel_embedding,
    mean_reward,
    register,
    rule_weights,
)
from envs import swarm
from marl.learning.algorithm import RandomConfig, RandomPolicy, evaluate

register()  # until the lead re-installs with the new `marl.algos` entry point
swarm.register()

SMALL = {"n_agents": 8, "k_neighbours": 3, "max_steps": 50}


def vicsek(seed: int = 0, num_envs: int = 4, **keys):
    return marl.make("swarm/vicsek", num_envs=num_envs, seed=seed, **{**SMALL, **keys})


def algo_on(env, **config):
    torch.manual_seed(0)
    return DecPOMFC(env, {"rollout_length": 50, "chunk_length": 10, **config}, "cpu")


# ---------------------------------------------------------------------------------------------- the rule
@pytest.mark.parametrize("continuous", [True, False])
def test_the_rule_at_its_support_points_returns_the_stored_parameters(continuous):
    model = algo_on(vicsek(continuous_actions=continuous)).models["agent"]
    model.rule_bandwidth.fill_(1e-3)  # a narrow kernel: each support point's weight on itself is ~1
    M = model.support.shape[0]
    at_support = (model.support * model.obs_std + model.obs_mean)[None, None]  # [L=1, B=1, n=M, D]
    counter = torch.full((1, M, 1), 17.0)  # the copy's clock reads step 17
    with torch.no_grad():
        dist, _ = model.actor(at_support, counter, torch.zeros(1, 1, M, dtype=torch.bool), None)
        theta = model.rule_parameters(torch.tensor([[17 / model.horizon]]))[0]  # [M, P]
    if continuous:
        torch.testing.assert_close(dist.mean[0, 0], theta, atol=1e-5, rtol=1e-4)
    else:
        torch.testing.assert_close(dist.logits[0, 0].softmax(-1), theta.softmax(-1), atol=1e-5, rtol=1e-4)
    assert not torch.allclose(theta[0], theta[1])  # the points store different parameters


def test_rule_weights_are_normalised_and_the_rule_interpolates():
    support = torch.tensor([[0.0], [1.0]])
    theta = torch.tensor([[2.0], [4.0]])
    weights = rule_weights(torch.tensor([[0.0], [0.5], [1.0]]), support, 1e-2)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3))
    torch.testing.assert_close(evaluate_rule(theta, weights), torch.tensor([[2.0], [3.0], [4.0]]))


# ---------------------------------------------------------------------------------------------- embedding
def test_the_embedding_and_the_value_of_a_permuted_swarm_are_unchanged():
    model = algo_on(vicsek()).models["agent"]
    obs = torch.rand(1, 3, 8, model.support.shape[1]) * 2 - 1
    permuted = obs[:, :, torch.randperm(8)]
    torch.testing.assert_close(model.embedding(permuted), model.embedding(obs))
    with torch.no_grad():
        values, _ = model.critic(obs, None, torch.zeros(3, 8, 0), None)
        values_permuted, _ = model.critic(permuted, None, torch.zeros(3, 8, 0), None)
    torch.testing.assert_close(values_permuted, values)
    assert torch.equal(values, values[..., :1].expand_as(values))  # one value per copy, for every agent
    # the mean of the kernel features, by hand for one support point
    x = torch.zeros(1, 2)
    y = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    expected = (torch.tensor(-1 / 2).exp() + torch.tensor(-4 / 2).exp()) / 2
    torch.testing.assert_close(kernel_embedding(y, x, 1.0), expected[None])


# ---------------------------------------------------------------------------------------------- execution
@pytest.mark.parametrize("upper_input", ["time", "embedding"])
def test_an_agent_acts_on_its_own_observation_and_the_rule_only(upper_input):
    algo = algo_on(vicsek(), upper_input=upper_input)
    model = algo.models["agent"]
    algo.train_iteration()  # move away from the near-uniform initial rule
    obs = vicsek(seed=3).reset()["agent"].obs[None]  # [1, B, n, D]
    counter, starts = torch.full((4, 8, 1), 5.0), torch.zeros(1, 4, 8, dtype=torch.bool)
    others = obs.clone()
    others[:, :, 1:] = others[:, :, 1:].flip(1)  # every other agent sees something else
    mine = obs.clone()
    mine[:, :, 0] = obs[:, :, 0].roll(1, dims=1)  # agent 0 sees another copy's observation
    with torch.no_grad():
        if upper_input == "time":
            base = model.actor(obs, counter, starts, None)[0].mean[0, :, 0]
            assert torch.equal(model.actor(others, counter, starts, None)[0].mean[0, :, 0], base)
            assert not torch.allclose(model.actor(mine, counter, starts, None)[0].mean[0, :, 0], base)
        else:
            # the rule (computed from the swarm's embedding, then broadcast) fixed: each agent reads its own
            # observation only
            theta = model.rule_parameters(model.embedding(obs))  # [1, B, M, P]
            weights = rule_weights(model.standardise(obs), model.support, model.rule_bandwidth)
            weights_others = rule_weights(model.standardise(others), model.support, model.rule_bandwidth)
            base = evaluate_rule(theta, weights)[0, :, 0]
            assert torch.equal(evaluate_rule(theta, weights_others)[0, :, 0], base)


def test_the_clock_restarts_with_the_copy_and_not_when_one_agent_joins():
    hidden = torch.tensor([[[3.0], [3.0]], [[7.0], [0.0]]])  # copy 1's agent 1 had joined later
    starts = torch.tensor(
        [[[False, False], [False, True]], [[True, True], [False, False]], [[False, False], [False, False]]]
    )
    steps, after = episode_steps(hidden, starts)
    assert steps.tolist() == [[3, 7], [0, 8], [1, 9]]
    assert after[..., 0].tolist() == [[2, 2], [10, 10]]


def test_the_upper_level_reward_is_the_mean_over_live_agents():
    reward = torch.tensor([[1.0, 2.0, 6.0], [0.0, 3.0, 3.0]])
    alive = torch.tensor([[True, True, False], [True, True, True]])
    assert mean_reward(reward, alive).tolist() == [[1.5, 1.5, 1.5], [2.0, 2.0, 2.0]]


# ---------------------------------------------------------------------------------------------- learning
def final_polarisation(policy, n_agents: int, seed: int) -> float:
    env = vicsek(seed=100 + seed, num_envs=8, n_agents=n_agents)
    return statistics.mean(evaluate(policy, env, 8, deterministic=True, seed=seed)["polarisation"])


@pytest.mark.slow
def test_a_small_vicsek_swarm_aligns_and_the_rule_transfers_to_another_n():
    random = statistics.median(
        final_polarisation(RandomPolicy(vicsek(), RandomConfig(), "cpu"), 8, s) for s in range(3)
    )
    learned, transferred = [], []
    for seed in range(3):
        torch.manual_seed(seed)
        algo = DecPOMFC(vicsek(seed=seed, num_envs=8), {"rollout_length": 50, "chunk_length": 10}, "cpu")
        for _ in range(8):
            algo.train_iteration()
        learned.append(final_polarisation(algo, 8, seed))
        transferred.append(final_polarisation(algo, 16, seed))  # zero shot: trained at N = 8
    assert random < 0.4
    assert statistics.median(learned) > 0.75
    assert statistics.median(transferred) > 0.6


# ---------------------------------------------------------------------------------------------- checkpoints
def test_state_dict_resumes_exactly():
    first = algo_on(vicsek(), lr_anneal_steps=5000)
    for _ in range(2):
        first.train_iteration()
    state = copy.deepcopy(first.state_dict())
    torch.manual_seed(99)  # other support points and weights, which the checkpoint must overwrite
    second = DecPOMFC(
        vicsek(seed=5), {"rollout_length": 50, "chunk_length": 10, "lr_anneal_steps": 5000}, "cpu"
    )
    assert not torch.equal(second.models["agent"].support, first.models["agent"].support)
    second.load_state_dict(state)
    first.load_state_dict(state)
    for algo in (first, second):
        algo.runner.restart()
        algo.env.seed(7)
    out_first, out_second = first.train_iteration(), second.train_iteration()
    assert out_first.metrics == out_second.metrics
    assert out_first.metrics["lr"] < 5e-4  # the schedule continued from the checkpoint
    a, b = first.models.state_dict(), second.models.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_an_experiment_runs_and_resumes(tmp_path):
    run = {
        "env": {"id": "swarm/vicsek", **SMALL, "max_steps": 20},
        "algo": {"name": "dec_pomfc", "rollout_length": 20, "chunk_length": 10, "epochs": 2},
        "num_envs": 2,
        "eval_episodes": 2,
        "progress": False,
        "run_dir": str(tmp_path),
    }
    marl.Experiment(run, total_steps=40, eval_every=40).run()
    resumed = marl.Experiment(run, total_steps=80, eval_every=40)
    resumed.run()
    assert [row["step"] for row in resumed.metrics] == [40, 80]


# ---------------------------------------------------------------------------------------------- configuration
def test_algo_yaml_matches_the_dataclass_defaults():
    path = Path(__file__).parents[2] / "configs" / "algo" / "dec_pomfc.yaml"
    values = yaml.safe_load(path.read_text())
    assert values.pop("defaults") == ["/schema/algo/dec_pomfc@_here_", "_self_"]
    assert values == dataclasses.asdict(DecPOMFCConfig())


@pytest.mark.parametrize(
    "keys, message",
    [
        ({"support_points": 0}, "support_points"),
        ({"rule_bandwidth": 0.0}, "rule_bandwidth"),
        ({"upper_input": "state"}, "upper_input"),
        ({"rollout_length": 50, "chunk_length": 8}, "multiple of chunk_length"),
        ({"support_points": 10_000, "support_warmup_steps": 1}, "warm-up"),
    ],
)
def test_bad_config_is_refused(keys, message):
    with pytest.raises(ValueError, match=message):
        DecPOMFC(vicsek(), {"rollout_length": 50, "chunk_length": 10, **keys}, "cpu")


def test_other_model_kinds_are_refused():
    with pytest.raises(ValueError, match="model kind must be 'mlp'"):
        DecPOMFC(vicsek(), {"rollout_length": 50, "chunk_length": 10}, "cpu", {"kind": "gru"})


def test_the_benchmark_script_writes_its_result_file(tmp_path):
    import importlib.util

    path = Path(__file__).parents[2] / "benchmarks" / "dec_pomfc_swarms.py"
    spec = importlib.util.spec_from_file_location("dec_pomfc_swarms", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path / "swarms.json"
    tiny = "--tasks aggregation --algos dec_pomfc ippo --n 8 --transfer-n 10 --envs 1 --max-steps 10"
    script.main(
        [*tiny.split(), "--iterations", "1", "--eval-episodes", "1", "--seeds", "0", "--out", str(out)]
    )
    result = yaml.safe_load(out.read_text())["results"]["aggregation"]  # JSON is YAML
    assert result["metric"] == "distance_to_centroid"
    assert set(result["dec_pomfc"]) == {"runs", "n8", "n10"} and set(result["random"]) == {"n8", "n10"}
