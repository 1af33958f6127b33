"""Closed forms of docs/theory.md as sympy expressions: the single symbolic source.

The proofs in ``proofs/`` derive these expressions step by step; the numerical functions of
:mod:`bottleneck.bounds` are tested equal to them (``proofs/check_symbolic_library.py``),
so a mutated constant in either place fails the suite. sympy is imported lazily: nothing
here runs at ``import bottleneck``.

Every function returns ``(expression, symbols)``.
"""

from __future__ import annotations

from functools import cache

__all__ = [
    "phi_expr",
    "segment_function_expr",
    "theorem_u_quadratic_expr",
    "theorem_u_oscillation_expr",
    "theorem_l_term_expr",
    "theorem_p_operator_expr",
    "theorem_p_paper_expr",
    "estimate_e1_expr",
    "lse_hessian_bound",
    "lambdify",
]


def _sp():
    import sympy

    return sympy


@cache
def phi_expr():
    """Lemma K: ``phi(x) = e^x - 1 - x`` (proofs/lemma_k.md)."""
    sp = _sp()
    x = sp.Symbol("x", real=True)
    return sp.exp(x) - 1 - x, (x,)


@cache
def lse_hessian_bound():
    """Lemma S: ``sup_q lambda_max(diag(q) - q q^T) = 1/2`` (attained at ``V = 2``,
    ``q = (1/2, 1/2)``).

    Derived, not typed: Popoviciu gives ``Var_q(v) <= osc(v)^2/4`` and
    ``osc(v)^2 <= 2 ||Cv||^2`` (proofs/lemma_s.md); the product of the two constants is
    ``1/4 * 2``.
    """
    sp = _sp()
    popoviciu = sp.Rational(1, 4)
    osc_to_norm = sp.Integer(2)
    return popoviciu * osc_to_norm


@cache
def segment_function_expr():
    """Theorem L: ``F(x) = int_0^x (x - u) exp(-sqrt(2) u) du`` evaluated in closed form."""
    sp = _sp()
    x, u = sp.symbols("x u", nonnegative=True)
    F = sp.integrate((x - u) * sp.exp(-sp.sqrt(2) * u), (u, 0, x))
    return sp.simplify(F), (x,)


@cache
def theorem_u_quadratic_expr():
    """Theorem U: ``G*(d) <= (1/2) * lambda_max bound * T`` = ``T/4`` (Taylor remainder ``1/2``)."""
    sp = _sp()
    T = sp.Symbol("T", nonnegative=True)
    return sp.Rational(1, 2) * lse_hessian_bound() * T, (T,)


@cache
def theorem_u_oscillation_expr():
    """Theorem U: ``G*(d) <= sqrt(2 T)`` (Lemma O constant times Cauchy–Schwarz)."""
    sp = _sp()
    T = sp.Symbol("T", nonnegative=True)
    osc_to_norm = sp.sqrt(2)  # osc(v) <= sqrt(2) ||Cv||, proofs/lemma_o.md
    return osc_to_norm * sp.sqrt(T), (T,)


@cache
def theorem_l_term_expr():
    """Theorem L: the row-``k`` term ``pi m F(tau / sqrt(pi))`` whose minimum over ``k`` is the
    bound."""
    sp = _sp()
    pi, m, tau = sp.symbols("pi m tau", positive=True)
    F, (x,) = segment_function_expr()
    return pi * m * F.subs(x, tau / sp.sqrt(pi)), (pi, m, tau)


@cache
def theorem_p_operator_expr():
    """Theorem P (operator form): ``sqrt(2) sigma_{d+1} * mean ||x||``."""
    sp = _sp()
    s, r = sp.symbols("sigma_next mean_norm", nonnegative=True)
    return sp.sqrt(2) * s * r, (s, r)


@cache
def theorem_p_paper_expr():
    """Theorem P (the paper's form, Lipschitz constant 2):
    ``2 * mean ||x|| * sqrt(sum_{k>d} sigma_k^2)``."""
    sp = _sp()
    t, r = sp.symbols("tail mean_norm", nonnegative=True)
    return 2 * r * sp.sqrt(t), (t, r)


@cache
def estimate_e1_expr():
    """Estimate ``E_1 = T_Fisher / 2`` (second-order Taylor coefficient, proofs/estimates.md)."""
    sp = _sp()
    T = sp.Symbol("T", nonnegative=True)
    return T / 2, (T,)


def lambdify(expr_and_symbols):
    """numpy function of an ``(expression, symbols)`` pair."""
    sp = _sp()
    expr, syms = expr_and_symbols
    return sp.lambdify(syms, expr, modules="numpy")
