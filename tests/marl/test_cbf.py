"""The batched CBF safety filter (marl.core.cbf) against a general QP solver (cvxpy) on random instances."""

import numpy as np
import pytest
import torch

from marl.core.cbf import project_halfspace, safety_filter

cp = pytest.importorskip("cvxpy")
PENALTY = 1e3


def random_instances(n, m, d, seed, cbf_like=False):
    """`n` problems of `m` rows (80% live) in `d` dimensions, box [-1.5, 1.5]^d, float64. `cbf_like`: every
    b >= 0, so u = 0 is feasible, as for barrier constraints of robots that do not overlap."""
    g = torch.Generator().manual_seed(seed)
    u_nom = torch.randn(n, d, generator=g, dtype=torch.float64) * 2
    A = torch.randn(n, m, d, generator=g, dtype=torch.float64)
    b = torch.randn(n, m, generator=g, dtype=torch.float64)
    b = b.abs() if cbf_like else b
    mask = torch.rand(n, m, generator=g) < 0.8
    upper = torch.full((n, d), 1.5, dtype=torch.float64)
    return u_nom, A, b, mask, -upper, upper


def cvxpy_solutions(u_nom, A, b, mask, lower, upper):
    """Per problem: (u, objective, largest slack) of the same QP with the slack penalty, by Clarabel."""
    out = []
    for i in range(len(u_nom)):
        m, d = A.shape[1:]
        u, s = cp.Variable(d), cp.Variable(m)
        norms = A[i].norm(dim=-1).numpy()
        cons = [u >= lower[i].numpy(), u <= upper[i].numpy(), s >= 0]
        cons += [A[i, j].numpy() @ u <= b[i, j].item() + norms[j] * s[j] for j in range(m) if mask[i, j]]
        objective = 0.5 * cp.sum_squares(u - u_nom[i].numpy()) + PENALTY * cp.sum(s)
        problem = cp.Problem(cp.Minimize(objective), cons)
        problem.solve(solver="CLARABEL")
        slack = max(float(np.max(s.value * mask[i].numpy())), 0.0)
        out.append((u.value, problem.value, slack))
    return out


def objective(u, u_nom, A, b, mask):
    violation = ((A @ u[..., None])[..., 0] - b).clamp_min(0) / A.norm(dim=-1)
    return 0.5 * ((u - u_nom) ** 2).sum(-1) + PENALTY * (violation * mask).sum(-1)


def violation(u, A, b, mask):
    return (((A @ u[..., None])[..., 0] - b) * mask).amax(-1).clamp_min(0)


@pytest.mark.parametrize(("d", "closed_form"), [(2, True), (2, False), (3, True)])
def test_the_filter_matches_cvxpy_on_random_instances(d, closed_form):
    u_nom, A, b, mask, lower, upper = random_instances(80, 5, d, seed=d)
    reference = cvxpy_solutions(u_nom, A, b, mask, lower, upper)
    result = safety_filter(
        u_nom, A, b, mask, lower, upper, iterations=200, penalty=PENALTY, closed_form=closed_form
    )
    feasible = torch.tensor([slack < 1e-7 for _, _, slack in reference])
    assert 0.2 < feasible.float().mean() < 0.9  # both kinds are there
    ours = objective(result.u, u_nom, A, b, mask)
    theirs = torch.tensor([value for _, value, _ in reference], dtype=torch.float64)
    assert torch.allclose(ours[feasible], theirs[feasible], atol=1e-4, rtol=1e-4)
    assert float(violation(result.u, A, b, mask)[feasible].max()) <= 1e-5
    assert ((result.u >= lower) & (result.u <= upper)).all()
    # infeasible instances use the slack and are flagged, feasible ones are not
    assert torch.equal(result.infeasible, ~feasible)
    assert (result.slack[~feasible] > 1e-4).all()


def test_closed_form_is_the_qp_solution_when_one_constraint_binds():
    u_nom, A, b, mask, lower, upper = random_instances(100, 1, 2, seed=3)
    upper, mask = upper * 100, torch.ones_like(mask)  # a box that never binds
    reference = cvxpy_solutions(u_nom, A, b, mask, -upper, upper)
    exact = project_halfspace(u_nom, A[:, 0], b[:, 0])
    assert torch.allclose(exact, torch.tensor(np.array([u for u, _, _ in reference])), atol=1e-6)
    # inside the filter, with more rows that do not bind: the closed form settles it, exactly
    far = torch.cat([A, A.new_zeros(100, 3, 2) + torch.tensor([1.0, 0.0], dtype=A.dtype)], dim=1)
    far_b = torch.cat([b, b.new_full((100, 3), 1e3)], dim=1)
    result = safety_filter(u_nom, far, far_b, torch.ones(100, 4, dtype=torch.bool), -upper, upper)
    assert result.closed_form.all()
    assert torch.allclose(result.u, exact, atol=1e-12)
    # and the iterative tier, on its own, converges to the same
    iterative = safety_filter(
        u_nom,
        far,
        far_b,
        torch.ones(100, 4, dtype=torch.bool),
        -upper,
        upper,
        iterations=200,
        closed_form=False,
    )
    assert torch.allclose(iterative.u, exact, atol=1e-6)


def test_feasible_filtered_controls_never_violate_a_constraint():
    u_nom, A, b, mask, lower, upper = random_instances(2000, 8, 2, seed=5, cbf_like=True)
    u_nom, A, b, lower, upper = (t.float() for t in (u_nom, A, b, lower, upper))
    result = safety_filter(u_nom, A, b, mask, lower, upper, iterations=300)
    assert not result.infeasible.any()  # u = 0 is feasible in all of them
    scale = 1e-5 * A.norm(dim=-1).amax(-1)
    assert (violation(result.u, A, b, mask) <= scale).all()
    assert result.closed_form.any() and not result.closed_form.all()


def test_warm_start_converges_in_fewer_iterations():
    u_nom, A, b, mask, lower, upper = random_instances(300, 6, 2, seed=7, cbf_like=True)
    solved = safety_filter(u_nom, A, b, mask, lower, upper, iterations=300, closed_form=False)
    cold = safety_filter(u_nom, A, b, mask, lower, upper, iterations=3, closed_form=False)
    warm = safety_filter(
        u_nom, A, b, mask, lower, upper, iterations=3, closed_form=False, warm_start=solved.multipliers
    )
    cold_error = (cold.u - solved.u).norm(dim=-1).max()
    warm_error = (warm.u - solved.u).norm(dim=-1).max()
    assert warm_error < 1e-6 < cold_error


def test_rows_and_bad_input():
    u = torch.zeros(4, 2)
    box = torch.ones(4, 2)
    none = safety_filter(
        u + 3, torch.zeros(4, 0, 2), torch.zeros(4, 0), torch.zeros(4, 0, dtype=torch.bool), -box, box
    )
    assert torch.equal(none.u, torch.ones(4, 2)) and not none.infeasible.any()
    with pytest.raises(ValueError, match="A must be"):
        safety_filter(
            u, torch.zeros(4, 3, 3), torch.zeros(4, 3), torch.ones(4, 3, dtype=torch.bool), -box, box
        )
    with pytest.raises(TypeError, match="mask must be bool"):
        safety_filter(u, torch.zeros(4, 3, 2), torch.zeros(4, 3), torch.ones(4, 3), -box, box)
    with pytest.raises(ValueError, match="lower must be <= upper"):
        safety_filter(
            u, torch.zeros(4, 3, 2), torch.zeros(4, 3), torch.ones(4, 3, dtype=torch.bool), box, -box
        )


def test_the_accelerator_path_gives_the_cpu_result():
    """Without selecting the unsettled robots (what runs on an accelerator) the result is the same."""
    u_nom, A, b, mask, lower, upper = random_instances(300, 6, 2, seed=11, cbf_like=True)
    selected = safety_filter(u_nom, A, b, mask, lower, upper, iterations=100, select_unsettled=True)
    everyone = safety_filter(u_nom, A, b, mask, lower, upper, iterations=100, select_unsettled=False)
    assert torch.allclose(selected.u, everyone.u, atol=1e-9)
    assert torch.equal(selected.infeasible, everyone.infeasible)
