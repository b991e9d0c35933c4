"""The robots results grid: nominal (no filter), the conservative and the aggressive fixed CBF gain, and
`gnn_cbf` (a graph network choosing each robot's gain, trained per scenario on 8 robots) on circle, swap and
crossing with 8, 32 and 128 robots; then the trained networks run unchanged on 512 and 1,024 robots.

Train one gnn_cbf per scenario and seed on 8 robots, then evaluate (the scripted controllers' rows come from
benchmarks/robots_baselines.py's baselines.json, whose episodes these are: the same seeds 0, 1, 2 and
`--episodes` 4 copies, one episode each, deterministic actions; gnn_cbf's seed is also its training seed):

    for scenario in circle swap crossing; do for s in 0 1 2; do
      marl train experiment=robots_gnn_cbf env=robots/$scenario total_steps=36000 num_envs=32 seed=$s \
          run_dir=runs/gnn_cbf_${scenario}_$s
    done; done
    for s in 0 1; do   # the variant with a cooperative reward and less exploration noise (2 seeds)
      marl train experiment=robots_gnn_cbf env=robots/circle env.team_reward=1.0 algo.init_log_std=-1.5 \
          algo.entropy_coef=0 total_steps=36000 num_envs=32 seed=$s run_dir=runs/gnn_cbf_team_circle_$s
    done
    python benchmarks/robots_grid.py grid --runs runs --robots 8 32 --trained gnn_cbf gnn_cbf_team cbf_priority
    python benchmarks/robots_grid.py grid --runs runs --robots 128 --seeds 0 --trained gnn_cbf cbf_priority
    python benchmarks/robots_grid.py grid --no-eval --trained gnn_cbf gnn_cbf_team cbf_priority
    T="python benchmarks/robots_grid.py transfer --runs runs --policies gnn_cbf cbf_conservative cbf_aggressive"
    $T --fresh --transfer 1024 --transfer-steps 300 --scenarios crossing --transfer-seeds 0
    $T --transfer 1024 --transfer-steps 300 --scenarios swap --transfer-seeds 2
    $T --transfer 512 --transfer-steps 1000 --scenarios crossing --transfer-seeds 0
    $T --transfer 512 --transfer-steps 1000 --scenarios swap --transfer-seeds 2

Per cell: the mean over seeds of each seed's mean over its episodes, and [min, max] over the seeds; a cell
evaluates the seeds given by `--seeds` (on the shared CPU, the trained networks ran at 128 robots on seed 0
only: `--robots 128 --seeds 0`).

Transfer: one copy per scenario and size, one episode, `max_steps` capped at `--transfer-steps` (stated in the
results), the whole loop (policy, filter, environment) timed for throughput in robot-steps per second.

Results in benchmarks/results/robots/: grid.json (every episode of the trained policies, per policy, scenario,
robots and seed; a re-run reuses the cells it already holds unless `--fresh`), grid.csv and grid.md (the
table), transfer.json and transfer.md. docs/environments/robots.md quotes the tables.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from robots_baselines import CONTROLLERS as SCRIPTED  # noqa: E402  (this folder is on sys.path)

import envs.robots  # noqa: E402
import marl  # noqa: E402
from envs.robots.controllers import PriorityCBF, PriorityConfig  # noqa: E402
from marl.learning.algorithm import Algorithm, evaluate  # noqa: E402
from marl.running.io import atomic_write_text  # noqa: E402
from marl.running.rundir import load_checkpoint_file, resolve_checkpoint  # noqa: E402
from marl.running.trainer import build  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "robots"
ONLINE = {"cbf_priority": (PriorityCBF, PriorityConfig())}  # scripted online gains, evaluated here
POLICIES = (*SCRIPTED, "gnn_cbf")
METRICS = ("success_rate", "robot_collisions", "time_to_goal", "deadlocks", "infeasible_steps")


def trained_policy(
    run: Path, scenario: str, num_envs: int, seed: int, **env_keys: Any
) -> tuple[marl.BatchedEnv, Algorithm]:
    """A checkpoint's policy on `robots/<scenario>` with `env_keys` changed (the graph network has no agent
    ids, so any number of robots works), in `num_envs` copies seeded with `seed`."""
    from omegaconf import OmegaConf

    source, path = resolve_checkpoint(run)
    cfg = OmegaConf.create(source.read_config())
    cfg = OmegaConf.merge(cfg, {"env": {"id": f"robots/{scenario}", **env_keys}})
    env, policy, _, _ = build(cfg, num_envs, seed)
    policy.load_state_dict(load_checkpoint_file(path, map_location="cpu")["algorithm"])
    return env, policy


def finished(run: Path) -> bool:
    """Whether the run holds the checkpoint of its last step (a run still training is left out)."""
    try:
        source, path = resolve_checkpoint(run)
    except FileNotFoundError:
        return False
    total = source.read_config()["total_steps"]
    return load_checkpoint_file(path)["steps"] >= total


def make(
    policy: str, scenario: str, robots: int, seed: int, copies: int, runs: Path, **keys: Any
) -> tuple[marl.BatchedEnv, Algorithm]:
    """Environment and actor of one grid cell; gnn_cbf loads `runs/gnn_cbf_<scenario>_<seed>`."""
    if policy == "gnn_cbf":
        return trained_policy(
            runs / f"gnn_cbf_{scenario}_{seed}", scenario, copies, seed, n_agents=robots, **keys
        )
    cls, config, extra = SCRIPTED[policy]
    env = marl.make(f"robots/{scenario}", num_envs=copies, seed=seed, n_agents=robots, **extra, **keys)
    return env, cls(env, config, env.device)


def load(path: Path, empty: str = "episodes") -> dict[str, Any]:
    """A result file, or an empty one (`{"meta": {}, empty: {}}`, rows: a list)."""
    if path.is_file():
        return json.loads(path.read_text())
    return {"meta": {}, empty: [] if empty == "rows" else {}}


def meta(old: dict[str, Any]) -> dict[str, Any]:
    """The result file's metadata: every command that added to it, and the machine as it was at the last."""
    command = " ".join(["python", *sys.argv])
    commands = old.get("commands", [])
    return {"commands": commands + [command] if command not in commands else commands} | machine()


def machine() -> dict[str, Any]:
    return {
        "machine": f"{platform.machine()} {platform.processor()}".strip() + f", {os.cpu_count()} cores",
        "load_average": os.getloadavg(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": "cpu (no GPU in this session)",
    }


def seed_means(episodes: dict[str, list[float]]) -> dict[str, float]:
    return {m: round(float(np.mean(episodes[m])), 4) for m in METRICS}


def grid(args: argparse.Namespace) -> None:
    """Evaluate the trained policies on every cell (cached per cell in grid.json) and write the tables with
    the scripted controllers' rows from baselines.json (the same episodes: same seeds, same copies)."""
    path = args.out / "grid.json"
    if args.fresh:  # start the file over (writes below merge into what the file holds)
        atomic_write_text(path, json.dumps({"meta": {}, "episodes": {}}) + "\n")
    data = load(path)
    for scenario in args.scenarios:
        for robots in args.robots:
            for name in args.trained:
                for seed in args.seeds:
                    key = f"{name}|{scenario}|{robots}|{seed}"
                    run = args.runs / f"{name}_{scenario}_{seed}"
                    if args.no_eval or key in data["episodes"] or (name not in ONLINE and not finished(run)):
                        continue
                    if name in ONLINE:
                        env = marl.make(
                            f"robots/{scenario}",
                            num_envs=args.episodes,
                            seed=seed,
                            n_agents=robots,
                            control="gain",
                        )
                        actor = ONLINE[name][0](env, ONLINE[name][1], env.device)
                    else:
                        env, actor = trained_policy(run, scenario, args.episodes, seed, n_agents=robots)
                    start = time.perf_counter()
                    result = evaluate(actor, env, args.episodes, deterministic=True, seed=seed)
                    cell = {m: [round(v, 6) for v in result[m]] for m in METRICS}
                    cell["seconds"] = round(time.perf_counter() - start, 2)
                    data = load(path)  # another process may have added cells meanwhile
                    data["episodes"][key] = cell
                    data["meta"] = meta(data["meta"])
                    atomic_write_text(path, json.dumps(data, indent=0) + "\n")
                    print(key, seed_means(result), flush=True)
    per_seed: dict[tuple[str, str, int], list[dict[str, float]]] = {}
    for row in json.loads(args.baselines.read_text())["rows"]:
        if row["seed"] in args.seeds:
            per_seed.setdefault((row["controller"], row["scenario"], row["robots"]), []).append(row)
    for key, episodes in data["episodes"].items():
        name, scenario, robots, seed = key.split("|")
        if int(seed) in args.seeds and name in args.trained:
            per_seed.setdefault((name, scenario, int(robots)), []).append(seed_means(episodes))
    rows = []
    for scenario in args.scenarios:
        for robots in args.robots:
            for policy in (*SCRIPTED, *args.trained):
                seeds = per_seed.get((policy, scenario, robots), [])
                if not seeds:
                    continue
                row: dict[str, Any] = {"scenario": scenario, "robots": robots, "policy": policy}
                row["seeds"] = len(seeds)
                for m in METRICS:
                    values = [s[m] for s in seeds]
                    row |= {
                        m: round(float(np.mean(values)), 4),
                        f"{m}_min": min(values),
                        f"{m}_max": max(values),
                    }
                rows.append(row)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(args.out / "grid.csv", out.getvalue())
    header = "| scenario | robots | policy | seeds | " + " | ".join(METRICS) + " |"
    lines = [header, "|---|---|---|---|" + "---|" * len(METRICS)]
    for row in rows:
        cells = [f"{row[m]:.3g} [{row[m + '_min']:.3g}, {row[m + '_max']:.3g}]" for m in METRICS]
        first = f"| {row['scenario']} | {row['robots']} | {row['policy']} | {row['seeds']} | "
        lines.append(first + " | ".join(cells) + " |")
    atomic_write_text(args.out / "grid.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


def transfer(args: argparse.Namespace) -> None:
    path = args.out / "transfer.json"
    if args.fresh:  # start the file over (writes below merge into what the file holds)
        atomic_write_text(path, json.dumps({"meta": {}, "rows": []}) + "\n")
    data = load(path, "rows")
    done = {(r["policy"], r["scenario"], r["robots"], r["seed"], r["max_steps"]) for r in data["rows"]}
    for robots in args.transfer:
        for scenario in args.scenarios:
            for policy in args.policies:
                for seed in args.transfer_seeds:
                    if (policy, scenario, robots, seed, args.transfer_steps) in done:
                        continue
                    keys = {"max_steps": args.transfer_steps}
                    env, actor = make(policy, scenario, robots, seed, 1, args.runs, **keys)
                    start = time.perf_counter()
                    result = evaluate(actor, env, 1, deterministic=True, seed=seed)
                    seconds = time.perf_counter() - start
                    steps = result["episode_length"][0]
                    row = {"policy": policy, "scenario": scenario, "robots": robots, "seed": seed}
                    row["max_steps"] = args.transfer_steps
                    row |= {m: round(result[m][0], 4) for m in (*METRICS, "path_length", "episode_length")}
                    row |= {
                        "seconds": round(seconds, 1),
                        "robot_steps_per_s": round(robots * steps / seconds),
                    }
                    data = load(path, "rows")  # another process may have added rows meanwhile
                    data["rows"].append(row)
                    data["meta"] = meta(data["meta"])
                    atomic_write_text(path, json.dumps(data, indent=1) + "\n")
                    print(row, flush=True)
    columns = (*METRICS, "path_length", "episode_length", "robot_steps_per_s")
    lines = [
        "| robots | scenario | max_steps | policy | " + " | ".join(columns) + " |",
        "|---|---|---|---|" + "---|" * len(columns),
    ]
    order = lambda r: (r["robots"], r["scenario"], r["max_steps"], POLICIES.index(r["policy"]))  # noqa: E731
    for r in sorted(data["rows"], key=order):
        name = r["policy"] + (f" (seed {r['seed']})" if r["policy"] == "gnn_cbf" else "")
        values = " | ".join(f"{r[c]:.3g}" if c != "robot_steps_per_s" else f"{r[c]:,}" for c in columns)
        lines.append(f"| {r['robots']} | {r['scenario']} | {r['max_steps']} | {name} | {values} |")
    atomic_write_text(args.out / "transfer.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["grid", "transfer"])
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="holds gnn_cbf_<scenario>_<seed>")
    parser.add_argument("--scenarios", nargs="+", default=["circle", "swap", "crossing"])
    parser.add_argument("--robots", nargs="+", type=int, default=[8, 32, 128])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--episodes", type=int, default=4, help="episodes (copies) per seed and cell")
    parser.add_argument(
        "--trained", nargs="+", default=["gnn_cbf"], help="runs NAME_<scenario>_<seed>, or cbf_priority"
    )
    parser.add_argument("--baselines", type=Path, default=RESULTS / "baselines.json")
    parser.add_argument("--transfer", nargs="+", type=int, default=[512, 1024])
    parser.add_argument("--transfer-seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--transfer-steps", type=int, default=1000, help="max_steps of the transfer episodes")
    parser.add_argument("--policies", nargs="+", choices=POLICIES, default=list(POLICIES), help="transfer")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder of the result files")
    parser.add_argument("--no-eval", action="store_true", help="grid: only the tables, from grid.json")
    parser.add_argument("--fresh", action="store_true", help="start the result file over")
    args = parser.parse_args(argv)
    envs.robots.register()
    envs.robots.register_baselines()
    with torch.no_grad():  # not torch.set_grad_enabled(False): main() also runs inside the tests' process
        grid(args) if args.part == "grid" else transfer(args)


if __name__ == "__main__":
    main()
