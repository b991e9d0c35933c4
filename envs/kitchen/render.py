"""Pygame drawing of one kitchen copy: tiles, items on counters, pots with their onion count and cook timer,
chefs (colour, facing, held item) and the score."""

from __future__ import annotations

import numpy as np
import pygame

from envs.kitchen.env import DIRECTIONS, DISH, ONION, SOUP, KitchenEnv
from envs.kitchen.layout import COUNTER, DISH_DISPENSER, FLOOR, ONION_DISPENSER, POT, SERVING

CELL = 48
SCORE_BAR = 28
TILE_COLOURS = {
    FLOOR: (236, 228, 210),
    COUNTER: (160, 130, 95),
    ONION_DISPENSER: (115, 90, 65),
    DISH_DISPENSER: (115, 90, 65),
    POT: (70, 70, 75),
    SERVING: (120, 170, 120),
}
ONION_COLOUR, DISH_COLOUR, SOUP_COLOUR = (235, 200, 60), (245, 245, 250), (215, 120, 40)
CHEF_COLOURS = ((60, 110, 220), (220, 70, 70), (60, 170, 90), (170, 80, 200), (240, 150, 40), (40, 170, 180))


def chef_colour(i: int) -> tuple[int, int, int]:
    colour = pygame.Color(0)
    if i < len(CHEF_COLOURS):
        return CHEF_COLOURS[i]
    colour.hsva = ((360 * i * 7 / 17) % 360, 70, 85, 100)
    return colour.r, colour.g, colour.b


class KitchenRenderer:
    """Draws copies of one `KitchenEnv`; the static tiles are drawn once."""

    def __init__(self, env: KitchenEnv) -> None:
        pygame.font.init()
        self.env = env
        self.font = pygame.font.Font(None, CELL // 2)
        H, W = env.height, env.width
        self.background = pygame.Surface((W * CELL, H * CELL + SCORE_BAR))
        self.background.fill((250, 250, 250))
        for y in range(H):
            for x in range(W):
                tile = int(env.layout.terrain[y, x])
                rect = (x * CELL, y * CELL, CELL, CELL)
                self.background.fill(TILE_COLOURS[tile], rect)
                pygame.draw.rect(self.background, (120, 100, 80), rect, 1)
                centre = (x * CELL + CELL // 2, y * CELL + CELL // 2)
                if tile == ONION_DISPENSER:
                    self._item(self.background, ONION, centre, CELL // 3)
                elif tile == DISH_DISPENSER:
                    self._item(self.background, DISH, centre, CELL // 3)
                elif tile == SERVING:
                    pygame.draw.rect(self.background, (250, 250, 250), rect, 3)

    def _item(self, surface: pygame.Surface, item: int, centre: tuple[int, int], radius: int) -> None:
        if item == ONION:
            pygame.draw.circle(surface, ONION_COLOUR, centre, radius // 2 + 2)
        elif item in (DISH, SOUP):
            pygame.draw.circle(surface, DISH_COLOUR, centre, radius)
            pygame.draw.circle(surface, (90, 90, 90), centre, radius, 1)
            if item == SOUP:
                pygame.draw.circle(surface, SOUP_COLOUR, centre, radius * 2 // 3)

    def _text(self, surface: pygame.Surface, text: str, at: tuple[int, int], colour=(255, 255, 255)) -> None:
        surface.blit(self.font.render(text, True, colour), at)

    def draw(self, index: int) -> np.ndarray:
        env = self.env
        W = env.width
        surface = self.background.copy()
        item = env.item[index].tolist()
        onions = env.onions[index].tolist()
        tick = env.tick[index].tolist()
        cook_time = env.cook_time.tolist()
        for cell, what in enumerate(item):
            if what == 0:
                continue
            x, y = cell % W, cell // W
            centre = (x * CELL + CELL // 2, y * CELL + CELL // 2)
            if env.layout.terrain[y, x] == POT:
                for k in range(onions[cell]):
                    pygame.draw.circle(surface, ONION_COLOUR, (x * CELL + 10 + 14 * k, y * CELL + 12), 6)
                if tick[cell] >= 0:
                    left = max(0, cook_time[onions[cell]] - tick[cell])
                    self._text(
                        surface, "ready" if left == 0 else str(left), (x * CELL + 6, y * CELL + CELL - 20)
                    )
            else:
                self._item(surface, what, centre, CELL // 3)
        held = env.held[index].tolist()
        facing = env.facing[index].tolist()
        for i, cell in enumerate(env.pos[index].tolist()):
            x, y = cell % W, cell // W
            cx, cy = x * CELL + CELL // 2, y * CELL + CELL // 2
            pygame.draw.circle(surface, chef_colour(i), (cx, cy), CELL // 3)
            dx, dy = DIRECTIONS[facing[i]]
            nose = (cx + dx * CELL // 2 - dx * 4, cy + dy * CELL // 2 - dy * 4)
            pygame.draw.line(surface, (30, 30, 30), (cx, cy), nose, 4)
            if held[i]:
                self._item(surface, held[i], (cx + dx * CELL // 4, cy + dy * CELL // 4), CELL // 5)
        score = int(env.sparse_return[index])
        time_left = env.horizon - int(env.elapsed[index])
        self._text(surface, f"score {score}   time {time_left}", (6, env.height * CELL + 6), (20, 20, 20))
        return pygame.surfarray.array3d(surface).transpose(1, 0, 2).copy()

    def close(self) -> None:
        """Nothing to release: the surfaces go with the object."""
