"""The world's tiles: Neural MMO's material table (the part the suite plays) and procedural terrain per copy.

Materials keep the reference's indices (NM `nmmo/lib/material.py`), so a terrain array of the reference can be
loaded as it is: 0 void, 1 water, 2 grass, 3 scrub (depleted foliage), 4 foliage, 5 stone. The resource tiles
6-15 (slag/ore, stump/tree, fragment/crystal, weeds/herb, ocean/fish) belong to the reference's professions and
items, which this world leaves out.

Terrain (as NM `nmmo/core/terrain.py`): fractal noise over the playable centre, normalised to [0, 1] per copy,
thresholded at <= 0.30 water, <= 0.70 grass, <= 0.85 foliage, otherwise stone; a void border around it. The
outermost ring of the centre is grass: players spawn there.
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


def generate(num_envs: int, size: int, centre: int, generator: Generator, device: torch.device) -> Tensor:
    """`uint8 [num_envs, size, size]` maps: void border, noise terrain in the centre, a grass spawn ring."""
    noise = torch.zeros(num_envs, 1, centre, centre, device=device)
    weight = 1.0
    for cells in OCTAVES:
        cells = min(cells, centre)
        coarse = torch.rand(num_envs, 1, cells + 1, cells + 1, generator=generator, device=device)
        noise += weight * F.interpolate(coarse, size=(centre, centre), mode="bilinear", align_corners=True)
        weight /= 2
    noise = noise[:, 0]
    low = noise.flatten(1).amin(1)[:, None, None]
    high = noise.flatten(1).amax(1)[:, None, None]
    noise = (noise - low) / (high - low).clamp(min=1e-6)
    inner = torch.full_like(noise, STONE, dtype=torch.uint8)
    for threshold, material in reversed(THRESHOLDS):
        inner = torch.where(noise <= threshold, material, inner)
    inner[:, 0, :] = inner[:, -1, :] = inner[:, :, 0] = inner[:, :, -1] = GRASS
    tiles = torch.full((num_envs, size, size), VOID, dtype=torch.uint8, device=device)
    border = (size - centre) // 2
    tiles[:, border : border + centre, border : border + centre] = inner
    return tiles


def edge_ring(size: int, centre: int, device: torch.device) -> Tensor:
    """`long [4 * (centre - 1), 2]`: the (row, col) of every tile on the outermost ring of the centre."""
    border = (size - centre) // 2
    low, high = border, border + centre - 1
    side = torch.arange(low, high, device=device)
    rows = torch.cat([torch.full_like(side, low), side, torch.full_like(side, high), side.flip(0) + 1])
    cols = torch.cat([side + 1, torch.full_like(side, high), side.flip(0), torch.full_like(side, low)])
    return torch.stack([rows, cols], dim=1)


def danger(pos: Tensor, size: int, centre: int) -> Tensor:
    """NM's `combat.danger`: 2 * (Chebyshev distance to the centre's edge) / centre, in [0, ~1]."""
    border = (size - centre) // 2
    dist = torch.minimum(pos - border, border + centre - 1 - pos).amin(-1)
    return 2.0 * dist.float() / centre
