"""Cost of the PettingZoo bridge: random-action agent-steps per second.

    python benchmarks/pettingzoo_bridge.py [--steps 2000] [--num-envs 1 8 64] [--out FILE]

Rows: mpe2's simple_spread stepped in its own PettingZoo loop (the peer), the same task through
`marl.from_pettingzoo` at several batch sizes (one external instance per copy, stepped in a Python loop), and
the `to_parallel` view of copy 0 of that wrapped batch (PettingZoo -> batched -> PettingZoo). Random actions
are drawn outside the timed region where the API allows it. One agent's step counts as one.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

import marl
from envs import pettingzoo_peers
from marl.running.io import atomic_write_text


def raw_mpe2(steps: int) -> float:
    from mpe2 import simple_spread_v3

    env = simple_spread_v3.parallel_env()
    env.reset(seed=0)
    agent_steps, start = 0, time.perf_counter()
    for _ in range(steps):
        if not env.agents:
            env.reset()
        actions = {a: env.action_space(a).sample() for a in env.agents}
        env.step(actions)
        agent_steps += len(actions)
    return agent_steps / (time.perf_counter() - start)


def wrapped(steps: int, num_envs: int) -> float:
    env = marl.make("mpe2/simple_spread", num_envs=num_envs, seed=0)
    env.reset()
    actions = [env.sample_actions() for _ in range(16)]
    start = time.perf_counter()
    for t in range(steps):
        env.step(actions[t % 16])
    return steps * num_envs * len(env.possible_agents) / (time.perf_counter() - start)


def view(steps: int) -> float:
    par = marl.to_parallel(marl.make("mpe2/simple_spread", num_envs=1, seed=0))
    par.reset(seed=0)
    agent_steps, start = 0, time.perf_counter()
    for _ in range(steps):
        if not par.agents:
            par.reset()
        actions = {a: par.action_space(a).sample() for a in par.agents}
        par.step(actions)
        agent_steps += len(actions)
    return agent_steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=2000, help="environment steps per row")
    parser.add_argument("--num-envs", type=int, nargs="+", default=[1, 8, 64], help="batch sizes to wrap")
    parser.add_argument("--out", help="also write the markdown table to this file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    pettingzoo_peers.register()
    rows = [("mpe2 simple_spread, PettingZoo loop (peer)", 1, raw_mpe2(args.steps))]
    rows += [("from_pettingzoo(mpe2 simple_spread)", n, wrapped(args.steps, n)) for n in args.num_envs]
    rows.append(("to_parallel(from_pettingzoo(mpe2 simple_spread))", 1, view(args.steps)))
    lines = [
        f"PettingZoo bridge, random actions, {args.steps} steps per row, CPU ({platform.processor() or platform.machine()}), torch threads 1",
        "",
        "| what | copies | agent-steps/s |",
        "|---|---:|---:|",
        *(f"| {name} | {n} | {rate:,.0f} |" for name, n, rate in rows),
    ]
    table = "\n".join(lines)
    print(table)
    if args.out:
        atomic_write_text(args.out, table + "\n")


if __name__ == "__main__":
    main()
