"""Equality with the reference game: survival-only Neural MMO episodes (benchmarks/mmo_reference.py, PyPI `nmmo`
2.1.2 in its own virtual environment: the Small preset with only terrain and resources on, 16 players, 100
ticks) are replayed in ours on the same terrain array and spawn positions, and every tick is compared: each
player's health, food, water, position and alive flag, and every tile (foliage eaten to scrub, regrown).

Regrowth is the one random rule of this game. Episode `respawn0` has none (the reference's
`RESOURCE_FOILAGE_RESPAWN = 0`); in `respawn_default` (p = 0.025) the reference's own draws are recorded, so the
replay turns ours off and applies the same regrowths after each tick, as the reference's `Map.step` does after
the moves. The rate of our own draws is a rule test of the world (tests/envs/test_mmo_env.py).

One adaptation, equivalent under the reference's rules: a move into water, stone or void is a no-op there
while ours masks it, so such a move is replayed as Stay (and the reference's position is checked to be
unchanged). The map is the reference's as recorded, with its size and centre: the playable square is
`MAP_CENTER + 1` tiles wide in both.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import marl
from envs import mmo

GROUP, STAY = mmo.env.GROUP, mmo.env.STAY
FOLIAGE, SCRUB, VOID = mmo.terrain.FOLIAGE, mmo.terrain.SCRUB, mmo.terrain.VOID

DATA = Path(__file__).resolve().parents[1] / "data" / "mmo_reference"
FILES = sorted(DATA.glob("*.json"))


def load(path: Path) -> dict:
    ref = json.loads(path.read_text())
    for key in ("terrain", "spawns", "actions", "health", "food", "water", "row", "col", "alive"):
        ref[key] = np.asarray(ref[key], dtype=np.int64)
    return ref


def replay_env(ref: dict):
    """Our world for a recording: survival only, the recording's players and horizon, regrowth off."""
    size, centre = ref["config"]["MAP_SIZE"], ref["config"]["MAP_CENTER"]
    n_agents, ticks = ref["spawns"].shape[0], ref["actions"].shape[0]
    env = marl.make(
        "mmo/small",
        num_envs=1,
        seed=0,
        npcs=False,
        combat=False,
        n_agents=n_agents,
        map_size=size,
        map_center=centre,
        foliage_regrowth=0.0,
        max_steps=ticks + 1,
    )
    return env


def test_recordings_cover_eating_drinking_deaths_blocked_moves_and_shared_tiles():
    assert {f.stem for f in FILES} == {"respawn0", "respawn_default"}
    for path in FILES:
        ref = load(path)
        assert ref["reference"].startswith("nmmo 2.1")
        assert ref["config"]["systems"] == ["TERRAIN", "RESOURCE"]
        alive = ref["alive"][:-1].astype(bool)
        assert (ref["food"][1:][alive] == 100).sum() >= 50  # refills on foliage (food would be 95 at most)
        assert (ref["water"][1:][alive] == 100).sum() >= 200  # refills next to water
        assert (ref["health"][1:][alive] < ref["health"][:-1][alive]).sum() >= 50  # starvation, dehydration
        assert ref["alive"][-1].sum() < ref["alive"][0].sum()  # deaths
        pos = ref["row"] * 1000 + ref["col"]
        shared = [len(set(p[a])) < a.sum() for p, a in zip(pos[:-1], alive, strict=True)]
        assert sum(shared) >= 3  # players standing on one tile, where the lowest id eats
    assert sum(map(len, load(DATA / "respawn_default.json")["regrown"])) > 50


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_replay_matches_the_reference_at_every_tick(path):
    ref = load(path)
    env = replay_env(ref)
    terrain = ref["terrain"]
    step = env.reset_to(torch.as_tensor(terrain)[None], torch.as_tensor(ref["spawns"])[None])
    expected_tiles = terrain.copy()
    blocked_moves = 0
    for t in range(ref["actions"].shape[0] + 1):
        where = f"{path.stem}, after tick {t}"
        group = step[GROUP]
        alive_before = ref["alive"][t - 1].astype(bool) if t else np.ones_like(ref["alive"][0], dtype=bool)
        if bool(step.done[0]):  # every player died at this tick: the copy was reset, compare its final obs
            assert not ref["alive"][t].any() and ref["alive"][t - 1].any(), where
            final = step.final_obs[GROUP]["self"][0]
            for k, key in enumerate(("health", "food", "water")):
                got = torch.round(final[:, k] * 100).long().numpy()
                np.testing.assert_array_equal(
                    got[alive_before], ref[key][t][alive_before], err_msg=f"{where}: {key}"
                )
            break
        np.testing.assert_array_equal(group.alive[0].numpy(), ref["alive"][t].astype(bool), err_msg=where)
        ours = {
            "health": env.health[0, : env.N].clamp(min=0),
            "food": env.food[0],
            "water": env.water[0],
            "row": env.pos[0, : env.N, 0],
            "col": env.pos[0, : env.N, 1],
        }
        for key, value in ours.items():
            np.testing.assert_array_equal(
                value.numpy()[alive_before], ref[key][t][alive_before], err_msg=f"{where}: {key}"
            )
        np.testing.assert_array_equal(env.tiles[0].numpy(), expected_tiles, err_msg=f"{where}: tiles")
        if t == ref["actions"].shape[0]:
            break
        moves = torch.as_tensor(ref["actions"][t])
        legal = group.action_mask[0, :, :5].gather(1, moves[:, None])[:, 0].bool()
        blocked = ~legal & group.alive[0]
        # the reference leaves a blocked player in place (alive or dying this tick)
        stay = ref["row"][t + 1] * 1000 + ref["col"][t + 1] == ref["row"][t] * 1000 + ref["col"][t]
        assert stay[blocked.numpy()].all(), where
        blocked_moves += int(blocked.sum())
        moves = torch.where(blocked, STAY, moves)
        action = torch.stack([moves, torch.zeros_like(moves)], dim=-1)[None]
        step = env.step({GROUP: action})
        for r, c in ref["eaten"][t]:
            assert expected_tiles[r, c] == FOLIAGE, where
            expected_tiles[r, c] = SCRUB
        for r, c in ref["regrown"][t]:
            expected_tiles[r, c] = FOLIAGE
            env.tiles[0, r, c] = FOLIAGE
    assert blocked_moves >= 20
