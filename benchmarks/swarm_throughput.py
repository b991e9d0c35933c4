"""Random-action throughput of the swarm tasks: agent-steps per second over agents per copy x copies.

    python benchmarks/swarm_throughput.py --tasks vicsek navigation --agents 16 256 --envs 1 64 --steps 50
    marl bench swarm_throughput --device cuda --out docs/environments/swarm_throughput.md

One agent's step counts as one; each cell steps the batch `--steps` times after a warm-up (actions are
drawn before the clock starts, so only the environment is timed; auto-resets are included).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import envs.swarm  # noqa: E402
import marl  # noqa: E402
from marl.running.io import atomic_write_text


def measure(task: str, n_agents: int, num_envs: int, steps: int, device: str) -> float:
    """Agent-steps per second of `steps` random steps of `num_envs` copies of `n_agents` agents."""
    env = marl.make(f"swarm/{task}", num_envs=num_envs, device=device, seed=0, n_agents=n_agents)
    env.reset()
    actions = [env.sample_actions() for _ in range(steps)]
    for a in actions[:3]:  # warm-up
        env.step(a)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    for a in actions:
        env.step(a)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return steps * num_envs * n_agents / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=sorted(t.split("/")[1] for t in envs.swarm.TASKS))
    parser.add_argument("--agents", nargs="+", type=int, default=[16, 64, 256], help="agents per copy")
    parser.add_argument("--envs", nargs="+", type=int, default=[1, 16, 64], help="copies")
    parser.add_argument("--steps", type=int, default=50, help="timed steps per cell")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, help="also write the markdown table to this file")
    args = parser.parse_args(argv)
    envs.swarm.register()
    torch.set_grad_enabled(False)

    columns = [f"{n} agents x {b} copies" for n in args.agents for b in args.envs]
    lines = [
        f"Random-action agent-steps/s, device `{args.device}`, torch {torch.__version__}, "
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
        f"{args.steps} steps per cell.",
        "",
        "| task | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for task in args.tasks:
        cells = [
            f"{measure(task, n, b, args.steps, args.device):,.0f}" for n in args.agents for b in args.envs
        ]
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
        print(lines[-1], file=sys.stderr, flush=True)
    table = "\n".join(lines)
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.out, table + "\n")


if __name__ == "__main__":
    main()
