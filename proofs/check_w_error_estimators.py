"""Checks for proofs/w_error_estimators.md (the exact Gram path and the SLQ error)."""

import math

import numpy as np
import sympy as sp

from bottleneck import gram_spectrum, spectrum


def check_chebyshev_series_of_abs():
    """``|y| = 2/pi - (4/pi) sum_j (-1)^j T_2j(y) / (4 j^2 - 1)``: the coefficients are the
    Chebyshev projections ``(2/pi) int_{-1}^{1} |y| T_n(y) / sqrt(1 - y^2) dy``."""
    theta = sp.symbols("theta", real=True)
    for j in range(0, 6):
        # y = cos(theta): |cos| T_2j(cos) = |cos theta| cos(2 j theta)
        c = (
            2
            / sp.pi
            * 2
            * sp.integrate(sp.cos(theta) * sp.cos(2 * j * theta), (theta, 0, sp.pi / 2))
        )
        expect = (2 / sp.pi) * 2 if j == 0 else -(4 / sp.pi) * (-1) ** j / (4 * j**2 - 1)
        assert sp.simplify(c - expect) == 0


def check_truncation_tail_telescopes():
    """``(4/pi) sum_{j>J} 1/(4 j^2 - 1) = 2 / (pi (2J + 1))``."""
    j, J = sp.symbols("j J", integer=True, positive=True)
    tail = sp.summation(4 / sp.pi / (4 * j**2 - 1), (j, J + 1, sp.oo))
    assert sp.simplify(tail - 2 / (sp.pi * (2 * J + 1))) == 0


def check_truncated_series_error_numerically():
    """The bound of Claim 4 against the truncated series itself on a fine grid."""
    y = np.linspace(-1, 1, 20001)
    for n in (1, 3, 9, 41, 199):
        J = n // 2
        approx = 2 / math.pi - 4 / math.pi * sum(
            (-1) ** k * np.cos(2 * k * np.arccos(y)) / (4 * k * k - 1) for k in range(1, J + 1)
        )
        assert np.max(np.abs(np.abs(y) - approx)) <= 2 / (math.pi * (2 * J + 1)) + 1e-12


def check_min_identity():
    x, t = sp.symbols("x t", real=True)
    pairs = [(sp.Rational(3, 10), 1), (2, 1), (1, 1), (0, sp.Rational(1, 7))]
    for xv, tv in ((sp.sympify(a), sp.sympify(b)) for a, b in pairs):
        assert sp.Min(xv, tv) == (xv + tv - abs(xv - tv)) / 2
    for xv in (sp.Rational(-2), sp.Rational(1, 3), sp.Rational(5)):
        expr = (xv + t - sp.Abs(xv - t)) / 2
        assert sp.simplify(expr.subs(t, 1) - sp.Min(xv, 1)) == 0


def check_gauss_quadrature_error_bound():
    """Claim 4 on explicit spectra: Lanczos quadrature of ``min(., t)`` is within
    ``2 Lambda / (pi (2m - 1))`` (unit mass) of the exact value, for every ``t``."""
    rng = np.random.default_rng(0)
    for _ in range(20):
        lam = np.sort(rng.exponential(size=200)) * rng.uniform(0.1, 10)
        w = rng.choice([-1.0, 1.0], size=lam.size)
        w /= np.linalg.norm(w)
        m = int(rng.integers(3, 25))
        # Lanczos on diag(lam) from w (full reorthogonalisation)
        V = np.zeros((lam.size, m))
        alpha, beta = np.zeros(m), np.zeros(m - 1)
        V[:, 0] = w
        for k in range(m):
            z = lam * V[:, k]
            alpha[k] = V[:, k] @ z
            z -= V[:, : k + 1] @ (V[:, : k + 1].T @ z)
            z -= V[:, : k + 1] @ (V[:, : k + 1].T @ z)
            if k < m - 1:
                beta[k] = np.linalg.norm(z)
                V[:, k + 1] = z / beta[k]
        nodes, weights = gram_spectrum._quadrature(alpha, beta)
        ts = np.linspace(0, lam.max(), 101)
        est = gram_spectrum._min_trace(nodes, weights, ts)
        true = np.array([np.sum(w**2 * np.minimum(lam, t)) for t in ts])
        err = np.abs(est - true)
        assert np.max(err) <= 2 * lam.max() / (math.pi * (2 * m - 1)) + 1e-12
        # the position-dependent bound the library uses (Claim 4)
        kink = gram_spectrum.chebyshev_kink_error(2 * m - 1, 2 * ts / lam.max() - 1)
        assert np.all(err <= lam.max() / 2 * kink + 1e-12)


def check_variational_tail_symbolic():
    """Claim 3 for three symbolic eigenvalues ordered ``a >= b >= c >= 0``: the maximum of
    ``sum min(mu, t) - d t`` over the candidate kinks equals the tail."""
    a, b, c = sp.symbols("a b c", nonnegative=True)
    values = {a: sp.Rational(3), b: sp.Rational(3, 2), c: sp.Rational(1, 4)}
    mu = [a, b, c]
    tails = [a + b + c, b + c, c, sp.Integer(0)]
    for d in range(4):
        # at t = mu_{d+1} the objective is the tail, symbolically, for a >= b >= c >= 0
        t = mu[d] if d < 3 else sp.Integer(0)
        on_kink = d * t + sum(mu[d:]) - d * t
        assert sp.simplify(on_kink - tails[d]) == 0
        best = max((sum(sp.Min(m, s) for m in mu) - d * s).subs(values) for s in [0, a, b, c])
        assert best == tails[d].subs(values)


def check_exact_path_keeps_small_tails():
    """Claim 1's point: singular values 1 and 1e-7 (tail 1e-14 of F) give W-error 1e-7 at
    d = 1. The Gram's eigenvalues alone are off by 0.8 % there (rounding of order eps in
    lambda_2 = 1e-14); the energies along its eigenvectors are right to 1e-6, and the tail
    at d = 2 (true value 0) stays an upper bound at rounding level."""
    rng1, rng2 = np.random.default_rng(1), np.random.default_rng(2)
    U = np.linalg.qr(rng1.standard_normal((40, 2)))[0]
    V = np.linalg.qr(rng2.standard_normal((30, 2)))[0]
    M = U @ np.diag([1.0, 1e-7]) @ V.T
    curve = spectrum.w_error_curve(M, [0, 1, 2], method="exact")
    truth = 1e-7 / math.sqrt(1 + 1e-14)
    assert curve.w_error[0] == 1.0 or abs(curve.w_error[0] - 1.0) < 1e-15
    assert abs(curve.w_error[1] - truth) <= 1e-6 * truth
    assert 0.0 <= curve.w_error[2] <= 1e-8
    lam = np.sort(np.linalg.eigvalsh(M.T @ M))[::-1]
    from_eigenvalues = math.sqrt(max(lam[1:].sum(), 0.0) / np.sum(M * M))
    assert abs(from_eigenvalues - truth) > 1e-3 * truth  # what the energies avoid


def check_chebyshev_coefficients_of_the_kink():
    """``c_k`` of ``|cos(theta) - cos(phi)|`` for ``k >= 2`` (Claim 4), and the derivative
    of its numerator that bounds it."""
    th, ph = sp.symbols("theta phi", positive=True)
    for k in range(2, 7):
        f = (sp.cos(th) - sp.cos(ph)) * sp.cos(k * th)
        c = 2 / sp.pi * (sp.integrate(f, (th, 0, ph)) - sp.integrate(f, (th, ph, sp.pi)))
        g = sp.sin(k * ph) * sp.cos(ph) - k * sp.sin(ph) * sp.cos(k * ph)
        expect = 4 * g / (sp.pi * k * (k**2 - 1))
        assert sp.simplify(sp.expand_trig(c - expect)) == 0
        assert sp.simplify(sp.diff(g, ph) - (k**2 - 1) * sp.sin(ph) * sp.sin(k * ph)) == 0


def check_kink_error_bounds_the_truncated_series():
    """``chebyshev_kink_error(n, a)`` is above the measured error of the truncated series of
    ``|y - a|`` (coefficients by quadrature) at kinks across [-1, 1]."""
    theta = np.linspace(0, np.pi, 100001)
    y = np.cos(np.linspace(0, np.pi, 3001))
    for a in (-0.999, -0.9, -0.3, 0.0, 0.5, 0.99):
        f = np.abs(np.cos(theta) - a)
        c = np.array([2 / np.pi * np.trapezoid(f * np.cos(k * theta), theta) for k in range(60)])
        c[0] /= 2
        basis = np.cos(np.outer(np.arange(60), np.arccos(y)))
        for n in (1, 3, 11, 41):
            err = np.max(np.abs(np.abs(y - a) - c[: n + 1] @ basis[: n + 1]))
            assert err <= float(gram_spectrum.chebyshev_kink_error(n, np.array([a]))[0])
