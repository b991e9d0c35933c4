"""An RGB picture of one MMO copy, drawn with numpy: the tiles, players coloured by health (white when full,
red when near death) and NPCs by kind (passive light blue, neutral orange, aggressive purple).

`env.render_region = (row, col, size)` zooms onto a square region of the map (None: the whole map); the
picture is about 512 pixels wide whatever the region's size (at least one pixel per tile).
"""

from __future__ import annotations

import numpy as np

from envs.mmo.env import AGGRESSIVE, NEUTRAL, PASSIVE

WIDTH = 512
TILE_COLOURS = np.array(
    [
        (0, 0, 0),  # void
        (40, 90, 200),  # water
        (110, 170, 80),  # grass
        (150, 130, 80),  # scrub
        (30, 100, 40),  # foliage
        (120, 120, 120),  # stone
    ],
    np.uint8,
)
NPC_COLOURS = {PASSIVE: (150, 200, 255), NEUTRAL: (255, 160, 0), AGGRESSIVE: (170, 40, 190)}


def draw(env, index: int) -> np.ndarray:
    """`uint8 [P, P, 3]` of copy `index` of `env` (an `MMOEnv`), or of its `render_region`."""
    row0, col0, size = getattr(env, "render_region", None) or (0, 0, env.H)
    if not (0 <= row0 and 0 <= col0 and size >= 1 and row0 + size <= env.H and col0 + size <= env.W):
        raise ValueError(f"render_region {(row0, col0, size)} is not a square inside the {env.H}x{env.W} map")
    cell = max(1, WIDTH // size)
    tiles = env.tiles[index, row0 : row0 + size, col0 : col0 + size].cpu().numpy()
    image = TILE_COLOURS[tiles].repeat(cell, 0).repeat(cell, 1)
    pos = env.pos[index].cpu().numpy()
    live = env.live[index].cpu().numpy()
    health = np.clip(env.health[index].cpu().numpy() / 100.0, 0.0, 1.0)
    kinds = env.npc_kind[index].cpu().numpy()
    pad = 1 if cell >= 4 else 0
    for e in np.flatnonzero(live):  # one square per living entity (a picture, not a step: loops are fine)
        r, c = pos[e, 0] - row0, pos[e, 1] - col0
        if not (0 <= r < size and 0 <= c < size):
            continue
        if e < env.N:
            colour = (255, int(255 * health[e]), int(255 * health[e]))
        else:
            colour = NPC_COLOURS[int(kinds[e - env.N])]
        image[r * cell + pad : (r + 1) * cell - pad, c * cell + pad : (c + 1) * cell - pad] = colour
    return np.ascontiguousarray(image)
