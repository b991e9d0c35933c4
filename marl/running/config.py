"""Structured configs: the run schema, and one schema per registered environment and algorithm.

Every registered environment becomes a config option `env=<family>/<task>` whose keys are the fields of
its config dataclass (or, for a plugin registered without one, the factory's keyword parameters), typed,
with their defaults; every registered algorithm becomes a schema
`/schema/algo/<name>` built from its config dataclass, which the yaml files in configs/algo/ extend. An
algorithm without a yaml file is still selectable as `algo=<name>`. Hydra checks keys and types against
these schemas, so a mistyped key or a wrong type fails before any work starts. `compose_run_config` composes
the same config from Python (`marl.Experiment`), with the same checks.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import inspect
import pathlib
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException
from omegaconf import MISSING, DictConfig, OmegaConf, open_dict
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException, ValidationError

from marl.core import registry
from marl.learning.algorithm import coerce_config
from marl.learning.models import ModelConfig
from marl.running.rundir import check_run_dir


@dataclass
class VideoConfig:
    """How `marl render` records a rollout."""

    format: str = "gif"  # gif or mp4
    frames: int = 100  # environment steps recorded
    fps: int = 10
    copies: int = 1  # copies drawn side by side in a grid
    path: str | None = None  # default: <run_dir>/videos/rollout.<format>


@dataclass
class PlayConfig:
    """How `marl play` seats people at the keyboard (marl/running/play.py)."""

    agent: str | None = None  # the agent the person controls; default: the environment's first
    partner: str = "checkpoint"  # the other agents: checkpoint, a registered algorithm, or human
    second: str | None = None  # with partner=human: the second person's agent; default: the next one
    fps: int = 8  # ticks per second
    episodes: int = 1
    script: list[str] | None = None  # scripted play: per tick key names joined by '+', or 'none'


@dataclass
class RunConfig:
    """Keys every run accepts (besides the `env` and `algo` groups)."""

    env: Any = MISSING
    algo: Any = MISSING
    model: ModelConfig = field(default_factory=ModelConfig)  # the networks, for algorithms that take one
    seed: int = 0
    device: str = "cpu"
    torch_threads: int = 0  # CPU threads for torch's operators; 0 keeps torch's default (one per core)
    num_envs: int = 16
    total_steps: int = 100_000  # environment steps summed over copies
    eval_episodes: int = 10
    eval_every: int = 0  # environment steps between evaluations; 0: ten evaluations per run
    eval_deterministic: bool = True  # evaluate the greedy policy; false samples its actions
    final_eval_episodes: int = 0  # episodes of the final (absolute-metric) evaluation; 0: eval_episodes
    task_name: str = ""  # the task's name in results.json (marl-eval layout); empty: the environment's
    checkpoint_every: int = 0  # environment steps between checkpoints; 0: at every evaluation
    log_every: int = 0  # environment steps between metric rows; 0: one row per training iteration
    run_dir: str = "${hydra:runtime.output_dir}"
    checkpoint: str | None = None  # eval / render: a run directory or a checkpoint file
    progress: bool = True  # a progress bar with live return and steps per second
    video: VideoConfig = field(default_factory=VideoConfig)
    play: PlayConfig = field(default_factory=PlayConfig)


TOP_LEVEL_KEYS = [f.name for f in dataclasses.fields(RunConfig)]
MAX_COPIES = 2**20  # environment copies (num_envs) and evaluation episodes a run may ask for
_SIMPLE = (int, float, bool, str, pathlib.Path)


def config_dir() -> Path:
    """The configs/ folder (shipped inside the package as marl/configs)."""
    path = Path(__file__).resolve().parents[1] / "configs"
    if not (path / "config.yaml").is_file():
        raise FileNotFoundError(f"the configs folder is missing: expected {path / 'config.yaml'}")
    return path


def register_schemas() -> None:
    """Store the run schema and one schema per registered environment and algorithm in Hydra's ConfigStore."""
    cs = ConfigStore.instance()
    cs.store(name="run_schema", node=RunConfig)
    algo_yaml = config_dir() / "algo"
    for env_id in registry.list_envs():
        family, task = env_id.split("/")
        cs.store(group=f"env/{family}", name=task, node=env_schema(env_id))
    for name in registry.list_algos():
        schema = algo_schema(name)
        cs.store(group="schema/algo", name=name, node=schema)
        if not (algo_yaml / f"{name}.yaml").is_file():
            cs.store(group="algo", name=name, node=schema)


def env_schema(env_id: str) -> type:
    """A dataclass with `id` plus the environment's typed config keys and their defaults: the fields of its
    config class, or (for a factory registered without one) the factory's keyword parameters."""
    entry = registry.env_entry(env_id)
    fields: list[tuple[str, Any, Any]] = [
        ("id", str, field(default=env_id)),
        (registry.COMPILE_KEY, bool, field(default=False)),  # torch.compile the steps (BatchedEnv.compile)
    ]
    if entry.config_class is not None:
        hints = _type_hints(entry.config_class)
        for f in dataclasses.fields(entry.config_class):
            if f.init:
                fields.append((f.name, _omegaconf_type(hints.get(f.name, Any)), _dataclass_default(f)))
    else:
        hints = _type_hints(entry.factory)
        for name, param in registry.env_parameters(env_id).items():
            fields.append((name, _omegaconf_type(hints.get(name, Any)), _field_default(param.default)))
    return dataclasses.make_dataclass("Env_" + env_id.replace("/", "__").replace("-", "_"), fields)


def algo_schema(name: str) -> type:
    """The algorithm's config dataclass with a `name` field added (so a run records which algorithm)."""
    config_class = registry.algo_entry(name).config_class
    if not dataclasses.is_dataclass(config_class):
        raise TypeError(f"algorithm {name!r}: its config class {config_class!r} must be a dataclass")
    if "name" in {f.name for f in dataclasses.fields(config_class)}:
        raise TypeError(f"algorithm {name!r}: its config class may not have a field called 'name'")
    return dataclasses.make_dataclass(
        f"Algo_{name}", [("name", str, field(default=name))], bases=(config_class,)
    )


def env_kwargs(cfg: DictConfig) -> tuple[str, dict[str, Any]]:
    """`(env_id, factory keyword arguments)` from a run config's `env` node."""
    env = OmegaConf.to_container(cfg.env, resolve=True)
    env_id = env.pop("id")
    return env_id, env


def algo_config(cfg: DictConfig) -> tuple[str, Any]:
    """`(algorithm name, an instance of its config dataclass)` from a run config's `algo` node."""
    algo = OmegaConf.to_container(cfg.algo, resolve=True)
    name = algo.pop("name")
    config_class = registry.algo_entry(name).config_class
    known = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(algo) - known)
    if unknown:
        raise ValueError(f"algorithm {name!r} has no config keys {unknown}; it accepts {sorted(known)}")
    return name, config_class(**algo)


def model_arguments(cfg: DictConfig, algo_name: str) -> dict[str, Any]:
    """`{"model": ModelConfig}` for an algorithm whose factory takes a `model`; nothing for one that builds its
    own networks, which refuses a model other than the default instead of ignoring it."""
    model = coerce_config(
        OmegaConf.to_container(cfg.model, resolve=True) if "model" in cfg else {}, ModelConfig
    )
    factory = registry.algo_entry(algo_name).factory
    if "model" in inspect.signature(factory).parameters:
        return {"model": model}
    if model != ModelConfig():
        raise ValueError(
            f"algorithm {algo_name!r} builds its own networks and takes no model config; "
            "drop the model=... / model.* overrides"
        )
    return {}


def compose_run_config(overrides: Sequence[str] = (), values: Mapping[str, Any] | None = None) -> DictConfig:
    """The run config `marl train <overrides>` would run, with `values` merged over it.

    In `values`, `env` and `algo` take a registered name, or a mapping whose `id` (env) / `name` (algo)
    selects the option and whose other keys are merged over it (a run's saved config.yaml has this shape);
    `model` takes a choice of the model group or a mapping of its keys;
    `experiment` takes a preset name or None (no preset). `run_dir` defaults to a new `runs/<date>/<time>`
    (as under Hydra; with `-1`, `-2`, ... appended when that exists, so a default never resumes another run).
    A key the schemas do not know or a value of the wrong type raises ValueError naming it.
    """
    values = dict(values or {})
    choices = []
    for group, label in (("env", "id"), ("algo", "name")):
        if group not in values:
            continue
        value = values.pop(group)
        if isinstance(value, str):
            choices.append(f"{group}={value}")
        elif isinstance(value, Mapping):
            keys = dict(value)
            if label in keys:
                choices.append(f"{group}={keys.pop(label)}")
            values[group] = keys
        else:
            raise TypeError(f"{group} must be a registered name or a mapping of its keys, got {value!r}")
    if isinstance(values.get("model"), str):
        choices.append(f"model={values.pop('model')}")
    if "experiment" in values:
        preset = values.pop("experiment")
        choices.append("~experiment" if preset is None else f"experiment={preset}")
    overrides = normalize_overrides([*choices, *overrides])
    if any(item in ("-m", "--multirun") for item in overrides):
        raise ValueError("a multirun (-m) is for `marl train`; one run config composes one experiment")
    for key in values:
        _check_top_level_key(key, "")
    check_overrides(overrides)
    register_schemas()
    global_hydra = GlobalHydra.instance()
    previous = global_hydra.hydra  # composing inside a running Hydra app must leave that app's state alone
    global_hydra.clear()
    try:
        with initialize_config_dir(str(config_dir()), version_base=None):
            cfg = compose("config", overrides=overrides, return_hydra_config=True)
    except (HydraException, OmegaConfBaseException) as err:
        raise ValueError(_one_line(err)) from err
    finally:
        GlobalHydra.instance().hydra = previous
    if "run_dir" not in values and not any(item.startswith("run_dir=") for item in overrides):
        values["run_dir"] = _new_directory(OmegaConf.select(cfg, "hydra.run.dir"))
    with open_dict(cfg):
        del cfg["hydra"]
    return merge_values(cfg, values)


def check_run_config(cfg: DictConfig) -> None:
    """The checks of a composed run config that need nothing built: budgets, schedules, device, run_dir."""
    check_positive(cfg, "num_envs", "total_steps", "eval_episodes")
    for key in ("eval_every", "checkpoint_every", "log_every", "final_eval_episodes"):
        if cfg[key] < 0:
            raise ValueError(f"{key} must be >= 0 (0: the default schedule), got {cfg[key]}")
    for key, most in (
        ("num_envs", MAX_COPIES),
        ("eval_episodes", MAX_COPIES),
        ("final_eval_episodes", MAX_COPIES),
    ):
        if cfg[key] > most:
            raise ValueError(f"{key} must be at most {most:,}, got {cfg[key]:,}")
    for key in ("seed", "total_steps", "eval_every", "checkpoint_every", "log_every", "torch_threads"):
        if not -(2**63) <= cfg[key] < 2**63:
            raise ValueError(f"{key} must fit in 64 bits, got {cfg[key]}")
    if cfg.seed < 0:
        raise ValueError(f"seed must be >= 0, got {cfg.seed}")
    check_device(cfg.device)
    check_run_dir(cfg.run_dir)


def _one_line(err: BaseException) -> str:
    """Hydra's error and its cause, each by its first line ("Error merging override seed=x: Value 'x' ...")."""
    lines = [(str(e).strip().splitlines() or [""])[0].rstrip(".") for e in (err, err.__cause__) if e]
    return ": ".join(line for line in lines if line not in ("", "None"))


def merge_values(cfg: DictConfig, values: Mapping[str, Any]) -> DictConfig:
    """`cfg` with `values` merged over it; a key its schemas lack or a value of the wrong type raises
    ValueError naming the key."""
    open_mappings(cfg)
    try:
        return OmegaConf.merge(cfg, values)
    except (ConfigKeyError, ValidationError) as err:
        raise ValueError(f"run config key {err.full_key!r}: {str(err).splitlines()[0]}") from None


def open_mappings(cfg: DictConfig) -> None:
    """Let the free-form mappings of a schema (fields typed `dict[str, Any]`, such as MANSA's hyperparameters
    of its learners) take keys the schema cannot know; every other node stays closed to unknown keys."""
    for key in cfg:
        node = cfg._get_node(key)
        if not isinstance(node, DictConfig):
            continue
        if node._metadata.object_type is dict and node._metadata.element_type is Any:
            OmegaConf.set_struct(node, False)
        else:
            open_mappings(node)


def _new_directory(path: str) -> str:
    candidate, suffix = path, 0
    while Path(candidate).exists():
        suffix += 1
        candidate = f"{path}-{suffix}"
    return candidate


def normalize_overrides(overrides: Sequence[str]) -> list[str]:
    """`experiment=null` (no preset, as configs/config.yaml says) is Hydra's `~experiment`."""
    return ["~experiment" if item in ("experiment=null", "experiment=") else item for item in overrides]


def check_device(device: str) -> None:
    """`device` must be a torch device this machine has (ValueError naming it otherwise)."""
    import torch

    try:
        parsed = torch.device(device)
    except RuntimeError:
        raise ValueError(f"device {device!r} is not a device: expected cpu, cuda or cuda:N") from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r}: this machine has no CUDA device (use device=cpu)")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA devices")
    elif parsed.type != "cpu":
        raise ValueError(f"device {device!r} is not supported: expected cpu, cuda or cuda:N")


def check_overrides(overrides: Sequence[str]) -> None:
    """Catch a mistyped top-level key or an unknown `env=` / `algo=` / `model=` / `experiment=` choice before Hydra
    starts, naming the closest match (ValueError)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    for arg in overrides:
        if not arg.startswith("-") and "=" in arg:
            key = arg.split("=", 1)[0].lstrip("+~")
            _check_top_level_key(key.split(".")[0].split("/")[0], f" in {arg!r}")
            if key == "run_dir":
                check_run_dir(arg.split("=", 1)[1])
            try:
                parser.parse_override(arg)
            except HydraException as err:
                raise ValueError(f"cannot read the override {arg!r}: {_one_line(err)}") from None
    configs = config_dir()
    choices = {"env": registry.list_envs(), "algo": registry.list_algos(), "model": [], "experiment": []}
    for group, registered in choices.items():
        files = [
            str(p.relative_to(configs / group).with_suffix("")) for p in (configs / group).rglob("*.yaml")
        ]
        choices[group] = sorted(set(registered) | set(files))
    for arg in overrides:
        key, _, value = arg.partition("=")
        key = key.lstrip("+")
        # sweep functions (choice(...), range(...)) are Hydra's to check
        if key not in choices or "(" in value:
            continue
        for option in value.split(","):  # a multirun sweep lists several choices
            if option not in ("null", "") and option not in choices[key]:
                close = difflib.get_close_matches(option, choices[key], n=1, cutoff=0.5)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                known_choices = ", ".join(choices[key]) or "(none)"
                raise ValueError(f"unknown {key} {option!r}.{hint} Known {key} choices: {known_choices}")


def _check_top_level_key(key: str, where: str) -> None:
    groups = [
        "env",
        "algo",
        "experiment",
        "task",
        "hydra",
    ]  # task: a benchmark suite's (marl/running/bench.py)
    if key not in TOP_LEVEL_KEYS and key not in groups:
        close = difflib.get_close_matches(key, TOP_LEVEL_KEYS + groups, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"unknown config key {key!r}{where}.{hint} "
            f"Top-level keys: {', '.join(TOP_LEVEL_KEYS)}; groups: env, algo, experiment."
        )


def check_positive(node: Any, *keys: str) -> None:
    """Each of `node[key]` must be an integer >= 1."""
    for key in keys:
        value = node[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{key} must be a positive integer, got {value!r}")


def _type_hints(factory: Any) -> dict[str, Any]:
    is_config = inspect.isclass(factory) and dataclasses.is_dataclass(factory)
    target = factory.__init__ if inspect.isclass(factory) and not is_config else factory
    try:
        return typing.get_type_hints(target)
    except Exception:  # unresolvable annotations fall back to untyped keys
        return {}


def _omegaconf_type(hint: Any) -> Any:
    """Map a Python annotation onto one OmegaConf can check; anything it cannot becomes Any."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        inner = _omegaconf_type(args[0]) if len(args) == 1 else Any
        optional = len(args) < len(typing.get_args(hint))
        return Optional[inner] if optional else inner  # noqa: UP045 (built at run time for OmegaConf)
    if origin in (list, tuple, typing.List, typing.Tuple):  # noqa: UP006
        args = typing.get_args(hint)
        item = args[0] if args and all(a == args[0] for a in args if a is not Ellipsis) else Any
        return list[_omegaconf_type(item)] if item in _SIMPLE else list[Any]
    if origin in (dict, typing.Dict):  # noqa: UP006
        return dict[str, Any]
    if hint in _SIMPLE or (inspect.isclass(hint) and issubclass(hint, enum.Enum)):
        return hint
    return Any


def _dataclass_default(f: dataclasses.Field) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return _field_default(f.default_factory())
    return _field_default(inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default)


def _field_default(default: Any) -> Any:
    if default is inspect.Parameter.empty:
        return field(default=MISSING)
    if isinstance(default, (list, dict, tuple)):
        value = list(default) if isinstance(default, tuple) else default
        return field(default_factory=lambda: value.copy())
    return field(default=default)
