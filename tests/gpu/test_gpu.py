"""Checks on an accelerator: marked `gpu` and skipped without CUDA; `benchmarks/gpu_check.sh` runs them all.

- every registered environment passes the conformance checks on the device, `matches_cpu` among them (each
  step from the CPU copy's state, with the same actions and random draws, gives the CPU's outcome);
- its `step` makes no host sync but the one of action validation (none with `validate_actions=False`);
- every registered algorithm trains a few iterations on the device with no host sync inside its step loop
  except the places `marl.testing.devices.ALLOWED_SYNCS` lists with their reason, and acts (decentralised
  execution, as in evaluation) with no host sync at all.

`MARL_CHECK_DEVICE=cpu` runs the same tests on the CPU (the script's `--device cpu` dry run): everything runs,
but host syncs cannot be observed there.
"""

import os

import pytest
import torch

import marl
import marl.testing
from marl.core import registry
from marl.testing.devices import HostSyncs, unexpected

DEVICE = os.environ.get("MARL_CHECK_DEVICE", "cuda")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        DEVICE == "cuda" and not torch.cuda.is_available(), reason="needs CUDA (or MARL_CHECK_DEVICE=cpu)"
    ),
]
# mpe2 and SMACv2 are external games, one per copy, that run on the CPU by design
ENV_IDS = [e for e in marl.list_envs() if e.split("/")[0] not in ("mpe2", "smacv2")]
# fixed policies (nothing to train) and the task they act on; every other algorithm trains on DEFAULT_TASK
PLANNERS = {"pathfinding_follow": "pathfinding/random", "pathfinding_prioritised": "pathfinding/random"}
# algorithms that need a kind of task (discrete actions and published neighbours: the mean-field learners)
TASKS = {**PLANNERS, "mfq": "ising/lattice", "mfac": "ising/lattice"}
DEFAULT_TASK = "mpe/simple_spread"


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_environment_passes_the_conformance_checks_on_the_device(env_id):
    results = marl.testing.check_env(env_id, device=DEVICE, num_envs=3, steps=20, pettingzoo=False)
    assert results["matches_cpu"] == "passed"


@pytest.mark.parametrize("validate", [False, True])
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_environment_step_makes_no_host_sync_but_validation(env_id, validate):
    env = marl.make(env_id, num_envs=64, device=DEVICE, seed=0)
    env.validate_actions = validate
    env.reset()
    with HostSyncs(env) as syncs:
        for _ in range(10):
            env.step(env.sample_actions())
    inside = syncs.in_steps()
    allowed = marl.testing.devices.ALLOWED_SYNCS if validate else {}
    assert not unexpected(inside, allowed), f"host syncs in {env_id}'s step: {unexpected(inside, allowed)}"
    assert len(inside) <= (10 if validate else 0), [s.where for s in inside]


def make_algorithm(algo):
    env = marl.make(TASKS.get(algo, DEFAULT_TASK), num_envs=16, device=DEVICE, seed=0)
    entry = registry.algo_entry(algo)
    return env, entry.factory(env, entry.config_class(), torch.device(DEVICE))


@pytest.mark.parametrize("algo", [a for a in marl.list_algos() if a not in PLANNERS])
def test_algorithm_trains_without_host_sync_in_its_step_loop(algo):
    env, learner = make_algorithm(algo)
    learner.train_iteration()  # lazy allocations happen once, outside the record
    for _ in range(2):
        with HostSyncs(env) as syncs:
            iteration = learner.train_iteration()
        assert iteration.env_steps > 0 and syncs.steps > 1
        found = unexpected(syncs.in_step_loop())
        assert not found, f"{algo}: host syncs inside the step loop (not in ALLOWED_SYNCS): {found}"


@pytest.mark.parametrize("algo", marl.list_algos())
def test_algorithm_acts_without_host_sync(algo):
    env, policy = make_algorithm(algo)
    env.validate_actions = False
    step, state = env.reset(), policy.initial_policy_state(env.num_envs)
    with HostSyncs(env) as syncs:
        for _ in range(5):
            actions, state = policy.act(step, state)
            step = env.step(actions)
    assert all(a.device == env.device for a in actions.values())
    assert not unexpected(syncs.syncs, {}), f"{algo}: host syncs while acting: {unexpected(syncs.syncs, {})}"
