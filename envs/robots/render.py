"""Drawing a robots scene: obstacles, goals (small discs in the robot's colour), robots, the sensing graph
and, in red, the barrier constraints that bound the last filtered command (rows with a positive multiplier).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from envs.particles.render import Canvas, Colour, hue_colours

if TYPE_CHECKING:
    from envs.robots.env import RobotsEnv

OBSTACLE_COLOUR = (0.35, 0.35, 0.35)
EDGE_COLOUR: Colour = (170, 170, 210)
ACTIVE_COLOUR: Colour = (220, 30, 30)


def draw_robots(env: RobotsEnv, index: int) -> np.ndarray:
    """An RGB `uint8 [H, W, 3]` frame of copy `index`."""
    N = env.n_agents
    pos, goal = env.pos[index].cpu().numpy(), env.goal[index].cpu().numpy()
    colours = hue_colours(np.arange(N) / N)
    valid = env.obstacle_valid[index].cpu().numpy()
    obstacles = env.obstacle_pos[index].cpu().numpy()[valid]
    positions = np.concatenate([obstacles, goal, pos])
    sizes = np.concatenate(
        [np.full(len(obstacles), env.obstacle_radius), np.full(N, env.radius / 3), np.full(N, env.radius)]
    )
    discs = np.concatenate([np.tile(OBSTACLE_COLOUR, (len(obstacles), 1)), 0.4 + 0.6 * colours, colours])
    canvas = Canvas(env.render_size, (0.0, 0.0), env.half, positions, sizes, discs, walls=False)
    if env.render_neighbours:
        nb = env.neighbours()
        mask = nb.mask[index].cpu().numpy()
        ends = pos[nb.index[index].cpu().numpy()]
        starts = np.broadcast_to(pos[:, None], ends.shape)
        canvas.segments(starts[mask], ends[mask], EDGE_COLOUR)
    if env.last_filter is not None and env.last_rows is not None:
        nb, ob = env.last_rows
        active = env.last_filter.active[index].cpu().numpy()
        k = nb.k
        ends = pos[nb.index[index].cpu().numpy()]
        starts = np.broadcast_to(pos[:, None], ends.shape)
        canvas.segments(starts[active[:, :k]], ends[active[:, :k]], ACTIVE_COLOUR, width=2)
        if ob is not None:
            ends = env.obstacle_pos[index].cpu().numpy()[ob.index[index].cpu().numpy()]
            starts = np.broadcast_to(pos[:, None], ends.shape)
            canvas.segments(starts[active[:, k:]], ends[active[:, k:]], ACTIVE_COLOUR, width=2)
    return canvas.to_array()
