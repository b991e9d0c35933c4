"""Learning on the MMO world: IPPO and MAPPO with the entity encoder against random play and the scripted
forager, on `mmo/small` and `mmo/medium`.

Each training cell (preset x algorithm x seed) is one `marl.Experiment` (the entity model, a budget per preset
in `BUDGETS`, one torch thread). Then every policy, the trained ones, random legal play (`random`) and the
forager (`mmo_forager`), plays the same evaluation episodes: for seed k the evaluation copies reset with seed
`EVAL_SEED + k`, so every policy starts from the same maps and spawns; actions are sampled. Per episode the
environment reports `lifetime` (mean ticks alive of the players), `task_completed` (fraction of players whose
task reached 1) and `episode_return` (per player); a cell keeps the mean over its episodes. The table gives,
per preset and policy, the mean over seeds with a 95% stratified-bootstrap interval (rliable, through
`marl.running.report.interval_estimates`); with one seed there is no interval.

Every cell's record is written atomically to `--cells/<preset>_<policy>_seed<k>.json` and skipped when it
exists, so an interrupted grid resumes cell by cell; `--report-only` writes the table from the cells there.

    python benchmarks/mmo_learning.py                      # the committed grid (about 40 CPU minutes)
    python benchmarks/mmo_learning.py --presets small --seeds 0 --set small.total_steps=256 --out /tmp/x
    # writes OUT.json and OUT.md (default benchmarks/results/mmo/learning.{json,md})
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import marl  # noqa: E402
from envs import mmo  # noqa: E402
from marl.core import registry  # noqa: E402
from marl.learning.algorithm import Algorithm, evaluate  # noqa: E402
from marl.running.io import atomic_write_json, atomic_write_text  # noqa: E402
from marl.running.report import interval_estimates  # noqa: E402

EVAL_SEED = 10_000  # evaluation episodes of seed k reset with EVAL_SEED + k, for every policy
METRICS = {
    "lifetime": "lifetime (ticks)",
    "task_completed": "task completed",
    "episode_return": "return",
}
BASELINES = ["random", "mmo_forager"]
# The network: the entity encoder (per-entity MLP, masked mean/max pooling) with a small CNN on the tile crop
# and a one-layer trunk, sized so that an update costs seconds on one core.
MODEL: dict[str, Any] = {"kind": "entity", "hidden_sizes": [64], "cnn_channels": [4], "entity_size": 16}
ALGO: dict[str, Any] = {"epochs": 4}  # otherwise configs/algo/{ippo,mappo}.yaml (rollout_length 32)
# Per preset: environment steps (summed over copies), training copies, seeds, evaluation episodes per seed.
BUDGETS: dict[str, dict[str, Any]] = {
    "small": {"total_steps": 5_120, "num_envs": 4, "seeds": [0, 1, 2], "eval_episodes": 16},
    "medium": {"total_steps": 1_536, "num_envs": 2, "seeds": [0, 1, 2], "eval_episodes": 4},
}


def budgets(presets: list[str], settings: list[str], seeds: list[int] | None) -> dict[str, dict[str, Any]]:
    """`BUDGETS` for `presets` with `PRESET.KEY=VALUE` settings applied (and `seeds` for every preset)."""
    unknown = [p for p in presets if p not in BUDGETS]
    if unknown:
        raise ValueError(f"unknown preset(s) {unknown}: expected some of {list(BUDGETS)}")
    out = {p: dict(BUDGETS[p]) for p in presets}
    for setting in settings:
        key, sep, value = setting.partition("=")
        preset, dot, name = key.partition(".")
        if not (sep and dot) or preset not in out or name not in BUDGETS[preset]:
            raise ValueError(
                f"--set {setting!r}: expected PRESET.KEY=VALUE with PRESET in {presets} and KEY in "
                f"{list(BUDGETS['small'])}, e.g. small.total_steps=2048"
            )
        parsed = [int(v) for v in value.split(",")]
        out[preset][name] = parsed if name == "seeds" else parsed[0]
    for preset in out.values():
        if seeds is not None:
            preset["seeds"] = list(seeds)
        if preset["total_steps"] < 1 or preset["num_envs"] < 1 or preset["eval_episodes"] < 1:
            raise ValueError(f"total_steps, num_envs and eval_episodes must be >= 1, got {preset}")
    return out


def play(policy: Algorithm, preset: str, seed: int, episodes: int) -> dict[str, Any]:
    """`episodes` sampled episodes of `policy` on the evaluation copies of seed `seed` (one episode per
    copy): the mean of each metric and every episode's values."""
    env = marl.make(f"mmo/{preset}", num_envs=episodes, seed=EVAL_SEED + seed)
    results = evaluate(policy, env, episodes, deterministic=False, seed=EVAL_SEED + seed)
    return {
        "mean": {m: float(np.mean(results[m])) for m in METRICS},
        "episodes": {m: results[m] for m in METRICS},
    }


def train_cell(preset: str, algo: str, seed: int, budget: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """Train `algo` on `mmo/<preset>` with the entity model, then evaluate it on the shared episodes."""
    experiment = marl.Experiment(
        env=f"mmo/{preset}",
        algo={"name": algo, **ALGO},
        model=MODEL,
        experiment=None,
        num_envs=budget["num_envs"],
        total_steps=budget["total_steps"],
        eval_every=budget["total_steps"],
        eval_episodes=budget["num_envs"],  # the run's own (untrained and final) evaluations, kept cheap
        torch_threads=1,
        progress=False,
        seed=seed,
        run_dir=str(run_dir),
    )
    start = time.process_time()
    experiment.run()
    train_cpu = time.process_time() - start
    n_agents = len(experiment.env.possible_agents)
    return {
        "train_cpu_seconds": round(train_cpu, 1),
        "total_steps": budget["total_steps"],
        "agent_steps": budget["total_steps"] * n_agents,
        **play(experiment.algo, preset, seed, budget["eval_episodes"]),
    }


def baseline_cell(preset: str, name: str, seed: int, budget: dict[str, Any]) -> dict[str, Any]:
    """Evaluate the registered baseline `name` on the shared episodes of seed `seed`."""
    env = marl.make(f"mmo/{preset}", num_envs=budget["eval_episodes"], seed=EVAL_SEED + seed)
    entry = registry.algo_entry(name)
    policy = entry.factory(env, entry.config_class(), torch.device("cpu"))
    return play(policy, preset, seed, budget["eval_episodes"])


def run_grid(
    plan: dict[str, dict[str, Any]], algos: list[str], cells: Path, run_dirs: Path
) -> list[dict[str, Any]]:
    """Every missing cell of the grid, written to `cells/`; returns every cell record of the plan."""
    records = []
    for preset, budget in plan.items():
        for policy in [*BASELINES, *algos]:
            for seed in budget["seeds"]:
                path = cells / f"{preset}_{policy}_seed{seed}.json"
                if not path.exists():
                    tic = time.perf_counter()
                    if policy in BASELINES:
                        record = baseline_cell(preset, policy, seed, budget)
                    else:
                        record = train_cell(preset, policy, seed, budget, run_dirs / path.stem)
                    record = {"preset": preset, "policy": policy, "seed": seed, **record}
                    record["wall_seconds"] = round(time.perf_counter() - tic, 1)
                    record["load_average"] = os.getloadavg()  # the machine's, after the cell
                    atomic_write_json(path, record)
                    print(f"{path.name}: {record['mean']} ({record['wall_seconds']} s)", flush=True)
                records.append(json.loads(path.read_text()))
    return records


def summarise(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per preset and policy, per metric: the mean over seeds, its 95% stratified-bootstrap interval (None
    with a single seed) and the per-seed values."""
    from rliable import metrics as rly

    rows = []
    keys = list(dict.fromkeys((r["preset"], r["policy"]) for r in records))
    for preset, policy in keys:
        mine = sorted(
            (r for r in records if (r["preset"], r["policy"]) == (preset, policy)), key=lambda r: r["seed"]
        )
        row: dict[str, Any] = {"preset": preset, "policy": policy, "seeds": [r["seed"] for r in mine]}
        for metric in METRICS:
            values = np.array([[r["mean"][metric]] for r in mine])  # seeds x one task, rliable's layout
            interval = None
            if len(mine) > 1:
                _, bounds = interval_estimates(
                    {policy: values}, lambda x: np.array([rly.aggregate_mean(x)]), reps=2_000
                )
                interval = [float(bounds[policy][0, 0]), float(bounds[policy][1, 0])]
            row[metric] = {
                "mean": float(values.mean()),
                "interval": interval,
                "per_seed": values[:, 0].tolist(),
            }
        rows.append(row)
    return rows


def markdown(rows: list[dict[str, Any]], plan: dict[str, dict[str, Any]]) -> str:
    """One table per preset: policies as rows, metrics as columns, mean [95% interval] over seeds."""
    lines = []
    for preset, budget in plan.items():
        mine = [r for r in rows if r["preset"] == preset]
        if not mine:
            continue
        lines += [
            f"**mmo/{preset}**: {budget['total_steps']:,} environment steps of training ({budget['num_envs']} "
            f"copies), {budget['eval_episodes']} sampled evaluation episodes per seed; mean over seeds "
            "[95% stratified-bootstrap interval]",
            "",
            "| policy | seeds | " + " | ".join(METRICS.values()) + " |",
            "|---|---|" + "---|" * len(METRICS),
        ]
        for row in mine:
            cells = []
            for metric in METRICS:
                value = row[metric]
                cell = f"{value['mean']:.3f}"
                if value["interval"] is not None:
                    cell += f" [{value['interval'][0]:.3f}, {value['interval'][1]:.3f}]"
                cells.append(cell)
            lines.append(f"| {row['policy']} | {len(row['seeds'])} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", default=list(BUDGETS), choices=list(BUDGETS))
    parser.add_argument("--algos", nargs="+", default=["ippo", "mappo"])
    parser.add_argument("--seeds", type=int, nargs="+", help="seeds of every preset (default: BUDGETS')")
    parser.add_argument("--set", nargs="*", default=[], metavar="PRESET.KEY=VALUE", help="budget changes")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "mmo" / "learning"))
    parser.add_argument("--cells", help="per-cell records (default: OUT_cells/)")
    parser.add_argument("--report-only", action="store_true", help="the table from the cells there")
    parser.add_argument("--note", default="", help="about the machine, e.g. 'shared with other jobs'")
    args = parser.parse_args(argv)
    plan = budgets(args.presets, args.set, args.seeds)
    mmo.register()
    mmo.register_baselines()
    torch.set_num_threads(1)
    out = Path(args.out)
    cells = Path(args.cells) if args.cells else out.parent / f"{out.name}_cells"
    load_before = os.getloadavg()
    start = time.perf_counter()
    if args.report_only:
        policies = [*BASELINES, *args.algos]
        records = sorted(
            (
                r
                for r in map(json.loads, (p.read_text() for p in cells.glob("*.json")))
                if r["preset"] in plan and r["policy"] in policies and r["seed"] in plan[r["preset"]]["seeds"]
            ),
            key=lambda r: (list(plan).index(r["preset"]), policies.index(r["policy"]), r["seed"]),
        )
    else:
        with tempfile.TemporaryDirectory() as run_dirs:
            records = run_grid(plan, args.algos, cells, Path(run_dirs))
    rows = summarise(records)
    table = markdown(rows, plan)
    result = {
        "what": "IPPO and MAPPO with the entity encoder on the MMO world against random legal play and the "
        "scripted forager: mean lifetime, task completion and return on shared evaluation episodes",
        "machine": f"{platform.machine()}, {os.cpu_count()} logical CPUs, one torch thread"
        + (f" ({args.note})" if args.note else ""),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "wall_seconds": round(time.perf_counter() - start, 1),  # this invocation's (cells it skipped: 0)
        "cells_wall_seconds": round(sum(r["wall_seconds"] for r in records), 1),
        "cells_train_cpu_seconds": round(sum(r.get("train_cpu_seconds", 0.0) for r in records), 1),
        "command": shlex.join(
            ["python", "benchmarks/mmo_learning.py", *(sys.argv[1:] if argv is None else argv)]
        ),
        "budgets": plan,
        "model": MODEL,
        "algo_overrides": ALGO,
        "evaluation": f"sampled actions; seed k's episodes reset with seed {EVAL_SEED} + k for every policy",
        "rows": rows,
        "cells": records,
    }
    atomic_write_json(out.with_suffix(".json"), result)
    atomic_write_text(out.with_suffix(".md"), table)
    print(table)
    return result


if __name__ == "__main__":
    main()
