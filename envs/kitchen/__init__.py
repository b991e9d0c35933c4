"""Kitchen: the Overcooked cooperative cooking game (overcooked_ai's rules), batched, for 2 to 8 chefs.

Tasks: `kitchen/<layout>` for the five classic layouts (`kitchen/counter_circuit` is the 2019
`counter_circuit_o_1order` map), the reference's 4-chef `multiplayer_schelling` and the larger kitchens for 3,
4 and 6 chefs; `kitchen/layout` plays any layout by name (every file in maps/kitchen/) or path (`layout=...`).
Baseline policy: `kitchen_greedy` (a scripted chef, a partner without training).
"""

from __future__ import annotations

import functools

import marl
from envs.kitchen.env import KitchenConfig, KitchenEnv, KitchenLayoutConfig
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
    layout: str = "cramped_room", num_envs: int = 1, device: str = "cpu", seed: int | None = None, **keys
) -> KitchenEnv:
    """Overcooked kitchen on any layout: a name in maps/kitchen/ or a path to a `.layout` file; `keys` are
    `KitchenConfig`'s (`marl.make("kitchen/layout", layout=..., ...)` in one call)."""
    register()
    return marl.make("kitchen/layout", num_envs=num_envs, device=device, seed=seed, layout=layout, **keys)


def _build(
    config: KitchenConfig, num_envs: int, device: str, seed: int | None, layout: str | None = None
) -> KitchenEnv:
    """The registered factory: `layout` fixed by the task, or the config's `layout` key (kitchen/layout)."""
    name = config.layout if layout is None else layout
    return KitchenEnv(
        load_layout(ALIASES.get(name, name)), config, num_envs=num_envs, device=device, seed=seed
    )


def register() -> None:
    """Register `kitchen/<layout>` for the classic and the many-chef layouts, and `kitchen/layout`
    (idempotent)."""
    for name in (*CLASSIC_LAYOUTS, *MANY_CHEF_LAYOUTS):
        if name not in _factories:
            _factories[name] = functools.partial(_build, layout=name)
        description = f"Overcooked kitchen on the layout {ALIASES.get(name, name)!r}."
        marl.register_env(f"kitchen/{name}", _factories[name], config=KitchenConfig, description=description)
    marl.register_env(
        "kitchen/layout",
        _build,
        config=KitchenLayoutConfig,
        description="Overcooked kitchen on any layout of maps/kitchen/ or a .layout file (key `layout`).",
    )


_factories: dict[str, functools.partial] = {}


def register_baselines() -> None:
    """Register the scripted chef that needs no training (idempotent)."""
    from envs.kitchen.baselines import register as register_algos

    register_algos()


__all__ = [
    "CLASSIC_LAYOUTS",
    "MANY_CHEF_LAYOUTS",
    "KitchenConfig",
    "KitchenEnv",
    "KitchenLayoutConfig",
    "KitchenLayout",
    "LayoutError",
    "layout_names",
    "load_layout",
    "make_kitchen",
    "register",
    "register_baselines",
]
