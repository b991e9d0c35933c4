"""Equality with the reference game: trajectories of random joint actions recorded from overcooked_ai's rules
(benchmarks/kitchen_reference.py, PyPI `overcooked` 0.2.1 in its own virtual environment) are replayed in
ours, all episodes of a file as the copies of one batch, and every step is compared: positions, facings, held
items, pot contents and cooking ticks, sparse and shaped rewards per chef, and the lossless encodings (a
32-bit integer digest of both chefs' encodings every step, the full encodings for the first episode)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from envs.kitchen import make_kitchen
from envs.kitchen.env import GROUP

DATA = Path(__file__).resolve().parents[1] / "data" / "kitchen"
FILES = sorted(DATA.glob("*_dynamics.npz"))


def digest(encoding: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    return (encoding.long().flatten(1) * weights).sum(1) % (1 << 32)


def test_reference_recordings_cover_the_five_classic_layouts_in_both_dynamics():
    names = {f.name for f in FILES}
    for layout in ("cramped_room", "asymmetric_advantages", "coordination_ring", "forced_coordination"):
        assert {f"{layout}_old_dynamics.npz", f"{layout}_new_dynamics.npz"} <= names
    assert {"counter_circuit_old_dynamics.npz", "counter_circuit_new_dynamics.npz"} <= names


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_replay_matches_the_reference_at_every_step(path):
    ref = dict(np.load(path))
    layout, dynamics = path.stem.rsplit("_", 2)[0], path.stem.rsplit("_", 2)[1]
    E, T = ref["actions"].shape[:2]
    env = make_kitchen(layout=layout, num_envs=E, seed=0, old_dynamics=dynamics == "old", horizon=T)
    env.reset()
    W = env.width
    pots = env.is_pot.nonzero()[:, 0]
    weights = torch.as_tensor(ref["digest_weights"])
    served = 0
    for t in range(T):
        step = env.step({GROUP: torch.as_tensor(ref["actions"][:, t]).long()})
        where = f"{path.stem}, step {t}"
        np.testing.assert_array_equal(env.sparse_reward.numpy(), ref["sparse"][:, t], err_msg=where)
        np.testing.assert_array_equal(env.shaped_reward.numpy(), ref["shaped"][:, t], err_msg=where)
        served += int((env.sparse_reward > 0).sum())
        obs = step.final_obs[GROUP]  # the last step's state before the auto-reset; the same otherwise
        np.testing.assert_array_equal(digest(obs, weights).numpy(), ref["digest"][:, t], err_msg=where)
        np.testing.assert_array_equal(obs[0].numpy(), ref["first_episode_encoding"][t], err_msg=where)
        if t == T - 1:  # the copies were reset: the state fields are checked through the encodings above
            assert bool(step.done.all()) and bool(step.truncated.all())
            break
        position = torch.stack([env.pos % W, env.pos // W], dim=-1)
        np.testing.assert_array_equal(position.numpy(), ref["position"][:, t], err_msg=where)
        np.testing.assert_array_equal(env.facing.numpy(), ref["facing"][:, t], err_msg=where)
        np.testing.assert_array_equal(env.held.numpy(), ref["held"][:, t], err_msg=where)
        np.testing.assert_array_equal(env.held_onions.numpy(), ref["held_onions"][:, t], err_msg=where)
        np.testing.assert_array_equal(env.onions[:, pots].numpy(), ref["pot_onions"][:, t], err_msg=where)
        np.testing.assert_array_equal(env.tick[:, pots].numpy(), ref["pot_tick"][:, t], err_msg=where)
    assert served == int((ref["sparse"] > 0).sum())
