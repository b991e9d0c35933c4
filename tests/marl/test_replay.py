"""The device-resident replay buffer: ring writes of whole batches of copies, joint sampling, transitions
that keep terminated and truncated apart and carry the final observation, and checkpoints."""

import pytest
import torch
from toy_env import ToyWalk

from marl.learning.replay import ReplayBuffer, transition


def rows(start: int, count: int) -> dict[str, torch.Tensor]:
    values = torch.arange(start, start + count)
    return {"a": values.float()[:, None].repeat(1, 2), "b": values * 10}


def test_add_writes_whole_batches_and_wraps_around():
    buffer = ReplayBuffer(5)
    buffer.add(rows(0, 3))
    buffer.add(rows(3, 3))
    assert (len(buffer), buffer.position, buffer.added) == (5, 1, 6)
    # row 0 was overwritten by the sixth transition, rows 1..4 hold transitions 1..4
    assert buffer.storage["b"].tolist() == [50, 10, 20, 30, 40]
    assert buffer.storage["a"][0].tolist() == [5.0, 5.0]


def test_sample_uses_the_same_indices_for_every_field():
    buffer = ReplayBuffer(100)
    buffer.add(rows(0, 40))
    batch = buffer.sample(256, generator=torch.Generator().manual_seed(0))
    assert torch.equal(batch["b"], batch["a"][:, 0].long() * 10)
    assert set(batch["b"].tolist()) <= set(range(0, 400, 10))
    assert len(set(batch["b"].tolist())) > 30  # draws spread over the stored rows


def test_sample_never_reads_unwritten_rows():
    buffer = ReplayBuffer(1000)
    buffer.add(rows(7, 3))
    assert set(buffer.sample(500)["b"].tolist()) == {70, 80, 90}


def test_bad_batches_are_refused_with_a_clear_error():
    buffer = ReplayBuffer(4)
    with pytest.raises(ValueError, match="same leading"):
        buffer.add({"a": torch.zeros(3), "b": torch.zeros(2)})
    with pytest.raises(ValueError, match="does not fit"):
        buffer.add(rows(0, 5))
    buffer.add(rows(0, 2))
    with pytest.raises(KeyError, match="fields changed"):
        buffer.add({"a": torch.zeros(2, 2)})
    with pytest.raises(ValueError, match="field 'b'"):
        buffer.add({"a": torch.zeros(2, 2), "b": torch.zeros(2)})  # float where longs are stored
    with pytest.raises(RuntimeError, match="empty"):
        ReplayBuffer(3).sample(1)


def test_checkpoint_keeps_position_always_and_contents_when_asked():
    buffer = ReplayBuffer(8)
    buffer.add(rows(0, 5))
    buffer.add(rows(5, 5))
    with_contents = ReplayBuffer(8)
    with_contents.load_state_dict(buffer.state_dict(include_contents=True))
    assert (len(with_contents), with_contents.position, with_contents.added) == (8, 2, 10)
    assert torch.equal(with_contents.storage["b"], buffer.storage["b"])

    counters_only = ReplayBuffer(8)
    state = buffer.state_dict()
    assert "contents" not in state
    counters_only.load_state_dict(state)
    assert (len(counters_only), counters_only.position, counters_only.added) == (0, 2, 10)
    counters_only.add(rows(100, 1))  # refills from the saved position
    assert counters_only.storage["b"][2] == 1000 and len(counters_only) == 1

    with pytest.raises(ValueError, match="capacity"):
        ReplayBuffer(9).load_state_dict(state)


def test_transition_keeps_terminated_and_truncated_apart_and_stores_final_observations():
    env = ToyWalk(num_envs=64, seed=3, max_steps=4, end_prob=0.2)
    step = env.reset()
    saw_truncation = saw_all_terminated = False
    for _ in range(12):
        actions = env.sample_actions()
        next_step = env.step(actions)
        batch = transition(step, actions, next_step)
        done = next_step.done
        for g in env.group_names:
            # ended copies: the ended episode's last observation, not the new episode's first
            assert torch.equal(batch[f"next_obs/{g}"][done], next_step.final_obs[g][done])
            assert torch.equal(batch[f"next_obs/{g}"][~done], next_step[g].obs[~done])
            assert torch.equal(batch[f"obs/{g}"], step[g].obs)
            assert torch.equal(batch[f"terminated/{g}"], next_step[g].terminated)
            assert torch.equal(batch[f"next_alive/{g}"], step[g].alive & ~next_step[g].terminated)
        assert torch.equal(batch["truncated"], next_step.truncated)
        # truncation without termination exists (a copy that must bootstrap) ...
        trunc_only = next_step.truncated & ~next_step["pusher"].terminated[:, 0]
        saw_truncation |= bool(trunc_only.any())
        # ... and termination without truncation too
        saw_all_terminated |= bool((next_step["pusher"].terminated[:, 0] & ~next_step.truncated).any())
        # masks: the new step's mask where the episode continues, all legal where it ended
        mask = batch["next_action_mask/walker"]
        assert torch.equal(mask[~done], next_step["walker"].action_mask[~done])
        assert bool(mask[done].all())
        step = next_step
    assert saw_truncation and saw_all_terminated
    buffer = ReplayBuffer(1000)
    buffer.add(batch)
    assert len(buffer) == 64


def test_a_buffer_restarted_without_contents_samples_only_rows_written_since():
    buffer = ReplayBuffer(capacity=10)
    buffer.add({"x": torch.arange(6.0)})
    restarted = ReplayBuffer(capacity=10)
    restarted.load_state_dict(buffer.state_dict())  # counters only: empty, writing from row 6
    restarted.add({"x": torch.tensor([100.0, 101.0])})
    assert set(restarted.sample(50, torch.Generator().manual_seed(0))["x"].tolist()) == {100.0, 101.0}
    saved = ReplayBuffer(capacity=10)
    saved.load_state_dict(restarted.state_dict(include_contents=True))
    saved.add({"x": torch.tensor([102.0])})
    assert set(saved.sample(60, torch.Generator().manual_seed(1))["x"].tolist()) == {100.0, 101.0, 102.0}
