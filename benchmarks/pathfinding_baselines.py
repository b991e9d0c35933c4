"""Lifelong throughput (goals reached per step, summed over agents) of the pathfinding baselines on held-out maps.

Runs the registered policies (by default random actions, `pathfinding_follow` and `pathfinding_prioritised`)
through `marl.evaluate` on map sets under maps/pathfinding/, for several agent counts and seeds, and prints a
markdown table of the mean throughput over seeds (with the spread over seeds). A trained policy is added by its
algorithm's name and its `marl train` checkpoints, one per evaluation seed (seed i runs checkpoint i, so the spread
covers training seeds too), or one for all seeds:

    python benchmarks/pathfinding_baselines.py --agents 32 64 --seeds 0 1 2
    python benchmarks/pathfinding_baselines.py --algos random ippo --seeds 0 1 2 \
        --checkpoint ippo=runs/s0/checkpoints/last.pt ippo=runs/s1/checkpoints/last.pt ippo=runs/s2/checkpoints/last.pt

A trained policy is rebuilt from its checkpoint's saved run config (algorithm hyperparameters) and evaluated with the
observation settings it was trained with (`observation`, `obs_radius`, `path_channel`, `action_mask` from that
config). Under the name `pathfinding_follower` a checkpoint of any algorithm runs through the registered
`pathfinding_follower` policy (Learn to Follow's follower, as `marl eval algo=pathfinding_follower` runs it):

    python benchmarks/pathfinding_baselines.py --algos pathfinding_follow pathfinding_follower --agents 64 \
        --max-steps 512 --checkpoint pathfinding_follower=runs/f0 pathfinding_follower=runs/f1 --json out.json

`--json` writes every seed's value besides the table (with a 95% t-interval over seeds and the machine's load).
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import marl  # noqa: E402
from envs.pathfinding import register, register_baselines  # noqa: E402
from envs.pathfinding.follower import LearnedFollowerConfig, trained_observation  # noqa: E402
from marl.running.config import algo_config, model_arguments  # noqa: E402
from marl.running.io import atomic_write_json, atomic_write_text  # noqa: E402

MAP_SETS = {
    "random 20x20": "random/random-20-*",
    "maze 21x21": "maze/maze-21-*",
    "maze 19x19, corridors 2 wide": "maze/maze-19-c2-*",
    "warehouse 33x46": "warehouse/warehouse-33x46.txt",
}

# the policy that runs any algorithm's checkpoint (Learn to Follow's follower, registered by register_baselines)
FOLLOWER = "pathfinding_follower"
# baselines that need more than the default observation: the congestion-aware path of observation=follower
BASELINE_OBSERVATION = {"pathfinding_congestion": {"observation": "follower"}}
# two-sided 95% quantiles of Student's t by degrees of freedom (intervals over seeds), from tables
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}


class Checkpoint:
    """A `marl train` checkpoint: the algorithm's state and the run config it was trained with."""

    def __init__(self, path: str) -> None:
        self.path = path
        saved = torch.load(path, map_location="cpu", weights_only=False)
        if not isinstance(saved, dict) or "algorithm" not in saved or "config" not in saved:
            raise ValueError(
                f"{path}: expected a `marl train` checkpoint (a dict with 'algorithm' and 'config'), "
                f"got {type(saved).__name__} with keys {sorted(saved) if isinstance(saved, dict) else None}"
            )
        self.state = saved["algorithm"]
        self.config = OmegaConf.create(saved["config"])
        self.algo_name, self.algo_config = algo_config(self.config)
        # the observation settings its network depends on: from the checkpoint, not from the command line
        self.observation = trained_observation(self.config)

    def build(self, env: marl.BatchedEnv, n_agents: int) -> marl.Algorithm:
        """The trained algorithm on `env`; refuses agent counts its network cannot take (agent ids)."""
        trained_agents = self.config.env.n_agents
        model = model_arguments(self.config, self.algo_name)
        if model and model["model"].agent_id_size and n_agents != trained_agents:
            raise ValueError(
                f"{self.path}: trained with agent ids on {trained_agents} agents, so it cannot run {n_agents}; "
                "train with model.agent_id_size=0 to evaluate other agent counts"
            )
        entry = marl.core.registry.algo_entry(self.algo_name)
        algo = entry.factory(env, self.algo_config, env.device, **model)
        algo.load_state_dict(self.state)
        return algo


def parse_checkpoints(items: list[str], algos: list[str], seeds: list[int]) -> dict[str, list[Checkpoint]]:
    """`NAME=PATH` items -> each name's checkpoints, one per seed (or one for all seeds)."""
    checkpoints: dict[str, list[Checkpoint]] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--checkpoint expects NAME=PATH, got {item!r}")
        checkpoint = Checkpoint(path)
        if checkpoint.algo_name != name and name != FOLLOWER:
            raise ValueError(f"{path} holds a {checkpoint.algo_name!r} run, not {name!r}")
        checkpoints.setdefault(name, []).append(checkpoint)
    for name, listed in checkpoints.items():
        if name not in algos:
            raise ValueError(f"checkpoint given for {name!r}, which is not in --algos {algos}")
        if len(listed) not in (1, len(seeds)):
            raise ValueError(
                f"{name}: {len(listed)} checkpoints for {len(seeds)} seeds; give one or one per seed"
            )
        if len({tuple(c.observation.items()) for c in listed}) > 1:
            raise ValueError(f"{name}: the checkpoints were trained with different observation settings")
    return checkpoints


def build_policy(
    name: str, env: marl.BatchedEnv, checkpoint: Checkpoint | None, n_agents: int
) -> marl.Algorithm:
    if checkpoint is not None and name == FOLLOWER:
        entry = marl.core.registry.algo_entry(FOLLOWER)
        return entry.factory(env, LearnedFollowerConfig(checkpoint=checkpoint.path), env.device)
    if checkpoint is not None:
        return checkpoint.build(env, n_agents)
    if name == "random":
        return marl.RandomPolicy(env, None, env.device)
    entry = marl.core.registry.algo_entry(name)
    return entry.factory(env, entry.config_class(), env.device)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--algos", nargs="+", default=["random", "pathfinding_follow", "pathfinding_prioritised"]
    )
    parser.add_argument(
        "--checkpoint",
        nargs="*",
        default=[],
        help="NAME=PATH `marl train` checkpoints of trained policies: one per seed, in seed order, or one for all",
    )
    parser.add_argument("--agents", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--map-sets", nargs="+", default=list(MAP_SETS), help=f"names from {list(MAP_SETS)}")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--copies", type=int, default=8, help="episodes per seed, run side by side")
    parser.add_argument("--max-steps", type=int, default=256)
    parser.add_argument("--collision", default="soft")
    parser.add_argument("--obs-radius", type=int, default=5)
    parser.add_argument(
        "--placement", default="pogema", help="start/goal placement (uniform_pairs: the suite's earlier one)"
    )
    parser.add_argument(
        "--sample",
        action="store_true",
        help="trained policies sample their actions instead of taking the most likely one "
        "(the planners and random actions act the same either way)",
    )
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--json", type=Path, help="also write every seed's throughput (and intervals) as JSON"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    register()
    register_baselines()
    try:
        checkpoints = parse_checkpoints(args.checkpoint, args.algos, args.seeds)
    except ValueError as error:
        parser.error(str(error))
    unknown = [m for m in args.map_sets if m not in MAP_SETS]
    if unknown:
        parser.error(f"unknown map sets {unknown}; choose from {list(MAP_SETS)}")

    lines = [
        f"Lifelong mode, {args.collision} collisions, radius {args.obs_radius}, {args.placement} placement, "
        f"episodes of {args.max_steps} steps, "
        f"{args.copies} episodes per seed, seeds {args.seeds}; throughput = goals reached per step (all agents), "
        "mean over seeds (min - max over seeds). "
        f"Trained policies {'sample their actions' if args.sample else 'take their most likely action'}.",
        *(
            f"{name}: {len(listed)} checkpoint(s), observations {listed[0].observation} as trained."
            for name, listed in checkpoints.items()
        ),
        "",
        "| maps | agents | " + " | ".join(args.algos) + " |",
        "|---|---|" + "---|" * len(args.algos),
    ]
    rows: list[dict[str, Any]] = []
    for label in args.map_sets:
        for agents in args.agents:
            cells = [label, str(agents)]
            for name in args.algos:
                per_seed = []
                started = time.perf_counter()
                for index, seed in enumerate(args.seeds):
                    listed = checkpoints.get(name)
                    checkpoint = listed[index % len(listed)] if listed else None
                    observation: dict[str, Any] = {"obs_radius": args.obs_radius, "path_channel": False}
                    observation.update(BASELINE_OBSERVATION.get(name, {}))
                    if checkpoint is not None:
                        observation = checkpoint.observation
                    env = marl.make(
                        "pathfinding/maps",
                        num_envs=args.copies,
                        seed=seed,
                        map_set=MAP_SETS[label],
                        n_agents=agents,
                        mode="lifelong",
                        collision=args.collision,
                        placement=args.placement,
                        max_steps=args.max_steps,
                        **observation,
                    )
                    policy = build_policy(name, env, checkpoint, agents)
                    result = marl.evaluate(policy, env, args.copies, deterministic=not args.sample, seed=seed)
                    per_seed.append(statistics.mean(result["throughput"]))
                cells.append(f"{statistics.mean(per_seed):.2f} ({min(per_seed):.2f} - {max(per_seed):.2f})")
                rows.append(
                    {
                        "maps": label,
                        "agents": agents,
                        "algo": name,
                        "per_seed": per_seed,
                        **interval(per_seed),
                    }
                )
                print(
                    f"{label} {agents} {name}: {cells[-1]} [{time.perf_counter() - started:.0f} s]",
                    file=sys.stderr,
                )
            lines.append("| " + " | ".join(cells) + " |")
    table = "\n".join(lines) + "\n"
    print(table)
    if args.out:
        atomic_write_text(args.out, table)
    if args.json:
        atomic_write_json(
            args.json,
            {
                "command": "python benchmarks/pathfinding_baselines.py "
                + shlex.join(sys.argv[1:] if argv is None else argv),
                "protocol": lines[0],
                "seeds": args.seeds,
                "episodes_per_seed": args.copies,
                "checkpoints": {name: [c.path for c in listed] for name, listed in checkpoints.items()},
                "load_average": os.getloadavg(),
                "cpu_count": os.cpu_count(),
                "results": rows,
            },
        )
    return table


def interval(values: list[float]) -> dict[str, float | None]:
    """Mean, min, max and the 95% t-interval of the mean over seeds (None from one seed or more than 11)."""
    mean = statistics.mean(values)
    t = T95.get(len(values) - 1)
    half = t * statistics.stdev(values) / math.sqrt(len(values)) if t else None
    low, high = (mean - half, mean + half) if half is not None else (None, None)
    return {"mean": mean, "min": min(values), "max": max(values), "ci95_low": low, "ci95_high": high}


if __name__ == "__main__":
    main()
