"""The three collision systems on hand-built conflicts, and against a line-by-line port of POGEMA 1.4.0's
sequential `move_agents` on random crowded grids."""

import pytest
import torch

from envs.pathfinding.collisions import RESOLVERS, CellTable
from envs.pathfinding.planning import MOVES

W = 5  # hand-built cases live on an open 5x5 grid; cells are (row, column)


def cell(r, c):
    return r * W + c


def resolve(system, positions, actions):
    """Apply one step on an open 5x5 grid: positions [(r, c)], actions (ids into MOVES)."""
    pos = torch.tensor([[cell(*p) for p in positions]])
    target = torch.tensor(
        [[cell(r + MOVES[a][0], c + MOVES[a][1]) for (r, c), a in zip(positions, actions, strict=True)]]
    )
    present = torch.ones_like(pos, dtype=torch.bool)
    out = RESOLVERS[system](pos, target, present, CellTable(1, W * W))[0].tolist()
    return [divmod(x, W) for x in out]


UP, DOWN, LEFT, RIGHT, WAIT = 1, 2, 3, 4, 0


def test_vertex_conflict_two_agents_want_one_cell():
    positions, actions = [(2, 1), (2, 3)], [RIGHT, LEFT]  # both want (2, 2)
    assert resolve("priority", positions, actions) == [(2, 2), (2, 3)]  # agent 0 moves first
    assert resolve("block_both", positions, actions) == positions
    assert resolve("soft", positions, actions) == [(2, 2), (2, 3)]  # lowest index keeps its move (POGEMA)


def test_swap_is_blocked_in_every_system():
    positions, actions = [(2, 1), (2, 2)], [RIGHT, LEFT]
    for system in RESOLVERS:
        assert resolve(system, positions, actions) == positions, system


def test_following_a_moving_agent():
    # agent 0 leads to the right, agent 1 follows into the cell it leaves
    positions, actions = [(2, 2), (2, 1)], [RIGHT, RIGHT]
    assert resolve("priority", positions, actions) == [(2, 3), (2, 2)]
    assert resolve("block_both", positions, actions) == [(2, 3), (2, 1)]  # target occupied now: blocked
    assert resolve("soft", positions, actions) == [(2, 3), (2, 2)]
    # with the follower first in priority order, the leader still stands there at its turn
    positions, actions = [(2, 1), (2, 2)], [RIGHT, RIGHT]
    assert resolve("priority", positions, actions) == [(2, 1), (2, 3)]
    assert resolve("soft", positions, actions) == [(2, 2), (2, 3)]


def test_soft_cascade_behind_a_waiting_agent():
    # a line of three walking right into an agent that waits: every move is reverted, back to the tail
    positions, actions = [(2, 0), (2, 1), (2, 2), (2, 3)], [RIGHT, RIGHT, RIGHT, WAIT]
    assert resolve("soft", positions, actions) == positions
    # remove the waiting agent: the whole train moves
    assert resolve("soft", positions[:3], actions[:3]) == [(2, 1), (2, 2), (2, 3)]


def test_soft_cascade_from_a_lost_vertex_conflict():
    # agents 0 and 1 both want (1, 2); 1 loses, so 2 (following 1) and 3 (following 2) revert too
    positions = [(1, 1), (2, 2), (3, 2), (4, 2)]
    actions = [RIGHT, UP, UP, UP]
    assert resolve("soft", positions, actions) == [(1, 2), (2, 2), (3, 2), (4, 2)]


def test_rotation_of_four_agents():
    # a 2x2 block rotating clockwise: no vertex conflict and no swap
    positions = [(1, 1), (1, 2), (2, 2), (2, 1)]
    actions = [RIGHT, DOWN, LEFT, UP]
    assert resolve("soft", positions, actions) == [(1, 2), (2, 2), (2, 1), (1, 1)]
    assert resolve("block_both", positions, actions) == positions
    assert resolve("priority", positions, actions) == positions  # each target is taken at its turn


def test_absent_agents_neither_move_nor_block():
    pos = torch.tensor([[cell(2, 1), cell(2, 2)]])
    target = torch.tensor([[cell(2, 2), cell(2, 2)]])
    present = torch.tensor([[True, False]])  # agent 1 has left (one-shot mode)
    for system, fn in RESOLVERS.items():
        assert fn(pos, target, present, CellTable(1, W * W))[0].tolist() == [cell(2, 2), cell(2, 2)], system


# ---------------------------------------------------------------- POGEMA 1.4.0's rules, ported line by line
def pogema_move(system, obstacles, positions, actions):
    """`Pogema.move_agents` of pogema 1.4.0 (envs.py) with `Grid.move` / `move_without_checks` (grid.py)."""
    positions = [tuple(p) for p in positions]
    actions = list(actions)
    H, Wd = len(obstacles), len(obstacles[0])

    def blocked(x, y):
        return not (0 <= x < H and 0 <= y < Wd) or obstacles[x][y]

    occupied = {p: True for p in positions}
    n = len(positions)

    def move(i, a):  # Grid.move
        x, y = positions[i]
        dx, dy = MOVES[a]
        if not blocked(x + dx, y + dy) and not occupied.get((x + dx, y + dy)):
            occupied[(x, y)] = False
            positions[i] = (x + dx, y + dy)
            occupied[positions[i]] = True

    if system == "priority":
        for i in range(n):
            move(i, actions[i])
    elif system == "block_both":
        used = {}
        start = list(positions)
        for i, (x, y) in enumerate(start):
            dx, dy = MOVES[actions[i]]
            used[x + dx, y + dy] = "blocked" if (x + dx, y + dy) in used else "visited"
            used[x, y] = "blocked"
        for i in range(n):
            x, y = start[i]
            dx, dy = MOVES[actions[i]]
            if used.get((x + dx, y + dy)) != "blocked":
                move(i, actions[i])
    else:
        used_cells, used_edges = {}, {}
        start = list(positions)
        for i, (x, y) in enumerate(start):
            dx, dy = MOVES[actions[i]]
            used_cells.setdefault((x + dx, y + dy), []).append(i)
            used_edges[x, y, x + dx, y + dy] = [i]
            if dx != 0 or dy != 0:
                used_edges.setdefault((x + dx, y + dy, x, y), []).append(i)
        for i, (x, y) in enumerate(start):
            dx, dy = MOVES[actions[i]]
            if len(used_edges[x, y, x + dx, y + dy]) > 1:
                used_cells[x + dx, y + dy].remove(i)
                used_cells.setdefault((x, y), []).append(i)
                actions[i] = 0

        def revert(i, cell_):
            actions[i] = 0
            used_cells[cell_].remove(i)
            new_cell = start[i]
            if new_cell in used_cells and len(used_cells[new_cell]) > 0:
                used_cells[new_cell].append(i)
                return revert(used_cells[new_cell][0], new_cell)
            used_cells.setdefault(new_cell, []).append(i)

        for i in reversed(range(n)):
            x, y = start[i]
            dx, dy = MOVES[actions[i]]
            if len(used_cells[x + dx, y + dy]) > 1 or blocked(x + dx, y + dy):
                revert(i, (x + dx, y + dy))
        for i in range(n):
            x, y = start[i]
            dx, dy = MOVES[actions[i]]
            positions[i] = (x + dx, y + dy)
    return positions


@pytest.mark.parametrize("system", ["priority", "block_both", "soft"])
def test_matches_pogema_on_random_crowds(system):
    """Many random crowded 6x6 grids (with obstacles) and random actions, batched in one call."""
    g = torch.Generator().manual_seed(0)
    B, H, Wd, n = 400, 6, 6, 14
    obstacles = torch.rand(B, H, Wd, generator=g) < 0.15
    keys = torch.where(obstacles.flatten(1), 2.0, torch.rand(B, H * Wd, generator=g))
    pos = keys.argsort(dim=1)[:, :n]  # distinct free cells
    actions = torch.randint(5, (B, n), generator=g)
    r, c = pos // Wd, pos % Wd
    dr = torch.tensor([m[0] for m in MOVES])[actions]
    dc = torch.tensor([m[1] for m in MOVES])[actions]
    nr, nc = r + dr, c + dc
    inside = (nr >= 0) & (nr < H) & (nc >= 0) & (nc < Wd)
    tgt = torch.where(inside, nr * Wd + nc, pos)
    wall = obstacles.flatten(1).gather(1, tgt) | ~inside
    tgt = torch.where(wall, pos, tgt)  # the environment turns moves into walls into waits
    present = torch.ones_like(pos, dtype=torch.bool)
    table = CellTable(B, H * Wd)
    ours = RESOLVERS[system](pos, tgt, present, table)
    # the scratch table is wiped after use, so the next step (here: the same one again) starts clean
    assert bool((table.table == CellTable.EMPTY).all())
    assert torch.equal(RESOLVERS[system](pos, tgt, present, table), ours)
    for b in range(B):
        grid = obstacles[b].tolist()
        start = [divmod(int(p), Wd) for p in pos[b]]
        expected = pogema_move(system, grid, start, actions[b].tolist())
        assert [divmod(int(p), Wd) for p in ours[b]] == expected, (b, start, actions[b].tolist())
