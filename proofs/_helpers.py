"""Shared helpers for the proof checks: random instances and small numeric utilities."""

from __future__ import annotations

import numpy as np
import sympy as sp


def softmax(z):
    z = np.asarray(z, dtype=float)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def lse(z):
    z = np.asarray(z, dtype=float)
    m = z.max(axis=-1, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis=-1, keepdims=True)))[..., 0]


def kl(p, q):
    p, q = np.asarray(p, float), np.asarray(q, float)
    s = p > 0
    return float(np.sum(p[s] * np.log(p[s] / q[s])))


def centre(v):
    v = np.asarray(v, float)
    return v - v.mean(axis=-1, keepdims=True)


def osc(v):
    v = np.asarray(v, float)
    return v.max(axis=-1) - v.min(axis=-1)


def random_instances(n_cases=200, seed=0, max_v=8):
    """Yield (p, a, delta): a distribution, logits with softmax(a) = p and a perturbation,
    over scales from 1e-4 to 30 and near-one-hot distributions."""
    rng = np.random.default_rng(seed)
    for k in range(n_cases):
        v = int(rng.integers(2, max_v + 1))
        scale_a = 10 ** rng.uniform(-2, 1.3)
        a = scale_a * rng.standard_normal(v)
        if k % 7 == 0:
            a[rng.integers(v)] += 20.0  # near one-hot
        delta = 10 ** rng.uniform(-4, 1.5) * rng.standard_normal(v)
        yield softmax(a), a, delta


def three_token_family():
    """Symbols ``t, a, d``, ``p = softmax(a)``, ``Z_t = sum exp(a + t d)`` and
    ``f(t) = KL(p || softmax(a + t d))`` for V = 3 (sympy)."""
    t = sp.Symbol("t", real=True)
    a = sp.symbols("a1:4", real=True)
    d = sp.symbols("d1:4", real=True)
    Za = sum(sp.exp(x) for x in a)
    p = [sp.exp(x) / Za for x in a]
    Zt = sum(sp.exp(x + t * y) for x, y in zip(a, d))
    f = sp.log(Zt) - sp.log(Za) - t * sum(pj * y for pj, y in zip(p, d))
    return t, a, d, p, Zt, f
