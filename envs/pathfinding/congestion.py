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

from envs.pathfinding.planning import (
    MOVES,
    UNREACHABLE,
    distance_maps,
    greedy_actions,
    weighted_distance_maps,
)


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

    def __init__(self, free: Tensor, n_agents: int, radius: int, map_version: Tensor | None = None) -> None:
        """`free [B, H, W]`: the copies' maps; `radius`: the observation window's (agents seen within it count);
        `map_version [B]`: the maps' versions, which `sync` compares (default zeros)."""
        B, H, W = free.shape
        self.free, self.radius, self.height, self.width = free.clone(), radius, H, W
        self.static = static_penalties(free).flatten(1)  # [B, H*W]
        self.seen = torch.zeros(B, n_agents, H * W, device=free.device)
        self.goal = torch.full((B, n_agents), -1, dtype=torch.long, device=free.device)
        self.map_version = (
            torch.zeros(B, dtype=torch.long, device=free.device)
            if map_version is None
            else map_version.clone()
        )

    def sync(self, free: Tensor, map_version: Tensor) -> None:
        """Follow the copies whose map changed (`map_version [B]` differs from the one last seen, as after an
        environment's auto-reset): their static penalties are recomputed from `free [B, H, W]` and their agents'
        counts start again from zero."""
        changed = (map_version != self.map_version).nonzero().squeeze(1)
        if changed.numel():
            self.free[changed] = free[changed]
            self.static[changed] = static_penalties(free[changed]).flatten(1)
            self.seen[changed] = 0.0
            self.goal[changed] = -1
            self.map_version.copy_(map_version)

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

    def cost_to_go(self, goal: Tensor) -> Tensor:
        """`[B, n, H*W]`: for every agent and cell, the cost of entering the cell and going on from it to the
        agent's goal `goal [B, n]` under the agent's current costs (inf on obstacles and cells that cannot reach
        it); the move to make from a cell is to its neighbour (or itself, waiting) of least value."""
        B, n = goal.shape
        H, W = self.height, self.width
        cost = self.costs()
        free = self.free[:, None].expand(B, n, H, W).reshape(B * n, H, W)
        to_go = weighted_distance_maps(free, goal.flatten(), cost.view(B * n, H, W))
        return (to_go.flatten(1) + cost.view(B * n, -1)).view(B, n, -1)

    def actions(self, pos: Tensor, goal: Tensor) -> Tensor:
        """The first move `[B, n]` (an index into MOVES) of every agent's cheapest path from `pos` to `goal`
        under its current costs (wait on the goal)."""
        return greedy_actions(self.cost_to_go(goal), pos, self.height, self.width)

    def paths(self, pos: Tensor, goal: Tensor, length: int, radius: int | None = None) -> Tensor:
        """The next `length` cells `[B, n, length]` of every agent's cheapest path from `pos` to `goal` (an
        agent stays on its goal once there, and where its goal cannot be reached). With `radius`, tracing stops
        early, after k >= 1 cells, once every path has stepped out of the (2 radius + 1)^2 window around its
        agent: callers that draw paths into windows need no more (the result is then `[B, n, k]`)."""
        through = self.cost_to_go(goal)
        delta = torch.tensor([dr * self.width + dc for dr, dc in MOVES], device=pos.device)
        row, col = pos // self.width, pos % self.width
        cells, path = pos, []
        left = torch.zeros_like(pos, dtype=torch.bool)
        for step in range(length):
            cells = cells + delta[greedy_actions(through, cells, self.height, self.width)]
            path.append(cells)
            if radius is not None:
                left |= ((cells // self.width - row).abs() > radius) | (
                    (cells % self.width - col).abs() > radius
                )
                # an agent on its goal stays inside for good, so it counts as done too
                if step % 4 == 3 and bool((left | (cells == goal)).all()):
                    break
        return torch.stack(path, dim=-1) if path else pos[..., :0]
