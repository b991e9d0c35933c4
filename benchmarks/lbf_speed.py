"""Random-action throughput of batched level-based foraging against lbforaging 2.0.0, in one run.

Both sides play the same task with the same random policy (uniform over all six actions, invalid ones turning
into NONE: the reference's rule, ours with `action_mask=False`) and build every agent's observation every
step, with episodes of at most 50 steps and their resets included. Ours steps `copies` copies at once (action
checks on); the reference is one `gymnasium.make("Foraging-...-v3")` environment stepped in a Python loop,
measured again right before each of our rows (the load of a shared machine drifts). Throughput is
agent-steps per second (environment steps times players), by wall clock and by the process's CPU time (the
fairer measure on a busy machine).

    python benchmarks/lbf_speed.py --seconds 2    # writes benchmarks/results/lbf/lbf_speed.{json,md}
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from speedkit import ROOT, rates, timed_rates, write_results

from envs.lbf import make_lbf, parse_task


def reference_id(task: str) -> str:
    """lbforaging's gymnasium id of a task id: `2s-8x8-2p-2f-coop` -> `Foraging-2s-8x8-2p-2f-coop-v3`."""
    return f"Foraging-{task}-v3"


def reference_speed(task: str, seconds: float) -> dict[str, float]:
    """Agent-steps per second of one reference environment stepped in a loop."""
    import gymnasium as gym
    import lbforaging  # noqa: F401  (registers the Foraging ids)

    env = gym.make(reference_id(task))
    n = parse_task(task)["n_agents"]
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    steps, start, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds or steps < 10:
        _, _, done, truncated, _ = env.step(rng.integers(6, size=n).tolist())
        steps += 1
        if done or truncated:
            env.reset()
    return rates(steps * n, start, cpu)


def our_speed(task: str, copies: int, device: str, seconds: float) -> dict[str, float]:
    """Agent-steps per second of `copies` batched copies on `device`."""
    env = make_lbf(task, num_envs=copies, device=device, seed=0, action_mask=False)
    env.reset()
    generator = torch.Generator(device=env.device).manual_seed(0)
    shape = (copies, env.n_agents)

    def step() -> None:
        env.step({"agent": torch.randint(6, shape, generator=generator, device=env.device)})

    return timed_rates(step, copies * env.n_agents, seconds, env.device)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["8x8-2p-2f-coop", "2s-10x10-3p-3f", "15x15-4p-3f"])
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 16, 256, 1024, 4096])
    parser.add_argument("--devices", nargs="+", default=["cpu"])
    parser.add_argument("--seconds", type=float, default=2.0, help="measuring time per cell of the table")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--note", default="", help="about the machine, e.g. 'shared with other jobs'")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "lbf" / "lbf_speed")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for task in args.tasks:
        for device in args.devices:
            for copies in args.copies:
                reference = reference_speed(task, args.seconds)
                ours = our_speed(task, copies, device, args.seconds)
                rows.append(
                    {
                        "task": task,
                        "device": device,
                        "copies": copies,
                        "ours_wall": round(ours["wall"]),
                        "ours_cpu": round(ours["cpu"]),
                        "reference_wall": round(reference["wall"]),
                        "reference_cpu": round(reference["cpu"]),
                        "ratio_wall": round(ours["wall"] / reference["wall"], 2),
                        "ratio_cpu": round(ours["cpu"] / reference["cpu"], 2),
                    }
                )
                print(rows[-1], flush=True)
    columns = {
        "task": "task",
        "device": "device",
        "copies": "copies",
        "ours_wall": "ours (wall)",
        "ours_cpu": "ours (CPU time)",
        "reference_wall": "lbforaging (wall)",
        "reference_cpu": "lbforaging (CPU time)",
        "ratio_wall": "ours / lbforaging (wall)",
        "ratio_cpu": "ours / lbforaging (CPU time)",
    }
    write_results(
        args.out,
        "lbf_speed.py",
        argv,
        "agent-steps per second (wall clock and process CPU time), uniformly random actions, every observation "
        "built, auto-resets included",
        rows,
        columns,
        devices=args.devices,
        note=args.note,
        torch_threads=args.threads,
        seconds_per_cell=args.seconds,
    )
    return rows


if __name__ == "__main__":
    main()
