"""The conformance suite: `check_env` runs every check of the batched contract on an environment.

    import marl.testing
    marl.testing.check_env("mpe/simple_spread")            # a registered id
    marl.testing.check_env(MyEnv, num_envs=8, size=5)      # a class or factory, with its keyword arguments

Each check is also a function of its own (`check_spaces`, `check_seeding`, ...; `CHECKS` maps their names to
them) that takes the same arguments. A failure raises `ConformanceError` (an AssertionError, so pytest reports
it as a failed test) naming the check and the environment; a check that does not apply raises `CheckSkipped`.
"""

from __future__ import annotations

from typing import Any

from marl.testing.contract import (
    check_auto_reset,
    check_bad_actions,
    check_batched_ops,
    check_compiled,
    check_random_actions,
    check_render,
    check_seeding,
    check_spaces,
    python_lines,
)
from marl.testing.devices import HostSyncs, Sync, check_matches_cpu, copy_state
from marl.testing.harness import CHECKS, CheckSkipped, ConformanceError, EnvSource, Subject, as_subject
from marl.testing.pettingzoo import (
    check_aec_api,
    check_aec_seed,
    check_parallel_api,
    check_parallel_seed,
    check_render_view,
)


def check_env(
    env_or_id: EnvSource,
    *,
    num_envs: int = 4,
    device: str = "cpu",
    steps: int = 40,
    seed: int = 0,
    pettingzoo: bool = True,
    **make_kwargs: Any,
) -> dict[str, str]:
    """Run every conformance check (PettingZoo's five tests too unless `pettingzoo=False`) on `num_envs`
    copies on `device`, for about `steps` steps each; returns `{check: "passed" or "skipped: why"}`.

    `env_or_id` is a registered id, an environment class or factory (called as
    `factory(num_envs=..., device=..., seed=..., **make_kwargs)`), or an instance, which stands for its class.
    Raises `ConformanceError` at the first failed check."""
    subject = as_subject(env_or_id, num_envs=num_envs, device=device, steps=steps, seed=seed, **make_kwargs)
    results = {}
    for name, check in CHECKS.items():
        if name.startswith("pettingzoo") and not pettingzoo:
            continue
        try:
            check(subject)
            results[name] = "passed"
        except CheckSkipped as skipped:
            results[name] = f"skipped: {skipped}"
    return results


__all__ = [
    "CHECKS",
    "CheckSkipped",
    "HostSyncs",
    "Sync",
    "ConformanceError",
    "Subject",
    "as_subject",
    "check_aec_api",
    "check_aec_seed",
    "check_auto_reset",
    "check_bad_actions",
    "check_matches_cpu",
    "check_batched_ops",
    "check_compiled",
    "check_env",
    "check_parallel_api",
    "check_parallel_seed",
    "check_random_actions",
    "check_render",
    "check_render_view",
    "check_seeding",
    "check_spaces",
    "copy_state",
    "python_lines",
]
