"""`marl report DIR... [--out DIR]`: the report on a benchmark suite's runs (Agarwal et al. 2021's protocol).

It reads the marl-eval JSON (results.json) of every run under the given folders (or merged marl-eval files),
checks the grid is complete against the suite the folder was run from (`suite.yaml`, written by `marl bench`;
without one, every algorithm x task x seed seen), normalises each task's scores (min-max across algorithms,
runs and evaluations, as marl-eval does, or against the suite's declared [random, reference] scores) and
writes:

- `report.md`: the grid and what is missing, per-task final return with 95% intervals, aggregate IQM, mean,
  median and optimality gap with stratified-bootstrap intervals, probability of improvement for chosen pairs;
- `summary.csv`: one row per run (final return, normalised score);
- `marl_eval.json`: every run merged into one marl-eval file (`marl report` reads it back from the folder);
- `plots/`: per-task final return, aggregate intervals, performance profiles, probability of improvement and
  sample-efficiency curves (PNG).

The intervals come from rliable's stratified bootstrap, which draws from numpy's global generator whatever
`random_state` it is given: every call here seeds that generator first (and restores it after), so a report is
the same every time it is made from the same runs.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from marl.running.io import atomic_write_text

METRICS = ("IQM", "mean", "median", "optimality gap")
CHECKPOINTS = "checkpoints"
MERGED = "marl_eval.json"  # every run of a report in one marl-eval file


@dataclass
class Run:
    """One run of the grid: its evaluations (step, mean return, elapsed seconds) and its final score."""

    env: str
    task: str
    algo: str
    seed: str  # seed_<k>, marl-eval's key
    steps: list[tuple[int, float, float]]
    absolute: (
        list[float] | None
    )  # per-episode returns of the final evaluation; None: the run has not finished
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def final(self) -> float:
        return float(np.mean(self.absolute)) if self.absolute else float("nan")

    @property
    def speed(self) -> float:
        """Environment steps per second from the first evaluation to the last (evaluations included)."""
        (first, _, start), (last, _, end) = self.steps[0], self.steps[-1]
        return (last - first) / max(end - start, 1e-9)


@dataclass
class Grid:
    """The runs and the grid they should fill."""

    runs: dict[tuple[str, str, str], Run]  # (task, algo, seed) -> run
    algos: list[str]
    tasks: list[str]
    seeds: list[str]
    suite: dict[str, Any]

    def missing(self) -> list[tuple[str, str, str]]:
        """Cells with no run or with a run that has not finished (no absolute metric)."""
        return [
            (t, a, s)
            for t in self.tasks
            for a in self.algos
            for s in self.seeds
            if (t, a, s) not in self.runs or self.runs[t, a, s].absolute is None
        ]

    def complete_tasks(self) -> list[str]:
        gaps = {t for t, _, _ in self.missing()}
        return [t for t in self.tasks if t not in gaps]

    def cells(self, task: str, algo: str) -> list[Run]:
        return [self.runs[task, algo, s] for s in self.seeds if (task, algo, s) in self.runs]


def load(paths: list[str | Path], metric: str | None = None) -> Grid:
    """Every run under `paths` (folders searched for results.json, or marl-eval files), and the grid the
    first `suite.yaml` found among the folders declares."""
    import yaml

    layouts: list[tuple[Path, dict]] = []
    suite: dict[str, Any] = {}
    for path in map(Path, paths):
        if path.is_file():
            layouts.append((path, _read_json(path)))
        elif path.is_dir():
            if not suite and (path / "suite.yaml").is_file():
                suite = yaml.safe_load((path / "suite.yaml").read_text())
            found = [p for p in sorted(path.rglob("results.json")) if CHECKPOINTS not in p.parts]
            if not found and (path / MERGED).is_file():  # a report's folder: the runs merged into one file
                found = [path / MERGED]
            layouts += [(p, _read_json(p)) for p in found]
        else:
            raise FileNotFoundError(f"{path} does not exist: give run folders or marl-eval JSON files")
    metric = metric or suite.get("report", {}).get("metric", "return")
    key_name = "return" if metric == "speed" else metric
    runs: dict[tuple[str, str, str], Run] = {}
    for source, layout in layouts:
        for env, tasks in layout.items():
            for task, algos in tasks.items():
                for algo, seeds in algos.items():
                    for seed, evaluations in seeds.items():
                        key = (task, algo, seed)
                        if key in runs:
                            raise ValueError(
                                f"{source}: task {task}, {algo}, {seed} appears twice in the inputs"
                            )
                        runs[key] = _run(env, task, algo, seed, evaluations, source, key_name)
    if not runs:
        raise FileNotFoundError(f"no runs (results.json) under {', '.join(map(str, paths))}")
    seen = {part: sorted({k[i] for k in runs}) for i, part in enumerate(("tasks", "algos", "seeds"))}
    return Grid(
        runs=runs,
        algos=list(suite.get("algos") or seen["algos"]),
        tasks=list(suite.get("tasks") or seen["tasks"]),
        seeds=[f"seed_{s}" for s in suite["seeds"]] if suite.get("seeds") else seen["seeds"],
        suite=suite,
    )


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not a marl-eval JSON file ({err})") from None


def _run(env: str, task: str, algo: str, seed: str, evaluations: dict, source: Path, metric: str) -> Run:
    try:
        steps = [
            (int(v["step_count"]), float(np.mean(v[metric])), float(v.get("elapsed_time", 0.0)))
            for k, v in evaluations.items()
            if k.startswith("step_")
        ]
        absolute = evaluations.get("absolute_metrics", {}).get(metric) if evaluations else None
    except (KeyError, TypeError) as err:
        raise ValueError(f"{source}: {task}/{algo}/{seed} is not in marl-eval's layout ({err!r})") from None
    if not steps:
        raise ValueError(f"{source}: {task}/{algo}/{seed} holds no evaluation (step_0, ...)")
    return Run(env, task, algo, seed, sorted(steps), absolute, evaluations)


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """numpy's global generator seeded for rliable's bootstrap, and restored afterwards."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def interval_estimates(
    scores: dict[str, Any], func: Callable[..., np.ndarray], reps: int, seed: int = 0
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """rliable's `get_interval_estimates` (stratified bootstrap, 95% percentile intervals), reproducible."""
    from rliable import library

    with seeded(seed):
        return library.get_interval_estimates(scores, func, reps=reps)


def aggregates(x: np.ndarray) -> np.ndarray:
    """IQM, mean, median and optimality gap of a runs x tasks matrix of normalised scores."""
    from rliable import metrics

    return np.array(
        [
            metrics.aggregate_iqm(x),
            metrics.aggregate_mean(x),
            metrics.aggregate_median(x),
            metrics.aggregate_optimality_gap(x),
        ]
    )


def normaliser(grid: Grid, task: str) -> tuple[float, float, str]:
    """(low, high, how): a task's scores map to (x - low) / (high - low)."""
    declared = grid.suite.get("report", {}).get("scores", {})
    if task in declared:
        low, high = declared[task]
        return float(low), float(high), "declared [random, reference]"
    values = [
        v for a in grid.algos for r in grid.cells(task, a) for v in [*(m for _, m, _ in r.steps), r.final]
    ]
    values = [v for v in values if np.isfinite(v)]
    low, high = min(values), max(values)
    return low, high if high > low else low + 1.0, "min-max across algorithms, runs and evaluations"


def score_matrices(grid: Grid, tasks: list[str]) -> dict[str, np.ndarray]:
    """Per algorithm the runs x tasks matrix of normalised final scores (the absolute metric)."""
    bounds = {t: normaliser(grid, t) for t in tasks}
    return {
        a: np.array(
            [
                [(grid.runs[t, a, s].final - bounds[t][0]) / (bounds[t][1] - bounds[t][0]) for t in tasks]
                for s in grid.seeds
            ]
        )
        for a in grid.algos
    }


def curve_matrices(grid: Grid, tasks: list[str]) -> tuple[list[int], dict[str, np.ndarray]]:
    """The evaluation steps every run of `tasks` shares and per algorithm runs x tasks x steps of
    normalised mean returns (for sample-efficiency curves)."""
    shared = sorted(
        set.intersection(*({s for s, _, _ in r.steps} for r in grid.runs.values() if r.task in tasks))
    )
    bounds = {t: normaliser(grid, t) for t in tasks}
    curves = {}
    for a in grid.algos:
        curves[a] = np.array(
            [
                [
                    [
                        (m - bounds[t][0]) / (bounds[t][1] - bounds[t][0])
                        for step, m, _ in grid.runs[t, a, s].steps
                        if step in shared
                    ]
                    for t in tasks
                ]
                for s in grid.seeds
            ]
        )
    return shared, curves


def improvement_pairs(grid: Grid) -> list[tuple[str, str]]:
    chosen = grid.suite.get("report", {}).get("improvement") or []
    if chosen:
        return [(x, y) for x, y in chosen]
    return [(x, y) for i, x in enumerate(grid.algos) for y in grid.algos[i + 1 :]]


def build(grid: Grid, reps: int | None = None, seed: int = 0) -> tuple[str, dict[str, Any]]:
    """The markdown report and the numbers the plots draw."""
    from rliable import metrics

    spec = grid.suite.get("report", {})
    reps = reps or int(spec.get("reps", 10_000))
    speed = spec.get("metric") == "speed"
    metric = spec.get("metric", "return")
    missing = grid.missing()
    complete = grid.complete_tasks()
    lines = [f"# Benchmark report: {grid.suite.get('name', 'runs')}", ""]
    if grid.suite.get("description"):
        lines += [grid.suite["description"].strip(), ""]
    total = len(grid.tasks) * len(grid.algos) * len(grid.seeds)
    lines += [
        f"Grid: {len(grid.algos)} algorithms ({', '.join(grid.algos)}) x {len(grid.tasks)} tasks "
        f"({', '.join(grid.tasks)}) x {len(grid.seeds)} seeds = {total} runs; {total - len(missing)} finished.",
        "",
    ]
    if grid.suite:
        protocol = grid.suite.get("evaluation", {})
        own = any({"total_steps", "num_envs"} & set(task) for task in grid.suite.get("tasks", {}).values())
        lines += [
            f"Budget: {grid.suite.get('total_steps'):,} environment steps per run, {grid.suite.get('num_envs')} "
            f"copies{' (unless a task sets its own)' if own else ''}. Evaluation: every {protocol.get('interval') or 'tenth of the budget'} steps, "
            f"{protocol.get('episodes')} {'greedy' if protocol.get('greedy') else 'stochastic'} episodes; the final "
            f"score is the mean return of {protocol.get('absolute_episodes') or 10 * protocol.get('episodes', 0)} "
            "episodes of the final policy (marl-eval's absolute metric).",
            "",
        ]
    if missing:
        lines += [f"**Incomplete grid: {len(missing)} of {total} runs missing or unfinished**:", ""]
        lines += [f"- {t} / {a} / {s}" for t, a, s in missing]
        lines += [""]
        if complete:
            lines += [f"Aggregates below cover the complete tasks only: {', '.join(complete)}.", ""]
    steps_seen = {
        t: {tuple(s for s, _, _ in r.steps) for a in grid.algos for r in grid.cells(t, a)} for t in grid.tasks
    }
    differing = [t for t, seen in steps_seen.items() if len(seen) > 1]
    if differing:
        lines += [
            f"Evaluation steps differ between runs of: {', '.join(differing)} (curves use the shared steps).",
            "",
        ]
    data: dict[str, Any] = {"complete": complete}

    title = "environment steps per second" if speed else f"final {metric} (absolute metric)"
    lines += [
        f"## Per task: {title}",
        "",
        "Mean over seeds [95% stratified-bootstrap interval] (seeds).",
        "",
    ]
    lines += ["| task | " + " | ".join(grid.algos) + " |", "|---|" + "---|" * len(grid.algos)]
    per_task: dict[str, dict[str, tuple[float, float, float]]] = {}
    for t in grid.tasks:
        cells = []
        for a in grid.algos:
            runs = [r for r in grid.cells(t, a) if r.absolute is not None]
            if not runs:
                cells.append("-")
                continue
            values = np.array([[r.speed if speed else r.final] for r in runs])
            point, ci = interval_estimates({a: values}, lambda x: np.array([np.mean(x)]), reps, seed)
            per_task.setdefault(t, {})[a] = (float(point[a][0]), float(ci[a][0, 0]), float(ci[a][1, 0]))
            fmt = "{:,.0f}" if speed else "{:.2f}"
            cells.append(
                f"{fmt.format(point[a][0])} [{fmt.format(ci[a][0, 0])}, {fmt.format(ci[a][1, 0])}] ({len(runs)})"
            )
        lines.append(f"| {t} | " + " | ".join(cells) + " |")
    lines.append("")
    data["per_task"] = per_task
    if speed or not complete:
        return "\n".join(lines), data

    lines += ["## Normalisation", "", "| task | low | high | how |", "|---|---|---|---|"]
    for t in complete:
        low, high, how = normaliser(grid, t)
        lines.append(f"| {t} | {low:.3f} | {high:.3f} | {how} |")
    scores = score_matrices(grid, complete)
    point, ci = interval_estimates(scores, aggregates, reps, seed)
    data.update(scores=scores, aggregates=(point, ci))
    lines += [
        "",
        f"## Aggregate normalised score ({len(complete)} tasks x {len(grid.seeds)} runs)",
        "",
        "Point estimate [95% stratified-bootstrap interval, "
        f"{reps:,} resamples]; optimality gap: lower is better.",
        "",
        "| algorithm | " + " | ".join(METRICS) + " |",
        "|---|" + "---|" * len(METRICS),
    ]
    for a in grid.algos:
        values = [f"{point[a][i]:.3f} [{ci[a][0, i]:.3f}, {ci[a][1, i]:.3f}]" for i in range(len(METRICS))]
        lines.append(f"| {a} | " + " | ".join(values) + " |")
    pairs = improvement_pairs(grid)
    if pairs:
        pair_scores = {f"{x},{y}": (scores[x], scores[y]) for x, y in pairs}
        p_point, p_ci = interval_estimates(pair_scores, metrics.probability_of_improvement, reps, seed)
        data["improvement"] = (p_point, p_ci)
        lines += ["", "## Probability of improvement", "", "| X | Y | P(X > Y) |", "|---|---|---|"]
        for x, y in pairs:
            key = f"{x},{y}"
            (p,), (low, high) = np.ravel(p_point[key]), np.ravel(p_ci[key])
            lines.append(f"| {x} | {y} | {p:.3f} [{low:.3f}, {high:.3f}] |")
    lines.append("")
    return "\n".join(lines), data


def summary_csv(grid: Grid) -> str:
    """One row per run: task, env, algo, seed, final score (or steps per second), normalised score."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["task", "env", "algo", "seed", "final_return", "normalised", "steps_per_second", "finished"]
    )
    bounds = {t: normaliser(grid, t) for t in grid.tasks if any(r.task == t for r in grid.runs.values())}
    for (t, a, s), r in sorted(grid.runs.items()):
        low, high, _ = bounds[t]
        writer.writerow(
            [
                t,
                r.env,
                a,
                s.removeprefix("seed_"),
                f"{r.final:.4f}",
                f"{(r.final - low) / (high - low):.4f}",
                f"{r.speed:.1f}",
                r.absolute is not None,
            ]
        )
    return buffer.getvalue()


def merged(grid: Grid) -> dict[str, Any]:
    """Every run in one marl-eval layout."""
    layout: dict[str, Any] = {}
    for (t, a, s), r in sorted(grid.runs.items()):
        layout.setdefault(r.env, {}).setdefault(t, {}).setdefault(a, {})[s] = r.raw
    return layout


def plot(grid: Grid, data: dict[str, Any], folder: Path, reps: int, seed: int = 0) -> list[Path]:
    """The report's PNG plots, written atomically into `folder`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from rliable import library, metrics, plot_utils

    written = []

    def save(fig: Any, name: str) -> None:
        path = folder / name
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.stem}.", suffix=".png")
        os.close(fd)
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
        plt.close(fig)
        os.replace(tmp, path)
        written.append(path)

    per_task = data["per_task"]
    fig, axes = plt.subplots(1, len(per_task), figsize=(3.2 * len(per_task), 3.2), squeeze=False)
    for ax, (task, values) in zip(axes[0], per_task.items(), strict=True):
        names = list(values)
        means = np.array([values[n][0] for n in names])
        errors = np.array([[means[i] - values[n][1], values[n][2] - means[i]] for i, n in enumerate(names)]).T
        ax.errorbar(names, means, yerr=errors, fmt="o", capsize=4)  # returns are often negative: no bars
        ax.margins(x=0.3)
        ax.set_title(task, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel(
        "steps per second" if grid.suite.get("report", {}).get("metric") == "speed" else "final return"
    )
    fig.tight_layout()
    save(fig, "per_task.png")
    if "scores" not in data:
        return written

    point, ci = data["aggregates"]
    fig, _ = plot_utils.plot_interval_estimates(point, ci, metric_names=list(METRICS), algorithms=grid.algos)
    save(fig, "aggregates.png")

    scores, taus = data["scores"], np.linspace(0.0, 1.0, 101)
    with seeded(seed):
        profiles, profile_cis = library.create_performance_profile(scores, taus, reps=min(reps, 2000))
    fig, ax = plt.subplots(figsize=(6, 4))
    plot_utils.plot_performance_profiles(profiles, taus, performance_profile_cis=profile_cis, ax=ax)
    ax.legend(loc="upper right")
    save(fig, "performance_profiles.png")

    if "improvement" in data:
        p_point, p_ci = data["improvement"]
        ax = plot_utils.plot_probability_of_improvement(p_point, p_ci, figsize=(5, 1 + 0.6 * len(p_point)))
        save(ax.get_figure(), "probability_of_improvement.png")

    steps, curves = curve_matrices(grid, data["complete"])
    if len(steps) > 1:
        iqm = lambda x: np.array([metrics.aggregate_iqm(x[..., i]) for i in range(x.shape[-1])])  # noqa: E731
        c_point, c_ci = interval_estimates(curves, iqm, max(reps // 10, 200), seed)
        ax = plot_utils.plot_sample_efficiency_curve(
            np.array(steps),
            c_point,
            c_ci,
            algorithms=grid.algos,
            xlabel="environment steps",
            ylabel="IQM normalised return",
        )
        ax.legend(loc="lower right")
        save(ax.get_figure(), "sample_efficiency.png")
    return written


def report(paths: list[str | Path], out: Path, reps: int | None = None, plots: bool = True) -> Grid:
    """Write report.md, summary.csv, marl_eval.json and plots/ for the runs under `paths` into `out`."""
    grid = load(paths)
    text, data = build(grid, reps)
    if plots:
        written = plot(
            grid, data, out / "plots", reps or int(grid.suite.get("report", {}).get("reps", 10_000))
        )
        text += "\n## Plots\n\n" + "\n".join(f"![{p.stem}](plots/{p.name})" for p in written) + "\n"
    atomic_write_text(out / "report.md", text)
    atomic_write_text(out / "summary.csv", summary_csv(grid))
    atomic_write_text(
        out / MERGED, json.dumps(merged(grid), separators=(",", ":")) + "\n"
    )  # compact: it is large
    return grid


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="marl report", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("paths", nargs="+", help="suite folders (`marl bench` out=) or marl-eval JSON files")
    parser.add_argument(
        "--out", help="where report.md, summary.csv, marl_eval.json and plots/ go (default: the first folder)"
    )
    parser.add_argument(
        "--reps", type=int, help="bootstrap resamples (default: the suite's report.reps, or 10,000)"
    )
    parser.add_argument("--no-plots", action="store_true", help="only the markdown, CSV and merged JSON")
    args = parser.parse_args(argv)
    first = Path(args.paths[0])
    out = Path(args.out) if args.out else (first if first.is_dir() else first.parent)
    try:
        import matplotlib  # noqa: F401
        import rliable  # noqa: F401
    except ImportError as err:
        print(
            f"marl report needs rliable and matplotlib ({err}): pip install 'marl-suite[bench]'",
            file=sys.stderr,
        )
        return 2
    try:
        grid = report(args.paths, out, args.reps, plots=not args.no_plots)
    except (ValueError, FileNotFoundError) as err:
        print(f"marl report: {err}", file=sys.stderr)
        return 2
    missing = grid.missing()
    print(
        f"report written to {out / 'report.md'}"
        + (f"; grid incomplete: {len(missing)} runs missing" if missing else "")
    )
    return 1 if missing else 0
