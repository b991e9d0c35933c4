"""The conformance suite (`marl.testing`) on every registered environment, one test per check.

Parametrised over `marl.list_envs()`, so each new environment is checked as soon as it registers; mpe2's
particle worlds (through `marl.from_pettingzoo`) are registered here so that the bridge's wrapper is checked
too. Small batches and few steps keep the whole grid to about two minutes on two cores.
"""

import pytest

import marl
import marl.testing
from envs import pettingzoo_peers

pettingzoo_peers.register()
ENV_IDS = marl.list_envs()


@pytest.mark.parametrize("check", list(marl.testing.CHECKS))
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_conformance(env_id, check):
    try:
        marl.testing.CHECKS[check](env_id, num_envs=3, steps=20)
    except marl.testing.CheckSkipped as reason:
        pytest.skip(str(reason))
