"""W-error curves at scale (issue 23): the exact Gram path against numpy's SVD, the SLQ
estimate within its stated error, the pieces of the estimator against brute force, the
store and the cluster paths against the in-memory one."""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bottleneck as bn
from bottleneck import gram_spectrum, spectrum
from bottleneck.gram_blocks import GramBlocks


def _svd_curve(M, ds):
    dense = M.toarray() if sp.issparse(M) else np.asarray(M)
    s = np.linalg.svd(dense, compute_uv=False)
    fro = float(np.sum(dense * dense))
    return np.array([math.sqrt(max(float(np.sum(s[d:] ** 2)), 0.0) / fro) for d in ds])


@st.composite
def sparse_matrices(draw, max_rows=300, max_cols=400):
    """Random sparse non-negative matrices: sizes, densities, decaying row/column scales
    (spectra from flat to steep), empty rows and columns, duplicated (degenerate) rows."""
    n = draw(st.integers(5, max_rows))
    v = draw(st.integers(5, max_cols))
    density = draw(st.floats(0.005, 0.3))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    M = sp.random(n, v, density=density, random_state=rng, format="csr")
    decay = draw(st.floats(0.0, 2.0))
    col_scale = (1.0 + np.arange(v)) ** -decay
    M = sp.csr_matrix(M @ sp.diags(rng.permutation(col_scale)))
    if draw(st.booleans()):  # duplicated rows: repeated singular values
        k = max(1, n // 4)
        M = sp.vstack([M, M[:k]], format="csr")
    if M.nnz == 0:
        M = sp.csr_matrix(([1.0, 2.0], ([0, 1], [0, 1])), shape=M.shape)
    return M


@pytest.mark.slow
def test_exact_equals_svd_on_a_3000_x_5000_target():
    rng = np.random.default_rng(0)
    M = sp.random(3000, 5000, density=0.002, random_state=rng, format="csr")
    M = sp.csr_matrix(M @ sp.diags((1.0 + np.arange(5000)) ** -0.7))
    curve = spectrum.w_error_curve(M, method="exact")
    assert curve.method == "exact" and curve.ds.tolist() == list(range(3001))
    np.testing.assert_allclose(curve.w_error, _svd_curve(M, curve.ds), rtol=0, atol=1e-8)
    assert curve.stderr is None and curve.error is None and curve.passes >= 1
    # the Gram paths (what a larger matrix or a store's blocks get), both orientations
    old = gram_spectrum.DENSE_SVD_MAX_ENTRIES
    gram_spectrum.DENSE_SVD_MAX_ENTRIES = 0
    try:
        for m in (M, sp.csr_matrix(M.T)):
            gram = spectrum.w_error_curve(m, method="exact")
            np.testing.assert_allclose(gram.w_error, curve.w_error, rtol=0, atol=1e-8)
    finally:
        gram_spectrum.DENSE_SVD_MAX_ENTRIES = old


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(M=sparse_matrices())
def test_exact_equals_svd_at_every_d(M):
    curve = spectrum.w_error_curve(M, method="exact")
    np.testing.assert_allclose(curve.w_error, _svd_curve(M, curve.ds), rtol=0, atol=1e-8)
    assert curve.w_error[0] == pytest.approx(1.0, abs=1e-12)
    assert np.all(np.diff(curve.w_error) <= 1e-12)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(M=sparse_matrices())
def test_gram_path_of_the_exact_curve(M):
    """The path for matrices too large for a dense SVD (forced here): 1e-8 wherever the
    tail is above rounding, and at most sqrt(side eps) (its documented limit) where the
    true tail is zero; never below the true tail by more than rounding (Ky Fan)."""
    old = gram_spectrum.DENSE_SVD_MAX_ENTRIES
    gram_spectrum.DENSE_SVD_MAX_ENTRIES = 0
    try:
        curve = spectrum.w_error_curve(M, method="exact")
    finally:
        gram_spectrum.DENSE_SVD_MAX_ENTRIES = old
    ref = _svd_curve(M, curve.ds)
    side = min(M.shape)
    limit = math.sqrt(4 * side * np.finfo(float).eps)
    tiny = ref < limit
    np.testing.assert_allclose(curve.w_error[~tiny], ref[~tiny], rtol=0, atol=1e-8)
    assert np.all(curve.w_error[tiny] <= limit)
    assert np.all(curve.w_error >= ref - 1e-8)


@settings(
    max_examples=int(os.environ.get("BN_SLQ_EXAMPLES", "15")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(M=sparse_matrices(), seed=st.integers(0, 1000), steps=st.sampled_from([20, 40]))
def test_slq_lies_within_its_stated_error(M, seed, steps):
    curve = spectrum.w_error_curve(M, method="slq", lanczos_steps=steps, probes=8, seed=seed)
    exact = _svd_curve(M, curve.ds)
    gap = np.abs(curve.w_error - exact)
    assert np.all(gap <= curve.error + 1e-12), (curve.ds[gap > curve.error], gap.max())
    assert np.all((curve.lower <= exact + 1e-12) & (exact <= curve.upper + 1e-12))
    assert np.all(curve.stderr >= 0) and np.all(curve.error >= 0)


@pytest.mark.slow
def test_slq_within_its_error_on_a_3000_x_5000_target():
    rng = np.random.default_rng(1)
    M = sp.random(3000, 5000, density=0.002, random_state=rng, format="csr")
    M = sp.csr_matrix(M @ sp.diags((1.0 + np.arange(5000)) ** -0.5))
    exact = spectrum.w_error_curve(M, method="exact")
    curve = spectrum.w_error_curve(M, exact.ds[::50], method="slq")
    gap = np.abs(curve.w_error - exact.w_error[::50])
    assert np.all(gap <= curve.error + 1e-12)
    assert np.median(curve.error) < 0.05  # informative, not only valid


def test_variational_tail_formula_by_brute_force():
    """``sum_{i>d} lambda_i = max_t sum_i min(lambda_i, t) - d t`` (the SLQ's step 2)."""
    rng = np.random.default_rng(3)
    for _ in range(50):
        lam = np.sort(rng.exponential(size=rng.integers(1, 30)))
        nodes = np.unique(np.concatenate([[0.0], lam]))
        for d in range(lam.size + 1):
            trace = gram_spectrum._min_trace(lam, np.ones(lam.size), nodes)
            best = float(np.max(trace - d * nodes))
            assert best == pytest.approx(float(np.sum(np.sort(lam)[::-1][d:])), abs=1e-12)


def test_pinching_bound_by_brute_force():
    """``0 <= S_pinch(d) - S(d) <= sum_{j<=min(d,k)} sigma_j(B)`` for any orthonormal Q."""
    rng = np.random.default_rng(4)
    for _ in range(30):
        n, k = int(rng.integers(4, 25)), int(rng.integers(1, 4))
        X = rng.standard_normal((n + 3, n))
        G = X.T @ X
        Q = np.linalg.qr(rng.standard_normal((n, k)))[0]
        full = np.linalg.qr(np.hstack([Q, rng.standard_normal((n, n - k))]))[0]
        R = full.T @ G @ full
        pinch = np.concatenate([np.linalg.eigvalsh(R[:k, :k]), np.linalg.eigvalsh(R[k:, k:])])
        sig_b = np.linalg.svd(R[k:, :k], compute_uv=False)
        lam = np.sort(np.linalg.eigvalsh(G))[::-1]
        pinch = np.sort(pinch)[::-1]
        for d in range(n + 1):
            diff = pinch[d:].sum() - lam[d:].sum()
            assert -1e-9 <= diff <= sig_b[: min(d, k)].sum() + 1e-9


def test_min_trace_by_brute_force():
    rng = np.random.default_rng(5)
    x, w, ts = rng.exponential(size=9), rng.random(9), np.linspace(0, 4, 17)
    expect = [float(np.sum(w * np.minimum(x, t))) for t in ts]
    np.testing.assert_allclose(gram_spectrum._min_trace(x, w, ts), expect, rtol=1e-13)


def test_quadrature_is_exact_on_a_small_invariant_space():
    """Lanczos breaks down after rank steps: the quadrature is then exact (error 0 from
    the quadrature part; the estimate equals Hutchinson's)."""
    M = sp.csr_matrix(np.diag([3.0, 2.0, 1.0, 0.5]))
    curve = spectrum.w_error_curve(M, method="slq", deflation=0, probes=4, lanczos_steps=10)
    s2 = np.array([9.0, 4.0, 1.0, 0.25])
    exact = np.sqrt([s2[d:].sum() / s2.sum() for d in curve.ds])
    assert np.all(np.abs(curve.w_error - exact) <= curve.error + 1e-12)


def test_target_store_and_matrix_agree(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    rng = np.random.default_rng(6)
    words = [f"w{i}" for i in range(40)]
    for f in range(3):
        docs = [" ".join(rng.choice(words, size=30)) for _ in range(20)]
        (corpus / f"{f}.txt").write_text("\n\n".join(docs), encoding="utf-8")
    t = bn.targets.ngram(corpus, 2, store=tmp_path / "store")
    store = bn.targets.NgramStore(tmp_path / "store")
    a = spectrum.w_error_curve(t)
    b = spectrum.w_error_curve(store)
    c = spectrum.w_error_curve(t.sparse_probs)
    np.testing.assert_allclose(a.w_error, c.w_error, atol=1e-13)
    np.testing.assert_allclose(b.w_error, c.w_error, atol=1e-13)


def test_factored_target_read_by_row_blocks():
    rng = np.random.default_rng(7)
    t = bn.Target.from_factors(rng.standard_normal((50, 4)), rng.standard_normal((30, 4)))
    np.testing.assert_allclose(
        spectrum.w_error_curve(t).w_error, _svd_curve(t.probs, range(31)), atol=1e-10
    )


def test_result_is_frozen_and_bad_input():
    M = sp.random(30, 40, density=0.2, random_state=8, format="csr")
    curve = spectrum.w_error_curve(M, [0, 3])
    with pytest.raises(ValueError):
        curve.w_error[0] = 0.5
    with pytest.raises(dataclasses.FrozenInstanceError):
        curve.method = "slq"
    assert np.asarray(curve).shape == (2,)
    with pytest.raises(ValueError, match="method must be"):
        spectrum.w_error_curve(M, method="svd")
    with pytest.raises(ValueError, match="zero matrix"):
        spectrum.w_error_curve(sp.csr_matrix((3, 4)))
    with pytest.raises(ValueError):
        spectrum.w_error_curve(M, [-1])
    with pytest.raises(ValueError, match="non-finite"):
        spectrum.w_error_curve(np.array([[1.0, np.nan]]))


@pytest.mark.slow
def test_cluster_passes_equal_local_ones():
    pytest.importorskip("distributed", reason="pip install distributed")
    from distributed import Client, LocalCluster

    M = sp.random(400, 300, density=0.05, random_state=9, format="csr")
    local_exact = spectrum.w_error_curve(M, method="exact")
    local_slq = spectrum.w_error_curve(M, method="slq", lanczos_steps=20, probes=4)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        blocks = GramBlocks(M, client=client)
        np.testing.assert_allclose(blocks.gram(), GramBlocks(M).gram(), atol=1e-12)
        remote = spectrum.w_error_curve(M, method="exact", client=client)
        remote_slq = spectrum.w_error_curve(
            M, method="slq", lanczos_steps=20, probes=4, client=client
        )
    np.testing.assert_allclose(remote.w_error, local_exact.w_error, atol=1e-12)
    np.testing.assert_allclose(remote_slq.w_error, local_slq.w_error, atol=1e-9)


def test_sparse_gram_products_equal_the_block_passes(monkeypatch):
    """An n-gram-like matrix (about one entry a row) takes the sparse-Gram route; its
    products equal the row-block passes, and so does the curve."""
    rng = np.random.default_rng(10)
    n, v = 5000, 300
    rows = np.concatenate([np.arange(n), rng.integers(0, n, 800)])
    cols = rng.integers(0, v, rows.size)
    M = sp.csr_matrix((rng.random(rows.size), (rows, cols)), shape=(n, v))
    X = rng.standard_normal((M.shape[1], 70))
    fast = GramBlocks(M)
    assert fast._sparse_gram() is not None
    slow = GramBlocks(M)
    monkeypatch.setattr(slow, "_sparse_gram", lambda: None)
    np.testing.assert_allclose(fast.gram_times(X), slow.gram_times(X), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fast.gram_times(X), M.T @ (M @ X), rtol=1e-12, atol=1e-12)
    curve = spectrum.w_error_curve(M, method="slq", lanczos_steps=40, probes=8)
    exact = _svd_curve(M, curve.ds)
    assert np.all(np.abs(curve.w_error - exact) <= curve.error + 1e-12)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(ds=[1.5]), TypeError, "integer"),
        (dict(ds=[True]), TypeError, "bool"),
        (dict(ds=[[1, 2]]), ValueError, "1-D"),
        (dict(probes=1, method="slq"), ValueError, "probes"),
        (dict(lanczos_steps=0, method="slq"), ValueError, "lanczos_steps"),
        (dict(deflation=-1, method="slq"), ValueError, "deflation"),
        (dict(power_iterations=-1), ValueError, "power_iterations"),
        (dict(seed=None), TypeError, "seed"),
        (dict(client="tcp://127.0.0.1:9"), TypeError, "client"),
    ],
)
def test_bad_parameters_are_named(kwargs, error, match):
    M = sp.random(20, 30, density=0.3, random_state=0, format="csr")
    with pytest.raises(error, match=match):
        spectrum.w_error_curve(M, **kwargs)


def test_huge_ranks_and_complex_sparse():
    M = sp.random(20, 30, density=0.3, random_state=0, format="csr")
    assert spectrum.w_error_curve(M, [2**70]).w_error.tolist() == [0.0]
    with pytest.raises(TypeError, match="real numbers"):
        spectrum.w_error_curve(M.astype(complex))


@pytest.mark.parametrize("method", ["exact", "slq"])
def test_progress_counts_every_pass(method, capsys):
    """The tqdm counter advances once per pass the curve reports, and changes nothing."""
    rng = np.random.default_rng(3)
    M = sp.random(300, 200, density=0.05, random_state=rng, format="csr")
    kw = dict(method=method, lanczos_steps=12, probes=4, deflation=8)
    quiet = spectrum.w_error_curve(M, [1, 10, 50], **kw)
    counted = []
    blocks_init = GramBlocks.__init__

    def spy(self, *args, **kwargs):
        blocks_init(self, *args, **kwargs)
        inner = self.on_pass
        self.on_pass = lambda: (counted.append(1), inner())

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(GramBlocks, "__init__", spy)
        loud = spectrum.w_error_curve(M, [1, 10, 50], progress=True, **kw)
    np.testing.assert_array_equal(loud.w_error, quiet.w_error)
    assert len(counted) == loud.passes == quiet.passes >= 1
    assert "spectrum" in capsys.readouterr().err


def test_progress_must_be_a_bool():
    with pytest.raises((TypeError, ValueError), match="progress"):
        spectrum.w_error_curve(np.eye(3), progress="yes")
