"""Kitchen: the Overcooked cooperative cooking game (overcooked_ai's rules), batched, for 2 to 8 chefs.

Tasks: `kitchen/<layout>` for every layout in maps/kitchen/ (the reference game's onion-only layouts and
larger ones for 3, 4 and 6 chefs); `kitchen/counter_circuit` is the 2019 `counter_circuit_o_1order` map.
Baseline policy: `kitchen_greedy` (a scripted chef, a partner without training).
"""

from __future__ import annotations

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
ALIASES = {"counter_circuit": "counter_circuit_o_1order"}


def make_kitchen(
    layout: str,
    num_envs: int = 1,
    device: str = "cpu",
    seed: int | None = None,
    n_chefs: int | None = None,
    old_dynamics: bool | None = None,
    horizon: int = 400,
    shaped_reward_weight: float = 1.0,
    shaped_reward_horizon: int = 0,
) -> KitchenEnv:
    """A kitchen on `layout` (a name in maps/kitchen/ or a path to a `.layout` file). `n_chefs` defaults to
    the layout's start cells; `old_dynamics` (pots of 3 onions start cooking by themselves, the 2019 setting)
    defaults to on where every order has 3 onions."""
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


def _task(layout: str):
    def factory(
        num_envs: int = 1,
        device: str = "cpu",
        seed: int | None = None,
        n_chefs: int | None = None,
        old_dynamics: bool | None = None,
        horizon: int = 400,
        shaped_reward_weight: float = 1.0,
        shaped_reward_horizon: int = 0,
    ) -> KitchenEnv:
        return make_kitchen(
            layout,
            num_envs=num_envs,
            device=device,
            seed=seed,
            n_chefs=n_chefs,
            old_dynamics=old_dynamics,
            horizon=horizon,
            shaped_reward_weight=shaped_reward_weight,
            shaped_reward_horizon=shaped_reward_horizon,
        )

    factory.__doc__ = f"Overcooked kitchen on the layout {ALIASES.get(layout, layout)!r}."
    return factory


_factories: dict[str, object] = {}


def register() -> None:
    """Register `kitchen/<layout>` for every shipped layout, and the classic alias (idempotent)."""
    for name in [*layout_names(), *ALIASES]:
        if name not in _factories:
            _factories[name] = _task(name)
        marl.register_env(f"kitchen/{name}", _factories[name])


def register_baselines() -> None:
    """Register the scripted chef that needs no training (idempotent)."""
    from envs.kitchen.baselines import register as register_algos

    register_algos()


__all__ = [
    "CLASSIC_LAYOUTS",
    "KitchenEnv",
    "KitchenLayout",
    "LayoutError",
    "layout_names",
    "load_layout",
    "make_kitchen",
    "register",
    "register_baselines",
]
