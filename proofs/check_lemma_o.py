"""Checks for proofs/lemma_o.md."""

import numpy as np
import sympy as sp

from bottleneck import bounds as B

from ._helpers import centre, lse, osc, random_instances, softmax


def check_ce_difference():
    z = sp.symbols("z1:4", real=True)
    d = sp.symbols("d1:4", real=True)
    p1, p2 = sp.symbols("p1 p2", positive=True)
    p = [p1, p2, 1 - p1 - p2]
    Z = sum(sp.exp(x) for x in z)
    Zd = sum(sp.exp(x + y) for x, y in zip(z, d))
    ce = -sum(pj * (x - sp.log(Z)) for pj, x in zip(p, z))
    ce_d = -sum(pj * (x + y - sp.log(Zd)) for pj, x, y in zip(p, z, d))
    rhs = sp.log(Zd) - sp.log(Z) - sum(pj * y for pj, y in zip(p, d))
    assert sp.simplify(ce_d - ce - rhs) == 0


def check_sharp_constant():
    delta = np.array([1.0, -1.0])
    # equality case: any other constant than sqrt(2) breaks it (too small) or is not sharp
    assert np.isclose(osc(delta), B.U_OSC_COEFF * np.linalg.norm(centre(delta)), rtol=1e-15)
    assert (
        sp.sqrt(2) * sp.sqrt(2) == 2
    )  # osc = 2 = sqrt(2) * ||C delta|| with ||C delta|| = sqrt(2)


def check_chain_numeric():
    """Numerical: every inequality of the chain, with p unrelated to z (general form) and
    p = softmax(z)."""
    rng = np.random.default_rng(3)
    for p_z, z, delta in random_instances(300, seed=3):
        for p in (p_z, rng.dirichlet(np.full(z.size, 0.5))):

            def ce(zz, p=p):
                return -float(np.sum(p * (zz - lse(zz))))

            lhs = ce(z + delta) - ce(z)
            mid = float(delta.max() - p @ delta)
            tol = 1e-12 * (1 + abs(z).max() + abs(delta).max())
            assert lhs <= mid + tol
            assert mid <= osc(delta) + tol
            assert osc(delta) <= B.U_OSC_COEFF * np.linalg.norm(centre(delta)) * (1 + 1e-12)
        q = softmax(z + delta)
        kl_val = float(np.sum(p_z * (np.log(p_z) - np.log(q))))
        assert kl_val <= float(delta.max() - p_z @ delta) + 1e-12 * (
            1 + abs(z).max() + abs(delta).max()
        )
