"""GAE against a hand-computed example with a truncation and terminations in the same batch."""

import pytest
import torch

from marl.learning.collector import compute_gae

GAMMA, LAM = 0.9, 0.8


def test_gae_bootstraps_truncation_and_not_termination():
    # T = 3 steps, B = 2 copies, n = 2 agents; tensors are [T, B, n]
    # copy 0 is truncated after step 1 (final value 4.0); its agent 1 terminates at step 0 and is dead after.
    # copy 1: both agents terminate at step 1 (the copy is done, its final value 9.0 must be ignored).
    rewards = torch.tensor(
        [
            [[1.0, 1.0], [1.0, 2.0]],
            [[2.0, 0.0], [1.0, 2.0]],
            [[3.0, 0.0], [1.0, 0.0]],
        ]
    )
    values = torch.tensor(
        [
            [[0.5, 0.3], [0.2, 1.0]],
            [[1.0, 5.0], [0.4, 1.0]],
            [[1.5, 5.0], [0.6, 0.0]],
        ]
    )
    next_values = torch.tensor(
        [
            [[1.0, 5.0], [0.4, 1.0]],
            [[4.0, 4.0], [9.0, 9.0]],
            [[2.0, 5.0], [0.7, 0.5]],
        ]
    )
    terminated = torch.tensor(
        [
            [[False, True], [False, False]],
            [[False, False], [True, True]],
            [[False, False], [False, False]],
        ]
    )
    done = torch.tensor([[False, False], [True, True], [False, False]])

    advantages, returns = compute_gae(rewards, values, next_values, terminated, done, GAMMA, LAM)

    # copy 0, agent 0 (truncated at t=1: bootstrap from the final value, then cut the chain)
    a2 = 3 + 0.9 * 2.0 - 1.5  # 3.3
    a1 = 2 + 0.9 * 4.0 - 1.0  # 4.6
    a0 = (1 + 0.9 * 1.0 - 0.5) + 0.9 * 0.8 * a1  # 4.712
    assert advantages[:, 0, 0].tolist() == pytest.approx([a0, a1, a2])
    # copy 0, agent 1 terminated at t=0: no bootstrap, and its dead steps' values do not leak back
    assert advantages[0, 0, 1].item() == pytest.approx(1 - 0.3)
    # copy 1, agent 0 terminated at t=1: r - V there, and the ignored final value 9.0 does not appear
    b2 = 1 + 0.9 * 0.7 - 0.6  # 1.03
    b1 = 1 - 0.4  # 0.6
    b0 = (1 + 0.9 * 0.4 - 0.2) + 0.72 * b1  # 1.592
    assert advantages[:, 1, 0].tolist() == pytest.approx([b0, b1, b2])
    # copy 1, agent 1
    c2 = 0 + 0.9 * 0.5 - 0.0
    c1 = 2 - 1.0
    c0 = (2 + 0.9 * 1.0 - 1.0) + 0.72 * c1
    assert advantages[:, 1, 1].tolist() == pytest.approx([c0, c1, c2])
    assert torch.allclose(returns, advantages + values)


def test_gae_rejects_mismatched_shapes():
    x = torch.zeros(3, 2, 2)
    with pytest.raises(ValueError, match="same shape"):
        compute_gae(x, x, torch.zeros(3, 2, 1), x.bool(), torch.zeros(3, 2, dtype=torch.bool), 0.9, 0.9)
    with pytest.raises(ValueError, match="done has shape"):
        compute_gae(x, x, x, x.bool(), torch.zeros(2, 2, dtype=torch.bool), 0.9, 0.9)
