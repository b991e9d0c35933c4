"""The conformance suite catches each kind of broken environment, and names the check and the environment."""

import functools
import warnings

import numpy as np
import pytest
import torch
from arena_env import RespawnArena
from toy_env import ToyWalk

import marl
import marl.testing
from marl.core.env import Neighbours, sample_actions
from marl.testing import CheckSkipped, ConformanceError, check_env, contract, devices


class NewSpaceEachCall(ToyWalk):
    def observation_space(self, agent):
        return self.group_specs[self.group_of(agent)].observation_space.__class__(-1.0, 2.0, (4,), np.float32)


class DoubleObservations(ToyWalk):
    def _observe(self):
        return {g: obs.double() for g, obs in super()._observe().items()}


class GlobalRandomness(ToyWalk):
    def _reset(self, mask):
        super()._reset(mask)
        self.puck = self.where(mask, torch.rand(self.num_envs, 2), self.puck)  # not self.generator


class ResetsEveryCopy(ToyWalk):
    def _reset(self, mask):
        super()._reset(torch.ones_like(mask))


class LoopsOverCopies(ToyWalk):
    def _step(self, actions):
        for b in range(self.num_envs):
            self.puck[b] += 0.0
        return super()._step(actions)


class RevivesTheDead(ToyWalk):
    def _step(self, actions):
        reward, terminated = super()._step(actions)["walker"]
        self.alive["walker"] |= self.elapsed[:, None] % 2 == 0  # behind the contract's back
        return {"walker": (reward, terminated), "pusher": super()._step(actions)["pusher"]}


class NoLegalMove(ToyWalk):
    def _action_mask(self):
        mask = super()._action_mask()["walker"].clone()
        mask[:, 0] = False
        return {"walker": mask}


class AcceptsAnything(ToyWalk):
    def _check_actions(self, actions):
        return actions


class ArenaSamplingWithoutMasks(RespawnArena):
    def sample_actions(self, generator=None):
        return sample_actions(self.group_specs, self.num_envs, {}, generator or self.generator, self.device)


class ArenaKeysOutOfOrder(RespawnArena):
    def _observe(self):
        obs = super()._observe()["agent"]
        return {"agent": dict(reversed(obs.items()))}


class ArenaNeighboursOutOfRange(RespawnArena):
    def _neighbours(self):
        near = super()._neighbours()["agent"]
        return {"agent": Neighbours(near.index + 1, near.mask)}


class FloatFrames(ToyWalk):
    def _render(self, index):
        return super()._render(index) / 255.0


@pytest.mark.parametrize(
    "env_class, check, message",
    [
        (NewSpaceEachCall, "spaces", r"observation_space\('walker_0'\) returns a new object"),
        (
            DoubleObservations,
            "spaces",
            r"reset, group 'walker' obs has dtype torch.float64, expected torch.float32",
        ),
        (GlobalRandomness, "seeding", r"same seed, same actions, but pusher.obs differs"),
        (ResetsEveryCopy, "auto_reset", r"_reset\(mask\) changed state of a copy outside the mask"),
        (
            LoopsOverCopies,
            "batched_ops",
            r"test_testing.py:\d+ \(_step\) ran \d+ times .* with 260 copies: a Python loop over copies",
        ),
        (RevivesTheDead, "auto_reset", r"an agent that was not alive got a reward"),
        (NoLegalMove, "random_actions", r"an alive agent has no legal action under its mask \(copy 0\)"),
        (AcceptsAnything, "bad_actions", "an unknown group: step accepted it"),
        (
            ArenaSamplingWithoutMasks,
            "random_actions",
            r"rejected the actions sample_actions\(\) drew: .*illegal under",
        ),
        (
            ArenaKeysOutOfOrder,
            "spaces",
            r"expected a dict with keys \['grid', 'others', 'others_mask'\] in order",
        ),
        (ArenaNeighboursOutOfRange, "spaces", r"neighbours.index has indices outside \[0, 3\)"),
        (FloatFrames, "render", r"raised RuntimeError: _render must return uint8"),
    ],
)
def test_each_check_catches_its_kind_of_broken_environment(env_class, check, message):
    expected = rf"^{env_class.__name__}: conformance check '{check}' failed: .*{message}"
    with pytest.raises(ConformanceError, match=expected):
        marl.testing.CHECKS[check](env_class)


def test_check_env_reports_passed_and_skipped_checks():
    class NoRenderer(ToyWalk):
        _render = marl.BatchedEnv._render

    results = check_env(NoRenderer, pettingzoo=False, steps=5)
    assert results["render"] == "skipped: the environment has no renderer"
    assert results["spaces"] == results["auto_reset"] == "passed"
    assert not any(name.startswith("pettingzoo") for name in results)


def test_an_instance_stands_for_its_class_and_make_kwargs_reach_the_factory():
    made = []

    class Recorded(ToyWalk):
        def __init__(self, **kwargs):
            made.append(kwargs)
            super().__init__(**kwargs)

    contract.check_spaces(Recorded(num_envs=2), num_envs=5, steps=2, size=4)
    assert made[-1] == {"num_envs": 5, "device": "cpu", "seed": 0, "size": 4}


def test_bad_arguments_fail_clearly():
    with pytest.raises(TypeError, match="needs a registered environment id, an environment class or factory"):
        check_env(42)
    with pytest.raises(marl.RegistryError, match="unknown environment 'test/toy_wolk'"):
        check_env("test/toy_wolk")
    with pytest.raises(ValueError, match="num_envs must be an int >= 2, got 1"):
        check_env("test/toy_walk", num_envs=1)
    with pytest.raises(
        ConformanceError, match="'spaces' failed: raised TypeError: .* returned list, not a marl"
    ):
        contract.check_spaces(lambda **kwargs: [], steps=1)


def test_a_skipped_check_raises_check_skipped_when_called_alone():
    class Unvalidated(ToyWalk):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.validate_actions = False

    with pytest.raises(CheckSkipped, match="turns action validation off"):
        contract.check_bad_actions(Unvalidated)


class GlobalDraws(ToyWalk):
    def _step(self, actions):
        self.puck = self.puck + 0.01 * torch.rand(self.puck.shape)  # not from self.generator
        return super()._step(actions)


def test_matches_cpu_replays_the_generators_draws_and_catches_other_randomness(monkeypatch):
    random_endings = functools.partial(ToyWalk, end_prob=0.3)  # random draws in every step and auto-reset
    devices.check_matches_cpu(random_endings, steps=20)
    with pytest.raises(ConformanceError, match=r"'matches_cpu' failed: step 1 on cpu: pusher.obs\[0, 0, 0\]"):
        devices.check_matches_cpu(GlobalDraws, steps=5)
    monkeypatch.setattr(devices, "REPLAYED", ())
    with pytest.raises(ConformanceError, match="'matches_cpu' failed: step 1 on cpu: walker.obs"):
        devices.check_matches_cpu(random_endings, steps=20)


class SyncingWalk(ToyWalk):
    def _step(self, actions):
        # as torch warns under set_sync_debug_mode("warn")
        warnings.warn(f"{devices.SYNC_WARNING} (emulated)", stacklevel=1)
        return super()._step(actions)


def test_host_syncs_are_placed_inside_or_outside_the_step_loop():
    env = SyncingWalk(num_envs=2, seed=0)
    env.reset()
    with devices.HostSyncs(env) as syncs:
        warnings.warn(devices.SYNC_WARNING, stacklevel=1)  # setup, before the loop
        for _ in range(3):
            env.step(env.sample_actions())
            warnings.warn(devices.SYNC_WARNING, stacklevel=1)  # between two steps, or after the last one
    assert [(s.steps_before, s.inside_step) for s in syncs.syncs] == [
        (0, False), (0, True), (1, False), (1, True), (2, False), (2, True), (3, False),
    ]  # fmt: skip
    loop = syncs.in_step_loop()
    assert len(loop) == 5 and len(syncs.in_steps()) == 3
    assert {s.site for s in loop} == {
        "tests/marl/test_testing.py (_step)",
        "tests/marl/test_testing.py (test_host_syncs_are_placed_inside_or_outside_the_step_loop)",
    }
    assert devices.unexpected(loop, {"tests/marl/test_testing.py (_step)": "emulated"}) == [
        f"tests/marl/test_testing.py:{loop[1].where.split(':')[1]}"
    ]
    assert "step" not in vars(env)  # the class's step again
