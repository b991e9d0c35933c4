"""Level-based foraging (lbforaging 2.0.0's rules), batched: players of several levels load foods together.

Task ids mirror the reference's gymnasium ids without the `Foraging-` prefix and the `-v3` suffix:
`lbf/[grid-][<N>s-]<size>x<size>-<players>p-<foods>f[-coop][-penalty]`, e.g. `lbf/8x8-2p-2f` (full sight)
or `lbf/2s-8x8-2p-2f-coop` (sight 2, cooperative foods). `grid-` selects the grid observation, `-penalty` a
penalty of 0.1 per failed load (the reference's disabled `-pen` variant). A common set of tasks is registered
(`TASKS`); any other id of the pattern is built by `make_lbf(task)`, or by `lbf/foraging` with its keys.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import marl
from envs.lbf.env import ACTION_NAMES, GROUP, LBFConfig, LBFEnv

# the tasks most used in papers (EPyMARL's benchmark of Papoudakis et al. 2021 and MANSA's) and the examples
TASKS = (
    "8x8-2p-2f",
    "8x8-2p-2f-coop",
    "2s-8x8-2p-2f-coop",
    "10x10-3p-3f",
    "2s-10x10-3p-3f",
    "15x15-3p-5f",
    "15x15-4p-3f",
    "15x15-4p-5f",
)
PENALTY = 0.1  # the reference's value for its (disabled in v3) `-pen` ids
TASK_PATTERN = re.compile(
    r"^(?P<grid>grid-)?(?:(?P<sight>\d+)s-)?(?P<size>\d+)x(?P<size2>\d+)-(?P<players>\d+)p-(?P<foods>\d+)f"
    r"(?P<coop>-coop)?(?P<penalty>-penalty)?$"
)


def parse_task(task: str) -> dict[str, Any]:
    """The config keys a task id sets: `parse_task("2s-8x8-2p-2f-coop")` gives size 8, n_agents 2, n_food 2,
    sight 2, coop True (and the defaults of the other flags)."""
    name = task.removeprefix("lbf/")
    match = TASK_PATTERN.match(name)
    if match is None or match["size"] != match["size2"]:
        raise ValueError(
            f"LBF task {task!r} does not match [grid-][<N>s-]<size>x<size>-<players>p-<foods>f[-coop][-penalty] "
            "(e.g. '2s-8x8-2p-2f-coop'; the grid is square)"
        )
    keys = {
        "size": int(match["size"]),
        "n_agents": int(match["players"]),
        "n_food": int(match["foods"]),
        "sight": int(match["sight"]) if match["sight"] else None,
        "coop": match["coop"] is not None,
        "penalty": PENALTY if match["penalty"] else 0.0,
        "grid_observation": match["grid"] is not None,
    }
    config = LBFConfig(**keys)
    config.validate()
    return keys


def task_config(task: str) -> type[LBFConfig]:
    """A subclass of `LBFConfig` whose defaults are the task's (every key stays overridable)."""
    keys = parse_task(task)
    types = {f.name: f.type for f in dataclasses.fields(LBFConfig)}
    fields = [(k, _resolved(types[k]), dataclasses.field(default=v)) for k, v in keys.items()]
    name = "LBFConfig_" + re.sub(r"\W", "_", task)
    cls = dataclasses.make_dataclass(name, fields, bases=(LBFConfig,))
    cls.__module__ = __name__
    cls.__doc__ = f"Config keys of `lbf/{task}` (its defaults set by the id)."
    return cls


def _resolved(annotation: Any) -> Any:
    """The field types of `LBFConfig` are strings (postponed annotations): the real type for a subclass."""
    return {"int": int, "int | None": int | None, "bool": bool, "float": float}.get(annotation, annotation)


def make_lbf(
    task: str, num_envs: int = 1, device: str = "cpu", seed: int | None = None, **keys: Any
) -> LBFEnv:
    """Any task of the id pattern, registered or not; `keys` override the task's (e.g. `max_steps=100`)."""
    config = LBFConfig(**(parse_task(task) | keys))
    return LBFEnv(config, num_envs=num_envs, device=device, seed=seed)


def _build(config: LBFConfig, num_envs: int, device: str, seed: int | None) -> LBFEnv:
    return LBFEnv(config, num_envs=num_envs, device=device, seed=seed)


def register() -> None:
    """Register `lbf/<task>` for `TASKS` and `lbf/foraging` (every key set by hand); idempotent."""
    for task in TASKS:
        if task not in _configs:
            _configs[task] = task_config(task)
        keys = parse_task(task)
        sight = "full sight" if keys["sight"] is None else f"sight {keys['sight']}"
        description = (
            f"Level-based foraging: {keys['n_agents']} players, {keys['n_food']} foods on {keys['size']}x"
            f"{keys['size']}, {sight}{', cooperative foods' if keys['coop'] else ''}."
        )
        marl.register_env(f"lbf/{task}", _build, config=_configs[task], description=description)
    marl.register_env(
        "lbf/foraging",
        _build,
        config=LBFConfig,
        description="Level-based foraging with every key set by hand (size, n_agents, n_food, sight, coop, ...).",
    )


_configs: dict[str, type[LBFConfig]] = {}


__all__ = [
    "ACTION_NAMES",
    "GROUP",
    "PENALTY",
    "TASKS",
    "LBFConfig",
    "LBFEnv",
    "make_lbf",
    "parse_task",
    "register",
    "task_config",
]
