"""MANSA: the switch's choice decides who acts and who learns, the CL-call count on a hand-checked rollout, the
budget, the configuration, checkpoints, and (slow) what the switch learns at cost 0 and at a large cost."""

import copy
import dataclasses
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from distractor_env import DistractorMatch
from omegaconf import OmegaConf
from torch import Tensor
from toy_env import ToyWalk

import marl
from algos import dpo, mansa, ppo
from algos.mansa import MANSA, MANSAConfig
from marl.learning.models import ModelConfig

ppo.register()
dpo.register()
mansa.register()


class Countdown(marl.BatchedEnv):
    """Three agents; agent i terminates after step i + 1, so 3, 2 and 1 agents act at the three steps of an
    episode. Every live agent gets reward 1 per step and remembers its last action (`last`)."""

    def __init__(self, num_envs: int = 1, device: str = "cpu", seed: int | None = None) -> None:
        group = marl.GroupSpec(
            marl.agent_names("agent", 3), gym.spaces.Box(0.0, 1.0, (1,), np.float32), gym.spaces.Discrete(2)
        )
        super().__init__(groups={"agent": group}, num_envs=num_envs, device=device, seed=seed)
        self.last = torch.zeros(num_envs, 3, dtype=torch.long)

    def _reset(self, mask: Tensor) -> None:
        pass

    def _step(self, actions: dict[str, Tensor]) -> dict[str, tuple[Tensor, Tensor]]:
        self.last = actions["agent"].clone()
        reward = torch.ones(self.num_envs, 3)
        terminated = (self.elapsed[:, None] + 1 >= torch.arange(1, 4)).expand_as(reward)
        return {"agent": (reward, terminated)}

    def _observe(self) -> dict[str, Tensor]:
        return {"agent": self.elapsed[:, None, None].float().expand(-1, 3, 1)}


def switch_always_asks_for_cl(algo: MANSA) -> None:
    """Make the switch choose g = 1 wherever the budget allows it (its logits: 0 for IL, 20 for CL)."""
    head = algo.switch.models["switch"].head.linear
    with torch.no_grad():
        head.weight.zero_()
        head.bias.copy_(torch.tensor([0.0, 20.0]))


# ---------------------------------------------------------------------------------------------- CL calls
@pytest.mark.parametrize(
    ("cl_call", "budget", "calls", "possible"),
    [
        ("agent_step", None, [3, 2, 1], [3, 2, 1]),
        ("agent_step", 4, [3, 0, 1], [3, 2, 1]),  # 3 + 2 would exceed 4; the last agent-step still fits
        ("step", 2, [1, 1, 0], [1, 1, 1]),
    ],
)
def test_cl_calls_on_a_hand_checked_rollout(cl_call, budget, calls, possible):
    torch.manual_seed(0)
    config = {"rollout_length": 6, "cl_call": cl_call, "budget": budget, "cost": 0.5}
    algo = MANSA(Countdown(num_envs=2, seed=0), config, "cpu")
    switch_always_asks_for_cl(algo)
    sent = []
    advance = algo.runner.advance
    algo.runner.advance = lambda actions: sent.append(actions["agent"].clone()) or advance(actions)
    metrics = algo.train_iteration().metrics

    expected_calls = torch.tensor(calls * 2, dtype=torch.float)[:, None].expand(6, 2)  # two episodes per copy
    assert torch.equal(algo.calls, expected_calls)
    assert torch.equal(algo.possible, torch.tensor(possible * 2, dtype=torch.float)[:, None].expand(6, 2))
    assert metrics["mansa/cl_fraction"] == pytest.approx(sum(calls) / sum(possible))
    assert metrics["mansa/cl_step_fraction"] == pytest.approx(sum(c > 0 for c in calls) / 3)
    assert metrics["mansa/max_episode_cl_calls"] == sum(calls)
    if budget is not None:
        assert metrics["mansa/budget_used"] == pytest.approx(sum(calls) / budget)
    # the switch's reward: the team reward (the live agents' rewards summed) less 0.5 per CL call
    team = torch.tensor([3.0, 2.0, 1.0] * 2)[:, None]
    switch_reward = algo.switch.collector.rollout.groups["switch"]["reward"][:, :, 0]
    assert torch.allclose(switch_reward, team - 0.5 * expected_calls)
    # the environment got the CL actions where g = 1 and the IL ones elsewhere; each learner keeps only the
    # samples of its own steps (and of live agents)
    il_store = algo.il.collector.rollout.groups["agent"]
    cl_store = algo.cl.collector.rollout.groups["agent"]
    use_cl = algo.use_cl[:, :, None]
    for t, actions in enumerate(sent):
        assert torch.equal(actions, torch.where(use_cl[t], cl_store["action"][t], il_store["action"][t]))
    alive = torch.tensor([[1, 1, 1], [0, 1, 1], [0, 0, 1]] * 2, dtype=torch.bool)[:, None]
    assert torch.equal(cl_store["alive"], alive & use_cl)
    assert torch.equal(il_store["alive"], alive & ~use_cl)


def test_the_budget_is_never_exceeded_in_training_or_acting():
    torch.manual_seed(0)
    env = DistractorMatch(num_envs=8, seed=0, rounds=4)
    algo = MANSA(env, {"rollout_length": 8, "budget": 3}, "cpu")  # 2 agents: one CL step per episode fits
    switch_always_asks_for_cl(algo)
    episode = torch.zeros(8)
    most = 0.0
    for _ in range(3):
        metrics = algo.train_iteration().metrics
        for calls, done in zip(algo.calls, algo.il.collector.rollout.done, strict=True):
            episode += calls
            most = max(most, float(episode.max()))
            episode[done] = 0
        assert metrics["mansa/max_episode_cl_calls"] <= 3
    assert most == 2  # the switch always asked: the budget held it at one CL step of 2 calls per episode
    other = DistractorMatch(num_envs=3, seed=1, rounds=4)  # acting also runs other copies than training's
    step, state = other.reset(seed=1), algo.initial_policy_state(3)
    for _ in range(12):
        actions, state = algo.act(step, state)
        assert bool((state["remaining"] >= 0).all())
        step = other.step(actions)


# ---------------------------------------------------------------------------------------------- learning
def final_cl_fraction(seed: int, cost: float, iterations: int) -> tuple[float, float]:
    torch.manual_seed(seed)
    fast = {"lr": 3e-3, "critic_lr": 3e-3}
    config = {"rollout_length": 16, "cost": cost, "il": fast, "cl": fast, "switch": fast}
    algo = MANSA(DistractorMatch(num_envs=16, seed=seed, noise=10.0, rounds=1), config, "cpu")
    for _ in range(iterations):
        metrics, episodes = algo.train_iteration().metrics, algo.episodes.pop()
    return metrics["mansa/cl_fraction"], episodes["match_rate"]


@pytest.mark.slow
def test_at_cost_zero_the_switch_learns_to_call_cl_where_it_helps():
    # a state-reading critic sees the large shared reward noise of DistractorMatch, a local one cannot:
    # MAPPO solves the task in about 10 iterations, IPPO is still near chance (1/3)
    results = [final_cl_fraction(seed, cost=0.0, iterations=16) for seed in range(3)]
    assert np.median([fraction for fraction, _ in results]) > 0.9
    assert np.median([match for _, match in results]) > 0.8


@pytest.mark.slow
def test_at_a_large_cost_the_switch_learns_independent_learning():
    results = [final_cl_fraction(seed, cost=1.0, iterations=8) for seed in range(3)]
    assert np.median([fraction for fraction, _ in results]) < 0.1


# ---------------------------------------------------------------------------------------------- checkpoints
def test_state_dict_resumes_exactly():
    config = {"rollout_length": 8, "budget": 5, "il": {"chunk_length": 4}, "cl": {"lr_anneal_steps": 2000}}
    model = ModelConfig(kind="gru")
    torch.manual_seed(0)
    first = MANSA(ToyWalk(num_envs=4, seed=0), config, "cpu", model)
    for _ in range(3):
        first.train_iteration()
    state = copy.deepcopy(first.state_dict())
    torch.manual_seed(99)  # a different initialisation that the checkpoint must overwrite entirely
    second = MANSA(ToyWalk(num_envs=4, seed=5), config, "cpu", model)
    second.load_state_dict(state)
    first.load_state_dict(state)
    for algo in (first, second):
        algo.env.seed(7)
    out_first, out_second = first.train_iteration(), second.train_iteration()
    assert out_first.metrics == out_second.metrics
    assert out_first.metrics["cl/lr"] < 5e-4  # the CL learner's schedule continued from the checkpoint
    for name in ("il", "cl", "switch"):
        a, b = first.learners[name].models.parameters(), second.learners[name].models.parameters()
        assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_an_experiment_resumes_and_logs_the_cl_fraction(tmp_path):
    run = {
        "env": "test/toy_walk",
        "algo": {"name": "mansa", "budget": 6, "rollout_length": 16, "il": {"epochs": 2}},
        "num_envs": 4,
        "eval_episodes": 2,
        "progress": False,
        "run_dir": str(tmp_path),
    }
    marl.Experiment(run, total_steps=64, eval_every=64).run()
    resumed = marl.Experiment(run, total_steps=128, eval_every=64)
    resumed.run()
    assert [row["step"] for row in resumed.metrics] == [64, 128]
    assert all(0 <= row["mansa/cl_fraction"] <= 1 for row in resumed.metrics)
    assert all(row["mansa/max_episode_cl_calls"] <= 6 for row in resumed.metrics)


# ---------------------------------------------------------------------------------------------- configuration
def test_the_pairing_is_configurable():
    torch.manual_seed(0)
    algo = MANSA(
        ToyWalk(num_envs=2, seed=0), {"il_algo": "dpo", "cl_algo": "ippo", "il": {"target_kl": 0.02}}, "cpu"
    )
    assert type(algo.il).__name__ == "DPO" and algo.il.config.target_kl == 0.02
    assert algo.cl.critic_input() == "obs"
    metrics = algo.train_iteration().metrics
    assert "mansa/cl_fraction" in metrics and any(k.startswith("switch/") for k in metrics)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"cost": -1.0}, "cost must be >= 0"),
        ({"budget": 0}, "budget must be a positive integer"),
        ({"cl_call": "update"}, "cl_call must be one of"),
        ({"team_reward": "max"}, "team_reward must be one of"),
        ({"il": {"rollout_length": 8}}, "set the top-level rollout_length"),
        ({"il_algo": "maddpg"}, "not a learner of the on-policy core"),
        ({"cl_algo": "qmix"}, "qmix"),
        ({"cl": {"lrr": 0.1}}, "no fields"),
        ({"cots": 1.0}, "no fields"),
    ],
)
def test_bad_configs_fail_with_a_clear_message(config, message):
    from algos import maddpg

    maddpg.register()
    with pytest.raises((ValueError, TypeError, LookupError), match=message):
        MANSA(ToyWalk(num_envs=2), config, "cpu")


def test_config_yaml_matches_the_dataclass_defaults():
    path = Path(__file__).resolve().parents[2] / "configs" / "algo" / "mansa.yaml"
    values = OmegaConf.load(path)
    assert list(values.pop("defaults")) == ["/schema/algo/mansa@_here_", "_self_"]
    assert set(values) == {f.name for f in dataclasses.fields(MANSAConfig)}
    assert OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(MANSAConfig), values)) == MANSAConfig()
