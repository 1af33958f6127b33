"""Checks for proofs/theorem_b.md (Theorem B, Lemma M, Corollary B')."""

import numpy as np
import sympy as sp
from scipy.optimize import minimize_scalar

import bottleneck as bn
from bottleneck import block_spectral as BS
from bottleneck.block_search import search_theorem_b

from ._helpers import softmax

u, x, r, b, lam, nu, mu = sp.symbols("u x r b lambda nu mu", positive=True)
PHI_E = sp.exp(-u) - 1 + u


def check_support_form():
    """Step 1: sum_{supp} p phi(x) = q(supp) - 1 + KL(p||q) for p = (p1, p2, 0), any logits."""
    p1 = sp.Symbol("p1", positive=True)
    z = sp.symbols("z1:4", real=True)
    p = [p1, 1 - p1, 0]
    Zs = sum(sp.exp(zz) for zz in z)
    q = [sp.exp(zz) / Zs for zz in z]
    xs = [sp.log(q[j]) - sp.log(p[j]) for j in range(2)]
    lhs = sum(p[j] * (sp.exp(xs[j]) - 1 - xs[j]) for j in range(2))
    kl = sum(p[j] * (sp.log(p[j]) - sp.log(q[j])) for j in range(2))
    assert sp.simplify(sp.expand_log(lhs - (q[0] + q[1] - 1 + kl), force=True)) == 0


def check_even_minorant():
    """Step 2: phi(x) - phi_e(x) = 2 (sinh x - x) >= 0 for x > 0; equality for x <= 0."""
    phi = sp.exp(x) - 1 - x
    assert sp.simplify(phi - PHI_E.subs(u, x) - 2 * (sp.sinh(x) - x)) == 0
    k = sp.sinh(x) - x
    assert k.subs(x, 0) == 0 and sp.simplify(sp.diff(k, x) - (sp.cosh(x) - 1)) == 0
    assert sp.simplify((sp.exp(-x) - 1 + x) - PHI_E.subs(u, x)) == 0  # phi(-x) = phi_e(x)
    grid = np.linspace(-30, 30, 2001)
    assert np.all(np.expm1(grid) - grid >= BS.phi_even(np.abs(grid)) * (1 - 1e-12))


def check_monotone_ratios():
    """Step 3: phi_e(u)/u non-decreasing and phi_e(u)/u^2 non-increasing on u > 0."""
    d1 = sp.simplify(sp.diff(PHI_E / u, u) * u**2)
    assert sp.simplify(d1 - (1 - (1 + u) * sp.exp(-u))) == 0  # >= 0 iff e^u >= 1 + u
    d2 = sp.simplify(sp.diff(PHI_E / u**2, u) * u**3 * sp.exp(u))
    k = (2 + u) - (2 - u) * sp.exp(u)  # d2 = -k: need k >= 0
    assert sp.simplify(d2 + k) == 0
    assert k.subs(u, 0) == 0 and sp.diff(k, u).subs(u, 0) == 0
    assert sp.simplify(sp.diff(k, u, 2) - u * sp.exp(u)) == 0  # convex from 0 with k(0)=k'(0)=0
    grid = np.logspace(-6, 3, 400)
    ratio1, ratio2 = BS.phi_even(grid) / grid, BS.phi_even(grid) / grid**2
    assert np.all(np.diff(ratio1) >= -1e-15) and np.all(np.diff(ratio2) <= 1e-15)


def check_scaling_threshold_exact():
    """Step 3 (numerical): w phi_e(u/r) >= alpha phi_e(u) for all u iff w >= alpha max(r, r^2);
    slightly less weight fails at small or large u."""
    rng = np.random.default_rng(1)
    grid = np.logspace(-8, 6, 3000)
    for _ in range(300):
        rr, alpha = 10 ** rng.uniform(-3, 3), 10 ** rng.uniform(-8, 0)
        w = float(BS.used_weight(rr, alpha))
        assert np.all(w * BS.phi_even(grid / rr) >= alpha * BS.phi_even(grid) * (1 - 1e-10))
        worse = w * (1 - 1e-3) * BS.phi_even(grid / rr) - alpha * BS.phi_even(grid)
        assert worse.min() < 0
        assert np.isclose(BS.admissible_scaling(w, alpha), rr, rtol=1e-12)


def check_huber_weight():
    """Step 3': at rho = b/r the proposal's two constraints are both w >= b^2/phi_e(rho)."""
    rho = b / r
    c2 = PHI_E.subs(u, rho) / rho**2
    c1 = PHI_E.subs(u, rho) / rho
    w = b**2 / PHI_E.subs(u, rho)
    assert sp.simplify(c2 * w - r**2) == 0  # r = sqrt(c2 w / a), a = 1
    assert sp.simplify(c1 * w / b - r) == 0  # r = c1 w / b
    rng = np.random.default_rng(2)
    grid = np.logspace(-8, 6, 3000)
    for _ in range(200):
        rr, bb = 10 ** rng.uniform(-3, 3), 10 ** rng.uniform(-3, 2)
        ww = float(BS.used_weight(rr, bb, "huber"))
        hub = np.where(grid <= bb / 2, grid**2, bb * grid - bb**2 / 4)
        assert np.all(ww * BS.phi_even(grid / rr) >= hub * (1 - 1e-9))
        assert np.isclose(BS.admissible_scaling(ww, bb, "huber"), rr, rtol=1e-8)


def check_huber_infimal_convolution():
    """huber_b(y) = min_{e + f = y} e^2 + b|f| (the split that minimises a u^2 + b v)."""
    e = sp.Symbol("e", real=True)
    y = sp.Symbol("y", positive=True)
    cost = e**2 + b * (y - e)  # f = y - e >= 0 on the optimal branch
    e_star = sp.solve(sp.diff(cost, e), e)[0]
    assert sp.simplify(e_star - b / 2) == 0
    assert sp.simplify(cost.subs(e, e_star) - (b * y - b**2 / 4)) == 0  # y >= b/2
    # y <= b/2: e = y, f = 0 gives y^2, and the branch value b y - b^2/4 <= y^2
    assert sp.factor(y**2 - (b * y - b**2 / 4)) == (2 * y - b) ** 2 / 4
    ys = np.linspace(0, 10, 201)
    brute = np.min(
        np.linspace(0, 1, 401)[None, :] ** 2 * ys[:, None] ** 2
        + 1.5 * (1 - np.linspace(0, 1, 401)[None, :]) * ys[:, None],
        axis=1,
    )
    hub = np.where(ys <= 0.75, ys**2, 1.5 * ys - 1.5**2 / 4)
    assert np.allclose(brute, hub, atol=2e-3 * (1 + ys))


def check_phi_conjugate():
    """Step 4: g = phi_e(|.|) has g*(lambda) = lambda + (1 - lambda) log(1 - lambda) on [0, 1)
    and h(nu) = g*(sqrt nu) has h'(nu) = -log(1 - sqrt nu)/(2 sqrt nu), non-decreasing."""
    m = sp.Symbol("m", positive=True)
    u_star = -sp.log(1 - m)  # phi_e'(u) = 1 - e^{-u} = m
    conj = m * u_star - PHI_E.subs(u, u_star)
    assert sp.simplify(conj - (m + (1 - m) * sp.log(1 - m))) == 0
    h = sp.sqrt(nu) + (1 - sp.sqrt(nu)) * sp.log(1 - sp.sqrt(nu))
    assert sp.simplify(sp.diff(h, nu) - (-sp.log(1 - sp.sqrt(nu)) / (2 * sp.sqrt(nu)))) == 0
    # -log(1 - mu)/mu = sum_k mu^(k-1)/k: positive coefficients, so increasing in mu = sqrt(nu)
    series = sp.series(-sp.log(1 - mu) / mu, mu, 0, 8).removeO()
    assert all(c > 0 for c in sp.Poly(series, mu).all_coeffs())
    # concavity check of the conjugate pair numerically: g(u) = sup_m (m u - g*(m))
    ms = np.linspace(0, 1 - 1e-12, 200001)
    gstar = ms + (1 - ms) * np.log1p(-ms)
    for uu in (0.01, 0.5, 2.0, 10.0):
        assert np.isclose(np.max(ms * uu - gstar), BS.phi_even(uu), rtol=1e-6, atol=1e-12)


def _random_matrices(rng):
    yield rng.standard_normal((5, 7))
    yield rng.standard_normal((6, 2)) @ rng.standard_normal((2, 9))  # low rank
    yield np.diag(rng.uniform(0, 5, 6))  # concentrated: Lemma M is tight
    S = rng.standard_normal((8, 8))
    S[rng.random((8, 8)) < 0.7] = 0.0
    yield S  # sparse
    yield 10 ** rng.uniform(-3, 2) * rng.standard_normal((4, 12))


def check_majorization():
    """Step 4(a): the k largest squared entries sum to at most the k largest squared singular
    values, for every k (numerical)."""
    rng = np.random.default_rng(3)
    for _ in range(200):
        for M in _random_matrices(rng):
            e = np.sort((M * M).ravel())[::-1]
            s = np.linalg.svd(M, compute_uv=False) ** 2
            s = np.concatenate([s, np.zeros(e.size - s.size)])
            assert np.all(np.cumsum(e) <= np.cumsum(s) * (1 + 1e-12) + 1e-12)


def check_lemma_m():
    """Step 4 (numerical): sum_j g(sigma_j(Y)) <= sum_ij g(Y_ij) for g = phi_e and huber_b;
    equality for diagonal Y."""
    rng = np.random.default_rng(4)
    for _ in range(200):
        for Y in _random_matrices(rng):
            sv = np.linalg.svd(Y, compute_uv=False)
            assert BS.phi_even(sv).sum() <= BS.phi_even(np.abs(Y)).sum() * (1 + 1e-12) + 1e-14
            bb = 10 ** rng.uniform(-2, 1)
            hub = lambda v, bb=bb: np.where(v <= bb / 2, v * v, bb * v - bb * bb / 4)  # noqa: E731
            assert hub(sv).sum() <= hub(np.abs(Y)).sum() * (1 + 1e-12) + 1e-14
    D = np.diag([3.0, 1.0, 0.2])
    assert np.isclose(
        BS.phi_even(np.linalg.svd(D, compute_uv=False)).sum(), BS.phi_even(np.abs(D)).sum()
    )


def check_projections_remove_partition_and_bias():
    """Step 5 (numerical): Q_t removes diag(s) c 1^T diag(t); P_s removes diag(s) 1 b^T
    diag(t); the projected block of a rank-d head's log-probabilities has rank <= d."""
    rng = np.random.default_rng(5)
    for bias in (False, True):
        for _ in range(50):
            m, n, d = rng.integers(3, 9), rng.integers(4, 12), int(rng.integers(1, 3))
            s, t = rng.uniform(0.1, 2, m), rng.uniform(0.1, 2, n)
            H, W = rng.standard_normal((m, d)), rng.standard_normal((n, d))
            Z = H @ W.T + (rng.standard_normal(n) if bias else 0.0)
            logq = Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))  # Z - c 1^T
            M = BS.projected_block(logq, s, t, bias)
            sv = np.linalg.svd(M, compute_uv=False)
            assert np.all(sv[d:] <= 1e-10 * max(1.0, sv[0]))
            c = rng.standard_normal(m)
            col = BS.projected_block(np.outer(c, np.ones(n)), s, t, False)
            assert np.allclose(col, 0, atol=1e-12)
            row = BS.projected_block(np.outer(np.ones(m), rng.standard_normal(n)), s, t, True)
            assert np.allclose(row, 0, atol=1e-12)


def check_weyl_and_projections():
    """Step 6 (numerical): sigma_j(P Y Q) <= sigma_j(Y) for orthogonal projections, and
    sigma_j(M - B) >= sigma_{d+j}(B) for rank(M) <= d."""
    rng = np.random.default_rng(6)
    for _ in range(300):
        m, n, d = rng.integers(3, 9), rng.integers(3, 9), int(rng.integers(0, 3))
        Y = rng.standard_normal((m, n))
        a, c = rng.standard_normal(m), rng.standard_normal(n)
        P = np.eye(m) - np.outer(a, a) / (a @ a)
        Q = np.eye(n) - np.outer(c, c) / (c @ c)
        s0, s1 = (np.linalg.svd(X, compute_uv=False) for X in (Y, P @ Y @ Q))
        assert np.all(s1 <= s0 + 1e-12)
        B = rng.standard_normal((m, n))
        M = rng.standard_normal((m, d)) @ rng.standard_normal((d, n))
        sb, sy = (np.linalg.svd(X, compute_uv=False) for X in (B, M - B))
        k = min(m, n) - d
        assert np.all(sy[:k] >= sb[d : d + k] - 1e-12)


def check_huber_dominates_proposal():
    """Corollary B': sum_{j<=k} huber_b(beta_j) >= k huber_b(K_k/k) = huber(K_k; 1, b, k)."""
    K, k = sp.symbols("K k", positive=True)
    inner = b * (K / k) - b**2 / 4  # linear branch of huber_b at K/k
    assert sp.simplify(k * inner - (b * K - b**2 * k / 4)) == 0
    assert sp.simplify(k * (K / k) ** 2 - K**2 / k) == 0
    rng = np.random.default_rng(7)
    for _ in range(500):
        beta = np.sort(10 ** rng.uniform(-2, 2, rng.integers(1, 12)))[::-1]
        bb = 10 ** rng.uniform(-2, 2)
        per_value = BS.theorem_b_huber(beta, 0, bb)
        Kk = np.cumsum(beta)
        ks = np.arange(1, beta.size + 1)
        proposal = np.where(Kk <= bb * ks / 2, Kk**2 / ks, bb * Kk - bb**2 * ks / 4)
        assert per_value >= proposal.max() * (1 - 1e-12)


def _v3_d1_optimum(P, w):
    """Brute force G*(1) for V = 3 without bias: Z = h u^T, u on the half circle of centred
    directions; each row's h by a 1-D convex minimisation; the angle on a fine grid, refined."""
    basis = np.array([[1, -1, 0], [1, 1, -2]], float)
    basis /= np.linalg.norm(basis, axis=1, keepdims=True)

    def gap(theta):
        direction = np.cos(theta) * basis[0] + np.sin(theta) * basis[1]
        total = 0.0
        for p, wi in zip(P, w):

            def kl(h, p=p):
                q = softmax(h * direction)
                return float(np.sum(p * (np.log(p) - np.log(q))))

            total += (
                wi
                * minimize_scalar(
                    kl, bounds=(-60, 60), method="bounded", options={"xatol": 1e-10}
                ).fun
            )
        return total

    thetas = np.linspace(0, np.pi, 181)
    vals = [gap(th) for th in thetas]
    i = int(np.argmin(vals))
    res = minimize_scalar(
        gap,
        bounds=(thetas[max(i - 1, 0)], thetas[min(i + 1, 180)]),
        method="bounded",
        options={"xatol": 1e-9},
    )
    return min(res.fun, min(vals))


def check_theorem_b_below_optimum():
    """Step 7 (numerical): the certified bound is below the V = 3 brute-force optimum at
    d = 1 and below the solver's gap (an explicit head) on small targets with and without
    bias, with zeros, and at every d."""
    rng = np.random.default_rng(8)
    for _ in range(6):
        n = int(rng.integers(2, 6))
        P = softmax(rng.standard_normal((n, 3)) * rng.choice([0.5, 2.0, 5.0]))
        w = rng.dirichlet(np.ones(n))
        target = bn.Target.from_probs(P, weights=w)
        cert = search_theorem_b(target, 1, budget_seconds=0.5)
        value = BS.verify_theorem_b(target, 1, cert)
        assert value <= _v3_d1_optimum(P, w) * (1 + 1e-7) + 1e-12
    for bias in (False, True):
        for zeros in (False, True):
            Z = rng.standard_normal((12, 15)) * 3.0
            P = softmax(Z)
            if zeros:
                P[rng.random(P.shape) < 0.2] = 0.0
                P[np.arange(12), Z.argmax(axis=1)] += 1e-3
                P /= P.sum(axis=1, keepdims=True)
            target = bn.Target.from_probs(P, weights=rng.dirichlet(np.ones(12)), bias=bias)
            for d in (1, 3):
                cert = search_theorem_b(target, d, budget_seconds=0.5)
                value = BS.verify_theorem_b(target, d, cert)
                gap = bn.solve(target, d, n_starts=3).gap
                assert value <= gap * (1 + 1e-7) + 1e-12
