"""The `marl` command: `marl train|eval|render [overrides]`, `marl list`, `marl bench NAME [args]`.

train, eval and render are one Hydra app (configs/config.yaml) run with a different job, so every
override, experiment preset and multirun (`-m`) works the same for all three.
"""

from __future__ import annotations

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
  list                   the registered environments and algorithms
  bench   NAME [args]    run benchmarks/NAME.py (marl bench with no name lists them)

`marl train --help` shows the config and its groups; `marl train --cfg job` prints the resolved config."""

JOBS = ("train", "eval", "render")


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

    from marl.running import trainer
    from marl.running.config import TOP_LEVEL_KEYS, config_dir, register_schemas

    _check_top_level_keys(overrides, TOP_LEVEL_KEYS)
    _check_group_choices(overrides, config_dir())
    multirun = any(a in ("-m", "--multirun") for a in overrides)
    run_dir = [a.split("=", 1)[1] for a in overrides if a.startswith("run_dir=")]
    if run_dir and not multirun:  # the run directory is also where Hydra keeps its own records
        overrides = [*overrides, f"hydra.run.dir={run_dir[-1]}"]
    register_schemas()
    job = {"train": trainer.train, "eval": trainer.evaluate_run, "render": trainer.render_run}[command]

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


def _check_top_level_keys(overrides: list[str], known: list[str]) -> None:
    """Catch a mistyped top-level key before Hydra starts, with the closest match."""
    groups = ["env", "algo", "experiment", "hydra"]
    for arg in overrides:
        if arg.startswith("-") or "=" not in arg:
            continue
        key = arg.split("=", 1)[0].lstrip("+~")
        head = key.split(".")[0].split("/")[0]
        if head not in known and head not in groups:
            close = difflib.get_close_matches(head, known + groups, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            print(
                f"marl: unknown config key {head!r} in {arg!r}.{hint}\n"
                f"Top-level keys: {', '.join(known)}; groups: env, algo, experiment.",
                file=sys.stderr,
            )
            sys.exit(2)


def _check_group_choices(overrides: list[str], configs: Path) -> None:
    """`env=`, `algo=`, `model=` and `experiment=` must name a registered id or a yaml file; say which exist if not."""
    from marl.core import registry

    choices = {
        "env": registry.list_envs(),
        "algo": registry.list_algos(),
        "model": [],
        "experiment": [],
    }
    for group, known in choices.items():
        files = [
            str(p.relative_to(configs / group).with_suffix("")) for p in (configs / group).rglob("*.yaml")
        ]
        choices[group] = sorted(set(known) | set(files))
    for arg in overrides:
        key, _, value = arg.partition("=")
        key = key.lstrip("+")
        if (
            key not in choices or "(" in value
        ):  # sweep functions (choice(...), range(...)) are Hydra's to check
            continue
        for option in value.split(","):  # a multirun sweep lists several choices
            if option not in ("null", "") and option not in choices[key]:
                close = difflib.get_close_matches(option, choices[key], n=1, cutoff=0.5)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                known = ", ".join(choices[key]) or "(none)"
                print(f"marl: unknown {key} {option!r}.{hint}\nKnown {key} choices: {known}", file=sys.stderr)
                sys.exit(2)


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
    return Path(__file__).resolve().parents[2] / "benchmarks"


def _bench(args: list[str]) -> int:
    folder = benchmarks_dir()
    scripts = (
        sorted(p.stem for p in folder.glob("*.py") if not p.name.startswith("_")) if folder.is_dir() else []
    )
    if not args or args[0] in ("-h", "--help"):
        print("usage: marl bench NAME [args]   (NAME --help for its options)\n\nbenchmarks:")
        for name in scripts:
            print(f"  {name}")
        return 0
    name = args[0].replace("-", "_")
    if name not in scripts:
        close = difflib.get_close_matches(name, scripts, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        print(
            f"marl bench: no benchmark {args[0]!r}.{hint} Known: {', '.join(scripts) or '(none)'}",
            file=sys.stderr,
        )
        return 2
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(folder.parent), os.environ.get("PYTHONPATH")])),
    )
    return subprocess.call(
        [sys.executable, str(folder / f"{name}.py"), *args[1:]], cwd=folder.parent, env=env
    )


if __name__ == "__main__":
    main()
