"""solve / sweep / fisher_estimate: brute-force oracle, finite differences, sandwich, sweeps."""

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar

import bottleneck as bn
from bottleneck.optim.objective import FisherObjective, GapObjective

from .strategies import targets

REL, ABS = 1e-9, 1e-12


def le(a, b, rel=REL, abs_=ABS):
    return a <= b + rel * abs(b) + abs_


# ------------------------------------------------------------- brute-force oracle, V = 3, d = 1
_E = np.array([[1, -1, 0], [1, 1, -2]], dtype=float)
_E /= np.linalg.norm(_E, axis=1, keepdims=True)  # orthonormal basis of the plane 1^perp in R^3


def _oracle_gap_at_angle(P, w, theta):
    """G(theta) = sum_i pi_i min_h KL(p_i || softmax(h u(theta))): each inner problem is convex
    in the scalar h; its derivative <softmax(h u), u> - <p, u> is increasing, so bisection
    on [-400, 400] (120 halvings) finds the minimiser to machine precision."""
    u = np.cos(theta) * _E[0] + np.sin(theta) * _E[1]
    target_mean = P @ u
    lo, hi = np.full(len(P), -400.0), np.full(len(P), 400.0)
    for _ in range(120):
        mid = (lo + hi) / 2
        z = mid[:, None] * u
        q = np.exp(z - z.max(axis=1, keepdims=True))
        q /= q.sum(axis=1, keepdims=True)
        up = (q @ u) > target_mean
        hi = np.where(up, mid, hi)
        lo = np.where(up, lo, mid)
    z = ((lo + hi) / 2)[:, None] * u
    logq = (
        z
        - np.log(np.exp(z - z.max(axis=1, keepdims=True)).sum(axis=1, keepdims=True))
        - z.max(axis=1, keepdims=True)
    )
    return float(w @ (P * (np.log(P) - logq)).sum(axis=1))


def oracle_v3_d1(P, w):
    grid = np.linspace(0, np.pi, 721)  # u and -u give the same heads: theta in [0, pi)
    vals = np.array([_oracle_gap_at_angle(P, w, th) for th in grid])
    best = math.inf
    for k in np.argsort(vals)[:3]:  # refine the three best grid cells
        res = minimize_scalar(
            lambda th: _oracle_gap_at_angle(P, w, th),
            bounds=(grid[k] - np.pi / 720, grid[k] + np.pi / 720),
            method="bounded",
            options={"xatol": 1e-12},
        )
        best = min(best, res.fun, vals[k])
    return best


@pytest.mark.parametrize("seed", range(6))
def test_solve_matches_brute_force_v3_d1(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 7))
    P = rng.dirichlet(np.full(3, 0.7), size=n)
    P = np.clip(P, 1e-6, None)
    P /= P.sum(axis=1, keepdims=True)
    w = rng.dirichlet(np.ones(n))
    t = bn.Target.from_probs(P, weights=w)
    sol = bn.solve(t, 1, tol=1e-9)
    ref = oracle_v3_d1(P, w)
    assert sol.converged, sol
    assert abs(sol.gap - ref) <= 1e-7, (sol.gap, ref)


# ------------------------------------------------------------------ gradients
@pytest.mark.parametrize("Obj", [GapObjective, FisherObjective])
@pytest.mark.parametrize("bias", [False, True])
def test_gradients_match_central_differences(Obj, bias):
    rng = np.random.default_rng(1)
    n, v, d = 5, 7, 2
    P = rng.dirichlet(np.ones(v), size=n)
    P[0, 3] = 0.0  # a zero: gradients must ignore it
    P /= P.sum(axis=1, keepdims=True)
    t = bn.Target.from_probs(P, weights=rng.dirichlet(np.ones(n)), bias=bias)
    obj = Obj(t, torch.device("cpu"), torch.float64, chunk_size=2)  # chunking exercised
    H = torch.tensor(rng.standard_normal((n, d)))
    W = torch.tensor(rng.standard_normal((v, d)))
    b = torch.tensor(rng.standard_normal(v)) if bias else None
    _, gH, gW, gb = obj.value_and_grad(H, W, b)
    eps = 1e-6
    for X, g in ((H, gH), (W, gW)) + (((b, gb),) if bias else ()):
        for idx in np.ndindex(*X.shape):
            X[idx] += eps
            fp = float(obj.value_and_grad(H, W, b)[0])
            X[idx] -= 2 * eps
            fm = float(obj.value_and_grad(H, W, b)[0])
            X[idx] += eps
            assert (fp - fm) / (2 * eps) == pytest.approx(float(g[idx]), rel=1e-6, abs=1e-9)


def test_gap_objective_value_equals_target_gap():
    t, _ = bn.targets.synthetic(6, 9, "power", scale=3.0, seed=4)
    rng = np.random.default_rng(0)
    H, W = rng.standard_normal((6, 2)), rng.standard_normal((9, 2))
    obj = GapObjective(t, torch.device("cpu"), torch.float64)
    val = float(obj.value_and_grad(torch.tensor(H), torch.tensor(W), None)[0])
    assert val == pytest.approx(t.gap(H @ W.T), rel=1e-12)


# ------------------------------------------------------------------ exact optima
@pytest.mark.parametrize("bias", [False, True])
def test_d0_exact(bias):
    P = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.3, 0.3, 0.4]])
    w = np.array([0.5, 0.3, 0.2])
    t = bn.Target.from_probs(P, weights=w, bias=bias)
    sol = bn.solve(t, 0, tol=1e-9)
    q = w @ P if bias else np.full(3, 1 / 3)  # bias only: best single q is the mixture pbar
    ref = float(sum(wi * np.sum(p * np.log(p / q)) for wi, p in zip(w, P)))
    assert sol.gap == pytest.approx(ref, rel=1e-10)
    assert sol.converged


def test_zero_gap_at_rank():
    t, _ = bn.targets.synthetic(8, 10, "exponential", decay=0.3, scale=2.0, rank=3, seed=0)
    sol = bn.solve(t, 3)
    assert sol.gap <= 1e-14 and sol.converged  # float64 rounding of log-softmax


# ------------------------------------------------------------------ properties
@settings(max_examples=15)
@given(t=targets(), d=st.integers(0, 4))
def test_sandwich_with_solver(t, d):
    d = min(d, min(t.shape))
    s = bn.bounds(t, d)
    sol = bn.solve(t, d, tol=1e-9, max_iter=5000)
    assert le(s.lower, sol.gap), (s.lower, sol.gap)
    assert le(sol.gap, s.details["U_trunc"].value)
    assert le(s.details["U_trunc"].value, s.upper) or s.upper == s.details["U_trunc"].value
    assert sol.grad_norm >= 0 and (sol.converged == (sol.grad_norm <= sol.tol))


@settings(max_examples=10)
@given(t=targets(zeros=True), d=st.integers(0, 3))
def test_solver_with_zeros(t, d):
    d = min(d, min(t.shape))
    s = bn.bounds(t, d)
    sol = bn.solve(
        t, d, max_iter=100
    )  # zeros: the infimum is not attained; any iterate is a certified upper bound
    assert np.isfinite(sol.gap)
    assert le(s.lower, sol.gap) and le(sol.gap, s.upper)


@settings(max_examples=8)
@given(t=targets(bias=False), data=st.data())
def test_independent_of_context_order(t, data):
    d = min(2, min(t.shape))
    perm = np.random.default_rng(data.draw(st.integers(0, 999))).permutation(t.n_contexts)
    tp = bn.Target.from_probs(np.array(t.probs)[perm], weights=t.weights[perm])
    # one start (init="svd", equivariant under row permutations): non-convexity means two
    # different starts may legitimately end in different local minima. tol = 1e-11, not
    # 1e-9: a gradient test does not pin the value where a row is extremely peaked (q(1-q)
    # ~ 1e-11, flat directions); hypothesis found a 3 x 4 target whose two orderings both
    # stopped at gradient < 1e-9 with gaps 2.78e-9 and 3.11e-9 (optimum 2.6034e-9)
    a, b = (
        bn.solve(t, d, tol=1e-11, max_iter=3000, init="svd"),
        bn.solve(tp, d, tol=1e-11, max_iter=3000, init="svd"),
    )
    if a.converged and b.converged:
        assert a.gap == pytest.approx(b.gap, rel=1e-6, abs=1e-10)


def test_sweep_monotone_and_resumes(tmp_path):
    t, _ = bn.targets.synthetic(30, 25, "power", decay=0.7, scale=4.0, seed=5)
    path = tmp_path / "sweep.json"
    first = bn.sweep(t, [1, 2, 4], path=str(path), progress=False)
    gaps = [s.gap for s in first]
    assert all(b <= a for a, b in zip(gaps, gaps[1:]))
    saved = json.loads(path.read_text())
    assert [r["d"] for r in saved["records"]] == [1, 2, 4]
    resumed = bn.sweep(t, [1, 2, 4, 8], path=str(path), progress=False)
    assert [s.gap for s in resumed[:3]] == gaps  # read back, not recomputed
    assert resumed[3].gap <= gaps[-1]
    other, _ = bn.targets.synthetic(30, 25, "power", decay=0.7, scale=4.0, seed=6)
    with pytest.raises(ValueError, match="another target"):
        bn.sweep(other, [1], path=str(path), progress=False)


def test_fisher_estimate_asymptotically_exact():
    """G*(d)/E_F(d) -> 1 as the log-prob tail vanishes (proofs/estimates.md)."""
    ratios = []
    for scale in (2.0, 0.5, 0.1):
        t, _ = bn.targets.synthetic(20, 15, "power", decay=0.5, scale=scale, seed=3)
        ratios.append(bn.solve(t, 2, tol=1e-13).gap / bn.fisher_estimate(t, 2, tol=1e-13))
    errs = [abs(r - 1) for r in ratios]
    assert errs[2] < errs[1] < errs[0]
    assert errs[2] < 0.02


def test_non_converged_is_flagged():
    t, _ = bn.targets.synthetic(20, 30, "power", decay=0.5, scale=5.0, seed=0)
    sol = bn.solve(t, 3, max_iter=2, check_every=1, tol=1e-14, init="svd")
    assert not sol.converged and "NOT converged" in str(sol)
    assert sol.gap <= bn.bounds(t, 3).details["U_trunc"].value + 1e-15  # still an explicit head


# ------------------------------------------------------------------ bad input
def test_solve_rejects():
    t = bn.Target.from_probs([[0.5, 0.5], [0.2, 0.8]])
    with pytest.raises(ValueError, match="exceeds min"):
        bn.solve(t, 3)
    with pytest.raises(ValueError, match="d must be"):
        bn.solve(t, -1)
    with pytest.raises(ValueError, match="init must be"):
        bn.solve(t, 1, init="random")
    with pytest.raises(ValueError, match="tol"):
        bn.solve(t, 1, tol=0)
    with pytest.raises(ValueError, match="unknown device|cuda"):
        bn.solve(t, 1, device="tpu")
    big = bn.solve(bn.Target.from_probs(np.full((3, 3), 1 / 3)), 2)
    with pytest.raises(ValueError, match="init Solution"):
        bn.solve(t, 1, init=big)


def test_spurious_local_minimum_is_real_and_multistart_escapes_it():
    """Finding (docs/theory.md §4): the rank-d problem has non-global local minima.

    From the truncated-SVD start Newton converges to a second-order stationary point
    (Hessian PSD up to the gauge zeros, checked by building the Hessian from exact
    Hessian-vector products) whose gap is well above the one reached from the Fisher start.
    """
    from bottleneck.optim.objective import GapObjective

    rng = np.random.default_rng(3)
    X, W = 2.0 * rng.standard_normal((60, 8)), rng.standard_normal((25, 8))
    t = bn.Target.from_logits(X @ W.T, bias=True)
    svd_only = bn.solve(t, 3, tol=1e-9, init="svd")
    multi = bn.solve(t, 3, tol=1e-9)  # svd and fisher starts
    assert svd_only.converged and multi.converged
    assert multi.gap < svd_only.gap - 0.01
    obj = GapObjective(t, torch.device("cpu"), torch.float64)
    H, Wt, b = (torch.tensor(x) for x in (svd_only.H, svd_only.W, svd_only.bias))
    n1, n2 = H.numel(), Wt.numel()
    cols = []
    for e in np.eye(n1 + n2 + b.numel()):
        e = torch.tensor(e)
        with torch.no_grad():
            hH, hW, hb = obj.hvp(
                H, Wt, b, e[:n1].reshape(H.shape), e[n1 : n1 + n2].reshape(Wt.shape), e[n1 + n2 :]
            )
        cols.append(torch.cat([hH.ravel(), hW.ravel(), hb.ravel()]).numpy())
    Hess = np.array(cols)
    assert np.abs(Hess - Hess.T).max() < 1e-10  # exact products give a symmetric matrix
    eig = np.linalg.eigvalsh((Hess + Hess.T) / 2)
    assert eig[0] > -1e-9 * eig[-1]  # no descent direction: a genuine local minimum


@pytest.mark.parametrize("bias", [False, True])
def test_hessian_vector_product_matches_gradient_differences(bias):
    from bottleneck.optim.objective import FisherObjective, GapObjective

    rng = np.random.default_rng(11)
    t = bn.Target.from_logits(rng.standard_normal((7, 5)) * 2, bias=bias)
    H, W = torch.tensor(rng.standard_normal((7, 2))), torch.tensor(rng.standard_normal((5, 2)))
    b = torch.tensor(rng.standard_normal(5)) if bias else None
    dH, dW = torch.tensor(rng.standard_normal((7, 2))), torch.tensor(rng.standard_normal((5, 2)))
    db = torch.tensor(rng.standard_normal(5)) if bias else None
    for cls in (GapObjective, FisherObjective):
        obj = cls(t, torch.device("cpu"), torch.float64)
        with torch.no_grad():
            hv = obj.hvp(H, W, b, dH, dW, db)
            eps = 1e-6
            up = obj.value_and_grad(
                H + eps * dH, W + eps * dW, None if b is None else b + eps * db
            )[1:]
            dn = obj.value_and_grad(
                H - eps * dH, W - eps * dW, None if b is None else b - eps * db
            )[1:]
        for exact, u, d_ in zip(hv, up, dn):
            if exact is None:
                continue
            fd = (u - d_) / (2 * eps)
            np.testing.assert_allclose(exact.numpy(), fd.numpy(), rtol=1e-6, atol=1e-9)


# ------------------------------------------------------------------ one-pass Newton state
def _state_case(bias, zeros, seed=5):
    rng = np.random.default_rng(seed)
    P = np.exp(rng.standard_normal((9, 6)) * 2)
    if zeros:
        P[rng.random(P.shape) < 0.3] = 0.0
        P[:, 0] += 0.1  # every row keeps some mass
    P /= P.sum(axis=1, keepdims=True)
    wts = rng.random(9) + 0.1
    t = bn.Target.from_probs(P, weights=wts / wts.sum(), bias=bias)
    H, W = torch.tensor(rng.standard_normal((9, 3))), torch.tensor(rng.standard_normal((6, 3)))
    b = torch.tensor(rng.standard_normal(6)) if bias else None
    return rng, t, H, W, b


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("zeros", [False, True])
@pytest.mark.parametrize("cls", [GapObjective, FisherObjective])
@pytest.mark.parametrize("chunk_size", [4, None])
def test_second_order_state_matches_separate_passes(bias, zeros, cls, chunk_size):
    """The one-pass state (value, gradient, Gauss–Newton diagonal, Riemannian norm, cached
    Hessian products) equals the separate per-quantity passes it replaces, with chunking
    (three chunks) and without (one chunk)."""
    rng, t, H, W, b = _state_case(bias, zeros)
    obj = cls(t, torch.device("cpu"), torch.float64, chunk_size=chunk_size)
    with torch.no_grad():
        st_ = obj.second_order_state(H, W, b)
        val, gH, gW, gb = obj.value_and_grad(H, W, b)
        diag = obj.diag_curvature(H, W, b)
        assert st_.value == pytest.approx(float(val), rel=1e-14, abs=1e-15)
        assert st_.grad_norm == pytest.approx(obj.riemannian_grad_norm(H, W, b), rel=1e-12)
        for a, e in zip(st_.grad + st_.diag, (gH, gW, gb) + tuple(diag)):
            if e is None:
                assert a is None
                continue
            np.testing.assert_allclose(a.numpy(), e.numpy(), rtol=1e-12, atol=1e-15)
        dH, dW = (
            torch.tensor(rng.standard_normal(H.shape)),
            torch.tensor(rng.standard_normal(W.shape)),
        )
        db = torch.tensor(rng.standard_normal(6)) if bias else None
        exact = obj.hvp(H, W, b, dH, dW, db)
        cached = st_.hvp(dH, dW, db)
        low = obj.second_order_state(H, W, b, hvp_dtype=torch.float32).hvp(dH, dW, db)
        uncached = obj.second_order_state(H, W, b, cache_bytes=0).hvp(dH, dW, db)
        for e, c, lo, u in zip(exact, cached, low, uncached):
            if e is None:
                continue
            scale = float(e.abs().max())
            np.testing.assert_allclose(c.numpy(), e.numpy(), rtol=1e-12, atol=1e-14 * scale)
            np.testing.assert_allclose(u.numpy(), e.numpy(), rtol=0, atol=0)
            assert lo.dtype == torch.float64
            np.testing.assert_allclose(lo.numpy(), e.numpy(), rtol=0, atol=1e-5 * scale)


def test_float32_products_with_weights_below_float32_range():
    """A context weight of 1e-45 (valid: weights need only be > 0) is below float32's range;
    the cached float32 products stay finite and match the float64 ones (the row's share is
    below float32 resolution either way)."""
    rng = np.random.default_rng(8)
    wts = np.full(9, 1.0)
    wts[3] = 1e-45 * 8.0
    t = bn.Target.from_logits(rng.standard_normal((9, 6)) * 2, weights=wts / wts.sum())
    H, W = torch.tensor(rng.standard_normal((9, 3))), torch.tensor(rng.standard_normal((6, 3)))
    dH, dW = torch.tensor(rng.standard_normal(H.shape)), torch.tensor(rng.standard_normal(W.shape))
    obj = GapObjective(t, torch.device("cpu"), torch.float64, chunk_size=4)
    with torch.no_grad():
        exact = obj.hvp(H, W, None, dH, dW, None)
        low = obj.second_order_state(H, W, None, hvp_dtype=torch.float32).hvp(dH, dW, None)
    for e, lo in zip(exact[:2], low[:2]):
        assert torch.isfinite(lo).all()
        np.testing.assert_allclose(lo.numpy(), e.numpy(), rtol=0, atol=1e-5 * float(e.abs().max()))


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("zeros", [False, True])
@pytest.mark.parametrize("cache_bytes", [2**29, 0])
def test_state_decrease_is_accurate_for_tiny_and_large_steps(bias, zeros, cache_bytes):
    """``SecondOrderState.decrease`` (cached log-partition functions, change of the product
    computed from the factor steps) against two independent computations: the plain value
    difference for O(1) steps (including rows with max delta > 1, the direct branch), and
    an mpmath evaluation at 50 digits for a 1e-12 step, where the plain difference has no
    correct digits left. With the state's softmax kept (default cache) and recomputed
    (``cache_bytes=0``)."""
    import mpmath

    rng, t, H, W, b = _state_case(bias, zeros, seed=8)
    obj = GapObjective(t, torch.device("cpu"), torch.float64, chunk_size=4)
    dH, dW = torch.tensor(rng.standard_normal(H.shape)), torch.tensor(rng.standard_normal(W.shape))
    db = torch.tensor(rng.standard_normal(6)) if bias else None
    with torch.no_grad():
        st_ = obj.second_order_state(H, W, b, cache_bytes=cache_bytes)
        assert (st_.curvature_weights is not None) == (cache_bytes > 0)
        for s in (1.0, 0.3):  # large steps: max delta > 1 in most rows
            step = (s * dH, s * dW, None if db is None else s * db)
            plain = st_.value - float(
                obj.value(H + step[0], W + step[1], None if b is None else b + step[2])
            )
            assert st_.decrease(*step) == pytest.approx(plain, rel=1e-10, abs=1e-13)
        s = 1e-12
        step = (s * dH, s * dW, None if db is None else s * db)
        got = st_.decrease(*step)
        plain_tiny = st_.value - float(
            obj.value(H + step[0], W + step[1], None if b is None else b + step[2])
        )

    mpmath.mp.dps = 50
    P, w = np.asarray(t.probs), np.asarray(t.weights)

    def G(Hm, Wm, bm):
        total = mpmath.mpf(0)
        for i in range(P.shape[0]):
            z = [
                mpmath.fsum(mpmath.mpf(Hm[i, k]) * mpmath.mpf(Wm[j, k]) for k in range(Hm.shape[1]))
                + (0 if bm is None else mpmath.mpf(bm[j]))
                for j in range(P.shape[1])
            ]
            lse = mpmath.log(mpmath.fsum(mpmath.exp(x) for x in z))
            total += mpmath.mpf(float(w[i])) * mpmath.fsum(
                -mpmath.mpf(float(P[i, j])) * (z[j] - lse) for j in range(P.shape[1]) if P[i, j] > 0
            )
        return total

    # the factor steps are exact in mpmath: form the new factors there, not in float64
    def plus(A, dA):
        return (
            None
            if A is None
            else [
                [mpmath.mpf(float(a)) + mpmath.mpf(float(x)) for a, x in zip(ra, rx)]
                for ra, rx in zip(np.atleast_2d(A.numpy()), np.atleast_2d(dA.numpy()))
            ]
        )

    class M:  # tiny adaptor so G reads mp matrices by [i, k]
        def __init__(self, rows):
            self.rows, self.shape = rows, (len(rows), len(rows[0]))

        def __getitem__(self, ij):
            return self.rows[ij[0]][ij[1]]

    Hn, Wn = M(plus(H, step[0])), M(plus(W, step[1]))
    bn_ = None if b is None else plus(b, step[2])[0]
    ref = G(H.numpy(), W.numpy(), None if b is None else b.numpy()) - G(Hn, Wn, bn_)
    assert abs(got - float(ref)) <= 1e-8 * abs(float(ref))
    assert abs(plain_tiny - float(ref)) > 1e-6 * abs(
        float(ref)
    )  # the case is one the plain difference fails


def test_svd_start_is_the_u_trunc_head_for_targets_with_zeros():
    """With zeros, ``U_trunc`` is the best over floors of ``log max(P, floor)``; the solver's
    SVD start is that same head (``max_iter=0`` returns the start), so ``solve <= U_trunc``
    holds by construction. (Before, the start used one floor and hypothesis found a target
    where a run that could not improve it ended above ``U_trunc``.)"""
    rng = np.random.default_rng(0)
    for _ in range(6):
        P = np.exp(rng.standard_normal((6, 5)) * 2)
        P[rng.random(P.shape) < 0.35] = 0.0
        P[:, 0] += 0.05
        t = bn.Target.from_probs(P / P.sum(axis=1, keepdims=True))
        u_trunc = bn.bounds(t, 2).details["U_trunc"].value
        assert bn.solve(t, 2, init="svd", max_iter=0).gap == pytest.approx(
            u_trunc, rel=1e-12, abs=1e-15
        )


def test_newton_stops_where_the_factor_gradient_vanishes():
    """At H = W = 0 the gradient with respect to the factors is exactly zero but the point is
    not stationary for the rank-d problem: Newton has no direction and must say so (it
    divided by zero before; hypothesis found it through a Fisher start with Z = 0)."""
    from bottleneck.optim.newton import minimize_factors_newton

    t = bn.Target.from_probs([[0.7, 0.3], [0.2, 0.8]])
    obj = GapObjective(t, torch.device("cpu"), torch.float64)
    run = minimize_factors_newton(
        obj, np.zeros((2, 1)), np.zeros((2, 1)), None, tol=1e-9, max_iter=50
    )
    H, grad_norm, iterations, history = run.H, run.grad_norm, run.iterations, run.history
    assert iterations == 0 and history == ()
    assert run.status == "no_direction" and not run.success
    assert grad_norm > 1e-9  # reported as not converged by solve
    np.testing.assert_array_equal(H, 0.0)


def test_rejected_step_reuses_the_cg_products(monkeypatch):
    """After a rejected step CG reruns on the same model with a smaller radius; it reuses the
    stored products ``H d_k`` of the run it rejected. Same iterates bit for bit as recomputing
    them (memo switched off), with fewer Hessian products; the instance has rejections."""
    import bottleneck.optim.newton as newton_module
    from bottleneck.optim.objective import SecondOrderState
    from bottleneck.optim.starts import svd_start

    rng = np.random.default_rng(5)
    t = bn.Target.from_logits(rng.standard_normal((40, 30)) * 3)
    H0, W0, _ = svd_start(t, 3)
    calls = {"hvp": 0, "decrease": 0}
    hvp, decrease = SecondOrderState.hvp_flat, SecondOrderState.decrease

    def counting_hvp(self, *args):
        calls["hvp"] += 1
        return hvp(self, *args)

    def counting_decrease(self, *args):
        calls["decrease"] += 1
        return decrease(self, *args)

    monkeypatch.setattr(SecondOrderState, "hvp_flat", counting_hvp)
    monkeypatch.setattr(SecondOrderState, "decrease", counting_decrease)
    runs = {}
    for memo in (2**24, 0):
        monkeypatch.setattr(newton_module, "_CG_MEMO_ELEMENTS", memo)
        calls.update(hvp=0, decrease=0)
        obj = GapObjective(t, torch.device("cpu"), torch.float64)
        run = newton_module.minimize_factors_newton(obj, H0, W0, None, tol=1e-10, max_iter=500)
        runs[memo] = (run.H, run.W, run.grad_norm, run.iterations, len(run.history), dict(calls))
    (H1, W1, g1, it1, acc1, c1), (H0_, W0_, g0, it0, acc0, c0) = runs[2**24], runs[0]
    assert g1 <= 1e-10 and it1 == it0 and g1 == g0 and acc1 == acc0
    assert acc1 < it1  # some steps were rejected (accepted steps < Newton iterations)
    np.testing.assert_array_equal(H1, H0_)
    np.testing.assert_array_equal(W1, W0_)
    assert c1["decrease"] == c0["decrease"] == it1
    assert 0 < c1["hvp"] < c0["hvp"]


# ------------------------------------------------------------------ result protocol
def test_stop_reasons_are_distinct_and_solutions_frozen():
    import dataclasses

    t, _ = bn.targets.synthetic(20, 30, "power", decay=0.5, scale=5.0, seed=0)
    done = bn.solve(t, 3, init="svd")
    assert done.status == "converged" and done.success and done.converged
    assert done.message == bn.optim.STATUSES["converged"]
    assert bn.solve(t, 3, max_iter=2, tol=1e-14, init="svd").status == "max_iter"
    assert bn.solve(t, 3, max_seconds=0.0, tol=1e-14, init="svd").status == "max_seconds"
    with pytest.raises(dataclasses.FrozenInstanceError):
        done.gap = 0.0
    record = done.to_record()
    assert record["d"] == 3 and record["gap"] == done.gap and record["success"] is True
    assert record["status"] == "converged" and not {"H", "W", "bias", "history"} & set(record)
    with pytest.raises(ValueError, match="status must be one of"):
        dataclasses.replace(done, status="fine")


def test_lbfgs_reaches_the_newton_optimum():
    t, _ = bn.targets.synthetic(15, 12, "power", decay=0.7, scale=3.0, seed=1)
    newton = bn.solve(t, 2, tol=1e-9, init="svd")
    lbfgs = bn.solve(t, 2, tol=1e-9, init="svd", method="lbfgs")
    assert lbfgs.status in bn.optim.STATUSES and newton.success
    assert lbfgs.gap == pytest.approx(newton.gap, rel=1e-6)


def test_bounds_with_solve_runs_the_solver_from_the_facade():
    """``bn.bounds(target, d, solve=True)``: the core bounds take the solution and E_F that
    the optimisation layer computed; the solver's gap is a certified upper bound."""
    t, _ = bn.targets.synthetic(20, 15, "power", decay=0.6, scale=3.0, seed=2)
    s = bn.bounds(t, 3, solve=True, solve_kwargs={"max_iter": 200})
    plain = bn.bounds(t, 3)
    assert s.solver is not None and s.upper <= plain.upper and s.lower == plain.lower
    assert {"E_1", "E_F", "E_1/solver", "E_F/solver"} <= set(s.estimates)
    assert s.details["solver"].note.startswith("converged")
