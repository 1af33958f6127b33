"""Target: construction, validation (bad input), losses against hand-computed values, the
sparse and factored storages against dense twins, and its interface for derived quantities."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from scipy import sparse

import bottleneck as bn

from .oracles import kl
from .strategies import bounded_matrices


# ------------------------------------------------------------------ exact small cases
def test_entropy_and_gap_by_hand():
    P = np.array([[0.8, 0.2], [0.5, 0.5]])
    t = bn.Target.from_probs(P, weights=[0.25, 0.75])
    H = 0.25 * -(0.8 * math.log(0.8) + 0.2 * math.log(0.2)) + 0.75 * math.log(2)
    assert t.entropy() == pytest.approx(H, rel=1e-14)
    Z = np.zeros((2, 2))  # uniform predictions
    G = 0.25 * kl([0.8, 0.2], [0.5, 0.5])
    assert t.gap(Z) == pytest.approx(G, rel=1e-13)
    assert t.loss(Z) == pytest.approx(math.log(2), rel=1e-13)  # CE against uniform = ln 2


def test_gap_zero_at_log_probs_and_shift_invariant():
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((4, 6))
    t = bn.Target.from_logits(Z)
    assert t.gap(Z) == pytest.approx(0.0, abs=1e-15)
    assert t.gap(Z + 7.0) == pytest.approx(0.0, abs=1e-14)  # softmax ignores constant shifts
    assert t.gap(Z + rng.standard_normal((4, 1))) == pytest.approx(0.0, abs=1e-14)


def test_zeros_read_only_support():
    P = np.array([[0.0, 0.5, 0.5]])
    t = bn.Target.from_probs(P)
    assert not t.has_full_support
    Z = np.array([[-1000.0, 0.0, 0.0]])  # q puts ~0 on the zero token
    assert t.gap(Z) == pytest.approx(0.0, abs=1e-15)
    assert t.entropy() == pytest.approx(math.log(2), rel=1e-15)
    with pytest.raises(ValueError, match=r"full support.*P\[0, 0\] = 0"):
        t.centred_log_probs()


def test_centred_log_probs_and_bias_centring():
    P = np.array([[0.5, 0.25, 0.25], [0.25, 0.25, 0.5]])
    t = bn.Target.from_probs(P, weights=[0.5, 0.5])
    L = np.log(P)
    A = L - L.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(t.centred_log_probs(), A, rtol=0, atol=1e-15)
    At = bn.Target.from_probs(P, weights=[0.5, 0.5], bias=True).centred_log_probs()
    np.testing.assert_allclose(At, A - A.mean(axis=0), rtol=0, atol=1e-15)


def test_from_logits_keeps_exact_log_probs_down_to_underflow():
    t = bn.Target.from_logits(np.array([[0.0, -700.0, 1.0]]))
    assert t.has_full_support and t.min_probs()[0] > 0
    assert t.log_probs[0, 1] == pytest.approx(-701.0 - math.log1p(math.exp(-1.0)), rel=1e-15)


@pytest.mark.parametrize("storage", ["dense", "factored"])
def test_underflowing_probabilities_are_zeros_consistently(storage):
    """A logit 800 below its row's maximum gives p = 0 in float64: the target has a zero
    there (log_probs -inf, no full support), and bounds take the with-zeros path."""
    Z = np.array([[0.0, -800.0, 1.0], [0.5, 0.0, -0.5], [1.0, 2.0, 0.0]])
    if storage == "dense":
        t = bn.Target.from_logits(Z)
    else:
        t = bn.Target.from_factors(Z, np.eye(3))
    assert not t.has_full_support and t.min_probs()[0] == 0.0
    assert t.log_probs[0, 1] == -np.inf and np.isfinite(t.log_probs[1:]).all()
    np.testing.assert_array_equal(t.support().toarray()[0], [1, 0, 1])
    s = bn.bounds(t, 1)
    assert 0.0 <= s.lower <= s.upper and np.isfinite(s.upper)
    assert s.lower <= bn.solve(t, 1, max_iter=50).gap + 1e-12


def test_restrict_chain_rule():
    P = np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])
    t = bn.Target.from_probs(P, weights=[0.4, 0.6])
    r = t.restrict([0, 1])
    np.testing.assert_allclose(r.probs, [[0.5 / 0.8, 0.3 / 0.8], [0.5, 0.5]])
    np.testing.assert_allclose(r.weights, [0.4 * 0.8, 0.6 * 0.2])
    # G(Z; P) >= G(Z_S; restricted) for any logits (Lemma R)
    Z = np.random.default_rng(1).standard_normal((2, 3))
    assert t.gap(Z) >= r.gap(Z[:, [0, 1]]) - 1e-15


def test_normalize_explicit():
    t = bn.Target.from_probs([[2.0, 2.0], [1.0, 3.0]], weights=[3.0, 1.0], normalize=True)
    np.testing.assert_allclose(t.probs, [[0.5, 0.5], [0.25, 0.75]])
    np.testing.assert_allclose(t.weights, [0.75, 0.25])


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "P, match",
    [
        ([[0.5, np.nan]], r"non-finite entry nan at row 0, column 1"),
        ([[0.5, 0.5], [np.inf, 0.0]], r"non-finite entry inf at row 1, column 0"),
        ([[1.2, -0.2]], r"negative probability -0.2 at row 0, column 1"),
        ([[0.5, 0.5], [0.5, 0.4]], r"row 1 sums to 0.9.*tolerance 1e-08.*normalize=True"),
        ([0.5, 0.5], r"2-D array.*got shape \(2,\).*P\[None, :\]"),
        (np.zeros((2, 2, 2)), r"2-D array"),
        (np.zeros((0, 3)), r"empty"),
        (np.zeros((3, 0)), r"empty"),
        ([[1.0], [1.0]], r"vocab_size >= 2"),
        ([["a", "b"]], r"numeric"),
    ],
)
def test_from_probs_rejects(P, match):
    with pytest.raises(ValueError, match=match):
        bn.Target.from_probs(P)


@pytest.mark.parametrize(
    "w, match",
    [
        ([0.5, 0.0], r"strictly positive.*weights\[1\] = 0.0"),
        ([1.5, -0.5], r"strictly positive.*weights\[1\] = -0.5"),
        ([0.5, np.nan], r"non-finite.*index 1"),
        ([1.0], r"shape \(2,\)"),
        ([0.3, 0.3], r"sum to 0.6.*normalize=True"),
    ],
)
def test_weights_rejected(w, match):
    with pytest.raises(ValueError, match=match):
        bn.Target.from_probs([[0.5, 0.5], [0.5, 0.5]], weights=w)


def test_from_logits_rejects_nonfinite():
    with pytest.raises(ValueError, match=r"Z has a non-finite entry .* row 0, column 1"):
        bn.Target.from_logits([[0.0, np.inf]])


def test_gap_rejects_bad_logits():
    t = bn.Target.from_probs([[0.5, 0.5]])
    with pytest.raises(ValueError, match=r"shape \(1, 2\)"):
        t.gap(np.zeros((1, 3)))
    with pytest.raises(ValueError, match=r"non-finite"):
        t.gap([[0.0, np.nan]])


def test_no_silent_renormalisation():
    P = np.array([[0.6, 0.6]])
    with pytest.raises(ValueError, match="sums to 1.2"):
        bn.Target.from_probs(P)
    assert np.all(P == 0.6)  # input untouched


# ------------------------------------------------------------------ storages
def test_factored_target_rows_and_helpers_match_dense():
    rng = np.random.default_rng(0)
    X, W, b = rng.standard_normal((40, 5)), rng.standard_normal((30, 5)), rng.standard_normal(30)
    t = bn.Target.from_factors(X, W, b)
    ref = bn.Target.from_logits(X @ W.T + b)
    np.testing.assert_allclose(t.probs, ref.probs, rtol=1e-13)
    assert t.entropy() == pytest.approx(ref.entropy(), rel=1e-13)
    np.testing.assert_allclose(t.mean_probs(), ref.mean_probs(), rtol=1e-13)
    np.testing.assert_allclose(t.min_probs(), ref.min_probs(), rtol=1e-13)
    S = [3, 7, 11, 20]
    r1, r2 = t.restrict(S), ref.restrict(S)
    np.testing.assert_allclose(r1.probs, r2.probs, rtol=1e-13)
    np.testing.assert_allclose(r1.weights, r2.weights, rtol=1e-13)
    H, Wh = rng.standard_normal((40, 3)), rng.standard_normal((30, 3))
    assert t.gap_factors(H, Wh, b) == pytest.approx(ref.gap(H @ Wh.T + b), rel=1e-12)
    with pytest.raises(ValueError, match="only sparse"):
        _ = t.sparse_probs


def test_factored_columns_match_the_rows_without_a_pass():
    rng = np.random.default_rng(1)
    X, W = rng.standard_normal((9, 4)) * 200, rng.standard_normal((50, 4))  # p underflows
    t = bn.Target.from_factors(X, W, rng.standard_normal(50))
    S = [0, 5, 5, 49, 17]
    P, L = t.columns(S)
    for sl, p, logp in t.iter_rows(chunk_size=4):  # the generic path, block by block
        np.testing.assert_allclose(P[sl], p[:, S], rtol=1e-12, atol=0)
        assert np.array_equal(np.isneginf(L[sl]), np.isneginf(logp[:, S]))
        np.testing.assert_allclose(L[sl], logp[:, S], rtol=1e-12, atol=1e-12)
    low = np.concatenate([p.min(axis=1) for _, p, _ in t.iter_rows(chunk_size=4)])
    assert np.array_equal(t.min_probs(), low) and (low == 0).any() and not t.has_full_support
    assert t.mean_probs() is not t.mean_probs()  # a cached value, handed out as copies


def test_sparse_target_matches_dense_and_validates():
    rng = np.random.default_rng(1)
    C = sparse.random(30, 12, density=0.3, random_state=2, format="csr") * 10
    C = C + sparse.csr_matrix(
        (np.ones(30), (np.arange(30), rng.integers(0, 12, 30))), shape=(30, 12)
    )
    t = bn.Target.from_sparse(C, normalize=True)
    dense = np.asarray(C.todense())
    ref = (
        bn.Target.from_probs(
            dense / dense.sum(axis=1, keepdims=True),
            weights=dense.sum(axis=1) / dense.sum(),
            normalize=False,
        )
        if False
        else bn.Target.from_probs(dense, normalize=True)
    )
    assert t.storage == "sparse" and not t.has_full_support
    np.testing.assert_allclose(t.probs, ref.probs, rtol=1e-14)
    assert t.entropy() == pytest.approx(ref.entropy(), rel=1e-13)
    Z = rng.standard_normal((30, 12))
    assert t.gap(Z) == pytest.approx(ref.gap(Z), rel=1e-13)
    for d in (1, 4):
        a, b = bn.bounds(t, d), bn.bounds(ref, d)
        assert a.lower == pytest.approx(b.lower, rel=1e-10, abs=1e-15) and a.upper == pytest.approx(
            b.upper, rel=1e-10
        )
        sol = bn.solve(
            t, d, max_iter=30, max_seconds=10
        )  # zeros: not attained; a certified upper bound
        assert a.lower <= sol.gap + 1e-12
    with pytest.raises(ValueError, match="sums to"):
        bn.Target.from_sparse(C)
    bad = C.copy()
    bad.data[0] = -1.0
    with pytest.raises(ValueError, match="negative probability"):
        bn.Target.from_sparse(bad, normalize=True)
    with pytest.raises(ValueError, match="scipy.sparse"):
        bn.Target.from_sparse(dense)


def test_dense_limit_guard(monkeypatch):
    from bottleneck import target as T

    monkeypatch.setattr(T, "DENSE_LIMIT", 100)
    t = bn.Target.from_factors(np.ones((20, 2)), np.eye(10, 2))
    with pytest.raises(ValueError, match="DENSE_LIMIT"):
        _ = t.probs
    assert t.entropy() > 0  # chunked paths still work


def test_cached_fingerprint_and_support():
    calls = []
    t = bn.Target.from_probs([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    assert t.cached("k", lambda: calls.append(1) or 7) == 7 == t.cached("k", lambda: 8)
    assert calls == [1]
    same = bn.Target.from_probs([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    other = bn.Target.from_probs([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]], weights=[0.4, 0.6])
    assert t.fingerprint() == same.fingerprint() != other.fingerprint()
    assert t.fingerprint()["shape"] == [2, 3]
    np.testing.assert_array_equal(t.support().toarray(), [[1, 1, 0], [1, 1, 1]])
    sparse_twin = bn.Target.from_sparse(sparse.csr_matrix(np.asarray(t.probs)))
    np.testing.assert_array_equal(sparse_twin.support().toarray(), t.support().toarray())
    assert t.is_dense and not t.has_factors and not sparse_twin.is_dense
    f = bn.Target.from_factors(np.eye(3, 2), np.eye(4, 2))
    assert f.has_factors and not f.is_dense and f.support().toarray().all()


@settings(max_examples=25)
@given(Z=bounded_matrices(min_columns=2))
def test_logits_are_their_own_optimum(Z):
    """``G(log P) = 0`` and the gap ignores per-row shifts of the logits, for any finite logits."""
    t = bn.Target.from_logits(Z)
    assert t.gap(Z) == pytest.approx(0.0, abs=1e-13)
    assert t.gap(Z - Z[:, :1]) == pytest.approx(0.0, abs=1e-12)
    assert t.entropy() >= -1e-15


# ------------------------------------------------------------------ targets own their data
def test_changing_the_callers_arrays_changes_no_target():
    """Every constructor keeps its own read-only copy: writing into the arrays passed in
    afterwards changes neither the target's numbers nor a cached spectrum or bound."""
    rng = np.random.default_rng(3)
    P = rng.dirichlet(np.ones(6), size=5)
    Z = rng.standard_normal((5, 6))
    X, W, b = rng.standard_normal((30, 4)), rng.standard_normal((20, 4)), rng.standard_normal(20)
    S = sparse.csr_matrix(P)
    w = np.full(5, 0.2)
    made = {
        "probs": (bn.Target.from_probs(P, weights=w), [P, w]),
        "logits": (bn.Target.from_logits(Z), [Z]),
        "sparse": (bn.Target.from_sparse(S), [S.data]),
        "factors": (bn.Target.from_factors(X, W, b), [X, W, b]),
    }
    before = {
        k: (t.entropy(), bn.bounds(t, 2).lower, t.fingerprint()) for k, (t, _) in made.items()
    }
    for _, arrays in made.values():
        for a in arrays:
            a *= 30.0
    for k, (t, _) in made.items():
        assert (t.entropy(), bn.bounds(t, 2).lower, t.fingerprint()) == before[k], k
    t = made["factors"][0]
    assert bn.bounds(t, 2).lower <= bn.solve(t, 2, max_iter=100).gap + 1e-12


def test_a_targets_arrays_are_read_only():
    t = bn.Target.from_probs([[0.5, 0.5], [0.25, 0.75]])
    f = bn.Target.from_factors(np.eye(3, 2), np.eye(4, 2))
    s = bn.Target.from_sparse(sparse.csr_matrix([[0.5, 0.5], [0.0, 1.0]]))
    for a in (t.probs, t.log_probs, t.weights, *f.factors[:2], s.sparse_probs.data):
        with pytest.raises(ValueError, match="read-only"):
            a[0] = 7.0
    s.sparse_probs.data = np.zeros(3)  # rebinds the returned matrix's array, not the target's
    assert s.entropy() == pytest.approx(math.log(2) / 2)


def test_from_sparse_leaves_the_callers_matrix_as_it_was():
    """Duplicates and explicit zeros are canonicalised on a copy, never in the caller's CSR."""
    data, indices, indptr = np.array([1.0, 1.0, 0.0, 2.0]), np.array([0, 0, 1, 1]), [0, 3, 4]
    C = sparse.csr_matrix((data, indices, indptr), shape=(2, 2))
    snapshot = (C.data.copy(), C.indices.copy(), C.indptr.copy(), C.nnz)
    t = bn.Target.from_sparse(C, normalize=True)
    np.testing.assert_allclose(t.probs, [[1.0, 0.0], [0.0, 1.0]])
    assert (C.data.tolist(), C.indices.tolist(), C.indptr.tolist(), C.nnz) == tuple(
        x.tolist() if hasattr(x, "tolist") else x for x in snapshot
    )
