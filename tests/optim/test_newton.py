"""optim.newton: the Steihaug CG subproblem on explicit quadratics, and the trust-region
loop's stops and reuse of CG products."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import bottleneck as bn
from bottleneck.optim.newton import steihaug_cg
from bottleneck.optim.objective import GapObjective


def test_newton_stops_where_the_factor_gradient_vanishes():
    """At H = W = 0 the gradient with respect to the factors is exactly zero but the point is
    not stationary for the rank-d problem (a Fisher start with Z = 0 reaches it): Newton has
    no direction and must say so."""
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
    stored products ``H d_k`` of the run it rejected. The iterates are identical (compared
    exactly) to recomputing them (memo switched off), with fewer Hessian products; the
    instance has rejections."""
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


def _quadratic(eigenvalues, seed=0):
    rng = np.random.default_rng(seed)
    Q = np.linalg.qr(rng.standard_normal((len(eigenvalues),) * 2))[0]
    Hm = (Q * np.asarray(eigenvalues, dtype=float)) @ Q.T
    g = rng.standard_normal(len(eigenvalues))
    return torch.tensor(Hm), torch.tensor(g)


def test_steihaug_cg_solves_a_convex_model_inside_the_ball():
    """Positive definite H and a large radius: p = -H^{-1} g, with H p returned alongside."""
    Hm, g = _quadratic([4.0, 2.0, 1.0, 0.5])
    p, Hp, on_boundary = steihaug_cg(lambda k, v: Hm @ v, g, 1e6, tol=1e-14, max_iter=50)
    assert not on_boundary
    np.testing.assert_allclose(p.numpy(), -np.linalg.solve(Hm.numpy(), g.numpy()), rtol=1e-10)
    np.testing.assert_allclose(Hp.numpy(), (Hm @ p).numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("eigenvalues", [[4.0, 2.0, 1.0], [3.0, -1.0, 2.0]])
def test_steihaug_cg_stops_on_the_boundary(eigenvalues):
    """A small radius, or negative curvature: the step ends on the sphere and decreases the
    model below its value at p = 0."""
    Hm, g = _quadratic(eigenvalues, seed=1)
    radius = 0.01 if min(eigenvalues) > 0 else 1e3
    p, Hp, on_boundary = steihaug_cg(lambda k, v: Hm @ v, g, radius, tol=1e-14, max_iter=50)
    assert on_boundary and float(p.norm()) == pytest.approx(radius, rel=1e-12)
    assert float(g @ p + 0.5 * p @ Hp) < 0.0
    np.testing.assert_allclose(Hp.numpy(), (Hm @ p).numpy(), rtol=1e-10, atol=1e-12)
