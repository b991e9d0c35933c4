"""An RGB picture of one level-based foraging copy, drawn with numpy (no window, no font).

Foods are green squares, darker for higher levels; players are blue squares (the first player red) with one
white bar per level; a cell shared by two players shows the later one, as the grid observation does.
"""

from __future__ import annotations

import numpy as np

CELL = 24


def draw(env, index: int) -> np.ndarray:
    """`uint8 [size * CELL, size * CELL, 3]` of copy `index` of `env` (an `LBFEnv`)."""
    S = env.size
    image = np.full((S * CELL, S * CELL, 3), 235, np.uint8)
    image[::CELL], image[:, ::CELL] = 180, 180  # grid lines
    top = max(1, int(env.food_levels[1] or env.player_levels[1] * min(3, env.n_agents)))
    cells, levels = env.food_cell[index].tolist(), env.food_level[index].tolist()
    for cell, level in zip(cells, levels, strict=True):
        if level > 0:
            row, col = divmod(cell, S)
            shade = int(200 - 150 * min(level, top) / top)
            _square(image, row, col, (40, shade, 40))
    for i, ((row, col), level) in enumerate(
        zip(env.pos[index].tolist(), env.level[index].tolist(), strict=True)
    ):
        _square(image, row, col, (200, 40, 40) if i == 0 else (40, 70, 200))
        for k in range(min(level, 8)):
            y = row * CELL + 5 + 2 * k
            image[y, col * CELL + 6 : col * CELL + CELL - 5] = 255
    return image


def _square(image: np.ndarray, row: int, col: int, colour: tuple[int, int, int]) -> None:
    image[row * CELL + 3 : (row + 1) * CELL - 2, col * CELL + 3 : (col + 1) * CELL - 2] = colour
