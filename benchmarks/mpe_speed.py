"""Random-action speed of simple_spread: ours beside VMAS and mpe2, in agent-steps per second.

One agent's step counts as one (simple_spread has 3 agents, so env-steps/s = agent-steps/s / 3).

- ours: `envs.mpe.SimpleSpread` (discrete actions), random actions from `env.sample_actions()`, with
  `validate_actions=False` (no per-step bounds checks); each step includes the masked auto-reset and the
  episode statistics of copies that finish (max_steps 25).
- VMAS: `vmas.make_env("simple_spread", continuous_actions=False)`, random actions from
  `env.get_random_actions()`, stepped without resets (as in VMAS's own benchmark; `max_steps` unset).
- mpe2: `simple_spread_v3.parallel_env()` through its PettingZoo parallel loop with `action_space.sample()`,
  reset when an episode ends. It steps one copy at a time, so its agent-steps/s do not depend on the number of
  copies: it is timed once on one copy and that figure stands for every batch size (timing 30,000 copies one
  after the other would only repeat the same loop).

Each measurement runs a few warm-up steps, then steps until `--seconds` have passed (at least `--min-steps`).
Prints a markdown table; `--out FILE` writes it too.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from marl.running.io import atomic_write_text  # noqa: E402

N_AGENTS = 3


def _timed(
    step: Callable[[], None], device: torch.device, seconds: float, min_steps: int, warmup: int
) -> float:
    """Steps per second of `step()` over at least `seconds` and `min_steps` calls."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        step()
    sync()
    start, steps = time.perf_counter(), 0
    while steps < min_steps or time.perf_counter() - start < seconds:
        step()
        steps += 1
        if steps % 10 == 0:
            sync()
    sync()
    return steps / (time.perf_counter() - start)


def ours(num_envs: int, device: torch.device, args: argparse.Namespace) -> float:
    from envs.mpe import SimpleSpread

    env = SimpleSpread(num_envs=num_envs, device=str(device), seed=0)
    env.validate_actions = False
    env.reset()
    return (
        num_envs
        * N_AGENTS
        * _timed(lambda: env.step(env.sample_actions()), device, args.seconds, args.min_steps, args.warmup)
    )


def vmas(num_envs: int, device: torch.device, args: argparse.Namespace) -> float:
    import vmas as vmas_package

    env = vmas_package.make_env(
        "simple_spread", num_envs=num_envs, device=device, continuous_actions=False, seed=0, n_agents=N_AGENTS
    )
    env.reset()
    return (
        num_envs
        * N_AGENTS
        * _timed(
            lambda: env.step(env.get_random_actions()), device, args.seconds, args.min_steps, args.warmup
        )
    )


def mpe2_single_copy(args: argparse.Namespace) -> float:
    from mpe2 import simple_spread_v3

    env = simple_spread_v3.parallel_env(N=N_AGENTS, max_cycles=25)
    env.reset(seed=0)
    for agent in env.possible_agents:
        env.action_space(agent).seed(0)

    def step() -> None:
        if not env.agents:
            env.reset()
        env.step({a: env.action_space(a).sample() for a in env.agents})

    return N_AGENTS * _timed(step, torch.device("cpu"), args.seconds, args.min_steps, args.warmup)


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x / 1e6:.2f}M" if x >= 1e6 else f"{x / 1e3:.1f}k"


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16, 256, 1024, 4096, 30000])
    parser.add_argument("--devices", nargs="+", default=None, help="default: cpu, plus cuda when available")
    parser.add_argument(
        "--peers", nargs="+", default=["ours", "vmas", "mpe2"], choices=["ours", "vmas", "mpe2"]
    )
    parser.add_argument("--seconds", type=float, default=1.0, help="time each measurement at least this long")
    parser.add_argument("--min-steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--out", type=Path, default=None, help="also write the markdown table here")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    devices = args.devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    mpe2_speed = mpe2_single_copy(args) if "mpe2" in args.peers else None
    lines = [
        "| device | copies | ours (agent-steps/s) | VMAS | mpe2 (one copy, PettingZoo loop) | ours / VMAS | ours / mpe2 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    print("\n".join(lines), flush=True)
    for device_name in devices:
        device = torch.device(device_name)
        for b in args.batch_sizes:
            speed = {"ours": None, "vmas": None}
            for peer, fn in (("ours", ours), ("vmas", vmas)):
                if peer in args.peers:
                    speed[peer] = fn(b, device, args)
            ratio_vmas = f"{speed['ours'] / speed['vmas']:.1f}x" if speed["ours"] and speed["vmas"] else "-"
            ratio_mpe2 = f"{speed['ours'] / mpe2_speed:.0f}x" if speed["ours"] and mpe2_speed else "-"
            line = (
                f"| {device_name} | {b:,} | {_fmt(speed['ours'])} | {_fmt(speed['vmas'])} | {_fmt(mpe2_speed)} "
                f"| {ratio_vmas} | {ratio_mpe2} |"
            )
            lines.append(line)
            print(line, flush=True)
    machine = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch threads"
    )
    if torch.cuda.is_available():
        machine += f", GPU {torch.cuda.get_device_name()}"
    footer = f"Machine: {machine}. Command: `python benchmarks/mpe_speed.py {' '.join(argv or sys.argv[1:])}`"
    table = "\n".join(lines) + f"\n\n{footer}\n"
    print(f"\n{footer}")
    if args.out is not None:
        atomic_write_text(args.out, table)
    return table


if __name__ == "__main__":
    main()
