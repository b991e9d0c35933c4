"""Neighbourhoods: the structure environments publish (`Neighbours`) and a batched k-nearest search.

`nearest(query, keys, k, radius=...)` finds, for every query point of every copy, its `k` nearest keys
(within `radius` if given), on the plane or on a torus, with no Python loop over copies, points or cells:

- brute force: one `[B, N, M]` tensor of squared distances; O(N M) time and memory per copy, the fastest for a
  few hundred points;
- cell lists (spatial hashing): keys sorted into a uniform grid of cells at least `radius` wide, so each query
  looks only at the keys of its 3 x 3 block of cells; O(N * occupancy) per copy, which stays linear in N at a
  fixed density.

`within(points, radius)` returns every other point within `radius`, with no bound on how many (the pairs of a
contact force), by the same two methods.

`method="auto"` (the default) takes cell lists where they pay (a radius, enough keys, cells that are not
crowded) and brute force otherwise; both return exactly the same neighbours. Conventions:

- Slots are sorted by squared distance, nearest first, ties broken by the lower key index; slots without a
  neighbour (fewer candidates than `k`, or none inside `radius`) come last, with `mask` False and zeros in
  `index`, `offset` and `distance`.
- `offset[b, i, s]` is the neighbour's position minus query i's (on a torus the shortest image, each
  coordinate in `[-L/2, L/2]`): "where is my neighbour, seen from me".
- `edge_index` follows torch-geometric's default `source_to_target` flow: an edge `j -> i` carries a message
  from neighbour j to agent i, nodes are numbered `b * n + i` over the whole batch.
- Cell lists size their candidate table from the most crowded cell, read once per call (a host sync on an
  accelerator; free on CPU).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

METHODS = ("auto", "brute", "cells")
# `auto` takes cell lists from this many keys per copy (below it one pairwise tensor is the faster way)
CELLS_FROM_KEYS = 384


@dataclass
class Neighbours:
    """Who each agent sees: `index [B, n, k]` (indices into the keys, for a published structure the same
    group's agents) and `mask [B, n, k]` (False: an empty slot, whose index is 0). `offset [B, n, k, 2]` and
    `distance [B, n, k]` are there when a spatial search made them."""

    index: Tensor
    mask: Tensor
    offset: Tensor | None = None
    distance: Tensor | None = None

    def __post_init__(self) -> None:
        if self.index.dim() != 3 or self.mask.shape != self.index.shape:
            raise ValueError(
                f"Neighbours needs index and mask of the same shape [B, n, k], got "
                f"{tuple(self.index.shape)} and {tuple(self.mask.shape)}"
            )

    @property
    def k(self) -> int:
        return self.index.shape[-1]

    def gather(self, values: Tensor) -> Tensor:
        """Per-slot values of the neighbours: `values [B, M, ...]` -> `[B, n, k, ...]` (0 where masked)."""
        B, N, k = self.index.shape
        trailing = values.shape[2:]
        flat = self.index.reshape(B, N * k, *([1] * len(trailing))).expand(B, N * k, *trailing)
        picked = values.gather(1, flat).reshape(B, N, k, *trailing)
        mask = self.mask.reshape(B, N, k, *([1] * len(trailing)))
        return torch.where(mask, picked, torch.zeros((), dtype=values.dtype, device=values.device))

    def _edges(self, alive: Tensor | None) -> Tensor:
        keep = self.mask
        if alive is not None:
            B, n, k = self.index.shape
            keep = keep & alive[:, :, None] & alive.gather(1, self.index.flatten(1)).view(B, n, k)
        return keep

    def edge_index(self, alive: Tensor | None = None) -> Tensor:
        """`long [2, E]`: edges neighbour -> agent (source row 0, target row 1) over nodes `b * n + i`,
        ordered by copy, agent, slot; with `alive [B, n]`, edges touching a dead agent are left out. E depends
        on the data, so on an accelerator building it waits for the device once."""
        B, n, k = self.index.shape
        offset = (torch.arange(B, device=self.index.device) * n)[:, None, None]
        target = (torch.arange(n, device=self.index.device)[None, :, None] + offset).expand(B, n, k)
        keep = self._edges(alive)
        return torch.stack([(self.index + offset)[keep], target[keep]])

    def edge_attr(self, alive: Tensor | None = None) -> Tensor:
        """`[E, 3]`: (offset_x, offset_y, distance) of each edge of `edge_index(alive)`, in the same order."""
        if self.offset is None or self.distance is None:
            raise ValueError("these neighbours carry no offsets (only a spatial search makes them)")
        keep = self._edges(alive)
        return torch.cat([self.offset[keep], self.distance[keep][:, None]], dim=1)

    def to_pyg(self, x: Tensor, alive: Tensor | None = None) -> Any:
        """A `torch_geometric.data.Data` batch of the B graphs: `x [B * n, F]`, `edge_index`, `batch`."""
        from torch_geometric.data import Data

        B, n = self.index.shape[:2]
        if x.shape[:2] != (B, n):
            raise ValueError(f"node features have shape {tuple(x.shape)}, expected [{B}, {n}, F]")
        batch = torch.arange(B, device=x.device).repeat_interleave(n)
        return Data(x=x.reshape(B * n, *x.shape[2:]), edge_index=self.edge_index(alive), batch=batch)


def wrap(offset: Tensor, torus_size: float | None) -> Tensor:
    """Offsets on a torus of side `torus_size` wrapped to the shortest image, each coordinate in
    `[-L/2, L/2]`; unchanged on the plane (`torus_size=None`)."""
    if torus_size is None:
        return offset
    return offset - torus_size * torch.round(offset / torus_size)


def pairwise_offsets(query: Tensor, keys: Tensor, torus_size: float | None = None) -> Tensor:
    """`keys[b, j] - query[b, i]` for every pair: `[B, N, 2], [B, M, 2] -> [B, N, M, 2]` (wrapped on a torus)."""
    return wrap(keys[:, None, :, :] - query[:, :, None, :], torus_size)


def nearest(
    query: Tensor,
    keys: Tensor,
    k: int,
    *,
    radius: float | None = None,
    torus_size: float | None = None,
    exclude_self: bool = False,
    key_valid: Tensor | None = None,
    method: str = "auto",
) -> Neighbours:
    """The `k` nearest keys of every query point (within `radius` if given), with offsets and distances.

    `query [B, N, 2]`, `keys [B, M, 2]`; on a torus of side `torus_size` positions are taken modulo it.
    `exclude_self` (queries and keys are the same points) leaves each point out of its own list;
    `key_valid [B, M]` leaves out keys that do not exist in a copy (dead agents, absent obstacles).
    `k` may exceed the number of candidates: the extra slots are masked. `method`: "auto", "brute" or
    "cells" (cell lists need a radius).
    """
    if query.dim() != 3 or query.shape[-1] != 2 or keys.dim() != 3 or keys.shape[-1] != 2:
        raise ValueError(
            f"query and keys must be [B, N, 2] and [B, M, 2], got {tuple(query.shape)} and {tuple(keys.shape)}"
        )
    if query.shape[0] != keys.shape[0]:
        raise ValueError(f"query and keys have different batch sizes: {query.shape[0]} and {keys.shape[0]}")
    if exclude_self and query.shape[1] != keys.shape[1]:
        raise ValueError("exclude_self needs the queries and keys to be the same points")
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f"k must be an int >= 0, got {k!r}")
    if radius is not None and not radius > 0:
        raise ValueError(f"radius must be > 0 or None, got {radius!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "cells" and radius is None:
        raise ValueError("method='cells' needs a radius (cells are at least one radius wide)")
    if key_valid is not None and key_valid.shape != keys.shape[:2]:
        raise ValueError(f"key_valid has shape {tuple(key_valid.shape)}, expected {tuple(keys.shape[:2])}")
    grid = None
    if method != "brute" and radius is not None and (method == "cells" or keys.shape[1] >= CELLS_FROM_KEYS):
        grid = _CellGrid.build(keys, radius, torus_size, query, forced=method == "cells")
    if grid is None:
        candidates = None  # every key is a candidate, in index order
        squared = _squared_distances(query[:, :, None, :], keys[:, None, :, :], torus_size)
    else:
        candidates, present = grid.candidates(query)
        squared = _squared_distances(query[:, :, None, :], _take(keys, candidates), torus_size)
        squared.masked_fill_(~present, torch.inf)
    # `squared` is a fresh tensor: mask it in place
    if exclude_self:
        if candidates is None:
            squared.diagonal(dim1=1, dim2=2).fill_(torch.inf)
        else:
            own = torch.arange(query.shape[1], device=query.device)[None, :, None]
            squared.masked_fill_(own == candidates, torch.inf)
    if key_valid is not None:
        valid = key_valid[:, None, :] if candidates is None else _take(key_valid, candidates)
        squared.masked_fill_(~valid, torch.inf)
    if radius is not None:
        squared.masked_fill_(squared > radius * radius, torch.inf)
    index, mask = _select(squared, candidates, k)
    picked = _take(keys, index)
    offset = wrap(picked - query[:, :, None, :], torus_size).masked_fill(~mask[..., None], 0.0)
    return Neighbours(index=index, mask=mask, offset=offset, distance=offset.norm(dim=-1))


def within(
    points: Tensor,
    radius: float,
    *,
    torus_size: float | None = None,
    valid: Tensor | None = None,
    method: str = "auto",
) -> Neighbours:
    """Every other point within `radius` of each point, without a bound on how many: the pairs a contact
    force or a collision count needs (`nearest` keeps only the k nearest).

    `points [B, N, 2]`; `valid [B, N]` leaves out points that do not take part. Returns `Neighbours` whose
    slots are in no particular order (`index`, `mask`, `offset`, `distance` as for `nearest`): with cell lists
    the slots are the points of each one's 3 x 3 block of cells (`[B, N, 9 * most crowded cell]`), with brute
    force every point (`[B, N, N]`); either way every point within `radius` is among the masked-in slots.
    """
    if points.dim() != 3 or points.shape[-1] != 2:
        raise ValueError(f"points must be [B, N, 2], got {tuple(points.shape)}")
    if not radius > 0:
        raise ValueError(f"radius must be > 0, got {radius!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if valid is not None and valid.shape != points.shape[:2]:
        raise ValueError(f"valid has shape {tuple(valid.shape)}, expected {tuple(points.shape[:2])}")
    B, N = points.shape[:2]
    grid = None
    if method == "cells" or (method == "auto" and N >= CELLS_FROM_KEYS):
        grid = _CellGrid.build(points, radius, torus_size, points, forced=method == "cells")
    if grid is None:
        index = torch.arange(N, device=points.device).expand(B, N, N)
        mask = torch.ones(B, N, N, dtype=torch.bool, device=points.device)
    else:
        index, mask = grid.candidates(points)
    offset = wrap(_take(points, index) - points[:, :, None, :], torus_size)
    distance = (offset[..., 0].square() + offset[..., 1].square()).sqrt()
    mask = mask & (distance <= radius) & (index != torch.arange(N, device=points.device)[None, :, None])
    if valid is not None:
        mask = mask & valid[:, :, None] & _take(valid, index)
    offset = offset.masked_fill(~mask[..., None], 0.0)
    return Neighbours(index=index.masked_fill(~mask, 0), mask=mask, offset=offset, distance=distance * mask)


def _squared_distances(a: Tensor, b: Tensor, torus_size: float | None) -> Tensor:
    """`|b - a|^2` over the last dimension (2), computed the same way by both methods (same bits)."""
    dx = wrap(b[..., 0] - a[..., 0], torus_size)
    dy = wrap(b[..., 1] - a[..., 1], torus_size)
    return dx.square_().add_(dy.square_())


def _take(values: Tensor, index: Tensor) -> Tensor:
    """`values [B, M, ...]` at `index [B, N, C]` -> `[B, N, C, ...]`."""
    B, N, C = index.shape
    trailing = values.shape[2:]
    flat = index.reshape(B, N * C, *([1] * len(trailing))).expand(B, N * C, *trailing)
    return values.gather(1, flat).reshape(B, N, C, *trailing)


def _select(squared: Tensor, candidates: Tensor | None, k: int) -> tuple[Tensor, Tensor]:
    """The k smallest squared distances per query, ties by the lower key index: `(index, mask) [B, N, k]`.

    On CPU a plain `topk` picks the set, and only rows where the k-th and the next distance are equal (where
    `topk` may pick either) are picked again by (distance, key index); on an accelerator, where finding those
    rows would cost a host sync, every row is picked that way, as under torch.compile (where the sync would split
    the graph)."""
    B, N, C = squared.shape
    keys = candidates if candidates is not None else torch.arange(C, device=squared.device).expand(B, N, C)
    taken = min(k, C)
    if squared.device.type == "cpu" and taken < C and not torch.compiler.is_compiling():
        values, slot = torch.topk(squared, taken + 1, dim=-1, largest=False, sorted=True)
        slot = slot[..., :taken].contiguous()
        tied = (values[..., taken - 1] == values[..., taken]) & torch.isfinite(values[..., taken - 1])
        if bool(tied.any()):
            slot[tied] = _smallest(squared[tied], keys[tied], taken)
        order = _smallest(squared.gather(-1, slot), keys.gather(-1, slot), taken)
        slot = slot.gather(-1, order)
    else:
        slot = _smallest(squared, keys, taken)
    mask = torch.isfinite(squared.gather(-1, slot))
    index = keys.gather(-1, slot).masked_fill(~mask, 0)
    if taken < k:  # pad to k masked slots
        index = torch.cat([index, index.new_zeros(B, N, k - taken)], dim=-1)
        mask = torch.cat([mask, mask.new_zeros(B, N, k - taken)], dim=-1)
    return index, mask


def _smallest(squared: Tensor, keys: Tensor, taken: int) -> Tensor:
    """Positions of the `taken` smallest entries along the last dimension by (squared distance, key index),
    in that order."""
    if squared.dtype == torch.float32:
        # the bits of a non-negative float32 order like the float: pack (distance, key index) into one int64
        packed = (squared.view(torch.int32).long() << 32) | keys
        return torch.topk(packed, taken, dim=-1, largest=False, sorted=True).indices
    by_key = keys.argsort(dim=-1, stable=True)  # two stable sorts: by key index, then by distance
    order = squared.gather(-1, by_key).argsort(dim=-1, stable=True)[..., :taken]
    return by_key.gather(-1, order)


@dataclass
class _CellGrid:
    """Keys sorted into `G x G` cells per copy: `order` lists key indices cell by cell, `start` and `count`
    say where each cell's keys are in it; `capacity` is the most crowded cell's count."""

    origin: Tensor  # [B, 1, 2]
    cell: float
    G: int
    torus: bool
    order: Tensor  # [B * M] global key indices b * M + j, cell by cell
    start: Tensor  # [B * G * G]
    count: Tensor  # [B * G * G]
    capacity: int
    num_keys: int

    @classmethod
    def build(
        cls, keys: Tensor, radius: float, torus_size: float | None, query: Tensor, forced: bool
    ) -> _CellGrid | None:
        """The grid of `keys`, or None where brute force is the better way (and not `forced`)."""
        B, M = keys.shape[:2]
        if torus_size is not None:
            origin = keys.new_zeros(B, 1, 2)
            extent = float(torus_size)
        else:  # the bounding box of every point of each copy, and the widest copy's side for all
            both = torch.cat([keys, query], dim=1)
            origin = both.amin(dim=1, keepdim=True)
            extent = float((both.amax(dim=1, keepdim=True) - origin).max())
        # cells at least one radius wide (a hair more, against rounding), and never many more cells than keys
        G = max(1, min(int(extent / (radius * (1 + 1e-6))), math.isqrt(4 * M) + 1))
        if torus_size is not None and G < 3:  # a 3 x 3 block would see some cell twice
            if forced:
                raise ValueError(
                    f"method='cells' on a torus of side {torus_size} needs radius <= side / 3, got {radius}"
                )
            return None
        cell = extent / G if extent > 0 else 1.0
        cx, cy = cls._cell_of(keys, origin, cell, G, torus_size is not None)
        copy = torch.arange(B, device=keys.device)[:, None]
        cid = ((copy * G + cy) * G + cx).flatten()
        count = torch.bincount(cid, minlength=B * G * G)
        start = torch.cumsum(count, 0) - count
        grid = cls(
            origin, cell, G, torus_size is not None, torch.argsort(cid, stable=True), start, count, 0, M
        )
        grid.capacity = int(grid.count.max())  # one read: sizes the candidate table
        if not forced and 9 * grid.capacity >= M:  # crowded cells: no better than every key
            return None
        return grid

    @staticmethod
    def _cell_of(points: Tensor, origin: Tensor, cell: float, G: int, torus: bool) -> tuple[Tensor, Tensor]:
        """The cell column and row of every point (on a torus modulo the grid; clamped to it otherwise)."""
        scaled = (points - origin) / cell
        if torus:
            scaled = torch.remainder(scaled, G)
        cells = scaled.floor().long().clamp_(0, G - 1)
        return cells[..., 0], cells[..., 1]

    def candidates(self, query: Tensor) -> tuple[Tensor, Tensor]:
        """`(key index, present) [B, N, 9 * capacity]`: the keys in each query's 3 x 3 block of cells."""
        B, N = query.shape[:2]
        G, dev = self.G, query.device
        cx, cy = self._cell_of(query, self.origin, self.cell, G, self.torus)
        step = torch.tensor([-1, 0, 1], device=dev)
        nx = (cx[..., None, None] + step[None, :]).expand(B, N, 3, 3)  # [B, N, dy, dx]
        ny = (cy[..., None, None] + step[:, None]).expand(B, N, 3, 3)
        if self.torus:
            inside = torch.ones_like(nx, dtype=torch.bool)
            nx, ny = torch.remainder(nx, G), torch.remainder(ny, G)
        else:
            inside = (nx >= 0) & (nx < G) & (ny >= 0) & (ny < G)
            nx, ny = nx.clamp(0, G - 1), ny.clamp(0, G - 1)
        copy = torch.arange(B, device=dev)[:, None, None, None]
        cid = ((copy * G + ny) * G + nx).reshape(B, N, 9)
        count = self.count[cid].masked_fill(~inside.reshape(B, N, 9), 0)
        slot = torch.arange(self.capacity, device=dev)
        position = (self.start[cid][..., None] + slot).reshape(B, N, -1)
        present = (slot < count[..., None]).reshape(B, N, -1)
        position = position.clamp_(max=self.order.numel() - 1)
        key = self.order[position] - (torch.arange(B, device=dev) * self.num_keys)[:, None, None]
        return key.masked_fill(~present, 0), present
