"""Checks for proofs/lemma_k.md."""

import mpmath
import numpy as np
import sympy as sp

from bottleneck.symbolic import phi_expr

from ._helpers import kl, random_instances


def check_identity_symbolic():
    p1, p2, q1, q2 = sp.symbols("p1 p2 q1 q2", positive=True)
    p = [p1, p2, 1 - p1 - p2]
    q = [q1, q2, 1 - q1 - q2]
    phi, (x,) = phi_expr()
    lhs = sum(pj * phi.subs(x, sp.log(qj) - sp.log(pj)) for pj, qj in zip(p, q))
    kl_expr = sum(pj * (sp.log(pj) - sp.log(qj)) for pj, qj in zip(p, q))
    assert sp.simplify(sp.expand_log(lhs - kl_expr, force=True)) == 0


def check_phi_nonnegative():
    phi, (x,) = phi_expr()
    crit = sp.solve(sp.Eq(sp.diff(phi, x), 0), x)
    assert crit == [0]
    assert phi.subs(x, 0) == 0 and sp.diff(phi, x, 2).subs(x, 0) == 1
    # phi' = e^x - 1 has the sign of x
    assert sp.simplify(sp.diff(phi, x) - (sp.exp(x) - 1)) == 0


def check_identity_numeric():
    mpmath.mp.dps = 50
    for p, a, delta in random_instances(100, seed=1):
        q = np.exp(a + delta - np.max(a + delta))
        q /= q.sum()
        ref = sum(
            mpmath.mpf(pj) * mpmath.log(mpmath.mpf(pj) / mpmath.mpf(qj))
            for pj, qj in zip(p, q)
            if pj > 0
        )
        phi_sum = sum(
            mpmath.mpf(pj)
            * (mpmath.mpf(qj) / mpmath.mpf(pj) - 1 - mpmath.log(mpmath.mpf(qj) / mpmath.mpf(pj)))
            for pj, qj in zip(p, q)
            if pj > 0
        )
        # step 1 exactly: sum p phi(x) = q(supp p) - p(supp p) + KL; both masses are 1 up to
        # the float64 rounding of p and q, which high precision sees
        mass_q = sum(mpmath.mpf(qj) for qj, pj in zip(q, p) if pj > 0)
        mass_p = sum(mpmath.mpf(pj) for pj in p if pj > 0)
        assert abs(phi_sum - (mass_q - mass_p + ref)) <= mpmath.mpf(10) ** -40 * (1 + abs(ref))
        assert abs(kl(p, q) - float(ref)) <= 1e-12 * (1 + float(ref)) + 1e-15
