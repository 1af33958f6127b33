"""optim.objective: the gap and Fisher objectives on factors against finite differences,
the target's own gap, and an mpmath evaluation; the one-pass Newton state against the
separate passes it replaces."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import torch

import bottleneck as bn
from bottleneck.optim.objective import FisherObjective, GapObjective


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
