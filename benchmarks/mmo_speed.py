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
from pathlib import Path

import torch
from speedkit import ROOT, timed_rates, write_results
from torch import Tensor

from envs.mmo import PRESETS, MMOEnv

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
    return timed_rates(
        lambda: env.step(env.sample_actions(generator)), copies * env.N, seconds, env.device, warmup=1
    )


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
                    row.update(wall=f"skipped (estimated {3 * mb * copies / 1024:.1f} GB)")
                else:
                    speed = our_speed(preset, copies, device, args.seconds)
                    row.update(wall=round(speed["wall"]), cpu=round(speed["cpu"]))
                    row.update(ratio_cpu=round(speed["cpu"] / REFERENCE, 2))
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
        "ratio_cpu": "x reference (CPU time)",
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
        reference=f"{REFERENCE} agent-steps/s at 128 agents on one core (Neural MMO 2.x, published)",
        torch_threads=args.threads,
        seconds_per_cell=args.seconds,
    )
    return rows


if __name__ == "__main__":
    main()
