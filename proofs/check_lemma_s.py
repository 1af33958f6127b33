"""Checks for proofs/lemma_s.md."""

import numpy as np
import sympy as sp

from bottleneck import bounds as B
from bottleneck.symbolic import lse_hessian_bound

from ._helpers import centre, kl, random_instances, softmax


def check_quadratic_form_is_variance():
    q1, q2 = sp.symbols("q1 q2", positive=True)
    q = sp.Matrix([q1, q2, 1 - q1 - q2])
    v = sp.Matrix(sp.symbols("v1:4", real=True))
    M = sp.diag(*q) - q * q.T
    var = sum(q[j] * v[j] ** 2 for j in range(3)) - sum(q[j] * v[j] for j in range(3)) ** 2
    assert sp.expand((v.T * M * v)[0] - var) == 0


def check_popoviciu_polynomial_identity():
    a, b, v = sp.symbols("a b v", real=True)
    assert sp.expand(((b - a) / 2) ** 2 - (v - (a + b) / 2) ** 2 - (v - a) * (b - v)) == 0


def check_osc_norm_identity():
    s, t = sp.symbols("s t", real=True)
    assert sp.expand(2 * (s**2 + t**2) - (s - t) ** 2 - (s + t) ** 2) == 0


def check_tightness_v2():
    half = sp.Rational(1, 2)
    q = sp.Matrix([half, half])
    eig = (sp.diag(*q) - q * q.T).eigenvals()
    assert set(eig) == {0, half}
    assert lse_hessian_bound() == half


def check_kl_is_bregman():
    a = sp.symbols("a1:4", real=True)
    d = sp.symbols("d1:4", real=True)
    Za = sum(sp.exp(x) for x in a)
    Zad = sum(sp.exp(x + y) for x, y in zip(a, d))
    p = [sp.exp(x) / Za for x in a]
    q = [sp.exp(x + y) / Zad for x, y in zip(a, d)]
    kl_expr = sum(pj * (sp.log(pj) - sp.log(qj)) for pj, qj in zip(p, q))
    bregman = sp.log(Zad) - sp.log(Za) - sum(pj * y for pj, y in zip(p, d))
    assert sp.simplify(sp.expand_log(kl_expr - bregman, force=True)) == 0


def check_taylor_remainder_weight():
    t = sp.Symbol("t")
    assert sp.integrate(1 - t, (t, 0, 1)) == sp.Rational(1, 2)


def check_bound_numeric():
    """Numerical: KL(softmax(a)||softmax(a+delta)) <= U_QUADRATIC_COEFF ||C delta||^2, and
    tightness."""
    for p, a, delta in random_instances(300, seed=2):
        lhs = kl(p, softmax(a + delta))
        rhs = B.U_QUADRATIC_COEFF * float(np.sum(centre(delta) ** 2))
        assert lhs <= rhs * (1 + 1e-9) + 1e-15
    for eps in (1e-1, 1e-2, 1e-3):
        delta = np.array([eps, -eps])
        ratio = kl(softmax(np.zeros(2)), softmax(delta)) / (
            B.U_QUADRATIC_COEFF * float(np.sum(centre(delta) ** 2))
        )
        assert ratio <= 1 + 1e-9 and ratio > 1 - eps  # the constant 1/4 is sharp
