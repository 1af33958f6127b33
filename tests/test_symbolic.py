"""symbolic: the closed forms as sympy expressions evaluate to the numerical bounds
(proofs/check_symbolic_library.py checks them on grids)."""

from __future__ import annotations

import pytest
import sympy

from bottleneck import bounds as B
from bottleneck import symbolic as S


def test_expressions_evaluate_to_the_library_functions():
    assert S.lambdify(S.theorem_u_quadratic_expr())(2.0) == pytest.approx(
        B.theorem_u_quadratic(2.0)
    )
    assert S.lambdify(S.theorem_u_oscillation_expr())(2.0) == pytest.approx(
        B.theorem_u_oscillation(2.0)
    )
    assert S.lambdify(S.segment_function_expr())(0.7) == pytest.approx(
        B.segment_function(0.7), rel=1e-12
    )
    assert S.lambdify(S.estimate_e1_expr())(3.0) == pytest.approx(B.estimate_e1(3.0))
    assert S.lse_hessian_bound() == sympy.Rational(1, 2)
