"""Certified bounds: hand-computed cases, exact optima at d = 0, and property tests."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import bottleneck as bn
from bottleneck import bounds as B

from .oracles import exact_g0, le
from .strategies import logit_matrices, singular_value_arrays, targets


# ------------------------------------------------------------------ hand-computed
def test_v2_single_context_by_hand():
    # p = (0.8, 0.2): logit l = ln 4, A = (l/2, -l/2), tau_0^2 = l^2/2, and
    # exp(-sqrt(2) tau_0) = exp(-l) = 1/4 so F(tau_0) = ln2 - 3/8 exactly.
    t = bn.Target.from_probs([[0.8, 0.2]])
    s = bn.bounds(t, 0)
    l = math.log(4.0)
    G0 = 0.8 * math.log(1.6) + 0.2 * math.log(0.4)  # KL(p || uniform), the only rank-0 head
    assert s.details["U_trunc"].value == pytest.approx(G0, rel=1e-13)
    assert s.details["U_quad"].value == pytest.approx(l**2 / 8, rel=1e-13)
    assert s.details["U_osc"].value == pytest.approx(l, rel=1e-13)  # sqrt(2 * l^2/2)
    assert s.details["L_thm"].value == pytest.approx(0.2 * (math.log(2) - 3 / 8), rel=1e-12)
    assert le(s.lower, G0) and le(G0, s.upper)
    assert s.entropy == pytest.approx(-(0.8 * math.log(0.8) + 0.2 * math.log(0.2)), rel=1e-14)
    # d = 1 >= rank(A) = 1: everything is exactly zero
    s1 = bn.bounds(t, 1)
    assert s1.lower == s1.upper == 0.0


def test_rank_one_target_by_hand():
    # a_i = c_i * v with v centred: rank 1, so G*(1) = 0 and G*(0) = sum pi KL(p_i || u)
    v = np.array([1.0, -2.0, 1.0])
    Z = np.outer([0.5, 1.0, -1.5], v)
    t = bn.Target.from_logits(Z, weights=[0.2, 0.3, 0.5])
    s1 = bn.bounds(t, 1)
    assert s1.lower == s1.upper == 0.0
    s0 = bn.bounds(t, 0)
    assert s0.details["U_trunc"].value == pytest.approx(exact_g0(t), rel=1e-12)
    A_pi = np.sqrt(t.weights)[:, None] * Z
    assert s0.details["U_quad"].value == pytest.approx(np.sum(A_pi**2) / 4, rel=1e-13)


def test_bias_d0_is_mutual_information():
    P = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    t = bn.Target.from_probs(P, weights=[0.5, 0.5], bias=True)
    s = bn.bounds(t, 0)
    mi = exact_g0(t)
    assert le(s.lower, mi) and le(mi, s.upper)
    assert bn.bounds(t, 1).upper == 0.0  # rank(Ã) <= N - 1 = 1


def test_segment_function_limits():
    x = np.array([1e-8, 1e-4, 1e-2])
    np.testing.assert_allclose(
        B.segment_function(x), x**2 / 2 - math.sqrt(2) * x**3 / 6 + x**4 / 12, rtol=1e-6
    )
    big = 1e6
    assert B.segment_function(big) == pytest.approx(big / math.sqrt(2) - 0.5, rel=1e-15)
    with pytest.raises(ValueError):
        B.segment_function(-1.0)


def test_theorem_l_s_equals_one_is_the_supremum():
    # docs/theory.md writes sup over s in (0,1]; F(x)/x increasing makes s = 1 optimal.
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = rng.integers(1, 6)
        w = rng.dirichlet(np.ones(n))
        m = rng.uniform(1e-4, 0.5, n)
        T = 10 ** rng.uniform(-4, 2)
        at1 = B.theorem_l(T, w, m)
        for s in np.linspace(0.01, 1, 50):
            val = np.min(w * m * B.segment_function(s * np.sqrt(T) / np.sqrt(w))) / s
            assert val <= at1 * (1 + 1e-12)


def test_theorem_p_forms():
    s = np.array([3.0, 2.0, 1.0, 0.5])
    assert B.theorem_p_operator(s, 1, 2.0) == pytest.approx(math.sqrt(2) * 2.0 * 2.0)
    assert B.theorem_p_paper(s, 1, 2.0) == pytest.approx(2 * 2.0 * math.sqrt(4 + 1 + 0.25))
    assert B.theorem_p_operator(s, 4, 2.0) == 0.0
    for d in range(5):  # the operator form is never weaker than the paper's form
        assert B.theorem_p_operator(s, d, 1.0) <= B.theorem_p_paper(s, d, 1.0)
    assert B.theorem_p_representation(4.0) == pytest.approx(2 * math.sqrt(2))
    assert B.theorem_p_representation(4.0, teacher=True) == pytest.approx(1.0)


def test_bounds_from_spectrum_matches_bounds():
    t, sigma = bn.targets.synthetic(30, 20, "power", decay=1.0, scale=3.0, seed=2)
    d = 4
    full = bn.bounds(t, d)
    m = t.probs.min(axis=1)
    sp = bn.bounds_from_spectrum(sigma, d, weights=t.weights, min_probs=m)
    for name in ("U_quad", "U_osc", "L_thm"):
        assert sp.details[name].value == pytest.approx(full.details[name].value, rel=1e-10)
    top = bn.bounds_from_spectrum(sigma[: d + 1], d, frobenius_sq=float(np.sum(sigma**2)))
    assert top.upper == pytest.approx(sp.upper, rel=1e-10)
    assert top.lower == 0.0 and "L_trivial" in top.details
    with pytest.raises(ValueError, match="frobenius_sq is smaller"):
        bn.bounds_from_spectrum(sigma, d, frobenius_sq=1e-3)


@pytest.mark.parametrize("d", [-1, 2.0, "1", None])
def test_bounds_rejects_bad_d(d):
    t = bn.Target.from_probs([[0.5, 0.5]])
    with pytest.raises(ValueError, match="d must be"):
        bn.bounds(t, d)


def test_bounds_rejects_non_target():
    with pytest.raises(ValueError, match="bottleneck.Target"):
        bn.bounds(np.eye(2) / 1.0, 1)


# ------------------------------------------------------------------ properties
@given(t=targets(), d=st.integers(0, 9))
def test_sandwich_ordering(t, d):
    s = bn.bounds(t, d)
    assert s.lower >= 0.0
    assert le(s.lower, s.upper)
    trunc = s.details["U_trunc"].value
    for b in s.details.values():
        if b.kind == "upper":
            assert le(trunc, b.value), (b.name, b.value, trunc)  # every certified upper >= U_trunc
        if b.kind == "lower":
            assert le(b.value, trunc), (b.name, b.value, trunc)
    if d == 0:
        g0 = exact_g0(t)
        assert le(s.lower, g0) and le(g0, s.upper)
        if not t.bias:  # rank 0 without bias: Z = 0 is the only head, so U_trunc is the optimum
            assert trunc == pytest.approx(g0, rel=1e-9, abs=1e-13)


@given(t=targets(zeros=True), d=st.integers(0, 9))
def test_sandwich_ordering_with_zeros(t, d):
    s = bn.bounds(t, d)
    assert le(s.lower, s.upper)
    if d == 0:
        g0 = exact_g0(t)
        assert le(s.lower, g0) and le(g0, s.upper)


@given(t=targets(), d=st.integers(0, 6), data=st.data())
def test_lower_bound_below_every_rank_d_head(t, d, data):
    """Theorem L and Lemma R against random heads of rank d (any head's gap is >= G*(d))."""
    s = bn.bounds(t, d)
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    A = bn.spectrum.centred_log_prob_matrix(t, weighted=False)
    Z0 = B.truncated_svd_head(t, d)[0]
    for scale in (0.0, 1e-3, 0.1, 1.0):
        H = rng.standard_normal((t.n_contexts, d))
        W = rng.standard_normal((t.vocab_size, d))
        Z = Z0 + scale * (H @ W.T) * np.sqrt(np.mean(A**2) + 1e-300)
        if t.bias:
            Z = Z + rng.standard_normal(t.vocab_size) * scale
        assert le(s.lower, t.gap(Z))


@given(n=st.integers(1, 6), v=st.integers(2, 7), data=st.data())
def test_zero_at_or_above_rank(n, v, data):
    bias = data.draw(st.booleans())
    max_rank = min(n - int(bias), v - 1)
    r = data.draw(st.integers(0, max_rank))
    t, _ = bn.targets.synthetic(
        n,
        v,
        data.draw(st.sampled_from(["power", "exponential", "step"])),
        scale=data.draw(st.sampled_from([0.1, 1.0, 8.0])),
        rank=r,
        weights=data.draw(st.sampled_from(["uniform", "zipf"])),
        seed=data.draw(st.integers(0, 99)),
        bias=bias,
    )
    for d in range(r, r + 3):
        s = bn.bounds(t, d)
        assert s.lower == 0.0 and s.upper == 0.0, (d, r, s)
    if r > 0:
        assert bn.bounds(t, r - 1).upper > 0.0


@given(t=targets(), d=st.integers(0, 6), data=st.data())
def test_invariant_under_permutations(t, d, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    rows, cols = rng.permutation(t.n_contexts), rng.permutation(t.vocab_size)
    tp = bn.Target.from_probs(
        np.array(t.probs)[rows][:, cols], weights=t.weights[rows], bias=t.bias
    )
    a, b = bn.bounds(t, d), bn.bounds(tp, d)
    for name in a.details:
        if name in ("L_restricted", "L_B"):
            # searches: Lemma R's subsets follow pbar ranks (ties may reorder them); Theorem B's
            # tilings follow index order on ties and draw random permutations of the indices
            continue
        assert b.details[name].value == pytest.approx(a.details[name].value, rel=1e-7, abs=1e-12), (
            name
        )
    assert b.entropy == pytest.approx(a.entropy, rel=1e-12, abs=1e-15)


@given(t=targets(), d=st.integers(0, 8))
def test_monotone_in_d(t, d):
    a, b = bn.bounds(t, d), bn.bounds(t, d + 1)
    for name in ("U_quad", "U_osc", "L_thm"):
        assert le(b.details[name].value, a.details[name].value)


@given(M=logit_matrices(), d=st.integers(0, 8), w=st.data())
def test_u_closed_forms_are_functions_of_the_tail(M, d, w):
    T = bn.spectrum.tail_energy_of_matrix(M, d)
    assert B.theorem_u(T) == pytest.approx(min(T / 4, math.sqrt(2 * T)), rel=1e-15)
    assert B.estimate_e1(T) == pytest.approx(T / 2, rel=1e-15)


@given(s=singular_value_arrays(), d=st.integers(0, 12))
def test_bounds_from_any_spectrum_are_ordered_and_monotone(s, d):
    """For any spectrum: Theorem U's closed forms of its tail, lower <= upper, monotone in d."""
    T = float(np.sum(np.sort(s)[::-1][d:] ** 2))
    a, b = bn.bounds_from_spectrum(s, d), bn.bounds_from_spectrum(s, d + 1)
    assert a.details["U_quad"].value == pytest.approx(T / 4, rel=1e-12, abs=1e-300)
    assert a.lower == 0.0 <= a.upper and b.upper <= a.upper * (1 + 1e-12)
    w = np.full(3, 1 / 3)
    with_l = bn.bounds_from_spectrum(s, d, weights=w, min_probs=np.full(3, 0.1))
    assert le(with_l.lower, with_l.upper)


@given(
    s=singular_value_arrays(),
    d=st.integers(0, 12),
    m=st.floats(1e-12, 0.5),
    w=st.lists(st.floats(1e-6, 1.0), min_size=1, max_size=4),
)
def test_consistent_constants_never_put_the_lower_bound_above_the_upper(s, d, m, w):
    """``min_probs <= 1/2`` (any V >= 2) and weights summing to at most 1, as for every
    target: Theorem L stays below Theorem U whatever the spectrum."""
    w = np.asarray(w) / max(1.0, float(np.sum(w)))
    out = bn.bounds_from_spectrum(s, d, weights=w, min_probs=np.full(w.size, m))
    assert np.isfinite(out.lower) and le(out.lower, out.upper)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(weights=[1.0], min_probs=[1.0]), r"min_probs\[0\] = 1.0 > 1/V"),
        (dict(weights=[1.0], min_probs=[0.3], vocab_size=4), r"> 1/V = 0.25: .*vocab_size = 4"),
        (dict(weights=[10.0], min_probs=[0.5]), r"weights sum to 10.0 > 1"),
        (dict(weights=[1.0], min_probs=[0.5], bias="no"), r"bias must be True or False"),
        (dict(weights=[1.0], min_probs=[0.5], vocab_size=2.0), r"vocab_size must be an integer"),
    ],
)
def test_bounds_from_spectrum_rejects_constants_no_target_has(kwargs, match):
    """Such constants put Theorem L above Theorem U: ``min_probs=[1.0]`` gave lower
    4.98e-5 > upper 2.5e-5 here, ``weights=[100]`` lower 151.8 > upper 70.7 for the spectrum
    (100, 50)."""
    with pytest.raises(ValueError, match=match):
        bn.bounds_from_spectrum([1.0, 0.01], 1, **kwargs)


def test_bounds_rejects_solver_values_of_another_problem():
    t, _ = bn.targets.synthetic(8, 6, "power", decay=0.7, scale=3.0, seed=1)
    other, _ = bn.targets.synthetic(9, 6, "power", decay=0.7, scale=3.0, seed=1)
    sol2 = bn.solve(t, 2, max_iter=20)
    assert bn.bounds(t, 3, solution=sol2).details["solver"].value == sol2.gap  # rank 2 <= 3
    with pytest.raises(ValueError, match=r"rank d = 2 > 1"):
        bn.bounds(t, 1, solution=sol2)
    with pytest.raises(ValueError, match="another target"):
        bn.bounds(other, 2, solution=sol2)
    with_bias = bn.solve(t, 2, bias=True, max_iter=20)
    with pytest.raises(ValueError, match="bias row"):
        bn.bounds(t, 2, solution=with_bias)
    assert bn.bounds(t.with_bias(True), 2, solution=with_bias).upper <= with_bias.gap
    for bad, error in [(float("nan"), ValueError), ("0.1", TypeError), (-1.0, ValueError)]:
        with pytest.raises(error, match="fisher_estimate"):
            bn.bounds(t, 2, fisher_estimate=bad)
    with pytest.raises(TypeError, match="solution must be a Solution"):
        bn.bounds(t, 2, solution=0.1)
    with pytest.raises(TypeError, match="solve must be True or False"):
        bn.bounds(t, 2, solve="False")
