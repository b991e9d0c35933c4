"""RecycledTensors reuses an output's memory only once nothing made from it is alive any more."""

import pytest
import torch

import marl
from marl.core.recycling import RecycledTensors


def test_memory_is_reused_once_the_caller_lets_go():
    memory = RecycledTensors((4, 3))
    first = memory.new()
    address = first.data_ptr()
    del first
    assert memory.new().data_ptr() == address


@pytest.mark.parametrize(
    "keep_alive",
    [
        lambda t: t[:, 1:],  # a view
        lambda t: t.numpy(),  # a numpy array sharing the memory
        lambda t: (torch.ones(3, requires_grad=True) * t[0]).grad_fn,  # saved by autograd for backward
        lambda t: {"obs": t.unflatten(1, (1, 3))},  # a view inside a container
    ],
    ids=["view", "numpy", "autograd", "container"],
)
def test_memory_in_use_is_never_handed_out(keep_alive):
    memory = RecycledTensors((4, 3))
    first = memory.new()
    first.fill_(7.0)
    address = first.data_ptr()
    held = keep_alive(first)
    del first
    second = memory.new()
    assert second.data_ptr() != address
    second.fill_(-1.0)
    del held
    third = memory.new()  # the first block is free again
    assert third.data_ptr() == address


def test_past_keep_blocks_in_use_it_allocates_fresh_memory():
    memory = RecycledTensors((2, 2), keep=2)
    held = [memory.new() for _ in range(4)]
    assert len({t.data_ptr() for t in held}) == 4
    pooled = {t.data_ptr() for t in held[:2]}
    del held
    a, b = memory.new(), memory.new()  # the two pooled blocks come back, the other two were not kept
    assert {a.data_ptr(), b.data_ptr()} == pooled


def test_dtype_shape_and_bad_keep():
    t = RecycledTensors((2, 5), dtype=torch.int32).new()
    assert t.shape == (2, 5) and t.dtype == torch.int32 and t.is_contiguous()
    with pytest.raises(ValueError, match="keep must be a positive int"):
        RecycledTensors((2,), keep=0)


def test_observations_a_learner_holds_never_change():
    env = marl.make("pathfinding/random", num_envs=3, seed=0, size=12, n_agents=6, max_steps=4)
    step = env.reset()
    held = [(t, t.clone()) for t in (step["agent"].obs, step.state)]
    for _ in range(9):  # crosses two auto-resets
        step = env.step(env.sample_actions())
        outputs = (step["agent"].obs, step.state, step.final_obs["agent"], step.final_state)
        held += [(t, t.clone()) for t in outputs]
    for tensor, copy_taken_then in held:
        assert torch.equal(tensor, copy_taken_then)


def test_an_environment_reuses_observation_memory_when_outputs_are_dropped():
    env = marl.make("pathfinding/random", num_envs=2, seed=0, size=12, n_agents=4, max_steps=50)
    env.reset()
    addresses = set()
    for _ in range(6):
        addresses.add(env.step(env.sample_actions())["agent"].obs.data_ptr())
    assert len(addresses) <= 2
