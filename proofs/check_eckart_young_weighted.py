"""Checks for proofs/eckart_young_weighted.md."""

import numpy as np
import sympy as sp
from scipy.optimize import minimize

import bottleneck as bn
from bottleneck.bounds import truncated_svd_head

from ._helpers import centre


def _weighted_err(Z, A, w):
    return float(np.sum(w[:, None] * centre(Z - A) ** 2))


def check_weighting_reduction():
    """Step 3 (and step 4 with bias): the truncated-SVD head attains T_d in the weighted norm."""
    for bias in (False, True):
        t, _ = bn.targets.synthetic(
            9, 7, "power", decay=0.5, scale=3.0, weights="zipf", seed=1, bias=bias
        )
        Aw = np.sqrt(t.weights)[:, None] * t.centred_log_probs()  # Ã_pi when bias
        s = np.linalg.svd(Aw, compute_uv=False)
        for d in range(0, 6):
            Z, _ = truncated_svd_head(t, d)
            T = float(np.sum(s[d:] ** 2))
            assert np.isclose(
                _weighted_err(Z, np.asarray(t.log_probs), np.asarray(t.weights)),
                T,
                rtol=1e-9,
                atol=1e-12,
            )
            if not bias:
                assert np.allclose(Z.sum(axis=1), 0.0, atol=1e-12)  # Z_d C = Z_d


def check_eym_numeric():
    """Numerical: no random or locally optimised rank-d matrix beats the weighted tail."""
    rng = np.random.default_rng(5)
    t, _ = bn.targets.synthetic(6, 5, "exponential", decay=0.4, scale=2.0, weights="zipf", seed=2)
    A, w = t.centred_log_probs(), np.asarray(t.weights)
    d = 2
    T = bn.tail_energy(t, d)
    for _ in range(20):
        H0 = rng.standard_normal((6, d))
        W0 = rng.standard_normal((5, d))
        f = lambda x: _weighted_err(x[:12].reshape(6, d) @ x[12:].reshape(5, d).T, A, w)  # noqa: E731
        res = minimize(
            f, np.concatenate([H0.ravel(), W0.ravel()]), method="BFGS", options={"gtol": 1e-10}
        )
        assert res.fun >= T * (1 - 1e-7) - 1e-12


def check_bias_is_weighted_mean():
    b = sp.Symbol("b", real=True)
    r = sp.symbols("r1:4", real=True)
    w = sp.symbols("w1:4", positive=True)
    obj = sum(wi * (ri - b) ** 2 for wi, ri in zip(w, r))
    sol = sp.solve(sp.diff(obj, b), b)
    assert (
        len(sol) == 1 and sp.simplify(sol[0] - sum(wi * ri for wi, ri in zip(w, r)) / sum(w)) == 0
    )
