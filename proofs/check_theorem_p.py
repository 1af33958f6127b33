"""Checks for proofs/theorem_p.md."""

import numpy as np
import sympy as sp

from bottleneck import bounds as B

from ._helpers import centre, softmax


def check_lemma_5_1_expansion():
    eps = sp.Symbol("epsilon")
    W = sp.Matrix(3, 2, sp.symbols("w1:7", real=True))
    M = sp.Matrix(3, 2, sp.symbols("m1:7", real=True))
    x = sp.Matrix(sp.symbols("x1:3", real=True))
    y = 0  # observed token index

    def ce(Wm):
        z = Wm * x
        return -(z[y] - sp.log(sum(sp.exp(z[j]) for j in range(3))))

    series = sp.series(ce(W + eps * M), eps, 0, 2).removeO()
    first = sp.simplify(series.coeff(eps, 1))
    z = W * x
    Zs = sum(sp.exp(z[j]) for j in range(3))
    sm = [sp.exp(z[j]) / Zs for j in range(3)]
    Mx = M * x
    correct = sum((sm[j] - (1 if j == y else 0)) * Mx[j] for j in range(3))
    assert sp.simplify(first - correct) == 0
    # the printed expansion's first-order term (log(1 + eps sum_j e^{(Mx)_j} / sum_j e^{(W*x)_j}))
    printed = sum(sp.exp(Mx[j]) for j in range(3)) / Zs - Mx[y]
    subs = {
        s: v
        for s, v in zip(
            list(W) + list(M) + list(x),
            [0.3, -0.2, 0.5, 0.1, -0.4, 0.2, 1.0, 0.5, -1.0, 0.3, 0.2, -0.7, 1.0, 2.0],
        )
    }
    assert abs(float(first.subs(subs)) - float(printed.subs(subs))) > 0.1


def check_forms_ordered():
    rng = np.random.default_rng(11)
    for _ in range(50):
        s = np.sort(rng.exponential(size=int(rng.integers(1, 10))))[::-1]
        for d in range(s.size + 1):
            assert B.theorem_p_operator(s, d, 1.0) <= B.theorem_p_paper(s, d, 1.0) + 1e-15


def _gap(P, w, Z):
    logq = (
        Z
        - np.log(np.exp(Z - Z.max(axis=1, keepdims=True)).sum(axis=1, keepdims=True))
        - Z.max(axis=1, keepdims=True)
    )
    return float(w @ np.sum(P * (np.log(P) - logq), axis=1))


def check_theorem_p_numeric():
    """Numerical: the three forms against exact gaps of the truncated heads."""
    rng = np.random.default_rng(12)
    for k in range(20):
        n, v, D = 12, 9, 6
        X = rng.standard_normal((n, D))
        Wstar = rng.standard_normal((v, D)) * 10 ** rng.uniform(-1, 0.5)
        w = rng.dirichlet(np.ones(n))
        teacher = k % 2 == 0
        P = softmax(X @ Wstar.T) if teacher else rng.dirichlet(np.ones(v), size=n)
        base = _gap(P, w, X @ Wstar.T)
        U, s, Vt = np.linalg.svd(Wstar, full_matrices=False)
        mean_norm = float(w @ np.linalg.norm(X, axis=1))
        M = np.sqrt(w)[:, None] * centre(X @ Wstar.T)
        _, sm, VtM = np.linalg.svd(M, full_matrices=False)
        for d in range(0, D + 1):
            Wd = (U[:, :d] * s[:d]) @ Vt[:d]
            excess = _gap(P, w, X @ Wd.T) - base
            assert excess <= B.theorem_p_operator(s, d, mean_norm) * (1 + 1e-9) + 1e-12
            assert excess <= B.theorem_p_paper(s, d, mean_norm) * (1 + 1e-9) + 1e-12
            Vd = VtM[:d].T
            Wrep = Vd @ Vd.T @ Wstar
            assert np.linalg.matrix_rank(Wrep, tol=1e-9) <= d
            excess_rep = _gap(P, w, X @ Wrep.T) - base
            tau2 = float(np.sum(sm[d:] ** 2))
            assert (
                excess_rep
                <= float(B.theorem_p_representation(tau2, teacher=teacher)) * (1 + 1e-9) + 1e-12
            )
