"""mpe2's particle worlds (the PettingZoo originals) registered through `marl.from_pettingzoo`, as `mpe2/<task>`.

They are the reference the suite's own batched MPE is checked against and the "PettingZoo loop" side of its
benchmarks. Each task's config class mirrors mpe2's own keyword parameters (names and defaults: they are passed
to mpe2 unchanged); mpe2 is imported only when an environment is built (it is in the `test` extra).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from typing import Any

import marl
from marl.bridge import PettingZooEnv, from_pettingzoo
from marl.core.validation import check_bool, check_int, check_number

_COMMON = {"max_cycles": (int, 25), "continuous_actions": (bool, False), "dynamic_rescaling": (bool, True)}
_NEIGHBOURS = {"num_agent_neighbors": (int | None, None), "num_landmark_neighbors": (int | None, None)}

# task -> (mpe2 module, {parameter: (type, mpe2's default)}) in mpe2's order
MPE2_TASKS: dict[str, tuple[str, dict[str, tuple[type, object]]]] = {
    "simple": ("simple_v3", {**_COMMON}),
    "simple_adversary": ("simple_adversary_v3", {"N": (int, 2), **_COMMON, **_NEIGHBOURS}),
    "simple_crypto": ("simple_crypto_v3", {**_COMMON}),
    "simple_push": ("simple_push_v3", {**_COMMON}),
    "simple_reference": ("simple_reference_v3", {"local_ratio": (float, 0.5), **_COMMON}),
    "simple_speaker_listener": ("simple_speaker_listener_v4", {**_COMMON}),
    "simple_spread": (
        "simple_spread_v3",
        {
            "N": (int, 3),
            "local_ratio": (float, 0.5),
            **_COMMON,
            "curriculum": (bool, False),
            "terminate_on_success": (bool, False),
            **_NEIGHBOURS,
        },
    ),
    "simple_tag": (
        "simple_tag_v3",
        {
            "num_good": (int, 1),
            "num_adversaries": (int, 3),
            "num_obstacles": (int, 2),
            **_COMMON,
            "curriculum": (bool, False),
            "terminate_on_success": (bool, False),
            **_NEIGHBOURS,
        },
    ),
    "simple_world_comm": (
        "simple_world_comm_v3",
        {
            "num_good": (int, 2),
            "num_adversaries": (int, 4),
            "num_obstacles": (int, 1),
            "num_food": (int, 2),
            "num_forests": (int, 2),
            **_COMMON,
        },
    ),
    "collect_treasure": (
        "collect_treasure_v1",
        {"num_collectors": (int, 6), "num_deposits": (int, 2), "num_treasures": (int, 6), **_COMMON},
    ),
    "simple_formation": (
        "simple_formation_v1",
        {"N": (int, 4), **_COMMON, "terminate_on_success": (bool, False)},
    ),
    "simple_line": ("simple_line_v1", {"N": (int, 4), **_COMMON, "terminate_on_success": (bool, False)}),
}


def mpe2_parallel_env(module: str, **kwargs: object):
    """One mpe2 `parallel_env` (render_mode "rgb_array", so the batched env can render it)."""
    try:
        mpe2 = importlib.import_module(f"mpe2.{module}")
    except ModuleNotFoundError as err:
        if err.name is not None and err.name.split(".")[0] == "mpe2":
            raise ModuleNotFoundError(
                "the mpe2/* environments need the mpe2 package: pip install 'mpe2>=1.1' "
                "(or pip install 'marl-suite[test]')"
            ) from err
        raise
    return mpe2.parallel_env(render_mode="rgb_array", **kwargs)


def _validate(config: Any) -> None:
    """Types and signs; mpe2 checks the rest when it builds its world."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if isinstance(f.default, bool):
            check_bool(f.name, value)
        elif isinstance(f.default, float):
            check_number(f.name, value)
        else:  # counts; the neighbour counts may be None (full observability)
            check_int(f.name, value, low=1 if f.default is None else 0, allow_none=f.default is None)


def _config_class(task: str, module: str, params: dict[str, tuple[type, object]]) -> type:
    """A dataclass with mpe2's parameters of `task` as fields (mpe2's defaults) and a `validate()`."""
    fields = [(name, kind, dataclasses.field(default=default)) for name, (kind, default) in params.items()]
    doc = f"mpe2's {task} ({module}) parameters, passed to its parallel_env unchanged."
    return dataclasses.make_dataclass(
        f"MPE2_{task}_config", fields, namespace={"validate": _validate, "__doc__": doc}
    )


def _task_factory(task: str, module: str) -> Callable[..., PettingZooEnv]:
    def factory(
        config: Any, num_envs: int = 1, device: str = "cpu", seed: int | None = None
    ) -> PettingZooEnv:
        options = dataclasses.asdict(config)
        return from_pettingzoo(
            lambda: mpe2_parallel_env(module, **options), num_envs=num_envs, device=device, seed=seed
        )

    factory.__name__ = factory.__qualname__ = f"mpe2_{task}"
    factory.__doc__ = (
        f"mpe2's {task} ({module}) through marl.from_pettingzoo: one PettingZoo instance per copy."
    )
    return factory


PEERS = {
    task: (_task_factory(task, module), _config_class(task, module, params))
    for task, (module, params) in MPE2_TASKS.items()
}


def register() -> None:
    """Register `mpe2/<task>` for every mpe2 task (idempotent)."""
    for task, (factory, config_class) in PEERS.items():
        marl.register_env(f"mpe2/{task}", factory, config=config_class)
