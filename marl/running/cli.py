"""The `marl` command: `marl train|eval|render|play [overrides]`, `marl list`, `marl bench NAME [args]`.

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

USAGE = """usage: marl COMMAND [ARGS]

commands:
  train   [overrides]    train an algorithm on an environment (Hydra overrides, e.g. algo=ippo seed=1)
  eval    [overrides]    evaluate a checkpoint (checkpoint=RUN_DIR) or an untrained policy
  render  [overrides]    write a GIF/MP4 of a checkpoint's policy (or a random one)
  play    [overrides]    control an agent with the keyboard beside a checkpoint's policy (play.partner=...)
  list                   the registered environments and algorithms
  bench   NAME [args]    run the benchmark script NAME (marl bench with no name lists them)

`marl train --help` shows the config and its groups; `marl train --cfg job` prints the resolved config."""

JOBS = ("train", "eval", "render", "play")


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
    elif command in JOBS:
        _run_hydra(command, rest)
    else:
        close = difflib.get_close_matches(command, [*JOBS, "list", "bench"], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        print(f"marl: unknown command {command!r}{hint}\n\n{USAGE}", file=sys.stderr)
        sys.exit(2)


def _run_hydra(command: str, overrides: list[str]) -> None:
    import hydra
    from hydra.core.global_hydra import GlobalHydra

    from marl.running import play, trainer
    from marl.running.config import check_overrides, config_dir, register_schemas
    from marl.running.experiment import Experiment

    try:
        check_overrides(overrides)
    except ValueError as err:
        print(f"marl: {err}", file=sys.stderr)
        sys.exit(2)
    multirun = any(a in ("-m", "--multirun") for a in overrides)
    run_dir = [a.split("=", 1)[1] for a in overrides if a.startswith("run_dir=")]
    if run_dir and not multirun:  # the run directory is also where Hydra keeps its own records
        overrides = [*overrides, f"hydra.run.dir={run_dir[-1]}"]
    register_schemas()
    job = {
        "train": lambda cfg: Experiment(cfg).run(),
        "eval": trainer.evaluate_run,
        "render": trainer.render_run,
        "play": play.play_run,
    }[command]

    @hydra.main(version_base=None, config_path=str(config_dir()), config_name="config")
    def app(cfg):
        job(cfg)

    GlobalHydra.instance().clear()
    saved_argv = sys.argv
    sys.argv = [f"marl {command}", *overrides]
    try:
        app()
    finally:
        sys.argv = saved_argv


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
    folder = benchmarks_dir()
    scripts = {p.stem: p for p in sorted(folder.glob("*.py")) if not p.name.startswith("_")}
    if not args or args[0] in ("-h", "--help", "--list"):
        print("usage: marl bench NAME [args]   (NAME --help for its options)\n\nbenchmarks:")
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
