"""The `marl` command: `marl train|eval|render|play [overrides]`, `marl list`, `marl bench suite=NAME [args]`,
`marl bench SCRIPT [args]`, `marl report DIR...`.

train, eval, render and play are one Hydra app (configs/config.yaml) run with a different job, so every
override, experiment preset and multirun (`-m`) works the same for all of them.
"""

from __future__ import annotations

import ast
import difflib
import os
import subprocess
import sys
from pathlib import Path

from marl.core.registry import MissingDependency

USAGE = """usage: marl COMMAND [ARGS]

commands:
  train   [overrides]    train an algorithm on an environment (Hydra overrides, e.g. algo=ippo seed=1)
  eval    [overrides]    evaluate a checkpoint (checkpoint=RUN_DIR) or an untrained policy
  render  [overrides]    write a GIF/MP4 of a checkpoint's policy (or a random one)
  play    [overrides]    control an agent with the keyboard beside a checkpoint's policy (play.partner=...)
  list                   the registered environments and algorithms
  bench   suite=NAME     run a benchmark suite (algorithms x tasks x seeds; launcher=joblib|slurm|...)
  bench   SCRIPT [args]  run the benchmark script SCRIPT (marl bench with no name lists suites and scripts)
  report  DIR... [opts]  report on the runs of a suite: IQM and intervals, profiles, plots (--help)

`marl train --help` shows the config and its groups; `marl train --cfg job` prints the resolved config.
A bad config or input is reported in one line (exit code 2); --debug (or HYDRA_FULL_ERROR=1) shows the
traceback. Ctrl-C during training writes a checkpoint; the same command resumes."""

JOBS = ("train", "eval", "render", "play")
# what a user's config or input gets wrong; reported in one line unless --debug
USER_ERRORS = (ValueError, TypeError, LookupError, FileNotFoundError, NotADirectoryError, MissingDependency)
# Hydra's own records (.hydra/) and its empty job log would land in, and rewrite, the run directory of a run
# that is refused, evaluated or rendered; the run's config.yaml is its record
HYDRA_QUIET = ("hydra.output_subdir=null", "hydra/job_logging=none")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return
    command, rest = argv[0], argv[1:]
    if command == "list":
        _list()
    elif command == "bench":
        sys.exit(_bench(rest))
    elif command == "report":
        from marl.running.report import main as report_main

        sys.exit(report_main(rest))
    elif command in JOBS:
        try:
            _run_hydra(command, rest)
        except KeyboardInterrupt as stop:  # Interrupted (a checkpoint was written) or before training began
            print(f"marl: {stop or 'interrupted'}", file=sys.stderr)
            sys.exit(130)
    else:
        close = difflib.get_close_matches(command, [*JOBS, "list", "bench", "report"], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        print(f"marl: unknown command {command!r}{hint}\n\n{USAGE}", file=sys.stderr)
        sys.exit(2)


def _run_hydra(command: str, overrides: list[str]) -> None:
    import hydra
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    from marl.running import play, trainer
    from marl.running.experiment import Experiment

    debug = "--debug" in overrides or os.environ.get("HYDRA_FULL_ERROR") == "1"
    overrides = [a for a in overrides if a != "--debug"]
    try:
        overrides, config_path = _checked_overrides(command, overrides)
    except USER_ERRORS as err:
        if debug:
            raise
        print(f"marl: {_message(err)}", file=sys.stderr)
        sys.exit(2)
    job = {
        "train": lambda cfg: Experiment(cfg).run(),
        "eval": trainer.evaluate_run,
        "render": trainer.render_run,
        "play": play.play_run,
    }[command]

    existing = {a.split("=", 1)[1] for a in overrides if a.startswith("hydra.run.dir=")}
    existing = {d for d in existing if Path(d).exists()}

    @hydra.main(version_base=None, config_path=config_path, config_name="config")
    def app(cfg):
        try:
            job(cfg)
        except USER_ERRORS as err:
            output = HydraConfig.get().runtime.output_dir
            if output not in existing:  # Hydra made it for this run: a failed run leaves no empty folder
                _remove_empty(Path(output))
            if debug:
                raise
            print(f"marl {command}: {_message(err)}", file=sys.stderr)
            sys.exit(2)

    GlobalHydra.instance().clear()
    saved_argv = sys.argv
    sys.argv = [f"marl {command}", *overrides]
    try:
        app()
    finally:
        sys.argv = saved_argv


def _checked_overrides(command: str, overrides: list[str]) -> tuple[list[str], str]:
    """The overrides Hydra runs, checked (ValueError naming the problem), and the configs folder.

    The run directory is also Hydra's output directory; `eval`, `render` and `play` of a checkpoint write into
    that checkpoint's run directory unless `run_dir` is given."""
    from marl.running import config
    from marl.running.rundir import check_run_dir, resolve_checkpoint

    overrides = config.normalize_overrides(overrides)
    config.check_overrides(overrides)
    values = dict(a.split("=", 1) for a in overrides if "=" in a and not a.startswith("-"))
    run_dir = values.get("run_dir")
    if run_dir is not None:
        check_run_dir(run_dir)
    elif command != "train" and values.get("checkpoint") not in (None, "", "null"):
        run_dir = str(resolve_checkpoint(values["checkpoint"])[0].path)
    if not any(a.startswith("-") for a in overrides):  # one run (not -m, --cfg, --help, ...)
        # composed and checked here, before Hydra creates the run directory, so a bad config leaves none
        config.check_run_config(config.compose_run_config(overrides))
    if run_dir is not None and not any(a in ("-m", "--multirun") for a in overrides):
        overrides = [*overrides, f"hydra.run.dir={run_dir}"]
    given = {a.split("=", 1)[0] for a in overrides}
    overrides = overrides + [a for a in HYDRA_QUIET if a.split("=", 1)[0] not in given]
    config.register_schemas()
    return overrides, str(config.config_dir())


def _message(err: BaseException) -> str:
    """An error in one line: its first line, with the config key it is about when it has one."""
    first = (str(err).strip().splitlines() or [type(err).__name__])[0]
    key = getattr(err, "full_key", None)
    return f"config key {key!r}: {first}" if key and key not in first else first


def _remove_empty(folder: Path) -> None:
    """Remove `folder`, and then its parents below the current directory, while they are empty
    (runs/<date>/<time>, runs/<date>, runs)."""
    for path in [folder, *folder.parents]:
        below_cwd = Path.cwd().resolve() in path.resolve().parents
        if (path != folder and not below_cwd) or not path.is_dir() or any(path.iterdir()):
            return
        path.rmdir()


def _list() -> None:
    from marl.core import registry

    envs, algos = registry.list_envs(), registry.list_algos()
    print(f"environments ({len(envs)}):")
    for env_id in envs:
        print(f"  {env_id:<34} {registry.env_entry(env_id).description}")
    print(f"algorithms ({len(algos)}):")
    for name in algos:
        print(f"  {name:<34} {registry.algo_entry(name).description}")


def benchmarks_dir() -> Path:
    """The benchmark scripts, shipped inside the package (marl/benchmarks links to benchmarks/ in the
    repository, as marl/configs does to configs/), so an installed wheel has them too."""
    path = Path(__file__).resolve().parents[1] / "benchmarks"
    if not path.is_dir():
        raise FileNotFoundError(f"the benchmark scripts are missing: expected the folder {path}")
    return path


def _bench(args: list[str]) -> int:
    from marl.running import bench

    if any(a.startswith("suite=") for a in args):
        try:
            bench.run_suite(args)
        except USER_ERRORS as err:
            print(f"marl bench: {_message(err)}", file=sys.stderr)
            return 2
        return 0
    folder = benchmarks_dir()
    scripts = {p.stem: p for p in sorted(folder.glob("*.py")) if not p.name.startswith("_")}
    if not args or args[0] in ("-h", "--help", "--list"):
        print(
            "usage: marl bench suite=NAME [launcher=basic|joblib|submitit_local|slurm] [workers=N] [out=DIR] "
            "[overrides]\n       marl bench SCRIPT [args]   (SCRIPT --help for its options)\n\nsuites:"
        )
        for name, description in bench.list_suites().items():
            print(f"  {name:<24} {description.strip().splitlines()[0] if description.strip() else ''}")
        print("\nbenchmark scripts:")
        for name, path in scripts.items():
            print(f"  {name:<24} {_summary(path)}")
        return 0
    name = args[0].replace("-", "_")
    if name not in scripts:
        close = difflib.get_close_matches(name, list(scripts), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        print(
            f"marl bench: no benchmark {args[0]!r}.{hint} Known: {', '.join(scripts) or '(none)'}",
            file=sys.stderr,
        )
        return 2
    # the script imports the same marl, envs and algos as this command (a checkout or an installed wheel)
    packages = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [packages, os.environ.get("PYTHONPATH")])))
    return subprocess.call([sys.executable, str(scripts[name]), *args[1:]], env=env)


def _summary(script: Path) -> str:
    """The first line of a script's docstring, read without running it."""
    doc = ast.get_docstring(ast.parse(script.read_text())) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


if __name__ == "__main__":
    main()
