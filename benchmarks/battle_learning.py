"""Learning smoke test of the battle environment: MAPPO against the heuristic enemy on a small scenario.

Trains MAPPO (the repository's defaults, `configs/algo/mappo.yaml`) on `battle/<scenario>` for a few seeds
and records the evaluation win rate (greedy policy, `eval_episodes` episodes) before and after training.

    python benchmarks/battle_learning.py --scenario 3m --seeds 0 1 2 --total-steps 300000
    # writes benchmarks/results/battle/battle_learning_<scenario>_<total steps>.json
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import marl  # noqa: E402
from envs import battle  # noqa: E402
from marl.running.io import atomic_write_text  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="3m")
    parser.add_argument("--algo", default="mappo")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--total-steps", type=int, default=300_000)
    parser.add_argument("--num-envs", type=int, default=64)
    parser.add_argument("--eval-episodes", type=int, default=64)
    parser.add_argument("--note", default="", help="about the machine, e.g. 'shared with other jobs'")
    args = parser.parse_args(argv)
    battle.register()  # until the package is re-installed with battle's entry point
    runs = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as run_dir:
            experiment = marl.Experiment(
                env=f"battle/{args.scenario}",
                algo=args.algo,
                num_envs=args.num_envs,
                total_steps=args.total_steps,
                eval_episodes=args.eval_episodes,
                eval_every=args.total_steps,
                torch_threads=1,
                progress=False,
                seed=seed,
                run_dir=run_dir,
            )
            start = time.perf_counter()
            experiment.run()
            evaluations = experiment.evaluations
            first, last = evaluations[0], evaluations[-1]
            runs.append(
                {
                    "seed": seed,
                    "win_rate_before": sum(first["battle_won"]) / len(first["battle_won"]),
                    "win_rate_after": sum(last["battle_won"]) / len(last["battle_won"]),
                    "return_after": sum(last["return"]) / len(last["return"]),
                    "seconds": round(time.perf_counter() - start, 1),
                }
            )
            print(runs[-1], file=sys.stderr, flush=True)
    machine = f"{platform.machine()}, {os.cpu_count()} logical CPUs" + (
        f" ({args.note})" if args.note else ""
    )
    result = {
        "what": f"{args.algo} against the heuristic enemy on battle/{args.scenario}: evaluation win rate "
        f"(greedy, {args.eval_episodes} episodes) before and after {args.total_steps:,} environment steps",
        "machine": machine,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": shlex.join(
            ["python", "benchmarks/battle_learning.py", *(sys.argv[1:] if argv is None else argv)]
        ),
        "runs": runs,
    }
    out = (
        ROOT
        / "benchmarks"
        / "results"
        / "battle"
        / f"battle_learning_{args.scenario}_{args.total_steps}.json"
    )
    atomic_write_text(out, json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
