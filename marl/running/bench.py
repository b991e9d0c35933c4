"""Benchmark suites: `marl bench suite=NAME [launcher=...] [out=DIR] [overrides]`.

A suite (configs/suite/<name>.yaml, or any yaml file given by path) names algorithms x tasks x seeds, a
budget and an evaluation protocol. `marl bench` turns it into one Hydra multirun of `marl train`: every cell is
an ordinary run directory `OUT/<task>/<algo>/seed_<k>` (config, metrics, checkpoints, and results.json in
marl-eval's layout), so re-running a suite skips the cells that finished and resumes the others from their
checkpoints. Each task becomes a config of the group `task` (written to `OUT/configs/task/<name>.yaml` and
put on Hydra's search path), which sets the environment and the task's other keys; the suite itself is
copied to `OUT/suite.yaml`, where `marl report` finds the grid it should hold. Hydra's launchers run the
cells: one after another (`launcher=basic`, the default), in parallel processes (`launcher=joblib`,
`workers=N`), on a SLURM cluster (`launcher=slurm`, configs/hydra/launcher/slurm.yaml) or as local
submitit jobs (`launcher=submitit_local`).
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from marl.running.io import atomic_write_text

LAUNCHERS = ("basic", "joblib", "submitit_local", "slurm")
GROUP_KEYS = ("env", "model")  # run config groups a task may choose (by name, or a mapping with `id`)


@dataclass
class EvaluationProtocol:
    """How every cell is evaluated (marl-eval's protocol: Gorsane et al. 2022)."""

    interval: int = 0  # environment steps between evaluations; 0: ten per run
    episodes: int = 32  # episodes per evaluation
    greedy: bool = True  # evaluate the greedy policy; false samples its actions
    absolute_episodes: int = 0  # episodes of the final (absolute-metric) evaluation; 0: 10 x episodes


@dataclass
class ReportSpec:
    """What `marl report` computes from the suite's runs."""

    # return, another episode statistic of results.json (e.g. sparse_return), or speed (steps per second)
    metric: str = "return"
    # per task [random, reference] scores; tasks not named are min-max normalised across algorithms
    scores: dict[str, list[float]] = field(default_factory=dict)
    improvement: list[list[str]] = field(default_factory=list)  # [x, y] pairs: P(x > y); default: all
    reps: int = 10_000  # bootstrap resamples


@dataclass
class Suite:
    """A benchmark grid: algorithms x tasks x seeds, one budget and one evaluation protocol."""

    description: str = ""
    algos: list[str] = field(default_factory=list)
    # name -> {env: id or {id, keys}, other run keys (they win over the suite's)}
    tasks: dict[str, Any] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    total_steps: int = 100_000
    num_envs: int = 16
    evaluation: EvaluationProtocol = field(default_factory=EvaluationProtocol)
    run: dict[str, Any] = field(default_factory=dict)  # other run config keys for every cell
    slurm: dict[str, Any] = field(default_factory=dict)  # hydra.launcher keys with launcher=slurm
    report: ReportSpec = field(default_factory=ReportSpec)


def suites_dir() -> Path:
    from marl.running.config import config_dir

    return config_dir() / "suite"


def list_suites() -> dict[str, str]:
    """Suite name -> its description."""
    return {p.stem: load_suite(str(p)).description for p in sorted(suites_dir().glob("*.yaml"))}


def load_suite(name: str) -> Suite:
    """A suite by name (configs/suite/<name>.yaml) or by path to a yaml file, checked against `Suite`."""
    path = Path(name) if name.endswith((".yaml", ".yml")) else suites_dir() / f"{name}.yaml"
    if not path.is_file():
        known = [p.stem for p in sorted(suites_dir().glob("*.yaml"))]
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise FileNotFoundError(f"no suite {name!r} ({path} does not exist).{hint} Known: {', '.join(known)}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
        suite = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(Suite), raw))
    except (yaml.YAMLError, OmegaConfBaseException) as err:
        raise ValueError(f"suite {path}: {(str(err).strip().splitlines() or [''])[0]}") from None
    _check_suite(suite, str(path))
    return suite


def _check_suite(suite: Suite, where: str) -> None:
    for key in ("algos", "tasks", "seeds"):
        if not getattr(suite, key):
            raise ValueError(f"suite {where}: {key} is empty; a suite needs algorithms, tasks and seeds")
    for label, names in (("algorithm", suite.algos), ("task", list(suite.tasks))):
        bad = [n for n in names if not n or "," in n or "/" in n or "=" in n]
        if bad or len(set(names)) != len(names):
            raise ValueError(
                f"suite {where}: {label} names must be unique, non-empty and hold no ',', '/' or '=', got {names}"
            )
    for name, task in suite.tasks.items():
        if not isinstance(task, dict) or "env" not in task:
            raise ValueError(f"suite {where}: task {name!r} must be a mapping with an env, got {task!r}")
    if not suite.report.metric:
        raise ValueError(f"suite {where}: report.metric is empty; give return, speed or an episode statistic")
    for pair in suite.report.improvement:
        if len(pair) != 2 or not set(pair) <= set(suite.algos):
            raise ValueError(f"suite {where}: report.improvement pairs are two of {suite.algos}, got {pair}")
    for task, scores in suite.report.scores.items():
        if task not in suite.tasks or len(scores) != 2 or scores[0] == scores[1]:
            raise ValueError(
                f"suite {where}: report.scores maps a task to [random, reference] (two different numbers), "
                f"got {task}: {scores}"
            )


def task_config(name: str, task: dict[str, Any], cell: dict[str, Any]) -> str:
    """The yaml of the `task` config option `name`: the suite's keys for every cell (`cell`) with the task's
    own merged over them; group choices (env, model) go to the defaults list. Dotted keys nest."""
    defaults, values = [], {}
    for key, value in {**cell, **task}.items():
        if key in GROUP_KEYS and isinstance(value, str):
            defaults.append({f"override /{key}": value})
        elif key in GROUP_KEYS and isinstance(value, dict) and "id" in value:
            defaults.append({f"override /{key}": value["id"]})
            _nest(values, key, {k: v for k, v in value.items() if k != "id"})
        else:
            _nest(values, key, value)
    values["task_name"] = name
    body = yaml.safe_dump({"defaults": [*defaults, "_self_"], **values}, sort_keys=False)
    return f"# @package _global_\n# task {name!r} of a benchmark suite, written by `marl bench`\n{body}"


def _nest(values: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        values = values.setdefault(part, {})
    if isinstance(value, dict) and isinstance(values.get(last), dict):
        values[last].update(value)
    else:
        values[last] = value


def cell_keys(suite: Suite) -> dict[str, Any]:
    """The run config keys every cell gets from the suite's budget, protocol and `run` mapping."""
    protocol = suite.evaluation
    return {
        "total_steps": suite.total_steps,
        "num_envs": suite.num_envs,
        "eval_every": protocol.interval,
        "eval_episodes": protocol.episodes,
        "eval_deterministic": protocol.greedy,
        "final_eval_episodes": protocol.absolute_episodes or 10 * protocol.episodes,
        "progress": False,
        **suite.run,
    }


def multirun_overrides(suite: Suite, out: Path, launcher: str, workers: int | None) -> list[str]:
    """The `marl train -m` overrides that run the suite's grid into `out` (the task configs hold the rest)."""
    if launcher not in LAUNCHERS:
        close = difflib.get_close_matches(launcher, LAUNCHERS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown launcher {launcher!r}.{hint} Known launchers: {', '.join(LAUNCHERS)}")
    overrides = [
        "-m",
        "~experiment",
        f"+task={','.join(suite.tasks)}",
        f"algo={','.join(suite.algos)}",
        f"seed={','.join(str(s) for s in suite.seeds)}",
        f"hydra.searchpath=[file://{(out / 'configs').resolve()}]",
        f"hydra.sweep.dir={out}",
        "hydra.sweep.subdir=${task_name}/${algo.name}/seed_${seed}",
        f"hydra/launcher={launcher}",
    ]
    if workers is not None:
        if launcher != "joblib":
            raise ValueError(f"workers=N sets the processes of launcher=joblib, not of launcher={launcher}")
        overrides.append(f"hydra.launcher.n_jobs={workers}")
    if launcher == "slurm":
        overrides += [f"hydra.launcher.{key}={_value(value)}" for key, value in suite.slurm.items()]
    return overrides


def _value(value: Any) -> str:
    """A value as a Hydra override writes it."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, dict)):
        return yaml.safe_dump(value, default_flow_style=True).strip()
    return str(value)


def prepare(suite: Suite, name: str, out: Path) -> None:
    """Write the suite (`OUT/suite.yaml`) and its task configs (`OUT/configs/task/`) for the multirun."""
    written = {"name": name, **OmegaConf.to_container(OmegaConf.structured(suite))}
    atomic_write_text(out / "suite.yaml", yaml.safe_dump(written, sort_keys=False))
    for name, task in suite.tasks.items():
        atomic_write_text(
            out / "configs" / "task" / f"{name}.yaml", task_config(name, task, cell_keys(suite))
        )


def parse_args(args: list[str]) -> tuple[dict[str, str], int | None, list[str]]:
    """`suite=NAME launcher=L out=DIR workers=N tasks=A,B` and the other arguments (run config overrides,
    passed on to every cell)."""
    known: dict[str, str] = {}
    rest = []
    for arg in args:
        key, sep, value = arg.partition("=")
        if sep and key in ("suite", "launcher", "out", "workers", "tasks"):
            known[key] = value
        else:
            rest.append(arg)
    if not known.get("suite"):
        raise ValueError("marl bench needs suite=NAME (a file of configs/suite/ or a yaml path)")
    workers = known.get("workers")
    if workers is not None and (not workers.isdigit() or int(workers) < 1):
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    return known, int(workers) if workers else None, rest


def run_suite(args: list[str]) -> Path:
    """Run `marl bench suite=...` and return the folder holding the suite's run directories. `tasks=A,B`
    runs only those tasks of the suite now (the report still expects the whole grid)."""
    from marl.running.cli import _run_hydra

    known, workers, extra = parse_args(args)
    name = known["suite"]
    suite = load_suite(name)
    out = Path(known.get("out") or Path("runs") / "bench" / Path(name).stem)
    chosen = known["tasks"].split(",") if known.get("tasks") else list(suite.tasks)
    unknown = [t for t in chosen if t not in suite.tasks]
    if unknown:
        raise ValueError(f"tasks {unknown} are not in suite {name!r}; its tasks: {', '.join(suite.tasks)}")
    now = dataclasses.replace(suite, tasks={t: suite.tasks[t] for t in chosen})
    overrides = multirun_overrides(now, out, known.get("launcher", "basic"), workers)
    prepare(suite, Path(name).stem, out)  # the whole suite: the report checks the grid against it
    cells = len(now.tasks) * len(now.algos) * len(now.seeds)
    print(f"suite {Path(name).stem}: {cells} cells into {out} (launcher {known.get('launcher', 'basic')})")
    _run_hydra("train", [*overrides, *extra])
    print(f"suite {Path(name).stem} done; its report: marl report {out}")
    return out
