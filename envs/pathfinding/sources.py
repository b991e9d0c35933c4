"""Where a copy's map comes from at each reset: freshly generated random grids, or a set of map files."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from envs.pathfinding.maps import GridMap, read_map, resolve_map_files
from marl.core.validation import check_int, check_number


class MapSource:
    """Draws obstacle grids for the copies being reset; every grid is padded to `shape` with obstacles."""

    shape: tuple[int, int]
    names: list[str]

    def sample(
        self, count: int, generator: torch.Generator, device: torch.device
    ) -> tuple[Tensor, Tensor, Tensor]:
        """`count` grids: obstacles `bool [count, H, W]`, each map's own size `[count, 2]`, map ids `[count]`."""
        raise NotImplementedError


class RandomMaps(MapSource):
    """A new random grid per episode: each cell is an obstacle with probability `density` (POGEMA's
    generator), drawn from the environment's generator."""

    def __init__(self, height: int, width: int, density: float) -> None:
        check_int("height", height, low=2)
        check_int("width", width, low=2)
        check_number("density", density, low=0.0, high=1.0, high_open=True)
        self.shape, self.density = (height, width), density
        self.names = [f"random {height}x{width} density {density}"]

    def sample(self, count, generator, device):
        H, W = self.shape
        obstacles = torch.rand(count, H, W, generator=generator, device=device) < self.density
        size = torch.tensor([H, W], device=device).expand(count, 2)
        return obstacles, size, torch.zeros(count, dtype=torch.long, device=device)


class MapSet(MapSource):
    """Map files (a file, a folder or a glob under maps/pathfinding/); each reset draws one uniformly."""

    def __init__(self, spec: str) -> None:
        files = resolve_map_files(spec)
        self.files: list[Path] = files
        grids: list[GridMap] = [read_map(f) for f in files]
        self.names = [g.name for g in grids]
        H = max(g.shape[0] for g in grids)
        W = max(g.shape[1] for g in grids)
        self.shape = (H, W)
        self._grids = torch.ones(len(grids), H, W, dtype=torch.bool)
        for k, g in enumerate(grids):
            self._grids[k, : g.shape[0], : g.shape[1]] = torch.from_numpy(g.obstacles)
        self._sizes = torch.tensor([g.shape for g in grids])

    def sample(self, count, generator, device):
        if self._grids.device != torch.device(device):
            self._grids, self._sizes = self._grids.to(device), self._sizes.to(device)
        ids = torch.randint(len(self.names), (count,), generator=generator, device=device)
        return self._grids[ids], self._sizes[ids], ids
