"""The Ising lattice against hand computations: neighbours, rewards, observations, order parameter."""

import pytest
import torch

import marl
from envs import ising

ising.register()


def test_neighbours_wrap_around_the_lattice():
    index = ising.lattice_neighbours(3)
    # site 0 is (0, 0): up (2, 0) = 6, down (1, 0) = 3, left (0, 2) = 2, right (0, 1) = 1
    assert index[0].tolist() == [6, 3, 2, 1]
    assert index[4].tolist() == [1, 7, 3, 5]


def test_rewards_observations_and_order_parameter_by_hand():
    env = marl.make("ising/lattice", num_envs=1, size=3, coupling=2.0, field=0.5, seed=0)
    env.reset()
    actions = torch.ones(1, 9, dtype=torch.long)
    actions[0, 0] = 0  # one down spin among eight up spins
    step = env.step({"spin": actions})
    reward = step["spin"].reward[0]
    # the down spin: h * (-1) + J / 2 * (-1) * 4 = -0.5 - 4; its neighbours: 0.5 + 1 * (1 + 1 + 1 - 1) = 2.5
    assert reward[0].item() == pytest.approx(-4.5)
    assert reward[1].item() == pytest.approx(2.5)
    assert reward[4].item() == pytest.approx(4.5)  # no down neighbour: 0.5 + 1 * 4
    assert step["spin"].obs[0, 1].tolist() == [1.0, 1.0, -1.0, 1.0]  # site 1's left neighbour is site 0
    assert env.order_parameter().item() == pytest.approx(7 / 9)
    published = step["spin"].neighbours
    assert torch.equal(published.index[0], ising.lattice_neighbours(3)) and bool(published.mask.all())


def test_episode_reports_the_order_parameter():
    env = marl.make("ising/lattice", num_envs=2, size=4, max_steps=3, seed=1)
    env.reset()
    for _ in range(3):
        step = env.step({"spin": torch.zeros(2, 16, dtype=torch.long)})
    assert step.done.all() and step.info["order_parameter"].tolist() == [1.0, 1.0]


def test_bad_keys_are_refused():
    with pytest.raises(ValueError, match="size"):
        marl.make("ising/lattice", size=1)
