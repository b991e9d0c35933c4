"""Swarm rendering on top of the particle worlds' `draw_particles` (envs/particles/render.py).

`draw_particles` draws the discs (agents, obstacles, goal markers) and the arena walls; a `Canvas` then draws
what discs cannot show on the same picture, in world coordinates: neighbour links (as offsets, so links that
wrap around a torus point the right way), heading ticks, crosses on goals and formation slots.
Headless: only `pygame.Surface` is used (no display), so it works with `SDL_VIDEODRIVER=dummy`.
"""

from __future__ import annotations

import colorsys

import numpy as np
import pygame

from envs.particles.render import draw_particles

Colour = tuple[int, int, int]
# disc colours are 0..1 floats, as draw_particles takes them; line colours are 0..255 ints, as pygame does
AGENT_COLOUR = (0.35, 0.45, 0.85)
OBSTACLE_COLOUR = (0.35, 0.35, 0.35)
LINK_COLOUR: Colour = (150, 150, 200)
MARK_COLOUR: Colour = (30, 120, 50)
TICK_COLOUR: Colour = (30, 30, 30)


def hue_colours(fractions: np.ndarray, saturation: float = 0.75, value: float = 0.9) -> np.ndarray:
    """Colours `[n, 3]` (0..1) on the hue circle, one per fraction in [0, 1): for phases and per-agent colours."""
    return np.array([colorsys.hsv_to_rgb(float(f) % 1.0, saturation, value) for f in fractions]).reshape(
        -1, 3
    )


class Canvas:
    """A frame of the square world `[centre - half, centre + half]^2` drawn by `draw_particles`, plus lines
    drawn in world coordinates with the same mapping."""

    def __init__(
        self,
        size: int,
        centre: tuple[float, float],
        half: float,
        positions: np.ndarray,
        sizes: np.ndarray,
        colours: np.ndarray,
        walls: bool,
    ) -> None:
        self.size = size
        self.centre = np.asarray(centre, dtype=np.float64)
        self.scale = 0.9 * size / 2 / half  # draw_particles' mapping for cam_range = half
        frame = draw_particles(
            np.asarray(positions, dtype=np.float64) - self.centre,
            np.asarray(sizes, dtype=np.float64),
            np.asarray(colours, dtype=np.float64),
            cam_range=half,
            width=size,
            height=size,
            walls=(-half, half, -half, half) if walls else None,
        )
        self.surface = pygame.surfarray.make_surface(frame.transpose(1, 0, 2))

    def to_pixels(self, points: np.ndarray) -> np.ndarray:
        """World points `[..., 2]` -> pixel coordinates `[..., 2]` (+y up, as draw_particles draws)."""
        p = (np.asarray(points, dtype=np.float64) - self.centre) * self.scale
        return np.stack([self.size / 2 + p[..., 0], self.size / 2 - p[..., 1]], axis=-1)

    def segments(self, starts: np.ndarray, ends: np.ndarray, colour: Colour, width: int = 1) -> None:
        for a, b in zip(self.to_pixels(starts), self.to_pixels(ends), strict=True):
            pygame.draw.line(self.surface, colour, tuple(a), tuple(b), width)

    def crosses(self, centres: np.ndarray, half_size: float, colour: Colour, width: int = 1) -> None:
        d, e = np.array([half_size, half_size]), np.array([half_size, -half_size])
        self.segments(centres - d, centres + d, colour, width)
        self.segments(centres - e, centres + e, colour, width)

    def to_array(self) -> np.ndarray:
        return np.ascontiguousarray(pygame.surfarray.array3d(self.surface).transpose(1, 0, 2))
