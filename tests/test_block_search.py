"""The certificate search of Theorem B: valid on every storage, deterministic, below optima."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import bottleneck as bn
from bottleneck import block_spectral as BS
from bottleneck.block_search import minorant, search_theorem_b, tile_grid

from .oracles import oracle_v3_d1, softmax

UNLIMITED = {"max_work": 1e12, "budget_seconds": 1e9}


def test_minorant_is_maximal_and_below():
    rng = np.random.default_rng(0)
    log_R = rng.standard_normal((3, 5, 7))
    log_s, log_t = minorant(log_R)
    gap = log_R - log_s[:, :, None] - log_t[:, None, :]
    assert gap.min() >= -1e-12
    # maximal: every row and every column has a tight entry
    assert np.allclose(gap.min(axis=2), 0, atol=1e-12)
    assert np.allclose(gap.min(axis=1), 0, atol=1e-12)


def test_rank_one_weights_give_an_exact_minorant():
    a, b = np.log([1.0, 2.0, 3.0]), np.log([0.5, 1.0, 4.0, 2.0])
    log_s, log_t = minorant((a[:, None] + b[None, :])[None])
    assert np.allclose(log_s[0][:, None] + log_t[0][None, :], a[:, None] + b[None, :])


def test_tile_grid_covers_every_entry_once():
    seen = np.zeros((11, 17), int)
    for rows, cols in tile_grid(np.arange(11), np.arange(17), 4, 5):
        seen[np.ix_(rows, cols)] += 1
    assert (seen == 1).all()


def test_search_is_deterministic_and_independent_of_the_clock():
    t, _ = bn.targets.synthetic(40, 60, "exponential", decay=0.3, scale=4.0, seed=1)
    a = search_theorem_b(t, 3, **UNLIMITED)
    b = search_theorem_b(t, 3, max_work=1e12, budget_seconds=1e6)
    assert a.value == b.value and a.search == b.search


def test_search_is_independent_of_the_number_of_threads(monkeypatch):
    """Chunks of 3 blocks (many chunks, several per shape) on 1 and on 4 threads: the same
    certificate, block for block."""
    from bottleneck import block_search

    rng = np.random.default_rng(3)
    t = bn.Target.from_probs(softmax(2.0 * rng.standard_normal((40, 90))))
    monkeypatch.setattr(block_search, "_CHUNK_BLOCKS", 3)
    certificates = []
    for threads in (1, 4):
        monkeypatch.setattr(block_search, "_threads", lambda threads=threads: threads)
        certificates.append(search_theorem_b(t, 2, **UNLIMITED))
    one, four = certificates
    assert one.value > 0 and one.n_blocks > 6
    assert BS.verify_theorem_b(t, 2, four) == pytest.approx(four.value, rel=1e-9)
    assert one.value == four.value and one.n_blocks == four.n_blocks
    for a, b in zip(one.blocks, four.blocks):
        for name in ("rows", "cols", "s", "t"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        assert a.alpha == b.alpha


def test_threads_follow_omp_num_threads(monkeypatch):
    from bottleneck import block_search

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert block_search._threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "64")
    assert block_search._threads() == 8
    monkeypatch.setenv("OMP_NUM_THREADS", "not a number")
    assert 1 <= block_search._threads() <= 8


def test_work_budget_limits_the_tilings():
    t, _ = bn.targets.synthetic(40, 60, "power", decay=1.0, scale=4.0, seed=2)
    one = search_theorem_b(t, 2, max_work=1.0, budget_seconds=1e9)  # first tiling only
    many = search_theorem_b(t, 2, **UNLIMITED)
    assert 0 < one.value <= many.value
    assert "layer" not in one.search


@pytest.mark.parametrize("bad", [{"max_work": 0}, {"budget_seconds": -1.0}, {"max_work": True}])
def test_search_rejects_bad_budgets(bad):
    t, _ = bn.targets.synthetic(5, 6, seed=0)
    with pytest.raises((ValueError, TypeError)):
        search_theorem_b(t, 1, **bad)


def test_too_small_targets_have_no_block():
    t = bn.Target.from_probs([[0.5, 0.5], [0.2, 0.8]])
    cert = search_theorem_b(t, 1)
    assert cert.n_blocks == 0 and BS.verify_theorem_b(t, 1, cert) == 0.0


@settings(max_examples=15)
@given(n=st.integers(2, 5), scale=st.sampled_from([0.3, 2.0, 6.0]), seed=st.integers(0, 10**6))
def test_below_the_v3_brute_force_optimum(n, scale, seed):
    rng = np.random.default_rng(seed)
    P = softmax(rng.standard_normal((n, 3)) * scale)
    w = rng.dirichlet(np.ones(n))
    t = bn.Target.from_probs(P, weights=w)
    cert = search_theorem_b(t, 1, **UNLIMITED)
    assert BS.verify_theorem_b(t, 1, cert) <= oracle_v3_d1(P, w) * (1 + 1e-9) + 1e-14


def _storages(rng, n, v, bias):
    X, W = rng.standard_normal((n, 4)), rng.standard_normal((v, 4)) * 1.5
    factored = bn.Target.from_factors(X, W, bias=bias)
    dense = bn.Target.from_logits(X @ W.T, bias=bias)
    P = softmax(rng.standard_normal((n, v)) * 2.0)
    P[rng.random(P.shape) < 0.25] = 0.0
    P[np.arange(n), 0] += 0.1
    P /= P.sum(axis=1, keepdims=True)
    return factored, dense, bn.Target.from_sparse(sp.csr_matrix(P), bias=bias), P


@pytest.mark.parametrize("bias", [False, True])
def test_every_storage_and_its_dense_twin_certify_the_same(bias):
    rng = np.random.default_rng(5)
    factored, dense, sparse, P = _storages(rng, 24, 30, bias)
    for d in (1, 2):
        vf = BS.verify_theorem_b(factored, d, search_theorem_b(factored, d, **UNLIMITED))
        vd = BS.verify_theorem_b(dense, d, search_theorem_b(dense, d, **UNLIMITED))
        assert vf == pytest.approx(vd, rel=1e-8)
        assert 0 < vf <= bn.solve(factored, d, n_starts=2).gap
        twin = bn.Target.from_probs(P, bias=bias)
        vs = BS.verify_theorem_b(sparse, d, search_theorem_b(sparse, d, **UNLIMITED))
        vt = BS.verify_theorem_b(twin, d, search_theorem_b(twin, d, **UNLIMITED))
        assert vs == pytest.approx(vt, rel=1e-9)
        assert vs <= bn.solve(sparse, d, n_starts=2).gap * (1 + 1e-7) + 1e-12


def test_token_subset_limits_what_is_materialised():
    rng = np.random.default_rng(6)
    t = bn.Target.from_factors(rng.standard_normal((20, 3)), rng.standard_normal((500, 3)))
    cert = search_theorem_b(t, 1, max_entries=20 * 50, **UNLIMITED)
    cols = np.unique(np.concatenate([b.cols for b in cert.blocks]))
    assert cols.size <= 50
    pbar = t.mean_probs()
    assert set(cols) <= set(np.argsort(-pbar)[:50])


def test_bounds_reports_theorem_b_with_its_certificate():
    t, _ = bn.targets.synthetic(60, 80, "power", decay=0.8, scale=6.0, seed=0)
    s = bn.bounds(t, 4)
    lb = s.details["L_B"]
    assert lb.kind == "lower" and lb.proof == "proofs/theorem_b.md"
    assert bn.bounds.verify_theorem_b(t, 4, lb.certificate) == pytest.approx(lb.value, rel=1e-12)
    assert s.lower_name == "L_B" and s.lower == lb.value
    assert s.lower_detail.theorem.startswith("Theorem B")
    assert s.upper_name in ("U_trunc", "U_quad", "U_osc")
    assert "won by: lower L_B" in str(s)


def test_orderings_ignore_rounding_noise():
    from bottleneck.block_search import _descending

    values = np.array([0.3, 0.1, 0.3 * (1 + 1e-15), 0.2, 0.1 * (1 - 1e-15)])
    assert list(_descending(values)) == [0, 2, 3, 1, 4]  # near-ties keep index order


def test_threshold_packing_blocks_are_disjoint_and_above_the_threshold():
    from bottleneck.block_search import threshold_packing

    rng = np.random.default_rng(7)
    P = softmax(rng.standard_normal((30, 50)) * 4.0)  # peaked rows, like a language model
    theta = float(np.quantile(P, 0.8))
    seen = np.zeros(P.shape, int)
    blocks = list(threshold_packing(P, 2, False, theta))
    assert blocks
    for rows, cols in blocks:
        assert rows.size >= 3 and cols.size >= 4
        assert (P[np.ix_(rows, cols)] >= theta).all()
        seen[np.ix_(rows, cols)] += 1
    assert seen.max() == 1


def test_packing_wins_on_peaked_rows_and_certifies():
    rng = np.random.default_rng(8)
    X, W = rng.standard_normal((40, 6)), rng.standard_normal((400, 6)) * 3.0
    t = bn.Target.from_factors(X, W)
    cert = search_theorem_b(t, 2, **UNLIMITED)
    value = BS.verify_theorem_b(t, 2, cert)
    assert 0 < value <= bn.solve(t, 2).gap
    only_tiles = search_theorem_b(t, 2, orders=("sorted", "random"), **UNLIMITED)
    assert value >= only_tiles.value
