"""Throughput of the MMO world: agent-steps per second for 64 / 128 / 1,024 players per copy x 1 / 16 / 256
copies, and memory per copy.

Players take uniformly random legal actions (drawn under the action masks, action checks on); NPCs play their
script; every observation (tile crop, entity set, own vector), the global state and the masks are built every
step, auto-resets included. Agent-steps = environment steps times players per copy. The reference (Neural MMO
2.x, pure Python) publishes about 3,000 agent-steps/s with 128 agents on one CPU core (J. Suarez's MIT thesis,
hdl.handle.net/1721.1/156586); the goal here is 20x that, i.e. 60,000. Memory per copy counts the tensors the
environment holds plus one step's outputs (observations, state, masks), divided by the copies. A cell whose
estimated memory passes `--max-gb` is skipped and listed as such.

    python benchmarks/mmo_speed.py --seconds 3    # writes benchmarks/results/mmo/mmo_speed.{json,md}
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import torch
from torch import Tensor

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from envs.mmo import PRESETS, MMOEnv  # noqa: E402
from marl.running.io import atomic_write_text  # noqa: E402

REFERENCE = 3000  # agent-steps/s, 128 agents, one core (published)


def tensor_bytes(obj: object) -> int:
    """Bytes of every tensor in `obj` (a tensor, or nested dicts / lists / dataclasses of them)."""
    if isinstance(obj, Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(tensor_bytes(v) for v in obj)
    if hasattr(obj, "__dataclass_fields__"):
        return sum(tensor_bytes(getattr(obj, name)) for name in obj.__dataclass_fields__)
    return 0


def memory_per_copy(preset: str, device: str) -> float:
    """MB per copy: the environment's tensors and one step's outputs, measured on 2 copies."""
    env = MMOEnv(PRESETS[preset](), num_envs=2, device=device, seed=0)
    step = env.reset()
    held = sum(tensor_bytes(v) for k, v in vars(env).items() if k != "_view_cache")
    out = tensor_bytes(step.groups) + tensor_bytes([step.state, step.truncated, step.done])
    return (held + out) / 2 / 2**20


def our_speed(preset: str, copies: int, device: str, seconds: float) -> dict[str, float]:
    """Agent-steps per second (wall clock and process CPU time) of `copies` copies on `device`."""
    env = MMOEnv(PRESETS[preset](), num_envs=copies, device=device, seed=0)
    env.reset()
    generator = torch.Generator(device=env.device).manual_seed(0)
    env.step(env.sample_actions(generator))  # warm-up
    sync = torch.cuda.synchronize if env.device.type == "cuda" else (lambda: None)
    sync()
    steps, start, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds or steps < 3:
        env.step(env.sample_actions(generator))
        steps += 1
    sync()
    work = steps * copies * env.N
    return {"wall": work / (time.perf_counter() - start), "cpu": work / (time.process_time() - cpu)}


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", default=["small", "medium", "large"])
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 16, 256])
    parser.add_argument("--devices", nargs="+", default=["cpu"])
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per cell of the table")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--max-gb", type=float, default=6.0, help="skip cells estimated to need more memory")
    parser.add_argument("--note", default="", help="about the machine, e.g. 'shared with other jobs'")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "mmo" / "mmo_speed")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for preset in args.presets:
        config = PRESETS[preset]()
        for device in args.devices:
            mb = memory_per_copy(preset, device)
            for copies in args.copies:
                row = {
                    "preset": preset,
                    "agents": config.n_agents,
                    "map": config.map_size,
                    "device": device,
                    "copies": copies,
                    "mb_per_copy": round(mb, 2),
                }
                # the step's temporaries (crops of every entity, one-hot tiles) take about 3x what is held
                if 3 * mb * copies / 1024 > args.max_gb:
                    row.update(wall=None, cpu=None, skipped=f"estimated {3 * mb * copies / 1024:.1f} GB")
                else:
                    speed = our_speed(preset, copies, device, args.seconds)
                    row.update(wall=round(speed["wall"]), cpu=round(speed["cpu"]))
                rows.append(row)
                print(rows[-1], file=sys.stderr, flush=True)
    machine = f"{platform.machine()}, {os.cpu_count()} logical CPUs"
    if "cuda" in args.devices:
        machine += f", {torch.cuda.get_device_name()}"
    load = os.getloadavg()
    meta = {
        "what": "agent-steps per second (wall clock and process CPU time), random legal actions, scripted NPCs, "
        "observations, state and masks built every step, auto-resets included; MB per copy held and output",
        "reference": f"{REFERENCE} agent-steps/s at 128 agents on one core (Neural MMO 2.x, published)",
        "machine": machine + (f" ({args.note})" if args.note else ""),
        "load_average": [round(x, 2) for x in load],
        "torch": torch.__version__,
        "torch_threads": args.threads,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "seconds_per_cell": args.seconds,
        "command": shlex.join(
            ["python", "benchmarks/mmo_speed.py", *(sys.argv[1:] if argv is None else argv)]
        ),
    }
    atomic_write_text(args.out.with_suffix(".json"), json.dumps({**meta, "rows": rows}, indent=1) + "\n")
    lines = [
        "| preset | agents | map | device | copies | agent-steps/s (wall) | agent-steps/s (CPU time) | x reference (CPU time) | MB per copy |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if r["wall"] is None:
            speeds = f"skipped ({r['skipped']}) | | "
        else:
            speeds = f"{r['wall']:,} | {r['cpu']:,} | {r['cpu'] / REFERENCE:.1f}"
        lines.append(
            f"| {r['preset']} | {r['agents']:,} | {r['map']:,} | {r['device']} | {r['copies']:,} | {speeds} | "
            f"{r['mb_per_copy']:,} |"
        )
    lines += [
        "",
        f"Machine: {meta['machine']}, load average {meta['load_average']}, torch {meta['torch']}, "
        f"{args.threads} torch thread(s).",
        "",
        f"Command: `{meta['command']}`",
        "",
    ]
    atomic_write_text(args.out.with_suffix(".md"), "\n".join(lines))
    print("\n".join(lines))
    return rows


if __name__ == "__main__":
    main()
