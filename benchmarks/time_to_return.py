"""Time to return: wall-clock and environment steps until MAPPO on simple_spread reaches a fixed return, for this
suite's trainer, JaxMARL's MAPPO baseline and BenchMARL's MAPPO, one run at a time on the same machine.

    python benchmarks/time_to_return.py [--libraries marl jaxmarl benchmarl] [--seeds 0 1 2] [--num-envs 16]
        [--threshold -22] [--window 20000] [--cap-seconds 300]
        [--jaxmarl-python .venv-jaxmarl/bin/python] [--jaxmarl-baseline JAXMARL/baselines/MAPPO/mappo_rnn_mpe.py]
        [--benchmarl-python .venv-benchmarl/bin/python] [--out benchmarks/results/time_to_return]

Each library trains in its own process, started with its own virtual environment's python (`ttr_marl.py`,
`ttr_jaxmarl.py`, `ttr_benchmarl.py` beside this file), with one CPU thread. The runner prints one JSON line per
report of the library's own training log, `{"steps": environment steps so far, "return": mean per-agent
return of the training episodes that ended since the last report}`; the driver timestamps every line on its own
clock from the moment it starts the process (imports, environment construction and JIT compilation count). The
return at a report is the mean of the reports that lie within the last `--window` environment steps, each
weighted by the steps it covers; the run has reached the threshold at the first report where that window is full and its mean is
at least `--threshold`. The process is then stopped, or at `--cap-seconds`, whichever comes first.

Writes `<library>_seed<k>.json` per run (every report, the crossing, the load average) and `summary.json` and
`summary.md` (median over seeds), atomically; a run whose file exists is not run again (delete it to redo it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from marl.running.io import atomic_write_text

HERE = Path(__file__).resolve().parent
LIBRARIES = ("marl", "jaxmarl", "benchmarl")
# one thread per process in every library (torch, OpenMP / MKL, XLA's CPU backend)
SINGLE_THREAD = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false --xla_force_host_platform_device_count=1",
    "JAX_PLATFORMS": "cpu",
}


def window_return(records: list[dict[str, float]], index: int, window: int) -> float | None:
    """Mean return of the reports that lie within the last `window` environment steps up to report `index` (the
    report itself at least), each weighted by the steps it covers (since the report before it); None while fewer
    than `window` steps were reported."""
    end = records[index]["steps"]
    if end < window:
        return None
    total, weight = 0.0, 0.0
    for i in range(index, -1, -1):
        before = records[i - 1]["steps"] if i > 0 else 0.0
        if before < end - window and i < index:
            break
        covered = records[i]["steps"] - before
        total += records[i]["return"] * covered
        weight += covered
        if before <= end - window:
            break
    return total / weight


def first_crossing(records: list[dict[str, float]], threshold: float, window: int) -> dict[str, float] | None:
    """The first report whose window return is at least `threshold`: its seconds, steps and window return."""
    for i, record in enumerate(records):
        value = window_return(records, i, window)
        if value is not None and value >= threshold:
            return {"seconds": record["seconds"], "steps": record["steps"], "window_return": value}
    return None


def parse_report(line: str, seconds: float) -> dict[str, float] | None:
    """A runner's stdout line as a timed report; None for anything that is not one (config, library output)."""
    start = line.find("{")  # a progress bar may share the line
    try:
        value = json.loads(line[start:]) if start >= 0 else None
    except json.JSONDecodeError:
        return None
    if not isinstance(value, dict) or "steps" not in value or "return" not in value:
        return None
    if value["return"] != value["return"]:  # NaN: no episode ended in this report
        return None
    return {"seconds": round(seconds, 3), "steps": float(value["steps"]), "return": float(value["return"])}


def command(library: str, seed: int, args: argparse.Namespace) -> list[str]:
    """The runner's command line in the library's own virtual environment."""
    common = ["--seed", str(seed), "--num-envs", str(args.num_envs)]
    if library == "marl":
        return [args.marl_python, str(HERE / "ttr_marl.py"), *common]
    if library == "jaxmarl":
        if args.jaxmarl_baseline is None:
            raise SystemExit(
                "--jaxmarl-baseline: the path of JaxMARL's baselines/MAPPO/mappo_rnn_mpe.py is needed"
            )
        return [
            args.jaxmarl_python,
            str(HERE / "ttr_jaxmarl.py"),
            "--baseline",
            args.jaxmarl_baseline,
            *common,
        ]
    if library == "benchmarl":
        return [args.benchmarl_python, str(HERE / "ttr_benchmarl.py"), *common]
    raise SystemExit(f"unknown library {library!r}; expected one of {', '.join(LIBRARIES)}")


def run_one(library: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """Start the runner, timestamp its reports, stop it at the threshold or the cap; the run's record."""
    argv = command(library, seed, args)
    env = {**os.environ, **SINGLE_THREAD, "PYTHONUNBUFFERED": "1"}
    if (HERE.parent / "marl").is_dir():  # a checkout: its marl, not another installed one, for ttr_marl.py
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parent), os.environ.get("PYTHONPATH")]))
    load_before = os.getloadavg()
    start = time.monotonic()
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=HERE.parent
    )
    lines: queue.Queue[tuple[float, str | None]] = queue.Queue()

    def read() -> None:
        for line in process.stdout:
            lines.put((time.monotonic() - start, line))
        lines.put((time.monotonic() - start, None))

    threading.Thread(target=read, daemon=True).start()
    errors: list[str] = []
    threading.Thread(target=lambda: errors.extend(process.stderr), daemon=True).start()
    records: list[dict[str, float]] = []
    crossing, stopped = None, "the runner exited"
    while True:
        remaining = args.cap_seconds - (time.monotonic() - start)
        if remaining <= 0:
            stopped = "cap"
            break
        try:
            seconds, line = lines.get(timeout=remaining)
        except queue.Empty:
            continue
        if line is None:
            break
        report = parse_report(line, seconds)
        if report is None:
            continue
        records.append(report)
        value = window_return(records, len(records) - 1, args.window)
        if value is not None and value >= args.threshold:
            crossing = {"seconds": report["seconds"], "steps": report["steps"], "window_return": value}
            stopped = "threshold"
            break
    elapsed = time.monotonic() - start
    if stopped == "the runner exited":  # its output ended: let it finish exiting, to read its exit status
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if stopped == "the runner exited" and process.returncode:
        stopped = f"the runner failed (exit {process.returncode})"
    return {
        "library": library,
        "seed": seed,
        "num_envs": args.num_envs,
        "threshold": args.threshold,
        "window_steps": args.window,
        "cap_seconds": args.cap_seconds,
        "command": argv,
        "reached": crossing is not None,
        "seconds_to_threshold": crossing["seconds"] if crossing else None,
        "steps_to_threshold": crossing["steps"] if crossing else None,
        "window_return_at_crossing": crossing["window_return"] if crossing else None,
        "stopped": stopped,
        "seconds": round(elapsed, 3),
        "first_report_seconds": records[0]["seconds"] if records else None,
        "steps": records[-1]["steps"] if records else 0,
        "last_window_return": window_return(records, len(records) - 1, args.window) if records else None,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "stderr_tail": "".join(errors)[-3000:] if not records or stopped.startswith("the runner") else "",
        "reports": records,
    }


def training_rate(result: dict[str, Any]) -> float | None:
    """Environment steps per second between the first and the last report: the speed once started and compiled."""
    reports = result["reports"]
    if len(reports) < 2 or reports[-1]["seconds"] <= reports[0]["seconds"]:
        return None
    return (reports[-1]["steps"] - reports[0]["steps"]) / (reports[-1]["seconds"] - reports[0]["seconds"])


def final_return(result: dict[str, Any]) -> float | None:
    """The window return at the run's last report (over all its steps when there were fewer than a window)."""
    reports = result["reports"]
    if not reports:
        return None
    return window_return(reports, len(reports) - 1, min(result["window_steps"], int(reports[-1]["steps"])))


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarise(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per library: runs, runs that reached the threshold, median seconds and steps over those that did."""
    summary: dict[str, dict[str, Any]] = {}
    for library in dict.fromkeys(r["library"] for r in results):
        runs = [r for r in results if r["library"] == library]
        reached = [r for r in runs if r["reached"]]
        summary[library] = {
            "runs": len(runs),
            "reached": len(reached),
            "median_seconds": statistics.median(r["seconds_to_threshold"] for r in reached)
            if reached
            else None,
            "median_steps": statistics.median(r["steps_to_threshold"] for r in reached) if reached else None,
            "seconds": [r["seconds_to_threshold"] for r in runs],
            "steps": [r["steps_to_threshold"] for r in runs],
            "steps_run": [r["steps"] for r in runs],
            "median_first_report_seconds": _median([r["first_report_seconds"] for r in runs]),
            "median_steps_per_second": _median([training_rate(r) for r in runs]),
            "final_returns": [final_return(r) for r in runs],
            "load_average_1min": [round(r["load_average_before"][0], 2) for r in runs],
        }
    return summary


def table(summary: dict[str, dict[str, Any]], settings: dict[str, Any]) -> str:
    """The markdown table of docs/benchmarks.md's "Time to return" section."""

    def number(value: float | None, digits: int = 0, missing: str = "not reached") -> str:
        return missing if value is None else f"{value:,.{digits}f}"

    lines = [
        f"MAPPO on simple_spread, {settings['num_envs']} copies, threshold {settings['threshold']} (mean per-agent "
        f"training return over the last {settings['window']:,} steps), cap {settings['cap_seconds']} s per run, "
        f"one thread per process, {settings['machine']}",
        "",
        "| library | reached | median seconds | median steps | per seed: seconds (steps) | first report (s) "
        "| steps/s after it | return at the end, per seed | load |",
        "|---|---:|---:|---:|---|---:|---:|---|---|",
    ]
    for library, row in summary.items():
        per_seed = ", ".join(
            f"{number(s)} ({number(n)})" if s is not None else f"not reached in {number(run)} steps"
            for s, n, run in zip(row["seconds"], row["steps"], row["steps_run"], strict=True)
        )
        lines.append(
            f"| {library} | {row['reached']}/{row['runs']} | {number(row['median_seconds'])} | "
            f"{number(row['median_steps'])} | {per_seed} | {number(row['median_first_report_seconds'], 1, '-')} | "
            f"{number(row['median_steps_per_second'], 0, '-')} | "
            f"{', '.join(number(x, 1, '-') for x in row['final_returns'])} | "
            f"{', '.join(str(x) for x in row['load_average_1min'])} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--libraries", nargs="+", default=list(LIBRARIES), choices=LIBRARIES)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--num-envs", type=int, default=16, help="parallel copies in every library")
    parser.add_argument("--threshold", type=float, default=-22.0, help="mean per-agent episode return")
    parser.add_argument(
        "--window", type=int, default=20_000, help="environment steps the return is averaged over"
    )
    parser.add_argument("--cap-seconds", type=float, default=300.0, help="wall-clock limit per run")
    parser.add_argument("--marl-python", default=sys.executable, help="python with this project installed")
    parser.add_argument("--jaxmarl-python", default=".venv-jaxmarl/bin/python")
    parser.add_argument("--jaxmarl-baseline", help="JaxMARL checkout's baselines/MAPPO/mappo_rnn_mpe.py")
    parser.add_argument("--benchmarl-python", default=".venv-benchmarl/bin/python")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "time_to_return")
    args = parser.parse_args()
    results = []
    for library in args.libraries:
        for seed in args.seeds:
            path = args.out / f"{library}_seed{seed}.json"
            if path.exists():
                result = json.loads(path.read_text())
            else:
                result = run_one(library, seed, args)
                atomic_write_text(path, json.dumps(result, indent=1) + "\n")
            print(
                f"{library} seed {seed}: {result['stopped']}, {result['seconds_to_threshold']} s, "
                f"{result['steps_to_threshold']} steps (load {result['load_average_before'][0]:.2f})",
                flush=True,
            )
            results.append(result)
    settings = {
        "num_envs": args.num_envs,
        "threshold": args.threshold,
        "window": args.window,
        "cap_seconds": args.cap_seconds,
        "machine": f"{os.cpu_count()}-core {platform.machine()} CPU",
    }
    summary = summarise(results)
    atomic_write_text(
        args.out / "summary.json", json.dumps({"settings": settings, "libraries": summary}, indent=1)
    )
    atomic_write_text(args.out / "summary.md", table(summary, settings))
    print(table(summary, settings))


if __name__ == "__main__":
    main()
