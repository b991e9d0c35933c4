"""The PettingZoo bridge both ways: views of a batched copy, external ParallelEnvs behind the batched contract."""

import runpy
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from mpe2 import simple_adversary_v3, simple_spread_v3
from pettingzoo import AECEnv, ParallelEnv

import marl
from envs import pettingzoo_peers
from marl.bridge import ParallelView, PettingZooEnv

pettingzoo_peers.register()


class Countdown(ParallelEnv):
    """Runners with random lifetimes (so they leave at different times); truncation at `max_cycles`.

    Action 2 is illegal on odd steps; the mask is in `infos` or, with `mask_in_obs`, in a Dict observation.
    The environment asserts that the actions it gets are legal.
    """

    metadata = {"name": "countdown", "render_modes": ["rgb_array"]}

    def __init__(self, n=3, max_cycles=6, mask_in_obs=False, render_mode=None):
        self.possible_agents = [f"runner_{i}" for i in range(n)]
        self.max_cycles, self.mask_in_obs, self.render_mode = max_cycles, mask_in_obs, render_mode
        box = gym.spaces.Box(-100.0, 100.0, (3,), np.float32)
        mask_space = gym.spaces.Box(0, 1, (3,), np.int8)
        self._obs_space = (
            gym.spaces.Dict({"observation": box, "action_mask": mask_space}) if mask_in_obs else box
        )
        self._act_space = gym.spaces.Discrete(3)

    def observation_space(self, agent):
        return self._obs_space

    def action_space(self, agent):
        return self._act_space

    def reset(self, seed=None, options=None):
        rng = np.random.default_rng(seed)
        self.lifetime = {a: int(rng.integers(1, 9)) for a in self.possible_agents}
        self.score = dict.fromkeys(self.possible_agents, 0.0)
        self.t = 0
        self.agents = list(self.possible_agents)
        return {a: self._obs(a) for a in self.agents}, {a: self._info() for a in self.agents}

    def step(self, actions):
        assert set(actions) == set(self.agents), (actions, self.agents)
        for a, action in actions.items():
            assert self._mask()[int(action)], f"illegal action {action} for {a} at t={self.t}"
            self.score[a] += int(action)
        self.t += 1
        obs = {a: self._obs(a) for a in self.agents}
        rewards = {a: float(actions[a]) - 0.5 for a in self.agents}
        terminations = {a: self.t >= self.lifetime[a] for a in self.agents}
        truncations = {a: self.t >= self.max_cycles and not terminations[a] for a in self.agents}
        infos = {a: self._info() for a in self.agents}
        self.agents = [a for a in self.agents if not (terminations[a] or truncations[a])]
        return obs, rewards, terminations, truncations, infos

    def render(self):
        return np.full((8, 8, 3), self.t, np.uint8)

    def _mask(self):
        return np.array([1, 1, self.t % 2 == 0], np.int8)

    def _obs(self, agent):
        obs = np.array([self.t, self.lifetime[agent] - self.t, self.score[agent]], np.float32)
        return {"observation": obs, "action_mask": self._mask()} if self.mask_in_obs else obs

    def _info(self):
        return {} if self.mask_in_obs else {"action_mask": self._mask()}


# ====================================================================== from_pettingzoo, checked by replay
def external_action(env, actions, agent, b):
    g, j = env.group_of(agent), env.index_in_group(agent)
    value = actions[g][b, j].numpy()
    return value.astype(np.float32) if isinstance(env.action_space(agent), gym.spaces.Box) else int(value)


def split(obs, info):
    """(observation, action mask or None) from an external agent's observation and info."""
    if isinstance(obs, dict):
        return obs["observation"], obs["action_mask"]
    return obs, info.get("action_mask")


def assert_start(env, step, b, ref):
    """Copy b of `env` just (re)started: it must equal `ref` reset with the seed the wrapper drew."""
    obs, infos = ref.reset(seed=env.copy_seeds[b])
    for a in env.possible_agents:
        g, j = env.group_of(a), env.index_in_group(a)
        observation, mask = split(obs[a], infos[a])
        np.testing.assert_array_equal(step[g].obs[b, j].numpy(), observation)
        assert step[g].alive[b, j]
        if mask is not None:
            np.testing.assert_array_equal(step[g].action_mask[b, j].numpy(), mask.astype(bool))
    if hasattr(ref, "state_space"):
        np.testing.assert_array_equal(step.state[b].numpy(), ref.state())


def check_replays(env, reference_fn, steps, seed):
    """Step `env` with random legal actions and replay each copy in its own reference instance.

    Returns how each copy's episodes ended: `(step, copy, "terminated" | "truncated")`.
    """
    refs = [reference_fn() for _ in range(env.num_envs)]
    step = env.reset(seed=seed)
    for b, ref in enumerate(refs):
        assert_start(env, step, b, ref)
    generator = torch.Generator().manual_seed(seed)
    endings = []
    for t in range(steps):
        actions = env.sample_actions(generator)
        step = env.step(actions)
        for b, ref in enumerate(refs):
            acting = list(ref.agents)
            obs, rewards, terms, truncs, infos = ref.step(
                {a: external_action(env, actions, a, b) for a in acting}
            )
            done = not ref.agents
            assert bool(step.done[b]) == done, (t, b)
            seen = step.final_obs if done else {g: gs.obs for g, gs in step.groups.items()}
            for a in env.possible_agents:
                g, j = env.group_of(a), env.index_in_group(a)
                if a in acting:
                    observation, mask = split(obs[a], infos[a])
                    np.testing.assert_array_equal(seen[g][b, j].numpy(), observation)
                    assert step[g].reward[b, j] == np.float32(rewards[a])
                    assert bool(step[g].terminated[b, j]) == terms[a]
                    if not done and a in ref.agents and mask is not None:
                        np.testing.assert_array_equal(step[g].action_mask[b, j].numpy(), mask.astype(bool))
                else:  # left in an earlier step: masked out, zero observation
                    assert not step[g].terminated[b, j] and step[g].reward[b, j] == 0
                    assert not seen[g][b, j].any()
                if not done:
                    assert bool(step[g].alive[b, j]) == (a in ref.agents)
            all_terminated = all(terms[a] for a in acting)
            assert bool(step.truncated[b]) == (any(truncs.values()) and not all_terminated)
            if hasattr(ref, "state_space"):
                state = step.final_state if done else step.state
                np.testing.assert_array_equal(state[b].numpy(), ref.state())
            if done:
                endings.append((t, b, "terminated" if all_terminated else "truncated"))
                assert_start(env, step, b, ref)
    return endings


def test_mpe2_simple_spread_equals_raw_mpe2_per_copy_with_auto_reset():
    env = marl.make("mpe2/simple_spread", num_envs=3, seed=0)
    assert isinstance(env, PettingZooEnv)
    assert list(env.group_specs) == ["agent"] and env.group_specs["agent"].agents == (
        "agent_0",
        "agent_1",
        "agent_2",
    )
    assert env.state_space.shape == (54,)
    endings = check_replays(env, simple_spread_v3.parallel_env, steps=60, seed=11)
    # max_cycles=25: every copy is truncated at steps 25 and 50, and restarted on its own seed
    assert sorted(endings) == sorted((t, b, "truncated") for t in (24, 49) for b in range(3))
    assert len(set(env.copy_seeds)) == 3


def test_mpe2_continuous_actions_and_config_keys():
    env = marl.make("mpe2/simple_spread", num_envs=2, seed=0, N=2, max_cycles=10, continuous_actions=True)
    assert env.action_space("agent_0") == gym.spaces.Box(0.0, 1.0, (5,), np.float32)
    fn = lambda: simple_spread_v3.parallel_env(N=2, max_cycles=10, continuous_actions=True)  # noqa: E731
    endings = check_replays(env, fn, steps=12, seed=2)
    assert len(endings) == 2
    with pytest.raises(TypeError, match="unknown parameters"):
        marl.make("mpe2/simple_spread", n_agents=3)


def test_mpe2_groups_are_inferred_from_agent_names():
    env = marl.make("mpe2/simple_adversary", num_envs=2, seed=0)
    assert {g: s.agents for g, s in env.group_specs.items()} == {
        "adversary": ("adversary_0",),
        "agent": ("agent_0", "agent_1"),
    }
    check_replays(env, simple_adversary_v3.parallel_env, steps=30, seed=3)


def test_from_pettingzoo_is_reproducible_under_a_seed():
    def rollout(seed):
        env = marl.from_pettingzoo(simple_spread_v3.parallel_env, num_envs=2, seed=seed)
        generator = torch.Generator().manual_seed(0)
        observations = [env.reset().groups["agent"].obs]
        for _ in range(30):
            observations.append(env.step(env.sample_actions(generator)).groups["agent"].obs)
        return torch.stack(observations)

    assert torch.equal(rollout(5), rollout(5))
    assert not torch.equal(rollout(5), rollout(6))


@pytest.mark.parametrize("mask_in_obs", [False, True], ids=["mask_in_infos", "mask_in_dict_obs"])
def test_agents_leaving_at_different_times_are_masked_and_copies_reset_on_their_own(mask_in_obs):
    env = marl.from_pettingzoo(lambda: Countdown(mask_in_obs=mask_in_obs), num_envs=4, seed=0)
    assert env.observation_space("runner_0") == gym.spaces.Box(-100.0, 100.0, (3,), np.float32)
    endings = check_replays(env, lambda: Countdown(mask_in_obs=mask_in_obs), steps=40, seed=1)
    kinds = {kind for _, _, kind in endings}
    assert kinds == {"terminated", "truncated"}
    # copies ended at different steps while the others went on
    ends_per_step = {}
    for t, b, _ in endings:
        ends_per_step.setdefault(t, set()).add(b)
    assert any(len(copies) < env.num_envs for copies in ends_per_step.values())


def test_sloppy_external_envs_still_mask_agents_that_left():
    class Sloppy(Countdown):
        """Observes every possible agent every step; agents that leave give no termination flag."""

        def step(self, actions):
            acting = list(self.agents)
            _, rewards, terminations, truncations, infos = super().step(actions)
            obs = {a: self._obs(a) for a in self.possible_agents}
            terminations = {a: False for a in acting if a in self.agents or truncations[a]}
            return obs, rewards, terminations, truncations, infos

    env = marl.from_pettingzoo(Sloppy, num_envs=2, seed=0)
    step = env.reset()
    left = 0
    for _ in range(20):
        was_alive = step["runner"].alive.clone()
        step = env.step(env.sample_actions())
        gone = was_alive & ~step["runner"].alive & ~step.done[:, None]
        assert torch.equal(step["runner"].terminated & ~step.done[:, None], gone)
        dead = ~step["runner"].alive & ~gone
        assert not step["runner"].obs[dead].any() and not step["runner"].reward[dead].any()
        left += int(gone.sum())
    assert left > 0


def test_state_falls_back_to_concatenated_observations():
    env = marl.from_pettingzoo(Countdown, num_envs=2, seed=0)
    step = env.reset()
    assert env.state_space.shape == (9,)
    assert torch.equal(step.state, step["runner"].obs.reshape(2, 9))


def test_render_delegates_to_the_external_env():
    env = marl.from_pettingzoo(lambda: Countdown(render_mode="rgb_array"), num_envs=2, seed=0)
    env.reset()
    env.step(env.sample_actions())
    frame = env.render(1)
    assert frame.dtype == np.uint8 and frame.shape == (8, 8, 3) and (frame == 1).all()

    class NoFrames(Countdown):
        def render(self):
            return None

    env = marl.from_pettingzoo(NoFrames, seed=0)
    env.reset()
    with pytest.raises(RuntimeError, match="render_mode='rgb_array'"):
        env.render(0)


def test_groups_override_and_bad_groups():
    class Lead(Countdown):
        def __init__(self):
            super().__init__()
            self._lead_space = gym.spaces.Box(-100.0, 100.0, (3,), np.float32)
            self._lead_action = gym.spaces.Discrete(3)

    class DifferentLead(Lead):
        def observation_space(self, agent):
            return gym.spaces.Box(-50.0, 50.0, (3,), np.float32) if agent == "runner_0" else self._obs_space

    with pytest.raises(
        ValueError, match=r"'runner_0' and 'runner_1' of group 'runner' have different spaces.*groups="
    ):
        marl.from_pettingzoo(DifferentLead)
    env = marl.from_pettingzoo(
        DifferentLead, groups={"lead": ["runner_0"], "runner": ["runner_1", "runner_2"]}
    )
    assert env.observation_space("runner_0").high[0] == 50.0 and env.possible_agents[0] == "runner_0"
    with pytest.raises(ValueError, match=r"missing \['runner_2'\].*repeated \['runner_0'\]"):
        marl.from_pettingzoo(Countdown, groups={"a": ["runner_0"], "b": ["runner_0", "runner_1"]})
    with pytest.raises(ValueError, match=r"unknown \['ghost_0'\]"):
        marl.from_pettingzoo(Countdown, groups={"a": ["runner_0", "runner_1", "runner_2", "ghost_0"]})


def test_unsupported_spaces_and_aec_envs_are_refused_clearly():
    class DiscreteObs(Countdown):
        def observation_space(self, agent):
            return gym.spaces.Discrete(4) if agent == "runner_1" else self._obs_space

    with pytest.raises(TypeError, match=r"agent 'runner_1' has observation space Discrete\(4\).*Box"):
        marl.from_pettingzoo(DiscreteObs)
    with pytest.raises(TypeError, match="AEC environment.*aec_to_parallel"):
        marl.from_pettingzoo(simple_spread_v3.env)


def test_mpe2_missing_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpe2", None)
    monkeypatch.setitem(sys.modules, "mpe2.simple_spread_v3", None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'mpe2>=1.1'"):
        marl.make("mpe2/simple_spread")


# ====================================================================== round trip
def test_round_trip_behaves_like_the_original():
    """from_pettingzoo(to_parallel(toy_walk)) steps like toy_walk itself (dead agents' observations aside)."""
    wrapped = marl.from_pettingzoo(
        lambda: marl.to_parallel(marl.make("test/toy_walk", end_prob=0.05)), num_envs=3, seed=0
    )
    original = marl.make("test/toy_walk")
    assert {g: s.agents for g, s in wrapped.group_specs.items()} == {
        g: s.agents for g, s in original.group_specs.items()
    }
    for a in original.possible_agents:
        assert wrapped.observation_space(a) == original.observation_space(a)
        assert wrapped.action_space(a) == original.action_space(a)
    assert wrapped.state_space == original.state_space

    refs = [marl.make("test/toy_walk", end_prob=0.05) for _ in range(3)]
    step = wrapped.reset(seed=4)
    ref_steps = [ref.reset(seed=wrapped.copy_seeds[b]) for b, ref in enumerate(refs)]

    def assert_same_start(b):
        for g in original.group_specs:
            assert torch.equal(step[g].obs[b], ref_steps[b][g].obs[0])
            assert step[g].alive[b].all()
        assert torch.equal(step["walker"].action_mask[b], ref_steps[b]["walker"].action_mask[0])
        assert torch.equal(step.state[b], ref_steps[b].state[0])

    for b in range(3):
        assert_same_start(b)
    generator = torch.Generator().manual_seed(0)
    episodes = 0
    for _ in range(80):
        acting = {g: step[g].alive.clone() for g in original.group_specs}
        actions = wrapped.sample_actions(generator)
        step = wrapped.step(actions)
        for b, ref in enumerate(refs):
            ref_steps[b] = ref.step({g: a[b : b + 1] for g, a in actions.items()})
            ref_step = ref_steps[b]
            done = bool(ref_step.done[0])
            assert bool(step.done[b]) == done and bool(step.truncated[b]) == bool(ref_step.truncated[0])
            for g in original.group_specs:
                live = acting[g][b]
                assert torch.equal(step[g].reward[b], ref_step[g].reward[0])
                assert torch.equal(step[g].terminated[b], ref_step[g].terminated[0])
                seen = step.final_obs[g] if done else step[g].obs
                ref_seen = ref_step.final_obs[g] if done else ref_step[g].obs
                assert torch.equal(seen[b][live], ref_seen[0][live])
                if not done:
                    assert torch.equal(step[g].alive[b], ref_step[g].alive[0])
            if done:
                episodes += 1
                assert torch.equal(step.final_state[b], ref_step.final_state[0])
                assert step.info["episode_return"][b] == ref_step.info["episode_return"][0]
                ref_steps[b] = ref.reset(seed=wrapped.copy_seeds[b])
                assert_same_start(b)
            else:
                alive = step["walker"].alive[b]
                assert torch.equal(step.state[b], ref_step.state[0])
                assert torch.equal(
                    step["walker"].action_mask[b][alive], ref_step["walker"].action_mask[0][alive]
                )
    assert episodes >= 6


# ====================================================================== the Parallel / AEC views
def masked_sample(par, infos):
    return {a: par.action_space(a).sample(mask=infos[a].get("action_mask")) for a in par.agents}


def placeholder_row(env, actions, g):
    spec = env.group_specs[g]
    row = []
    for a in spec.agents:
        if a in actions:
            row.append(torch.as_tensor(actions[a]))
        elif isinstance(spec.action_space, gym.spaces.Discrete):
            row.append(torch.tensor(0))
        else:
            row.append(torch.zeros(spec.action_space.shape))
    return torch.stack(row)


def test_parallel_view_replays_its_copy_while_the_others_take_random_actions():
    env = marl.make("test/toy_walk", num_envs=3, seed=0, end_prob=0.05)
    twin = marl.make("test/toy_walk", num_envs=3, seed=0, end_prob=0.05)
    par = marl.to_parallel(env, index=1)
    for i, a in enumerate(par.possible_agents):
        par.action_space(a).seed(i)
    observations, infos = par.reset(seed=4)
    ref = twin.reset(seed=4)
    left_early = episodes = 0
    for _ in range(120):
        if not par.agents:
            episodes += 1
            observations, infos = par.reset()
            ref = twin.reset()
        for a in par.agents:
            g, j = env.group_of(a), env.index_in_group(a)
            np.testing.assert_array_equal(observations[a], ref[g].obs[1, j].numpy())
            mask = ref[g].action_mask
            if mask is not None:
                np.testing.assert_array_equal(infos[a]["action_mask"], mask[1, j].numpy().astype(np.int8))
        actions = masked_sample(par, infos)
        batch = twin.sample_actions()
        for g in batch:
            batch[g][1] = placeholder_row(twin, actions, g).to(batch[g].dtype)
        acting = list(par.agents)
        observations, rewards, terminations, truncations, infos = par.step(actions)
        ref = twin.step(batch)
        done = bool(ref.done[1])
        assert set(observations) == set(rewards) == set(terminations) == set(truncations) == set(acting)
        for a in acting:
            g, j = env.group_of(a), env.index_in_group(a)
            expected = (ref.final_obs[g] if done else ref[g].obs)[1, j].numpy()
            np.testing.assert_array_equal(observations[a], expected)
            assert rewards[a] == float(ref[g].reward[1, j]) and terminations[a] == bool(
                ref[g].terminated[1, j]
            )
            assert truncations[a] == bool(ref.truncated[1])
        alive = [a for a in acting if ref[env.group_of(a)].alive[1, env.index_in_group(a)]]
        assert par.agents == ([] if done else alive)
        left_early += not done and len(par.agents) < len(acting)
        np.testing.assert_array_equal(par.state(), (ref.final_state if done else ref.state)[1].numpy())
    assert episodes >= 3 and left_early >= 3


def test_parallel_view_spaces_state_and_render():
    env = marl.make("test/toy_walk", num_envs=2, seed=0)
    par = marl.to_parallel(env, index=1, render_mode="rgb_array")
    assert isinstance(par, ParallelEnv) and par.unwrapped is par
    assert par.possible_agents == ["walker_0", "walker_1", "walker_2", "pusher_0"]
    for a in par.possible_agents:
        assert par.observation_space(a) is par.observation_space(a) is env.observation_space(a)
        assert par.action_space(a) is env.action_space(a)
    assert par.state_space is env.state_space
    with pytest.raises(RuntimeError, match="reset"):
        par.state()
    par.reset(seed=0)
    assert par.state().dtype == np.float32 and par.state_space.contains(par.state())
    np.testing.assert_array_equal(par.render(), env.render(1))
    assert marl.to_parallel(env, index=0).render() is None
    with pytest.raises(ValueError, match="render_mode"):
        marl.to_parallel(env, render_mode="ansi")
    with pytest.raises(IndexError, match="num_envs=2"):
        marl.to_parallel(env, index=2)


def test_parallel_view_reset_seed_is_reproducible():
    par = marl.to_parallel(marl.make("test/toy_walk", num_envs=2))
    first, _ = par.reset(seed=1)
    other, _ = par.reset(seed=2)
    again, _ = par.reset(seed=1)
    assert all(np.array_equal(first[a], again[a]) for a in first)
    assert not all(np.array_equal(first[a], other[a]) for a in first)


def test_aec_view_comes_from_pettingzoos_own_conversion():
    env = marl.make("test/toy_walk", seed=0)
    aec = marl.to_aec(env, index=0)
    assert isinstance(aec, AECEnv) and isinstance(aec.unwrapped, ParallelView)
    aec.reset(seed=3)
    observation, reward, terminated, truncated, info = aec.last()
    assert aec.agent_selection == "walker_0" and aec.observation_space("walker_0").contains(observation)
    assert info["action_mask"].dtype == np.int8


def test_parallel_view_rejects_bad_actions_clearly():
    env = marl.make("test/toy_walk", seed=0)
    par = marl.to_parallel(env)
    with pytest.raises(RuntimeError, match="call reset"):
        par.step({})
    _, infos = par.reset(seed=0)
    good = {"walker_0": 0, "walker_1": 0, "walker_2": 0, "pusher_0": np.zeros(2, np.float32)}
    with pytest.raises(TypeError, match=r"actions must be a dict"):
        par.step([0, 0, 0, 0])
    with pytest.raises(KeyError, match=r"missing \['pusher_0'\]"):
        par.step({k: v for k, v in good.items() if k != "pusher_0"})
    with pytest.raises(KeyError, match=r"unknown \['ghost_0'\]"):
        par.step({**good, "ghost_0": 0})
    with pytest.raises(ValueError, match=r"agent 'pusher_0' has shape \(3,\), expected \(2,\)"):
        par.step({**good, "pusher_0": np.zeros(3, np.float32)})
    with pytest.raises(ValueError, match=r"agent 'walker_1' has shape \(1,\), expected \(\)"):
        par.step({**good, "walker_1": np.array([1])})
    with pytest.raises(TypeError, match=r"agent 'walker_0' must be integer for Discrete\(3\)"):
        par.step({**good, "walker_0": 1.0})
    with pytest.raises(ValueError, match=r"action 3 of agent 'walker_2' is outside Discrete\(3\)"):
        par.step({**good, "walker_2": 3})
    with pytest.raises(ValueError, match=r"'pusher_0'.*outside the bounds"):
        par.step({**good, "pusher_0": np.array([0.0, 1.5], np.float32)})
    blocked = next(
        (a, int(np.flatnonzero(infos[a]["action_mask"] == 0)[0]))
        for a in infos
        if "action_mask" in infos[a] and not infos[a]["action_mask"].all()
    )
    with pytest.raises(
        ValueError, match=rf"action {blocked[1]} of agent '{blocked[0]}' is illegal under its action mask"
    ):
        par.step({**good, blocked[0]: blocked[1]})
    # nothing was stepped by the refused calls
    assert int(env.elapsed[0]) == 0


def test_illegal_actions_resample_replaces_and_flags():
    env = marl.make("test/toy_walk", seed=0)
    par = marl.to_parallel(env, illegal_actions="resample")
    _, infos = par.reset(seed=0)
    agent, action = next(
        (a, int(np.flatnonzero(infos[a]["action_mask"] == 0)[0]))
        for a in infos
        if "action_mask" in infos[a] and not infos[a]["action_mask"].all()
    )
    actions = {a: 0 for a in par.agents if a != "pusher_0"} | {
        "pusher_0": np.zeros(2, np.float32),
        agent: action,
    }
    _, _, _, _, infos = par.step(actions)
    assert infos[agent]["illegal_action_replaced"] is True
    assert all("illegal_action_replaced" not in infos[a] for a in infos if a != agent)
    with pytest.raises(ValueError, match="illegal_actions"):
        marl.to_parallel(env, illegal_actions="ignore")


def test_finished_agents_and_ended_episodes():
    env = marl.make("test/toy_walk", seed=0, n_walkers=3, size=3)
    par = marl.to_parallel(env)
    for i, a in enumerate(par.possible_agents):
        par.action_space(a).seed(i)
    _, infos = par.reset(seed=0)
    finished = None
    while par.agents:
        before = list(par.agents)
        _, _, terminations, truncations, infos = par.step(masked_sample(par, infos))
        gone = [a for a in before if terminations[a] and par.agents]
        if gone and finished is None:
            finished = gone[0]
            actions = masked_sample(par, infos) | {finished: 0}
            with pytest.raises(KeyError, match=rf"no longer active \['{finished}'\]"):
                par.step(actions)
    assert finished is not None
    with pytest.raises(RuntimeError, match="episode ends"):
        par.step({})


def test_the_suites_evaluation_runs_unchanged_on_a_wrapped_env():
    env = marl.make("mpe2/simple_spread", num_envs=2, seed=0, max_cycles=10)
    policy = marl.RandomPolicy(env, None, torch.device("cpu"))
    stats = marl.evaluate(policy, env, episodes=4, deterministic=False, seed=0)
    assert stats["episode_length"] == [10.0] * 4
    assert all(r < 0 for r in stats["episode_return"])  # simple_spread pays the distance to the landmarks


def test_example_runs(monkeypatch, capsys):
    example = Path(__file__).parents[2] / "examples" / "pettingzoo_views.py"
    monkeypatch.setattr(sys, "argv", [str(example), "--num-envs", "2"])
    runpy.run_path(str(example), run_name="__main__")
    out = capsys.readouterr().out
    assert "parallel view of copy 1: episode over after 25 steps" in out
    assert "AEC view of copy 0: 78 turns" in out and "'adversary': (2, 1, 8)" in out
