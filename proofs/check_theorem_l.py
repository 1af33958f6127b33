"""Checks for proofs/theorem_l.md."""

import numpy as np
import sympy as sp

import bottleneck as bn
from bottleneck import bounds as B
from bottleneck.symbolic import segment_function_expr

from ._helpers import random_instances, softmax, three_token_family


def check_second_derivative_is_variance():
    t, a, d, p, Zt, f = three_token_family()  # f(t) = KL(p || softmax(a + t d))
    q = [sp.exp(x + t * y) / Zt for x, y in zip(a, d)]
    var = sum(qj * y**2 for qj, y in zip(q, d)) - sum(qj * y for qj, y in zip(q, d)) ** 2
    assert sp.simplify(sp.diff(f, t, 2) - var) == 0
    assert sp.simplify(f.subs(t, 0)) == 0 and sp.simplify(sp.diff(f, t).subs(t, 0)) == 0


def check_mass_lower_bound():
    """Numerical: q_{t,j} >= p_j exp(-t osc(d)) on random instances and t in [0, 1]."""
    for p, a, d in random_instances(200, seed=7):
        for tt in (0.0, 0.3, 1.0):
            q = softmax(a + tt * d)
            assert np.all(q >= p * np.exp(-tt * (d.max() - d.min())) * (1 - 1e-12))


def check_segment_integral():
    t, r, m = sp.symbols("t r m", positive=True)
    integral = sp.integrate((1 - t) * m * r**2 * sp.exp(-sp.sqrt(2) * t * r), (t, 0, 1))
    F, (x,) = segment_function_expr()
    assert sp.simplify(integral - m * F.subs(x, r)) == 0
    # the closed form of docs/theory.md and the phi form agree
    assert sp.simplify(F - (x / sp.sqrt(2) - (1 - sp.exp(-sp.sqrt(2) * x)) / 2)) == 0
    phi = lambda y: sp.exp(y) - 1 - y  # noqa: E731
    assert sp.simplify(F - phi(-sp.sqrt(2) * x) / 2) == 0


def check_concavity():
    v, y = sp.symbols("v y", positive=True)
    F, (x,) = segment_function_expr()
    h1 = sp.diff(F.subs(x, sp.sqrt(v)), v)
    assert (
        sp.simplify(h1 - (1 - sp.exp(-sp.sqrt(2) * sp.sqrt(v))) / (2 * sp.sqrt(2) * sp.sqrt(v)))
        == 0
    )
    # d/dy [(1 - e^{-y})/y] = ((1 + y) e^{-y} - 1)/y^2 <= 0  because e^y >= 1 + y
    g = (1 - sp.exp(-y)) / y
    assert sp.simplify(sp.diff(g, y) - ((1 + y) * sp.exp(-y) - 1) / y**2) == 0
    e = sp.exp(y) - 1 - y  # >= 0: zero at 0, derivative e^y - 1 >= 0 for y >= 0
    assert e.subs(y, 0) == 0 and sp.simplify(sp.diff(e, y) - (sp.exp(y) - 1)) == 0


def check_F_over_x_increasing():
    F, (x,) = segment_function_expr()
    expr = sp.simplify(x * sp.diff(F, x) - F)
    target = (1 - (1 + sp.sqrt(2) * x) * sp.exp(-sp.sqrt(2) * x)) / 2
    assert sp.simplify(expr - target) == 0
    grid = np.logspace(-6, 3, 200)
    vals = B.segment_function(grid) / grid
    assert np.all(np.diff(vals) > 0)


def check_vertex_minimum():
    """Numerical: over splits of tau^2 among 3 rows, the minimum of sum g_i is at a vertex."""
    rng = np.random.default_rng(8)
    for _ in range(30):
        w = rng.dirichlet(np.ones(3))
        m = rng.uniform(0.01, 0.3, 3)
        T = 10 ** rng.uniform(-2, 2)
        vertex = B.theorem_l(T, w, m)
        u = rng.dirichlet(np.ones(3), size=2000) * T
        g = np.sum(w * m * B.segment_function(np.sqrt(u / w)), axis=1)
        assert g.min() >= vertex * (1 - 1e-9)


def check_lower_bound_numeric():
    """Numerical: L_thm <= exact G*(0) (closed form) and <= the solver's gap."""
    rng = np.random.default_rng(9)
    for _ in range(10):
        n, v = int(rng.integers(1, 7)), int(rng.integers(2, 7))
        Z = rng.standard_normal((n, v)) * 10 ** rng.uniform(-1, 1)
        t = bn.Target.from_logits(Z, weights=rng.dirichlet(np.ones(n)))
        s0 = bn.bounds(t, 0)
        exact0 = float(t.weights @ np.sum(t.probs * np.log(t.probs * v), axis=1))
        assert s0.details["L_thm"].value <= exact0 * (1 + 1e-9)
        for d in range(1, min(n, v)):
            assert bn.bounds(t, d).lower <= bn.solve(t, d, max_iter=2000).gap * (1 + 1e-9) + 1e-15
