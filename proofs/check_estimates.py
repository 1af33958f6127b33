"""Checks for proofs/estimates.md."""

import numpy as np
import sympy as sp
from scipy.optimize import minimize

import bottleneck as bn

from ._helpers import three_token_family


def check_second_order_expansion():
    t, a, d, p, Zt, f = three_token_family()
    var = sum(pj * y**2 for pj, y in zip(p, d)) - sum(pj * y for pj, y in zip(p, d)) ** 2
    c2 = sp.diff(f, t, 2).subs(t, 0) / 2
    assert sp.simplify(c2 - var / 2) == 0


def check_third_derivative_is_central_moment():
    t, a, d, p, Zt, f = three_token_family()
    q = [sp.exp(x + t * y) / Zt for x, y in zip(a, d)]
    mean = sum(qj * y for qj, y in zip(q, d))
    kappa3 = sum(qj * (y - mean) ** 3 for qj, y in zip(q, d))
    assert sp.simplify(sp.diff(f, t, 3) - kappa3) == 0


def check_ratio_tends_to_one():
    """Numerical: G*(d)/E_F(d) -> 1 with error O(tau) as the log-prob scale shrinks."""
    errs = []
    for scale in (1.0, 0.25, 0.0625):
        t, _ = bn.targets.synthetic(15, 12, "power", decay=0.5, scale=scale, seed=4)
        g = bn.solve(t, 2, tol=1e-12).gap
        errs.append(abs(g / bn.fisher_estimate(t, 2, tol=1e-13) - 1))
    assert errs[2] < errs[1] < errs[0]
    assert errs[2] < 0.01


def check_e1_is_column_weighted_tail():
    """Numerical: E_1 equals 1/2 min_{rank <= d} sum_ij pi_i pbar_j (a_ij - m_ij)^2 (EYM, column
    weights)."""
    t, _ = bn.targets.synthetic(6, 5, "power", decay=0.5, scale=2.0, weights="zipf", seed=3)
    A = t.centred_log_probs()
    w = np.asarray(t.weights)
    pbar = w @ t.probs
    d = 2
    e1 = bn.bounds(t, d).estimates["E_1"]

    def obj(x):
        M = x[:12].reshape(6, 2) @ x[12:].reshape(5, 2).T
        return 0.5 * float(np.sum(w[:, None] * pbar[None, :] * (A - M) ** 2))

    rng = np.random.default_rng(0)
    best = min(
        minimize(obj, rng.standard_normal(22), method="BFGS", options={"gtol": 1e-12}).fun
        for _ in range(5)
    )
    assert np.isclose(best, e1, rtol=1e-6)
