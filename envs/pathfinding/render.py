"""Pygame drawing of one pathfinding copy: grid, obstacles, agents in colours, their goals, and optionally each
agent's planned shortest path and observation window."""

from __future__ import annotations

import numpy as np
import pygame

OBSTACLE = (60, 60, 70)
FREE = (245, 245, 240)
GRID_LINE = (215, 215, 210)


def agent_colour(i: int, n: int) -> pygame.Color:
    colour = pygame.Color(0)
    colour.hsva = ((360 * i / max(n, 1) * 7) % 360, 75, 90, 100)  # stride 7 keeps neighbours' hues apart
    return colour


def render_copy(env, index: int, cell: int | None = None) -> np.ndarray:
    """RGB `uint8 [H, W, 3]` of copy `index` of a `PathfindingEnv`; reads `env.render_paths` and
    `env.render_windows` (both off by default)."""
    rows, cols = (int(v) for v in env.map_size[index].tolist())
    cell = cell or max(4, min(24, 640 // max(rows, cols)))
    surface = pygame.Surface((cols * cell, rows * cell))
    surface.fill(FREE)
    free = env.free[index, :rows, :cols].cpu().numpy()
    for r, c in np.argwhere(~free):
        surface.fill(OBSTACLE, (c * cell, r * cell, cell, cell))
    if cell >= 8:
        for r in range(rows + 1):
            pygame.draw.line(surface, GRID_LINE, (0, r * cell), (cols * cell, r * cell))
        for c in range(cols + 1):
            pygame.draw.line(surface, GRID_LINE, (c * cell, 0), (c * cell, rows * cell))
    W, n = env.width, env.n_agents
    pos = env.pos[index].tolist()
    goal = env.goal[index].tolist()
    present = env.alive["agent"][index].tolist()
    paths = env.planned_paths(2 * env.radius)[index].tolist() if getattr(env, "render_paths", False) else None
    windows = (
        pygame.Surface(surface.get_size(), pygame.SRCALPHA) if getattr(env, "render_windows", False) else None
    )
    half = cell // 2
    for i in range(n):
        if not present[i]:
            continue
        colour = agent_colour(i, n)
        (pr, pc), (gr, gc) = divmod(pos[i], W), divmod(goal[i], W)
        if paths is not None:
            points = [(pc * cell + half, pr * cell + half)]
            points += [(p % W * cell + half, p // W * cell + half) for p in paths[i]]
            pygame.draw.lines(surface, colour, False, points, max(1, cell // 8))
        if windows is not None:
            R = env.radius
            shade = (colour.r, colour.g, colour.b, 40)
            windows.fill(shade, ((pc - R) * cell, (pr - R) * cell, (2 * R + 1) * cell, (2 * R + 1) * cell))
        pygame.draw.rect(
            surface, colour, (gc * cell + 2, gr * cell + 2, cell - 4, cell - 4), max(1, cell // 8)
        )
        pygame.draw.circle(surface, colour, (pc * cell + half, pr * cell + half), max(2, cell * 2 // 5))
    if windows is not None:
        surface.blit(windows, (0, 0))
    return pygame.surfarray.array3d(surface).transpose(1, 0, 2).copy()
