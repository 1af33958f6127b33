"""Checks for proofs/lemma_r.md."""

import numpy as np
import sympy as sp

import bottleneck as bn


def check_chain_rule():
    p1, p2, q1, q2 = sp.symbols("p1 p2 q1 q2", positive=True)
    p = [p1, p2, 1 - p1 - p2]
    q = [q1, q2, 1 - q1 - q2]
    kl = sum(a * sp.log(a / b) for a, b in zip(p, q))
    pS, qS = p1 + p2, q1 + q2
    outer = pS * sp.log(pS / qS) + (1 - pS) * sp.log((1 - pS) / (1 - qS))
    inner = sum((a / pS) * sp.log((a / pS) / (b / qS)) for a, b in zip(p[:2], q[:2]))
    # p(S^c) KL(p(.|S^c) || q(.|S^c)) = 0 for a singleton S^c
    assert sp.simplify(sp.expand_log(kl - outer - pS * inner, force=True)) == 0


def check_conditional_softmax():
    z = sp.symbols("z1:4", real=True)
    Z = sum(sp.exp(x) for x in z)
    q = [sp.exp(x) / Z for x in z]
    for j in range(2):
        assert sp.simplify(q[j] / (q[0] + q[1]) - sp.exp(z[j]) / (sp.exp(z[0]) + sp.exp(z[1]))) == 0


def check_restriction_numeric():
    rng = np.random.default_rng(10)
    for _ in range(40):
        n, v = int(rng.integers(1, 6)), int(rng.integers(3, 8))
        P = rng.dirichlet(np.full(v, 0.5), size=n)
        P[rng.random(P.shape) < 0.2] = 0.0
        P[np.arange(n), rng.integers(0, v, n)] += 0.1
        P /= P.sum(axis=1, keepdims=True)
        t = bn.Target.from_probs(P, weights=rng.dirichlet(np.ones(n)), bias=bool(rng.integers(2)))
        S = np.sort(rng.choice(v, size=int(rng.integers(2, v + 1)), replace=False))
        if not (P[:, S].sum(axis=1) > 0).any():
            continue
        r = t.restrict(S)
        I = np.flatnonzero(P[:, S].sum(axis=1) > 0)
        Z = rng.standard_normal((n, v)) * 3
        assert t.gap(Z) >= r.gap(Z[np.ix_(I, S)]) - 1e-12
