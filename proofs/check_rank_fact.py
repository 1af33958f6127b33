"""Checks for proofs/rank_fact.md."""

import numpy as np
import sympy as sp

import bottleneck as bn

from ._helpers import centre, softmax


def check_log_softmax_centring():
    z = sp.symbols("z1:4", real=True)
    Z = sum(sp.exp(x) for x in z)
    logq = [x - sp.log(Z) for x in z]
    mean_logq = sum(logq) / 3
    mean_z = sum(z) / 3
    for lq, x in zip(logq, z):
        assert sp.simplify(lq - mean_logq - (x - mean_z)) == 0


def check_rank_numeric():
    rng = np.random.default_rng(4)
    for n, v, d in [(6, 9, 2), (10, 5, 3), (4, 12, 1)]:
        H, W = rng.standard_normal((n, d)), rng.standard_normal((v, d))
        for bias in (False, True):
            Z = H @ W.T + (rng.standard_normal(v) if bias else 0.0)
            L = centre(np.log(softmax(Z)))
            assert np.linalg.matrix_rank(L, tol=1e-9) <= d + int(bias)
    for bias in (False, True):
        for r in (1, 3):
            t, _ = bn.targets.synthetic(7, 6, "power", scale=3.0, rank=r, seed=r, bias=bias)
            assert bn.bounds(t, r).upper == 0.0 and bn.bounds(t, r).lower == 0.0
            assert bn.bounds(t, r - 1).details["U_trunc"].value > 0.0


def check_trained_head_gap_above_lower():
    """Corollary H: a rank-r head on frozen features is a rank-r factorisation."""
    from bottleneck import heads

    rng = np.random.default_rng(7)
    for n, v, dim, r, bias in [(40, 12, 6, 2, False), (30, 9, 5, 3, True)]:
        X = rng.standard_normal((n, dim))
        t, _ = bn.targets.synthetic(n, v, "power", scale=4.0, seed=r, bias=bias)
        lower = bn.bounds(t, r).lower
        for seed in range(3):
            head = heads.LowRankHead(dim, v, r, bias=bias, init_std=0.5, seed=seed)
            W = head.A.detach().double().numpy() @ head.B.detach().double().numpy()
            assert np.linalg.matrix_rank(W, tol=1e-9) <= r
            assert heads.head_gap(head, X, t) >= lower
        fit = heads.fit_head(
            X,
            t,
            r,
            bias=bias,
            lr=3e-2,
            steps=300,
            batch_size=n,
            held_out=0.0,
            init_std=0.3,
            progress=False,
        )
        trained = heads.head_gap(fit.head, X, t)
        assert np.isfinite(trained) and trained >= lower
        assert abs(trained - fit.gap) < 1e-6 * max(1.0, trained)  # two independent evaluation paths
