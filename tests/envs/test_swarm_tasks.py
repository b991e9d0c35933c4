"""Swarm tasks: spaces, seeding, dynamics against hand-computed cases, metrics, masked auto-reset at scale."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

import envs.swarm
import marl
from envs.swarm import (
    Aggregation,
    ArenaConfig,
    Formation,
    FormationConfig,
    Kuramoto,
    KuramotoConfig,
    Navigation,
    NavigationConfig,
    Vicsek,
    VicsekConfig,
)
from envs.swarm.kinematic import order_parameter
from envs.swarm.physical import formation_slots
from marl.core.neighbours import nearest

envs.swarm.register()
TASKS = sorted(envs.swarm.TASKS)


def zero_actions(env):
    space = env.action_space("agent_0")
    if hasattr(space, "n"):  # the middle level / the no-op is "do nothing"
        value = 0 if env.__class__ in (Aggregation, Formation, Navigation) else int(space.n) // 2
        return {"agent": torch.full((env.num_envs, env.n_agents), value, dtype=torch.long)}
    return {"agent": torch.zeros(env.num_envs, env.n_agents, *space.shape)}


@pytest.mark.parametrize("env_id", TASKS)
@pytest.mark.parametrize("continuous", [True, False])
def test_swarm_observations_lie_in_cached_spaces(env_id, continuous):
    env = marl.make(env_id, num_envs=3, seed=0, n_agents=12, continuous_actions=continuous)
    space = env.observation_space("agent_0")
    assert space is env.observation_space("agent_11") and env.action_space("agent_0") is env.action_space(
        "agent_3"
    )
    assert env.state_space is env.state_space
    step = env.reset(seed=0)
    for _ in range(30):
        obs = step["agent"].obs
        assert obs.dtype == torch.float32 and obs.shape == (3, 12, *space.shape)
        assert all(space.contains(o) for o in obs.reshape(-1, *space.shape).numpy())
        assert env.state_space.contains(step.state[0].numpy())
        mask = obs[..., env.observation_layout()["neighbours_mask"]]
        assert ((mask == 0) | (mask == 1)).all()
        step = env.step(env.sample_actions())
        assert step["agent"].reward.shape == (3, 12) and torch.isfinite(step["agent"].reward).all()


@pytest.mark.parametrize("env_id", TASKS)
def test_swarm_same_seed_same_trajectory(env_id):
    def rollout(seed):
        env = marl.make(env_id, num_envs=2, seed=seed, n_agents=10, max_steps=8)
        step, out = env.reset(seed=seed), []
        actions = torch.Generator().manual_seed(5)
        for _ in range(12):  # crosses one auto-reset
            step = env.step(env.sample_actions(actions))
            out += [step["agent"].obs.clone(), step["agent"].reward.clone()]
        return out

    a, b, c = rollout(1), rollout(1), rollout(2)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(a, c, strict=True))


@pytest.mark.parametrize("env_id", TASKS)
def test_swarm_episode_statistics_report_the_task_metric(env_id):
    metric = {
        "swarm/vicsek": "polarisation",
        "swarm/kuramoto": "synchrony",
        "swarm/aggregation": "distance_to_centroid",
        "swarm/formation": "formation_error",
        "swarm/navigation": "time_to_goal",
    }[env_id]
    env = marl.make(env_id, num_envs=2, seed=0, n_agents=8, max_steps=5)
    env.reset()
    for _ in range(5):
        step = env.step(env.sample_actions())
    assert step.done.all() and metric in step.info and step.info[metric].shape == (2,)
    assert step.info["episode_length"].tolist() == [5.0, 5.0]


@pytest.mark.parametrize("env_id", ["swarm/vicsek", "swarm/kuramoto", "swarm/aggregation", "swarm/formation"])
def test_swarm_metric_mean_is_the_mean_shared_reward(env_id):
    env = marl.make(env_id, num_envs=3, seed=0, n_agents=8, k_neighbours=3, max_steps=7)
    env.reset()
    for _ in range(7):
        step = env.step(env.sample_actions())
    metric = [k for k in step.info if k.endswith("_mean")][0]
    sign = 1.0 if env_id in ("swarm/vicsek", "swarm/kuramoto") else -1.0
    assert torch.allclose(sign * step.info[metric], step.info["episode_return"] / 7, atol=1e-5)


@pytest.mark.parametrize("env_id", TASKS)
def test_swarm_published_neighbours_match_brute_force(env_id):
    env = marl.make(env_id, num_envs=2, seed=4, n_agents=9, k_neighbours=3)
    env.reset()
    step = env.step(env.sample_actions())
    pos = env.positions()
    neighbours = step["agent"].neighbours
    edge_index, edge_attr = neighbours.edge_index(), neighbours.edge_attr()
    torus = env.world_size if env.torus else None
    for b in range(2):
        for i in range(9):
            offsets = pos[b] - pos[b, i]
            if torus is not None:
                offsets = offsets - torus * torch.round(offsets / torus)
            dist = offsets.norm(dim=1)
            dist[i] = math.inf
            expected = dist.argsort()[:3]
            incoming = edge_index[0][edge_index[1] == b * 9 + i] - b * 9
            assert incoming.tolist() == expected.tolist()
            assert edge_attr[edge_index[1] == b * 9 + i, 2].tolist() == pytest.approx(
                dist[expected].tolist(), abs=1e-5
            )
    # the observation's neighbour block holds the same neighbours
    layout = env.observation_layout()
    first = env._observe()["agent"][..., layout["neighbours"]].reshape(2, 9, 3, -1)[..., :2]
    assert torch.allclose(first * env.sensing_scale, env.neighbours().offset, atol=1e-5)


# ---------------------------------------------------------------------------- Vicsek
def test_swarm_vicsek_aligned_headings_stay_aligned_without_noise():
    env = Vicsek(VicsekConfig(n_agents=20, noise=0.0, speed=0.3, dt=0.5, world_size=2.0), num_envs=2, seed=0)
    env.reset()
    env.angle = torch.full((2, 20), 0.7)
    before = env.pos.clone()
    for _ in range(10):
        step = env.step(zero_actions(env))
        assert step["agent"].reward == pytest.approx(torch.ones(2, 20), abs=1e-6)
    assert torch.allclose(env.angle, torch.full((2, 20), 0.7), atol=1e-6)
    moved = before + 10 * 0.3 * 0.5 * torch.tensor([math.cos(0.7), math.sin(0.7)])
    assert torch.allclose(env.pos, torch.remainder(moved, 2.0), atol=1e-4)


def test_swarm_vicsek_turn_action_and_discrete_levels():
    env = Vicsek(VicsekConfig(n_agents=3, k_neighbours=2, noise=0.0, max_turn=0.4), num_envs=1, seed=0)
    env.reset()
    env.angle = torch.zeros(1, 3)
    env.step({"agent": torch.tensor([[[1.0], [-0.5], [0.0]]])})
    assert env.angle[0].tolist() == pytest.approx([0.4, -0.2, 0.0], abs=1e-6)
    discrete = Vicsek(
        VicsekConfig(n_agents=3, k_neighbours=2, noise=0.0, max_turn=0.4, continuous_actions=False),
        num_envs=1,
        seed=0,
    )
    discrete.reset()
    discrete.angle = torch.zeros(1, 3)
    discrete.step({"agent": torch.tensor([[0, 2, 4]])})  # levels -1, 0, +1 of 5
    assert discrete.angle[0].tolist() == pytest.approx([-0.4, 0.0, 0.4], abs=1e-6)


def test_swarm_vicsek_classic_rule_aligns_all_to_all_in_one_step():
    env = Vicsek(VicsekConfig(n_agents=10, k_neighbours=9, noise=0.0, alignment=1.0), num_envs=3, seed=2)
    step = env.reset()
    mean = torch.atan2(env.angle.sin().sum(1), env.angle.cos().sum(1))
    step = env.step(zero_actions(env))
    assert step["agent"].reward == pytest.approx(torch.ones(3, 10), abs=1e-5)
    assert torch.allclose(env.angle, mean[:, None].expand(3, 10), atol=1e-5)


def test_swarm_vicsek_noise_is_uniform_with_the_given_width():
    env = Vicsek(VicsekConfig(n_agents=40, noise=1.0), num_envs=50, seed=0)
    env.reset()
    env.angle = torch.zeros(50, 40)
    env.step(zero_actions(env))
    assert env.angle.abs().max() <= 0.5 and env.angle.abs().max() > 0.45
    assert float(env.angle.std()) == pytest.approx(1 / math.sqrt(12), rel=0.05)


# ---------------------------------------------------------------------------- Kuramoto
def test_swarm_kuramoto_order_parameter_of_synchronised_and_spread_phases():
    assert float(order_parameter(torch.full((5,), 2.3))) == pytest.approx(1.0)
    spread = torch.arange(8) * (2 * math.pi / 8)
    assert float(order_parameter(spread)) == pytest.approx(0.0, abs=1e-6)
    env = Kuramoto(
        KuramotoConfig(n_agents=6, k_neighbours=3, freq_spread=0.0, freq_mean=0.3), num_envs=2, seed=0
    )
    env.reset()
    env.angle = torch.full((2, 6), 1.0)
    step = env.step(zero_actions(env))
    assert step["agent"].reward == pytest.approx(torch.ones(2, 6), abs=1e-6)
    assert torch.allclose(env.angle, torch.full((2, 6), 1.0 + 0.1 * 0.3), atol=1e-6)


def test_swarm_kuramoto_step_matches_the_formula():
    env = Kuramoto(
        KuramotoConfig(n_agents=3, k_neighbours=2, coupling=2.0, dt=0.1, max_phase_step=0.5),
        num_envs=1,
        seed=0,
    )
    env.reset()
    theta = torch.tensor([[0.0, 1.0, -0.5]])
    env.angle = theta.clone()
    omega = env.frequency.clone()
    action = torch.tensor([[[0.2], [0.0], [-1.0]]])
    env.step({"agent": action})
    # all-to-all: classic (K / N) sum_j sin(th_j - th_i)
    pull = torch.sin(theta[:, None, :] - theta[:, :, None]).sum(-1) / 3
    expected = theta + 0.1 * (omega + 2.0 * pull) + 0.5 * action[..., 0]
    assert torch.allclose(env.angle, expected, atol=1e-6)


def test_swarm_kuramoto_strong_coupling_synchronises():
    env = Kuramoto(
        KuramotoConfig(n_agents=16, k_neighbours=15, coupling=4.0, freq_spread=0.2), num_envs=4, seed=0
    )
    step = env.reset()
    for _ in range(100):
        step = env.step(zero_actions(env))
    assert (step.info["synchrony"] > 0.95).all()


# ---------------------------------------------------------------------------- physical tasks
def test_swarm_aggregation_metric_and_walls():
    env = Aggregation(ArenaConfig(n_agents=4, k_neighbours=3, world_size=2.0), num_envs=2, seed=0)
    env.reset()
    env.world.pos[:, :4] = torch.tensor([[0.0, 0.0], [0.6, 0.0], [0.6, 0.6], [0.0, 0.6]])
    env._state_changed()
    assert env.distance_to_centroid() == pytest.approx(torch.full((2,), math.sqrt(0.18)), abs=1e-6)
    # push everyone right for a long time: nobody leaves the arena, velocities into the wall vanish
    push = {"agent": torch.tensor([1.0, 0.0]).expand(2, 4, 2).clone()}
    for _ in range(60):
        env.step(push)
    limit = 1.0 - env.agent_size
    assert env.positions().abs().max() <= limit + 1e-6
    assert (env.positions()[..., 0] > limit - 0.2).all()


def test_swarm_aggregation_reward_is_minus_distance_to_centroid():
    env = Aggregation(ArenaConfig(n_agents=10), num_envs=3, seed=1)
    env.reset()
    step = env.step(env.sample_actions())
    expected = -env.distance_to_centroid()[:, None].expand(3, 10)
    assert torch.allclose(step["agent"].reward, expected)


def test_swarm_contact_forces_separate_overlapping_agents():
    env = Aggregation(ArenaConfig(n_agents=2, k_neighbours=1, world_size=2.0), num_envs=1, seed=0)
    env.reset()
    env.world.pos[0, :2] = torch.tensor([[0.0, 0.0], [0.05, 0.0]])  # overlap by 0.05
    env.world.vel.zero_()
    for _ in range(5):
        env.step(zero_actions(env))
    assert float((env.positions()[0, 1] - env.positions()[0, 0]).norm()) > 0.09


def test_swarm_formation_slots_and_matching_free_error():
    ring, radius = formation_slots("ring", 8, 0.25)
    assert (ring[1] - ring[0]).norm() == pytest.approx(0.25, abs=1e-6) and radius == pytest.approx(
        ring.norm(dim=1).max()
    )
    grid, _ = formation_slots("grid", 7, 0.3)
    assert (
        grid.shape == (7, 2)
        and grid[1, 0] - grid[0, 0] == pytest.approx(0.3)
        and grid[3, 1] - grid[0, 1] == pytest.approx(0.3)
    )
    env = Formation(FormationConfig(n_agents=8, shape="ring"), num_envs=2, seed=0)
    env.reset()
    slots = env.slots()
    env.world.pos[:, :8] = slots.flip(1)  # any assignment of agents to slots: error 0
    env._state_changed()
    assert env.formation_error() == pytest.approx(torch.zeros(2), abs=1e-6)
    # all agents on slot 0: every other slot is as far as its distance to slot 0
    env.world.pos[:, :8] = slots[:, :1]
    expected = (slots - slots[:, :1]).norm(dim=-1).mean(dim=1)
    assert torch.allclose(env.formation_error(), expected, atol=1e-6)
    step = env.step(zero_actions(env))
    assert torch.allclose(step["agent"].reward[:, 0], -env.formation_error())


def test_swarm_formation_observes_nearest_slots():
    env = Formation(FormationConfig(n_agents=10, k_slots=3, shape="grid"), num_envs=2, seed=3)
    step = env.reset()
    slot_obs = step["agent"].obs[..., env.observation_layout()["slots"]].reshape(2, 10, 3, 2)
    expected = nearest(env.positions(), env.slots(), 3).offset / env.world_size
    assert torch.allclose(slot_obs, expected, atol=1e-6)


def test_swarm_navigation_observes_nearest_obstacles():
    env = Navigation(
        NavigationConfig(n_agents=5, n_obstacles=6, k_obstacles=3, k_neighbours=2), num_envs=2, seed=1
    )
    step = env.reset()
    block = step["agent"].obs[..., env.observation_layout()["obstacles"]].reshape(2, 5, 3, 3)
    offsets = env.obstacle_pos[:, None, :, :] - env.positions()[:, :, None, :]  # [B, N, M, 2]
    order = offsets.norm(dim=-1).argsort(dim=-1)[..., :3]
    assert torch.equal(env.obstacle_neighbours().index, order)
    nearest_offsets = offsets.gather(2, order[..., None].expand(2, 5, 3, 2))
    assert torch.allclose(block[..., :2] * env.world_size, nearest_offsets, atol=1e-5)
    gap = nearest_offsets.norm(dim=-1) - env.obstacle_size - env.agent_size
    assert torch.allclose(block[..., 2] * env.world_size, gap, atol=1e-5)


def test_swarm_navigation_goal_bonus_termination_and_metrics():
    env = Navigation(
        NavigationConfig(n_agents=3, n_obstacles=2, k_obstacles=2, k_neighbours=2, max_steps=20),
        num_envs=2,
        seed=0,
    )
    env.reset()
    # copy 0: every agent sits on its goal -> bonus, success, termination at step 1
    env.world.pos[0, :3] = env.goal[0]
    env.world.vel.zero_()
    env._state_changed()
    step = env.step(zero_actions(env))
    assert step.done.tolist() == [True, False]
    assert step["agent"].terminated[0].all() and not step["agent"].terminated[1].any()
    reward = step["agent"].reward[0]
    assert reward == pytest.approx(torch.ones(3), abs=1e-4)  # no progress, bonus 1, no collision
    assert step.info["success"][0] == 1 and step.info["reached"][0] == 1
    assert step.info["time_to_goal"][0] == pytest.approx(1.0)
    assert step.info["collisions"][0] == 0


def test_swarm_navigation_counts_collisions_and_obstacles_stay_put():
    env = Navigation(
        NavigationConfig(n_agents=3, n_obstacles=2, k_obstacles=2, k_neighbours=2, collision_penalty=0.5),
        num_envs=1,
        seed=0,
    )
    env.reset()
    obstacles = env.obstacle_pos.clone()
    env.world.pos[0, 1] = env.world.pos[0, 0] + torch.tensor([0.06, 0.0])  # agents 0 and 1 overlap
    env.world.pos[0, 2] = obstacles[0, 0] + torch.tensor([0.0, 0.1])  # agent 2 overlaps obstacle 0
    env.world.vel.zero_()
    before = env.goal_distance()
    step = env.step(zero_actions(env))
    progress = before - env.goal_distance()
    assert torch.allclose(step["agent"].reward, progress - 0.5, atol=1e-5)
    assert torch.equal(env.obstacle_pos, obstacles)
    for _ in range(3):
        env.step(zero_actions(env))
    assert env.collision_count[0].tolist()[2] >= 1 and env.collision_count[0, 0] >= 1


def test_swarm_navigation_contacts_by_cell_lists_follow_every_pair():
    """`neighbour_search=cells` also finds touching discs by cell lists: the same collisions and (to float
    rounding) the same trajectory as every pair, in a crowded arena."""
    runs = {}
    for search in ("brute", "cells"):
        env = marl.make(
            "swarm/navigation",
            num_envs=2,
            seed=3,
            n_agents=100,
            world_size=6.4,
            neighbour_radius=0.5,
            neighbour_search=search,
        )
        assert env.world.contact_cells == (search == "cells")
        env.reset()
        gen = torch.Generator().manual_seed(0)
        for _ in range(15):
            env.step({"agent": torch.rand(2, 100, 2, generator=gen) * 2 - 1})
        runs[search] = (env.world.pos.clone(), env.collision_count.clone())
    torch.testing.assert_close(runs["cells"][0], runs["brute"][0], atol=1e-4, rtol=1e-4)
    assert torch.equal(runs["cells"][1], runs["brute"][1]) and int(runs["brute"][1].sum()) > 0


def test_swarm_spawns_never_overlap():
    env = Navigation(
        NavigationConfig(n_agents=20, n_obstacles=10, agent_size=0.05, obstacle_size=0.12),
        num_envs=16,
        seed=0,
    )
    env.reset()
    pos = env.world.pos
    size = env.world.size
    gap = (pos[:, :, None] - pos[:, None]).norm(dim=-1) - (size[:, None] + size[None, :])
    gap += torch.eye(30) * 10
    assert (gap >= -1e-5).all()
    goal_to_obstacle = (env.goal[:, :, None] - env.obstacle_pos[:, None]).norm(dim=-1)
    assert (goal_to_obstacle >= env.obstacle_size).all()


# ---------------------------------------------------------------------------- auto-reset and scale
@pytest.mark.parametrize("env_id", TASKS)
def test_swarm_masked_auto_reset_with_hundreds_of_agents(env_id):
    env = marl.make(env_id, num_envs=6, seed=0, n_agents=200, max_steps=50)
    env.reset()
    for _ in range(3):
        env.step(env.sample_actions())
    ending = torch.tensor([True, False, True, False, False, True])
    env.elapsed[ending] = 49  # these copies reach max_steps at the next step
    positions = env.positions().clone()
    step = env.step(env.sample_actions())
    assert torch.equal(step.done, ending) and torch.equal(step.truncated, ending)
    assert env.elapsed.tolist() == [0, 4, 0, 4, 4, 0]
    obs, final = step["agent"].obs, step.final_obs["agent"]
    assert torch.equal(obs[~ending], final[~ending])  # the others just went on
    assert not torch.equal(obs[ending], final[ending])  # the ended copies start afresh
    assert step.info["episode_length"][ending].tolist() == [50.0, 50.0, 50.0]
    moved = (env.positions() - positions).norm(dim=-1).mean(dim=1)
    if env_id != "swarm/kuramoto":  # fresh positions are far from the old ones, continuing ones near
        assert (moved[ending] > 3 * moved[~ending].max()).all()
    env.step(env.sample_actions())  # the new episodes run on


@pytest.mark.parametrize("env_id", TASKS)
def test_swarm_runs_256_agents_by_64_copies(env_id):
    env = marl.make(env_id, num_envs=64, seed=0, n_agents=256, k_neighbours=8)
    step = env.reset()
    for _ in range(2):
        step = env.step(env.sample_actions())
    assert step["agent"].obs.shape[:2] == (64, 256) and torch.isfinite(step["agent"].obs).all()
    edge_index = step["agent"].neighbours.edge_index()
    assert edge_index.shape == (2, 64 * 256 * 8) and int(edge_index.max()) < 64 * 256


# ---------------------------------------------------------------------------- validation and rendering
@pytest.mark.parametrize(
    "env_id, kwargs, match",
    [
        (
            "swarm/vicsek",
            {"n_agents": 5, "k_neighbours": 5},
            r"k_neighbours must be an int in \[1, 4\], got 5",
        ),
        ("swarm/vicsek", {"noise": -0.1}, "noise must be a finite number in"),
        ("swarm/vicsek", {"n_agents": 1}, "n_agents must be an int >= 2, got 1"),
        ("swarm/kuramoto", {"dt": 0.0}, "dt must be a finite number > 0"),
        ("swarm/aggregation", {"world_size": 0.3, "n_agents": 40}, "raise world_size"),
        ("swarm/formation", {"shape": "star"}, "shape must be one of"),
        ("swarm/formation", {"world_size": 0.5}, "world_size=0.5 is too small"),
        (
            "swarm/navigation",
            {"n_obstacles": 2, "k_obstacles": 3},
            r"k_obstacles must be an int in \[0, 2\], got 3",
        ),
        ("swarm/navigation", {"max_steps": 0}, "max_steps must be an int >= 1"),
        (
            "swarm/navigation",
            {"continuous_actions": "yes"},
            "continuous_actions must be True or False, got 'yes'",
        ),
        ("swarm/kuramoto", {"n_agents": 8.0}, "n_agents must be an int >= 2, got 8.0"),
    ],
)
def test_swarm_bad_parameters_fail_clearly(env_id, kwargs, match):
    with pytest.raises(ValueError, match=match):
        env = marl.make(env_id, num_envs=1, seed=0, **kwargs)
        env.reset()


def test_swarm_bad_actions_fail_clearly():
    env = Vicsek(VicsekConfig(n_agents=4, k_neighbours=3), num_envs=2, seed=0)
    env.reset()
    with pytest.raises(ValueError, match="outside the bounds"):
        env.step({"agent": torch.full((2, 4, 1), 1.5)})
    with pytest.raises(ValueError, match="expected \\(2, 4, 1\\)"):
        env.step({"agent": torch.zeros(2, 4)})


@pytest.mark.parametrize("env_id", TASKS)
def test_swarm_render_is_headless_rgb_with_optional_links(env_id):
    plain = marl.make(env_id, num_envs=2, seed=0, n_agents=12, render_size=160)
    linked = marl.make(env_id, num_envs=2, seed=0, n_agents=12, render_size=160, render_neighbours=True)
    plain.reset(), linked.reset()
    a, b = plain.render(1), linked.render(1)
    assert a.shape == (160, 160, 3) and a.dtype == np.uint8
    assert (a != 255).any() and not np.array_equal(a, b)
    assert plain.render_grid([0, 1]).shape == (160, 320, 3)


def test_swarm_docs_example_runs():
    text = (Path(__file__).resolve().parents[2] / "docs" / "environments" / "swarm.md").read_text()
    code = text.split("```python\n")[1].split("```")[0]
    namespace: dict = {}
    exec(compile(code, "docs/environments/swarm.md", "exec"), namespace)
    assert namespace["frame"].shape == (400, 400, 3)
    assert namespace["edge_index"].shape[1] == int(namespace["mask"].sum())
