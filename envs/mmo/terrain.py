"""The world's tiles: Neural MMO's material table (the part the suite plays) and procedural terrain per copy.

Materials keep the reference's indices (NM `nmmo/lib/material.py`), so a terrain array of the reference can be
loaded as it is: 0 void, 1 water, 2 grass, 3 scrub (depleted foliage), 4 foliage, 5 stone. The resource tiles
6-15 (slag/ore, stump/tree, fragment/crystal, weeds/herb, ocean/fish) belong to the reference's professions and
items, which this world leaves out.

Layout (NM `nmmo/core/terrain.py` `process_map_border`, `nmmo/lib/spawn.py` `get_edge_tiles`): with
`border = (map_size - map_center) / 2`, the playable square is rows and columns `border` to `border + map_center`
inclusive (`map_center + 1` tiles: Chebyshev distance <= map_center / 2 from the tile `map_size // 2`), its
outermost ring (the `4 map_center` spawn edge tiles) is grass, stone and water just inside that ring become
foliage, and everything outside is void. Inside, fractal noise normalised to [0, 1] per copy is thresholded at
<= 0.30 water, <= 0.70 grass, <= 0.85 foliage, otherwise stone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Generator, Tensor

VOID, WATER, GRASS, SCRUB, FOLIAGE, STONE = range(6)
MATERIALS = ("void", "water", "grass", "scrub", "foliage", "stone")
PASSABLE = (False, False, True, True, True, False)  # per material index
THRESHOLDS = ((0.30, WATER), (0.70, GRASS), (0.85, FOLIAGE))  # noise <= threshold -> material; else stone
OCTAVES = (4, 8, 16)  # noise cells per side of the centre, coarse to fine, each half the weight of the last
SPREAD = 0.62  # standard deviation of the noise before NM's clip to [-1, 1]


def playable(size: int, centre: int) -> tuple[int, int]:
    """The first and last row (and column) of the playable square: `border` and `border + centre`."""
    border = (size - centre) // 2
    return border, border + centre


def generate(num_envs: int, size: int, centre: int, generator: Generator, device: torch.device) -> Tensor:
    """`uint8 [num_envs, size, size]` maps: noise terrain in the playable square, NM's border rules around it."""
    side = centre + 1
    noise = torch.zeros(num_envs, 1, side, side, device=device)
    weight = 1.0
    for cells in OCTAVES:
        cells = min(cells, centre)
        coarse = torch.rand(num_envs, 1, cells + 1, cells + 1, generator=generator, device=device)
        noise += weight * F.interpolate(coarse, size=(side, side), mode="bilinear", align_corners=True)
        weight /= 2
    noise = noise[:, 0]
    # standardised per copy, then NM's final transform 0.5 + clip(v, -1, 1) / 2 (`terrain.py`), with a spread
    # that gives NM's proportions (its Small map: about 26% water, 48% grass, 15% foliage, 11% stone)
    mean = noise.flatten(1).mean(1)[:, None, None]
    std = noise.flatten(1).std(1)[:, None, None].clamp(min=1e-6)
    noise = 0.5 + (SPREAD * (noise - mean) / std).clamp(-1.0, 1.0) / 2
    inner = torch.full_like(noise, STONE, dtype=torch.uint8)
    for threshold, material in reversed(THRESHOLDS):
        inner = torch.where(noise <= threshold, material, inner)
    tiles = torch.full((num_envs, size, size), VOID, dtype=torch.uint8, device=device)
    first, last = playable(size, centre)
    tiles[:, first : last + 1, first : last + 1] = inner
    return process_border(tiles, size, centre)


def chebyshev_from_middle(size: int, device: torch.device) -> Tensor:
    """`long [size, size]`: NM's `l1_map`, the Chebyshev distance of each tile from tile (size // 2, size // 2)."""
    x = (torch.arange(size, device=device) - size // 2).abs()
    return torch.maximum(x[:, None], x[None, :])


def process_border(tiles: Tensor, size: int, centre: int) -> Tensor:
    """NM's `process_map_border`: void outside the playable square, a grass ring on its edge, and stone or water
    just inside the ring turned to foliage."""
    l1 = chebyshev_from_middle(size, tiles.device)
    radius = centre // 2
    edge = (l1 == radius - 1) & ((tiles == STONE) | (tiles == WATER))
    tiles = torch.where(edge, FOLIAGE, tiles)
    tiles = torch.where(l1 == radius, GRASS, tiles)
    return torch.where(l1 > radius, VOID, tiles).to(torch.uint8)


def edge_ring(size: int, centre: int, device: torch.device) -> Tensor:
    """`long [4 * centre, 2]`: the spawn edge tiles (row, col) as NM's `get_edge_tiles` lists them, in its
    order: four sides of `centre` tiles each, so the corner (border, border) comes twice and the corner
    (border + centre, border + centre) never."""
    first, last = playable(size, centre)
    inc = torch.arange(first, last, device=device)
    low, high = torch.full_like(inc, first), torch.full_like(inc, last)
    rows = torch.cat([low, inc, high, inc.flip(0)])
    cols = torch.cat([inc, high, inc.flip(0), low])
    return torch.stack([rows, cols], dim=1)


def danger(pos: Tensor, size: int, centre: int) -> Tensor:
    """NM's `combat.danger`: 2 * (distance to the border, `min(r - border, centre + border - r - 1)` and the
    same for columns) / centre: 0 on the first edge, about 1 in the middle."""
    border = (size - centre) // 2
    dist = torch.minimum(pos - border, border + centre - 1 - pos).amin(-1)
    return 2.0 * dist.float() / centre
