"""Swarm rendering on the particle worlds' `Canvas` (envs/particles/render.py): `draw_particles` draws the
discs (agents, obstacles, goal markers) and the arena walls; the canvas then draws neighbour links (as
offsets, so links that wrap around a torus point the right way), heading ticks, crosses on goals and slots.
"""

from __future__ import annotations

from envs.particles.render import Canvas, Colour, hue_colours

__all__ = [
    "AGENT_COLOUR",
    "LINK_COLOUR",
    "MARK_COLOUR",
    "OBSTACLE_COLOUR",
    "TICK_COLOUR",
    "Canvas",
    "hue_colours",
]
# disc colours are 0..1 floats, as draw_particles takes them; line colours are 0..255 ints, as pygame does
AGENT_COLOUR = (0.35, 0.45, 0.85)
OBSTACLE_COLOUR = (0.35, 0.35, 0.35)
LINK_COLOUR: Colour = (150, 150, 200)
MARK_COLOUR: Colour = (30, 120, 50)
TICK_COLOUR: Colour = (30, 30, 30)
