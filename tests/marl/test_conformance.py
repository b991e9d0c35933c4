"""The conformance suite (`marl.testing`) on every registered environment, one test per check.

Parametrised over `marl.list_envs()`, so each new environment is checked as soon as it registers; mpe2's
particle worlds (through `marl.from_pettingzoo`) are registered here so that the bridge's wrapper is checked
too, and the contract's test environment with respawns and late joins is checked by class, as a plugin
author's test would. Small batches and few steps keep the whole grid to a few minutes on two cores.
"""

import functools

import pytest
from arena_env import RespawnArena

import marl
import marl.testing
from envs import pettingzoo_peers, robots

pettingzoo_peers.register()
robots.register()  # until the installed entry points list it
SOURCES = {env_id: env_id for env_id in marl.list_envs()} | {
    "RespawnArena": RespawnArena,
    "RespawnArena(late_join=3)": functools.partial(RespawnArena, late_join=3),
}


@pytest.mark.parametrize("check", list(marl.testing.CHECKS))
@pytest.mark.parametrize("env", list(SOURCES))
def test_conformance(env, check):
    try:
        marl.testing.CHECKS[check](SOURCES[env], num_envs=3, steps=20)
    except marl.testing.CheckSkipped as reason:
        pytest.skip(str(reason))
