"""Learning curves and final-return table for a grid of algorithms x tasks x seeds, with named training metrics
per point (the engine of `benchmarks/mansa_curves.py`, whose MANSA variants record the CL-call fraction).

The suite's grids run through `marl bench suite=<name>` and `marl report` (docs/benchmarks.md); the on-policy
grid of docs/algorithms.md is `marl bench suite=mpe`. This script remains for grids that need a curve of a
training metric beside the return, which `marl report` does not read yet.

    python benchmarks/learning_curves.py --algos ippo mappo dpo \
        --tasks mpe/simple_spread mpe/simple_spread:continuous_actions=true mpe2/simple_spread \
        --seeds 0 1 2 3 4 --steps 300000 --num-envs 32 --out-dir results/onpolicy [--jobs 2]

Each run is one `marl.Experiment` of a registered algorithm (its default hyperparameters, or `--set
key=value` overrides; a key the algorithm does not have stops the grid before any run) on one task. Every
`steps / points` environment steps it records the mean return of the training episodes that ended since the
last point and the mean return of `--eval-episodes` evaluation episodes (stochastic policy unless
`--deterministic`; a separate environment, fixed seed). Each run's curve is written to
`OUT/runs/<task>/<algo>/seed_<k>.json` (temporary file, then `os.replace`) and its run directory (metrics,
TensorBoard, checkpoint) to `OUT/runs/<task>/<algo>/seed_<k>/`. Runs whose file exists are skipped and a run
cut short resumes from its checkpoint, so an interrupted grid resumes and several processes can share one.

The report (`OUT/results.md`, also printed; `--report-only` rebuilds it from the saved runs) gives, per task
and algorithm, the mean over seeds of the final evaluation return with a 95% bootstrap interval of that
mean, the difference DPO - IPPO with its own bootstrap interval where both ran, and one learning-curve plot
per task (`OUT/plots/<task>.png`: mean over seeds, shaded 95% bootstrap interval).

A task is an environment id, optionally followed by `:key=value,key=value` environment arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import yaml

import marl
from marl.running.io import atomic_write_text


def parse_task(task: str) -> tuple[str, dict]:
    """`"mpe/simple_spread:continuous_actions=true,n_agents=4"` -> `("mpe/simple_spread", {...})`."""
    env_id, _, arguments = task.partition(":")
    kwargs = {}
    for item in filter(None, arguments.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"task {task!r}: expected key=value after ':', got {item!r}")
        kwargs[key] = yaml.safe_load(value)
    return env_id, kwargs


def slug(task: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", task.replace("/", "__").replace(":", "__").replace("=", "-"))


def parse_overrides(items: list[str]) -> dict:
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set expects key=value, got {item!r}")
        overrides[key] = yaml.safe_load(value)
    return overrides


def make_experiment(job: dict) -> marl.Experiment:
    """One (task, algorithm, seed) of the grid: a point every `steps / points` steps, the last at the end."""
    env_id, env_kwargs = parse_task(job["task"])
    every = -(-job["steps"] // job["points"])
    return marl.Experiment(
        env={"id": env_id, **env_kwargs},
        algo={"name": job["algo"], **job["overrides"]},
        experiment=None,
        seed=job["seed"],
        num_envs=job["num_envs"],
        total_steps=job["steps"],
        eval_episodes=job["eval_episodes"],
        eval_deterministic=job["deterministic"],
        eval_every=every,
        log_every=every,
        torch_threads=1,
        progress=False,
        run_dir=job["run_dir"],
    )


def run(job: dict) -> str:
    """Train one (task, algorithm, seed) and write its curve; returns the file written."""
    experiment = make_experiment(job)
    experiment.run()
    rows = {row["step"]: row for row in experiment.metrics}
    points = [e for e in experiment.evaluations if e["step_count"] > 0]
    steps = [e["step_count"] for e in points]
    result = {
        "task": job["task"],
        "algo": job["algo"],
        "seed": job["seed"],
        "num_envs": job["num_envs"],
        "eval_episodes": job["eval_episodes"],
        "deterministic_eval": job["deterministic"],
        "config": asdict(experiment.algo.config),
        "wall_seconds": experiment.evaluations[-1]["elapsed_time"],
        "env_steps": steps,
        "train_return": [rows[step].get("train/episode_return", float("nan")) for step in steps],
        "eval_return": [float(np.mean(e["return"])) for e in points],
    }
    if "label" in job:  # a variant of an algorithm (e.g. its hyperparameters) with a name of its own
        result["label"] = job["label"]
    for name in job.get("metrics", []):  # training metrics logged at each point, e.g. mansa/cl_fraction
        result.setdefault("train_metrics", {})[name] = [rows[step].get(name, float("nan")) for step in steps]
    atomic_write_text(job["path"], json.dumps(result, indent=1))
    return job["path"]


def bootstrap_interval(samples: np.ndarray, rng: np.random.Generator, resamples: int = 10_000) -> tuple:
    """95% percentile bootstrap interval of the mean."""
    means = rng.choice(samples, size=(resamples, len(samples)), replace=True).mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def difference_interval(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> tuple:
    """95% percentile bootstrap interval of `mean(a) - mean(b)` (independent resamples of each)."""
    diffs = rng.choice(a, (10_000, len(a))).mean(1) - rng.choice(b, (10_000, len(b))).mean(1)
    return tuple(float(x) for x in np.percentile(diffs, [2.5, 97.5]))


def load_runs(out_dir: Path) -> dict:
    runs: dict = {}
    for path in sorted((out_dir / "runs").glob("*/*/seed_*.json")):
        data = json.loads(path.read_text())
        runs.setdefault(data["task"], {}).setdefault(data["algo"], []).append(data)
    return runs


def report(out_dir: Path, algos: list[str], tasks: list[str]) -> str:
    runs = load_runs(out_dir)
    order = {task: k for k, task in enumerate(tasks)}
    runs = dict(sorted(runs.items(), key=lambda item: (order.get(item[0], len(order)), item[0])))
    if not runs:
        raise SystemExit(f"no runs under {out_dir / 'runs'}")
    rng = np.random.default_rng(0)
    present = [a for a in algos if any(a in per_task for per_task in runs.values())]
    compare = "dpo" in present and "ippo" in present
    header = ["task", *(f"{a} (seeds)" for a in present)] + (["dpo - ippo"] if compare else [])
    lines = [
        "Final evaluation return (mean episode return per agent at the last point), mean over seeds "
        "[95% bootstrap interval of the mean]",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for task, per_algo in runs.items():
        cells, finals = [task], {}
        for a in present:
            if a not in per_algo:
                cells.append("-")
                continue
            finals[a] = np.array([r["eval_return"][-1] for r in per_algo[a]])
            lo, hi = bootstrap_interval(finals[a], rng)
            cells.append(f"{finals[a].mean():.2f} [{lo:.2f}, {hi:.2f}] ({len(finals[a])})")
        if compare:
            if "dpo" in finals and "ippo" in finals:
                lo, hi = difference_interval(finals["dpo"], finals["ippo"], rng)
                cells.append(f"{finals['dpo'].mean() - finals['ippo'].mean():+.2f} [{lo:+.2f}, {hi:+.2f}]")
            else:
                cells.append("-")
        lines.append("| " + " | ".join(cells) + " |")
        plot(out_dir / "plots" / f"{slug(task)}.png", task, per_algo, rng)
    return "\n".join(lines)


def plot(
    path: Path,
    task: str,
    per_algo: dict,
    rng: np.random.Generator,
    values: Any = lambda run: run["eval_return"],
    ylabel: str = "evaluation return",
) -> None:
    """Mean over seeds and shaded 95% bootstrap interval of `values(run)` (one number per point) per algorithm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for algo, runs in sorted(per_algo.items()):
        length = min(len(values(r)) for r in runs)
        x = np.array(runs[0]["env_steps"][:length])
        y = np.array([values(r)[:length] for r in runs])
        bands = np.array([bootstrap_interval(y[:, i], rng, 2_000) for i in range(length)])
        ax.plot(x, y.mean(0), label=f"{algo} ({len(runs)} seeds)")
        ax.fill_between(x, bands[:, 0], bands[:, 1], alpha=0.2)
    ax.set_xlabel("environment steps")
    ax.set_ylabel(ylabel)
    ax.set_title(task)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".png")
    os.close(fd)
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--algos", nargs="+", default=["ippo", "mappo", "dpo"])
    parser.add_argument(
        "--tasks",
        nargs="+",
        default=["mpe/simple_spread", "mpe/simple_spread:continuous_actions=true", "mpe2/simple_spread"],
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--steps", type=int, default=300_000, help="environment steps per run (over copies)")
    parser.add_argument("--num-envs", type=int, default=32, help="environment copies per run")
    parser.add_argument("--points", type=int, default=20, help="points on each learning curve")
    parser.add_argument("--eval-episodes", type=int, default=64, help="evaluation episodes per point")
    parser.add_argument("--deterministic", action="store_true", help="evaluate the greedy policy")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="hyperparameter overrides")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (processes)")
    parser.add_argument("--out-dir", default="results/learning_curves", help="where runs, table and plots go")
    parser.add_argument("--out", help="also write the markdown table to this file")
    parser.add_argument("--report-only", action="store_true", help="only rebuild the table and plots")
    parser.add_argument("--force", action="store_true", help="rerun runs whose file exists")
    args = parser.parse_args()
    out_dir = Path(args.out_dir)
    overrides = parse_overrides(args.set)
    if not args.report_only:
        jobs = []
        for task in args.tasks:
            for algo in args.algos:
                for seed in args.seeds:
                    path = out_dir / "runs" / slug(task) / algo / f"seed_{seed}.json"
                    job = {
                        "task": task,
                        "algo": algo,
                        "seed": seed,
                        "steps": args.steps,
                        "num_envs": args.num_envs,
                        "points": args.points,
                        "eval_episodes": args.eval_episodes,
                        "deterministic": args.deterministic,
                        "overrides": overrides,
                        "path": str(path),
                        "run_dir": str(path.with_suffix("")),
                    }
                    if seed == args.seeds[0]:  # a malformed task or a key an algorithm lacks stops the grid
                        make_experiment(job)
                    if path.exists() and not args.force:
                        continue
                    if args.force:
                        shutil.rmtree(job["run_dir"], ignore_errors=True)
                    jobs.append(job)
        print(f"{len(jobs)} runs to do", flush=True)
        if args.jobs > 1:
            with ProcessPoolExecutor(args.jobs) as pool:
                for written in pool.map(run, jobs):
                    print("wrote", written, flush=True)
        else:
            for job in jobs:
                print("wrote", run(job), flush=True)
    table = report(out_dir, args.algos, args.tasks)
    print(table)
    atomic_write_text(out_dir / "results.md", table + "\n")
    if args.out:
        atomic_write_text(args.out, table + "\n")


if __name__ == "__main__":
    main()
