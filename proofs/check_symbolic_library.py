"""The library's numerical bounds are the symbolic closed forms (single source of truth).

A constant mutated in ``bottleneck/bounds.py`` (e.g. 1/4 -> 1/5, sqrt(2) -> 1) or in
``bottleneck/symbolic.py`` fails here. Grids span tails from 1e-12 to 1e3; the segment
function is also compared with a 50-digit mpmath evaluation (its small-x series path).
"""

import mpmath
import numpy as np

from bottleneck import bounds as B
from bottleneck import symbolic as S

TAILS = np.logspace(-12, 3, 61)


def check_theorem_u_matches_symbolic():
    quad = S.lambdify(S.theorem_u_quadratic_expr())
    osc = S.lambdify(S.theorem_u_oscillation_expr())
    np.testing.assert_allclose(B.theorem_u_quadratic(TAILS), quad(TAILS), rtol=1e-15)
    np.testing.assert_allclose(B.theorem_u_oscillation(TAILS), osc(TAILS), rtol=1e-15)
    np.testing.assert_allclose(B.theorem_u(TAILS), np.minimum(quad(TAILS), osc(TAILS)), rtol=1e-15)


def check_segment_function_matches_symbolic_and_mpmath():
    F = S.lambdify(S.segment_function_expr())
    x = np.logspace(-3, 3, 61)  # where the float closed form is itself accurate
    np.testing.assert_allclose(B.segment_function(x), F(x), rtol=1e-9)
    mpmath.mp.dps = 50
    r2 = mpmath.sqrt(2)
    for xv in np.logspace(-12, 3, 46):
        ref = mpmath.mpf(xv) / r2 - (1 - mpmath.exp(-r2 * mpmath.mpf(xv))) / 2
        assert abs(B.segment_function(xv) - float(ref)) <= 1e-14 * float(ref)


def check_theorem_l_matches_symbolic():
    """Theorem L equals the symbolic row term, evaluated exactly (50-digit mpmath).

    The float lambdification of ``x/sqrt2 - (1 - e^{-sqrt2 x})/2`` cancels catastrophically
    for small ``x``, so the symbolic expression is evaluated with ``evalf`` at 50 digits
    rather than through numpy.
    """
    expr, (pi, m, tau) = S.theorem_l_term_expr()
    rng = np.random.default_rng(13)
    for T in TAILS[::5]:
        w = rng.dirichlet(np.ones(4))
        mins = rng.uniform(1e-3, 0.25, 4)
        ref = min(
            float(expr.evalf(50, subs={pi: float(wi), m: float(mi), tau: float(np.sqrt(T))}))
            for wi, mi in zip(w, mins)
        )
        assert np.isclose(B.theorem_l(T, w, mins), ref, rtol=1e-12, atol=0.0)


def check_theorem_p_and_e1_match_symbolic():
    op = S.lambdify(S.theorem_p_operator_expr())
    paper = S.lambdify(S.theorem_p_paper_expr())
    e1 = S.lambdify(S.estimate_e1_expr())
    s = np.array([3.0, 2.0, 1.0, 0.25])
    for d in range(5):
        nxt = s[d] if d < s.size else 0.0
        assert np.isclose(B.theorem_p_operator(s, d, 1.7), op(nxt, 1.7), rtol=1e-15)
        assert np.isclose(B.theorem_p_paper(s, d, 1.7), paper(np.sum(s[d:] ** 2), 1.7), rtol=1e-15)
    np.testing.assert_allclose(B.estimate_e1(TAILS), e1(TAILS), rtol=1e-15)


def check_constants_are_derived():
    """The constants of bounds.py equal the derived symbolic ones."""
    import sympy as sp

    quad, (T,) = S.theorem_u_quadratic_expr()
    osc, (T2,) = S.theorem_u_oscillation_expr()
    assert float(quad.subs(T, 1)) == B.U_QUADRATIC_COEFF
    assert float(osc.subs(T2, 1)) == B.U_OSC_COEFF
    assert S.lse_hessian_bound() == sp.Rational(1, 2)
