"""What the speed scripts share: the timing loop, peers run as subprocesses, and the result files.

A speed script measures rows (dicts), then `write_results` writes `<out>.json` (the rows with the machine,
versions, date and the exact command) and `<out>.md` (the table the docs quote), both atomically.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from marl.running.io import atomic_write_text  # noqa: E402

JAXMARL_WORKER = ROOT / "benchmarks" / "jaxmarl_speed.py"


def rates(work: int, start: float, cpu: float) -> dict[str, float]:
    """`work` per second since `start` (perf_counter) by wall clock and since `cpu` (process_time) by CPU time."""
    return {"wall": work / (time.perf_counter() - start), "cpu": work / (time.process_time() - cpu)}


def timed_rates(
    step: Callable[[], Any], work_per_step: int, seconds: float, device: torch.device, warmup: int = 3
) -> dict[str, float]:
    """Call `step` for at least `seconds` (and 5 times) after `warmup` calls; work per second (wall, CPU time)."""
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    for _ in range(warmup):
        step()
    sync()
    steps, start, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds or steps < 5:
        step()
        steps += 1
        if steps % 20 == 0:
            sync()
    sync()
    return rates(steps * work_per_step, start, cpu)


def run_worker(python: str | Path, argv: Sequence[str]) -> dict:
    """Run `python argv...` with one thread and this repository on the path; the JSON of its last stdout line."""
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "benchmarks")]),
    }
    done = subprocess.run([str(python), *argv], capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark worker failed ({python} {shlex.join(argv)}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def venv_python(venv: Path, install: str) -> Path:
    """The Python of a peer's virtual environment, or a clear stop saying how to create it."""
    python = venv / "bin" / "python"
    if not python.exists():
        raise SystemExit(
            f"no virtual environment at {venv}; create it with: python -m venv {venv} && "
            f"{python} -m pip install {install}"
        )
    return python


def jaxmarl_speed(venv: Path, env: str, copies: int, seconds: float, **options: str) -> dict:
    """JaxMARL's `jit(vmap(step))` throughput of `env` (see benchmarks/jaxmarl_speed.py), one XLA thread."""
    python = venv_python(venv, "jaxmarl==0.2.0")
    flags = [f"--{key}={value}" for key, value in options.items()]
    return run_worker(
        python, [str(JAXMARL_WORKER), env, f"--copies={copies}", f"--seconds={seconds}", *flags]
    )


def write_results(
    out: Path,
    script: str,
    argv: Sequence[str] | None,
    what: str,
    rows: list[dict],
    columns: dict[str, str],
    devices: Sequence[str] = ("cpu",),
    note: str = "",
    **meta: Any,
) -> dict:
    """Write `out`.json (rows and metadata) and `out`.md (a table of `columns`: {row key: header}).

    Integers print with thousands separators and floats keyed `ratio*` as `1.5x`; the command recorded is
    `python benchmarks/<script> <argv>` (the process's own arguments when `argv` is None)."""
    machine = f"{platform.machine()}, {os.cpu_count()} logical CPUs"
    if "cuda" in devices and torch.cuda.is_available():
        machine += f", {torch.cuda.get_device_name()}"
    meta = {
        "what": what,
        "machine": machine + (f" ({note})" if note else ""),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        **meta,
        "command": shlex.join(["python", f"benchmarks/{script}", *(sys.argv[1:] if argv is None else argv)]),
    }
    atomic_write_text(out.with_suffix(".json"), json.dumps({**meta, "rows": rows}, indent=1) + "\n")

    def cell(key: str, value: Any) -> str:
        if isinstance(value, float) and key.startswith("ratio"):
            return f"{value:.2f}x" if value < 1 else f"{value:.1f}x"
        return f"{value:,}" if isinstance(value, (int, float)) else str(value)

    lines = ["| " + " | ".join(columns.values()) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(k, r.get(k, "")) for k in columns) + " |" for r in rows]
    lines += [
        "",
        f"Machine: {meta['machine']}, load average {meta['load_average']}, torch {meta['torch']}.",
        "",
    ]
    lines += [f"Command: `{meta['command']}`", ""]
    atomic_write_text(out.with_suffix(".md"), "\n".join(lines))
    print("\n".join(lines))
    return meta
