"""The batched neighbour search against explicit Python loops, and the graph in torch-geometric's convention."""

import itertools

import pytest
import torch
from torch_geometric.utils import scatter

from marl.core.neighbours import nearest, pairwise_offsets


def brute_force(query, keys, k, radius=None, torus=None, exclude_self=False, key_valid=None):
    """Per copy and query point, the sorted list of (distance, key index, offset) by explicit loops."""
    result = []
    for b in range(query.shape[0]):
        rows = []
        for i in range(query.shape[1]):
            found = []
            for j in range(keys.shape[1]):
                if exclude_self and i == j:
                    continue
                if key_valid is not None and not key_valid[b, j]:
                    continue
                d = [float(keys[b, j, c] - query[b, i, c]) for c in range(2)]
                if torus is not None:
                    d = [x - torus * round(x / torus) for x in d]
                dist = (d[0] ** 2 + d[1] ** 2) ** 0.5
                if radius is not None and dist > radius:
                    continue
                found.append((dist, j, d))
            rows.append(sorted(found)[:k])
        result.append(rows)
    return result


@pytest.mark.parametrize(
    "torus, radius, exclude_self, k",
    [
        (None, None, True, 4),
        (2.0, None, True, 4),
        (2.0, 0.5, True, 6),
        (None, 0.3, False, 3),
        (None, None, True, 20),
    ],
)
def test_nearest_matches_brute_force(torus, radius, exclude_self, k):
    gen = torch.Generator().manual_seed(3)
    B, N = 3, 12
    pos = torch.rand(B, N, 2, generator=gen) * 2.0
    keys = pos if exclude_self else torch.rand(B, 9, 2, generator=gen) * 2.0
    nb = nearest(pos, keys, k, radius=radius, torus_size=torus, exclude_self=exclude_self)
    assert nb.index.shape == nb.mask.shape == nb.distance.shape == (B, N, k)
    expected = brute_force(pos, keys, k, radius, torus, exclude_self)
    for b, i in itertools.product(range(B), range(N)):
        found = expected[b][i]
        assert int(nb.mask[b, i].sum()) == len(found)
        assert nb.mask[b, i, : len(found)].all()  # valid slots first
        for s, (dist, j, d) in enumerate(found):
            assert int(nb.index[b, i, s]) == j
            assert float(nb.distance[b, i, s]) == pytest.approx(dist, abs=1e-5)
            assert nb.offset[b, i, s].tolist() == pytest.approx(d, abs=1e-5)
        # masked slots are zero everywhere
        assert (nb.offset[b, i, len(found) :] == 0).all() and (nb.distance[b, i, len(found) :] == 0).all()


def test_nearest_skips_invalid_keys():
    gen = torch.Generator().manual_seed(0)
    pos = torch.rand(2, 10, 2, generator=gen)
    valid = torch.rand(2, 10, generator=gen) > 0.4
    nb = nearest(pos, pos, 5, exclude_self=True, key_valid=valid)
    expected = brute_force(pos, pos, 5, exclude_self=True, key_valid=valid)
    for b, i in itertools.product(range(2), range(10)):
        assert nb.index[b, i][nb.mask[b, i]].tolist() == [j for _, j, _ in expected[b][i]]


def test_torus_offsets_take_the_shortest_image():
    a = torch.tensor([[[0.1, 0.1]]])
    b = torch.tensor([[[1.9, 0.5]]])
    assert pairwise_offsets(a, b, 2.0)[0, 0, 0].tolist() == pytest.approx([-0.2, 0.4])
    assert pairwise_offsets(a, b)[0, 0, 0].tolist() == pytest.approx([1.8, 0.4])


def test_gather_picks_neighbour_values():
    pos = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [3.0, 0.0]]])
    nb = nearest(pos, pos, 2, exclude_self=True, radius=1.5)
    values = torch.tensor([[10.0, 20.0, 30.0]])
    # agent 0 sees only agent 1 within the radius; agent 2 sees nobody
    assert nb.gather(values).tolist() == [[[20.0, 0.0], [10.0, 0.0], [0.0, 0.0]]]


def test_edge_index_follows_torch_geometric_convention():
    gen = torch.Generator().manual_seed(1)
    B, N, k = 2, 7, 3
    pos = torch.rand(B, N, 2, generator=gen)
    nb = nearest(pos, pos, k, exclude_self=True, radius=0.6)
    edge_index, edge_attr = nb.edge_index(), nb.edge_attr()
    assert edge_index.shape == (2, int(nb.mask.sum())) and edge_attr.shape == (edge_index.shape[1], 3)
    source, target = edge_index
    flat = pos.reshape(B * N, 2)
    # edge attributes are the source's offset seen from the target, and their distance
    assert torch.allclose(edge_attr[:, :2], flat[source] - flat[target], atol=1e-6)
    assert torch.allclose(edge_attr[:, 2], (flat[source] - flat[target]).norm(dim=1), atol=1e-6)
    # no edge crosses copies
    assert (source // N == target // N).all()
    # summing messages from sources at targets (what a MessagePassing layer does) = the dense neighbour sum
    values = torch.arange(B * N, dtype=torch.float32)
    summed = scatter(values[source], target, dim=0, dim_size=B * N, reduce="sum")
    dense = nb.gather(values.reshape(B, N)).sum(-1).reshape(-1)
    assert torch.equal(summed, dense)


def test_nearest_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\[B, N, 2\]"):
        nearest(torch.zeros(2, 3), torch.zeros(2, 3), 1)
    with pytest.raises(ValueError, match="batch sizes"):
        nearest(torch.zeros(2, 3, 2), torch.zeros(1, 3, 2), 1)
    with pytest.raises(ValueError, match="exclude_self"):
        nearest(torch.zeros(1, 3, 2), torch.zeros(1, 4, 2), 1, exclude_self=True)
