"""Throughput of the MMO world beside the reference's: agent-steps per second for 64 / 128 / 1,024 players per
copy x 1 / 16 / 256 copies, and memory per copy.

Players take uniformly random legal actions (drawn under the action masks, action checks on); NPCs play their
script; every observation (tile crop, entity set, own vector), the global state and the masks are built every
step, auto-resets included. Agent-steps = environment steps times players per copy. The reference, Neural MMO
2.1.2 (pure Python; it publishes about 3,000 agent-steps/s with 128 agents on one CPU core, J. Suarez's MIT
thesis, hdl.handle.net/1721.1/156586), is measured first in the same run by benchmarks/mmo_reference_speed.py
in its own virtual environment (`--reference-venv`; benchmarks/mmo_reference.py says how to make it): 128
players, random legal actions, full observations. The goal is 20x its agent-steps per CPU second at 128 agents;
the ratio column divides by the faster of its two measured modes (kept immortal, and the normal rules over
ticks 6-20). CPU time (this process's) is the measure on a shared machine; wall clock is recorded beside it.
Memory per copy counts the tensors the environment holds plus one step's outputs (observations, state, masks),
divided by the copies. A cell whose estimated memory passes `--max-gb` is skipped and listed as such.

    python benchmarks/mmo_speed.py --seconds 3 --reference-venv .venv-nmmo
    # writes benchmarks/results/mmo/mmo_speed.{json,md} and benchmarks/results/mmo/reference_speed.json
    python benchmarks/mmo_speed.py --presets medium --copies 1 16 --compile --reference-ticks 0 \
        --out benchmarks/results/mmo/mmo_speed_compiled    # compiled, against the recorded reference
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from pathlib import Path

import torch
from speedkit import ROOT, timed_rates, venv_python, write_results
from torch import Tensor

from envs.mmo import PRESETS, MMOEnv

PUBLISHED = 3000  # the reference's agent-steps/s at 128 agents on one core (Suarez's thesis)
REFERENCE_SCRIPT = ROOT / "benchmarks" / "mmo_reference_speed.py"
REFERENCE_RESULT = ROOT / "benchmarks" / "results" / "mmo" / "reference_speed.json"


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


def our_speed(
    preset: str, copies: int, device: str, seconds: float, compile: bool = False
) -> dict[str, float]:  # noqa: A002
    """Agent-steps per second (wall clock and process CPU time) of `copies` copies on `device`; `compile`: the
    steps through torch.compile (`BatchedEnv.compile()`), timed after 3 warm-up steps that build its graphs."""
    env = MMOEnv(PRESETS[preset](), num_envs=copies, device=device, seed=0)
    if compile:
        env.compile()
    env.reset()
    generator = torch.Generator(device=env.device).manual_seed(0)
    return timed_rates(
        lambda: env.step(env.sample_actions(generator)),
        copies * env.N,
        seconds,
        env.device,
        warmup=3 if compile else 1,
    )


def reference_speed(venv: Path, ticks: int) -> dict:
    """Run benchmarks/mmo_reference_speed.py in the reference's virtual environment (one thread); its result."""
    python = venv_python(venv, "nmmo==2.1.2")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([str(python), str(REFERENCE_SCRIPT), f"--ticks={ticks}"], check=True, env=env, cwd=ROOT)
    return json.loads(REFERENCE_RESULT.read_text())


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
    parser.add_argument("--reference-venv", type=Path, default=ROOT / ".venv-nmmo", help="nmmo 2.1.2's venv")
    parser.add_argument(
        "--reference-ticks",
        type=int,
        default=300,
        help="ticks the reference is timed over; 0: divide by the last recorded reference_speed.json instead",
    )
    parser.add_argument("--compile", action="store_true", help="our steps through torch.compile")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.reference_ticks > 0:
        reference = reference_speed(args.reference_venv, args.reference_ticks)
    else:
        reference = json.loads(REFERENCE_RESULT.read_text())
    reference_rate = max(run["agent_steps_per_cpu_s"] for run in reference["runs"])
    print(f"reference: {reference_rate:.0f} agent-steps per CPU second (the faster mode)", flush=True)
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
                    row.update(wall=f"skipped (estimated {3 * mb * copies / 1024:.1f} GB)")
                else:
                    speed = our_speed(preset, copies, device, args.seconds, args.compile)
                    row.update(wall=round(speed["wall"]), cpu=round(speed["cpu"]))
                    row.update(ratio_cpu=round(speed["cpu"] / reference_rate, 2))
                rows.append(row)
                print(row, flush=True)
    columns = {
        "preset": "preset",
        "agents": "agents",
        "map": "map",
        "device": "device",
        "copies": "copies",
        "wall": "agent-steps/s (wall)",
        "cpu": "agent-steps/s (CPU time)",
        "ratio_cpu": "x NM 2.1.2 (CPU time)",
        "mb_per_copy": "MB per copy",
    }
    write_results(
        args.out,
        "mmo_speed.py",
        argv,
        "agent-steps per second (wall clock and process CPU time), random legal actions, scripted NPCs, "
        "observations, state and masks built every step, auto-resets included; MB per copy held and output",
        rows,
        columns,
        devices=args.devices,
        note=args.note,
        reference=f"{reference['reference']}: {reference_rate:.0f} agent-steps per CPU second at 128 agents, the "
        "faster of its modes, measured right before (benchmarks/results/mmo/reference_speed.json); published: "
        f"{PUBLISHED:,} agent-steps/s",
        reference_runs={run["mode"]: round(run["agent_steps_per_cpu_s"]) for run in reference["runs"]},
        torch_threads=args.threads,
        compiled=args.compile,
        seconds_per_cell=args.seconds,
    )
    return rows


if __name__ == "__main__":
    main()
