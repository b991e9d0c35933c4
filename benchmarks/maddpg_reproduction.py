"""Reproduce MADDPG's particle-world results: cooperative navigation and predator-prey, MADDPG beside
independent DDPG, several seeds, with 95% intervals, learning-curve plots and a markdown table.

Each run (task x variant x seed) is one `marl.Experiment` with the paper's hyperparameters
(configs/algo/maddpg.yaml) for `--total-steps` transitions; it logs the training episodes' statistics every
`--log-every` steps and evaluates the final policies on `--eval-episodes` episodes, greedy and sampled. Every
run's result is written atomically to `--results/<task>_<variant>_seed<k>.json` and its run directory
(metrics, TensorBoard, checkpoints) to `--run-dirs/<task>_<variant>_seed<k>/`; runs whose result exists are
skipped and a run cut short resumes from its last checkpoint, so an interrupted sweep resumes. The table and
plots are made from whatever results exist (`--report-only` makes them without training). Relative paths are
relative to the current directory (run it from the repository root to update the committed results).

    python benchmarks/maddpg_reproduction.py --total-steps 1500000 --jobs 2   # the paper's 60,000 episodes
    python benchmarks/maddpg_reproduction.py --tasks spread --seeds 0 1 --total-steps 100000 --out table.md
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from marl.running.io import atomic_write_text

# task -> environment, its parameters, the metrics of the table and the one the curves show
TASKS = {
    "spread": {
        "env": "mpe/simple_spread",
        "kwargs": {"n_agents": 3},
        "metrics": ["landmark_distance_sum", "collisions", "occupied_landmarks", "episode_return"],
        "curve": "landmark_distance_sum",
        "curve_label": "distance to landmarks (training episodes)",
        "title": "Cooperative navigation (mpe/simple_spread, 3 agents)",
    },
    "tag": {
        "env": "mpe/simple_tag",
        "kwargs": {},
        "metrics": ["touches", "episode_return/adversary", "episode_return/agent"],
        "curve": "touches",
        "curve_label": "touches per episode (training episodes)",
        "title": "Predator-prey (mpe/simple_tag, 3 predators, 1 prey, 2 obstacles)",
    },
}
# variant -> MADDPG config overrides (the paper's competitive matchups name the groups that use DDPG)
VARIANTS = {
    "maddpg": {},
    "iddpg": {"centralised_critic": False},
    "maddpg_vs_ddpg": {"independent_groups": ["agent"]},  # MADDPG predators, DDPG prey
    "ddpg_vs_maddpg": {"independent_groups": ["adversary"]},  # DDPG predators, MADDPG prey
}
LABELS = {
    "maddpg": "MADDPG",
    "iddpg": "DDPG (independent)",
    "maddpg_vs_ddpg": "MADDPG predators vs DDPG prey",
    "ddpg_vs_maddpg": "DDPG predators vs MADDPG prey",
}
METRIC_NAMES = {
    "landmark_distance_sum": "distance to landmarks (sum over landmarks, mean over steps)",
    "collisions": "collisions per episode",
    "occupied_landmarks": "landmarks occupied at the end",
    "episode_return": "return per agent",
    "touches": "touches per episode",
    "episode_return/adversary": "predator return",
    "episode_return/agent": "prey return",
}


def derived(task: str, stats: dict[str, float], n_agents: int = 3) -> dict[str, float]:
    """Add the paper's distance: the sum over landmarks of the nearest agent's distance (the original
    `benchmark_data`'s `min_dists`), averaged over steps; our env reports the mean over landmarks."""
    out = dict(stats)
    if task == "spread" and "landmark_distance" in out:
        out["landmark_distance_sum"] = out["landmark_distance"] * n_agents
    return out


def make_experiment(task: str, variant: str, seed: int, args: dict, run_dir: Path):
    """One run of the sweep; evaluations at the start and the end, a checkpoint at every curve point."""
    import marl

    spec = TASKS[task]
    return marl.Experiment(
        env={"id": spec["env"], **spec["kwargs"]},
        algo={"name": "maddpg", **VARIANTS[variant]},
        experiment=None,
        seed=seed,
        num_envs=args["num_envs"],
        total_steps=args["total_steps"],
        eval_episodes=args["eval_episodes"],
        eval_every=args["total_steps"],
        log_every=args["log_every"],
        checkpoint_every=args["log_every"],
        torch_threads=1,
        progress=False,
        run_dir=run_dir,
    )


def run_one(task: str, variant: str, seed: int, args: dict, run_dir: Path) -> dict:
    """Train one policy set and evaluate it; returns the result record."""
    experiment = make_experiment(task, variant, seed, args, run_dir)
    experiment.run()
    curve = [
        {"step": row["step"], **derived(task, {k[6:]: v for k, v in row.items() if k.startswith("train/")})}
        for row in experiment.metrics
    ]
    final = {
        mode: derived(task, {k: sum(v) / len(v) for k, v in results.items()})
        for mode, results in (("greedy", experiment.results), ("sampled", experiment.evaluate(False)))
    }
    config = experiment.algo.config
    return {
        "task": task,
        "env": TASKS[task]["env"],
        "variant": variant,
        "seed": seed,
        "total_steps": experiment.evaluations[-1]["step_count"],
        "num_envs": args["num_envs"],
        "eval_episodes": args["eval_episodes"],
        "config": {k: getattr(config, k) for k in config.__dataclass_fields__},
        "updates": experiment.algo.updates,
        "train_seconds": round(experiment.evaluations[-1]["elapsed_time"], 1),
        "curve": curve,
        "final": final,
    }


def random_play(task: str, seeds: list[int], eval_episodes: int, num_envs: int) -> list[dict[str, float]]:
    """The same evaluation for uniformly random actions, one result per seed: the floor of the table."""
    import marl

    spec, finals = TASKS[task], []
    for seed in seeds:
        play = marl.Experiment(
            env={"id": spec["env"], **spec["kwargs"]},
            algo="random",
            experiment=None,
            seed=seed,
            num_envs=num_envs,
            eval_episodes=eval_episodes,
        )
        results = play.evaluate(deterministic=False)
        finals.append(derived(task, {k: sum(v) / len(v) for k, v in results.items()}))
    return finals


def name(task: str, variant: str, seed: int) -> str:
    return f"{task}_{variant}_seed{seed}"


def run_and_save(task: str, variant: str, seed: int, args: dict, path: Path, run_dir: Path) -> str:
    record = run_one(task, variant, seed, args, run_dir)
    atomic_write_text(path, json.dumps(record, indent=1))
    return f"{path.name}: {record['train_seconds']} s, final greedy {record['final']['greedy']}"


def interval(values: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95% Student-t interval over seeds (0 for a single seed)."""
    from scipy import stats

    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, float("nan")
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)


def load_results(directory: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))]


def table(results: list[dict], mode: str, random: dict[str, list[dict[str, float]]]) -> str:
    """One markdown table per task: variant rows (and random play's), metric columns, mean ± 95% interval."""
    lines = []
    for task, spec in TASKS.items():
        rows = [r for r in results if r["task"] == task]
        if not rows:
            continue
        steps = sorted({r["total_steps"] for r in rows})
        lines += [
            f"**{spec['title']}**: {mode} policies after {', '.join(map(str, steps))} steps, "
            f"{rows[0]['eval_episodes']} evaluation episodes per seed; mean ± 95% t-interval over seeds",
            "",
            "| variant | seeds | " + " | ".join(METRIC_NAMES[m] for m in spec["metrics"]) + " |",
            "|---|---|" + "---|" * len(spec["metrics"]),
        ]
        finals = {LABELS[v]: [r["final"][mode] for r in rows if r["variant"] == v] for v in VARIANTS}
        finals["random play"] = random.get(task, [])
        for label, runs in finals.items():
            if not runs:
                continue
            cells = []
            for metric in spec["metrics"]:
                mean, half = interval([run[metric] for run in runs])
                cells.append(f"{mean:.3f} ± {half:.3f}" if math.isfinite(half) else f"{mean:.3f}")
            lines.append(f"| {label} | {len(runs)} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def plot(results: list[dict], directory: Path) -> list[Path]:
    """Per task, the curve metric of training episodes against environment steps: mean and 95% band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for task, spec in TASKS.items():
        rows = [r for r in results if r["task"] == task]
        if not rows:
            continue
        fig, ax = plt.subplots(figsize=(6, 4))
        for variant in VARIANTS:
            runs = [r for r in rows if r["variant"] == variant]
            if not runs:
                continue
            length = min(len(r["curve"]) for r in runs)
            steps = [runs[0]["curve"][i]["step"] for i in range(length)]
            bands = [
                interval([r["curve"][i].get(spec["curve"], math.nan) for r in runs]) for i in range(length)
            ]
            mean = [m for m, _ in bands]
            half = [h if math.isfinite(h) else 0.0 for _, h in bands]
            ax.plot(steps, mean, label=f"{LABELS[variant]} ({len(runs)} seeds)")
            ax.fill_between(
                steps,
                [m - h for m, h in zip(mean, half, strict=True)],
                [m + h for m, h in zip(mean, half, strict=True)],
                alpha=0.2,
            )
        ax.set_xlabel("environment steps (summed over copies)")
        ax.set_ylabel(spec["curve_label"])
        ax.set_title(spec["title"], fontsize=10)
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = directory / f"maddpg_{task}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", nargs="+", choices=list(TASKS), default=list(TASKS))
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=["maddpg", "iddpg"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument(
        "--total-steps", type=int, default=1_500_000, help="transitions per run (paper: 60k x 25)"
    )
    parser.add_argument("--num-envs", type=int, default=32, help="environment copies stepped together")
    parser.add_argument("--log-every", type=int, default=25_000, help="steps between learning-curve points")
    parser.add_argument("--eval-episodes", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=1, help="runs trained in parallel processes")
    parser.add_argument("--results", type=Path, default=Path("benchmarks/results/maddpg"))
    parser.add_argument("--plots", type=Path, default=Path("docs/images/maddpg"))
    parser.add_argument(
        "--run-dirs", type=Path, default=Path("runs/maddpg_reproduction"), help="the runs' run directories"
    )
    parser.add_argument(
        "--mode", choices=["greedy", "sampled"], default="greedy", help="policies in the table"
    )
    parser.add_argument("--out", type=Path, help="also write the markdown table to this file")
    parser.add_argument(
        "--report-only", action="store_true", help="make the table and plots from saved results"
    )
    args = parser.parse_args(argv)

    args.results.mkdir(parents=True, exist_ok=True)
    if not args.report_only:
        settings = {
            "total_steps": args.total_steps,
            "num_envs": args.num_envs,
            "log_every": args.log_every,
            "eval_episodes": args.eval_episodes,
        }
        todo = [
            (task, variant, seed) for task in args.tasks for variant in args.variants for seed in args.seeds
        ]
        todo = [t for t in todo if not (args.results / f"{name(*t)}.json").exists()]
        print(f"{len(todo)} runs to train ({args.jobs} at a time)", file=sys.stderr)
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            futures = [
                pool.submit(
                    run_and_save,
                    *run,
                    settings,
                    args.results / f"{name(*run)}.json",
                    args.run_dirs / name(*run),
                )
                for run in todo
            ]
            for future in futures:
                print(future.result(), file=sys.stderr, flush=True)

    results = [
        r for r in load_results(args.results) if r["task"] in args.tasks and r["variant"] in args.variants
    ]
    random = {
        task: random_play(
            task, sorted({r["seed"] for r in results if r["task"] == task}), args.eval_episodes, args.num_envs
        )
        for task in args.tasks
        if any(r["task"] == task for r in results)
    }
    text = table(results, args.mode, random)
    print(text)
    if args.out:
        atomic_write_text(args.out, text)
    for path in plot(results, args.plots):
        print(f"plot: {path}", file=sys.stderr)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
