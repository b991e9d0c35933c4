"""Kitchen: the Overcooked cooperative cooking game (overcooked_ai's rules), batched, for 2 to 8 chefs.

Tasks: `kitchen/<layout>` for the five classic layouts (`kitchen/counter_circuit` is the 2019
`counter_circuit_o_1order` map), the reference's 4-chef `multiplayer_schelling` and the larger kitchens for 3,
4 and 6 chefs; `kitchen/layout` plays any layout by name (every file in maps/kitchen/) or path (`layout=...`).
Baseline policy: `kitchen_greedy` (a scripted chef, a partner without training).
"""

from __future__ import annotations

import functools
import inspect

import marl
from envs.kitchen.env import KitchenEnv
from envs.kitchen.layout import KitchenLayout, LayoutError, layout_names, load_layout

CLASSIC_LAYOUTS = (
    "cramped_room",
    "asymmetric_advantages",
    "coordination_ring",
    "forced_coordination",
    "counter_circuit",
)
MANY_CHEF_LAYOUTS = ("multiplayer_schelling", "trio_ring", "quad_room", "quad_split", "six_hall")
ALIASES = {"counter_circuit": "counter_circuit_o_1order"}


def make_kitchen(
    num_envs: int = 1,
    device: str = "cpu",
    seed: int | None = None,
    layout: str = "cramped_room",
    n_chefs: int | None = None,
    old_dynamics: bool | None = None,
    horizon: int = 400,
    shaped_reward_weight: float = 1.0,
    shaped_reward_horizon: int = 0,
) -> KitchenEnv:
    """Overcooked kitchen on any layout: a name in maps/kitchen/ or a path to a `.layout` file. `n_chefs`
    defaults to the layout's start cells; `old_dynamics` (pots of 3 onions start cooking by themselves, the
    2019 setting) defaults to on where every order has 3 onions."""
    return KitchenEnv(
        load_layout(ALIASES.get(layout, layout)),
        num_envs=num_envs,
        device=device,
        seed=seed,
        n_chefs=n_chefs,
        old_dynamics=old_dynamics,
        horizon=horizon,
        shaped_reward_weight=shaped_reward_weight,
        shaped_reward_horizon=shaped_reward_horizon,
    )


def _task(layout: str) -> functools.partial:
    """`make_kitchen` on one layout, whose config keys are all but `layout`."""
    factory = functools.partial(make_kitchen, layout=layout)
    signature = inspect.signature(make_kitchen)
    factory.__signature__ = signature.replace(
        parameters=[p for name, p in signature.parameters.items() if name != "layout"]
    )
    factory.__doc__ = f"Overcooked kitchen on the layout {ALIASES.get(layout, layout)!r}."
    return factory


_factories: dict[str, object] = {}


def register() -> None:
    """Register `kitchen/<layout>` for the classic and the many-chef layouts, and `kitchen/layout`
    (idempotent)."""
    for name in (*CLASSIC_LAYOUTS, *MANY_CHEF_LAYOUTS):
        if name not in _factories:
            _factories[name] = _task(name)
        marl.register_env(f"kitchen/{name}", _factories[name])
    marl.register_env("kitchen/layout", make_kitchen)


def register_baselines() -> None:
    """Register the scripted chef that needs no training (idempotent)."""
    from envs.kitchen.baselines import register as register_algos

    register_algos()


__all__ = [
    "CLASSIC_LAYOUTS",
    "MANY_CHEF_LAYOUTS",
    "KitchenEnv",
    "KitchenLayout",
    "LayoutError",
    "layout_names",
    "load_layout",
    "make_kitchen",
    "register",
    "register_baselines",
]
