"""Off-screen pygame drawing of 2D particle worlds (MPE tasks and swarms), returned as `uint8 [H, W, 3]`.

`draw_particles` draws circles for entities (filled with their colour, black outline, larger ones
underneath), optional links between entities (neighbour graphs), optional walls and text lines (messages). It
needs no display: it draws on a `pygame.Surface` (set `SDL_VIDEODRIVER=dummy` on a headless machine if
pygame asks). World coordinates `[-cam_range, cam_range]^2` map onto the image with +y up, as mpe2 draws
them.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence

import numpy as np
import pygame
import pygame.freetype

_font: pygame.freetype.Font | None = None
Colour = tuple[int, int, int]  # line colours are 0..255 ints, as pygame takes them


def _text_font() -> pygame.freetype.Font:
    """The font for communication text, made again if anything (e.g. an mpe2 env's close) quit pygame."""
    global _font
    if _font is None or not pygame.freetype.get_init():
        pygame.freetype.init()
        _font = pygame.freetype.Font(None, 16)
    return _font


def draw_particles(
    positions: np.ndarray,
    sizes: np.ndarray,
    colors: np.ndarray,
    *,
    cam_range: float,
    width: int = 500,
    height: int = 500,
    links: Sequence[tuple[int, int]] = (),
    walls: tuple[float, float, float, float] | None = None,
    text: Sequence[str] = (),
) -> np.ndarray:
    """Draw entities `positions [E, 2]`, `sizes [E]`, `colors [E, 3]` (0..1) into an RGB array."""
    positions, sizes, colors = np.asarray(positions), np.asarray(sizes), np.asarray(colors)
    if positions.ndim != 2 or positions.shape[1] != 2 or sizes.shape != positions.shape[:1]:
        raise ValueError(f"positions must be [E, 2] and sizes [E], got {positions.shape} and {sizes.shape}")
    if colors.shape != (len(positions), 3):
        raise ValueError(f"colors must be [E, 3], got {colors.shape}")
    if cam_range <= 0:
        raise ValueError(f"cam_range must be positive, got {cam_range}")
    surface = pygame.Surface((width, height))
    surface.fill((255, 255, 255))
    scale = 0.9 * min(width, height) / 2 / cam_range

    def to_screen(p: np.ndarray) -> tuple[float, float]:
        return width / 2 + p[0] * scale, height / 2 - p[1] * scale

    if walls is not None:
        x0, y1 = to_screen(np.array([walls[0], walls[3]]))
        x1, y0 = to_screen(np.array([walls[1], walls[2]]))
        pygame.draw.rect(surface, (60, 60, 60), pygame.Rect(x0, y1, x1 - x0, y0 - y1), width=3)
    for i, j in links:
        pygame.draw.line(surface, (170, 170, 170), to_screen(positions[i]), to_screen(positions[j]), 1)
    for k in np.argsort(-sizes, kind="stable"):  # large entities (forests) first, so none hides a small one
        centre, radius = to_screen(positions[k]), max(float(sizes[k]) * scale, 1.0)
        pygame.draw.circle(surface, tuple(int(v) for v in np.clip(colors[k], 0, 1) * 255), centre, radius)
        pygame.draw.circle(surface, (0, 0, 0), centre, radius, 1)
    font = _text_font()
    for line, message in enumerate(text):
        font.render_to(surface, (0.03 * width, height * (0.95 - 0.04 * line)), message, (0, 0, 0))
    return np.ascontiguousarray(pygame.surfarray.array3d(surface).transpose(1, 0, 2))


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
