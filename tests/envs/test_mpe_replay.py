"""Replay against mpe2: the same initial states and action sequences give the same observations and rewards.

For each task and action type, mpe2 plays 500 episodes of 25 steps (seeded resets, random actions from a
seeded numpy generator) through its PettingZoo parallel API. Our environment holds the 500 episodes as 500
copies; each copy's initial state is copied from mpe2's reset (`load_mpe2_world`, a test-only hook), then the
same actions are replayed in one batch and every observation (the final one through `final_obs`) and every
reward must match within 1e-4 in float64, and within 1e-3 in the default float32.
"""

from __future__ import annotations

import copy
import importlib

import numpy as np
import pytest
import torch

import envs.mpe
import marl
from envs.mpe import TASKS

envs.mpe.register()

EPISODES, STEPS, TOLERANCE = 500, 25, 1e-4
MPE2_MODULES = {
    "simple": "mpe2.simple_v3",
    "simple_spread": "mpe2.simple_spread_v3",
    "simple_tag": "mpe2.simple_tag_v3",
    "simple_adversary": "mpe2.simple_adversary_v3",
    "simple_push": "mpe2.simple_push_v3",
    "simple_reference": "mpe2.simple_reference_v3",
    "simple_speaker_listener": "mpe2.simple_speaker_listener_v4",
    "simple_crypto": "mpe2.simple_crypto_v3",
    "simple_world_comm": "mpe2.simple_world_comm_v3",
}
# non-default parameters replayed as well (our name -> value; max_steps is mpe2's max_cycles)
VARIANTS = {
    "simple_spread": [
        {"n_agents": 4, "local_ratio": 0.25},
        {"k_neighbours": 1, "k_landmarks": 2},
        {"k_neighbours": 4},  # more slots than other agents: zero padding
        {"curriculum": True},  # stage 0: no collision penalty
    ],
    "simple_tag": [
        {"n_good": 2, "n_adversaries": 2, "n_obstacles": 3},
        {"k_neighbours": 2, "k_landmarks": 1},
        {"n_good": 2, "k_landmarks": 3},
        {"curriculum": True},  # stage 0: prey at half speed and acceleration
    ],
    "simple_adversary": [{"n_good": 3}, {"n_good": 3, "k_neighbours": 2, "k_landmarks": 1}],
    "simple_world_comm": [{"n_good": 3, "n_adversaries": 3, "n_food": 3, "n_forests": 1}],
}

# our key -> mpe2's keyword (keys not listed are the same)
MPE2_KEYS = {
    "n_agents": "N",
    "n_adversaries": "num_adversaries",
    "n_obstacles": "num_obstacles",
    "n_food": "num_food",
    "n_forests": "num_forests",
    "k_neighbours": "num_agent_neighbors",
    "k_landmarks": "num_landmark_neighbors",
}


def mpe2_kwargs(task: str, kwargs: dict) -> dict:
    names = MPE2_KEYS | {"n_good": "N" if task == "simple_adversary" else "num_good"}
    return {names.get(key, key): value for key, value in kwargs.items()}


def _random_action(space, rng: np.random.Generator):
    if hasattr(space, "n"):
        return int(rng.integers(space.n))
    return rng.uniform(space.low, space.high).astype(np.float32)


def record_mpe2(task: str, continuous: bool, episodes: int, **kwargs) -> dict:
    """Play `episodes` seeded episodes of mpe2 with random actions (`kwargs` in our names); keep worlds' initial
    states and everything seen."""
    env = importlib.import_module(MPE2_MODULES[task]).parallel_env(
        max_cycles=STEPS, continuous_actions=continuous, **mpe2_kwargs(task, kwargs)
    )
    agents = env.possible_agents
    rng = np.random.default_rng(1234)
    rec = {
        "env": env,
        "worlds": [],
        "obs": np.zeros((STEPS + 1, episodes), dtype=object),
        "reward": np.zeros((STEPS, episodes, len(agents))),
        "actions": np.zeros((STEPS, episodes), dtype=object),
    }
    for e in range(episodes):
        obs, _ = env.reset(seed=e)
        rec["worlds"].append(copy.deepcopy(env.unwrapped.world))
        rec["obs"][0, e] = obs
        for t in range(STEPS):
            act = {a: _random_action(env.action_space(a), rng) for a in agents}
            obs, rew, term, trunc, _ = env.step(act)
            rec["actions"][t, e], rec["obs"][t + 1, e] = act, obs
            rec["reward"][t, e] = [rew[a] for a in agents]
            assert not any(term.values()) and all(trunc.values()) == (t == STEPS - 1)
    env.close()
    return rec


def replay(rec: dict, task: str, continuous: bool, dtype: str, **kwargs) -> dict[str, float]:
    """Replay an mpe2 recording in our env (one copy per episode); the largest obs and reward differences."""
    episodes = len(rec["worlds"])
    ours = marl.make(
        f"mpe/{task}",
        num_envs=episodes,
        seed=0,
        max_steps=STEPS,
        continuous_actions=continuous,
        dtype=dtype,
        **kwargs,
    )
    ours.reset()
    agents, mpe2_env = ours.possible_agents, rec["env"]
    assert agents == mpe2_env.possible_agents
    for a in agents:  # same spaces as mpe2's PettingZoo env
        assert ours.observation_space(a) == mpe2_env.observation_space(a), a
        assert ours.action_space(a) == mpe2_env.action_space(a), a
    for e, world in enumerate(rec["worlds"]):
        ours.load_mpe2_world(e, world)

    def compare_obs(ours_obs: dict[str, torch.Tensor], t: int) -> float:
        worst = 0.0
        for a in agents:
            g, i = ours.group_of(a), ours.index_in_group(a)
            ref = np.stack([rec["obs"][t, e][a] for e in range(episodes)])
            worst = max(worst, float(np.abs(ours_obs[g][:, i].numpy() - ref).max()))
        return worst

    worst_obs, worst_rew = compare_obs(ours._observe(), 0), 0.0
    for t in range(STEPS):
        batch = {}
        for g, spec in ours.group_specs.items():
            rows = [[rec["actions"][t, e][a] for a in spec.agents] for e in range(episodes)]
            batch[g] = torch.as_tensor(np.array(rows), dtype=torch.float32 if continuous else torch.long)
        step = ours.step(batch)
        last = t == STEPS - 1
        assert bool(step.done.all()) == last and bool(step.truncated.all()) == last
        seen = step.final_obs if last else {g: step[g].obs for g in step.groups}
        worst_obs = max(worst_obs, compare_obs(seen, t + 1))
        reward = torch.cat([step[g].reward for g in ours.group_specs], dim=1).numpy()
        worst_rew = max(worst_rew, float(np.abs(reward - rec["reward"][t]).max()))
    return {"obs": worst_obs, "reward": worst_rew}


# every task with its defaults over 500 episodes; the variants with other parameters over 100
CASES = [(task, {}, EPISODES) for task in TASKS] + [
    (task, kw, 100) for task, kws in VARIANTS.items() if task in TASKS for kw in kws
]
# float32 (the default dtype): chaotic contacts amplify float32 rounding to about 1e-4 over 25 steps
# (docs/environments/mpe.md), so float32 is held to 1e-3; float64 reproduces mpe2 to 1e-4 (in fact ~1e-7)
FLOAT32_TOLERANCE = 1e-3


@pytest.mark.slow
@pytest.mark.parametrize("continuous", [False, True], ids=["discrete", "continuous"])
@pytest.mark.parametrize(
    ("task", "kwargs", "episodes"), CASES, ids=[f"{t}{'-' + str(k) if k else ''}" for t, k, _ in CASES]
)
def test_replay_matches_mpe2(task: str, kwargs: dict, episodes: int, continuous: bool) -> None:
    rec = record_mpe2(task, continuous, episodes, **kwargs)
    worst = replay(rec, task, continuous, "float64", **kwargs)
    assert worst["obs"] < TOLERANCE and worst["reward"] < TOLERANCE, worst
    if not kwargs:
        worst = replay(rec, task, continuous, "float32")
        assert worst["obs"] < FLOAT32_TOLERANCE and worst["reward"] < FLOAT32_TOLERANCE, worst
