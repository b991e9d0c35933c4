"""A batched safety filter: for every robot at once, the control closest to a nominal one that satisfies
its control-barrier-function (CBF) constraints and its box input limits.

Per robot (any leading batch dimensions `...`, e.g. `[copies, robots]`), with `m` constraint rows `a_i^T u <= b_i`
(one per neighbour and per obstacle; masked rows are ignored) and box limits `lower <= u <= upper`:

    minimise  1/2 ||u - u_nom||^2 + penalty * sum_i s_i
    subject to  a_i^T u <= b_i + ||a_i|| s_i,   s_i >= 0,   lower <= u <= upper.

The slack `s_i` is the violation of row i measured as a distance in control space. The linear penalty is exact:
when the constraints can be met inside the box and `penalty` exceeds the largest multiplier, the slack stays 0
and `u` is the exact CBF-QP solution; when they cannot, the slack absorbs the smallest violation and the robot
is flagged `infeasible` (that is how an infeasible CBF-QP shows, rather than as NaNs).

`safety_filter` solves it in two tiers, both batched over every robot with no Python loop over robots:

1. Closed form. `u_nom` clipped into the box is the minimiser with the box alone, and the projection of `u_nom`
   onto the most violated row's half-space, `u_nom - max(0, a^T u_nom - b) / ||a||^2 a`, the minimiser with that
   row alone; either, if it satisfies every other constraint, is the exact solution of the whole problem (the
   solution is unique). This covers every robot where no row binds, or one row and no input limit, which in a
   navigation scene is most of them (about 80% in the benchmark).
2. Dual projected gradient (accelerated, with adaptive restart) for the others, on a fixed iteration budget,
   warm-started from the previous step's multipliers. Only the CBF rows are dualised: for multipliers `lam`
   the primal minimiser over the box is `clip(u_nom - A^T lam, lower, upper)` (the Hessian is the identity),
   and the multipliers are projected onto `[0, penalty]` (the linear slack penalty caps them). The step is
   `1 / lambda_max(A^T A)` of the normalised rows, so the budget means the same for every scene.

   The iterate is then polished as OSQP does: a few guesses of the active set are solved exactly and kept where
   they pass the KKT conditions, which makes the answer exact whenever a guess is right.

A robot whose budget ran out before convergence keeps an approximate control, whose violation shows in
`slack` and `infeasible` like a truly infeasible one (the tests cross-check both tiers against cvxpy); callers
that need hard guarantees keep a small margin in the barrier (the robots environment does).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch import Tensor

# a row counts as violated (in the closed-form and polishing checks) beyond this, relative to 1 + |b|; in float32
# the rounding floor `50 eps` (6e-6) takes over
_FEASIBILITY_TOLERANCE = 1e-6


def _tolerance(like: Tensor) -> float:
    return max(_FEASIBILITY_TOLERANCE, 50 * torch.finfo(like.dtype).eps)


@dataclass
class FilterResult:
    """What `safety_filter` returns, per robot (`...` are the batch dimensions, `m` the rows).

    `u [..., d]`: the filtered control; `slack [...]`: the largest slack used (0 when every row holds);
    `infeasible [...]`: the slack exceeds the tolerance; `active [..., m]`: rows that bind (their multiplier
    is positive); `multipliers [..., m]`: the rows' multipliers, to warm-start the next call;
    `closed_form [...]`: the robot's solution came from the closed form (exact)."""

    u: Tensor
    slack: Tensor
    infeasible: Tensor
    active: Tensor
    multipliers: Tensor
    closed_form: Tensor


def project_halfspace(u_nom: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """The exact minimiser of `||u - u_nom||^2` subject to the one constraint `a^T u <= b`:
    `u_nom [..., d]`, `a [..., d]`, `b [...]` -> `[..., d]`. Differentiable; `a = 0` leaves `u_nom` unchanged."""
    excess = ((a * u_nom).sum(-1) - b).clamp_min(0.0)
    norm2 = (a * a).sum(-1)
    scale = torch.where(norm2 > 0, excess / norm2.clamp_min(torch.finfo(a.dtype).tiny), 0.0)
    return u_nom - scale[..., None] * a


def _check(u_nom: Tensor, A: Tensor, b: Tensor, mask: Tensor, lower: Tensor, upper: Tensor) -> None:
    batch, d = u_nom.shape[:-1], u_nom.shape[-1]
    if A.dim() != u_nom.dim() + 1 or A.shape[:-2] != batch or A.shape[-1] != d:
        raise ValueError(f"A must be [..., m, {d}] with batch {tuple(batch)}, got {tuple(A.shape)}")
    m = A.shape[-2]
    for name, t in (("b", b), ("mask", mask)):
        if t.shape != (*batch, m):
            raise ValueError(f"{name} must be [..., m] = {(*batch, m)}, got {tuple(t.shape)}")
    if mask.dtype != torch.bool:
        raise TypeError(f"mask must be bool, got {mask.dtype}")
    for name, t in (("lower", lower), ("upper", upper)):
        if t.shape != u_nom.shape:
            raise ValueError(f"{name} must have u_nom's shape {tuple(u_nom.shape)}, got {tuple(t.shape)}")
    if bool((lower > upper).any()):
        raise ValueError("lower must be <= upper in every component (an empty box has no solution)")


def safety_filter(
    u_nom: Tensor,
    A: Tensor,
    b: Tensor,
    mask: Tensor,
    lower: Tensor,
    upper: Tensor,
    *,
    iterations: int = 30,
    warm_start: Tensor | None = None,
    penalty: float = 1e3,
    tolerance: float = 1e-4,
    closed_form: bool = True,
    select_unsettled: bool | None = None,
) -> FilterResult:
    """Filter `u_nom [..., d]` through the rows `A [..., m, d] u <= b [..., m]` (where `mask [..., m]`) and
    the box `lower <= u <= upper` (each `[..., d]`), see the module docstring. `iterations`: the iterative
    tier's budget; `warm_start [..., m]`: multipliers from the previous call (e.g. `result.multipliers`);
    `penalty`: the slack's price (the largest multiplier a row may take); `tolerance`: slack above this flags
    the robot as infeasible (a budget too short to converge shows the same way); `closed_form=False` sends
    every robot to the iterative tier (for tests and benchmarks). `select_unsettled`: run the iterative tier
    only on the robots the closed form leaves (default: on the CPU, where selecting them is free; on an
    accelerator it would wait for the device, so there every robot runs it and the closed form is kept
    where it holds); both give the same result."""
    _check(u_nom, A, b, mask, lower, upper)
    if iterations < 0:
        raise ValueError(f"iterations must be >= 0, got {iterations}")
    # normalised rows: the slack is a distance in control space, the multipliers share one scale
    norm = A.norm(dim=-1)
    live = mask & (norm > 0)
    safe_norm = torch.where(live, norm, 1.0)
    A = torch.where(live[..., None], A / safe_norm[..., None], 0.0)
    # a masked row becomes 0 <= 1 (always true); an all-zero live row keeps its b (true or not, slack tells)
    b = torch.where(live, b / safe_norm, torch.where(mask & (b < 0), b, 1.0))
    clipped = torch.minimum(torch.maximum(u_nom, lower), upper)
    if b.shape[-1] == 0:  # no rows: the nominal control clipped into the box is the solution
        none = torch.zeros_like(u_nom[..., 0])
        return FilterResult(clipped, none, none > 0, live, b, torch.ones_like(none, dtype=torch.bool))

    def violation(u: Tensor) -> Tensor:  # [..., m], >= 0
        return ((A @ u[..., None])[..., 0] - b).clamp_min(0.0)

    tol = _tolerance(b) * (1.0 + b.abs())
    # tier 1: the minimiser over the box alone (u_nom clipped), or over the most violated row alone (the
    # projection onto its half-space); either is the solution when it satisfies all the other constraints
    box_only = (violation(clipped) <= tol).all(-1)
    excess = (A @ u_nom[..., None])[..., 0] - b
    worst = excess.argmax(-1, keepdim=True)
    a_worst = A.gather(-2, worst[..., None].expand(*worst.shape, A.shape[-1]))[..., 0, :]
    projected = project_halfspace(u_nom, a_worst, b.gather(-1, worst)[..., 0])
    in_box = ((projected >= lower) & (projected <= upper)).all(-1)
    row_only = ~box_only & in_box & (violation(projected) <= tol).all(-1)
    closed = (box_only | row_only) & closed_form
    u = torch.where(row_only[..., None], projected, clipped)
    multipliers = torch.zeros_like(b).scatter_(-1, worst, excess.gather(-1, worst).clamp_min(0.0))
    multipliers = torch.where(row_only[..., None], multipliers, 0.0)
    # tier 2: the iterative solver on the robots the closed form does not settle (on the CPU only those;
    # on an accelerator all of them, since selecting them would wait for the device)
    rest = ~closed
    select = u_nom.device.type == "cpu" if select_unsettled is None else select_unsettled
    if iterations > 0 and (not select or bool(rest.any())):
        pick = rest if select else torch.ones_like(rest)
        warm = warm_start if warm_start is not None else torch.zeros_like(b)
        if warm.shape != b.shape:
            raise ValueError(f"warm_start must be [..., m] = {tuple(b.shape)}, got {tuple(warm.shape)}")
        u_it, lam = _dual_projected_gradient(
            u_nom[pick], A[pick], b[pick], lower[pick], upper[pick], warm[pick], penalty, iterations
        )
        if select:
            u, multipliers = u.clone(), multipliers.clone()
            u[pick], multipliers[pick] = u_it, lam
        else:
            u = torch.where(closed[..., None], u, u_it.view_as(u))
            multipliers = torch.where(closed[..., None], multipliers, lam.view_as(multipliers))
    slack = violation(u).amax(-1)
    return FilterResult(
        u=u,
        slack=slack,
        infeasible=slack > tolerance,
        active=multipliers > 0,
        multipliers=multipliers,
        closed_form=closed,
    )


def _dual_projected_gradient(
    u_nom: Tensor,
    A: Tensor,
    b: Tensor,
    lower: Tensor,
    upper: Tensor,
    lam: Tensor,
    penalty: float,
    iterations: int,
) -> tuple[Tensor, Tensor]:
    """FISTA on the dual `max_{0 <= lam <= penalty} min_{lower <= u <= upper} 1/2||u - u_nom||^2 + lam^T(Au - b)`
    with O'Donoghue-Candes gradient restarts; rows already normalised. Returns (u, lam), `[n, d]`, `[n, m]`."""
    lam = lam.clamp(0.0, penalty)
    # step 1/L, L = lambda_max(A^T A) >= the dual gradient's Lipschitz constant (clipping is 1-Lipschitz)
    lipschitz = torch.linalg.eigvalsh(A.transpose(-1, -2) @ A)[..., -1].clamp_min(1e-12)
    step = (1.0 / lipschitz)[..., None]
    y, t = lam, torch.ones_like(lam[..., :1])
    At = A.transpose(-1, -2)

    def primal(multipliers: Tensor) -> Tensor:
        return torch.minimum(torch.maximum(u_nom - (At @ multipliers[..., None])[..., 0], lower), upper)

    for _ in range(iterations):
        gradient = (A @ primal(y)[..., None])[..., 0] - b
        new = (y + step * gradient).clamp(0.0, penalty)
        restart = ((gradient * (new - lam)).sum(-1, keepdim=True) < 0) | (t > 1e6)
        t_next = torch.where(restart, 1.0, (1 + torch.sqrt(1 + 4 * t * t)) / 2)
        momentum = torch.where(restart, 0.0, (t - 1) / t_next)
        y = new + momentum * (new - lam)
        lam, t = new, t_next
    return _polish(u_nom, A, b, lower, upper, primal(lam), lam, penalty)


def _polish(
    u_nom: Tensor, A: Tensor, b: Tensor, lower: Tensor, upper: Tensor, u: Tensor, lam: Tensor, penalty: float
) -> tuple[Tensor, Tensor]:
    """Polishing, as OSQP does: guess the active set, solve that equality-constrained problem exactly, and keep
    the result where it passes the KKT conditions (feasible, row multipliers >= 0, box multipliers of the right
    sign), since it is then the exact solution. The box components are those at a bound in the iterate; the
    rows are tried as the iterate's (positive multipliers), then every set of at most d of its `d + 2` most
    likely rows (largest multiplier plus residual), because a short budget leaves nearly-tight rows with
    spurious multipliers. Elsewhere the iterate stays, and so do robots with a multiplier at the cap (slack in
    use)."""
    tol = _tolerance(b) * (1.0 + b.abs())
    at_upper, at_lower = u >= upper, u <= lower
    fixed = at_upper | at_lower
    u_fixed = torch.where(at_upper, upper, torch.where(at_lower, lower, 0.0))
    free_nom = torch.where(fixed, 0.0, u_nom)
    reduced_b = b - (A @ u_fixed[..., None])[..., 0]
    d, m = u.shape[-1], lam.shape[-1]
    residual = (A @ u[..., None])[..., 0] - b
    likely = lam > 0
    top = (lam + residual).topk(min(d + 2, m), dim=-1).indices  # nearly tight or violated, or bound
    guesses = [likely]
    for size in range(1, d + 1):
        for subset in itertools.combinations(range(top.shape[-1]), size):
            guesses.append(torch.zeros_like(likely).scatter_(-1, top[..., list(subset)], True))
    done = ~(lam < penalty).all(-1)  # slack in use: keep the iterate
    u_out, lam_out = u, lam
    for rows in guesses:
        if u.device.type == "cpu" and bool(done.all()):  # free to check on the CPU
            break
        G = torch.where(rows[..., None] & ~fixed[..., None, :], A, 0.0)  # active rows, free components
        rhs = torch.where(rows, (G @ free_nom[..., None])[..., 0] - reduced_b, 0.0)
        mu = (torch.linalg.pinv(G @ G.transpose(-1, -2), hermitian=True) @ rhs[..., None])[..., 0]
        polished = torch.where(fixed, u_fixed, free_nom - (G.transpose(-1, -2) @ mu[..., None])[..., 0])
        force = u_nom - polished - (A.transpose(-1, -2) @ mu[..., None])[..., 0]  # nu_upper - nu_lower
        sign = 50 * torch.finfo(b.dtype).eps * (1.0 + mu.abs().amax(-1, keepdim=True))  # rounding
        box_ok = torch.where(at_upper, force >= -sign, torch.where(at_lower, force <= sign, True))
        ok = (
            ~done
            & ((A @ polished[..., None])[..., 0] - b <= tol).all(-1)
            & (mu >= -sign).all(-1)
            & ((polished >= lower) & (polished <= upper)).all(-1)
            & box_ok.all(-1)
        )
        u_out = torch.where(ok[..., None], polished, u_out)
        lam_out = torch.where(ok[..., None], mu.clamp_min(0.0), lam_out)
        done = done | ok
    return u_out, lam_out
