"""MANSA against its two learners alone: return and CL-call fraction over training, 5 seeds per variant.

    python benchmarks/mansa_curves.py --out-dir benchmarks/results/mansa [--steps 40000] [--seeds 0 1 2 3 4]

Variants on each task: `ippo` (IL alone), `mappo` (CL alone), MANSA at a low and a high cost per CL call
(`mansa_cost_low`, `mansa_cost_high`) and MANSA at cost 0 with a per-episode budget of CL calls
(`mansa_budget`); costs and budgets are per task (`TASKS`), every other hyperparameter is the algorithms'
default. Each run is a `learning_curves` job (the same `marl.Experiment`, curve file and run directory, so an
interrupted grid resumes; curves under `OUT/curves/`, run directories with their checkpoints under `OUT/runs/`,
which git ignores) that also records the training metrics `mansa/cl_fraction` (the fraction of live
agent-steps whose action came from the CL policy) and `mansa/max_episode_cl_calls` at every point.

The report (`OUT/results.md`, also printed; `--report-only` rebuilds it) gives, per task and variant, the
final evaluation return, its difference from CL alone and the CL-call fraction of the last point, means
over seeds with 95% bootstrap intervals (of the mean, of the difference of means), and plots both over training (`OUT/plots/<task>_return.png`, `..._cl_fraction.png`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import learning_curves as lc
import numpy as np

from algos import mansa
from envs import lbf, mpe
from marl.running.io import atomic_write_text

# per task: the two costs per CL call (per live agent-step) and the budget (CL calls per episode and copy).
# LBF's team return is at most 1 per episode (100 agent-steps of 2 players): always calling CL costs 0.1 or 1.
# simple_spread's team return is about -80 per episode (75 agent-steps): always calling CL costs 3 or 30,
# on the order of what training gains over random play. The budgets are about 10% of the agent-steps.
TASKS = {
    "lbf/8x8-2p-2f": {"costs": (0.001, 0.01), "budget": 10},
    "lbf/foraging:size=6,n_agents=2,n_food=1,coop=true": {"costs": (0.001, 0.01), "budget": 10},
    "mpe/simple_spread": {"costs": (0.04, 0.4), "budget": 8},
}
METRICS = ["mansa/cl_fraction", "mansa/max_episode_cl_calls"]


def variants(task: str) -> dict[str, tuple[str, dict]]:
    """`{label: (algorithm, overrides)}` of one task."""
    low, high = TASKS[task]["costs"]
    return {
        "ippo": ("ippo", {}),
        "mappo": ("mappo", {}),
        "mansa_cost_low": ("mansa", {"cost": low}),
        "mansa_cost_high": ("mansa", {"cost": high}),
        "mansa_budget": ("mansa", {"budget": TASKS[task]["budget"]}),
    }


def cl_fraction(run: dict) -> list[float]:
    """The CL-call fraction at each point: MANSA's, 0 for IL alone, 1 for CL alone."""
    if run["algo"] == "mansa":
        return run["train_metrics"]["mansa/cl_fraction"]
    return [float(run["algo"] == "mappo")] * len(run["eval_return"])


def report(out_dir: Path, tasks: list[str]) -> str:
    rng = np.random.default_rng(0)
    runs: dict = {}
    for path in sorted((out_dir / "curves").glob("*/*/seed_*.json")):
        data = json.loads(path.read_text())
        runs.setdefault(data["task"], {}).setdefault(data["label"], []).append(data)
    lines = [
        "Final evaluation return (mean episode return per agent at the last point, stochastic policies, the "
        "switch included) and CL-call fraction of the training iterations of the last point (CL calls / live "
        "agent-steps), mean over seeds [95% bootstrap interval of the mean] (seeds); return - CL alone: "
        "difference of the means [95% bootstrap interval]; max CL calls in an episode: the highest point of "
        "any seed, a point holding the mean over its iterations of each iteration's most CL calls in one "
        "episode",
        "",
        "| task | variant | return | return - CL alone | CL-call fraction | max CL calls in an episode |",
        "|---|---|---|---|---|---|",
    ]
    for task in [t for t in tasks if t in runs]:
        per_label = {label: runs[task][label] for label in variants(task) if label in runs[task]}
        cl_alone = np.array([r["eval_return"][-1] for r in per_label.get("mappo", [])])
        for label, group in per_label.items():
            cells = [task, label]
            returns = np.array([r["eval_return"][-1] for r in group])
            fractions = np.array([cl_fraction(r)[-1] for r in group])
            lo, hi = lc.bootstrap_interval(returns, rng)
            cells.append(f"{returns.mean():.3f} [{lo:.3f}, {hi:.3f}] ({len(returns)})")
            if len(cl_alone) and label != "mappo":
                lo, hi = lc.difference_interval(returns, cl_alone, rng)
                cells.append(f"{returns.mean() - cl_alone.mean():+.3f} [{lo:+.3f}, {hi:+.3f}]")
            else:
                cells.append("-")
            lo, hi = lc.bootstrap_interval(fractions, rng)
            cells.append(f"{fractions.mean():.3f} [{lo:.3f}, {hi:.3f}] ({len(fractions)})")
            most = [
                max(r["train_metrics"]["mansa/max_episode_cl_calls"]) for r in group if "train_metrics" in r
            ]
            cells.append(f"{max(most):.0f}" if most else "-")
            lines.append("| " + " | ".join(cells) + " |")
        name = lc.slug(task)
        lc.plot(out_dir / "plots" / f"{name}_return.png", task, per_label, rng)
        lc.plot(
            out_dir / "plots" / f"{name}_cl_fraction.png",
            task,
            per_label,
            rng,
            cl_fraction,
            "CL-call fraction",
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--steps", type=int, default=40_000, help="environment steps per run (over copies)")
    parser.add_argument("--num-envs", type=int, default=32, help="environment copies per run")
    parser.add_argument("--points", type=int, default=8, help="points on each learning curve")
    parser.add_argument("--eval-episodes", type=int, default=32, help="evaluation episodes per point")
    parser.add_argument(
        "--out-dir", default="benchmarks/results/mansa", help="where runs, table and plots go"
    )
    parser.add_argument("--report-only", action="store_true", help="only rebuild the table and plots")
    args = parser.parse_args()
    for module in (mansa, lbf, mpe):
        module.register()  # also where the installed package's entry points predate them
    out_dir = Path(args.out_dir)
    if not args.report_only:
        for task in args.tasks:
            for label, (algo, overrides) in variants(task).items():
                for seed in args.seeds:
                    path = out_dir / "curves" / lc.slug(task) / label / f"seed_{seed}.json"
                    if path.exists():
                        continue
                    job = {
                        "task": task,
                        "algo": algo,
                        "label": label,
                        "seed": seed,
                        "steps": args.steps,
                        "num_envs": args.num_envs,
                        "points": args.points,
                        "eval_episodes": args.eval_episodes,
                        "deterministic": False,
                        "overrides": overrides,
                        "metrics": METRICS if algo == "mansa" else [],
                        "path": str(path),
                        "run_dir": str(out_dir / "runs" / lc.slug(task) / label / f"seed_{seed}"),
                    }
                    print("wrote", lc.run(job), flush=True)
    table = report(out_dir, args.tasks)
    print(table)
    atomic_write_text(out_dir / "results.md", table + "\n")


if __name__ == "__main__":
    main()
