"""MADDPG / independent DDPG: who sees what (centralised critics, local actors), heterogeneous groups with
masks and terminations, ensembles, checkpoints and config errors. Learning tests are in
test_maddpg_learning.py."""

import dataclasses
from pathlib import Path

import pytest
import torch
import yaml
from toy_env import ToyWalk

import marl
from algos.maddpg import MADDPG, IDDPGConfig, MADDPGConfig, register

register()

SMALL = dict(learning_starts=64, batch_size=32, buffer_size=2000, transitions_per_update=16, rollout_steps=4)


def build(num_envs: int = 8, **overrides) -> MADDPG:
    torch.manual_seed(0)
    env = ToyWalk(num_envs=num_envs, seed=0, end_prob=0.05)
    return MADDPG(env, MADDPGConfig(**{**SMALL, **overrides}), "cpu")


def joint_inputs(algo: MADDPG, batch: int = 5):
    """Random observations and actions for every group, with gradients."""
    obs = {g: torch.randn(batch, s.n, algo.obs_dim[g], requires_grad=True) for g, s in algo.specs.items()}
    act = {g: torch.randn(batch, s.n, algo.act_dim[g], requires_grad=True) for g, s in algo.specs.items()}
    return obs, act


def sensitivity(output: torch.Tensor, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """For each group, which agents' inputs `output` depends on: `[n]` booleans."""
    grads = torch.autograd.grad(output, list(inputs.values()), allow_unused=True, retain_graph=True)
    return {
        g: torch.zeros(x.shape[1], dtype=torch.bool) if d is None else d.abs().sum(dim=(0, 2)) > 0
        for (g, x), d in zip(inputs.items(), grads, strict=True)
    }


@pytest.mark.parametrize("share", [False, True])
def test_centralised_critic_reads_every_observation_and_action(share):
    algo = build(share_parameters=share)
    total_obs = sum(s.n * algo.obs_dim[g] for g, s in algo.specs.items())
    total_act = sum(s.n * algo.act_dim[g] for g, s in algo.specs.items())
    extra = algo.specs["walker"].n if share else 0
    assert algo.critics["walker"].nets[0].in_features == total_obs + total_act + extra
    obs, act = joint_inputs(algo)
    q = algo._q_values(algo.critics, obs, act)
    for g, s in algo.specs.items():
        for i in range(s.n):
            assert all(m.all() for m in sensitivity(q[g][:, i].sum(), obs).values())
            assert all(m.all() for m in sensitivity(q[g][:, i].sum(), act).values())


def test_decentralised_critic_reads_only_its_own_agent():
    algo = build(centralised_critic=False)
    obs, act = joint_inputs(algo)
    q = algo._q_values(algo.critics, obs, act)
    for i in range(algo.specs["walker"].n):
        for inputs in (obs, act):
            seen = sensitivity(q["walker"][:, i].sum(), inputs)
            assert seen["walker"].tolist() == [j == i for j in range(algo.specs["walker"].n)]
            assert not seen["pusher"].any()


def test_independent_groups_learn_with_ddpg_beside_maddpg_groups():
    algo = build(independent_groups=["pusher"])
    obs, act = joint_inputs(algo)
    q = algo._q_values(algo.critics, obs, act)
    seen = sensitivity(q["pusher"][:, 0].sum(), obs)
    assert seen["pusher"].all() and not seen["walker"].any()
    assert all(m.all() for m in sensitivity(q["walker"][:, 1].sum(), act).values())
    with pytest.raises(ValueError, match="unknown groups \\['prey'\\]"):
        build(independent_groups=["prey"])


@pytest.mark.parametrize("share", [False, True])
def test_actor_reads_only_its_own_observation(share):
    algo = build(share_parameters=share)
    obs, _ = joint_inputs(algo)
    for g, s in algo.specs.items():
        out = algo.actors[g][0](obs[g])
        for i in range(s.n):
            seen = sensitivity(out[:, i].sum(), obs)
            assert seen[g].tolist() == [j == i for j in range(s.n)]
            assert not any(seen[h].any() for h in algo.specs if h != g)


def test_actor_loss_puts_each_agents_own_action_in_its_own_critic():
    algo = build()
    obs, act = joint_inputs(algo)
    own = {g: torch.randn_like(a, requires_grad=True) for g, a in act.items()}
    q = algo._q_values(algo.critics, obs, act, own)
    n = algo.specs["walker"].n
    for i in range(n):
        assert sensitivity(q["walker"][:, i].sum(), own)["walker"].tolist() == [j == i for j in range(n)]
        # every other agent's action comes from the replay batch
        assert sensitivity(q["walker"][:, i].sum(), act)["walker"].tolist() == [j != i for j in range(n)]
        assert sensitivity(q["walker"][:, i].sum(), act)["pusher"].all()


def test_act_returns_legal_actions_for_heterogeneous_groups():
    algo = build()
    env = algo.env
    step = env.reset()
    for deterministic in (False, True):
        actions, _ = algo.act(step, algo.initial_policy_state(env.num_envs), deterministic)
        assert actions["walker"].dtype == torch.long and actions["walker"].shape == (8, 3)
        legal = step["walker"].action_mask.gather(2, actions["walker"][..., None])
        assert legal.all()
        assert actions["pusher"].shape == (8, 1, 2) and actions["pusher"].abs().max() <= 1.0
        env.step(actions)  # the environment's own validation accepts them


def test_training_fills_the_buffer_and_updates_at_the_configured_rate():
    algo = build()
    it = algo.train_iteration()
    assert it.env_steps == 4 * 8
    assert len(algo.buffer) == 32 and algo.updates == 0  # still before learning_starts=64
    before = [p.clone() for p in algo.critics.parameters()]
    target_before = [p.clone() for p in algo.target_critics.parameters()]
    for _ in range(3):
        it = algo.train_iteration()
    # from the 8th step on the buffer holds >= 64 rows: steps 8..16 bring 9 x 8 = 72 transitions of credit,
    # 4 updates of 16 and 8 left over
    assert algo.updates == 4 and algo.update_credit == 8
    assert {"critic_loss", "actor_loss", "q_mean"} <= set(it.metrics)
    assert any(not torch.equal(a, b) for a, b in zip(before, algo.critics.parameters(), strict=True))
    assert any(
        not torch.equal(a, b) for a, b in zip(target_before, algo.target_critics.parameters(), strict=True)
    )
    stats = algo.episodes.pop()
    assert stats["episodes"] > 0 and "arrived" in stats


def test_ensemble_keeps_each_member_for_a_whole_episode():
    algo = build(ensemble_size=3)
    env = algo.env
    step = env.reset()
    state = algo.initial_policy_state(env.num_envs)
    changed_at_done = 0
    for _ in range(40):
        actions, new_state = algo.act(step, state, deterministic=False)
        for g in algo.specs:
            moved = (new_state[g] != state[g]).any(dim=1)
            assert not (moved & ~step.done).any()  # members change only when an episode starts
            changed_at_done += int(moved.sum())
        state, step = new_state, env.step(actions)
    assert changed_at_done > 0
    for _ in range(20):
        algo.train_iteration()
    assert algo.updates > 0 and "member/walker" in algo.buffer.storage
    members = algo.buffer.storage["member/walker"][: len(algo.buffer)]
    assert set(members.unique().tolist()) == {0, 1, 2}


@pytest.mark.parametrize("with_buffer", [False, True])
def test_checkpoint_round_trip(with_buffer):
    algo = build(checkpoint_replay=with_buffer)
    for _ in range(4):
        algo.train_iteration()
    state = algo.state_dict()
    clone = build(checkpoint_replay=with_buffer)
    clone.load_state_dict(state)
    step = algo.env.reset(seed=5)
    a, _ = algo.act(step, None, deterministic=True)
    b, _ = clone.act(step, None, deterministic=True)
    assert all(torch.equal(a[g], b[g]) for g in a)
    assert (clone.updates, clone.buffer.added, clone.buffer.position) == (
        algo.updates,
        algo.buffer.added,
        algo.buffer.position,
    )
    assert len(clone.buffer) == (len(algo.buffer) if with_buffer else 0)
    if with_buffer:
        assert torch.equal(clone.buffer.storage["obs/walker"][:64], algo.buffer.storage["obs/walker"][:64])
    it = clone.train_iteration()  # resets the environment itself and carries on
    assert it.env_steps == 32


def test_registered_with_independent_ddpg_as_the_same_code():
    assert {"maddpg", "iddpg"} <= set(marl.list_algos())
    assert IDDPGConfig().centralised_critic is False and MADDPGConfig().centralised_critic is True
    entry = marl.core.registry.algo_entry("iddpg")
    assert entry.factory is MADDPG and entry.config_class is IDDPGConfig


@pytest.mark.parametrize("name, config_class", [("maddpg", MADDPGConfig), ("iddpg", IDDPGConfig)])
def test_algo_yaml_matches_the_dataclass_defaults(name, config_class):
    path = Path(__file__).parents[2] / "configs" / "algo" / f"{name}.yaml"
    values = yaml.safe_load(path.read_text())
    assert values.pop("defaults") == [f"/schema/algo/{name}@_here_", "_self_"]
    assert values == dataclasses.asdict(config_class())


def test_bad_config_and_unsupported_spaces_are_refused():
    with pytest.raises(ValueError, match="tau must be in"):
        build(tau=0.0)
    with pytest.raises(ValueError, match="ensemble_size must be >= 1"):
        build(ensemble_size=0)

    class Unbounded(ToyWalk):
        def __init__(self, **kw):
            super().__init__(**kw)
            import gymnasium as gym

            spec = self.group_specs["pusher"]
            self.group_specs["pusher"] = marl.GroupSpec(
                spec.agents, spec.observation_space, gym.spaces.Box(-float("inf"), float("inf"), (2,))
            )

    with pytest.raises(ValueError, match="finite action bounds"):
        MADDPG(Unbounded(num_envs=2), MADDPGConfig(), "cpu")
