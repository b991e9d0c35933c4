"""Throughput of batched battles against JaxMARL's SMAX: agent-steps per second at several batch sizes.

The learners play uniformly random legal actions (drawn under the action masks the previous step returned;
action checks off, as in benchmarks/compile_speed.py) against the built-in heuristic enemy; every
observation, the state and the masks are built every step, auto-resets included. Agent-steps = environment
steps times allied agents. Ours runs eager and compiled (`env.compile()`, what `marl.make(..., compile=True)`
does: torch.compile with inductor); the compile time is the compiled copy's warm-up (reset, then steps
through the first episode end, which builds every graph) less the eager copy's. JaxMARL's
`HeuristicEnemySMAX` plays the same classic maps with random legal actions, `jit(vmap(step))` over copies,
100 steps per jitted call (benchmarks/jaxmarl_speed.py, from its own virtual environment; its compile time
is recorded apart); both sides use one CPU thread. Procedural scenarios are ours alone (SMAX draws its
SMACv2-style units differently).

    python benchmarks/battle_speed.py --seconds 2 --jaxmarl-venv /path/to/venv-with-jaxmarl
    # writes benchmarks/results/battle/battle_speed.{json,md}
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from speedkit import ROOT, jaxmarl_speed, timed_rates, write_results

from envs.battle import BattleEnv
from envs.battle.scenarios import CLASSIC
from marl import Step
from marl.core.env import sample_actions

WARMUP_CAP = 300  # most warm-up steps spent waiting for a first episode end (every limit is below 300)


def our_speed(scenario: str, copies: int, device: str, seconds: float, compiled: bool) -> dict[str, float]:
    """Agent-steps per second (wall clock and process CPU time) of `copies` copies on `device`, and the wall
    time of the warm-up: reset, then steps through the first episode end."""
    start = time.perf_counter()
    env = BattleEnv(scenario, num_envs=copies, device=device, seed=0)
    if compiled:
        env.compile()
    env.validate_actions = False
    generator = torch.Generator(device=env.device).manual_seed(0)
    last: Step = env.reset()

    def step() -> Step:
        nonlocal last
        masks = {g: s.action_mask for g, s in last.groups.items()}
        last = env.step(sample_actions(env.group_specs, copies, masks, generator, env.device))
        return last

    for _ in range(WARMUP_CAP):
        if bool(step().done.any()):
            break
    warmup = time.perf_counter() - start
    return timed_rates(step, copies * env.n_allies, seconds, env.device) | {"warmup_s": warmup}


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
    parser.add_argument("--no-compiled", action="store_true", help="measure ours eager only")
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
                eager = our_speed(scenario, copies, device, args.seconds, compiled=False)
                row = {"scenario": scenario, "device": device, "copies": copies}
                row |= {"wall": round(eager["wall"]), "cpu": round(eager["cpu"])}
                if not args.no_compiled:
                    compiled = our_speed(scenario, copies, device, args.seconds, compiled=True)
                    row |= {
                        "compiled_wall": round(compiled["wall"]),
                        "compiled_cpu": round(compiled["cpu"]),
                        "compile_s": round(compiled["warmup_s"] - eager["warmup_s"], 1),
                    }
                if scenario in CLASSIC and device == "cpu" and not args.no_jaxmarl:
                    smax = jaxmarl_speed(
                        args.jaxmarl_venv, "HeuristicEnemySMAX", copies, args.seconds, scenario=scenario
                    )
                    row |= {
                        "smax_wall": round(smax["agent_steps_wall"]),
                        "smax_cpu": round(smax["agent_steps_cpu"]),
                        "ratio_cpu": round(eager["cpu"] / smax["agent_steps_cpu"], 2),
                        "smax_compile_s": round(smax["compile_seconds"], 1),
                    }
                    if "compiled_cpu" in row:
                        row["ratio_compiled_cpu"] = round(row["compiled_cpu"] / smax["agent_steps_cpu"], 2)
                rows.append(row)
                print(row, flush=True)
    columns = {
        "scenario": "scenario",
        "device": "device",
        "copies": "copies",
        "wall": "ours eager (wall)",
        "cpu": "ours eager (CPU time)",
        "compiled_wall": "ours compiled (wall)",
        "compiled_cpu": "ours compiled (CPU time)",
        "smax_wall": "SMAX (wall)",
        "smax_cpu": "SMAX (CPU time)",
        "ratio_cpu": "eager / SMAX (CPU time)",
        "ratio_compiled_cpu": "compiled / SMAX (CPU time)",
        "compile_s": "ours compile (s)",
        "smax_compile_s": "SMAX compile (s)",
    }
    write_results(
        args.out,
        "battle_speed.py",
        argv,
        "agent-steps per second (wall clock and process CPU time), random legal actions (under the previous "
        "step's masks, action checks off) against the heuristic enemy, observations, state and masks built every "
        "step, auto-resets included; ours eager and compiled (torch.compile, inductor), JaxMARL SMAX alongside; "
        "compile times (s) apart",
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
