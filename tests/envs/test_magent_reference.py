"""`magent/battle` replays episodes recorded on magent2's `battle_v4` step for step.

The recording (tests/data/magent_battle_reference.npz, made by benchmarks/magent_battle_reference.py in
magent2's own virtual environment) holds the actions the engine played, the order in which it resolved the
attacks, and every observation, reward, termination, position and global state. Three episodes: 20 x 20
and 24 x 24 maps with fights to the death, and one with `minimap_mode` and `extra_features`.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import marl
from envs import magent

magent.register()

DATA = Path(__file__).parents[1] / "data" / "magent_battle_reference.npz"
RECORDING = np.load(DATA)
EPISODES = json.loads(str(RECORDING["meta"]))["episodes"]


def joined(step, field: str, key: str | None = None) -> np.ndarray:
    """A field of both armies, red then blue, of copy 0 (views as battle_v4's [13, 13, C])."""
    parts = []
    for g in magent.GROUPS:
        value = getattr(step[g], field) if field != "final_obs" else step.final_obs[g]
        parts.append(value[key] if key else value)
    out = torch.cat(parts, 1)[0]
    return (out.permute(0, 2, 3, 1) if out.dim() == 4 else out).numpy()


@pytest.mark.parametrize("k", range(len(EPISODES)), ids=lambda k: f"episode{k}")
def test_replay_matches_battle_v4(k):
    meta = EPISODES[k]
    record = {name: RECORDING[f"{k}/{name}"] for name in ("action", "rank", "reward", "terminated", "obs")}
    record |= {name: RECORDING[f"{k}/{name}"] for name in ("present", "pos", "living", "state", "first_obs")}
    env = marl.make(
        "magent/battle",
        map_size=meta["map_size"],
        max_steps=meta["max_cycles"],
        minimap_mode=meta["minimap_mode"],
        extra_features=meta["extra_features"],
        seed=0,
    )
    channels = 7 if meta["minimap_mode"] else 5
    step = env.reset()
    np.testing.assert_allclose(joined(step, "obs", "view"), record["first_obs"][..., :channels])
    n_red = env.group_specs["red"].n
    size = env.size
    for t in range(len(record["action"])):
        action = torch.as_tensor(record["action"][t])[None]
        env.set_attack_order(torch.as_tensor(record["rank"][t])[None])
        step = env.step({"red": action[:, :n_red], "blue": action[:, n_red:]})
        where = f"episode {k}, step {t}"
        np.testing.assert_allclose(joined(step, "reward"), record["reward"][t], atol=1e-6, err_msg=where)
        np.testing.assert_array_equal(joined(step, "terminated"), record["terminated"][t], err_msg=where)
        present = record["present"][t]  # the agents battle_v4 reports at this step (alive before it)
        obs_field = "final_obs" if bool(step.done[0]) else "obs"
        view = joined(step, obs_field, "view")
        np.testing.assert_allclose(
            view[present], record["obs"][t][present][..., :channels], atol=1e-6, err_msg=where
        )
        if meta["minimap_mode"] or meta["extra_features"]:
            features = joined(step, obs_field, "features")
            reference = record["obs"][t][present][:, 6, 6, channels:]  # tiled over the view there
            np.testing.assert_allclose(features[present], reference, atol=1e-6, err_msg=where)
        if bool(step.done[0]):
            assert t == len(record["action"]) - 1
            break
        living = record["living"][t]
        np.testing.assert_array_equal(env.living[0].numpy(), living, err_msg=where)
        np.testing.assert_array_equal(env.pos[0].numpy()[living], record["pos"][t][living], err_msg=where)
        state = step.state[0].view(5, size, size).permute(2, 1, 0).numpy()  # battle_v4's [x, y, C]
        np.testing.assert_allclose(state, record["state"][t][..., :5], atol=1e-6, err_msg=where)


def test_the_recording_exercises_every_reward():
    # kills (+5), hits (+0.2), misses, deaths, and deaths after a hit, each several times
    rewards = np.round(np.concatenate([RECORDING[f"{k}/reward"].ravel() for k in range(len(EPISODES))]), 3)
    for value in (4.895, 0.095, -0.105, -0.1, 0.1):
        assert (rewards == value).sum() >= 5, value
