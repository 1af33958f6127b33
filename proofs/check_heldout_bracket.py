"""Checks for proofs/heldout_bracket.md."""

import numpy as np
import sympy as sp

import bottleneck as bn


def check_lse_derivatives():
    z = sp.symbols("z1:4", real=True)
    lse = sp.log(sum(sp.exp(x) for x in z))
    q = [sp.exp(x) / sum(sp.exp(y) for y in z) for x in z]
    for j in range(3):
        assert sp.simplify(sp.diff(lse, z[j]) - q[j]) == 0
        for k in range(3):
            expected = (q[j] if j == k else 0) - q[j] * q[k]
            assert sp.simplify(sp.diff(lse, z[j], z[k]) - expected) == 0


def check_rows_decouple():
    """Claim 1: for a fixed W, the per-row minima sum to a gap that no perturbed H beats,
    and that gap is the whole target's gap at the per-row minimisers."""
    rng = np.random.default_rng(3)
    t = bn.Target.from_logits(2 * rng.standard_normal((12, 7)), weights=rng.dirichlet(np.ones(12)))
    W = rng.standard_normal((7, 2))
    head = bn.Solution(
        d=2,
        gap=0,
        loss=0,
        H=np.zeros((12, 2)),
        W=W,
        bias=None,
        status="max_iter",
        grad_norm=1,
        iterations=0,
        seconds=0,
        device="cpu",
    )
    best = bn.heldout_gap(head, t, tol=1e-11)
    assert best.success
    for _ in range(50):
        H = best.H + 0.3 * rng.standard_normal(best.H.shape)
        assert t.gap_factors(H, W) >= best.gap - 1e-13
    assert abs(t.gap_factors(best.H, W) - best.gap) < 1e-12


def check_stationary_solution_is_row_optimal():
    rng = np.random.default_rng(4)
    for bias in (False, True):
        t = bn.Target.from_logits(rng.standard_normal((20, 9)) * 2, bias=bias)
        s = bn.solve(t, 2, tol=1e-11, max_iter=1000)
        assert s.success
        r = bn.heldout_gap(s, t, tol=1e-11)
        assert abs(r.gap - s.gap) < 1e-10


def check_bracket_on_a_finite_population():
    """A population of 40 contexts (uniform mu); samples of n = 6 drawn with replacement.
    E[G*_n] <= G*_pop <= E[g_W(held-out)], averaged over 40 draws, within 3 standard errors
    (statistical: the claim is about expectations)."""
    rng = np.random.default_rng(5)
    population = 1.5 * rng.standard_normal((40, 3)) @ rng.standard_normal((3, 8))
    pop = bn.Target.from_logits(population)
    d = 1
    g_pop = min(bn.solve(pop, d, tol=1e-10, max_iter=800, seed=s).gap for s in range(3))
    train, held = [], []
    for _ in range(40):
        idx = rng.integers(0, 40, 6)
        s = bn.solve(bn.Target.from_logits(population[idx]), d, tol=1e-10, max_iter=800)
        train.append(s.gap)
        # E_mu[g_W] exactly: the held-out gap on the whole population
        held.append(bn.heldout_gap(s, pop, tol=1e-10).gap)
    train, held = np.array(train), np.array(held)
    assert train.mean() <= g_pop + 3 * train.std(ddof=1) / np.sqrt(40)
    assert (held >= g_pop - 1e-9).all()  # every fitted W is feasible for the population
    assert train.mean() < g_pop < held.mean()
