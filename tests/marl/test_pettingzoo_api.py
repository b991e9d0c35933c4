"""PettingZoo's own API, seed and render tests on the Parallel and AEC views of every registered environment.

Parametrised over `marl.list_envs()`, so each new environment is checked as soon as it registers. The views
show copy 1 of a 2-copy batch, so the path where the other copies take random actions is exercised too.
PettingZoo's `parallel_api_test`, `parallel_seed_test` and `render_test` sample actions without reading masks
from infos, hence `illegal_actions="resample"` for them (an illegal sample is replaced by a random legal action
and flagged in infos); `api_test` and `seed_test` read the masks from infos and run with the default, "raise".
"""

import warnings

import pytest
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test, render_test, seed_test

import marl
from envs import kitchen, pettingzoo_peers

pettingzoo_peers.register()
kitchen.register()  # also an entry point; registered here so a checkout that is not installed tests it too
ENV_IDS = marl.list_envs()

# parallel_api_test only warns about these, but each one is a broken contract
CONTRACT_WARNINGS = ("Live agent was not given", "but was dead last turn", "No agents present")


def view(env_id, render_mode=None, aec=False, illegal_actions="resample"):
    env = marl.make(env_id, num_envs=2, seed=0)
    to_view = marl.to_aec if aec else marl.to_parallel
    return to_view(env, index=1, render_mode=render_mode, illegal_actions=illegal_actions)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_parallel_api(env_id):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        parallel_api_test(view(env_id), num_cycles=1000)
    broken = [str(w.message) for w in caught if any(m in str(w.message) for m in CONTRACT_WARNINGS)]
    assert not broken


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_aec_api(env_id):
    api_test(view(env_id, aec=True, illegal_actions="raise"), num_cycles=1000)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_parallel_seed(env_id):
    parallel_seed_test(lambda: view(env_id))


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_aec_seed(env_id):
    seed_test(lambda: view(env_id, aec=True, illegal_actions="raise"))


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_render(env_id):
    render_test(lambda render_mode=None: view(env_id, render_mode, aec=True))


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_observations_and_state_lie_in_their_spaces(env_id):
    par = view(env_id)
    observations, _ = par.reset(seed=1)
    for _ in range(200):
        for agent, obs in observations.items():
            space = par.observation_space(agent)
            assert obs.dtype == space.dtype and space.contains(obs), (agent, obs)
        state = par.state()
        assert state.dtype == par.state_space.dtype and par.state_space.contains(state)
        if not par.agents:
            break
        actions = {a: par.action_space(a).sample() for a in par.agents}
        observations, *_ = par.step(actions)
