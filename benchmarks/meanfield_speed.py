"""MF-Q and MF-AC on the Ising lattice at 1,000+ agents per copy: throughput, and the order parameter reached.

    python benchmarks/meanfield_speed.py                      # writes benchmarks/results/meanfield/speed.json
    python benchmarks/meanfield_speed.py --size 32 --envs 1 8 --seeds 0 1 2 --out /tmp/speed.json

Throughput (`--size` x `--size` spins per copy, for each number of copies in `--envs`):
- `env_agent_steps_per_s`: random actions, the environment alone;
- `train_env_steps_per_s`: `train_iteration` of each algorithm (acting, stepping, storing, updating), in
  environment steps summed over copies per second, and `train_agent_steps_per_s` (times the agents per copy);
- `updates_per_s`: gradient steps per second of the same runs.
Order parameter: each algorithm trained from scratch for `--iterations` iterations on 4 copies of the lattice
(MF-Q: 4 steps per copy per iteration; MF-AC: a rollout of 8), then 8 episodes of its stochastic policy on
another seed; one value per seed, and the random policy's for comparison.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import envs.ising  # noqa: E402
import marl  # noqa: E402
from algos.meanfield import MFAC, MFQ, MFACConfig, MFQConfig  # noqa: E402
from marl.learning.algorithm import RandomConfig, RandomPolicy, evaluate  # noqa: E402
from marl.running.io import atomic_write_json  # noqa: E402

ALGOS = {"mfq": (MFQ, MFQConfig(learning_starts=8)), "mfac": (MFAC, MFACConfig(rollout_length=8))}


def lattice(size: int, num_envs: int, seed: int) -> marl.BatchedEnv:
    return marl.make("ising/lattice", num_envs=num_envs, size=size, max_steps=20, seed=seed)


def env_speed(size: int, num_envs: int, steps: int) -> float:
    """Agent-steps per second of random steps (actions drawn before the clock starts)."""
    env = lattice(size, num_envs, 0)
    env.reset()
    actions = [env.sample_actions() for _ in range(steps)]
    start = time.perf_counter()
    for a in actions:
        env.step(a)
    return steps * num_envs * size**2 / (time.perf_counter() - start)


def train_speed(name: str, size: int, num_envs: int, iterations: int) -> dict[str, float]:
    """Environment steps and gradient steps per second of `iterations` training iterations after a warm-up."""
    algo_class, config = ALGOS[name]
    torch.manual_seed(0)
    algo = algo_class(lattice(size, num_envs, 0), config, "cpu")
    for _ in range(3):  # warm-up (MF-Q: until the buffer holds `learning_starts` rows)
        algo.train_iteration()
    updates, env_steps = algo.updates, 0
    start = time.perf_counter()
    for _ in range(iterations):
        env_steps += algo.train_iteration().env_steps
    seconds = time.perf_counter() - start
    return {
        "train_env_steps_per_s": env_steps / seconds,
        "train_agent_steps_per_s": env_steps * size**2 / seconds,
        "updates_per_s": (algo.updates - updates) / seconds,
    }


def order_reached(name: str, size: int, seed: int, iterations: int) -> float:
    algo_class, config = ALGOS[name]
    torch.manual_seed(seed)
    algo = algo_class(lattice(size, 4, seed), config, "cpu")
    for _ in range(iterations):
        algo.train_iteration()
    results = evaluate(algo, lattice(size, 4, 100 + seed), 8, deterministic=False, seed=seed)
    return statistics.mean(results["order_parameter"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=32, help="lattice side: size**2 agents per copy")
    parser.add_argument("--envs", nargs="+", type=int, default=[1, 8], help="copies")
    parser.add_argument("--steps", type=int, default=50, help="timed random steps per throughput cell")
    parser.add_argument("--train-iterations", type=int, default=10, help="timed training iterations per cell")
    parser.add_argument(
        "--iterations", type=int, default=60, help="training iterations before the order check"
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--machine", default="2-core x86_64 CPU, shared with other jobs")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/meanfield/speed.json"))
    args = parser.parse_args(argv)
    envs.ising.register()

    throughput = []
    for num_envs in args.envs:
        cell = {"agents_per_copy": args.size**2, "copies": num_envs}
        cell["env_agent_steps_per_s"] = env_speed(args.size, num_envs, args.steps)
        for name in ALGOS:
            cell[name] = train_speed(name, args.size, num_envs, args.train_iterations)
        throughput.append(cell)
        print(cell, flush=True)
    random_env = lattice(args.size, 4, 0)
    random = evaluate(RandomPolicy(random_env, RandomConfig(), "cpu"), random_env, 8, False, seed=0)
    order = {"random": statistics.mean(random["order_parameter"])}
    for name in ALGOS:
        order[name] = [order_reached(name, args.size, seed, args.iterations) for seed in args.seeds]
        print(name, order[name], flush=True)
    atomic_write_json(
        args.out,
        {
            "command": "python benchmarks/meanfield_speed.py " + " ".join(argv or sys.argv[1:]),
            "machine": args.machine,
            "processor": platform.processor() or platform.machine(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "lattice": f"{args.size} x {args.size}",
            "throughput": throughput,
            "order_parameter": {"iterations": args.iterations, "seeds": args.seeds, **order},
        },
    )


if __name__ == "__main__":
    torch.set_num_threads(1)  # one thread, as the shared machine gives each job
    main()
