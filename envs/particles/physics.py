"""A batched 2D particle-physics core shared by the particle-world families (MPE tasks, physical swarms).

Every copy holds the same entities (agents first, then landmarks, as in mpe2's `world.entities`); their
state is `pos`, `vel` `[num_envs, n_entities, 2]` and their static properties (size, mass, movable, collide,
max speed) are per-entity tensors `[n_entities]`. One `step(force)` advances every copy at once with the rules
of mpe2's `World.step` (mpe2/_mpe_utils/core.py):

- contact force between every pair of colliding entities a, b (both `collide`):
  `f = contact_force * (p_a - p_b) / |p_a - p_b| * k * log(1 + exp(-(|p_a - p_b| - (s_a + s_b)) / k))`
  with `k = contact_margin`, added to a (if movable) and subtracted from b (if movable);
- optional axis-aligned walls push entities back with the same softened penetration rule;
- integration (semi-implicit as in mpe2): `p += v dt; v *= 1 - damping; v += F / m dt`;
- speeds above `max_speed` are scaled back to `max_speed`.

Pairs are handled as one tensor of static index pairs, so there is no Python loop over copies or pairs. With
many colliding entities (`contact_search="auto"` from `marl.core.neighbours.CELLS_FROM_KEYS` of them, or
`"cells"`) the pairs are found each step by cell lists instead (`marl.core.neighbours.within`), which keeps the
cost linear in the entity count: only pairs closer than `CONTACT_REACH_MARGINS` contact margins beyond touching
are kept, the pairs left out would each add less than `contact_force * contact_margin * exp(-40)` (about 4e-19
with mpe2's constants), below float32 resolution of any force.
Entities that cannot move start with zero velocity and get no force, so they stay put.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from marl.core.neighbours import CELLS_FROM_KEYS, Neighbours, within

# a discrete movement choice -> its unit force, in mpe2's order: no-op, -x, +x, -y, +y
MOVE_DIRECTIONS = ((0.0, 0.0), (-1.0, 0.0), (1.0, 0.0), (0.0, -1.0), (0.0, 1.0))
# cell-list contacts keep pairs closer than the touching distance plus this many contact margins
CONTACT_REACH_MARGINS = 40.0


def _as_vector(name: str, value: float | Sequence[float] | Tensor, n: int, dtype, device) -> Tensor:
    t = torch.as_tensor(value, dtype=dtype, device=device)
    if t.dim() == 0:
        t = t.expand(n)
    if t.shape != (n,):
        raise ValueError(
            f"{name} must be a scalar or have one value per entity ({n}), got shape {tuple(t.shape)}"
        )
    return t.clone()


class ParticleWorld:
    """Entities of every copy as tensors; `step(force)` integrates one physics step for all copies.

    `max_speed` uses `inf` for "no limit" (mpe2's `None`). `walls=(x_min, x_max, y_min, y_max)` adds four
    straight walls that repel colliding entities (mpe2 has none; swarm tasks may use them). `contact_search`:
    "pairs" (every static pair, mpe2's way), "cells" (cell lists each step) or "auto" (cells from
    `CELLS_FROM_KEYS` colliding entities).
    """

    def __init__(
        self,
        num_envs: int,
        size: Sequence[float] | Tensor,
        *,
        mass: float | Sequence[float] | Tensor = 1.0,
        movable: Sequence[bool] | Tensor,
        collide: Sequence[bool] | Tensor,
        max_speed: float | Sequence[float] | Tensor = float("inf"),
        damping: float = 0.25,
        dt: float = 0.1,
        contact_force: float = 1e2,
        contact_margin: float = 1e-3,
        walls: tuple[float, float, float, float] | None = None,
        contact_search: str = "auto",
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.device = torch.device(device)
        self.dtype = dtype
        size = torch.as_tensor(size, dtype=dtype, device=self.device)
        if size.dim() != 1 or size.numel() == 0:
            raise ValueError(
                f"size must be a non-empty vector with one value per entity, got shape {tuple(size.shape)}"
            )
        n = size.numel()
        self.num_envs, self.n_entities = num_envs, n
        self.size = size
        self.mass = _as_vector("mass", mass, n, dtype, self.device)
        self.max_speed = _as_vector("max_speed", max_speed, n, dtype, self.device)
        self.movable = _as_vector("movable", movable, n, torch.bool, self.device)
        self.collide = _as_vector("collide", collide, n, torch.bool, self.device)
        if (self.mass <= 0).any():
            raise ValueError(f"masses must be positive, got {self.mass.tolist()}")
        self.damping, self.dt = float(damping), float(dt)
        self.contact_force, self.contact_margin = float(contact_force), float(contact_margin)
        if walls is not None and not (walls[0] < walls[1] and walls[2] < walls[3]):
            raise ValueError(f"walls must be (x_min, x_max, y_min, y_max) with min < max, got {walls}")
        self.walls = walls
        if contact_search not in ("auto", "pairs", "cells"):
            raise ValueError(f"contact_search must be 'auto', 'pairs' or 'cells', got {contact_search!r}")
        colliding = int(self.collide.sum())
        self.contact_cells = contact_search == "cells" or (
            contact_search == "auto" and colliding >= CELLS_FROM_KEYS
        )
        largest = self.size[self.collide].max() if colliding else self.size.new_zeros(())
        self.contact_reach = float(2 * largest) + CONTACT_REACH_MARGINS * self.contact_margin
        self.pushed = (self.collide & self.movable).to(dtype)[:, None]  # who receives contact forces
        # the static list of pairs that can exert a contact force: both collide, at least one can move
        a, b = torch.triu_indices(n, n, offset=1, device=self.device)
        keep = self.collide[a] & self.collide[b] & (self.movable[a] | self.movable[b])
        self.pair_a, self.pair_b = a[keep], b[keep]
        self.pair_min_dist = (self.size[self.pair_a] + self.size[self.pair_b])[:, None]
        # a pair with one immovable member pushes only the other: scale its two sides by movable (0 or 1)
        self.pair_scale = None
        if not bool((self.movable[self.pair_a] & self.movable[self.pair_b]).all()):
            self.pair_scale = (
                self.movable[self.pair_a].to(dtype)[:, None],
                self.movable[self.pair_b].to(dtype)[:, None],
            )
        # dt / mass, as one number when every mass is the same (the common case, one multiply fewer)
        same_mass = bool((self.mass == self.mass[0]).all())
        self.dt_over_mass = self.dt / float(self.mass[0]) if same_mass else (self.dt / self.mass)[:, None]
        self.has_speed_limit = bool(torch.isfinite(self.max_speed).any())
        self.pos = torch.zeros(num_envs, n, 2, dtype=dtype, device=self.device)
        self.vel = torch.zeros_like(self.pos)

    def penetration(self, distance: Tensor, min_distance: Tensor | float) -> Tensor:
        """mpe2's softened overlap `k log(1 + exp(-(d - d_min) / k))` (positive, about d_min - d when overlapping)."""
        k = self.contact_margin
        return F.softplus(-(distance - min_distance) / k) * k

    def contact_forces(self) -> Tensor:
        """Contact forces `[B, E, 2]` from every colliding pair (and the walls), as in mpe2.

        Entities that cannot move get no contact force.
        """
        if self.contact_cells:
            force = self.contact_forces_by_cells()
        else:
            force = self.contact_forces_by_pairs()
        if self.walls is not None:
            force = force + self.wall_forces()
        return force

    def contacts(self) -> Neighbours:
        """Every colliding entity within `contact_reach` of each one (cell lists; slots unordered)."""
        valid = self.collide.expand(self.num_envs, self.n_entities)
        return within(self.pos, self.contact_reach, valid=valid, method="cells")

    def contact_forces_by_cells(self) -> Tensor:
        """The contact forces from the pairs cell lists find (each entity sums its own side of each pair)."""
        near = self.contacts()
        dist = near.distance[..., None]
        direction = -near.offset / dist.clamp_min(torch.finfo(self.dtype).tiny)
        min_dist = (self.size[:, None] + self.size[near.index])[..., None]
        pair_force = direction * (self.contact_force * self.penetration(dist, min_dist))
        return (pair_force * near.mask[..., None]).sum(dim=2) * self.pushed

    def contact_forces_by_pairs(self) -> Tensor:
        """The contact forces over the static list of every colliding pair (mpe2's loop, as one tensor)."""
        force = torch.zeros_like(self.pos)
        if self.pair_a.numel() > 0:
            delta = self.pos.index_select(1, self.pair_a) - self.pos.index_select(1, self.pair_b)
            dist = length(delta)[..., None]
            # entities on exactly the same spot push each other nowhere (mpe2 divides 0 by 0 there: NaN)
            direction = delta / dist.clamp_min(torch.finfo(self.dtype).tiny)
            pair_force = direction * (self.contact_force * self.penetration(dist, self.pair_min_dist))
            if self.pair_scale is None:
                force.index_add_(1, self.pair_a, pair_force)
                force.index_add_(1, self.pair_b, -pair_force)
            else:
                force.index_add_(1, self.pair_a, pair_force * self.pair_scale[0])
                force.index_add_(1, self.pair_b, pair_force * -self.pair_scale[1])
        return force

    def wall_forces(self) -> Tensor:
        """Forces `[B, E, 2]` pushing colliding movable entities back inside the walls."""
        x_min, x_max, y_min, y_max = self.walls
        low = torch.tensor([x_min, y_min], dtype=self.dtype, device=self.device)
        high = torch.tensor([x_max, y_max], dtype=self.dtype, device=self.device)
        radius = self.size[:, None]
        push_up = self.penetration(self.pos - low, radius)  # distance to the low wall vs the radius
        push_down = self.penetration(high - self.pos, radius)
        return self.contact_force * (push_up - push_down) * self.pushed

    def step(self, action_force: Tensor) -> None:
        """Advance every copy by `dt` under `action_force [B, k, 2]`, the forces on the first k entities (agents
        come first; the others get none). Immovable entities must get zero action force (they then keep their
        zero velocity and stay put)."""
        k = action_force.shape[1]
        if action_force.shape[0] != self.num_envs or k > self.n_entities or action_force.shape[2:] != (2,):
            raise ValueError(
                f"action_force must be [num_envs={self.num_envs}, k <= {self.n_entities}, 2], "
                f"got {tuple(action_force.shape)}"
            )
        force = self.contact_forces()
        if k == self.n_entities:
            force = force + action_force
        else:
            force[:, :k] += action_force
        self.pos = self.pos + self.vel * self.dt
        vel = self.vel * (1 - self.damping) + force * self.dt_over_mass
        if self.has_speed_limit:
            speed = length(vel)
            scale = torch.where(speed > self.max_speed, self.max_speed / speed, 1.0)
            vel = vel * scale[..., None]
        self.vel = vel

    def touching_counts(self) -> Tensor:
        """Per entity, how many other colliding entities it overlaps now (distance < sum of sizes): `[B, E]`."""
        if self.contact_cells:
            near = self.contacts()
            return (near.mask & (near.distance < self.size[:, None] + self.size[near.index])).sum(dim=-1)
        everyone = torch.arange(self.n_entities, device=self.device)
        pairs = self.collide[:, None] & self.collide[None, :]
        pairs.fill_diagonal_(False)
        return (self.overlapping(everyone, everyone) & pairs).sum(dim=-1)

    def distances(self, a: Tensor, b: Tensor) -> Tensor:
        """Distances `[B, len(a), len(b)]` between entity index sets a and b."""
        rows = self.pos.index_select(1, a.repeat_interleave(len(b)))
        cols = self.pos.index_select(1, b.repeat(len(a)))
        return length(cols - rows).view(self.num_envs, len(a), len(b))

    def overlapping(self, a: Tensor, b: Tensor) -> Tensor:
        """mpe2's `is_collision`: `[B, len(a), len(b)]`, True where distance < sum of sizes."""
        return self.distances(a, b) < self.size[a][:, None] + self.size[b][None, :]


def length(v: Tensor) -> Tensor:
    """Euclidean length of 2D vectors `[..., 2] -> [...]` (as mpe2 computes it: sqrt of the sum of squares).

    Written out over the two coordinates: much faster on the CPU than `norm(dim=-1)` over a size-2 dimension.
    """
    return (v[..., 0].square() + v[..., 1].square()).sqrt()
