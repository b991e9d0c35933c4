"""Random-action throughput of the batched pathfinding environment against POGEMA, on CPU, in one run.

Both sides use the same map size, obstacle density, agent count, observation radius, mode and collision
system, and count one agent's step as one agent-step (observations computed every step, auto-reset included).
POGEMA runs one environment per process, so its rate does not depend on the batch size; it is measured again
right before each of our rows (paired measurements, since the load of a shared machine drifts), from its own
virtual environment (created on first use: pogema==1.4.0 pins old gymnasium/numpy) as a subprocess.

    python benchmarks/pathfinding_speed.py                         # full table (several minutes)
    python benchmarks/pathfinding_speed.py --agents 64 --batch-sizes 1 16 --seconds 1 --out table.md
    python benchmarks/pathfinding_speed.py --device cuda --no-pogema     # GPU rows (POGEMA runs on the CPU)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import marl
from marl.running.io import atomic_write_text

# the folder holding the marl and envs packages this script runs with: a checkout or an installed wheel's
PACKAGES = Path(marl.__file__).resolve().parents[1]
MAP_SIZE = {64: 32, 1024: 128}  # the sizes POGEMA's own speed figures use
POGEMA_MODE = {"finish": "finish", "classic": "nothing", "lifelong": "restart"}
POGEMA_WORKER = """
import json, sys, time
import numpy as np
from pogema import GridConfig, pogema_v0
a = json.loads(sys.argv[1])
env = pogema_v0(grid_config=GridConfig(num_agents=a["agents"], size=a["size"], density=a["density"],
    obs_radius=a["radius"], max_episode_steps=a["max_steps"], on_target=a["mode"],
    collision_system=a["collision"], seed=0))
env.reset()
rng = np.random.default_rng(0)
steps, start, cpu = 0, time.perf_counter(), time.process_time()
while time.perf_counter() - start < a["seconds"] or steps < 3:
    obs, reward, terminated, truncated, info = env.step(rng.integers(5, size=a["agents"]).tolist())
    steps += 1
    if all(terminated) or all(truncated):
        env.reset()
work = steps * a["agents"]
print(json.dumps({"wall": work / (time.perf_counter() - start), "cpu": work / (time.process_time() - cpu)}))
"""
OURS_WORKER = """
import json, sys, time
import torch
torch.set_num_threads(1)
import marl
a = json.loads(sys.argv[1])
env = marl.make("pathfinding/random", num_envs=a["batch"], seed=0, size=a["size"], density=a["density"], n_agents=a["agents"],
    obs_radius=a["radius"], mode=a["mode"], collision=a["collision"], max_steps=a["max_steps"], device=a["device"])
env.reset()
gen = torch.Generator(device=env.device).manual_seed(0)
sync = torch.cuda.synchronize if env.device.type == "cuda" else (lambda: None)
for _ in range(2):
    env.step(env.sample_actions(gen))
sync()
steps, start, cpu = 0, time.perf_counter(), time.process_time()
while time.perf_counter() - start < a["seconds"] or steps < 3:
    env.step(env.sample_actions(gen))
    steps += 1
    if steps % 10 == 0:
        sync()
sync()
work = steps * a["batch"] * a["agents"]
print(json.dumps({"wall": work / (time.perf_counter() - start), "cpu": work / (time.process_time() - cpu)}))
"""
TUNED_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(1 << 30), "MALLOC_TRIM_THRESHOLD_": str((1 << 31) - 1)}


def run_worker(python: str, code: str, args: dict, extra_env: dict | None = None) -> dict[str, float]:
    """Agent-steps per second by wall clock and by the worker's CPU time (robust on a shared machine)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(PACKAGES), **(extra_env or {})}
    done = subprocess.run(
        [python, "-c", code, json.dumps(args)], capture_output=True, text=True, env=env, cwd=PACKAGES
    )
    if done.returncode != 0:
        raise RuntimeError(f"benchmark worker failed ({python}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def pogema_python(venv: Path) -> str:
    python = venv / "bin" / "python"
    if not python.exists():
        print(
            f"creating {venv} with pogema==1.4.0 (its own environment: it pins gymnasium 0.28)",
            file=sys.stderr,
        )
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "pogema==1.4.0"], check=True)
    return str(python)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, nargs="+", default=[64, 1024], help="agents per copy")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4, 16, 64, 256, 1024, 4096])
    parser.add_argument("--density", type=float, default=0.3)
    parser.add_argument("--radius", type=int, default=5)
    parser.add_argument("--mode", choices=sorted(POGEMA_MODE), default="lifelong")
    parser.add_argument("--collision", choices=["priority", "block_both", "soft"], default="soft")
    parser.add_argument("--max-steps", type=int, default=256)
    parser.add_argument("--device", default="cpu", help="where our environment runs (POGEMA: always the CPU)")
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per cell of the table")
    parser.add_argument(
        "--max-obs-gb", type=float, default=2.0, help="skip batches whose observations exceed this"
    )
    parser.add_argument(
        "--tuned-malloc",
        action="store_true",
        help=f"also measure both sides with the environment {TUNED_MALLOC}",
    )
    parser.add_argument("--pogema-venv", type=Path, default=Path(".venv-pogema"), help="created on first use")
    parser.add_argument("--no-pogema", action="store_true")
    parser.add_argument("--out", type=Path, help="also write the markdown table here")
    args = parser.parse_args(argv)

    pogema = None if args.no_pogema else pogema_python(args.pogema_venv)
    settings = [("default allocator", {})] + (
        [("tuned glibc malloc", TUNED_MALLOC)] if args.tuned_malloc else []
    )
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    if args.device.startswith("cuda"):
        import torch

        machine += f", GPU {torch.cuda.get_device_name(torch.device(args.device))}"
    lines = [
        f"Ours on {args.device}. Random actions, mode {args.mode}, collision {args.collision}, density {args.density}, "
        f"radius {args.radius}, episodes of {args.max_steps} steps, 1 CPU thread per process; {machine}; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Agent-steps per second by wall clock and by the "
        "process's CPU time.",
        "",
        "| allocator | agents | map | copies | ours (wall) | ours (CPU) |"
        + (" POGEMA (wall) | POGEMA (CPU) | ratio (wall) | ratio (CPU) |" if pogema else ""),
        "|---|---|---|---|---|---|" + ("---|---|---|---|" if pogema else ""),
    ]
    for label, extra_env in settings:
        for agents in args.agents:
            size = MAP_SIZE.get(agents, max(8, int((agents * 16) ** 0.5)))
            common = dict(agents=agents, size=size, density=args.density, radius=args.radius,
                          max_steps=args.max_steps, collision=args.collision, seconds=args.seconds)  # fmt: skip
            for batch in args.batch_sizes:
                obs_gb = batch * agents * (3 * (2 * args.radius + 1) ** 2 + 2) * 4 / 1e9
                cells = [label, f"{agents}", f"{size}x{size}", f"{batch}"]
                if obs_gb > args.max_obs_gb:
                    cells += [f"skipped: {obs_gb:.1f} GB of observations per step > --max-obs-gb"]
                    lines.append("| " + " | ".join(cells) + " |")
                    continue
                # POGEMA is measured again right before each of our rows: the load of a shared machine drifts,
                # and a ratio only means something between measurements taken under the same conditions
                reference = None
                if pogema:
                    pogema_args = {**common, "mode": POGEMA_MODE[args.mode]}
                    reference = run_worker(pogema, POGEMA_WORKER, pogema_args, extra_env)
                ours_args = {**common, "mode": args.mode, "batch": batch, "device": args.device}
                ours = run_worker(sys.executable, OURS_WORKER, ours_args, extra_env)
                cells += [f"{ours['wall']:,.0f}", f"{ours['cpu']:,.0f}"]
                if reference:
                    cells += [f"{reference['wall']:,.0f}", f"{reference['cpu']:,.0f}"]
                    cells += [
                        f"{ours['wall'] / reference['wall']:.1f}x",
                        f"{ours['cpu'] / reference['cpu']:.1f}x",
                    ]
                lines.append("| " + " | ".join(cells) + " |")
                print(lines[-1], file=sys.stderr)
    table = "\n".join(lines) + "\n"
    print(table)
    if args.out:
        atomic_write_text(args.out, table)
    return table


if __name__ == "__main__":
    main()
