"""Measure the reference Neural MMO's speed: agent-steps per second at 128 agents on one core.

Runs in the reference's own virtual environment (see benchmarks/mmo_reference.py for the install) and never
imports the project:

    OMP_NUM_THREADS=1 taskset -c 0 .venv-nmmo/bin/python benchmarks/mmo_reference_speed.py

Preset: `nmmo.config.Default()` (the Medium map, 160x160 with a 128x128 centre, 128 players, 128 NPCs, every game
system on), full observations computed every step by `env.step` (tiles, entities, inventory, market,
communication, action masks). Every player gets a random legal action each tick: for each action argument one
index drawn uniformly from those its `ActionTargets` mask allows. Only `env.step` is timed (drawing the actions
is the driver's work, reported separately as `driver_s`). Both wall-clock (`agent_steps_per_s`) and this
process's CPU time (`agent_steps_per_cpu_s`, less disturbed when other jobs share the core) are recorded.

Two modes: `immortal` sets the reference's `IMMORTAL` flag (what its own tests/test_performance.py does), so the
population stays at 128 for the whole run; `mortal` plays the default rules (food and water are spent and
refilled), timed over ticks 6-20 only, before random players start to starve (food reaches 0 at tick 20), so
that all 128 are alive; it counts only the agents alive at each step. Writes
benchmarks/results/mmo/reference_speed.json with the load average (`uptime`), versions and the command.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def random_legal_actions(obs: dict, rng: np.random.Generator) -> dict:
    """One uniformly drawn allowed index per action argument, for every agent that has an observation."""
    actions = {}
    for agent, agent_obs in obs.items():
        per_agent = {}
        for action, arguments in agent_obs["ActionTargets"].items():
            per_agent[action] = {
                argument: int(rng.choice(np.flatnonzero(mask))) for argument, mask in arguments.items()
            }
        actions[agent] = per_agent
    return actions


def measure(immortal: bool, ticks: int, warmup: int, seed: int) -> dict:
    import nmmo

    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as maps_dir:
        overrides = {"PATH_MAPS": maps_dir, "MAP_N": 1, "IMMORTAL": immortal}
        config = type("Default", (nmmo.config.Default,), overrides)()
        env = nmmo.Env(config, seed=seed)
        obs, _ = env.reset(seed=seed)
    step_s = driver_s = step_cpu_s = 0.0
    agent_steps = 0
    alive = []
    for tick in range(warmup + ticks):
        start = time.perf_counter()
        actions = random_legal_actions(obs, rng)
        actions = {agent: action for agent, action in actions.items() if agent in env.realm.players}
        middle, middle_cpu = time.perf_counter(), time.process_time()
        obs, _, _, _, _ = env.step(actions)
        end, end_cpu = time.perf_counter(), time.process_time()
        if tick >= warmup:
            driver_s += middle - start
            step_s += end - middle
            step_cpu_s += end_cpu - middle_cpu
            agent_steps += len(actions)
            alive.append(len(actions))
    return {
        "mode": "immortal" if immortal else "mortal",
        "players": config.PLAYER_N,
        "npcs": config.NPC_N,
        "map_size": config.MAP_SIZE,
        "ticks_timed": ticks,
        "warmup_ticks": warmup,
        "agent_steps": agent_steps,
        "mean_alive_players": float(np.mean(alive)),
        "step_s": step_s,
        "step_cpu_s": step_cpu_s,
        "driver_s": driver_s,
        "agent_steps_per_s": agent_steps / step_s,
        "agent_steps_per_cpu_s": agent_steps / step_cpu_s,
        "env_steps_per_s": ticks / step_s,
        "agent_steps_per_s_including_driver": agent_steps / (step_s + driver_s),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ticks", type=int, default=300)
    parser.add_argument("--mortal-ticks", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "mmo" / "reference_speed.json"
    )
    args = parser.parse_args()
    import nmmo

    load_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    runs = [
        measure(True, args.ticks, args.warmup, args.seed),
        measure(False, args.mortal_ticks, args.warmup, args.seed),
    ]
    result = {
        "what": "reference Neural MMO env.step speed, Default preset (128 players, 128 NPCs), random legal actions",
        "reference": f"nmmo {nmmo.__version__}",
        "install": "python3.10 -m venv .venv-nmmo && .venv-nmmo/bin/pip install nmmo==2.1.2 "
        "(Python 3.10.13; the wheel builds its Cython extension; numpy 1.23.3 as pinned)",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cpu_affinity": sorted(os.sched_getaffinity(0)),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "command": " ".join(  # as run: pinned to one core by taskset, or not (benchmarks/mmo_speed.py)
            [f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')}"]
            + ([f"taskset -c {cores[0]}"] if len(cores := sorted(os.sched_getaffinity(0))) == 1 else [])
            + [".venv-nmmo/bin/python benchmarks/mmo_reference_speed.py", *sys.argv[1:]]
        ),
        "uptime_before": load_before,
        "uptime_after": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
        "runs": runs,
        "published": "3,000 agent-steps/s at 128 agents on one core (Suarez, MIT thesis, hdl 1721.1/156586)",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp, args.out)
    for run in runs:
        print(
            f"{run['mode']}: {run['agent_steps_per_s']:.0f} agent-steps/s wall, "
            f"{run['agent_steps_per_cpu_s']:.0f} per CPU second ({run['mean_alive_players']:.1f} alive)"
        )


if __name__ == "__main__":
    main()
