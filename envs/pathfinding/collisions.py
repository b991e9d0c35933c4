"""POGEMA's three collision systems, vectorised over copies and agents.

Each function takes the agents' cells `pos [B, n]`, the cells they try to reach `target [B, n]` (already equal
to `pos` for waiting agents, agents walking into an obstacle or off the map, and absent agents), which agents
are on the map `present [B, n]`, and a `CellTable` for per-cell bookkeeping; it returns the cells after the
step.

- priority: agents move one after another in index order; an agent moves unless its target is occupied at
  its turn (by an earlier agent's new cell or a later agent's current cell). Sequential over agents in
  POGEMA; here a fixed-point iteration over all agents at once: agent i's outcome depends only on agents
  before it, so after round r the first r agents are exact, and a round that changes nothing is the unique
  answer. Bounded by n rounds; a handful on random actions.
- block_both: an agent moves only if no other agent wants its target and no agent stands there now
  (so following another agent and swapping are both blocked). One round.
- soft: moves are applied and conflicts reverted, cascading: swapping pairs revert; an agent whose target
  holds an agent that stays (waiting or reverted) reverts; of several agents entering one cell the lowest
  index keeps its move (POGEMA reverts from the highest index down). Reverting makes the agent a stayer, which
  can revert agents entering its cell, so this iterates to a fixed point: at most n rounds, each reverts at
  least one agent or ends. Chains of followers and rotations of three or more agents move.
"""

from __future__ import annotations

import torch
from torch import Tensor

COLLISION_SYSTEMS = ("priority", "block_both", "soft")


class CellTable:
    """A per-cell scratch table `int32 [B, cells + 1]` (the extra column collects absent agents) kept between
    steps and wiped after each use by touching only the cells just written, so a query costs O(agents),
    not O(cells), and a step allocates no table (large fresh tables are page-faulted in every time)."""

    EMPTY = torch.iinfo(torch.int32).max

    def __init__(self, num_envs: int, num_cells: int, device: str | torch.device = "cpu") -> None:
        self.sink = num_cells
        self.table = torch.full((num_envs, num_cells + 1), self.EMPTY, dtype=torch.int32, device=device)

    def min_at(self, cells: Tensor, values: Tensor, query: Tensor) -> Tensor:
        """Scatter `values [B, n]` onto `cells [B, n]` keeping the minimum per cell, read the table at `query
        [B, m]` (`EMPTY` where nothing was written), and wipe the table again."""
        self.table.scatter_reduce_(1, cells, values.to(torch.int32), "amin")
        found = self.table.gather(1, query)
        self.table.scatter_(1, cells, self.EMPTY)
        return found


def _agent_index(pos: Tensor) -> Tensor:
    return torch.arange(pos.shape[1], dtype=torch.int32, device=pos.device).expand_as(pos)


def _occupant(cells: CellTable, standing_at: Tensor, query: Tensor) -> Tensor:
    """Index of the agent standing on each cell of `query` now (`standing_at`: each agent's cell, the sink for
    absent agents), `CellTable.EMPTY` where none."""
    return cells.min_at(standing_at, _agent_index(standing_at), query)


def resolve_priority(pos: Tensor, target: Tensor, present: Tensor, cells: CellTable) -> Tensor:
    n = pos.shape[1]
    index = _agent_index(pos)
    occupant = _occupant(cells, torch.where(present, pos, cells.sink), target)
    later_there = (occupant > index) & (occupant != CellTable.EMPTY)
    candidate = present & (target != pos) & ~later_there
    moved = candidate
    for _ in range(n):
        final = torch.where(moved, target, pos)
        first_there = cells.min_at(torch.where(present, final, cells.sink), index, target)
        now = candidate & ~(first_there < index)
        if torch.equal(now, moved):
            break
        moved = now
    return torch.where(moved, target, pos)


def resolve_block_both(pos: Tensor, target: Tensor, present: Tensor, cells: CellTable) -> Tensor:
    index = _agent_index(pos)
    wanted_at = torch.where(present, target, cells.sink)
    # nobody else wants my target: the lowest and the highest index that want it are both mine
    lowest = cells.min_at(wanted_at, index, target)
    highest = -cells.min_at(wanted_at, -index, target)
    alone = (lowest == index) & (highest == index)
    occupied = _occupant(cells, torch.where(present, pos, cells.sink), target) != CellTable.EMPTY
    moved = present & (target != pos) & alone & ~occupied
    return torch.where(moved, target, pos)


def resolve_soft(pos: Tensor, target: Tensor, present: Tensor, cells: CellTable) -> Tensor:
    n = pos.shape[1]
    index = _agent_index(pos)
    moving = present & (target != pos)
    standing_at = torch.where(present, pos, cells.sink)
    other = _occupant(cells, standing_at, target)  # who stands on my target now
    standing = other != CellTable.EMPTY
    safe_other = torch.where(standing, other, 0).long()
    swap = standing & (target.gather(1, safe_other) == pos) & moving.gather(1, safe_other)
    moved = moving & ~swap
    for _ in range(n + 1):
        # every agent claims a cell: movers their target (with their index), stayers their own cell (with -1,
        # which beats every mover); a mover keeps its move only if it holds the winning claim on its target
        cell = torch.where(moved, target, standing_at)
        claim = torch.where(moved, index, -1)
        now = moved & (cells.min_at(cell, claim, target) == index)
        if torch.equal(now, moved):
            break
        moved = now
    return torch.where(moved, target, pos)


RESOLVERS = {"priority": resolve_priority, "block_both": resolve_block_both, "soft": resolve_soft}
