"""Compiled against eager environment steps: simple_spread beside JaxMARL and VMAS, and every other family.

Agent-steps per second (one agent's step counts one), random discrete actions, CPU:

- simple_spread at `--batch-sizes` copies: ours eager (`marl.make`), ours compiled (`marl.make(...,
  compile=True)`: torch.compile with inductor), JaxMARL's `MPE_simple_spread_v3` under jit + vmap (driven in
  its own virtual environment by benchmarks/jaxmarl_mpe_speed.py) and VMAS (as in benchmarks/mpe_speed.py);
  each step of ours is `env.step(env.sample_actions())` with `validate_actions=False`, auto-reset included;
- one id of every other family at `--family-batch-sizes` copies: compiled / eager.

Compile time is the wall time of a compiled environment's first reset and step (where torch.compile builds
its graphs) less that of an eager one. Timing as in benchmarks/mpe_speed.py: warm-up (for ours, through the
first episode end, so that every graph is built), then steps for at least `--seconds`.

    python benchmarks/compile_speed.py --out benchmarks/results/compile/compile_speed.json
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

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from mpe_speed import _fmt, _timed  # noqa: E402
from mpe_speed import vmas as vmas_speed  # noqa: E402

import marl  # noqa: E402
from marl.running.io import atomic_write_text  # noqa: E402

SPREAD = "mpe/simple_spread"
SKIPPED_FAMILIES = ("mpe", "mpe2", "smacv2")  # mpe: simple_spread is the table; mpe2, smacv2: external games
CPU = torch.device("cpu")
WARMUP_CAP = 200  # most warm-up steps spent waiting for a first episode end


def ours(env_id: str, num_envs: int, compiled: bool, args: argparse.Namespace) -> dict[str, float]:
    """Agent-steps/s of `num_envs` copies, and the wall time of the first reset and step."""
    start = time.perf_counter()
    env = marl.make(env_id, num_envs=num_envs, seed=0, compile=compiled)
    env.validate_actions = False
    env.reset()
    env.step(env.sample_actions())
    first = time.perf_counter() - start
    for _ in range(WARMUP_CAP):  # until an episode ends: the compiled statistics and post-reset view exist
        if bool(env.step(env.sample_actions()).done.any()):
            break
    agents = sum(spec.n for spec in env.group_specs.values())
    rate = _timed(lambda: env.step(env.sample_actions()), CPU, args.seconds, args.min_steps, args.warmup)
    return {"agent_steps_per_s": rate * num_envs * agents, "first_step_s": first}


def jaxmarl(batch_sizes: list[int], args: argparse.Namespace) -> dict:
    """JaxMARL's numbers from its own virtual environment (None when it is not there)."""
    if not Path(args.jaxmarl_python).is_file():
        print(f"JaxMARL skipped: no {args.jaxmarl_python}", file=sys.stderr)
        return {}
    command = [args.jaxmarl_python, str(ROOT / "benchmarks" / "jaxmarl_mpe_speed.py"), "--batch-sizes"]
    command += [str(b) for b in batch_sizes] + [
        "--seconds",
        str(args.seconds),
        "--min-steps",
        str(args.min_steps),
    ]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="*", default=[1, 16, 256, 4096, 30000])
    parser.add_argument("--family-batch-sizes", type=int, nargs="+", default=[1, 16, 256])
    parser.add_argument(
        "--families", nargs="*", default=None, help="ids of other families (default: first each)"
    )
    parser.add_argument("--peers", nargs="+", default=["jaxmarl", "vmas"], choices=["jaxmarl", "vmas"])
    parser.add_argument("--jaxmarl-python", default=".venv-jaxmarl/bin/python")
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--min-steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument(
        "--out", type=Path, default=None, help="write the results (JSON) and a .md table here"
    )
    args = parser.parse_args(argv)
    record = {
        "command": "python benchmarks/compile_speed.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, "
        f"torch {torch.__version__}, {torch.get_num_threads()} torch threads",
        "load_average_before": os.getloadavg(),
        "simple_spread": {},
        "families": {},
    }

    def save() -> None:  # after every measurement: a long run keeps what it has
        record["load_average_after"] = os.getloadavg()
        if args.out is not None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(args.out, json.dumps(record, indent=1) + "\n")

    peer = jaxmarl(args.batch_sizes, args) if "jaxmarl" in args.peers and args.batch_sizes else {}
    record["jaxmarl"] = {k: v for k, v in peer.items() if k != "results"}
    for b in args.batch_sizes:
        row = {"eager": ours(SPREAD, b, False, args), "compiled": ours(SPREAD, b, True, args)}
        if "vmas" in args.peers:
            row["vmas"] = {"agent_steps_per_s": vmas_speed(b, CPU, args)}
        if str(b) in peer.get("results", {}):
            row["jaxmarl"] = peer["results"][str(b)]
        record["simple_spread"][str(b)] = row
        print(b, json.dumps(row), flush=True)
        save()
    families = args.families
    if families is None:
        firsts = {}
        for env_id in marl.list_envs():
            firsts.setdefault(env_id.split("/")[0], env_id)
        families = [i for f, i in firsts.items() if f not in SKIPPED_FAMILIES]
    for env_id in families:
        record["families"][env_id] = rows = {}
        for b in args.family_batch_sizes:
            rows[str(b)] = {"eager": ours(env_id, b, False, args), "compiled": ours(env_id, b, True, args)}
            save()
        print(env_id, json.dumps(rows), flush=True)
    table = markdown(record)
    print(table)
    if args.out is not None:
        atomic_write_text(args.out.with_suffix(".md"), table + "\n")
    return record


def markdown(record: dict) -> str:
    """The two tables of docs/benchmarks.md from a result record."""

    def rate(cell: dict | None) -> float | None:
        return None if cell is None else cell["agent_steps_per_s"]

    lines = []
    if record["simple_spread"]:
        lines += [
            "| copies | ours eager | ours compiled | JaxMARL (jit + vmap) | VMAS | compiled / eager "
            "| compiled / JaxMARL | compile time (s): ours / JaxMARL |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
    for b, row in record["simple_spread"].items():
        eager, compiled, jax = rate(row["eager"]), rate(row["compiled"]), rate(row.get("jaxmarl"))
        ours_compile = row["compiled"]["first_step_s"] - row["eager"]["first_step_s"]
        jax_compile = f"{row['jaxmarl']['compile_s']:.1f}" if "jaxmarl" in row else "-"
        lines.append(
            f"| {int(b):,} | {_fmt(eager)} | {_fmt(compiled)} | {_fmt(jax)} | {_fmt(rate(row.get('vmas')))} "
            f"| {compiled / eager:.2f} | {f'{compiled / jax:.2f}' if jax else '-'} | {ours_compile:.1f} / {jax_compile} |"
        )
    if record["families"]:
        sizes = list(next(iter(record["families"].values())))
        lines += ["", "| compiled / eager | " + " | ".join(f"{int(b):,} copies" for b in sizes) + " |"]
        lines.append("|---|" + "---:|" * len(sizes))
    for env_id, rows in record["families"].items():
        cells = [
            f"{rate(rows[b]['compiled']) / rate(rows[b]['eager']):.2f}" if b in rows else "-" for b in sizes
        ]
        lines.append(f"| {env_id} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
