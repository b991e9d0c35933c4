"""Throughput of batched battles: agent-steps per second at several batch sizes.

The learners play uniformly random legal actions (drawn under the action masks, action checks on) against
the built-in heuristic enemy; every observation, the state and the masks are built every step, auto-resets
included. Agent-steps = environment steps times allied agents. JaxMARL's SMAX is not measured here (it needs
its own virtual environment with jax): this table is ours alone.

    python benchmarks/battle_speed.py --seconds 2    # writes benchmarks/results/battle/battle_speed.{json,md}
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from envs.battle import BattleEnv  # noqa: E402
from marl.running.io import atomic_write_text  # noqa: E402


def our_speed(scenario: str, copies: int, device: str, seconds: float) -> dict[str, float]:
    """Agent-steps per second (wall clock and process CPU time) of `copies` copies on `device`."""
    env = BattleEnv(scenario, num_envs=copies, device=device, seed=0)
    env.reset()
    generator = torch.Generator(device=env.device).manual_seed(0)
    for _ in range(3):  # warm-up
        env.step(env.sample_actions(generator))
    sync = torch.cuda.synchronize if env.device.type == "cuda" else (lambda: None)
    sync()
    steps, start, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds or steps < 5:
        env.step(env.sample_actions(generator))
        steps += 1
    sync()
    work = steps * copies * env.n_allies
    return {"wall": work / (time.perf_counter() - start), "cpu": work / (time.process_time() - cpu)}


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", nargs="+", default=["protoss_5_vs_5", "terran_10_vs_10"])
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 16, 256, 1024])
    parser.add_argument("--devices", nargs="+", default=["cpu"])
    parser.add_argument("--seconds", type=float, default=2.0, help="measuring time per cell of the table")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--note", default="", help="about the machine, e.g. 'shared with other jobs'")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "battle" / "battle_speed"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for scenario in args.scenarios:
        for device in args.devices:
            for copies in args.copies:
                speed = our_speed(scenario, copies, device, args.seconds)
                rows.append(
                    {
                        "scenario": scenario,
                        "device": device,
                        "copies": copies,
                        "wall": round(speed["wall"]),
                        "cpu": round(speed["cpu"]),
                    }
                )
                print(rows[-1], file=sys.stderr, flush=True)
    machine = f"{platform.machine()}, {os.cpu_count()} logical CPUs"
    if "cuda" in args.devices:
        machine += f", {torch.cuda.get_device_name()}"
    meta = {
        "what": "agent-steps per second (wall clock and process CPU time), random legal actions against the "
        "heuristic enemy, observations, state and masks built every step, auto-resets included",
        "machine": machine + (f" ({args.note})" if args.note else ""),
        "torch": torch.__version__,
        "torch_threads": args.threads,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "seconds_per_cell": args.seconds,
        "command": shlex.join(
            ["python", "benchmarks/battle_speed.py", *(sys.argv[1:] if argv is None else argv)]
        ),
    }
    atomic_write_text(args.out.with_suffix(".json"), json.dumps({**meta, "rows": rows}, indent=1) + "\n")
    lines = [
        "| scenario | device | copies | agent-steps/s (wall) | agent-steps/s (CPU time) |",
        "|---|---|---:|---:|---:|",
    ]
    lines += [
        f"| {r['scenario']} | {r['device']} | {r['copies']:,} | {r['wall']:,} | {r['cpu']:,} |" for r in rows
    ]
    lines += ["", f"Machine: {meta['machine']}, torch {meta['torch']}, {args.threads} torch thread(s).", ""]
    lines += [f"Command: `{meta['command']}`", ""]
    atomic_write_text(args.out.with_suffix(".md"), "\n".join(lines))
    print("\n".join(lines))
    return rows


if __name__ == "__main__":
    main()
