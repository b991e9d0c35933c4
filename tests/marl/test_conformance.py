"""The conformance suite (`marl.testing`) on every registered environment, one test per check.

Parametrised over `marl.list_envs()`, so each new environment is checked as soon as it registers; mpe2's
particle worlds (through `marl.from_pettingzoo`) are registered here so that the bridge's wrapper is checked
too, and the contract's test environment with respawns and late joins is checked by class, as a plugin
author's test would. The smacv2/* ids need SMACv2 and StarCraft II and skip where they are missing; their
adapter is checked over a stand-in game with SMACv2's interface. Small batches and few steps keep the whole grid to a few minutes on two cores.

Ids made by one factory (the kitchen's layouts, say) run the same code with other data: every id gets the
contract checks, and PettingZoo's own tests (the slow part: thousands of steps one agent at a time) run on the
first and the last id of each factory in sorted order (for the kitchen a 2-chef and a 3-chef layout).
"""

import functools
from collections import defaultdict

import pytest
from arena_env import RespawnArena
from smacv2_standin import StandInSMACv2

import marl
import marl.testing
from envs import pettingzoo_peers, smacv2
from marl.core import registry

pettingzoo_peers.register()
smacv2.register()


def smacv2_standin(**run) -> smacv2.SMACv2Env:
    """The smacv2/* adapter over stand-in games (3 allies, 4 enemies)."""
    config = smacv2.capability_config("zerg", 3, 4)
    return smacv2.SMACv2Env(lambda seed: StandInSMACv2(config, seed=seed, continuing_episode=True), **run)


SOURCES = {env_id: env_id for env_id in marl.list_envs()} | {
    "RespawnArena": RespawnArena,
    "RespawnArena(late_join=3)": functools.partial(RespawnArena, late_join=3),
    "SMACv2Env(stand-in)": smacv2_standin,
    # 162 agents at battle_v4's default size make PettingZoo's one-agent-at-a-time tests take minutes: 6 vs 6
    "magent/battle": functools.partial(marl.make, "magent/battle", map_size=16, max_steps=30),
}


def pettingzoo_subjects() -> set[str]:
    """The ids PettingZoo's tests run on: the first and last id of each factory, and every class given here."""
    by_factory = defaultdict(list)
    for env_id in marl.list_envs():
        factory = registry.env_entry(env_id).factory
        by_factory[getattr(factory, "func", factory)].append(env_id)
    ends = {ids[i] for ids in map(sorted, by_factory.values()) for i in (0, -1)}
    return ends | {name for name, source in SOURCES.items() if not isinstance(source, str)}


PETTINGZOO_SUBJECTS = pettingzoo_subjects()
# mmo/medium and mmo/large run mmo/small's code at larger sizes (large: 1,024 players on a 1,056-tile map, minutes
# per check on two cores, and ~10 GB for the 259 copies of the batched-operations check); tests/envs/test_mmo_env.py
# checks their presets
TOO_LARGE = {
    "mmo/large": "the same code as mmo/small at a size the suite cannot afford",
    "mmo/medium": "the same code as mmo/small at twice its players and 6x its map: about 40 s of checks",
}


@pytest.mark.parametrize("check", list(marl.testing.CHECKS))
@pytest.mark.parametrize("env", list(SOURCES))
def test_conformance(env, check):
    if env in TOO_LARGE:
        pytest.skip(TOO_LARGE[env])
    if check.startswith("pettingzoo") and env not in PETTINGZOO_SUBJECTS:
        pytest.skip("PettingZoo's tests run on the first and last id of this factory (same code, other data)")
    if check == "compiled" and env not in PETTINGZOO_SUBJECTS:
        pytest.skip(
            "compiled steps are checked on the first and last id of this factory (same code, other data)"
        )
    try:
        marl.testing.CHECKS[check](SOURCES[env], num_envs=3, steps=20)
    except marl.testing.CheckSkipped as reason:
        pytest.skip(str(reason))
