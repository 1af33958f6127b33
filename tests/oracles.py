"""Slow, obviously correct references shared by the tests.

Closed forms (``exact_g0``), a brute-force optimum for V = 3, d = 1 (``oracle_v3_d1``), dense
twins of other storages, and the float64 tolerances the comparisons use.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import minimize_scalar

import bottleneck as bn

REL, ABS = 1e-9, 1e-12  # float64 rounding of SVDs and log-softmax on tiny problems


def le(a, b, rel=REL, abs_=ABS):
    """``a <= b`` up to float64 rounding (relative ``rel``, absolute ``abs_``)."""
    return a <= b + rel * abs(b) + abs_


def softmax(Z):
    """Row-wise softmax of a numpy array."""
    Z = Z - Z.max(axis=1, keepdims=True)
    E = np.exp(Z)
    return E / E.sum(axis=1, keepdims=True)


def kl(p, q):
    """``KL(p || q)`` over the support of ``p``."""
    p, q = np.asarray(p), np.asarray(q)
    s = p > 0
    return float(np.sum(p[s] * np.log(p[s] / q[s])))


def exact_g0(t):
    """G*(0) in closed form: no bias -> Z = 0 (uniform q); bias -> q = pbar (mutual information)."""
    P, w = t.probs, t.weights
    q = np.full(t.vocab_size, 1 / t.vocab_size) if not t.bias else w @ P / w.sum()
    return float(sum(wi * kl(p, q) for wi, p in zip(w, P)))


def dense_twin(t):
    """The same distributions and weights as ``t``, stored dense (from its log-probabilities)."""
    return bn.Target.from_logits(np.array(t.log_probs), weights=t.weights, bias=t.bias)


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
