"""Learn to Follow's congestion-aware planner, batched over copies and agents.

Each agent plans on the full obstacle map (as Learn to Follow's planner does) a cheapest path to its goal, where
entering a cell costs

- a static penalty: the largest, over the map's free cells, of a cell's mean shortest-path distance to the cells
  it reaches, divided by that cell's own mean (1 at the map's periphery, larger towards its centre, where paths
  crowd), plus
- a dynamic count: how many times the agent has seen another agent on that cell in its observation window since
  its goal last changed (reset on every new goal).

and replans from its current cell at every step with the costs updated (Learn to Follow, Skrynnik et al., AAAI
2024; its planner skips agents that stand on their goal, and so do we). Cheapest paths come from
`weighted_distance_maps` (a min-plus relaxation instead of A*: ties between equally cheap paths are broken in
`MOVES` order, not in A*'s expansion order).
"""

from __future__ import annotations

import torch
from torch import Tensor

from envs.pathfinding.planning import UNREACHABLE, distance_maps, greedy_actions, weighted_distance_maps


def static_penalties(free: Tensor) -> Tensor:
    """Learn to Follow's static cell costs `[B, H, W]` for grids `free [B, H, W]` (1 on obstacles and on free
    cells that reach no other cell). Needs one BFS per free cell: meant for maps of up to a few thousand cells."""
    B, H, W = free.shape
    copies, cells = free.flatten(1).nonzero(as_tuple=True)
    dist = distance_maps(free[copies], cells).flatten(1)  # [free cells of all copies, H*W]
    reached = (dist > 0) & (dist < UNREACHABLE)
    total = torch.where(reached, dist, 0).sum(dim=1).float()
    count = reached.sum(dim=1)
    mean = torch.zeros(B, H * W, device=free.device)
    mean[copies, cells] = torch.where(count > 0, total / count.clamp_min(1), 0.0)
    largest = mean.max(dim=1, keepdim=True).values
    penalty = torch.where(mean > 0, largest / mean.clamp_min(1e-9), 1.0)
    return penalty.view(B, H, W)


class CongestionPlanner:
    """Per agent of every copy: its congestion costs and, at each call of `actions`, the first move of its
    cheapest path under them."""

    def __init__(self, free: Tensor, n_agents: int, radius: int) -> None:
        """`free [B, H, W]`: the copies' maps; `radius`: the observation window's (agents seen within it count)."""
        B, H, W = free.shape
        self.free, self.radius, self.height, self.width = free, radius, H, W
        self.static = static_penalties(free).flatten(1)  # [B, H*W]
        self.seen = torch.zeros(B, n_agents, H * W, device=free.device)
        self.goal = torch.full((B, n_agents), -1, dtype=torch.long, device=free.device)

    def observe(self, pos: Tensor, goal: Tensor, present: Tensor) -> None:
        """Count, for every agent off its goal, the other present agents in its window `pos, goal, present
        [B, n]`; an agent whose goal changed starts counting from zero."""
        B, n = pos.shape
        self.seen[goal != self.goal] = 0.0
        self.goal = goal.clone()
        row, col = pos // self.width, pos % self.width
        near = ((row[:, :, None] - row[:, None, :]).abs() <= self.radius) & (
            (col[:, :, None] - col[:, None, :]).abs() <= self.radius
        )
        others = ~torch.eye(n, dtype=torch.bool, device=pos.device)
        counting = (present & (pos != goal))[:, :, None]
        visible = near & others & present[:, None, :] & counting  # [B, observer, seen]
        self.seen.scatter_add_(2, pos[:, None, :].expand(B, n, n), visible.float())

    def costs(self) -> Tensor:
        """The cost of entering each cell `[B, n, H*W]`, per agent."""
        return self.static[:, None, :] + self.seen

    def actions(self, pos: Tensor, goal: Tensor) -> Tensor:
        """The first move `[B, n]` (an index into MOVES) of every agent's cheapest path from `pos` to `goal`
        under its current costs (wait on the goal)."""
        B, n = pos.shape
        H, W = self.height, self.width
        cost = self.costs()
        free = self.free[:, None].expand(B, n, H, W).reshape(B * n, H, W)
        to_go = weighted_distance_maps(free, goal.flatten(), cost.view(B * n, H, W))
        # entering a cell and going on from it: its minimum over the neighbours is the move to make
        through = (to_go.flatten(1) + cost.view(B * n, -1)).view(B, n, -1)
        return greedy_actions(through, pos, H, W)
