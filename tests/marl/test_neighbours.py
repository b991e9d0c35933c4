"""The batched neighbour search: cell lists return exactly what brute force returns, on the plane and on a
torus, for uniform, clustered, coincident, cell-boundary and seam-crossing points; ties go to the lower index."""

import pytest
import torch

from marl.core.neighbours import Neighbours, nearest, within


def layouts(B: int, N: int, L: float, generator: torch.Generator) -> dict[str, torch.Tensor]:
    uniform = torch.rand(B, N, 2, generator=generator) * L
    centres = torch.rand(B, 4, 2, generator=generator) * L
    clustered = centres[:, torch.randint(4, (N,), generator=generator)] + 0.05 * L * torch.randn(
        B, N, 2, generator=generator
    )
    grid_points = torch.randint(0, 8, (B, N, 2), generator=generator).float() * (L / 8)  # on cell boundaries
    seam = torch.remainder(torch.rand(B, N, 2, generator=generator) * 0.2 * L - 0.1 * L, L)  # across 0 / L
    return {
        "uniform": uniform,
        "clustered": torch.remainder(clustered, L),
        "one point": torch.full((B, N, 2), 0.37 * L),
        "cell boundaries": grid_points,
        "torus seam": seam,
    }


def assert_same(a: Neighbours, b: Neighbours) -> None:
    assert torch.equal(a.mask, b.mask)
    assert torch.equal(a.index, b.index)
    assert torch.equal(a.offset, b.offset)
    assert torch.equal(a.distance, b.distance)


@pytest.mark.parametrize("torus", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cell_lists_equal_brute_force(torus, dtype):
    generator = torch.Generator().manual_seed(0)
    L, B, N = 10.0, 2, 300
    for name, points in layouts(B, N, L, generator).items():
        points = points.to(dtype)
        valid = torch.rand(B, N, generator=generator) > 0.1
        for radius, k in ((1.0, 6), (3.0, 12)):
            kwargs = dict(radius=radius, torus_size=L if torus else None, exclude_self=True, key_valid=valid)
            brute = nearest(points, points, k, method="brute", **kwargs)
            cells = nearest(points, points, k, method="cells", **kwargs)
            assert_same(brute, cells), name
            assert brute.mask.any(), name


def pair_sets(n: Neighbours) -> set[tuple[int, int, int, float]]:
    """(copy, point, neighbour, distance) of every masked-in slot: what `within` promises, order aside."""
    b, i, s = n.mask.nonzero(as_tuple=True)
    return set(
        zip(b.tolist(), i.tolist(), n.index[b, i, s].tolist(), n.distance[b, i, s].tolist(), strict=True)
    )


@pytest.mark.parametrize("torus", [True, False])
def test_within_finds_every_pair_inside_the_radius_by_either_method(torus):
    generator = torch.Generator().manual_seed(2)
    L, B, N = 10.0, 2, 300
    for name, points in layouts(B, N, L, generator).items():
        valid = torch.rand(B, N, generator=generator) > 0.1
        brute = within(points, 0.8, torus_size=L if torus else None, valid=valid, method="brute")
        cells = within(points, 0.8, torus_size=L if torus else None, valid=valid, method="cells")
        assert pair_sets(brute) == pair_sets(cells), name
        # brute force's slots are every point: its mask is exactly "another valid point within the radius"
        squared = (points[:, :, None] - points[:, None]).square().sum(-1) if not torus else None
        if squared is not None:
            expected = (squared.sqrt() <= 0.8) & valid[:, :, None] & valid[:, None, :]
            expected &= ~torch.eye(N, dtype=torch.bool)
            assert int(brute.mask.sum()) == int(expected.sum()), name
        assert bool(brute.mask.any()), name


def test_cell_lists_with_separate_queries_and_keys_and_more_slots_than_candidates():
    generator = torch.Generator().manual_seed(1)
    query = torch.rand(2, 300, 2, generator=generator) * 6
    keys = torch.rand(2, 700, 2, generator=generator) * 6
    for torus in (6.0, None):
        brute = nearest(query, keys, 40, radius=0.4, torus_size=torus, method="brute")
        cells = nearest(query, keys, 40, radius=0.4, torus_size=torus, method="cells")
        assert_same(brute, cells)
        assert not brute.mask[..., -1].all()  # some queries have fewer than 40 keys in range


def test_ties_go_to_the_lower_index_and_slots_are_sorted():
    # four keys at the same distance from the query: the lowest indices win, in index order
    query = torch.zeros(1, 1, 2)
    keys = torch.tensor([[[0.0, 1.0], [2.0, 0.0], [1.0, 0.0], [0.0, -1.0], [-1.0, 0.0]]])
    for method in ("brute", "cells"):
        found = nearest(query, keys, 3, radius=1.5, method=method)
        assert found.index.tolist() == [[[0, 2, 3]]]
    generator = torch.Generator().manual_seed(2)
    points = torch.rand(2, 600, 2, generator=generator) * 8
    found = nearest(points, points, 8, radius=1.0, torus_size=8.0, exclude_self=True)
    d = found.distance.masked_fill(~found.mask, torch.inf)
    assert (d[..., 1:] >= d[..., :-1]).all()


def test_auto_picks_cells_for_many_keys_and_brute_force_for_few(monkeypatch):
    from marl.core import neighbours

    calls = []
    original = neighbours._CellGrid.candidates
    monkeypatch.setattr(
        neighbours._CellGrid, "candidates", lambda self, q: calls.append(1) or original(self, q)
    )
    generator = torch.Generator().manual_seed(3)
    many = torch.rand(1, 2000, 2, generator=generator) * 40
    nearest(many, many, 6, radius=1.0, torus_size=40.0, exclude_self=True)
    assert calls == [1]
    few = many[:, :100]
    nearest(few, few, 6, radius=1.0, torus_size=40.0, exclude_self=True)
    nearest(many, many, 6, torus_size=40.0, exclude_self=True)  # no radius: brute force
    assert calls == [1]


def test_bad_input_is_refused_clearly():
    points = torch.rand(2, 10, 2)
    with pytest.raises(ValueError, match="needs a radius"):
        nearest(points, points, 3, method="cells")
    with pytest.raises(ValueError, match="radius <= side / 3"):
        nearest(points, points, 3, radius=2.0, torus_size=4.0, method="cells")
    with pytest.raises(ValueError, match="method must be one of"):
        nearest(points, points, 3, method="kd")
    with pytest.raises(ValueError, match=r"\[B, N, 2\]"):
        nearest(points[..., :1], points, 3)


def test_edges_follow_the_source_to_target_convention():
    points = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [5.0, 5.0]]])
    found = nearest(points, points, 2, radius=2.0, exclude_self=True)
    assert found.edge_index().tolist() == [[1, 0], [0, 1]]
    assert found.edge_attr().tolist() == [[1.0, 0.0, 1.0], [-1.0, 0.0, 1.0]]
    alive = torch.tensor([[True, False, True]])
    assert found.edge_index(alive).shape == (2, 0)
