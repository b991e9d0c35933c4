"""Random-action throughput of the batched kitchen against the reference Overcooked game and JaxMARL, on CPU.

All sides play the same layout with random joint actions and compute both chefs' observations every step
(episodes of 400 steps, auto-reset included); a step of one copy counts as one environment step, one CPU thread
each. The reference (overcooked_ai's rules, PyPI `overcooked` 0.2.1, lossless encodings) runs one game per
process from its own virtual environment as a subprocess, measured again right before each of our rows, since
the load of a shared machine drifts. JaxMARL's jitted port (`overcooked`, its own virtual environment, its own
observation) runs `jit(vmap(step))` over the same number of copies (benchmarks/jaxmarl_speed.py).

    python benchmarks/kitchen_speed.py --seconds 2    # writes benchmarks/results/kitchen/kitchen_speed.{json,md}
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from speedkit import ROOT, jaxmarl_speed, run_worker, venv_python, write_results

REFERENCE_LAYOUT = {"counter_circuit": "counter_circuit_o_1order"}
JAXMARL_LAYOUT = {
    "cramped_room": "cramped_room",
    "asymmetric_advantages": "asymm_advantages",
    "coordination_ring": "coord_ring",
    "forced_coordination": "forced_coord",
    "counter_circuit": "counter_circuit",
}
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
import json, sys
import torch
torch.set_num_threads(1)
from speedkit import timed_rates
from envs.kitchen import make_kitchen
a = json.loads(sys.argv[1])
env = make_kitchen(layout=a["layout"], num_envs=a["batch"], seed=0)
env.reset()
gen = torch.Generator().manual_seed(0)
print(json.dumps(timed_rates(lambda: env.step(env.sample_actions(gen)), a["batch"], a["seconds"], env.device)))
"""


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layouts", nargs="+", default=["cramped_room", "counter_circuit"])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16, 256, 1024, 4096])
    parser.add_argument("--seconds", type=float, default=2.0, help="measuring time per cell of the table")
    parser.add_argument("--reference-venv", type=Path, default=ROOT / ".venv-overcooked")
    parser.add_argument("--jaxmarl-venv", type=Path, default=ROOT / ".venv-jaxmarl")
    parser.add_argument("--no-jaxmarl", action="store_true", help="leave JaxMARL's column out")
    parser.add_argument("--note", default="", help="about the machine, e.g. 'shared with other jobs'")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "kitchen" / "kitchen_speed"
    )
    args = parser.parse_args(argv)
    reference_python = venv_python(args.reference_venv, "overcooked==0.2.1")
    code = ["-c"]
    rows = []
    for layout in args.layouts:
        for batch in args.batch_sizes:
            common = {"seconds": args.seconds}
            reference_layout = REFERENCE_LAYOUT.get(layout, layout)
            reference = run_worker(
                reference_python, [*code, REFERENCE_WORKER, json.dumps(common | {"layout": reference_layout})]
            )
            ours = run_worker(
                sys.executable, [*code, OURS_WORKER, json.dumps(common | {"layout": layout, "batch": batch})]
            )
            row = {
                "layout": layout,
                "copies": batch,
                "ours_wall": round(ours["wall"]),
                "ours_cpu": round(ours["cpu"]),
            }
            row |= {"reference_wall": round(reference["wall"]), "reference_cpu": round(reference["cpu"])}
            row |= {"ratio_cpu": round(ours["cpu"] / reference["cpu"], 2)}
            if not args.no_jaxmarl and layout in JAXMARL_LAYOUT:
                jax = jaxmarl_speed(
                    args.jaxmarl_venv, "overcooked", batch, args.seconds, layout=JAXMARL_LAYOUT[layout]
                )
                row |= {
                    "jaxmarl_wall": round(jax["env_steps_wall"]),
                    "jaxmarl_cpu": round(jax["env_steps_cpu"]),
                    "ratio_jaxmarl_cpu": round(ours["cpu"] / jax["env_steps_cpu"], 2),
                    "jaxmarl_compile_s": round(jax["compile_seconds"], 1),
                }
            rows.append(row)
            print(row, flush=True)
    columns = {
        "layout": "layout",
        "copies": "copies",
        "ours_wall": "ours (wall)",
        "ours_cpu": "ours (CPU time)",
        "reference_wall": "overcooked (wall)",
        "reference_cpu": "overcooked (CPU time)",
        "ratio_cpu": "ours / overcooked (CPU time)",
        "jaxmarl_wall": "JaxMARL (wall)",
        "jaxmarl_cpu": "JaxMARL (CPU time)",
        "ratio_jaxmarl_cpu": "ours / JaxMARL (CPU time)",
        "jaxmarl_compile_s": "JaxMARL compile (s)",
    }
    write_results(
        args.out,
        "kitchen_speed.py",
        argv,
        "environment steps per second (wall clock and process CPU time), random actions, observations every "
        "step (lossless encodings; JaxMARL its own), 1 CPU thread per side",
        rows,
        columns,
        note=args.note,
        seconds_per_cell=args.seconds,
    )
    return rows


if __name__ == "__main__":
    main()
