"""Record POGEMA 1.4.0's start/goal placement and random-policy lifelong throughput, for
tests/envs/test_pathfinding_placement.py to compare our `placement="pogema"` with.

Runs inside POGEMA's own virtual environment (pogema 1.4.0 pins old numpy/gymnasium), from the repository root:

    python3 -m venv .venv-pogema && .venv-pogema/bin/pip install pogema==1.4.0
    .venv-pogema/bin/python benchmarks/pogema_placement_reference.py --out tests/data/pogema_placement.json

Two parts:
- `exact`: for a few seeds, the obstacle grid, the shuffled order of free cells that POGEMA's placement walks and
  the starts and goals its `placing` makes from it (checked equal to those of a POGEMA environment built with the
  same seed), so that the test can feed the same order to ours and ask for the same agents.
- `statistics`: per configuration (lifelong mode, soft collisions, radius 5, uniformly random actions, one POGEMA
  environment per seed 0, 1, ...), per-episode values averaged over episodes with their standard errors: the
  share of agents whose start lies in a component of a given size, the share whose start-goal shortest-path
  distance falls in a given range, and throughput (goals reached per step, all agents).
Everything here is measured through POGEMA's public classes and functions; components and distances are computed
by the small BFS below (the statistics' definitions, mirrored by the test on our side).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections import deque
from pathlib import Path

import numpy as np
import pogema
from pogema import GridConfig, pogema_v0
from pogema.generator import bfs, placing

# (lower, upper) inclusive bounds of the bins; upper None = no bound
COMPONENT_BINS = ((2, 2), (3, 5), (6, 20), (21, 100), (101, None))
DISTANCE_BINS = ((1, 1), (2, 3), (4, 7), (8, 15), (16, None))
CONFIGS = (
    {"size": 16, "density": 0.3, "n_agents": 8, "max_steps": 128},
    {"size": 32, "density": 0.3, "n_agents": 64, "max_steps": 256},
)
EXACT_CASES = (
    {"size": 16, "density": 0.3, "n_agents": 8, "seeds": [0, 1, 2]},
    {"size": 32, "density": 0.3, "n_agents": 64, "seeds": [0, 1]},
    {"size": 16, "density": 0.2, "n_agents": 80, "seeds": [3]},  # most pairs of the map used
)


def make_env(config: dict, seed: int):
    grid_config = GridConfig(
        num_agents=config["n_agents"],
        size=config["size"],
        density=config["density"],
        obs_radius=5,
        max_episode_steps=config["max_steps"],
        on_target="restart",
        collision_system="soft",
        seed=seed,
    )
    return pogema_v0(grid_config=grid_config), grid_config


def bfs_distances(free: np.ndarray, source: tuple[int, int]) -> np.ndarray:
    """4-connected shortest-path lengths from `source` (-1 where unreachable)."""
    H, W = free.shape
    dist = np.full((H, W), -1, dtype=np.int64)
    dist[source] = 0
    queue = deque([source])
    while queue:
        r, c = queue.popleft()
        for nr, nc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if 0 <= nr < H and 0 <= nc < W and free[nr, nc] and dist[nr, nc] < 0:
                dist[nr, nc] = dist[r, c] + 1
                queue.append((nr, nc))
    return dist


def bin_shares(values: list[int], bins) -> list[float]:
    values = np.asarray(values)
    return [
        float(np.mean((values >= low) & (values <= (high if high is not None else values.max()))))
        for low, high in bins
    ]


def placement_of(env) -> tuple[np.ndarray, list, list]:
    grid = env.unwrapped.grid
    free = grid.get_obstacles(ignore_borders=True) == 0
    starts = [tuple(p) for p in grid.get_agents_xy(ignore_borders=True)]
    goals = [tuple(p) for p in grid.get_targets_xy(ignore_borders=True)]
    return free, starts, goals


def episode_values(config: dict, seed: int) -> dict[str, float]:
    """Placement statistics of one episode's start, then its random-policy throughput."""
    env, _ = make_env(config, seed)
    env.reset()
    free, starts, goals = placement_of(env)
    sizes, distances = [], []
    for start, goal in zip(starts, goals, strict=True):
        dist = bfs_distances(free, start)
        sizes.append(int((dist >= 0).sum()))  # the start's component
        distances.append(int(dist[goal]))
    values = {}
    for (low, high), share in zip(COMPONENT_BINS, bin_shares(sizes, COMPONENT_BINS), strict=True):
        values[f"component_{low}-{high if high is not None else 'inf'}"] = share
    for (low, high), share in zip(DISTANCE_BINS, bin_shares(distances, DISTANCE_BINS), strict=True):
        values[f"distance_{low}-{high if high is not None else 'inf'}"] = share
    rng = np.random.default_rng(seed)
    goals_reached = 0.0
    for _ in range(config["max_steps"]):
        _, rewards, _, _, _ = env.step(rng.integers(5, size=config["n_agents"]).tolist())
        goals_reached += sum(rewards)
    values["throughput"] = goals_reached / config["max_steps"]
    return values


def statistics(config: dict, episodes: int) -> dict:
    started = time.perf_counter()
    per_episode = [episode_values(config, seed) for seed in range(episodes)]
    summary = {}
    for name in per_episode[0]:
        x = np.array([v[name] for v in per_episode])
        summary[name] = {"mean": float(x.mean()), "se": float(x.std(ddof=1) / np.sqrt(len(x)))}
    print(f"{config}: {episodes} episodes, {time.perf_counter() - started:.0f} s")
    return {**config, "episodes": episodes, "seeds": f"0..{episodes - 1}", "values": summary}


def exact_case(size: int, density: float, n_agents: int, seed: int) -> dict:
    """POGEMA's order of free cells for `seed` and the placement its `placing` makes from it."""
    env, grid_config = make_env(
        {"size": size, "density": density, "n_agents": n_agents, "max_steps": 8}, seed
    )
    env.reset()
    free, env_starts, env_goals = placement_of(env)
    # the order and labelling POGEMA's generate_positions_and_targets_fast uses: free cells row by row,
    # shuffled by a generator seeded with the config's seed; components from its own bfs
    labels = np.where(free, grid_config.FREE, grid_config.OBSTACLE).astype(np.int32)
    start_id = max(grid_config.FREE, grid_config.OBSTACLE) + 1
    components = bfs(labels, tuple(grid_config.MOVES), start_id, free_cell=grid_config.FREE)
    order = [(r, c) for r in range(size) for c in range(size) if free[r, c]]
    np.random.default_rng(seed).shuffle(order)
    starts, goals = placing(list(order), components, labels, start_id, n_agents)
    starts, goals = [tuple(map(int, p)) for p in starts], [tuple(map(int, p)) for p in goals]
    if starts != env_starts or goals != env_goals:
        raise RuntimeError(f"seed {seed}: the reconstructed order does not give the environment's placement")
    flat = [int(r) * size + int(c) for r, c in order]
    return {
        "size": size,
        "density": density,
        "n_agents": n_agents,
        "seed": seed,
        "obstacles": ["".join("." if f else "#" for f in row) for row in free],
        "order": flat,
        "starts": [r * size + c for r, c in starts],
        "goals": [r * size + c for r, c in goals],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, nargs=2, default=[4000, 600], help="per configuration")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    result = {
        "pogema_version": pogema.__version__,
        "command": ".venv-pogema/bin/python benchmarks/pogema_placement_reference.py "
        f"--episodes {args.episodes[0]} {args.episodes[1]} --out {args.out}",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "rules": "lifelong (restart), soft collisions, obs_radius 5, uniformly random actions",
        "component_bins": COMPONENT_BINS,
        "distance_bins": DISTANCE_BINS,
        "exact": [
            exact_case(case["size"], case["density"], case["n_agents"], seed)
            for case in EXACT_CASES
            for seed in case["seeds"]
        ],
        "statistics": [
            statistics(config, episodes) for config, episodes in zip(CONFIGS, args.episodes, strict=True)
        ],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=args.out.parent, delete=False, suffix=".tmp") as tmp:
        json.dump(result, tmp, indent=1)
        tmp.write("\n")
    os.chmod(tmp.name, 0o644)
    os.replace(tmp.name, args.out)
    print(args.out)


if __name__ == "__main__":
    main()
