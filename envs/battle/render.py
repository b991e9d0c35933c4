"""An RGB picture of one battle copy: units as discs (allies blue, enemies red, a shade per unit type), a
health bar above each living unit (green: health, cyan: shield) and a grey line from each unit that struck
during the last step to its target; drawn with the particle worlds' `draw_particles`."""

from __future__ import annotations

import numpy as np

from envs.battle.scenarios import MAP_SIZE
from envs.battle.units import UNIT_TYPES
from envs.particles.render import draw_particles

SIZE = 500
TEAM_COLOURS = (np.array([0.15, 0.35, 0.85]), np.array([0.85, 0.2, 0.15]))


def draw(env, index: int) -> np.ndarray:
    """`uint8 [SIZE, SIZE, 3]` of copy `index` of `env` (a `BattleEnv`)."""
    half = MAP_SIZE / 2
    alive = (env.health[index] > 0).cpu().numpy()
    pos = env.pos[index].cpu().double().numpy() - half
    types = env.unit_type[index].cpu().numpy()
    team = env.team.cpu().numpy()
    shade = types / max(1, len(UNIT_TYPES) - 1)  # lighter for later unit types
    colours = np.stack([TEAM_COLOURS[t] * (1 - 0.5 * s) + 0.5 * s for t, s in zip(team, shade, strict=True)])
    attacking = env.attacking[index].cpu().numpy()
    links = [(i, int(j)) for i, j in enumerate(attacking) if j >= 0 and alive[i]]
    rows = np.flatnonzero(alive)
    renumber = {int(r): k for k, r in enumerate(rows)}
    links = [(renumber[i], renumber[j]) for i, j in links if j in renumber]
    image = draw_particles(
        pos[rows],
        np.full(len(rows), 0.5),
        colours[rows],
        cam_range=half,
        width=SIZE,
        height=SIZE,
        links=links,
        walls=(-half, half, -half, half),
    )
    scale = 0.9 * SIZE / 2 / half
    full_health = np.array([u.health for u in UNIT_TYPES])[types]
    full_shield = np.array([u.shield for u in UNIT_TYPES])[types]
    health = env.health[index].cpu().numpy() / full_health
    shield = np.where(full_shield > 0, env.shield[index].cpu().numpy() / np.maximum(full_shield, 1), 0.0)
    for r in rows:
        x, y = int(SIZE / 2 + pos[r, 0] * scale), int(SIZE / 2 - (pos[r, 1] + 0.8) * scale)
        left, width = x - 8, 16
        if 0 <= y - 2 and y + 2 < SIZE and 0 <= left and left + width < SIZE:
            image[y - 2 : y + 1, left : left + width] = (200, 200, 200)
            image[y - 2 : y + 1, left : left + int(round(width * health[r]))] = (40, 170, 40)
            image[y + 1 : y + 3, left : left + int(round(width * shield[r]))] = (40, 200, 220)
    return image
