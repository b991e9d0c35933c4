"""Dec-POMFC against IPPO and MAPPO on the swarm tasks, with zero-shot transfer to another swarm size.

    python benchmarks/dec_pomfc_swarms.py            # writes benchmarks/results/dec_pomfc/swarms.json
    python benchmarks/dec_pomfc_swarms.py --tasks vicsek --seeds 0 --iterations 5 --out /tmp/swarms.json

Each algorithm trains from scratch for `--iterations` iterations (rollouts of one whole episode of
`--max-steps` steps on `--envs` copies of `--n` agents; every other key at its default, IPPO and MAPPO without
agent ids so that their actors run any N), then its deterministic policy plays `--eval-episodes` episodes on
another seed at the training N and at `--transfer-n` (zero shot). Recorded per run: the task's metric at the
episode's last step and its mean over the episode (Vicsek polarisation and Kuramoto synchrony: higher is
better; aggregation's distance to the centroid: lower is better), training wall time; the random policy's
values for comparison.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import marl  # noqa: E402
from algos import dec_pomfc, ppo  # noqa: E402
from envs import swarm  # noqa: E402
from marl.core import registry  # noqa: E402
from marl.learning.algorithm import Algorithm, RandomConfig, RandomPolicy, evaluate  # noqa: E402
from marl.running.io import atomic_write_json  # noqa: E402

METRICS = {"vicsek": "polarisation", "kuramoto": "synchrony", "aggregation": "distance_to_centroid"}
ALGOS = ("dec_pomfc", "ippo", "mappo")


def make_env(task: str, n: int, args: argparse.Namespace, num_envs: int, seed: int) -> marl.BatchedEnv:
    keys = {} if args.k_neighbours is None else {"k_neighbours": args.k_neighbours}
    return marl.make(
        f"swarm/{task}", num_envs=num_envs, n_agents=n, max_steps=args.max_steps, seed=seed, **keys
    )


def play(
    policy: Algorithm | None, task: str, n: int, args: argparse.Namespace, seed: int
) -> dict[str, float]:
    """The metric at the last step and over the episode, averaged over the evaluation episodes (None: the
    random policy)."""
    env = make_env(task, n, args, args.eval_episodes, 1000 + seed)
    policy = RandomPolicy(env, RandomConfig(), "cpu") if policy is None else policy
    stats = evaluate(policy, env, args.eval_episodes, deterministic=True, seed=seed)
    metric = METRICS[task]
    return {"final": statistics.mean(stats[metric]), "mean": statistics.mean(stats[f"{metric}_mean"])}


def train_and_play(task: str, name: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    torch.manual_seed(seed)
    env = make_env(task, args.n, args, args.envs, seed)
    config: dict[str, Any] = {"rollout_length": args.max_steps}
    if name == "dec_pomfc":
        config["chunk_length"] = 10
    algo = registry.algo_entry(name).factory(env, config, "cpu", {"agent_id_size": 0})
    start = time.perf_counter()
    for _ in range(args.iterations):
        algo.train_iteration()
    seconds = time.perf_counter() - start
    return {
        "seed": seed,
        "train_seconds": round(seconds, 2),
        f"n{args.n}": play(algo, task, args.n, args, seed),
        f"n{args.transfer_n}": play(algo, task, args.transfer_n, args, seed),
    }


def summary(runs: list[dict[str, Any]], key: str) -> dict[str, float]:
    """Median, min and max over seeds of the final-step metric at one N."""
    values = [run[key]["final"] for run in runs]
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(METRICS), choices=list(METRICS))
    parser.add_argument("--algos", nargs="+", default=list(ALGOS), choices=list(ALGOS))
    parser.add_argument("--n", type=int, default=100, help="agents per copy in training")
    parser.add_argument("--transfer-n", type=int, default=200, help="agents per copy, zero shot")
    parser.add_argument(
        "--k-neighbours", type=int, default=None, help="neighbours each agent observes (task default: 6)"
    )
    parser.add_argument("--envs", type=int, default=4, help="copies in training")
    parser.add_argument("--max-steps", type=int, default=50, help="episode length (and rollout length)")
    parser.add_argument("--iterations", type=int, default=20, help="training iterations (one rollout each)")
    parser.add_argument("--eval-episodes", type=int, default=8)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--machine", default="2-core x86_64 CPU, shared with other jobs")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/dec_pomfc/swarms.json"))
    args = parser.parse_args(argv)
    swarm.register()
    ppo.register()
    dec_pomfc.register()

    results: dict[str, Any] = {}
    for task in args.tasks:
        cell: dict[str, Any] = {
            "metric": METRICS[task],
            "random": {f"n{n}": play(None, task, n, args, seed=0) for n in (args.n, args.transfer_n)},
        }
        for name in args.algos:
            runs = [train_and_play(task, name, seed, args) for seed in args.seeds]
            cell[name] = {
                "runs": runs,
                **{f"n{n}": summary(runs, f"n{n}") for n in (args.n, args.transfer_n)},
            }
            print(task, name, {k: v for k, v in cell[name].items() if k != "runs"}, flush=True)
        results[task] = cell
    atomic_write_json(
        args.out,
        {
            "command": "python benchmarks/dec_pomfc_swarms.py " + " ".join(argv or sys.argv[1:]),
            "machine": args.machine,
            "processor": platform.processor() or platform.machine(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "setup": {
                "n": args.n,
                "transfer_n": args.transfer_n,
                "k_neighbours": args.k_neighbours,
                "copies": args.envs,
                "max_steps": args.max_steps,
                "iterations": args.iterations,
                "env_steps": args.iterations * args.max_steps * args.envs,
                "eval_episodes": args.eval_episodes,
                "seeds": args.seeds,
            },
            "results": results,
        },
    )


if __name__ == "__main__":
    torch.set_num_threads(1)  # one thread, as the shared machine gives each job
    main()
