"""An RGB picture of one MAgent battle copy, drawn with numpy (no window, no font).

Walls are grey; red and blue agents are squares of their army's colour, paler as they lose HP.
"""

from __future__ import annotations

import numpy as np

CELL = 8
COLOURS = np.array([[200, 40, 40], [40, 70, 200]], np.float32)


def draw(env, index: int) -> np.ndarray:
    """`uint8 [size * CELL, size * CELL, 3]` of copy `index` of `env` (an `MAgentBattle`)."""
    from envs.magent.battle import HP

    S = env.size
    image = np.full((S, S, 3), 240, np.uint8)
    image[[0, -1]], image[:, [0, -1]] = 120, 120  # the walls
    living = env.living[index].cpu().numpy()
    x, y = env.pos[index].cpu().numpy()[living].T
    health = (env.hp[index].cpu().numpy()[living] / HP).clip(0, 1)[:, None]
    colour = COLOURS[env.team.cpu().numpy()[living]]
    image[y, x] = (health * colour + (1 - health) * 230).astype(np.uint8)
    image = image.repeat(CELL, 0).repeat(CELL, 1)
    image[::CELL], image[:, ::CELL] = 255, 255  # a white line between cells
    return image
