"""A replay buffer that lives on the training device, for off-policy learners.

One row is one copy's joint transition: every agent of every group at once, so a sampled index gives the
same transition to all agents (centralised critics need the joint observation and action of one moment).
`add` writes a whole batch of copies `[num_envs, ...]` in one indexed write; `sample` draws indices once and
gathers every field with them. `transition` builds a row batch from two consecutive `Step`s: terminated and
truncated stay apart, and for copies whose episode ended the next observation is the final observation of
that episode (the step already carries the first observation of the new one).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from marl.core.env import Observation, Step, flatten_obs


class ReplayBuffer:
    """A ring buffer of named tensor fields, allocated on `device` when the first batch arrives.

    Storage is created with `torch.empty`, so memory that was never written is not touched (on CPU it is not
    resident until filled).
    """

    def __init__(self, capacity: int, device: str | torch.device = "cpu") -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"capacity must be a positive int, got {capacity!r}")
        self.capacity = capacity
        self.device = torch.device(device)
        self.storage: dict[str, Tensor] = {}
        self.position = 0  # the row the next write starts at
        self.size = 0  # rows holding data
        self.added = 0  # rows ever written (survives checkpoints without contents)

    def __len__(self) -> int:
        return self.size

    def add(self, batch: dict[str, Tensor]) -> None:
        """Append one row per leading index of every field (all fields share the leading size)."""
        rows = self._check_batch(batch)
        if not self.storage:
            self._allocate({k: (tuple(v.shape[1:]), v.dtype) for k, v in batch.items()})
        index = (self.position + torch.arange(rows, device=self.device)) % self.capacity
        for name, value in batch.items():
            self.storage[name][index] = value
        self.position = (self.position + rows) % self.capacity
        self.size = min(self.size + rows, self.capacity)
        self.added += rows

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """`batch_size` rows drawn uniformly with replacement; the same indices for every field."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if self.size == 0:
            raise RuntimeError("cannot sample from an empty replay buffer")
        draw = torch.randint(self.size, (batch_size,), generator=generator, device=self.device)
        # the rows `_rows` lists; once the buffer is full they are all of them, and the draw is the row
        index = draw if self.size == self.capacity else (self.position - self.size + draw) % self.capacity
        return {name: data[index] for name, data in self.storage.items()}

    def _rows(self) -> Tensor:
        """The rows holding data, oldest first: the `size` rows before `position` (a buffer restarted from a
        checkpoint without contents fills from the saved position, not from row 0)."""
        return (self.position - self.size + torch.arange(self.size, device=self.device)) % self.capacity

    def state_dict(self, include_contents: bool = False) -> dict[str, Any]:
        """Counters always; the stored rows (and their layout) only with `include_contents`."""
        state: dict[str, Any] = {
            "capacity": self.capacity,
            "position": self.position,
            "size": self.size,
            "added": self.added,
        }
        if include_contents:
            state["contents"] = {name: data[self._rows()].clone() for name, data in self.storage.items()}
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore counters, and the rows if they were saved; without them the buffer restarts empty at the
        saved position (`added` is kept, so schedules that count transitions carry on)."""
        if state["capacity"] != self.capacity:
            raise ValueError(
                f"checkpointed replay buffer has capacity {state['capacity']}, this one {self.capacity}"
            )
        self.position, self.added = int(state["position"]), int(state["added"])
        contents = state.get("contents")
        if contents is None:
            self.storage, self.size = {}, 0
            return
        self._allocate({k: (tuple(v.shape[1:]), v.dtype) for k, v in contents.items()})
        self.size = int(state["size"])
        for name, value in contents.items():
            if value.shape[0] != self.size:
                raise ValueError(
                    f"checkpointed field {name!r} has {value.shape[0]} rows, size is {self.size}"
                )
            self.storage[name][self._rows()] = value.to(self.device)

    def _allocate(self, layout: dict[str, tuple[tuple[int, ...], torch.dtype]]) -> None:
        self.storage = {
            name: torch.empty(self.capacity, *shape, dtype=dtype, device=self.device)
            for name, (shape, dtype) in layout.items()
        }

    def _check_batch(self, batch: dict[str, Tensor]) -> int:
        if not batch:
            raise ValueError("a replay batch needs at least one field")
        sizes = {name: value.shape[0] if value.dim() else None for name, value in batch.items()}
        if len(set(sizes.values())) != 1 or None in sizes.values():
            raise ValueError(f"every field needs the same leading (copies) size, got {sizes}")
        rows = next(iter(sizes.values()))
        if rows > self.capacity:
            raise ValueError(f"a batch of {rows} rows does not fit a buffer of capacity {self.capacity}")
        if self.storage:
            if set(batch) != set(self.storage):
                raise KeyError(f"replay fields changed: stored {sorted(self.storage)}, got {sorted(batch)}")
            for name, value in batch.items():
                stored = self.storage[name]
                if value.shape[1:] != stored.shape[1:] or value.dtype != stored.dtype:
                    raise ValueError(
                        f"field {name!r}: got rows of shape {tuple(value.shape[1:])} {value.dtype}, "
                        f"stored rows are {tuple(stored.shape[1:])} {stored.dtype}"
                    )
        for name, value in batch.items():
            if value.device != self.device:
                raise ValueError(f"field {name!r} is on {value.device}, the buffer is on {self.device}")
        return rows


def stored_obs(obs: Observation) -> Tensor:
    """An observation as a replay field: a tensor as it is, a dict flattened to `[B, n, F]` (`flatten_obs`)."""
    return flatten_obs(obs) if isinstance(obs, dict) else obs


def transition(step: Step, actions: dict[str, Tensor], next_step: Step) -> dict[str, Tensor]:
    """The replay rows for the move from `step` (what the agents saw) to `next_step` (what followed).
    Dict observations are stored flattened (`stored_obs`).

    Per group `g`: `obs/g`, `action/g` (as given), `reward/g`, `terminated/g`, `alive/g` (alive when acting),
    `next_obs/g` (the ended episode's final observation where `next_step.done`), `next_alive/g`, and for
    masked groups `action_mask/g` and `next_action_mask/g` (all legal where the episode ended: the contract
    does not report the final step's mask, and a truncated copy bootstraps from it). Per copy: `truncated`.
    """
    done = next_step.done
    rows: dict[str, Tensor] = {"truncated": next_step.truncated}
    for g, now in step.groups.items():
        after = next_step[g]
        next_obs = stored_obs(after.obs)
        if next_step.final_obs is not None:
            next_obs = torch.where(
                done.reshape(-1, *[1] * (next_obs.dim() - 1)), stored_obs(next_step.final_obs[g]), next_obs
            )
        rows[f"obs/{g}"] = stored_obs(now.obs)
        rows[f"action/{g}"] = actions[g]
        rows[f"reward/{g}"] = after.reward
        rows[f"terminated/{g}"] = after.terminated
        rows[f"alive/{g}"] = now.alive
        rows[f"next_obs/{g}"] = next_obs
        rows[f"next_alive/{g}"] = now.alive & ~after.terminated
        if now.action_mask is not None:
            rows[f"action_mask/{g}"] = now.action_mask
            rows[f"next_action_mask/{g}"] = after.action_mask | done[:, None, None]
    return rows
