"""Target networks with Polyak averaging and Gaussian exploration for continuous actions."""

import pytest
import torch
from torch import nn

from marl.learning.offpolicy import gaussian_exploration, polyak_update, target_network


def test_target_network_is_a_frozen_copy():
    net = nn.Linear(3, 2)
    target = target_network(net)
    assert all(not p.requires_grad for p in target.parameters())
    assert torch.equal(target.weight, net.weight) and target.weight is not net.weight


def test_polyak_update_moves_the_target_by_tau():
    net = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    target = target_network(net)
    with torch.no_grad():
        for p in target.parameters():
            p.zero_()
        for p in net.parameters():
            p.fill_(1.0)
        net[1].running_mean.fill_(3.0)
    polyak_update(target, net, tau=0.25)
    assert all(torch.allclose(p, torch.full_like(p, 0.25)) for p in target.parameters())
    assert torch.equal(target[1].running_mean, net[1].running_mean)
    polyak_update(target, net, tau=1.0)
    assert all(torch.equal(p, q) for p, q in zip(target.parameters(), net.parameters(), strict=True))
    with pytest.raises(ValueError, match="tau"):
        polyak_update(target, net, tau=0.0)


def test_gaussian_exploration_perturbs_within_the_action_box():
    action = torch.zeros(10_000, 2)
    noisy = gaussian_exploration(action, 0.5, generator=torch.Generator().manual_seed(0))
    assert noisy.abs().max() <= 1.0
    assert 0.4 < float(noisy.std()) < 0.5  # N(0, 0.5) with a little mass clamped at the bounds
    assert torch.equal(gaussian_exploration(action, 0.0), action)
    with pytest.raises(ValueError, match="std"):
        gaussian_exploration(action, -0.1)
