"""Batched grid algorithms as tensor operations: connected components, BFS distance maps, start/goal sampling.

Grids are `free [B, H, W]` (True = traversable); cells are addressed by their flat index `row * W + column`.
Every function works on all grids at once; the only Python loops run over BFS rounds (the grid's diameter),
never over copies, agents or cells.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

UNREACHABLE = 1 << 28  # distance of a cell that cannot reach the goal (sums of two stay far from overflow)
# actions: wait, up, down, left, right (POGEMA's MOVES; row, column)
MOVES = ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1))


def _shift_reduce(x: Tensor, fill: float, reduce) -> Tensor:
    """Elementwise `reduce` over the four neighbours of every cell of `x [B, H, W]` (outside = fill)."""
    p = F.pad(x, (1, 1, 1, 1), value=fill)
    up, down, left, right = p[:, :-2, 1:-1], p[:, 2:, 1:-1], p[:, 1:-1, :-2], p[:, 1:-1, 2:]
    return reduce(reduce(up, down), reduce(left, right))


def component_labels(free: Tensor) -> Tensor:
    """Label 4-connected free regions of `free [B, H, W]`: each cell gets the largest flat index in its region,
    obstacles get -1. Max-propagation to neighbours plus pointer jumping (a cell adopts the label of the cell
    its label names), until nothing changes: about log(diameter) rounds on open maps, more in mazes."""
    B, H, W = free.shape
    index = torch.arange(H * W, device=free.device).view(1, H, W).expand(B, H, W)
    labels = torch.where(free, index, -1)
    while True:
        spread = torch.maximum(labels, _shift_reduce(labels, -1, torch.maximum))
        flat = spread.reshape(B, -1)
        jumped = flat.gather(1, flat.clamp_min(0)).view(B, H, W)
        new = torch.where(free, torch.maximum(spread, jumped), -1)
        if torch.equal(new, labels):
            return labels
        labels = new


def distance_maps(free: Tensor, goals: Tensor) -> Tensor:
    """Shortest-path lengths (4-connected) from every cell to `goals [G]` (flat cells) on `free [G, H, W]`,
    as `int32 [G, H, W]`; `UNREACHABLE` where no path exists. BFS as a min-plus relaxation over the four
    shifts, all goals at once, until a fixed point (as many rounds as the largest finite distance)."""
    G, H, W = free.shape
    dist = torch.full((G, H * W), UNREACHABLE, dtype=torch.int32, device=free.device)
    dist.scatter_(1, goals.long()[:, None], 0)
    dist = dist.view(G, H, W)
    while True:
        relaxed = torch.minimum(dist, _shift_reduce(dist, UNREACHABLE, torch.minimum) + 1)
        relaxed = torch.where(free, relaxed, UNREACHABLE)
        if torch.equal(relaxed, dist):
            return dist
        dist = relaxed


def weighted_distance_maps(free: Tensor, goals: Tensor, cost: Tensor) -> Tensor:
    """Cheapest-path costs from every cell to `goals [G]` on `free [G, H, W]` when entering a cell costs
    `cost [G, H, W]` (positive floats), as `[G, H, W]` in `cost`'s dtype; `inf` where no path exists.
    Bellman-Ford as a min-plus relaxation over the four shifts (a cell's cost-to-go is the least, over its
    neighbours, of entering the neighbour plus the neighbour's cost-to-go), all goals at once, until a fixed
    point (as many rounds as the most cells on a cheapest path)."""
    G, H, W = free.shape
    inf = float("inf")
    # `padded` holds dist + entering with an inf border; obstacles enter at inf, so whatever value an obstacle
    # cell holds in `dist` never reaches a free cell, and obstacles are set to inf once at the end
    padded = torch.full((G, H + 2, W + 2), inf, dtype=cost.dtype, device=free.device)
    inner = padded[:, 1:-1, 1:-1]
    entering = torch.where(free, cost, inf)
    dist = torch.full((G, H * W), inf, dtype=cost.dtype, device=free.device)
    dist.scatter_(1, goals.long()[:, None], 0.0)
    dist = dist.view(G, H, W)
    best, other = torch.empty_like(dist), torch.empty_like(dist)
    while True:
        before = dist.clone()
        for _ in range(4):  # a few rounds between the (costly) checks for the fixed point
            torch.add(dist, entering, out=inner)
            torch.minimum(padded[:, :-2, 1:-1], padded[:, 2:, 1:-1], out=best)
            torch.minimum(padded[:, 1:-1, :-2], padded[:, 1:-1, 2:], out=other)
            torch.minimum(best, other, out=best)
            torch.minimum(dist, best, out=dist)
        if torch.equal(before, dist):
            return dist.masked_fill_(~free, inf)


def neighbour_cells(cells: Tensor, height: int, width: int) -> tuple[Tensor, Tensor]:
    """For flat `cells [...]`: the cell each of the 5 actions leads to `[..., 5]` and whether it is on the
    grid `[..., 5]` (off-grid moves keep the cell)."""
    r, c = cells // width, cells % width
    dr = torch.tensor([m[0] for m in MOVES], device=cells.device)
    dc = torch.tensor([m[1] for m in MOVES], device=cells.device)
    nr, nc = r[..., None] + dr, c[..., None] + dc
    inside = (nr >= 0) & (nr < height) & (nc >= 0) & (nc < width)
    return torch.where(inside, nr * width + nc, cells[..., None]), inside


def greedy_actions(dist: Tensor, cells: Tensor, height: int, width: int) -> Tensor:
    """The action that steps down the distance map `dist [B, n, H*W]` from `cells [B, n]` (wait at the goal or
    where the goal is unreachable); ties go to the first action in MOVES order."""
    nbrs, inside = neighbour_cells(cells, height, width)
    d = dist.gather(2, nbrs)
    d = torch.where(inside, d, UNREACHABLE)
    d[..., 0] = dist.gather(2, cells[..., None])[..., 0]  # waiting keeps the current distance
    return d.argmin(dim=-1)


PLACEMENTS = ("pogema", "uniform_pairs")


class ComponentTables:
    """Per copy: free cells grouped by connected component, in the order of one shuffled order of all cells;
    draws start/goal pairs and uniform cells of an agent's component."""

    # what new lifelong goals need, kept per copy by the environment (`order_position` serves placement only)
    FIELDS = ("cells", "sorted_labels", "rank_in_group", "component_start", "component_size", "rank_of_cell")

    def __init__(self, labels: Tensor, order: Tensor) -> None:
        """`labels [B, N]` from `component_labels` (flattened); `order [B, N]`: each copy's cells in a shuffled
        order (a permutation of 0..N-1). Cells are grouped by component and keep that order inside each."""
        B, N = labels.shape
        dev = labels.device
        sorted_labels, perm = labels.gather(1, order).sort(dim=1, stable=True)
        self.cells = order.gather(1, perm)  # cells grouped by component, in shuffled order inside each
        self.order_position = perm  # where each entry of `cells` comes in `order`
        position = torch.arange(N, device=dev).expand(B, N)
        first = torch.ones_like(sorted_labels, dtype=torch.bool)
        first[:, 1:] = sorted_labels[:, 1:] != sorted_labels[:, :-1]
        group_start = torch.where(first, position, 0).cummax(dim=1).values
        self.sorted_labels = sorted_labels
        self.rank_in_group = position - group_start
        # per cell: where its component starts in `cells`, its size, and its own rank there
        key = torch.where(sorted_labels >= 0, sorted_labels, N)
        size_of_label = torch.zeros(B, N + 1, dtype=torch.long, device=dev)
        size_of_label.scatter_add_(1, key, torch.ones_like(key))
        start_of_label = torch.zeros(B, N + 1, dtype=torch.long, device=dev).scatter_(1, key, group_start)
        cell_key = torch.where(labels >= 0, labels, N)
        self.component_start = start_of_label.gather(1, cell_key)
        self.component_size = torch.where(labels >= 0, size_of_label.gather(1, cell_key), 0)
        self.rank_of_cell = torch.empty_like(labels).scatter_(1, self.cells, self.rank_in_group)

    @classmethod
    def shuffled(cls, labels: Tensor, generator: torch.Generator) -> ComponentTables:
        """Tables for `labels [B, N]` with a uniformly random order of each copy's cells."""
        order = torch.rand(labels.shape, generator=generator, device=labels.device).argsort(dim=1)
        return cls(labels, order)

    @classmethod
    def empty(cls, num_envs: int, num_cells: int, device: torch.device) -> ComponentTables:
        """Tables for `num_envs` copies to be filled by `write` (at the first reset)."""
        tables = cls.__new__(cls)
        for name in cls.FIELDS:
            setattr(tables, name, torch.zeros(num_envs, num_cells, dtype=torch.long, device=device))
        return tables

    def write(self, rows: Tensor, other: ComponentTables) -> None:
        """Copy `other`'s tables (one row per entry of `rows`) into copies `rows`."""
        for name in self.FIELDS:
            getattr(self, name)[rows] = getattr(other, name)

    def sample_pairs(self, n: int, placement: str, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """`n` (start, goal) pairs per copy `[B, n]` each, all starts and goals distinct, each goal in its
        start's component. Consecutive cells of each component in the shuffled order form pairs (first cell
        the start); `placement` says which n pairs become agents 0..n-1:

        - `pogema`: the n pairs whose start comes first in the order, in that order. This is what POGEMA's
          `placing` gives for the same order: it walks the order once, a cell becoming the goal of its
          component's waiting start if there is one, else a start while the component has two unreserved
          cells, so inside a component starts and goals alternate (at most one start waits at a time) and a
          sort replaces the sequential walk. A small component's first cell comes early in the order more often
          than a typical start of a large one, so small pockets get starts more often than under `uniform_pairs`.
        - `uniform_pairs`: n pairs drawn uniformly from all pairs, in random agent order.

        Raises if some copy has fewer than n pairs (POGEMA raises too)."""
        B, N = self.cells.shape
        has_next = torch.zeros_like(self.sorted_labels, dtype=torch.bool)
        has_next[:, :-1] = self.sorted_labels[:, 1:] == self.sorted_labels[:, :-1]
        pair_ok = (self.rank_in_group % 2 == 0) & has_next & (self.sorted_labels >= 0)
        available = pair_ok.sum(dim=1)
        if bool((available < n).any()):
            worst = int(available.min())
            raise ValueError(
                f"cannot place {n} agents: a map offers only {worst} start/goal pairs that are distinct and "
                f"connected (each needs two free cells in one connected region); use fewer agents, a lower "
                f"obstacle density or a larger map"
            )
        if placement == "pogema":
            key = torch.where(pair_ok, N - self.order_position, -1)  # earliest start first
        elif placement == "uniform_pairs":
            key = torch.where(pair_ok, torch.rand(B, N, generator=generator, device=self.cells.device), -1.0)
        else:
            raise ValueError(f"placement must be one of {PLACEMENTS}, got {placement!r}")
        chosen = key.topk(n, dim=1).indices
        return self.cells.gather(1, chosen), self.cells.gather(1, chosen + 1)

    def sample_other_cell(self, rows: Tensor, cells: Tensor, generator: torch.Generator) -> Tensor:
        """A uniform cell of the same component as `cells [k]` (copies `rows [k]`), other than the cell itself
        (components of agents have at least two cells by construction)."""
        size = self.component_size[rows, cells]
        u = (torch.rand(cells.shape, generator=generator, device=cells.device) * (size - 1)).long()
        u = torch.minimum(u, size - 2)
        u = u + (u >= self.rank_of_cell[rows, cells]).long()
        return self.cells[rows, self.component_start[rows, cells] + u]


class GoalDistances:
    """Distance maps to every agent's current goal, `[B, n, H*W]`, recomputed only for agents whose goal (or
    map) changed; agents of one copy that share a goal share one BFS."""

    def __init__(self, num_envs: int, n_agents: int, height: int, width: int, device: torch.device) -> None:
        self.height, self.width = height, width
        self.dist = torch.full(
            (num_envs, n_agents, height * width), UNREACHABLE, dtype=torch.int32, device=device
        )
        self.goal = torch.full((num_envs, n_agents), -1, dtype=torch.long, device=device)
        self.map_version = torch.full((num_envs,), -1, dtype=torch.long, device=device)
        self.bfs_runs = 0  # goals searched so far (tests and benchmarks read it)

    def update(self, free: Tensor, goal: Tensor, map_version: Tensor) -> Tensor:
        stale = (goal != self.goal) | (map_version != self.map_version)[:, None]
        if bool(stale.any()):
            rows, agents = stale.nonzero(as_tuple=True)
            cells = self.height * self.width
            key = rows * cells + goal[rows, agents]
            unique, inverse = torch.unique(key, return_inverse=True)
            maps = distance_maps(free[unique // cells], unique % cells)
            self.dist[rows, agents] = maps.reshape(len(unique), cells)[inverse]
            self.goal[rows, agents] = goal[rows, agents]
            self.map_version.copy_(map_version)
            self.bfs_runs += len(unique)
        return self.dist
