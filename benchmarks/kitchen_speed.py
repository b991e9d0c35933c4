"""Random-action throughput of the batched kitchen against the reference Overcooked game, on CPU, in one run.

Both sides play the same layout with random joint actions and compute both chefs' lossless encodings every
step (episodes of 400 steps, auto-reset included); a step of one copy counts as one environment step. The
reference (overcooked_ai's rules, PyPI `overcooked` 0.2.1) runs one game per process from its own virtual
environment (see benchmarks/kitchen_reference.py) as a subprocess, measured again right before each of our
rows, since the load of a shared machine drifts. JaxMARL's jitted port is not measured here.

    python benchmarks/kitchen_speed.py --seconds 1        # writes benchmarks/results/kitchen_speed.{json,csv}
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from marl.running.io import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_LAYOUT = {"counter_circuit": "counter_circuit_o_1order"}
REFERENCE_WORKER = """
import json, sys, time
import numpy as np
from overcooked.mdp.actions import Action
from overcooked.mdp.overcooked_mdp import OvercookedGridworld
a = json.loads(sys.argv[1])
mdp = OvercookedGridworld.from_layout_name(a["layout"], old_dynamics=True)
rng = np.random.default_rng(0)
state, t = mdp.get_standard_start_state().deepcopy(), 0
steps, start, cpu = 0, time.perf_counter(), time.process_time()
while time.perf_counter() - start < a["seconds"] or steps < 3:
    joint = tuple(Action.INDEX_TO_ACTION[i] for i in rng.integers(6, size=2))
    state, info = mdp.get_state_transition(state, joint)
    mdp.lossless_state_encoding(state)
    steps, t = steps + 1, t + 1
    if t == 400:
        state, t = mdp.get_standard_start_state().deepcopy(), 0
print(json.dumps({"wall": steps / (time.perf_counter() - start), "cpu": steps / (time.process_time() - cpu)}))
"""
OURS_WORKER = """
import json, sys, time
import torch
torch.set_num_threads(1)
from envs.kitchen import make_kitchen
a = json.loads(sys.argv[1])
env = make_kitchen(layout=a["layout"], num_envs=a["batch"], seed=0)
env.reset()
gen = torch.Generator().manual_seed(0)
for _ in range(2):
    env.step(env.sample_actions(gen))
steps, start, cpu = 0, time.perf_counter(), time.process_time()
while time.perf_counter() - start < a["seconds"] or steps < 3:
    env.step(env.sample_actions(gen))
    steps += 1
work = steps * a["batch"]
print(json.dumps({"wall": work / (time.perf_counter() - start), "cpu": work / (time.process_time() - cpu)}))
"""


def run_worker(python: str, code: str, args: dict) -> dict[str, float]:
    """Environment steps per second by wall clock and by the worker's CPU time."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [python, "-c", code, json.dumps(args)], capture_output=True, text=True, env=env, cwd=ROOT
    )
    if done.returncode != 0:
        raise RuntimeError(f"benchmark worker failed ({python}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layouts", nargs="+", default=["cramped_room", "counter_circuit"])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16, 64, 256, 1024, 4096])
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per cell of the table")
    parser.add_argument("--reference-venv", type=Path, default=ROOT / ".venv-overcooked")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "kitchen_speed")
    args = parser.parse_args(argv)
    reference_python = args.reference_venv / "bin" / "python"
    if not reference_python.exists():
        raise SystemExit(
            f"no reference environment at {args.reference_venv}; create it with: python -m venv "
            f"{args.reference_venv} && {reference_python} -m pip install overcooked==0.2.1"
        )
    rows = []
    for layout in args.layouts:
        for batch in args.batch_sizes:
            common = {"seconds": args.seconds}
            reference = run_worker(
                str(reference_python),
                REFERENCE_WORKER,
                {**common, "layout": REFERENCE_LAYOUT.get(layout, layout)},
            )
            ours = run_worker(sys.executable, OURS_WORKER, {**common, "layout": layout, "batch": batch})
            rows.append(
                {
                    "layout": layout,
                    "copies": batch,
                    "ours_wall": round(ours["wall"]),
                    "ours_cpu": round(ours["cpu"]),
                    "reference_wall": round(reference["wall"]),
                    "reference_cpu": round(reference["cpu"]),
                    "ratio_wall": round(ours["wall"] / reference["wall"], 2),
                    "ratio_cpu": round(ours["cpu"] / reference["cpu"], 2),
                }
            )
            print(rows[-1], file=sys.stderr, flush=True)
    meta = {
        "what": "environment steps per second, random actions, lossless encodings every step, 1 CPU thread",
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "seconds_per_cell": args.seconds,
    }
    atomic_write_text(args.out.with_suffix(".json"), json.dumps({**meta, "rows": rows}, indent=1) + "\n")
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(args.out.with_suffix(".csv"), table.getvalue())
    print(
        "| layout | copies | ours (wall) | ours (CPU) | reference (wall) | reference (CPU) | ratio (wall) | ratio (CPU) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['layout']} | {r['copies']} | {r['ours_wall']:,} | {r['ours_cpu']:,} | {r['reference_wall']:,} | "
            f"{r['reference_cpu']:,} | {r['ratio_wall']:.1f}x | {r['ratio_cpu']:.1f}x |"
        )
    return rows


if __name__ == "__main__":
    main()
