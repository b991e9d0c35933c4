"""Learn to Follow's congestion-aware planner: weighted cheapest paths against Dijkstra, the static penalty on a
corridor worked by hand, and agents seen on the short route sending the planner round the long one."""

import heapq

import numpy as np
import pytest
import torch

from envs.pathfinding.congestion import CongestionPlanner, static_penalties
from envs.pathfinding.planning import weighted_distance_maps

WAIT, UP, DOWN, LEFT, RIGHT = range(5)


def grid(*rows):
    return torch.tensor([[cell == "." for cell in row] for row in rows])[None]


def python_dijkstra(free, cost, goal):
    H, W = free.shape
    dist = np.full((H, W), np.inf)
    dist[goal] = 0.0
    queue = [(0.0, goal)]
    while queue:
        d, (r, c) = heapq.heappop(queue)
        if d > dist[r, c]:
            continue
        # the cost-to-go of a neighbour grows by the cost of entering the cell it steps into
        for nr, nc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if 0 <= nr < H and 0 <= nc < W and free[nr, nc] and d + cost[r, c] < dist[nr, nc]:
                dist[nr, nc] = d + cost[r, c]
                heapq.heappush(queue, (dist[nr, nc], (nr, nc)))
    return dist


def test_weighted_distance_maps_match_dijkstra():
    g = torch.Generator().manual_seed(0)
    free = torch.rand(10, 9, 11, generator=g) > 0.25
    cost = (torch.rand(10, 9, 11, generator=g, dtype=torch.float64) * 3 + 0.5).to(torch.float64)
    goals = torch.tensor([int(torch.nonzero(f.flatten())[0]) for f in free])
    dist = weighted_distance_maps(free, goals, cost)
    for k in range(10):
        expected = python_dijkstra(free[k].numpy(), cost[k].numpy(), divmod(int(goals[k]), 11))
        expected[~free[k].numpy()] = np.inf
        np.testing.assert_allclose(dist[k].numpy(), expected)


def test_static_penalty_of_a_corridor():
    # mean distance to the other cells: 2.5 at the ends, 1.75 next to them, 1.5 in the middle
    penalty = static_penalties(grid("#.....#"))[0, 0]
    expected = [1.0, 1.0, 2.5 / 1.75, 2.5 / 1.5, 2.5 / 1.75, 1.0, 1.0]
    assert penalty.tolist() == pytest.approx(expected)


def test_agents_seen_on_the_short_route_send_the_planner_round_the_long_one():
    # a ring of 14 cells (every static penalty 1): from (1, 1) to (1, 6) the top row takes 5 moves, the way
    # round the bottom 9; agents 1 and 2 stand on the top row, each on its own goal
    free = grid("########", "#......#", "#.####.#", "#......#", "########")
    W = 8
    planner = CongestionPlanner(free, n_agents=3, radius=5)
    assert planner.static.unique().tolist() == [1.0]
    pos = torch.tensor([[1 * W + 1, 1 * W + 3, 1 * W + 4]])
    goal = torch.tensor([[1 * W + 6, 1 * W + 3, 1 * W + 4]])
    present = torch.ones(1, 3, dtype=torch.bool)
    assert planner.actions(pos, goal)[0, 0].item() == RIGHT  # nothing seen yet: the short route
    for seen in (1, 2, 3):
        planner.observe(pos, goal, present)
        # each step adds the two agents in view: the top row costs 5 + 2 * seen against 9 round the bottom
        assert planner.seen[0, 0, 1 * W + 3].item() == seen
    assert planner.actions(pos, goal)[0, 0].item() == DOWN
    assert planner.seen[0, 1:].sum().item() == 0.0  # agents on their goals count nothing
    # a new goal starts the count again: (1, 5) costs 4 + 2 on top against 10 round the bottom
    goal[0, 0] = 1 * W + 5
    planner.observe(pos, goal, present)
    assert planner.seen[0, 0].sum().item() == 2.0
    assert planner.actions(pos, goal)[0, 0].item() == RIGHT
    # an agent on its goal waits
    assert planner.actions(pos, goal)[0, 1:].tolist() == [WAIT, WAIT]
