"""mpe2's particle worlds (the PettingZoo originals) registered through `marl.from_pettingzoo`, as `mpe2/<task>`.

They are the reference the suite's own batched MPE is checked against and the "PettingZoo loop" side of its
benchmarks. Each factory's keyword parameters mirror mpe2's own (their defaults included) so they become the
task's config keys; mpe2 is imported only when an environment is built (it is in the `test` extra).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable

import marl
from marl.bridge import PettingZooEnv, from_pettingzoo

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


def _task_factory(
    task: str, module: str, params: dict[str, tuple[type, object]]
) -> Callable[..., PettingZooEnv]:
    """`factory(num_envs, device, seed, **mpe2 parameters)` with a real signature (the registry reads it)."""

    def factory(
        num_envs: int = 1, device: str = "cpu", seed: int | None = None, **kwargs: object
    ) -> PettingZooEnv:
        unknown = sorted(set(kwargs) - set(params))
        if unknown:
            raise TypeError(f"mpe2/{task} got unknown parameters {unknown}; it accepts {list(params)}")
        options = {name: kwargs.get(name, default) for name, (_, default) in params.items()}
        return from_pettingzoo(
            lambda: mpe2_parallel_env(module, **options), num_envs=num_envs, device=device, seed=seed
        )

    keyword = inspect.Parameter.KEYWORD_ONLY
    fixed = [
        inspect.Parameter("num_envs", keyword, default=1, annotation=int),
        inspect.Parameter("device", keyword, default="cpu", annotation=str),
        inspect.Parameter("seed", keyword, default=None, annotation=int | None),
    ]
    own = [inspect.Parameter(name, keyword, default=d, annotation=t) for name, (t, d) in params.items()]
    factory.__signature__ = inspect.Signature(fixed + own, return_annotation=PettingZooEnv)
    factory.__annotations__ = {p.name: p.annotation for p in fixed + own} | {"return": PettingZooEnv}
    factory.__name__ = factory.__qualname__ = f"mpe2_{task}"
    factory.__doc__ = (
        f"mpe2's {task} ({module}) through marl.from_pettingzoo: one PettingZoo instance per copy."
    )
    return factory


_FACTORIES = {task: _task_factory(task, module, params) for task, (module, params) in MPE2_TASKS.items()}


def register() -> None:
    """Register `mpe2/<task>` for every mpe2 task (idempotent)."""
    for task, factory in _FACTORIES.items():
        marl.register_env(f"mpe2/{task}", factory)
