"""Saturation scaling law ``L(N, T) = A / N^alpha + B / T^beta + E`` [Hoffmann2022].

The seed paper [Godey2024, §3] freezes Chinchilla's ``B = 410.7, beta = 0.28, E = 1.69``,
fits ``A, alpha`` on Pythia models from 410M parameters up (for which the best checkpoint
is the final one) and reports how far the smaller models' final and best checkpoints sit
above the extrapolation: the *saturation gap* ``(L_obs - L_pred) / L_pred``.

This is an empirical law, not a theorem: there is no proof file. The fit is checked by
recovery of known parameters from synthetic data and by finite-difference tests of its
Jacobian (``tests/test_scaling.py``).

References
----------
[Hoffmann2022] Hoffmann et al., "Training Compute-Optimal Large Language Models", 2022.
[Godey2024] Godey, de la Clergerie & Sagot, arXiv 2404.07647, 2024.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

PARAM_NAMES = ("A", "alpha", "B", "beta", "E")
CHINCHILLA_FROZEN = {"B": 410.7, "beta": 0.28, "E": 1.69}
_EXPONENT_BOUNDS = (1e-4, 3.0)
_LOG_COEFF_BOUNDS = (-60.0, 80.0)  # A, B in [1e-26, 5e34]: keeps exp() finite


def _as_positive(name, x):
    x = np.asarray(x, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError(f"{name} is empty")
    bad = np.flatnonzero(~np.isfinite(x) | (x <= 0))
    if bad.size:
        raise ValueError(f"{name} must be finite and > 0; entry {bad[0]} is {x[bad[0]]!r}")
    return x


def _check_points(N, T, L):
    N, T = _as_positive("N", N), _as_positive("T", T)
    L = np.asarray(L, dtype=np.float64).ravel()
    bad = np.flatnonzero(~np.isfinite(L))
    if bad.size:
        raise ValueError(
            f"losses must be finite; entry {bad[0]} is {L[bad[0]]!r} (drop NaN rows first)"
        )
    if not (N.size == T.size == L.size):
        raise ValueError(f"N, T, L must have the same length; got {N.size}, {T.size}, {L.size}")
    return N, T, L


def law_value(params: dict, N, T) -> np.ndarray:
    """``L(N, T) = A N^{-alpha} + B T^{-beta} + E`` (nats/token when fitted to losses)."""
    N = np.asarray(N, dtype=np.float64)
    T = np.asarray(T, dtype=np.float64)
    return (
        params["A"] * N ** (-params["alpha"]) + params["B"] * T ** (-params["beta"]) + params["E"]
    )


def law_jacobian(params: dict, N, T) -> np.ndarray:
    """Partial derivatives of :func:`law_value`, shape ``(n, 5)`` in ``PARAM_NAMES`` order.

    ``dL/dA = N^-alpha``, ``dL/dalpha = -A ln(N) N^-alpha``, ``dL/dB = T^-beta``,
    ``dL/dbeta = -B ln(T) T^-beta``, ``dL/dE = 1``.
    """
    N = np.asarray(N, dtype=np.float64).ravel()
    T = np.asarray(T, dtype=np.float64).ravel()
    n_pow = N ** (-params["alpha"])
    t_pow = T ** (-params["beta"])
    return np.stack(
        [
            n_pow,
            -params["A"] * np.log(N) * n_pow,
            t_pow,
            -params["B"] * np.log(T) * t_pow,
            np.ones_like(N),
        ],
        axis=1,
    )


@dataclass(frozen=True)
class ScalingLaw:
    """A (fitted) law ``L(N, T) = A / N^alpha + B / T^beta + E``.

    Attributes
    ----------
    params : dict
        Keys ``A, alpha, B, beta, E``.
    free : tuple of str
        Parameters that were fitted (empty for a law built by hand).
    cost : float or None
        Final objective ``sum_i rho(r_i)`` (``rho(r) = r^2/2``, or the Huber function).
    n_points : int
        Number of fitted points.
    intervals : dict or None
        ``{name: (low, high)}`` bootstrap percentile intervals of the free parameters.
    loss : str
        ``"squared"`` or ``"huber"``.
    """

    params: dict
    free: tuple = ()
    cost: float | None = None
    n_points: int = 0
    intervals: dict | None = None
    loss: str = "squared"
    bootstrap_params: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self):
        missing = [k for k in PARAM_NAMES if k not in self.params]
        if missing:
            raise ValueError(f"ScalingLaw params lack {missing}; need {PARAM_NAMES}")

    def predict(self, N, T) -> np.ndarray:
        """Predicted loss at ``(N, T)`` (broadcasting)."""
        return law_value(
            self.params,
            _as_positive("N", N).reshape(np.shape(N)),
            _as_positive("T", T).reshape(np.shape(T)),
        )

    def jacobian(self, N, T) -> np.ndarray:
        """``dL/dparams`` at each point, shape ``(n, 5)`` (see :func:`law_jacobian`)."""
        return law_jacobian(self.params, _as_positive("N", N), _as_positive("T", T))

    def relative_gap(self, N, T, L_obs) -> np.ndarray:
        """Saturation gap ``(L_obs - L(N, T)) / L(N, T)``; positive = worse than the law."""
        pred = self.predict(N, T)
        return (np.asarray(L_obs, dtype=np.float64) - pred) / pred

    @classmethod
    def fit(
        cls,
        N,
        T,
        L,
        fixed: dict | None = None,
        *,
        loss: str = "squared",
        huber_delta: float = 0.05,
        starts: int = 4,
        bootstrap: int = 0,
        confidence: float = 0.95,
        seed: int = 0,
    ) -> ScalingLaw:
        """Fit the free parameters (all those not in ``fixed``) by (robust) least squares.

        Minimises ``sum_i rho(L(N_i, T_i) - L_i)`` with ``rho(r) = r^2/2`` or the Huber
        function with threshold ``huber_delta`` (nats). ``A, B > 0`` are optimised in log
        space (within ``[-60, 80]``) and the exponents are kept in ``[1e-4, 3]``. Starting
        points: a grid of
        ``starts x starts`` exponent pairs; for each, the parameters the law is linear in
        (``A, B, E``) are solved by linear least squares, and the best refined point wins.

        Parameters
        ----------
        N, T, L : array_like, shape (n,)
            Parameters, tokens (both > 0) and observed losses (finite).
        fixed : dict, optional
            Frozen parameters, e.g. ``{"B": 410.7, "beta": 0.28, "E": 1.69}``
            (:data:`CHINCHILLA_FROZEN`, the seed paper's choice).
        loss : {"squared", "huber"}
        bootstrap : int
            Number of bootstrap refits (resampling points with replacement) for the
            percentile ``intervals``; 0 for none.
        confidence : float
            Coverage of the intervals.

        Raises
        ------
        ValueError
            Unknown parameter names, more free parameters than points, non-positive ``N``
            or ``T``, non-finite losses, bad ``loss``.
        """
        N, T, L = _check_points(N, T, L)
        fixed = dict(fixed or {})
        unknown = sorted(set(fixed) - set(PARAM_NAMES))
        if unknown:
            raise ValueError(f"unknown parameters {unknown}; the law has {PARAM_NAMES}")
        for k, v in fixed.items():
            if not np.isfinite(v) or (k != "E" and v <= 0):
                raise ValueError(f"fixed {k} = {v!r} must be finite (and > 0 unless it is E)")
        free = tuple(k for k in PARAM_NAMES if k not in fixed)
        if len(free) > N.size:
            raise ValueError(
                f"{len(free)} free parameters {free} but only {N.size} points; "
                "freeze some with fixed="
            )
        if loss not in ("squared", "huber"):
            raise ValueError(f"loss must be 'squared' or 'huber'; got {loss!r}")
        if not free:
            law = cls(dict(fixed), (), None, N.size, None, loss)
            return law
        best = _fit_once(N, T, L, fixed, free, loss, huber_delta, starts)
        intervals, boot = None, None
        if bootstrap:
            if not 0 < confidence < 1:
                raise ValueError(f"confidence must be in (0, 1); got {confidence!r}")
            fit = (fixed, free, loss, huber_delta)
            intervals, boot = _bootstrap(N, T, L, fit, best[0], bootstrap, confidence, seed)
        return cls(best[0], free, best[1], N.size, intervals, loss, boot)


def _bootstrap(N, T, L, fit, warm: dict, n_boot: int, confidence: float, seed: int):
    """Percentile intervals of the free parameters over ``n_boot`` refits on points resampled
    with replacement (each warm-started at the full fit ``warm``), and the refits."""
    fixed, free, loss, huber_delta = fit
    rng = np.random.default_rng(seed)
    boot = np.empty((n_boot, len(free)))
    for b in range(n_boot):
        idx = rng.integers(0, N.size, N.size)
        p = _fit_once(N[idx], T[idx], L[idx], fixed, free, loss, huber_delta, 1, warm=warm)[0]
        boot[b] = [p[k] for k in free]
    lo, hi = 100 * (1 - confidence) / 2, 100 * (1 + confidence) / 2
    intervals = {
        k: (float(np.percentile(boot[:, j], lo)), float(np.percentile(boot[:, j], hi)))
        for j, k in enumerate(free)
    }
    return intervals, boot


def _pack(params, free):
    return np.array([math.log(params[k]) if k in ("A", "B") else params[k] for k in free])


def _unpack(theta, free, fixed):
    p = dict(fixed)
    for k, v in zip(free, theta):
        p[k] = math.exp(v) if k in ("A", "B") else float(v)
    return p


def _fit_once(N, T, L, fixed, free, loss, huber_delta, starts, warm=None):
    def residuals(theta):
        return law_value(_unpack(theta, free, fixed), N, T) - L

    def jac(theta):
        p = _unpack(theta, free, fixed)
        J = law_jacobian(p, N, T)
        cols = []
        for k in free:
            c = J[:, PARAM_NAMES.index(k)]
            cols.append(c * p[k] if k in ("A", "B") else c)  # chain rule for log A, log B
        return np.stack(cols, axis=1)

    def bound(k, side):
        if k == "E":
            return (-np.inf, np.inf)[side]
        return (_LOG_COEFF_BOUNDS if k in ("A", "B") else _EXPONENT_BOUNDS)[side]

    lower = [bound(k, 0) for k in free]
    upper = [bound(k, 1) for k in free]
    candidates = [warm] if warm is not None else []
    candidates += _linear_starts(N, T, L, fixed, free, starts)
    best_params, best_cost = None, np.inf
    for start in candidates:
        theta0 = np.clip(_pack(start, free), lower, upper)
        with np.errstate(over="ignore", invalid="ignore"):
            res = optimize.least_squares(
                residuals,
                theta0,
                jac=jac,
                bounds=(lower, upper),
                method="trf",
                loss="linear" if loss == "squared" else "huber",
                f_scale=huber_delta,
                x_scale="jac",
                xtol=1e-15,
                ftol=1e-15,
                gtol=1e-15,
                max_nfev=5000,
            )
        if np.isfinite(res.cost) and res.cost < best_cost:
            best_params, best_cost = _unpack(res.x, free, fixed), float(res.cost)
    if best_params is None:
        raise ValueError(
            "the scaling-law fit failed from every starting point (non-finite residuals)"
        )
    if loss == "huber":
        best_cost *= huber_delta**2  # scipy reports the cost in units of f_scale^2
    return best_params, best_cost


def _linear_starts(N, T, L, fixed, free, starts):
    """Starting points: for a grid of exponents, A, B, E by linear least squares."""
    grid = np.linspace(0.1, 1.0, max(int(starts), 1))
    alphas = grid if "alpha" in free else [fixed["alpha"]]
    betas = grid if "beta" in free else [fixed["beta"]]
    out = []
    for a, b in itertools.product(alphas, betas):
        p = dict(fixed, alpha=a, beta=b)
        cols, names = [], []
        rhs = L.copy()
        for k, col in (("A", N ** (-a)), ("B", T ** (-b)), ("E", np.ones_like(N))):
            if k in free:
                cols.append(col)
                names.append(k)
            else:
                rhs = rhs - fixed[k] * col
        if cols:
            M = np.stack(cols, axis=1)
            scale = np.linalg.norm(M, axis=0)
            coef = np.linalg.lstsq(M / scale, rhs, rcond=None)[0] / scale
            for k, c in zip(names, coef):
                p[k] = float(c) if k == "E" else float(max(c, 1e-8))
        out.append(p)
    return out


def saturation_gaps(law: ScalingLaw, N, T_final, L_final, T_best, L_best) -> dict:
    """Relative excess over the law of the final and of the best checkpoint.

    ``gap_final = (L_final - L(N, T_final)) / L(N, T_final)`` and likewise for the best
    (loss-minimising) checkpoint, each predicted at its own token count [Godey2024, §3].
    Returns arrays ``gap_final``, ``gap_best``, ``pred_final``, ``pred_best``.
    """
    pred_final = law.predict(N, T_final)
    pred_best = law.predict(N, T_best)
    return {
        "pred_final": pred_final,
        "pred_best": pred_best,
        "gap_final": (np.asarray(L_final, dtype=np.float64) - pred_final) / pred_final,
        "gap_best": (np.asarray(L_best, dtype=np.float64) - pred_best) / pred_best,
    }
