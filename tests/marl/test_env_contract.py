"""The batched environment contract, exercised through the test environment ToyWalk: its dynamics are known,
so these tests predict exact values. What every environment must satisfy (spaces, seeding, auto-reset, no loop
over copies, legal actions, rendering) is checked by `marl.testing` in test_conformance.py."""

import numpy as np
import pytest
import torch
from toy_env import ToyWalk


def predicted_next(env: ToyWalk, actions: dict) -> dict:
    """ToyWalk's deterministic dynamics, written independently of the env: the state one step later."""
    move = torch.tensor([0, -1, 1])[actions["walker"]]
    pos = torch.where(env.alive["walker"], (env.pos + move).clamp(0, env.size - 1), env.pos)
    puck = env.puck + 0.1 * actions["pusher"][:, 0]
    return {"pos": pos, "puck": puck, "elapsed": env.elapsed + 1}


def test_ten_thousand_copies_with_random_subsets_ending_every_step():
    B = 10_000
    env = ToyWalk(num_envs=B, seed=3, end_prob=0.3, max_steps=1000)
    step = env.reset()
    seen_ids = set(env.episode_id.tolist())
    ended_total = 0
    for _ in range(5):
        actions = env.sample_actions()
        before = predicted_next(env, actions)
        old_ids = env.episode_id.clone()
        step = env.step(actions)
        done = step.done
        ended = int(done.sum())
        ended_total += ended
        assert 0 < ended < B, "a random subset must end (neither none nor all)"
        scale = env.size - 1
        # copies that did not end are untouched by the reset: they carry on from the predicted state
        keep = ~done
        assert torch.equal(env.pos[keep], before["pos"][keep])
        assert torch.allclose(env.puck[keep], before["puck"][keep])
        assert torch.equal(env.episode_id[keep], old_ids[keep])
        assert torch.equal(env.elapsed[keep], before["elapsed"][keep])
        # ended copies start fresh episodes: elapsed 0, everyone alive, a never-seen episode id
        assert torch.all(env.elapsed[done] == 0)
        assert torch.all(step["walker"].obs[done][..., 2] == 0)
        assert torch.all(step["walker"].alive[done])
        new_ids = set(env.episode_id[done].tolist())
        assert len(new_ids) == ended and not (new_ids & seen_ids)
        seen_ids |= new_ids
        # and the final observation of the ended episode is kept, equal to the predicted last state
        final = step.final_obs["walker"][done]
        assert torch.allclose(final[..., 0], before["pos"][done].float() / scale)
        assert torch.allclose(
            final[..., 2], before["elapsed"][done, None].float().expand_as(final[..., 2]) / 1000
        )
        assert torch.allclose(step.final_obs["pusher"][done][:, 0, :2], before["puck"][done])
        # the ended copies' rewards and terminations belong to the ended episode
        assert torch.all(step["pusher"].terminated[done])
        assert not torch.any(step["pusher"].terminated[keep])
        assert torch.allclose(step["pusher"].reward[done, 0], -before["puck"][done].norm(dim=1))
    assert ended_total > 5 * B * 0.2


def test_agents_terminate_individually_and_stay_masked():
    env = ToyWalk(num_envs=64, seed=1, max_steps=50)
    step = env.reset()
    dead_before = torch.zeros(64, 3, dtype=torch.bool)
    saw_partial = False
    for _ in range(15):
        step = env.step(env.sample_actions())
        walker = step["walker"]
        live_copies = ~step.done
        # an agent that was dead before this step neither terminates again nor earns reward
        assert not torch.any(walker.terminated[live_copies] & dead_before[live_copies])
        assert torch.all(walker.reward[live_copies][dead_before[live_copies]] == 0)
        alive = walker.alive
        saw_partial |= bool(((~alive).any(1) & alive.any(1) & live_copies).any())
        dead_before = ~alive
    assert saw_partial, "some copy should have had dead and live walkers at once"


def test_truncation_is_separate_from_termination():
    env = ToyWalk(num_envs=4, seed=0, max_steps=3)
    env.reset()
    for _ in range(3):
        # walkers wait, so nobody arrives; the pusher never terminates
        step = env.step({"walker": torch.zeros(4, 3, dtype=torch.long), "pusher": torch.zeros(4, 1, 2)})
    assert torch.all(step.truncated) and torch.all(step.done)
    assert not torch.any(step["pusher"].terminated)
    assert torch.all(step.info["episode_length"] == 3)


def test_unknown_agent_names_are_rejected():
    env = ToyWalk(num_envs=2, seed=0)
    with pytest.raises(KeyError, match="unknown agent 'walker_9'"):
        env.observation_space("walker_9")


def valid_actions(env):
    return {
        "walker": torch.zeros(env.num_envs, 3, dtype=torch.long),
        "pusher": torch.zeros(env.num_envs, 1, 2),
    }


@pytest.mark.parametrize(
    "change, error, message",
    [
        (lambda a: a.pop("pusher"), KeyError, r"missing \['pusher'\]"),
        (lambda a: a.update(extra=torch.zeros(2)), KeyError, r"unexpected \['extra'\]"),
        (
            lambda a: a.update(walker=torch.zeros(2, 2, dtype=torch.long)),
            ValueError,
            r"group 'walker'.*shape \(2, 2\), expected \(2, 3\)",
        ),
        (
            lambda a: a.update(walker=torch.zeros(2, 3)),
            TypeError,
            r"group 'walker'.*dtype torch.float32, expected an integer",
        ),
        (
            lambda a: a.update(pusher=torch.zeros(2, 1, 2, dtype=torch.long)),
            TypeError,
            r"group 'pusher'.*expected a floating",
        ),
        (
            lambda a: a["walker"].__setitem__((1, 2), 3),
            ValueError,
            r"agent 'walker_2' in copy 1 is 3, outside Discrete\(3\)",
        ),
        (lambda a: a["walker"].__setitem__((0, 0), -1), ValueError, r"agent 'walker_0' in copy 0 is -1"),
        (
            lambda a: a["pusher"].__setitem__((1, 0, 1), 1.5),
            ValueError,
            r"agent 'pusher_0' in copy 1 .*outside the bounds",
        ),
        (
            lambda a: a["pusher"].__setitem__((0, 0, 0), float("nan")),
            ValueError,
            r"agent 'pusher_0' in copy 0 .*not finite",
        ),
        (
            lambda a: a.update(walker=[[0, 0, 0], [0, 0, 0]]),
            TypeError,
            r"group 'walker': actions must be a torch.Tensor, got list",
        ),
    ],
)
def test_bad_actions_are_rejected_with_a_message(change, error, message):
    env = ToyWalk(num_envs=2, seed=0)
    env.reset()
    actions = valid_actions(env)
    change(actions)
    with pytest.raises(error, match=message):
        env.step(actions)


def test_illegal_action_under_the_mask_is_rejected():
    env = ToyWalk(num_envs=2, seed=0)
    env.reset()
    env.pos[1, 1] = 0  # at the left edge: moving left (action 1) is illegal
    actions = valid_actions(env)
    actions["walker"][1, 1] = 1
    with pytest.raises(ValueError, match=r"agent 'walker_1' in copy 1 is 1, illegal under the action mask"):
        env.step(actions)


def test_numpy_actions_act_like_tensors():
    with_tensors, with_numpy = ToyWalk(num_envs=4, seed=0), ToyWalk(num_envs=4, seed=0)
    with_tensors.reset(), with_numpy.reset()
    actions = with_tensors.sample_actions()
    expected = with_tensors.step(actions)
    got = with_numpy.step({k: v.numpy() for k, v in actions.items()})
    assert torch.equal(got.state, expected.state) and torch.equal(got["walker"].obs, expected["walker"].obs)


def test_step_before_reset_and_bad_constructor_arguments():
    env = ToyWalk(num_envs=2)
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(valid_actions(env))
    with pytest.raises(ValueError, match="num_envs must be a positive int, got 0"):
        ToyWalk(num_envs=0)
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        ToyWalk(seed=-3)


def test_render_grid_tiles_copies():
    env = ToyWalk(num_envs=4, seed=0)
    env.reset()
    frame = env.render(2)
    grid = env.render_grid([0, 1, 2, 3], columns=2)
    assert grid.shape == (2 * frame.shape[0], 2 * frame.shape[1], 3)
    assert np.array_equal(grid[: frame.shape[0], frame.shape[1] :], env.render(1))
    with pytest.raises(IndexError, match="copy index 4 out of range"):
        env.render(4)


def test_a_subclass_cannot_replace_the_step_machinery_by_name():
    with pytest.raises(TypeError, match="_view: these names belong to BatchedEnv's step machinery"):

        class OwnView(ToyWalk):  # an environment's private helper that happens to share the base's name
            def _view(self):
                return None

    class OwnHooks(ToyWalk):  # the hooks themselves stay overridable
        def _observe(self):
            return super()._observe()

    assert OwnHooks(num_envs=2).reset()["walker"].obs.shape[0] == 2


def test_sampled_actions_are_uniform_over_the_legal_ones():
    """Three legal actions of five: each drawn about a third of the time, the illegal ones never; a row with no
    legal action is uniform over all of them."""
    from marl.core.env import _sample_discrete

    mask = torch.tensor([False, True, False, True, True]).expand(20_000, 1, 5).clone()
    mask[-5_000:] = False  # rows with nothing legal
    draws = _sample_discrete(5, (20_000, 1), mask, torch.Generator().manual_seed(0), torch.device("cpu"))
    legal_counts = torch.bincount(draws[:15_000].flatten(), minlength=5)
    assert legal_counts[[0, 2]].sum() == 0
    assert ((legal_counts[[1, 3, 4]] - 5_000).abs() < 300).all(), legal_counts  # about 4 standard deviations
    free_counts = torch.bincount(draws[15_000:].flatten(), minlength=5)
    assert ((free_counts - 1_000).abs() < 130).all(), free_counts
