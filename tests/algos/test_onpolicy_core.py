"""The shared on-policy machinery: distributions, normaliser, GRU resets, dead-agent masking, checkpoints,
decentralised acting, configuration errors and registration."""

import copy
import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from torch import Tensor
from toy_env import ToyWalk

import marl
from algos import dpo, ppo
from algos.dpo import DPO, DPOConfig
from algos.ppo import IPPO, MAPPO, IPPOConfig, MAPPOConfig
from marl.learning.collector import make_batch
from marl.learning.distributions import ActionHead, Categorical
from marl.learning.models import ModelConfig
from marl.learning.networks import GRUCore
from marl.learning.normalization import RunningNormalizer

ppo.register()
dpo.register()

ALGOS = {"ippo": (IPPO, IPPOConfig), "mappo": (MAPPO, MAPPOConfig), "dpo": (DPO, DPOConfig)}
BATCH = {"gamma": 0.99, "gae_lambda": 0.95, "normalize_advantages": True, "chunk_length": 1}


# ---------------------------------------------------------------------------------------------- distributions
def test_masked_categorical_never_samples_illegal_actions_and_handles_all_illegal_rows():
    torch.manual_seed(0)
    logits = torch.randn(1000, 5) * 3
    mask = torch.rand(1000, 5) < 0.5
    mask[:10] = False  # rows with no legal action fall back to the unmasked distribution (no NaN)
    dist = Categorical(logits, mask)
    samples = torch.stack([dist.sample() for _ in range(20)])
    legal = mask.gather(1, samples.T).T
    some_legal = mask.any(dim=1)
    assert some_legal.sum() > 900 and legal[:, some_legal].all()
    assert torch.isfinite(dist.entropy()).all() and torch.isfinite(dist.log_prob(samples[0])).all()
    assert (dist.log_probs[some_legal][~mask[some_legal]].exp() == 0).all()
    assert torch.allclose(dist.kl(dist), torch.zeros(1000), atol=1e-6)


def test_bounded_gaussian_actions_stay_in_bounds_and_unbounded_pass_through():
    space = gym.spaces.Box(
        np.array([-2.0, 0.0, -np.inf], np.float32), np.array([1.0, 0.5, np.inf], np.float32)
    )
    head = ActionHead(space, 4, init_log_std=1.0)
    dist = head(torch.randn(5000, 4) * 10)
    raw = dist.sample()
    action = head.to_env(raw)
    low, high = torch.tensor([-2.0, 0.0]), torch.tensor([1.0, 0.5])
    assert ((action[:, :2] >= low) & (action[:, :2] <= high)).all()
    assert (
        action[:, :2].min(0).values.lt(low + 0.1).all() and action[:, :2].max(0).values.gt(high - 0.1).all()
    )
    assert torch.equal(action[:, 2], raw[:, 2])
    # the deterministic action is the squashed mean
    mean = dist.mode()
    assert torch.allclose(head.to_env(mean)[:, 0], -2.0 + (torch.tanh(mean[:, 0]) + 1) * 1.5)


def test_one_sided_box_bounds_are_rejected():
    with pytest.raises(ValueError, match="bounded on one side"):
        ActionHead(gym.spaces.Box(np.array([0.0], np.float32), np.array([np.inf], np.float32)), 4)


def test_multi_discrete_head_samples_each_component_in_range():
    head = ActionHead(gym.spaces.MultiDiscrete([2, 5, 3]), 4)
    dist = head(torch.randn(1000, 4))
    action = dist.sample()
    assert action.shape == (1000, 3)
    assert (action >= 0).all() and (action < torch.tensor([2, 5, 3])).all()
    assert torch.allclose(
        dist.log_prob(action), sum(p.log_prob(action[:, k]) for k, p in enumerate(dist.parts))
    )


# ---------------------------------------------------------------------------------------------- normaliser
def test_running_normalizer_matches_the_statistics_of_the_live_entries():
    norm = RunningNormalizer()
    chunks = [torch.randn(50, 3) * 4 + 2, torch.randn(30, 3) - 1]
    masks = [torch.rand(50, 3) < 0.7, torch.rand(30, 3) < 0.5]
    for x, m in zip(chunks, masks, strict=True):
        norm.update(x, m)
    norm.update(torch.randn(4, 3), torch.zeros(4, 3, dtype=torch.bool))  # every agent dead: no change
    live = torch.cat([x[m] for x, m in zip(chunks, masks, strict=True)]).double()
    assert norm.mean.item() == pytest.approx(live.mean().item(), rel=1e-6)
    assert norm.var.item() == pytest.approx(live.var(unbiased=False).item(), rel=1e-6)
    x = torch.randn(10)
    assert torch.allclose(norm.denormalize(norm.normalize(x)), x, atol=1e-5)


# ---------------------------------------------------------------------------------------------- recurrence
def test_gru_core_resets_hidden_state_where_an_episode_starts():
    torch.manual_seed(0)
    core = GRUCore(3, 8)
    x, h0 = torch.randn(6, 4, 3), torch.randn(4, 8)
    starts = torch.zeros(6, 4, dtype=torch.bool)
    starts[3, 1] = True
    out, _ = core(x, h0, starts)
    fresh, _ = core(x[3:, 1:2], torch.zeros(1, 8), torch.zeros(3, 1, dtype=torch.bool))
    assert torch.allclose(out[3:, 1:2], fresh, atol=1e-6)
    unreset, _ = core(x, h0, torch.zeros_like(starts))
    assert torch.allclose(out[:, 0], unreset[:, 0]) and not torch.allclose(out[3:, 1], unreset[3:, 1])


@pytest.mark.parametrize("kind", ["mlp", "gru"])
def test_update_recomputes_the_rollout_policy_exactly(kind):
    """Chunked BPTT with resets inside chunks reproduces the rollout's log-probabilities and values."""
    torch.manual_seed(0)
    env = ToyWalk(num_envs=8, seed=0, end_prob=0.1)
    algo = MAPPO(env, MAPPOConfig(rollout_length=16, chunk_length=8), "cpu", ModelConfig(kind=kind))
    batches = algo.prepare_batch()
    assert algo.collector.rollout.first[1:].any()  # episodes started inside the chunks
    for g, batch in batches.items():
        with torch.no_grad():
            dist, values_n = algo.evaluate(g, batch.data)
        assert torch.allclose(dist.log_prob(batch.data.action), batch.data.log_prob, atol=1e-5)
        assert torch.allclose(values_n, batch.data.value_n, atol=1e-5)


# ---------------------------------------------------------------------------------------------- dead agents
@pytest.mark.parametrize("name", ALGOS)
def test_dead_agent_samples_do_not_change_the_update(name):
    """Whatever sits in storage for dead agents (rewards, values, actions, old policies) leaves the advantages,
    the value normaliser and the updated networks unchanged."""
    algo_class, config_class = ALGOS[name]
    torch.manual_seed(0)
    env = ToyWalk(num_envs=8, seed=0, size=4)
    algo = algo_class(env, config_class(rollout_length=16, num_minibatches=2), "cpu")
    rollout = algo.collector.collect(algo.generator)
    twin = copy.deepcopy(algo)
    store = twin.collector.rollout.groups["walker"]
    dead = ~store["alive"]
    assert dead.float().mean() > 0.2  # walkers die on arrival, long before the episode ends
    store["reward"][dead] = 50.0
    store["value"][dead] = -30.0
    store["value_n"][dead] = 7.0
    store["final_value"][dead] = 99.0
    store["log_prob"][dead] = -5.0
    store["dist_params"][dead] = torch.randn_like(store["dist_params"][dead]) * 5
    store["action"][dead] = 2 - store["action"][dead]
    algo.update(make_batch(rollout, algo.value_normalizers, **BATCH))
    twin.update(make_batch(twin.collector.rollout, twin.value_normalizers, **BATCH))
    for a, b in zip(algo.models.parameters(), twin.models.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)
    assert torch.allclose(algo.value_normalizers["walker"].var, twin.value_normalizers["walker"].var)


# ---------------------------------------------------------------------------------------------- checkpoints
@pytest.mark.parametrize("name", ALGOS)
def test_state_dict_resumes_exactly(name):
    algo_class, config_class = ALGOS[name]
    config = config_class(rollout_length=8, chunk_length=4, lr_anneal_steps=2000)
    model = ModelConfig(kind="gru" if name == "mappo" else "mlp")
    torch.manual_seed(0)
    first = algo_class(ToyWalk(num_envs=4, seed=0), config, "cpu", model)
    for _ in range(3):
        first.train_iteration()
    state = copy.deepcopy(first.state_dict())
    torch.manual_seed(99)  # a different initialisation that the checkpoint must overwrite entirely
    second = algo_class(ToyWalk(num_envs=4, seed=5), config, "cpu", model)
    second.load_state_dict(state)
    first.load_state_dict(state)
    for algo in (first, second):
        algo.env.seed(7)
    out_first, out_second = first.train_iteration(), second.train_iteration()
    assert out_first.metrics == out_second.metrics
    assert out_first.metrics["lr"] < config.lr  # the schedule continued from the checkpoint's step count
    for a, b in zip(first.models.parameters(), second.models.parameters(), strict=True):
        assert torch.equal(a, b)
    assert second.env_steps == first.env_steps == 4 * 8 * 4


# ---------------------------------------------------------------------------------------------- execution
@pytest.mark.parametrize("name", ALGOS)
def test_actions_depend_only_on_the_groups_own_observations(name):
    algo_class, config_class = ALGOS[name]
    torch.manual_seed(0)
    env = ToyWalk(num_envs=6, seed=0)
    algo = algo_class(env, config_class(), "cpu")
    step = env.reset(seed=0)
    actions, _ = algo.act(step, None, deterministic=True)
    step.state = torch.randn_like(step.state)
    step.groups["pusher"].obs = torch.randn_like(step["pusher"].obs)
    other, _ = algo.act(step, None, deterministic=True)
    assert torch.equal(actions["walker"], other["walker"])


def test_recurrent_act_resets_state_where_the_episode_ended():
    torch.manual_seed(0)
    env = ToyWalk(num_envs=4, seed=0)
    algo = IPPO(env, IPPOConfig(), "cpu", ModelConfig(kind="gru"))
    step = env.reset(seed=0)
    state = algo.initial_policy_state(4)
    _, state = algo.act(step, state)
    step.done = torch.tensor([True, False, True, False])
    _, after = algo.act(step, state)
    _, fresh = algo.act(step, algo.initial_policy_state(4))
    assert torch.allclose(after["walker"][[0, 2]], fresh["walker"][[0, 2]])
    assert not torch.allclose(after["walker"][[1, 3]], fresh["walker"][[1, 3]])


# ---------------------------------------------------------------------------------------------- configuration
def test_registered_and_configurable_from_hydra_style_configs():
    assert {"ippo", "mappo", "dpo"} <= set(marl.list_algos())
    entry = marl.core.registry.algo_entry("mappo")
    assert entry.config_class is MAPPOConfig
    env = ToyWalk(num_envs=2, seed=0)
    algo = entry.factory(env, OmegaConf.structured(MAPPOConfig(epochs=2)), "cpu")
    assert isinstance(algo.config, MAPPOConfig) and algo.config.epochs == 2
    algo = DPO(env, {"target_kl": 0.02}, "cpu")
    assert algo.config.target_kl == 0.02


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"rollout_length": 0}, "rollout_length must be a positive integer"),
        ({"gamma": 1.5}, "gamma must be in"),
        ({"rollout_length": 10, "chunk_length": 4}, "multiple of chunk_length"),
        ({"clip": 0.0}, "clip must be in"),
        ({"clpi": 0.1}, "no fields"),
    ],
)
def test_bad_configs_fail_with_a_clear_message(config, message):
    with pytest.raises((ValueError, TypeError), match=message):
        IPPO(ToyWalk(num_envs=2), config, "cpu", ModelConfig(kind="gru"))


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"kind": "transformer"}, "model kind must be one of"),
        ({"hidden_sizes": []}, "hidden_sizes"),
        ({"cnn_kernel": 4}, "cnn_kernel must be a positive odd"),
        ({"agent_id_size": -1}, "agent_id_size"),
        ({"kind": "gnn"}, "no group of this environment publishes any"),
        ({"widths": [3]}, "no fields"),
    ],
)
def test_bad_model_configs_fail_with_a_clear_message(model, message):
    with pytest.raises((ValueError, TypeError), match=message):
        IPPO(ToyWalk(num_envs=2), {}, "cpu", model)


def test_dpo_rejects_inconsistent_coefficients():
    with pytest.raises(ValueError, match="beta_min <= beta_init <= beta_max"):
        DPO(ToyWalk(num_envs=2), {"beta_init": 1e4}, "cpu")


def test_environment_on_another_device_is_rejected():
    with pytest.raises(ValueError, match="same device"):
        IPPO(ToyWalk(num_envs=2), IPPOConfig(), "meta")


@pytest.mark.parametrize("name", ALGOS)
def test_config_yaml_matches_the_dataclass_defaults(name):
    from pathlib import Path

    config_class = ALGOS[name][1]
    path = Path(__file__).resolve().parents[2] / "configs" / "algo" / f"{name}.yaml"
    values = OmegaConf.load(path)
    assert list(values.pop("defaults")) == [f"/schema/algo/{name}@_here_", "_self_"]
    assert set(values) == {f.name for f in dataclasses.fields(config_class)}
    assert OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(config_class), values)) == config_class()


class MatchDigits(marl.BatchedEnv):
    """Each agent sees two target digits (one-hot) and scores 0.5 per digit its MultiDiscrete([3, 4]) action
    matches; new targets every step, episodes truncated after 4 steps. Random play scores about 1.17."""

    def __init__(self, num_envs: int = 1, device: str = "cpu", seed: int | None = None) -> None:
        group = marl.GroupSpec(
            marl.agent_names("agent", 2),
            gym.spaces.Box(0.0, 1.0, (7,), np.float32),
            gym.spaces.MultiDiscrete([3, 4]),
        )
        super().__init__(groups={"agents": group}, num_envs=num_envs, device=device, seed=seed, max_steps=4)
        self.target = torch.zeros(num_envs, 2, 2, dtype=torch.long)

    def _draw(self) -> Tensor:
        high = torch.tensor([3, 4])
        return (torch.rand(self.num_envs, 2, 2, generator=self.generator) * high).long()

    def _reset(self, mask: Tensor) -> None:
        self.target = self.where(mask, self._draw(), self.target)

    def _step(self, actions):
        reward = (actions["agents"] == self.target).float().sum(-1) * 0.5
        self.target = self._draw()
        return {"agents": (reward, torch.zeros_like(reward, dtype=torch.bool))}

    def _observe(self):
        one_hot = torch.nn.functional.one_hot
        return {
            "agents": torch.cat(
                [one_hot(self.target[..., 0], 3), one_hot(self.target[..., 1], 4)], -1
            ).float()
        }


@pytest.mark.parametrize("name", ALGOS)
def test_learns_a_multi_discrete_task(name):
    algo_class, config_class = ALGOS[name]
    torch.manual_seed(0)
    algo = algo_class(MatchDigits(num_envs=16, seed=0), config_class(rollout_length=8), "cpu")
    for _ in range(30):
        algo.train_iteration()
    env = MatchDigits(num_envs=16, seed=1)
    random_return = np.mean(
        marl.evaluate(marl.RandomPolicy(env, None, "cpu"), env, 64, False, 1)["episode_return"]
    )
    learned = np.mean(marl.evaluate(algo, env, 64, False, 1)["episode_return"])
    assert random_return < 1.5 < 3.0 < learned


def test_learning_rate_anneals_linearly_from_the_full_rate():
    torch.manual_seed(0)
    config = IPPOConfig(rollout_length=8, lr=1e-3, critic_lr=2e-3, lr_anneal_steps=4 * 8 * 4, epochs=1)
    algo = IPPO(ToyWalk(num_envs=4, seed=0), config, "cpu")
    rates = [algo.train_iteration().metrics["lr"] for _ in range(5)]
    assert rates == pytest.approx([1e-3, 7.5e-4, 5e-4, 2.5e-4, 0.0])  # the first update at the full rate
    assert algo.critic_optimizers["walker"].param_groups[0]["lr"] == 0.0
