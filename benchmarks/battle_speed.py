"""Throughput of batched battles against JaxMARL's SMAX: agent-steps per second at several batch sizes.

The learners play uniformly random legal actions (drawn under the action masks, action checks on) against
the built-in heuristic enemy; every observation, the state and the masks are built every step, auto-resets
included. Agent-steps = environment steps times allied agents. JaxMARL's `HeuristicEnemySMAX` plays the same
classic maps with random legal actions, `jit(vmap(step))` over copies, 100 steps per jitted call
(benchmarks/jaxmarl_speed.py, from its own virtual environment; its compile time is recorded apart); both
sides use one CPU thread. Procedural scenarios are ours alone (SMAX draws its SMACv2-style units differently).

    python benchmarks/battle_speed.py --seconds 2    # writes benchmarks/results/battle/battle_speed.{json,md}
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from speedkit import ROOT, jaxmarl_speed, timed_rates, write_results

from envs.battle import BattleEnv
from envs.battle.scenarios import CLASSIC


def our_speed(scenario: str, copies: int, device: str, seconds: float) -> dict[str, float]:
    """Agent-steps per second (wall clock and process CPU time) of `copies` copies on `device`."""
    env = BattleEnv(scenario, num_envs=copies, device=device, seed=0)
    env.reset()
    generator = torch.Generator(device=env.device).manual_seed(0)
    return timed_rates(
        lambda: env.step(env.sample_actions(generator)), copies * env.n_allies, seconds, env.device
    )


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scenarios", nargs="+", default=["3m", "27m_vs_30m", "protoss_5_vs_5", "terran_10_vs_10"]
    )
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 16, 256, 1024])
    parser.add_argument("--devices", nargs="+", default=["cpu"])
    parser.add_argument("--seconds", type=float, default=2.0, help="measuring time per cell of the table")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--jaxmarl-venv", type=Path, default=ROOT / ".venv-jaxmarl")
    parser.add_argument("--no-jaxmarl", action="store_true", help="measure ours alone")
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
                ours = our_speed(scenario, copies, device, args.seconds)
                row = {"scenario": scenario, "device": device, "copies": copies}
                row |= {"wall": round(ours["wall"]), "cpu": round(ours["cpu"])}
                if scenario in CLASSIC and device == "cpu" and not args.no_jaxmarl:
                    smax = jaxmarl_speed(
                        args.jaxmarl_venv, "HeuristicEnemySMAX", copies, args.seconds, scenario=scenario
                    )
                    row |= {
                        "smax_wall": round(smax["agent_steps_wall"]),
                        "smax_cpu": round(smax["agent_steps_cpu"]),
                        "ratio_cpu": round(ours["cpu"] / smax["agent_steps_cpu"], 2),
                        "smax_compile_s": round(smax["compile_seconds"], 1),
                    }
                rows.append(row)
                print(row, flush=True)
    columns = {
        "scenario": "scenario",
        "device": "device",
        "copies": "copies",
        "wall": "ours (wall)",
        "cpu": "ours (CPU time)",
        "smax_wall": "SMAX (wall)",
        "smax_cpu": "SMAX (CPU time)",
        "ratio_cpu": "ours / SMAX (CPU time)",
        "smax_compile_s": "SMAX compile (s)",
    }
    write_results(
        args.out,
        "battle_speed.py",
        argv,
        "agent-steps per second (wall clock and process CPU time), random legal actions against the heuristic "
        "enemy, observations, state and masks built every step, auto-resets included; JaxMARL SMAX alongside",
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
