"""Record survival-only Neural MMO episodes (the reference's rules) for the MMO world's equality test.

Runs in its own virtual environment, since the reference pins numpy 1.23.3 and Python < 3.11 (PyPI `nmmo` 2.1.2
builds from source on Python 3.10; this script never imports the project):

    python3.10 -m venv .venv-nmmo && .venv-nmmo/bin/pip install nmmo==2.1.2
    .venv-nmmo/bin/python benchmarks/mmo_reference.py      # writes tests/data/mmo_reference/*.json

Configuration: the reference's `Small` preset (64x64 map, 32x32 centre, void border) with only its Terrain and
Resource systems on (`class Survival(Small, Terrain, Resource)`: combat, NPCs, items, progression, exchange and
communication stay off, which is how the reference turns them off), `--agents` players, `--ticks` ticks.
Episode `respawn0` sets `RESOURCE_FOILAGE_RESPAWN = 0` (no regrowth); episode `respawn_default` keeps the
default 0.025 per tick, drawn from the reference's own generator: the file lists every regrowth it drew, so a
replay can apply the same ones instead of drawing its own.

Actions: half the agents move in seeded uniform random directions (often into water, stone or void), the other
half forage greedily (step towards the nearest uneaten foilage or the nearest tile next to water, whichever of
food or water is lower) with a 25% chance of a random direction, so the episodes exercise eating, drinking,
health regeneration, starvation, dehydration, death and two agents eating from the same tile.

Each JSON file holds (all integers; tick t = 1..T is the state after the t-th `env.step`):
- `reference`: "nmmo <version>" and the config overrides used;
- `terrain` [H][W]: the reference's tile indices after reset (0 void, 1 water, 2 grass, 3 scrub, 4 foilage,
  5 stone), full map including the void border;
- `spawns` [N][2]: (row, col) of agent k (the reference's agent id k + 1) at reset;
- `actions` [T][N]: the move each agent was given on tick t, in the reference's order 0 N, 1 S, 2 E, 3 W, 4 Stay
  (dead agents are given 4 and ignored by the reference);
- `health`, `food`, `water`, `row`, `col`, `alive` [T + 1][N]: index 0 is the state at reset, index t the state
  after tick t; a dead agent keeps the values of its death tick (health 0) with `alive` 0;
- `eaten` [T]: per tick, the [row, col] foilage tiles depleted to scrub on that tick;
- `regrown` [T]: per tick, the [row, col] scrub tiles that regrew to foilage at the end of that tick (after
  the moves, in the reference's `Map.step`), i.e. its regrowth draws.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DELTAS = ((-1, 0), (1, 0), (0, 1), (0, -1), (0, 0))  # the reference's North, South, East, West, Stay
FOILAGE, WATER = 4, 1


def survival_config(n_agents: int, ticks: int, respawn: float | None, maps_dir: str):
    """The Small preset with only terrain and resources on (combat and NPCs off by omission of their systems)."""
    import nmmo
    from nmmo.core import config as cfg

    overrides = {"PLAYER_N": n_agents, "HORIZON": ticks + 1, "PATH_MAPS": maps_dir, "MAP_N": 1}
    if respawn is not None:
        overrides["RESOURCE_FOILAGE_RESPAWN"] = respawn
    cls = type("Survival", (cfg.Small, cfg.Terrain, cfg.Resource), overrides)
    config = cls()
    assert not config.COMBAT_SYSTEM_ENABLED and not config.NPC_SYSTEM_ENABLED, nmmo.__version__
    return config, overrides


def greedy_direction(pos: tuple[int, int], targets: np.ndarray) -> int:
    """Step along the larger offset towards the nearest target (Manhattan); Stay when on it or none left."""
    if len(targets) == 0:
        return 4
    offsets = targets - np.asarray(pos)
    dr, dc = offsets[np.abs(offsets).sum(1).argmin()]
    if dr == 0 and dc == 0:
        return 4
    if abs(dr) >= abs(dc):
        return 0 if dr < 0 else 1
    return 2 if dc > 0 else 3


def record(n_agents: int, ticks: int, respawn: float | None, seed: int) -> dict:
    import nmmo

    with tempfile.TemporaryDirectory() as maps_dir:
        config, overrides = survival_config(n_agents, ticks, respawn, maps_dir)
        env = nmmo.Env(config, seed=seed)
        env.reset(seed=seed)
    realm = env.realm
    tiles = realm.map.tiles
    size = config.MAP_SIZE
    terrain = np.array([[tiles[r, c].material.index for c in range(size)] for r in range(size)])
    assert set(np.unique(terrain)) <= {0, 1, 2, 4, 5}, np.unique(terrain)
    foilage = np.argwhere(terrain == FOILAGE)
    water = terrain == WATER
    near_water = np.zeros_like(water)
    near_water[1:] |= water[:-1]
    near_water[:-1] |= water[1:]
    near_water[:, 1:] |= water[:, :-1]
    near_water[:, :-1] |= water[:, 1:]
    near_water &= np.isin(terrain, (2, 3, 4))
    drink_targets = np.argwhere(near_water)

    ids = list(range(1, n_agents + 1))
    rng = np.random.default_rng(seed + 1000)
    epsilon = np.where(np.arange(n_agents) % 2 == 0, 1.0, 0.25)  # even: random walkers, odd: foragers
    last = {k: None for k in ids}

    def snapshot() -> dict[str, list[int]]:
        state = {key: [] for key in ("health", "food", "water", "row", "col", "alive")}
        for k in ids:
            player = realm.players.get(k)
            if player is not None:
                last[k] = (
                    int(player.resources.health.val),
                    int(player.resources.food.val),
                    int(player.resources.water.val),
                    *map(int, player.pos),
                )
            elif k in env.dead_this_tick:
                dead = env.dead_this_tick[k]
                last[k] = (
                    int(dead.resources.health.val),
                    int(dead.resources.food.val),
                    int(dead.resources.water.val),
                    *map(int, dead.pos),
                )
            for key, value in zip(("health", "food", "water", "row", "col"), last[k], strict=True):
                state[key].append(value)
            state["alive"].append(int(player is not None))
        return state

    # Log the reference's own events: every harvest that depletes a tile, and every tile its map step regrows.
    eaten_now: list[list[int]] = []
    regrown_now: list[list[int]] = []
    harvest, map_step = realm.map.harvest, realm.map.step

    def logged_harvest(r: int, c: int, deplete: bool = True):
        if deplete:
            eaten_now.append([int(r), int(c)])
        return harvest(r, c, deplete)

    def logged_step() -> None:
        pending = [tile for tile in realm.map.update_list if tile.depleted]
        map_step()
        regrown_now.extend([int(tile.row.val), int(tile.col.val)] for tile in pending if not tile.depleted)

    realm.map.harvest, realm.map.step = logged_harvest, logged_step

    history = [snapshot()]
    spawns = [[history[0]["row"][i], history[0]["col"][i]] for i in range(n_agents)]
    actions, eaten, regrown = [], [], []
    for _ in range(ticks):
        moves = []
        for i, k in enumerate(ids):
            player = realm.players.get(k)
            if player is None:
                moves.append(4)
            elif rng.random() < epsilon[i]:
                moves.append(int(rng.integers(5)))
            else:
                food, water_level = player.resources.food.val, player.resources.water.val
                if food <= water_level:
                    fresh = np.array([not tiles[r, c].depleted for r, c in foilage], dtype=bool)
                    moves.append(greedy_direction(player.pos, foilage[fresh]))
                else:
                    moves.append(greedy_direction(player.pos, drink_targets))
        eaten_now.clear()
        regrown_now.clear()
        env.step({k: {"Move": {"Direction": moves[i]}} for i, k in enumerate(ids) if k in realm.players})
        actions.append(moves)
        eaten.append(sorted(eaten_now))
        regrown.append(sorted(regrown_now))
        history.append(snapshot())
    return {
        "reference": f"nmmo {nmmo.__version__}",
        "config": {
            "preset": "Small",
            "systems": ["TERRAIN", "RESOURCE"],
            **overrides,
            "PATH_MAPS": "<tmp>",
            **{key: getattr(config, key) for key in ("MAP_SIZE", "MAP_CENTER", "MAP_BORDER")},
            "RESOURCE_FOILAGE_RESPAWN": config.RESOURCE_FOILAGE_RESPAWN,
        },
        "seed": seed,
        "terrain": terrain.tolist(),
        "spawns": spawns,
        "actions": actions,
        **{key: [h[key] for h in history] for key in ("health", "food", "water", "row", "col", "alive")},
        "eaten": eaten,
        "regrown": regrown,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, default=16)
    parser.add_argument("--ticks", type=int, default=100)
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "data" / "mmo_reference")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, respawn, seed in (("respawn0", 0.0, 1), ("respawn_default", None, 2)):
        data = record(args.agents, args.ticks, respawn, seed)
        path = args.out / f"{name}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, separators=(",", ":")) + "\n")
        os.replace(tmp, path)
        alive = np.array(data["alive"])
        print(
            f"{path}: {args.agents} agents, {args.ticks} ticks, alive at end {alive[-1].sum()}, "
            f"eaten {sum(map(len, data['eaten']))}, regrown {sum(map(len, data['regrown']))}"
        )


if __name__ == "__main__":
    main()
