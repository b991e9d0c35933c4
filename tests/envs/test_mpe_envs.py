"""Every MPE task against the environment contract: spaces, dtypes, seeding, auto-reset, errors, rendering."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import envs.mpe
import marl
from envs.mpe import TASKS
from envs.particles.render import draw_particles

envs.mpe.register()

TASK_IDS = [f"mpe/{name}" for name in TASKS]
ACTIONS = [False, True]


def _rollout(env_id: str, continuous: bool, seed: int, steps: int = 30) -> list[torch.Tensor]:
    env = marl.make(env_id, num_envs=3, seed=seed, continuous_actions=continuous)
    out = [torch.cat([s.obs.flatten(1) for s in env.reset().groups.values()], 1)]
    for _ in range(steps):
        step = env.step(env.sample_actions())
        out += [
            torch.cat(
                [s.obs.flatten(1) for s in step.groups.values()] + [step[g].reward for g in step.groups], 1
            )
        ]
    return out


@pytest.mark.parametrize("continuous", ACTIONS, ids=["discrete", "continuous"])
@pytest.mark.parametrize("env_id", TASK_IDS)
def test_observations_are_float32_inside_cached_spaces(env_id: str, continuous: bool) -> None:
    env = marl.make(env_id, num_envs=4, seed=0, continuous_actions=continuous)
    step = env.reset()
    for _ in range(26):  # crosses one auto-reset (max_steps 25)
        for g, spec in env.group_specs.items():
            obs = step[g].obs
            assert obs.dtype == torch.float32 and obs.shape == (4, spec.n, *spec.observation_space.shape)
            for i, agent in enumerate(spec.agents):
                assert env.observation_space(agent) is env.observation_space(agent)
                assert env.action_space(agent) is env.action_space(agent)
                assert env.observation_space(agent).contains(obs[0, i].numpy())
            assert step[g].reward.shape == (4, spec.n) and step[g].reward.dtype == torch.float32
        assert step.state.shape == (4, *env.state_space.shape)
        step = env.step(env.sample_actions())
    assert bool(step.done.all()) is False and int(env.elapsed[0]) == 1  # the reset happened at step 25


@pytest.mark.parametrize("continuous", ACTIONS, ids=["discrete", "continuous"])
@pytest.mark.parametrize("env_id", TASK_IDS)
def test_same_seed_same_trajectory_other_seed_differs(env_id: str, continuous: bool) -> None:
    a, b, c = (_rollout(env_id, continuous, s) for s in (7, 7, 8))
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(a, c, strict=True))


@pytest.mark.parametrize("env_id", TASK_IDS)
def test_actions_outside_the_space_are_refused_with_the_agent_named(env_id: str) -> None:
    env = marl.make(env_id, num_envs=2, seed=0)
    env.reset()
    actions = env.sample_actions()
    g = env.group_names[0]
    bad = dict(actions)
    bad[g] = actions[g].clone()
    bad[g][1, 0] = env.group_specs[g].action_space.n
    with pytest.raises(ValueError, match=env.group_specs[g].agents[0]):
        env.step(bad)
    cont = marl.make(env_id, num_envs=2, seed=0, continuous_actions=True)
    cont.reset()
    actions = cont.sample_actions()
    actions[g] = actions[g] + 2.0  # mpe2 clips to [0, 1]; we refuse
    with pytest.raises(ValueError, match="outside the bounds"):
        cont.step(actions)


@pytest.mark.parametrize("env_id", TASK_IDS)
def test_render_returns_an_rgb_frame_with_the_entities_drawn(env_id: str) -> None:
    env = marl.make(env_id, num_envs=2, seed=0)
    env.reset()
    frame = env.render(1)
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    assert (frame != 255).any(axis=2).mean() > 0.001  # more than a blank page
    for _ in range(3):  # positions move from the second step on (mpe2 integrates the old velocity first)
        env.step(env.sample_actions())
    assert not np.array_equal(env.render(1), frame) or env_id == "mpe/simple_crypto"


def test_draw_particles_puts_each_entity_where_it_is_with_its_colour() -> None:
    frame = draw_particles(
        np.array([[0.0, 0.0], [0.5, 0.5]]),
        np.array([0.1, 0.05]),
        np.array([[1.0, 0, 0], [0, 0, 1.0]]),
        cam_range=1.0,
    )
    h, w, _ = frame.shape
    assert tuple(frame[h // 2, w // 2]) == (255, 0, 0)
    # +y is up: (0.5, 0.5) lands right of and above the centre
    x, y = int(w / 2 + 0.5 * 0.9 * w / 2), int(h / 2 - 0.5 * 0.9 * h / 2)
    assert tuple(frame[y, x]) == (0, 0, 255)
    assert tuple(frame[2, 2]) == (255, 255, 255)
    with pytest.raises(ValueError, match="colors"):
        draw_particles(np.zeros((2, 2)), np.ones(2), np.ones((3, 3)), cam_range=1.0)


def test_spread_episode_statistics_match_their_definitions() -> None:
    env = marl.make("mpe/simple_spread", num_envs=64, seed=3)
    env.reset()
    distances, collisions = torch.zeros(64), torch.zeros(64)
    for t in range(25):
        step = env.step(env.sample_actions())
        obs = step.final_obs["agent"] if t == 24 else step["agent"].obs  # [vel, pos, landmark - pos, ...]
        pos = obs[:, :, 2:4]
        landmarks = pos[:, 0:1] + obs[:, 0, 4:10].reshape(64, 3, 2)
        nearest = (pos[:, :, None] - landmarks[:, None]).norm(dim=-1).min(dim=1).values
        distances += nearest.mean(1)
        gap = (pos[:, :, None] - pos[:, None]).norm(dim=-1)
        collisions += ((gap < 0.3).sum((1, 2)) - 3) / 2
    assert bool(step.done.all())
    torch.testing.assert_close(step.info["landmark_distance"], distances / 25, atol=1e-5, rtol=0)
    torch.testing.assert_close(step.info["landmark_distance_final"], nearest.mean(1), atol=1e-5, rtol=0)
    torch.testing.assert_close(step.info["collisions"], collisions)
    torch.testing.assert_close(step.info["occupied_landmarks"], (nearest < 0.1).sum(1).float())
    assert step.info["collisions"].sum() > 0


def test_spread_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="local_ratio"):
        marl.make("mpe/simple_spread", local_ratio=1.5)
    with pytest.raises(ValueError, match="dtype"):
        marl.make("mpe/simple_spread", dtype="float16")
    assert isinstance(marl.make("mpe/simple_spread", n_agents=5).action_space("agent_4"), gym.spaces.Discrete)


def test_the_example_in_the_docs_runs() -> None:
    text = (Path(__file__).parents[2] / "docs" / "environments" / "mpe.md").read_text()
    example = text.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(example, "docs/environments/mpe.md", "exec"), namespace)
    assert namespace["frame"].shape == (500, 500, 3)
    assert namespace["step"]["agent"].obs.shape == (1024, 3, 18)


def test_render_grid_tiles_copies() -> None:
    env = marl.make("mpe/simple_tag", num_envs=4, seed=0)
    env.reset()
    grid = env.render_grid([0, 1, 2, 3])
    assert grid.shape == (1000, 1000, 3)
    assert np.array_equal(grid[:500, 500:], env.render(1))


def test_terminate_on_success_ends_covered_spread_and_caught_tag_episodes() -> None:
    spread = marl.make("mpe/simple_spread", num_envs=2, seed=0, terminate_on_success=True)
    spread.reset()
    spread.world.pos[0, :3] = spread.world.pos[0, 3:]  # copy 0: every agent sits on a landmark
    step = spread.step({"agent": torch.zeros(2, 3, dtype=torch.long)})
    assert step["agent"].terminated.tolist() == [[True] * 3, [False] * 3]
    assert step.done.tolist() == [True, False] and not bool(step.truncated.any())
    tag = marl.make("mpe/simple_tag", num_envs=2, seed=0, terminate_on_success=True)
    tag.reset()
    tag.world.pos[1, 3] = tag.world.pos[1, 0]  # copy 1: the good agent is on adversary_0
    step = tag.step({g: torch.zeros(2, s.n, dtype=torch.long) for g, s in tag.group_specs.items()})
    assert step.done.tolist() == [False, True] and bool(step["adversary"].terminated[1].all())


def test_neighbour_counts_are_checked_and_shape_the_observation() -> None:
    with pytest.raises(ValueError, match="k_neighbours"):
        marl.make("mpe/simple_tag", k_neighbours=0)
    env = marl.make("mpe/simple_spread", n_agents=3, k_neighbours=1, k_landmarks=2)
    assert env.observation_space("agent_0").shape == (4 + 2 * 2 + (2 + 2) * 1,)


def test_the_new_task_example_in_the_docs_works() -> None:
    text = (Path(__file__).parents[2] / "docs" / "environments" / "mpe.md").read_text()
    example = text.split("### A new particle task", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(example, "docs/environments/mpe.md", "exec"), namespace)
    env = namespace["Rendezvous"](num_envs=4, seed=0)
    step = env.reset()
    assert step["agent"].obs.shape == (4, 2, 6)
    for _ in range(3):
        step = env.step(env.sample_actions())
    landmark = env.landmark_pos[:, 0:1]
    torch.testing.assert_close(step["agent"].reward, -(env.pos - landmark).norm(dim=-1))


def test_curriculum_stages_switch_the_collision_penalty_and_the_prey_speed() -> None:
    spread = marl.make("mpe/simple_spread", num_envs=1, seed=0, curriculum=True, local_ratio=1.0)
    spread.reset()
    spread.world.pos[0, 1] = spread.world.pos[0, 0] + 0.01  # agents 0 and 1 overlap
    no_op = {"agent": torch.zeros(1, 3, dtype=torch.long)}
    assert float(spread.step(no_op)["agent"].reward[0, 0]) == 0.0  # stage 0: no penalty
    spread.advance_curriculum()
    assert spread.curriculum_stage == 1
    assert float(spread.step(no_op)["agent"].reward[0, 0]) == -1.0
    spread.advance_curriculum()
    assert spread.curriculum_stage == 1  # the last stage stays
    tag = marl.make("mpe/simple_tag", curriculum=True)
    assert float(tag.world.max_speed[3]) == pytest.approx(0.65) and tag.group_accel["agent"] == 2.0
    tag.set_curriculum_stage(5)
    assert tag.curriculum_stage == 2 and float(tag.world.max_speed[3]) == pytest.approx(1.3)
