"""PettingZoo's own test utilities, run on the Parallel and AEC views of an environment.

The views show copy 1 of a 2-copy batch, so the path where the other copy takes random actions is exercised
too. `parallel_api_test`, `parallel_seed_test` and `render_test` sample actions without reading the masks in
`infos`, hence `illegal_actions="resample"` for them (an illegal sample is replaced by a random legal action
and flagged in infos); `api_test` and `seed_test` read the masks and run with the default, "raise".
"""

from __future__ import annotations

import warnings

from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test, render_test, seed_test

from marl.bridge import ParallelView, to_aec, to_parallel
from marl.testing.contract import has_renderer
from marl.testing.harness import CheckSkipped, Subject, conformance_check, require

# parallel_api_test only warns about these, but each one is a broken contract...
CONTRACT_WARNINGS = ("Live agent was not given", "but was dead last turn", "No agents present")
# ...except this one where agents respawn: each life is a possible agent, and an episode rarely uses them all
UNUSED_LIVES = "No agents present but not all possible_agents are terminated or truncated"
CYCLES = 1000  # PettingZoo's API tests stop earlier when the episode ends


def view(
    subject: Subject, render_mode: str | None = None, aec: bool = False, illegal_actions: str = "resample"
):
    """A PettingZoo view of copy 1 of a fresh 2-copy batch."""
    to_view = to_aec if aec else to_parallel
    return to_view(
        subject.make(num_envs=2), index=1, render_mode=render_mode, illegal_actions=illegal_actions
    )


@conformance_check("pettingzoo_parallel_api")
def check_parallel_api(subject: Subject) -> None:
    """PettingZoo's `parallel_api_test` with its contract warnings as failures (but unused lives of agents that
    respawn), then every observation and state of a random episode inside its space."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        par = view(subject)
        parallel_api_test(par, num_cycles=CYCLES)
    respawns = any(spec.lives > 1 for spec in par.env.group_specs.values())
    messages = [str(w.message) for w in caught if not (respawns and str(w.message) == UNUSED_LIVES)]
    broken = [m for m in messages if any(w in m for w in CONTRACT_WARNINGS)]
    require(not broken, f"parallel_api_test warned: {broken[:3]}")
    check_values_in_spaces(view(subject), subject.seed, subject.steps)


def check_values_in_spaces(par: ParallelView, seed: int, steps: int) -> None:
    observations, _ = par.reset(seed=seed)
    for t in range(steps):
        for agent, obs in observations.items():
            space = par.observation_space(agent)
            require(space.contains(obs), f"step {t}: the observation of {agent!r} is outside {space}: {obs}")
        state = par.state()
        require(par.state_space.contains(state), f"step {t}: the state is outside {par.state_space}")
        if not par.agents:
            break
        observations, *_ = par.step({a: par.action_space(a).sample() for a in par.agents})


@conformance_check("pettingzoo_aec_api")
def check_aec_api(subject: Subject) -> None:
    """PettingZoo's `api_test` on the AEC view (masks read from infos; an illegal action raises)."""
    api_test(view(subject, aec=True, illegal_actions="raise"), num_cycles=CYCLES)


@conformance_check("pettingzoo_parallel_seed")
def check_parallel_seed(subject: Subject) -> None:
    """PettingZoo's `parallel_seed_test`: two views reset with the same seed behave the same."""
    parallel_seed_test(lambda: view(subject))


@conformance_check("pettingzoo_aec_seed")
def check_aec_seed(subject: Subject) -> None:
    """PettingZoo's `seed_test` on the AEC view."""
    seed_test(lambda: view(subject, aec=True, illegal_actions="raise"))


@conformance_check("pettingzoo_render")
def check_render_view(subject: Subject) -> None:
    """PettingZoo's `render_test` on the AEC view."""
    if not has_renderer(subject.make(num_envs=2)):
        raise CheckSkipped("the environment has no renderer")
    render_test(lambda render_mode=None: view(subject, render_mode, aec=True))
