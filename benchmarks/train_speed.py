"""Training throughput of the on-policy learners: environment steps per second, updates included.

    python benchmarks/train_speed.py [--algos ippo mappo dpo] [--num-envs 1 64 1024]
                                     [--env mpe/simple_spread] [--seconds 20] [--device cpu] [--out FILE]

For each algorithm and batch size it builds the environment and the learner through `marl.Experiment`
(the algorithm's default hyperparameters: rollout_length 32, 5 epochs, 1 minibatch, so an iteration is
32 * num_envs environment steps), runs one warm-up iteration, then times whole `train_iteration` calls
(rollout on device, GAE, all epochs of the update) until `--seconds` have passed (at least
`--min-iterations`). One environment step of one copy counts as one; agent-steps multiply by the number
of agents.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

import marl
from marl.running.io import atomic_write_text


def measure(
    algo_name: str, env_id: str, num_envs: int, device: str, threads: int, seconds: float, min_iterations: int
):
    experiment = marl.Experiment(
        env=env_id, algo=algo_name, experiment=None, num_envs=num_envs, device=device, torch_threads=threads
    )
    env, algo = experiment.env, experiment.algo
    algo.train_iteration()  # warm-up: first reset, allocator, lazy initialisation
    steps, iterations = 0, 0
    start = time.perf_counter()
    while iterations < min_iterations or time.perf_counter() - start < seconds:
        steps += algo.train_iteration().env_steps
        iterations += 1
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    return steps / elapsed, steps * len(env.possible_agents) / elapsed, iterations


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--algos", nargs="+", default=["ippo", "mappo", "dpo"], help="registered algorithms")
    parser.add_argument("--num-envs", type=int, nargs="+", default=[1, 64, 1024], help="batch sizes")
    parser.add_argument("--env", default="mpe/simple_spread", help="environment id")
    parser.add_argument("--seconds", type=float, default=20.0, help="timed seconds per row (after warm-up)")
    parser.add_argument("--min-iterations", type=int, default=2, help="timed iterations per row, at least")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--out", help="also write the markdown table to this file")
    args = parser.parse_args()
    rows = []
    for algo_name in args.algos:
        for n in args.num_envs:
            env_rate, agent_rate, iterations = measure(
                algo_name, args.env, n, args.device, args.threads, args.seconds, args.min_iterations
            )
            rows.append((algo_name, n, env_rate, agent_rate, iterations))
            print(f"{algo_name} num_envs={n}: {env_rate:,.0f} env-steps/s", flush=True)
    device = args.device if args.device != "cpu" else f"CPU ({platform.processor() or platform.machine()})"
    lines = [
        f"Training throughput on {args.env}, {device}, torch threads {args.threads}, default hyperparameters "
        "(rollout 32, 5 epochs, 1 minibatch), updates included",
        "",
        "| algorithm | copies | env-steps/s | agent-steps/s | timed iterations |",
        "|---|---:|---:|---:|---:|",
        *(f"| {a} | {n} | {e:,.0f} | {g:,.0f} | {i} |" for a, n, e, g, i in rows),
    ]
    table = "\n".join(lines)
    print(table)
    if args.out:
        atomic_write_text(args.out, table + "\n")


if __name__ == "__main__":
    main()
