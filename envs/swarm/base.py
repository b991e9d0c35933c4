"""What every swarm task shares: one group of identical agents, local observations of the k nearest
neighbours with a validity mask, the neighbour graph for graph policies, and the pygame renderer.

Observation layout (every feature normalised to [-1, 1]; see `observation_layout()`):

    [ own features (own_dim)
    | block 1: k_1 slots x F_1 features (slot-major: slot 0's features, then slot 1's, ...) | k_1 mask bits
    | block 2: ... ]

Block 1 is always the agent's `k_neighbours` nearest other agents; navigation adds its nearest obstacles and
formation its nearest target slots. A slot with no neighbour holds zeros and a mask bit of 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from envs.swarm.render import LINK_COLOUR, Canvas
from marl import BatchedEnv, GroupSpec, Neighbours, agent_names
from marl.core.neighbours import METHODS, nearest
from marl.core.validation import check_bool, check_choice, check_int, check_number, check_positive_int

GROUP = "agent"


@dataclass(frozen=True)
class ObservationBlock:
    """`k` slots of `features` values each, followed by `k` mask bits."""

    name: str
    k: int
    features: int

    @property
    def size(self) -> int:
        return self.k * (self.features + 1)


# ---------------------------------------------------------------------------- the config keys
@dataclass
class SwarmConfig:
    """Config keys every swarm task accepts; each task's config subclasses it (with its own defaults)."""

    n_agents: int = 32
    k_neighbours: int = 6  # the nearest other agents each agent observes
    neighbour_radius: float | None = None  # None: the k nearest at any distance
    neighbour_search: str = (
        "auto"  # auto, brute or cells (cell lists need neighbour_radius); all give the same
    )
    continuous_actions: bool = True
    max_steps: int = 100
    render_neighbours: bool = False  # draw each agent's links to its observed neighbours
    render_size: int = 400  # pixels per side

    def validate(self) -> None:
        check_int("n_agents", self.n_agents, low=2)
        check_int("k_neighbours", self.k_neighbours, low=1, high=self.n_agents - 1)
        check_number("neighbour_radius", self.neighbour_radius, low=0.0, low_open=True, allow_none=True)
        check_choice("neighbour_search", self.neighbour_search, METHODS)
        if self.neighbour_search == "cells" and self.neighbour_radius is None:
            raise ValueError("neighbour_search='cells' needs a neighbour_radius (cells are one radius wide)")
        check_bool("continuous_actions", self.continuous_actions)
        check_positive_int("max_steps", self.max_steps)
        check_bool("render_neighbours", self.render_neighbours)
        check_int("render_size", self.render_size, low=64)


# ---------------------------------------------------------------------------- the shared base class
class SwarmEnv(BatchedEnv):
    """Base of the swarm tasks. Subclasses set their state, then call `super().__init__`, and implement
    `positions`, `_reset`, `_step`, `_own_features`, `_blocks_features`, `_state`, `_episode_stats`,
    `_discs` and optionally `_draw_marks`.

    World: on a torus (`torus=True`) positions live in `[0, L)^2`; otherwise in the square arena
    `[-L/2, L/2]^2`, with `L = world_size`.
    """

    def __init__(
        self,
        config: SwarmConfig,
        *,
        world_size: float,
        torus: bool,
        own_features: int,
        blocks: list[ObservationBlock],
        action_space: gym.spaces.Space,
        state_size: int,
        num_envs: int,
        device: str | torch.device,
        seed: int | None,
    ) -> None:
        self.config = config
        self.n_agents, self.k_neighbours = config.n_agents, config.k_neighbours
        self.neighbour_radius = config.neighbour_radius
        self.world_size, self.torus = world_size, torus
        self.render_neighbours, self.render_size = config.render_neighbours, config.render_size
        self.own_features = own_features
        self.blocks = blocks
        size = own_features + sum(b.size for b in blocks)
        observation_space = gym.spaces.Box(-1.0, 1.0, (size,), np.float32)
        spec = GroupSpec(
            agent_names("agent", self.n_agents), observation_space, action_space, neighbours=self.k_neighbours
        )
        state_space = gym.spaces.Box(-1.0, 1.0, (state_size,), np.float32)
        super().__init__(
            groups={GROUP: spec},
            num_envs=num_envs,
            device=device,
            seed=seed,
            max_steps=config.max_steps,
            state_space=state_space,
        )
        self._neighbour_cache: Neighbours | None = None
        self._metric_last = torch.zeros(self.num_envs, device=self.device)
        self._metric_sum = torch.zeros(self.num_envs, device=self.device)

    # ------------------------------------------------------------------ neighbours and the graph
    def positions(self) -> Tensor:
        """Agent positions `[B, N, 2]` (the neighbour graph is built over these)."""
        raise NotImplementedError

    def neighbours(self) -> Neighbours:
        """Each agent's `k_neighbours` nearest other agents (within `neighbour_radius` if set), for the
        current state; computed once per state and shared by observations, rewards and the graph."""
        if self._neighbour_cache is None:
            self._neighbour_cache = nearest(
                self.positions(),
                self.positions(),
                self.k_neighbours,
                radius=self.neighbour_radius,
                torus_size=self.world_size if self.torus else None,
                exclude_self=True,
                method=self.config.neighbour_search,
            )
        return self._neighbour_cache

    def _neighbours(self) -> dict[str, Neighbours]:
        """Published in `step["agent"].neighbours` (graph policies read `edge_index()` / `edge_attr()`)."""
        return {GROUP: self.neighbours()}

    def _nothing_to_reset(self, mask: Tensor) -> bool:
        """True when no copy in `mask` ends, so `_reset` can skip its draws and keep the neighbour lists.
        Checked on the CPU only: there reading the mask is free, on an accelerator it would stall the
        pipeline, so there the masked reset always runs."""
        return self.device.type == "cpu" and not bool(mask.any())

    def _state_changed(self) -> None:
        """Call after every change of positions so the neighbour lists are recomputed."""
        self._neighbour_cache = None

    # ------------------------------------------------------------------ the task metric
    def _record_metric(self, value: Tensor) -> None:
        """Note this step's task metric `[B]` (order parameter, distance, error) for the episode statistics."""
        self._metric_last = value
        self._metric_sum = self._metric_sum + value

    def _forget_metric(self, mask: Tensor) -> None:
        self._metric_sum = self._metric_sum.masked_fill(mask, 0.0)

    def _metric_stats(self, name: str) -> dict[str, Tensor]:
        """`{name: value at the last step, name_mean: mean over the episode's steps}`."""
        return {name: self._metric_last, f"{name}_mean": self._metric_sum / self.elapsed.clamp_min(1)}

    # ------------------------------------------------------------------ observations
    def observation_layout(self) -> dict[str, slice]:
        """Where each part sits in an agent's observation vector: `own`, then `<block>` and `<block>_mask`."""
        layout, start = {"own": slice(0, self.own_features)}, self.own_features
        for block in self.blocks:
            layout[block.name] = slice(start, start + block.k * block.features)
            start += block.k * block.features
            layout[f"{block.name}_mask"] = slice(start, start + block.k)
            start += block.k
        return layout

    def _observe(self) -> dict[str, Tensor]:
        own = self._own_features()
        parts = [own]
        blocks = self._blocks_features()
        for block, (features, mask) in zip(self.blocks, blocks, strict=True):
            B, N = features.shape[:2]
            if features.shape[2:] != (block.k, block.features):
                raise RuntimeError(
                    f"block {block.name!r}: features {tuple(features.shape)}, "
                    f"expected [B, N, {block.k}, {block.features}]"
                )
            parts.append(features.reshape(B, N, -1))
            parts.append(mask.float())
        # every feature is normalised to [-1, 1]; the clamp only absorbs float rounding at the bounds
        # (e.g. a speed clamped to exactly max_speed), so observations stay inside the space
        return {GROUP: torch.cat(parts, dim=-1).float().clamp_(-1.0, 1.0)}

    def _own_features(self) -> Tensor:
        raise NotImplementedError

    def _blocks_features(self) -> list[tuple[Tensor, Tensor]]:
        """For each of `self.blocks`, (features `[B, N, k, F]`, mask `[B, N, k]`)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ rendering
    def _render(self, index: int) -> np.ndarray:
        half = self.world_size / 2
        centre = (half, half) if self.torus else (0.0, 0.0)
        positions, sizes, colours = self._discs(index)
        canvas = Canvas(self.render_size, centre, half, positions, sizes, colours, walls=not self.torus)
        if self.torus:  # the periodic domain's edge (not a wall)
            corners = np.array([[0, 0], [1, 0], [1, 1], [0, 1]]) * self.world_size
            canvas.segments(corners, np.roll(corners, -1, axis=0), LINK_COLOUR)
        if self.render_neighbours:
            nb = self.neighbours()
            mask, offset = nb.mask[index], nb.offset[index]
            starts = self.positions()[index][:, None, :].expand_as(offset)[mask]
            canvas.segments(starts.cpu().numpy(), (starts + offset[mask]).cpu().numpy(), LINK_COLOUR)
        self._draw_marks(canvas, index)
        return canvas.to_array()

    def _discs(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Copy `index`'s discs (goals, obstacles, then agents): positions `[E, 2]`, radii `[E]`, colours
        `[E, 3]` in 0..1. `draw_particles` draws larger discs first and keeps this order among equal sizes."""
        raise NotImplementedError

    def _draw_marks(self, canvas: Canvas, index: int) -> None:
        """Lines drawn over the discs (headings, goal and slot crosses); none by default."""


def scalar_action_levels(n_levels: int, device: torch.device) -> Tensor:
    """Discrete action a of `n_levels` -> the continuous value `-1 + 2a / (n_levels - 1)` in [-1, 1]."""
    return torch.linspace(-1.0, 1.0, n_levels, device=device)


def wrap_angle(angle: Tensor) -> Tensor:
    """Angles wrapped to `[-pi, pi)`."""
    return torch.remainder(angle + math.pi, 2 * math.pi) - math.pi
