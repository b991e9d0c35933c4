"""The plugin registry: environments and algorithms are found by id, never imported by name by the core.

Built-in and third-party packages register the same way: an entry point in the group `marl.envs` or
`marl.algos` names a function that calls `register_env` / `register_algo`, or code calls them directly.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

ENV_ID = re.compile(r"^[a-z][a-z0-9_]*/[A-Za-z0-9][A-Za-z0-9_\-]*$")
ALGO_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
RUN_KEYS = ("num_envs", "device", "seed")  # given to every environment factory, never config keys
COMPILE_KEY = "compile"  # taken by `make` for every environment (BatchedEnv.compile), never a config key


class RegistryError(LookupError):
    """An unknown or malformed environment id or algorithm name."""

    def __str__(self) -> str:  # LookupError would quote the message
        return str(self.args[0])


class MissingDependency(ModuleNotFoundError):
    """A registered environment whose optional dependency is not installed: its id stays listed (so that
    `marl list` shows it) and building it raises this, with a message that says how to install what is
    missing. The conformance suite skips such an environment instead of failing it."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class EnvEntry:
    env_id: str
    factory: Callable[..., Any]
    description: str
    config_class: type | None = None  # the environment's config dataclass; None: keys from the factory


@dataclass(frozen=True)
class AlgoEntry:
    name: str
    factory: Callable[..., Any]
    config_class: type
    description: str


_envs: dict[str, EnvEntry] = {}
_algos: dict[str, AlgoEntry] = {}
_loaded_groups: set[str] = set()
plugin_errors: dict[str, str] = {}  # entry point ("group:name") -> the one-line report of why it was skipped


def register_env(
    env_id: str,
    factory: Callable[..., Any],
    *,
    config: type | None = None,
    description: str = "",
    overwrite: bool = False,
) -> None:
    """Register an environment factory under `family/task`.

    With `config` (a dataclass whose fields are the environment's config keys, optionally with a
    `validate()` method), the factory is called as `factory(config_instance, num_envs=..., device=...,
    seed=...)`. Without it, the factory is called as `factory(num_envs=..., device=..., seed=..., **kwargs)`
    and its keyword parameters become the config keys. Either way it returns a `marl.BatchedEnv`.
    """
    if not isinstance(env_id, str) or not ENV_ID.match(env_id):
        raise RegistryError(
            f"environment id {env_id!r} is malformed: expected 'family/task' in lower case, e.g. 'mpe/simple_spread'"
        )
    if not callable(factory):
        raise TypeError(f"factory for {env_id!r} must be callable, got {factory!r}")
    if config is not None:
        _check_config_class(env_id, config)
    if env_id in _envs and not overwrite and _envs[env_id].factory is not factory:
        raise RegistryError(
            f"environment {env_id!r} is already registered; pass overwrite=True to replace it"
        )
    _envs[env_id] = EnvEntry(env_id, factory, description or _first_line(factory), config)


def _check_config_class(env_id: str, config: type) -> None:
    if not (inspect.isclass(config) and dataclasses.is_dataclass(config)):
        raise TypeError(f"config for {env_id!r} must be a dataclass type, got {config!r}")
    reserved = {f.name for f in dataclasses.fields(config)} & {"id", COMPILE_KEY, *RUN_KEYS}
    if reserved:
        raise TypeError(
            f"config {config.__name__} for {env_id!r} may not have fields {sorted(reserved)}: "
            "num_envs, device and seed are given to the factory, compile is make's, and id names the environment"
        )


def register_algo(
    name: str,
    factory: Callable[..., Any],
    config_class: type,
    *,
    description: str = "",
    overwrite: bool = False,
) -> None:
    """Register an algorithm: `factory(env, config, device)` returns a `marl.Algorithm`.

    `config_class` is a dataclass whose fields are the algorithm's hyperparameters (and config keys).
    """
    if not isinstance(name, str) or not ALGO_NAME.match(name):
        raise RegistryError(
            f"algorithm name {name!r} is malformed: expected lower case letters, digits and _"
        )
    if name in _algos and not overwrite and _algos[name].factory is not factory:
        raise RegistryError(f"algorithm {name!r} is already registered; pass overwrite=True to replace it")
    _algos[name] = AlgoEntry(name, factory, config_class, description or _first_line(factory))


def list_envs() -> list[str]:
    """Every registered environment id, sorted (built-in, entry points and `register_env`)."""
    _load_entry_points("marl.envs")
    return sorted(_envs)


def list_algos() -> list[str]:
    """Every registered algorithm name, sorted."""
    _load_entry_points("marl.algos")
    return sorted(_algos)


def env_entry(env_id: str) -> EnvEntry:
    _load_entry_points("marl.envs")
    if env_id not in _envs:
        raise RegistryError(_unknown("environment", env_id, sorted(_envs)))
    return _envs[env_id]


def algo_entry(name: str) -> AlgoEntry:
    _load_entry_points("marl.algos")
    if name not in _algos:
        raise RegistryError(_unknown("algorithm", name, sorted(_algos)))
    return _algos[name]


def env_parameters(env_id: str) -> dict[str, inspect.Parameter]:
    """The keyword parameters a factory registered without a config class accepts besides num_envs, device
    and seed."""
    params = inspect.signature(env_entry(env_id).factory).parameters
    return {
        k: p
        for k, p in params.items()
        if k not in (*RUN_KEYS, COMPILE_KEY, "self") and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }


def env_config(env_id: str, **keys: Any) -> Any:
    """The environment's config dataclass filled from `keys` and validated (environments registered with
    `config=` only)."""
    config_class = env_entry(env_id).config_class
    if config_class is None:
        raise RegistryError(f"environment {env_id!r} was registered without a config class")
    accepted = [f.name for f in dataclasses.fields(config_class) if f.init]
    _refuse_unknown(env_id, keys, accepted)
    config = config_class(**keys)
    validate = getattr(config, "validate", None)
    if validate is not None:
        validate()
    return config


def make(
    env_id: str,
    num_envs: int = 1,
    device: str = "cpu",
    seed: int | None = None,
    compile: bool = False,  # noqa: A002 (the name torch and the config key use)
    **kwargs: Any,
):
    """Build `num_envs` copies of a registered environment on `device`; `kwargs` are its config keys.

    `compile=True` runs its steps through torch.compile (`BatchedEnv.compile()`: inductor, default mode);
    eager, the default, is the reference it matches."""
    if not isinstance(compile, bool):
        raise TypeError(f"compile must be True or False, got {compile!r}")
    entry = env_entry(env_id)
    if entry.config_class is not None:
        config = env_config(env_id, **kwargs)
        env = entry.factory(config, num_envs=num_envs, device=device, seed=seed)
    else:
        takes_any = any(p.kind == p.VAR_KEYWORD for p in inspect.signature(entry.factory).parameters.values())
        if not takes_any:
            _refuse_unknown(env_id, kwargs, list(env_parameters(env_id)))
        env = entry.factory(num_envs=num_envs, device=device, seed=seed, **kwargs)
    if compile:
        env.compile()
    return env


def _refuse_unknown(env_id: str, keys: dict[str, Any], accepted: list[str]) -> None:
    unknown = [k for k in keys if k not in accepted]
    if unknown:
        hints = "".join(
            f" (did you mean {m[0]!r}?)"
            for k in unknown
            for m in [difflib.get_close_matches(k, accepted, 1)]
            if m
        )
        raise TypeError(
            f"environment {env_id!r} got unknown parameters {unknown}{hints}; it accepts {sorted(accepted)}"
        )


def _unknown(kind: str, name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(str(name), known, n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"unknown {kind} {name!r}.{hint} Known {kind}s: {', '.join(known) or '(none registered)'}"


def _first_line(obj: Any) -> str:
    """The first sentence of the docstring's first paragraph, whole (it may span several lines)."""
    paragraph = " ".join((inspect.getdoc(obj) or "").strip().split("\n\n")[0].split())
    end = re.search(r"[.!?](\s|$)", paragraph)
    return paragraph[: end.start() + 1] if end else paragraph


def _load_entry_points(group: str) -> None:
    """Load each installed package's plugins once: an entry point names a function that registers them.

    A plugin that fails to import or register is reported once on stderr (name, entry point, the error's
    first line) and skipped: the built-ins and the other plugins keep working."""
    if group in _loaded_groups:
        return
    _loaded_groups.add(group)
    if group == "marl.algos":  # the core's own baseline, registered like a plugin (and as lazily)
        from marl.learning.algorithm import RandomConfig, RandomPolicy

        register_algo(
            "random", RandomPolicy, RandomConfig, description="uniformly random legal actions (a baseline)"
        )
    for ep in sorted(entry_points(group=group), key=lambda e: e.name):
        try:
            target = ep.load()
            if callable(target):
                target()
        except Exception as err:
            reason = (str(err).strip().splitlines() or [""])[0]
            report = f"{type(err).__name__}: {reason}" if reason else type(err).__name__
            plugin_errors[f"{group}:{ep.name}"] = report
            print(
                f"marl: skipped plugin {ep.name!r} ({group} entry point {ep.value}): {report}",
                file=sys.stderr,
            )
