"""Top-k singular values and tail energies against a full numpy SVD (the oracle), for dense,
sparse and factored matrices."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

import bottleneck as bn
from bottleneck import spectrum
from bottleneck import spectrum as sp

from .strategies import bounded_matrices, logit_matrices, targets


def full_tail(M, d):
    s = np.linalg.svd(M, compute_uv=False)
    return float(np.sum(s[d:] ** 2))


@given(M=logit_matrices(), d=st.integers(0, 9))
def test_tail_energy_equals_full_svd_tail(M, d):
    T = sp.tail_energy_of_matrix(M, d)
    ref = full_tail(M, d)
    s1 = np.linalg.norm(M, 2) if M.size else 0.0
    # values under the numerical-rank tolerance are zeroed: allow that much, in squares
    tol = 1e-12 * max(ref, 1e-300) + (max(M.shape) * np.finfo(float).eps * s1) ** 2 * min(M.shape)
    assert abs(T - ref) <= tol + 1e-13 * s1**2


@given(t=targets(), d=st.integers(0, 9))
def test_target_tail_energy_matches_dense_svd(t, d):
    A = bn.spectrum.centred_log_prob_matrix(t)
    assert bn.tail_energy(t, d) == pytest.approx(
        full_tail(A, d), rel=1e-9, abs=1e-12 * max(1.0, np.sum(A**2))
    )


@pytest.mark.parametrize("method", ["lanczos", "randomized"])
@pytest.mark.parametrize("spectrum", ["power", "exponential", "step"])
def test_methods_agree_with_exact(method, spectrum):
    # ARPACK converges to machine precision; the randomized range finder (8 power
    # iterations, max(20, k) oversamples) is held to the 1e-6 relative tolerance it documents.
    t, _ = bn.targets.synthetic(
        300,
        700,
        spectrum,
        decay=0.7 if spectrum != "exponential" else 0.05,
        scale=5.0,
        rank=200,
        seed=3,
    )
    A = bn.spectrum.centred_log_prob_matrix(t)
    exact = sp.top_singular_values(A, 31, method="exact")
    other = sp.top_singular_values(A, 31, method=method)
    rtol = 1e-10 if method == "lanczos" else 1e-6
    if spectrum == "step":  # a flat spectrum has no gap: only the tail is well defined
        assert other.tail(30) == pytest.approx(exact.tail(30), rel=rtol)
        return
    np.testing.assert_allclose(other.values, exact.values, rtol=rtol)
    assert other.tail(30) == pytest.approx(exact.tail(30), rel=rtol)


def test_lanczos_falls_back_to_exact_where_arpack_fails():
    """ARPACK stops with "starting vector is zero" on M = 0 (the centred log-probabilities of
    a uniform target, which the solver's Lanczos start meets at d = 0)."""
    U, s, Vt = sp.truncated_svd(np.zeros((8, 9)), 1, method="lanczos")
    assert U.shape == (8, 1) and Vt.shape == (1, 9) and s.tolist() == [0.0]
    t = bn.Target.from_probs(np.full((4, 4), 0.25))
    assert bn.solve(t, 0).gap == pytest.approx(0.0, abs=1e-15)


def test_tail_is_exactly_zero_at_rank():
    t, _ = bn.targets.synthetic(30, 40, "power", rank=5, seed=0)
    A = bn.spectrum.centred_log_prob_matrix(t)
    for method in ("exact", "lanczos", "randomized"):
        assert sp.top_singular_values(A, 6, method=method).tail(5) == 0.0
        assert sp.top_singular_values(A, 6, method=method).tail(4) > 0.0


def test_tail_from_top_floor_and_zero():
    assert sp.tail_from_top([3.0, 2.0, 1.0], 14.0, 1) == pytest.approx(5.0)
    # cancellation guard: Frobenius slightly underestimated -> floor at sigma_{d+1}^2
    assert sp.tail_from_top([3.0, 2.0], 13.0 - 1e-9, 1) == pytest.approx(4.0)
    assert sp.tail_from_top([3.0, 0.0], 9.0, 1) == 0.0
    assert sp.tail_from_top([3.0], 9.0, 5, max_rank=2) == 0.0
    with pytest.raises(ValueError, match="at least d = 2"):
        sp.tail_from_top([3.0], 9.0, 2)


def test_w_error_properties():
    M = np.diag([3.0, 2.0, 1.0])
    assert sp.w_error(M, 0) == pytest.approx(1.0)
    assert sp.w_error(M, 1) == pytest.approx(np.sqrt(5 / 14))
    assert sp.w_error(M, 3) == 0.0
    with pytest.raises(ValueError, match="zero matrix"):
        sp.w_error(np.zeros((2, 2)), 1)


def test_truncated_svd_reconstructs():
    rng = np.random.default_rng(0)
    M = rng.standard_normal((20, 30))
    for method in ("exact", "lanczos", "randomized"):
        U, s, Vt = sp.truncated_svd(M, 20, method=method)
        np.testing.assert_allclose((U * s) @ Vt, M, atol=1e-8)


@pytest.mark.parametrize("bad", [-1, 1.5, 2.0, "3", None, True])
def test_rank_argument_rejected(bad):
    with pytest.raises(ValueError, match="d must be"):
        sp.tail_energy_of_matrix(np.eye(3), bad)


def test_unknown_method_rejected():
    with pytest.raises(ValueError, match="method must be one of"):
        sp.top_singular_values(np.eye(3), 1, method="qr")


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 30),
    v=st.integers(2, 25),
    D=st.integers(1, 8),
    seed=st.integers(0, 2**31 - 1),
    scale=st.floats(0.1, 5.0),
    head_bias=st.booleans(),
    bias=st.booleans(),
    zipf=st.booleans(),
)
def test_factored_spectrum_equals_dense(n, v, D, seed, scale, head_bias, bias, zipf):
    rng = np.random.default_rng(seed)
    X = scale * rng.standard_normal((n, D))
    W = rng.standard_normal((v, D))
    b = rng.standard_normal(v) if head_bias else None
    w = 1.0 / np.arange(1, n + 1) if zipf else np.ones(n)
    t = bn.Target.from_factors(X, W, b, weights=w / w.sum(), bias=bias)
    ref = bn.Target.from_logits(X @ W.T + (0 if b is None else b), weights=w / w.sum(), bias=bias)
    fs = spectrum.factored_spectrum(t).values
    ds = spectrum.centred_log_prob_spectrum(ref).values
    top = max(ds[0], 1e-300)
    np.testing.assert_allclose(fs, ds[: fs.size], rtol=0, atol=1e-8 * top + 1e-13)
    assert np.all(ds[fs.size :] <= 1e-8 * top + 1e-13)
    for d in range(0, min(n, v) + 1):
        assert spectrum.tail_energy(t, d) == pytest.approx(
            spectrum.tail_energy(ref, d), rel=1e-8, abs=1e-12 * top**2 + 1e-24
        )


def test_w_error_curve_sparse_equals_dense():
    M = sparse.random(80, 700, density=0.05, random_state=3, format="csr")
    dense = M.toarray()
    ds = [0, 1, 5, 20, 79, 80, 100]
    s = np.linalg.svd(dense, compute_uv=False)
    ref = [math.sqrt(max(np.sum(s[d:] ** 2), 0) / np.sum(s**2)) for d in ds]
    np.testing.assert_allclose(spectrum.w_error_curve(M, ds), ref, atol=1e-10)
    np.testing.assert_allclose(spectrum.w_error_curve(dense, ds), ref, atol=1e-10)
    big = sparse.random(900, 1200, density=0.01, random_state=4, format="csr")
    sb = np.linalg.svd(big.toarray(), compute_uv=False)
    np.testing.assert_allclose(
        spectrum.w_error_curve(big, [10, 40]),
        [math.sqrt(np.sum(sb[d:] ** 2) / np.sum(sb**2)) for d in (10, 40)],
        rtol=1e-8,
    )


@given(M=bounded_matrices(), d=st.integers(0, 7))
def test_tail_of_any_matrix_is_the_sum_of_its_small_squared_singular_values(M, d):
    s = np.linalg.svd(M, compute_uv=False)
    fro = float(np.sum(M * M))
    T = sp.tail_energy_of_matrix(M, d)
    assert T == pytest.approx(float(np.sum(s[d:] ** 2)), rel=1e-9, abs=1e-12 * max(fro, 1.0))
    if d < s.size:
        assert sp.tail_from_top(s[: d + 1], fro, d) >= s[d] ** 2 * (1 - 1e-12)


@pytest.mark.parametrize("scale", [1e-300, 1e-170, 1e170, 1e300])
def test_w_error_is_scale_invariant_at_extreme_scales(scale):
    """Before: 'zero matrix' at 1e-300 (||M||_F^2 underflowed), NaN at 1e300 (overflow)."""
    M = np.random.default_rng(2).standard_normal((6, 4))
    for d in range(5):
        assert bn.w_error(scale * M, d) == pytest.approx(bn.w_error(M, d), rel=1e-12, abs=1e-15)
    curve = bn.spectrum.w_error_curve(scale * M, [0, 1, 2])
    np.testing.assert_allclose(curve, bn.spectrum.w_error_curve(M, [0, 1, 2]), rtol=1e-12)
    S = sparse.csr_matrix(M)
    before = S.data.copy()
    sparse_curve = bn.spectrum.w_error_curve(scale * S, [0, 1, 2])
    np.testing.assert_allclose(sparse_curve, curve, rtol=1e-10)
    np.testing.assert_array_equal(S.data, before)
    with pytest.raises(TypeError, match="complex"):
        bn.w_error(M + 1j, 1)


@pytest.mark.parametrize("n, D", [(9000, 5), (8193, 64), (20000, 3), (100, 7)])
def test_tall_qr_is_a_qr_decomposition(n, D):
    from bottleneck.spectrum import tall_qr

    A = np.random.default_rng(n).standard_normal((n, D)) * np.logspace(0, -6, D)
    Q, R = tall_qr(A)
    assert np.allclose(R, np.triu(R)) and Q.shape == (n, D)
    assert np.abs(Q.T @ Q - np.eye(D)).max() <= 1e-13  # orthonormal to rounding
    assert np.abs(Q @ R - A).max() <= 1e-13 * np.abs(A).max()
    R_only = tall_qr(A, basis=False)
    assert R_only[0] is None
    s, s_ref = (np.linalg.svd(M, compute_uv=False) for M in (R_only[1], A))
    assert np.allclose(s, s_ref, rtol=1e-10, atol=0)  # condition 1e6: 1e-10 is ~eps kappa


def test_factored_svd_without_bases_has_the_same_values():
    from bottleneck.spectrum import factored_svd

    rng = np.random.default_rng(0)
    L, R = rng.standard_normal((30, 6)), rng.standard_normal((10000, 6))
    full, short = factored_svd(L, R), factored_svd(L, R, bases=False)
    assert short.left_basis is None and short.right_basis is None
    assert np.allclose(full.values, short.values, rtol=1e-12, atol=0)
    assert np.allclose(full.values, np.linalg.svd(L @ R.T, compute_uv=False)[:6], rtol=1e-10)
