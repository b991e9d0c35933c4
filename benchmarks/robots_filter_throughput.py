"""Throughput of the batched CBF safety filter (marl.core.cbf) at 1,024 robots per copy: robots x copies
filtered per second, for the filter alone and for a whole `robots/<scenario>` step with the filter inside.

    python benchmarks/robots_filter_throughput.py --copies 1 4 16 --iterations 30 100
    python benchmarks/robots_filter_throughput.py --device cuda

The scenes are real: each copy first runs `--warmup` steps of the aggressive fixed-gain controller, so the
robots are in the middle of their crossing, with neighbours close and constraints binding. Results go to
benchmarks/results/robots/filter_throughput_<device>.json and .csv.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import envs.robots  # noqa: E402
import marl  # noqa: E402
from marl.core.cbf import safety_filter  # noqa: E402
from marl.running.io import atomic_write_text  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "robots"


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure(scenario: str, robots: int, copies: int, iterations: int, repeats: int, warmup: int, device: str):
    env = marl.make(
        f"robots/{scenario}",
        num_envs=copies,
        device=device,
        seed=0,
        n_agents=robots,
        control="gain",
        filter_iterations=iterations,
        max_steps=10_000,
    )
    action = {"robot": torch.full((copies, robots, 1), env.action_of_gain(10.0), device=env.device)}
    env.reset()
    for _ in range(warmup):
        env.step(action)
    gain = torch.full((copies, robots), 10.0, device=env.device)
    A, b, mask = env.barrier_rows(gain)
    lower, upper = env.command_box()
    nominal = env.nominal_command()
    warm = env.multipliers
    result = safety_filter(nominal, A, b, mask, lower, upper, iterations=iterations, warm_start=warm)
    sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        safety_filter(nominal, A, b, mask, lower, upper, iterations=iterations, warm_start=warm)
    sync(device)
    filter_seconds = (time.perf_counter() - start) / repeats
    start = time.perf_counter()
    for _ in range(repeats):
        env.step(action)
    sync(device)
    step_seconds = (time.perf_counter() - start) / repeats
    n = robots * copies
    return {
        "scenario": scenario,
        "robots": robots,
        "copies": copies,
        "iterations": iterations,
        "constraint_rows": int(A.shape[2]),
        "closed_form_fraction": round(float(result.closed_form.float().mean()), 4),
        "active_rows_per_robot": round(float(result.active.sum(-1).float().mean()), 3),
        "infeasible_fraction": round(float(result.infeasible.float().mean()), 5),
        "filter_robots_per_s": round(n / filter_seconds),
        "env_step_robots_per_s": round(n / step_seconds),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="random", choices=envs.robots.SCENARIOS)
    parser.add_argument("--robots", type=int, default=1024)
    parser.add_argument("--copies", nargs="+", type=int, default=[1, 4, 16])
    parser.add_argument("--iterations", nargs="+", type=int, default=[30, 100])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=60)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--machine", default=f"{platform.machine()} {platform.processor()}".strip())
    args = parser.parse_args(argv)
    envs.robots.register()
    torch.set_grad_enabled(False)
    rows = []
    for copies in args.copies:
        for iterations in args.iterations:
            row = measure(
                args.scenario, args.robots, copies, iterations, args.repeats, args.warmup, args.device
            )
            rows.append(row)
            print(row, flush=True)
    meta = {
        "command": "python benchmarks/robots_filter_throughput.py " + " ".join(argv or sys.argv[1:]),
        "device": args.device,
        "machine": args.machine,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / f"filter_throughput_{args.device.split(':')[0]}"
    atomic_write_text(stem.with_suffix(".json"), json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(stem.with_suffix(".csv"), out.getvalue())


if __name__ == "__main__":
    main()
