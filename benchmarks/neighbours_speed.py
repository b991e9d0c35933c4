"""Neighbour search at scale: swarm agent-steps/s with brute force and with cell lists, side by side.

    python benchmarks/neighbours_speed.py --agents 100 1000 10000 --threads 1 2 --out benchmarks/results/neighbours

Each cell runs swarm/<task> (`--tasks vicsek navigation`) with `neighbour_search=brute` and `=cells` (the same
neighbour lists, see `marl.core.neighbours`; in the arena tasks also every pair or cell lists for the contact
forces), random actions, at a fixed density: the world's side grows as sqrt(agents) so that
about `--expected` other agents fall within `neighbour_radius`. Copies per cell: `--agent-budget // agents`
(at least one), so every cell steps about the same number of agents. Brute force is skipped where its
`[copies, N, N]` tensors would pass `--max-pairs` entries. One agent's step counts as one; actions are drawn
before the clock starts. Writes `neighbours_speed.json` and `.md` (with the command and the machine) to `--out`.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

import torch

import envs.swarm
import marl
from marl.running.io import atomic_write_text

DENSITY = 2.0  # agents per unit area (swarm/vicsek's default: 32 agents on a 4 x 4 torus)


def measure(task: str, n_agents: int, num_envs: int, method: str, steps: int, expected: float) -> float:
    """Agent-steps per second of `steps` random steps."""
    side = math.sqrt(n_agents / DENSITY)
    radius = math.sqrt(expected / (math.pi * DENSITY))
    env = marl.make(
        f"swarm/{task}",
        num_envs=num_envs,
        seed=0,
        n_agents=n_agents,
        world_size=side,
        neighbour_radius=radius,
        neighbour_search=method,
    )
    env.reset()
    actions = [env.sample_actions() for _ in range(steps)]
    for a in actions[:2]:  # warm-up
        env.step(a)
    start = time.perf_counter()
    for a in actions:
        env.step(a)
    return steps * num_envs * n_agents / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["vicsek"])
    parser.add_argument("--agents", nargs="+", type=int, default=[100, 1000, 10000])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--agent-budget", type=int, default=20_000, help="agents stepped per cell")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--expected", type=float, default=6.0, help="agents expected within the radius")
    parser.add_argument("--max-pairs", type=float, default=4e8, help="largest brute-force [B, N, N] tensor")
    parser.add_argument("--out", type=Path, help="folder for neighbours_speed.json and .md")
    args = parser.parse_args(argv)
    envs.swarm.register()
    torch.set_grad_enabled(False)
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for task in args.tasks:
            for n in args.agents:
                copies = max(1, args.agent_budget // n)
                row = {"task": task, "agents": n, "copies": copies, "threads": threads}
                for method in ("brute", "cells"):
                    if method == "brute" and copies * n * n > args.max_pairs:
                        row[method] = None
                        continue
                    row[method] = measure(task, n, copies, method, args.steps, args.expected)
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    machine = f"{platform.machine()} {platform.processor()}".strip()
    command = "python benchmarks/neighbours_speed.py " + " ".join(argv if argv is not None else sys.argv[1:])
    fmt = lambda v: "skipped (memory)" if v is None else f"{v:,.0f}"  # noqa: E731
    lines = [
        f"`{command}` on {machine}, torch {torch.__version__}; agent-steps/s, random actions.",
        "",
        "| task | agents | copies | threads | brute force | cell lists | cells / brute |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ratio = "" if r["brute"] is None else f"{r['cells'] / r['brute']:.2f}"
        lines.append(
            f"| {r['task']} | {r['agents']:,} | {r['copies']} | {r['threads']} | {fmt(r['brute'])} | "
            f"{fmt(r['cells'])} | {ratio} |"
        )
    table = "\n".join(lines)
    print(table)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        payload = {"command": command, "machine": machine, "torch": torch.__version__, "rows": rows}
        atomic_write_text(args.out / "neighbours_speed.json", json.dumps(payload, indent=2) + "\n")
        atomic_write_text(args.out / "neighbours_speed.md", table + "\n")


if __name__ == "__main__":
    main()
