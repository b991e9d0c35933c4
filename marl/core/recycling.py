"""Memory for the large tensors an environment returns every step, reused once nobody holds it any more.

Why: on CPU, glibc serves blocks above 32 MB with `mmap` and unmaps them when they are freed, so a fresh
observation tensor of 100 MB or more is page-faulted in again on every step; at large batches that cost the
pathfinding environment half its throughput. `RecycledTensors` keeps a few such blocks alive and hands one out
again only after every tensor made from it (views, slices, tensors saved by autograd, numpy arrays sharing
its memory) is gone, so nothing a caller holds ever changes under it. A caller that keeps many outputs alive
simply gets fresh memory. On other devices the framework's caching allocator already reuses memory and this
is plain `torch.empty`.
"""

from __future__ import annotations

import sys

import numpy as np
import torch
from torch import Tensor


class RecycledTensors:
    """`new()` returns an uninitialised tensor of `shape` and `dtype` on `device`, reusing up to `keep` blocks
    (three cover an environment's step: the caller's previous output, and a final and a first observation
    where an episode ended).

    A block is the owner of its memory (a numpy byte array); every tensor made from it holds a reference to
    it through its storage, so the block is free exactly when its reference count is back to what it was
    when it was created.
    """

    def __init__(
        self,
        shape: tuple[int, ...],
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
        keep: int = 3,
    ) -> None:
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise ValueError(f"keep must be a positive int, got {keep!r}")
        self.shape, self.dtype, self.device, self.keep = tuple(shape), dtype, torch.device(device), keep
        self._nbytes = int(np.prod(self.shape, dtype=np.int64)) * dtype.itemsize
        self._blocks: list[np.ndarray] = []
        self._free_count = 0  # a block's reference count while nothing but this object holds it

    def new(self) -> Tensor:
        if self.device.type != "cpu":
            return torch.empty(self.shape, dtype=self.dtype, device=self.device)
        for i in range(len(self._blocks)):
            if sys.getrefcount(self._blocks[i]) == self._free_count:
                return self._view(self._blocks[i])
        if len(self._blocks) == self.keep:
            return torch.empty(self.shape, dtype=self.dtype)
        self._blocks.append(np.empty(self._nbytes, dtype=np.uint8))
        self._free_count = sys.getrefcount(self._blocks[-1])
        return self._view(self._blocks[-1])

    def _view(self, block: np.ndarray) -> Tensor:
        return torch.from_numpy(block).view(self.dtype).view(self.shape)
