"""Equality with the reference package lbforaging 2.0.0 (installed beside the project, the `test` extra).

Each task runs its episodes as the copies of one batch on our side and as one reference environment per
episode, stepped one by one. The reference's spawning draws from numpy's generator, which we do not replay:
each reference episode starts from its own `reset(seed=...)` and its initial state (positions, levels, the
food field and the normaliser) is copied into our copy with `set_state`; from there the same random joint
actions (invalid ones included, masks off) must give identical positions, levels, foods, rewards, valid
actions and observations (vector or grid) at every step, and the same ends: all food eaten is our
termination, the reference's `done` at step 50 with food left is our truncation.
"""

from dataclasses import dataclass, replace

import gymnasium as gym
import numpy as np
import pytest
import torch
from lbforaging.foraging.environment import Action, ForagingEnv

from envs.lbf import GROUP, LBFConfig, LBFEnv, parse_task

# a LOAD-heavy random policy, so that loads (alone and together) and eaten foods are frequent
ACTION_PROBS = np.array([0.1, 0.15, 0.15, 0.15, 0.15, 0.3])


@dataclass
class Task:
    name: str
    episodes: int
    extra: dict


TASKS = [
    Task("8x8-2p-2f", 30, {}),
    Task("2s-8x8-2p-2f-coop", 30, {}),
    Task("5x5-3p-2f", 40, {}),
    Task("1s-6x6-4p-3f-penalty", 30, {}),
    Task("2s-10x10-3p-3f", 20, {}),
    Task("12x12-5p-4f-coop", 20, {"observe_agent_levels": False}),
    Task("grid-2s-7x7-3p-2f", 25, {}),
    Task("grid-3s-6x6-4p-2f-coop", 25, {"normalize_reward": False}),
]


def reference_env(config: LBFConfig) -> ForagingEnv:
    """The reference environment with the task's settings (as its gymnasium registration passes them)."""
    env = ForagingEnv(
        players=config.n_agents,
        min_player_level=config.min_player_level,
        max_player_level=config.max_player_level,
        min_food_level=config.min_food_level,
        max_food_level=config.max_food_level,
        field_size=(config.size, config.size),
        max_num_food=config.n_food,
        sight=config.size if config.sight is None else config.sight,
        max_episode_steps=config.max_steps,
        force_coop=config.coop,
        normalize_reward=config.normalize_reward,
        observe_agent_levels=config.observe_agent_levels,
        penalty=config.penalty,
    )
    return env


def use_grid_observation(env: ForagingEnv, space: gym.spaces.Box) -> None:
    """lbforaging 2.0.0 cannot build its grid observation space under gymnasium 1.x (its Box passes a
    `[3, H, W]` bound with shape `[3]`): build it with vector observations, then switch its observation
    function to the grid and give it a correct space (its `_make_gym_obs` asserts every observation in it)."""
    env._grid_observation = True
    env.observation_space = gym.spaces.Tuple([space] * len(env.players))


class Recording(LBFEnv):
    """Keeps the final state of each ended episode (read just before the auto-reset)."""

    def _episode_stats(self):
        self.final_state = self.snapshot()
        return super()._episode_stats()

    def snapshot(self):
        return self.pos.clone(), self.level.clone(), self.food_map().view(-1, self.size, self.size)


def reference_state(envs):
    position = np.array([[p.position for p in e.players] for e in envs])
    level = np.array([[p.level for p in e.players] for e in envs])
    field = np.stack([e.field for e in envs])
    return position, level, field


def reference_valid(envs):
    return np.array([[[a in e._valid_actions[p] for a in Action] for p in e.players] for e in envs])


@pytest.mark.parametrize("task", TASKS, ids=[t.name for t in TASKS])
def test_episodes_match_the_reference_step_by_step(task):
    config = LBFConfig(**parse_task(task.name), **task.extra)
    config = replace(config, action_mask=False)
    E, n = task.episodes, config.n_agents
    ours = Recording(config, num_envs=E, seed=0)
    ours.reset()
    refs = [reference_env(config) for _ in range(E)]
    space = ours.group_specs[GROUP].observation_space
    ref_obs = []
    for k, env in enumerate(refs):
        if config.grid_observation:
            use_grid_observation(env, space)
        ref_obs.append(np.stack(env.reset(seed=1000 + k)[0]))
    position, level, field = reference_state(refs)
    ours.set_state(position, level, field, [e._food_spawned for e in refs])
    np.testing.assert_array_equal(ours._observe()[GROUP].numpy(), np.stack(ref_obs))
    rng = np.random.default_rng(len(task.name))
    active = np.ones(E, bool)
    eaten = loads_failed = 0
    for t in range(config.max_steps):
        where = f"{task.name}, step {t + 1}"
        np.testing.assert_array_equal(ours._valid_actions()[0].numpy()[active], reference_valid(refs)[active])
        actions = rng.choice(6, size=(E, n), p=ACTION_PROBS)
        step = ours.step({GROUP: torch.as_tensor(actions)})
        reward, obs, done = np.zeros((E, n), np.float32), [], np.zeros(E, bool)
        for k in np.flatnonzero(active):
            o, r, d, truncated, _ = refs[k].step(actions[k].tolist())
            assert not truncated  # the reference reports its time limit as done
            reward[k], done[k] = r, d
            obs.append(np.stack(o))
        g = step.groups[GROUP]
        np.testing.assert_array_equal(g.reward.numpy()[active], reward[active], err_msg=where)
        np.testing.assert_array_equal(step.final_obs[GROUP].numpy()[active], np.stack(obs), err_msg=where)
        np.testing.assert_array_equal(step.done.numpy()[active], done[active], err_msg=where)
        food_left = np.array([e.field.sum() > 0 for e in refs])
        np.testing.assert_array_equal(
            step.truncated.numpy()[active], (done & food_left)[active], err_msg=where
        )
        all_eaten = (done & ~food_left)[:, None].repeat(n, 1)
        np.testing.assert_array_equal(g.terminated.numpy()[active], all_eaten[active], err_msg=where)
        # the state: the recorded final one where an episode ended, the current one elsewhere
        current = ours.snapshot()
        if done.any():
            ended = torch.as_tensor(done)
            current = tuple(
                ours.where(ended, final, now) for final, now in zip(ours.final_state, current, strict=True)
            )
        for ours_part, ref_part, name in zip(
            current, reference_state(refs), ("position", "level", "field"), strict=True
        ):
            np.testing.assert_array_equal(
                ours_part.numpy()[active], ref_part[active], err_msg=f"{where}: {name}"
            )
        eaten += int((reward[active] > 0).sum())
        loads_failed += int((reward[active] < 0).sum())
        active &= ~done
        if not active.any():
            break
    assert not active.any()  # every reference episode ended within its 50 steps
    assert eaten > 0  # the episodes exercised loading
    if config.penalty > 0:
        assert loads_failed > 0
