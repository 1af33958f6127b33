"""Checks for proofs/theorem_u.md."""

import numpy as np
import pytest
import sympy as sp

import bottleneck as bn
from bottleneck import bounds as B


def check_cauchy_schwarz_lagrange():
    w = sp.symbols("w1:4", positive=True)
    x = sp.symbols("x1:4", real=True)
    # (sum w)(sum w x^2) - (sum w x)^2 = 1/2 sum_{i,j} w_i w_j (x_i - x_j)^2 >= 0
    lhs = (
        sum(w) * sum(wi * xi**2 for wi, xi in zip(w, x)) - sum(wi * xi for wi, xi in zip(w, x)) ** 2
    )
    rhs = sp.Rational(1, 2) * sum(
        w[i] * w[j] * (x[i] - x[j]) ** 2 for i in range(3) for j in range(3)
    )
    assert sp.expand(lhs - rhs) == 0


def check_quadratic_constant_sharp():
    """V=2, N=1, d=0: G*(0) = KL(p||uniform) (the only rank-0 head) vs the library's T_0/4."""
    for eps in (0.3, 0.1, 0.03):
        t = bn.Target.from_logits([[eps, -eps]])
        exact = float(np.sum(t.probs * np.log(2 * t.probs)))
        T0 = 2 * eps**2  # ||A||^2 with A = (eps, -eps)
        bound = float(B.theorem_u_quadratic(T0))
        assert exact <= bound
        assert exact / bound > 1 - eps**2  # ratio -> 1: the constant 1/4 cannot be lowered


@pytest.mark.slow
def check_u_numeric():
    """Numerical: U_trunc <= T/4, U_trunc <= sqrt(2 T), solver <= U_trunc (targets of several
    shapes)."""
    rng = np.random.default_rng(6)
    for k in range(12):
        n, v = int(rng.integers(1, 8)), int(rng.integers(2, 9))
        bias = bool(k % 2)
        Z = rng.standard_normal((n, v)) * 10 ** rng.uniform(-1, 1)
        t = bn.Target.from_logits(Z, weights=rng.dirichlet(np.ones(n)), bias=bias)
        for d in range(0, min(n, v) + 1):
            s = bn.bounds(t, d)
            u = s.details["U_trunc"].value
            assert u <= s.details["U_quad"].value * (1 + 1e-9) + 1e-14
            assert u <= s.details["U_osc"].value * (1 + 1e-9) + 1e-14
    P = rng.dirichlet(np.full(6, 0.3), size=5)
    P[P < 0.02] = 0.0
    P /= P.sum(axis=1, keepdims=True)
    t = bn.Target.from_probs(P)
    for d in range(0, 4):
        s = bn.bounds(t, d)
        assert s.details["U_trunc"].value <= s.details["U_ref"].value * (1 + 1e-9) + 1e-14
        assert bn.solve(t, d, max_iter=300).gap <= s.upper * (1 + 1e-9) + 1e-14
