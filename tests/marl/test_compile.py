"""Compiled environment steps: `marl.make(..., compile=True)` / `BatchedEnv.compile()` against the eager
reference.

The conformance suite's `compiled` check traces every family with TorchDynamo (backend "eager"); here inductor's
generated code runs once on simple_spread, and every MPE task is traced with `fullgraph=True`, which raises at
the first graph break (a host sync, a branch on a tensor's value, a draw from `self.generator` in the step).
"""

import dataclasses

import pytest
import torch

import marl
from envs.mpe import SimpleSpread
from marl.running.config import env_schema
from marl.testing import ConformanceError, check_compiled
from marl.testing.contract import record_trajectory

MPE_IDS = [env_id for env_id in marl.list_envs() if env_id.startswith("mpe/")]


def test_inductor_steps_match_eager_on_simple_spread():
    """Inductor's code gives the eager trajectory through two auto-resets: integer and boolean fields and
    observations exactly; float arithmetic it reorders (rewards) within float32 rounding."""
    reference = record_trajectory(marl.make("mpe/simple_spread", num_envs=4, seed=0), 0, 52)
    env = marl.make("mpe/simple_spread", num_envs=4, seed=0, compile=True)
    assert env.compiled
    compiled = record_trajectory(env, 0, 52)
    resets = 0
    for t, (step_a, step_b) in enumerate(zip(reference, compiled, strict=True)):
        for (label, _, a), (_, _, b) in zip(step_a, step_b, strict=True):
            if label.endswith("obs") or not a.is_floating_point():
                assert torch.equal(a, b), f"{label} differs at step {t}"
            else:
                torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-6, msg=f"{label} differs at step {t}")
            resets += int(a.sum()) if label == "done" else 0
    assert resets == 2 * 4  # every copy ended its 25-step episode twice


@pytest.mark.parametrize("env_id", MPE_IDS)
def test_mpe_steps_compile_without_graph_breaks(env_id):
    env = marl.make(env_id, num_envs=2, seed=0).compile(backend="eager", fullgraph=True)
    env.reset()
    for _ in range(env.max_steps + 1):  # through an auto-reset: the view after it is compiled too
        step = env.step(env.sample_actions())
    assert step.done.sum() == 0 and env.elapsed.eq(1).all()


class DriftsWhenCompiled(SimpleSpread):
    """Rewards that change under compilation: what the conformance check exists to catch."""

    def _rewards(self) -> torch.Tensor:
        rewards = super()._rewards()
        return rewards + 1.0 if torch.compiler.is_compiling() else rewards


def test_the_conformance_check_catches_a_compiled_step_that_differs():
    check_compiled(SimpleSpread, num_envs=2, steps=3)
    with pytest.raises(ConformanceError, match="agent.reward differs at step 1 on a compiled copy"):
        check_compiled(DriftsWhenCompiled, num_envs=2, steps=3)


def test_compile_is_a_key_of_every_environment_and_make_checks_it():
    fields = {f.name: f.default for f in dataclasses.fields(env_schema("lbf/10x10-3p-3f"))}
    assert fields["compile"] is False
    assert not marl.make("mpe/simple", num_envs=2).compiled
    with pytest.raises(TypeError, match="compile must be True or False, got 'yes'"):
        marl.make("mpe/simple", compile="yes")


def mappo_rollout(compile_backend: str | None) -> dict[str, torch.Tensor]:
    from algos.ppo import MAPPO
    from marl.learning.collector import RolloutCollector

    torch.manual_seed(0)
    algo = MAPPO(marl.make("mpe/simple_spread", num_envs=4, seed=0), {"rollout_length": 30}, "cpu")
    if compile_backend is not None:
        args = (algo.runner, algo.models, algo.value_normalizers, 30)
        algo.collector = RolloutCollector(*args, compile=True, compile_backend=compile_backend)
    return algo.collector.collect(algo.generator).groups["agent"]


def test_compiled_acting_draws_the_same_actions_for_a_seed():
    """The rollout's policy through torch.compile: the same actions (the draws stay eager, from the run's
    generator), hence the same observations; values and log-probabilities within float rounding."""
    eager, compiled = mappo_rollout(None), mappo_rollout("aot_eager")
    assert torch.equal(eager["action"], compiled["action"]) and torch.equal(eager["obs"], compiled["obs"])
    for key in ("log_prob", "value", "final_value"):
        torch.testing.assert_close(compiled[key], eager[key], rtol=1e-5, atol=1e-5)


def test_the_compile_key_of_on_policy_learners_compiles_the_acting():
    from algos.ppo import MAPPO

    env = marl.make("mpe/simple_spread", num_envs=2, seed=0)
    collector = MAPPO(env, {"compile": True}, "cpu").collector
    assert collector._policy is not collector._act_with  # torch.compile'd (the graphs build on first use)
    with pytest.raises(ValueError, match="compile must be true or false, got 1"):
        MAPPO(env, {"compile": 1}, "cpu")
