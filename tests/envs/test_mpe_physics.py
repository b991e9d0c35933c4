"""The batched particle physics against mpe2's `World.step`, plus the parts mpe2 lacks (walls, dtypes)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mpe2._mpe_utils.core import Agent, Landmark, World

from envs.particles.physics import ParticleWorld


def _mpe2_world(rng: np.random.Generator, n_agents: int, n_landmarks: int) -> World:
    world = World()
    world.agents = [Agent() for _ in range(n_agents)]
    world.landmarks = [Landmark() for _ in range(n_landmarks)]
    for e in world.entities:
        e.size = float(rng.uniform(0.05, 0.3))
        e.collide = bool(rng.random() < 0.8)
        e.initial_mass = float(rng.uniform(0.5, 2.0))
        e.max_speed = float(rng.uniform(0.5, 1.5)) if rng.random() < 0.5 else None
        e.state.p_pos = rng.uniform(-0.6, 0.6, 2)
        e.state.p_vel = rng.uniform(-1, 1, 2) if e.movable else np.zeros(2)
    for a in world.agents:
        a.silent = True
        a.action.u = rng.uniform(-3, 3, 2)
    world.dim_c = 0
    return world


def test_step_matches_mpe2_world_step_on_random_crowded_worlds() -> None:
    """Random sizes, masses, collide flags and speed limits in a crowded box: 20 copies, 10 steps each."""
    rng = np.random.default_rng(0)
    n_agents, n_landmarks, copies = 5, 3, 20
    worlds = [_mpe2_world(rng, n_agents, n_landmarks) for _ in range(copies)]
    template = worlds[0].entities
    # static properties are per entity, shared by every copy: make the other copies use the first's
    for w in worlds[1:]:
        for e, t in zip(w.entities, template, strict=True):
            e.size, e.collide, e.initial_mass, e.max_speed = t.size, t.collide, t.initial_mass, t.max_speed
    ours = ParticleWorld(
        copies,
        [e.size for e in template],
        mass=[e.initial_mass for e in template],
        movable=[e.movable for e in template],
        collide=[e.collide for e in template],
        max_speed=[float("inf") if e.max_speed is None else e.max_speed for e in template],
        dtype=torch.float64,
    )
    ours.pos = torch.tensor(np.array([[e.state.p_pos for e in w.entities] for w in worlds]))
    ours.vel = torch.tensor(np.array([[e.state.p_vel for e in w.entities] for w in worlds]))
    overlaps_seen = 0
    for _ in range(10):
        overlaps_seen += int(ours.overlapping(torch.arange(8), torch.arange(8)).sum()) - copies * 8
        force = torch.zeros(copies, n_agents + n_landmarks, 2, dtype=torch.float64)
        force[:, :n_agents] = torch.tensor(np.array([[a.action.u for a in w.agents] for w in worlds]))
        ours.step(force)
        for w in worlds:
            w.step()
        ref_pos = np.array([[e.state.p_pos for e in w.entities] for w in worlds])
        ref_vel = np.array([[e.state.p_vel for e in w.entities] for w in worlds])
        np.testing.assert_allclose(ours.pos.numpy(), ref_pos, atol=1e-9)
        np.testing.assert_allclose(ours.vel.numpy(), ref_vel, atol=1e-9)
    assert overlaps_seen > 0  # the test really exercised contacts


def test_walls_push_entities_back_and_leave_the_inside_alone() -> None:
    world = ParticleWorld(2, [0.1], movable=[True], collide=[True], walls=(-1.0, 1.0, -1.0, 1.0))
    world.pos = torch.tensor([[[0.95, 0.0]], [[0.0, 0.0]]])  # copy 0 overlaps the right wall
    force = world.contact_forces()
    assert force[0, 0, 0] < -1.0 and abs(float(force[0, 0, 1])) < 1e-6
    assert float(force[1].abs().max()) < 1e-6
    world.vel = torch.tensor([[[1.0, 0.0]], [[0.0, 0.0]]])
    for _ in range(30):
        world.step(torch.zeros(2, 1, 2))
    assert float(world.pos[0, 0, 0]) < 1.0


def test_entities_on_the_same_spot_get_no_nan() -> None:
    world = ParticleWorld(1, [0.1, 0.1], movable=[True, True], collide=[True, True])
    world.pos = torch.zeros(1, 2, 2)
    world.step(torch.zeros(1, 2, 2))
    assert bool(torch.isfinite(world.vel).all()) and bool((world.vel == 0).all())


def test_bad_properties_are_refused() -> None:
    with pytest.raises(ValueError, match="one value per entity"):
        ParticleWorld(1, [0.1, 0.1], movable=[True], collide=[True, True])
    with pytest.raises(ValueError, match="masses must be positive"):
        ParticleWorld(1, [0.1], mass=[0.0], movable=[True], collide=[True])
    with pytest.raises(ValueError, match="walls"):
        ParticleWorld(1, [0.1], movable=[True], collide=[True], walls=(1.0, -1.0, -1.0, 1.0))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cell_list_contacts_equal_every_pair(dtype: torch.dtype) -> None:
    """Cell lists find the same contacts as the static list of every pair: crowded copies of 600 entities of
    mixed sizes, some immovable, some not colliding, a few stacked on one spot; forces and overlap counts."""
    gen = torch.Generator().manual_seed(0)
    n, copies = 600, 3
    size = torch.rand(n, generator=gen) * 0.04 + 0.02
    movable = torch.rand(n, generator=gen) < 0.8
    collide = torch.rand(n, generator=gen) < 0.9
    worlds = {
        search: ParticleWorld(
            copies, size, movable=movable, collide=collide, contact_search=search, dtype=dtype
        )
        for search in ("pairs", "cells")
    }
    pos = (torch.rand(copies, n, 2, generator=gen) * 2.0 - 1.0).to(dtype)
    pos[:, :5] = 0.25  # five entities on the same spot
    for world in worlds.values():
        world.pos = pos.clone()
    pairs, cells = worlds["pairs"], worlds["cells"]
    assert cells.contact_cells and not pairs.contact_cells
    force = pairs.contact_forces()
    assert int((force.abs().sum(-1) > 0).sum()) > copies * n // 4  # crowded: many entities in contact
    tolerance = 1e-4 if dtype == torch.float32 else 1e-10
    torch.testing.assert_close(cells.contact_forces(), force, atol=tolerance, rtol=1e-5)
    assert torch.equal(cells.touching_counts(), pairs.touching_counts())
    for _ in range(5):
        kick = torch.randn(copies, n, 2, generator=gen).to(dtype) * movable[:, None]
        for world in worlds.values():
            world.step(kick)
    torch.testing.assert_close(cells.pos, pairs.pos, atol=10 * tolerance, rtol=1e-5)


def test_contact_search_is_checked() -> None:
    with pytest.raises(ValueError, match="contact_search must be"):
        ParticleWorld(1, [0.1], movable=[True], collide=[True], contact_search="brute")
