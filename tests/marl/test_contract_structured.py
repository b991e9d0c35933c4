"""The contract's second shape: Dict observations, neighbours, agents that die, respawn and join late, and
per-component masks of MultiDiscrete actions (on tests/helpers/arena_env.py), and their PettingZoo views."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from arena_env import RespawnArena
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test, seed_test

import marl
from marl.learning.distributions import ActionHead


def run(env: RespawnArena, steps: int, seed: int = 0) -> list[marl.Step]:
    generator = torch.Generator().manual_seed(seed)
    out = [env.reset(seed=seed)]
    for _ in range(steps):
        out.append(env.step(env.sample_actions(generator)))
    return out


def test_dict_observations_match_their_space_and_flatten_in_key_order():
    env = RespawnArena(num_envs=4, seed=0, n_agents=3, size=5, k=2)
    space = env.observation_space("agent_0")
    assert isinstance(space, gym.spaces.Dict) and space is env.observation_space("agent_1")
    obs = env.reset()["agent"].obs
    assert list(obs) == list(space.keys())
    for key, box in space.items():
        assert obs[key].shape == (4, 3, *box.shape) and obs[key].dtype == torch.float32
    flat = marl.flatten_obs(obs)
    assert flat.shape == (4, 3, marl.obs_size(space)) == (4, 3, 75 + 6 + 2)
    assert torch.equal(flat[..., :75], obs["grid"].flatten(2))
    assert torch.equal(flat[..., 75:81], obs["others"].flatten(2))
    assert env.state_space.shape == (3 * marl.obs_size(space),)


def test_neighbours_are_the_nearest_live_agents_and_convert_to_edges():
    env = RespawnArena(num_envs=8, seed=1, n_agents=4, size=6, k=2)
    for step in run(env, 20):
        near, alive = step["agent"].neighbours, step["agent"].alive
        assert near.index.shape == near.mask.shape == (8, 4, 2)
        # a slot is filled only for a live agent seeing another live agent
        seen_alive = alive.gather(1, near.index.flatten(1)).view(8, 4, 2)
        assert not (near.mask & ~(seen_alive & alive[:, :, None])).any()
        assert not (near.mask & (near.index == torch.arange(4)[None, :, None])).any()
        edges = near.edge_index(alive)
        assert edges.shape == (2, int(near.mask.sum()))
        b, i = edges[1] // 4, edges[1] % 4
        assert torch.equal(edges[0] // 4, b)  # edges stay within a copy
        assert alive[b, i].all() and alive[edges[0] // 4, edges[0] % 4].all()


def test_agents_die_respawn_and_join_late_with_alive_both_ways():
    env = RespawnArena(num_envs=32, seed=2, respawn_delay=2, late_join=4)
    steps = run(env, 60)
    assert not steps[0]["agent"].alive.all()  # some slots start empty
    assert not steps[0]["agent"].joined.any()
    died = respawned = 0
    for before, after in zip(steps, steps[1:], strict=False):
        g0, g1 = before["agent"], after["agent"]
        running = ~after.done[:, None]
        # alive turns False exactly where an agent terminated, and True exactly where it joined
        assert torch.equal((g0.alive & ~g1.alive) & running, g1.terminated & ~g1.joined & running)
        assert torch.equal((~g0.alive & g1.alive) & running, g1.joined & running)
        assert not (g1.joined & after.done[:, None]).any()
        assert not (g1.reward[~g0.alive] != 0).any()  # the dead earn nothing
        died += int((g1.terminated & running).sum())
        respawned += int((g1.joined & g0.alive.logical_not() & running).sum())
    assert died > 20 and respawned > 20


def test_episode_return_averages_only_the_slots_that_were_present():
    env = RespawnArena(num_envs=64, seed=3, late_join=10_000, max_steps=8)  # late joiners never arrive
    step = env.reset()
    present = step["agent"].alive.clone()
    total = torch.zeros(64, 3)
    for _ in range(8):
        step = env.step(env.sample_actions())
        total += step["agent"].reward
        if step.done.all():
            break
    ended = step.done & (env.elapsed == 0)
    expected = (total * present).sum(1) / present.sum(1)
    # copies that ran all 8 steps (none died out early) report the mean over present slots only
    full = ended & (step.info["episode_length"] == 8)
    assert full.any()
    assert torch.allclose(step.info["episode_return"][full], expected[full])


def test_multidiscrete_masks_are_never_violated_by_sampling_and_are_enforced():
    env = RespawnArena(num_envs=64, seed=4)
    step = env.reset()
    for _ in range(30):
        mask = step["agent"].action_mask
        actions = env.sample_actions()
        move, eat = actions["agent"].unbind(-1)
        assert mask[..., :5].gather(-1, move[..., None]).all()
        assert mask[..., 5:].gather(-1, eat[..., None]).all()
        step = env.step(actions)
    # an illegal component (eating off one's food cell) is rejected, naming the agent
    step = env.reset(seed=5)
    actions = env.sample_actions()
    off_food = ~step["agent"].action_mask[..., 6] & step["agent"].alive
    b, i = (int(x) for x in off_food.nonzero()[0])
    actions["agent"][b, i, 1] = 1
    with pytest.raises(ValueError, match=rf"agent_{i}.*copy {b}.*illegal under the action mask"):
        env.step(actions)


def test_policy_head_masks_every_multidiscrete_component():
    env = RespawnArena(num_envs=16, seed=6)
    head = ActionHead(env.action_space("agent_0"), in_features=4)
    generator = torch.Generator().manual_seed(0)
    step = env.reset()
    for _ in range(10):
        mask = step["agent"].action_mask
        dist = head(torch.randn(16, 3, 4, generator=generator) * 5, mask)
        raw = dist.sample(generator)
        flat_index = torch.stack([raw[..., 0], 5 + raw[..., 1]], dim=-1)
        assert mask.gather(-1, flat_index).all()
        assert torch.isfinite(dist.log_prob(raw)).all() and torch.isfinite(dist.entropy()).all()
        step = env.step({"agent": head.to_env(raw)})


def test_parallel_view_gives_each_life_its_own_name():
    env = RespawnArena(num_envs=1, seed=7, respawn_delay=0, max_steps=60)
    par = marl.to_parallel(env)
    assert par.possible_agents[:3] == ["agent_0", "agent_0#1", "agent_0#2"]
    assert par.observation_space("agent_0#1") is par.observation_space("agent_0")
    obs, infos = par.reset(seed=7)
    assert isinstance(obs["agent_0"], dict) and obs["agent_0"]["grid"].shape == (3, 5, 5)
    assert isinstance(infos["agent_0"]["action_mask"], tuple)
    finished, lives_seen = set(), set()
    rng = np.random.default_rng(0)
    while par.agents:
        actions = {a: par.action_space(a).sample(infos[a]["action_mask"]) for a in par.agents}
        obs, rewards, terminations, truncations, infos = par.step(actions)
        assert not finished & set(par.agents)  # a finished life never comes back under its name
        finished |= {a for a, t in terminations.items() if t}
        lives_seen |= {a for a in par.agents if "#" in a}
        assert set(obs) >= set(par.agents)
        rng.random()
    assert finished and lives_seen


@pytest.mark.parametrize("late_join", [0, 3])
def test_pettingzoo_tests_pass_with_respawns_and_late_joins(late_join):
    def make(render_mode=None):
        return RespawnArena(num_envs=2, seed=0, late_join=late_join)

    parallel_api_test(marl.to_parallel(make(), illegal_actions="resample"), num_cycles=200)
    api_test(marl.to_aec(make(), illegal_actions="resample"), num_cycles=200)
    parallel_seed_test(lambda: marl.to_parallel(make(), illegal_actions="resample"))
    seed_test(lambda: marl.to_aec(make(), illegal_actions="resample"))


def test_one_observation_call_per_step_without_episode_end_on_cpu():
    env = RespawnArena(num_envs=4, seed=8, max_steps=50)
    calls = []
    original = env._observe
    env._observe = lambda: calls.append(1) or original()
    step = env.reset()
    calls.clear()
    while True:
        step = env.step(env.sample_actions())
        if step.done.any():
            assert len(calls) == 2  # the final observation of the ended copies, then the new one
            break
        assert len(calls) == 1
        calls.clear()


def test_from_pettingzoo_wraps_dict_observations_joins_and_multidiscrete_masks():
    def view():
        arena = RespawnArena(num_envs=1, late_join=3, respawn_delay=1, max_steps=20)
        return marl.to_parallel(arena, illegal_actions="resample")

    names = view().possible_agents  # every life of every slot is an agent of the wrapped environment
    wrapped = marl.from_pettingzoo(view, num_envs=3, seed=0, groups={"agent": names}, max_steps=20)
    assert isinstance(wrapped.group_specs["agent"].observation_space, gym.spaces.Dict)
    step = wrapped.reset()
    joined = 0
    for _ in range(60):
        for b, external in enumerate(wrapped.envs):
            if not step.done[b]:
                alive = {a for a, on in zip(names, step["agent"].alive[b].tolist(), strict=True) if on}
                assert alive == set(external.agents)
        assert step["agent"].action_mask.shape == (3, len(names), 7)
        step = wrapped.step(wrapped.sample_actions())
        joined += int(step["agent"].joined.sum())
    assert joined > 0
