"""The scripted robot controllers on the robots scenarios: success rate, collisions, time to goal, deadlocks
and infeasible filter steps, per controller x scenario x robots, averaged over seeds (each seed: `--episodes`
episodes, one per copy, single integrator, default keys).

    python benchmarks/robots_baselines.py --scenarios circle swap crossing --robots 8 32 128 --seeds 0 1 2

Results: benchmarks/results/robots/baselines.json and .csv (one row per controller, scenario, robots and
seed) and baselines.md (means over seeds), which docs/environments/robots.md quotes.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import platform
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import envs.robots  # noqa: E402
import marl  # noqa: E402
from envs.robots.controllers import (  # noqa: E402
    AggressiveConfig,
    ConservativeConfig,
    FixedGainCBF,
    NominalConfig,
    NominalController,
)
from marl.learning.algorithm import evaluate  # noqa: E402
from marl.running.io import atomic_write_text  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "robots"
CONTROLLERS = {
    "nominal": (NominalController, NominalConfig(), {}),
    "cbf_conservative": (FixedGainCBF, ConservativeConfig(), {"control": "gain"}),
    "cbf_aggressive": (FixedGainCBF, AggressiveConfig(), {"control": "gain"}),
}
METRICS = (
    "success_rate",
    "robot_collisions",
    "time_to_goal",
    "deadlocks",
    "infeasible_steps",
    "episode_length",
)


def run(controller: str, scenario: str, robots: int, seed: int, episodes: int) -> dict:
    cls, config, keys = CONTROLLERS[controller]
    env = marl.make(f"robots/{scenario}", num_envs=episodes, seed=seed, n_agents=robots, **keys)
    result = evaluate(cls(env, config, env.device), env, episodes=episodes, deterministic=True, seed=seed)
    row = {"controller": controller, "scenario": scenario, "robots": robots, "seed": seed}
    return row | {name: round(sum(result[name]) / len(result[name]), 4) for name in METRICS}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", nargs="+", default=["circle", "swap", "crossing"])
    parser.add_argument("--robots", nargs="+", type=int, default=[8, 32, 128])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--episodes", type=int, default=4)
    parser.add_argument("--machine", default=f"{platform.machine()} {platform.processor()}".strip())
    args = parser.parse_args(argv)
    envs.robots.register()
    torch.set_grad_enabled(False)
    rows = []
    for scenario in args.scenarios:
        for robots in args.robots:
            for controller in CONTROLLERS:
                for seed in args.seeds:
                    rows.append(run(controller, scenario, robots, seed, args.episodes))
                    print(rows[-1], flush=True)
    meta = {
        "command": "python benchmarks/robots_baselines.py " + " ".join(argv or sys.argv[1:]),
        "machine": args.machine,
        "torch": torch.__version__,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    atomic_write_text(RESULTS / "baselines.json", json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(RESULTS / "baselines.csv", out.getvalue())
    lines = [
        "| scenario | robots | controller | " + " | ".join(METRICS) + " |",
        "|---|---|---|" + "---|" * len(METRICS),
    ]
    for scenario in args.scenarios:
        for robots in args.robots:
            for controller in CONTROLLERS:
                cell = [
                    r
                    for r in rows
                    if (r["scenario"], r["robots"], r["controller"]) == (scenario, robots, controller)
                ]
                means = [sum(r[m] for r in cell) / len(cell) for m in METRICS]
                lines.append(
                    f"| {scenario} | {robots} | {controller} | "
                    + " | ".join(f"{v:.3g}" for v in means)
                    + " |"
                )
    atomic_write_text(RESULTS / "baselines.md", "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
