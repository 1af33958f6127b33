"""Theorem B: the per-block value, the used weights, the projections and the verifier."""

import dataclasses

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bottleneck as bn
from bottleneck import block_spectral as BS
from bottleneck.block_search import search_theorem_b

from .oracles import softmax
from .strategies import stored_targets, targets


# ------------------------------------------------------------------ scalar pieces
@pytest.mark.parametrize("u", [0.0, 1e-300, 1e-12, 1e-6, 1e-3, 0.0011, 0.5, 1.0, 7.0, 40.0, 1e6])
def test_phi_even_matches_mpmath(u):
    mpmath.mp.dps = 50
    exact = mpmath.expm1(-mpmath.mpf(u)) + mpmath.mpf(u)  # no cancellation at any u
    assert BS.phi_even(u) == pytest.approx(float(exact), rel=4e-15, abs=0)


def test_phi_even_inverse_round_trip():
    c = np.concatenate([[0.0], np.logspace(-30, 8, 200)])
    u = BS.phi_even_inverse(c)
    assert np.allclose(BS.phi_even(u), c, rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match="c >= 0"):
        BS.phi_even_inverse(-1.0)


def test_theorem_b_value_by_hand():
    beta = [4.0, 2.0, 0.5]
    expected = 0.3 * ((np.exp(-2.0) - 1 + 2.0) + (np.exp(-0.5) - 1 + 0.5))
    assert BS.theorem_b(beta, 1, 0.3) == pytest.approx(expected, rel=1e-15)
    assert BS.theorem_b(beta[::-1], 1, 0.3) == BS.theorem_b(beta, 1, 0.3)  # any order
    assert BS.theorem_b(beta, 3, 0.3) == 0.0
    # Huber form: beta <= b/2 quadratic, beyond linear
    assert BS.theorem_b_huber(beta, 1, 2.0) == pytest.approx((2 * 2 - 1) + 0.25, rel=1e-15)


@pytest.mark.parametrize(
    "bad, match",
    [((["a"], 1, 1.0), "could not convert|must be"), (([1.0, -1.0], 0, 1.0), "finite values >= 0")],
)
def test_theorem_b_rejects_bad_input(bad, match):
    with pytest.raises((ValueError, TypeError)):
        BS.theorem_b(*bad)
    with pytest.raises(ValueError, match="alpha"):
        BS.theorem_b([1.0], 0, 0.0)
    with pytest.raises(TypeError, match="alpha"):
        BS.theorem_b([1.0], 0, True)


@pytest.mark.parametrize("family", ["phi", "huber"])
def test_used_weight_inverts_admissible_scaling(family):
    w = np.logspace(-12, 2, 57)
    for alpha in (1e-9, 1e-4, 0.3, 5.0):
        r = BS.admissible_scaling(w, alpha, family)
        assert np.allclose(BS.used_weight(r, alpha, family), w, rtol=1e-9)
    assert BS.admissible_scaling(0.0, 1.0, family) == 0.0
    with pytest.raises(ValueError, match="family"):
        BS.used_weight(1.0, 1.0, "cubic")


def test_projected_block_removes_partition_column_and_bias_row():
    rng = np.random.default_rng(0)
    s, t = rng.uniform(0.5, 2, 4), rng.uniform(0.5, 2, 6)
    L = rng.standard_normal((4, 6))
    shifted = L + rng.standard_normal(4)[:, None]  # log q = z - c 1^T
    assert np.allclose(BS.projected_block(L, s, t, False), BS.projected_block(shifted, s, t, False))
    biased = L + rng.standard_normal(6)[None, :]  # a bias row
    assert np.allclose(BS.projected_block(L, s, t, True), BS.projected_block(biased, s, t, True))


# ------------------------------------------------------------------ certificates
def _searched(target, d):
    cert = search_theorem_b(target, d, max_work=1e9, budget_seconds=1e9)
    return cert, BS.verify_theorem_b(target, d, cert)


@pytest.fixture(scope="module")
def synthetic_case():
    t, _ = bn.targets.synthetic(30, 40, "power", decay=0.8, scale=5.0, seed=3)
    cert, value = _searched(t, 2)
    assert value > 0 and cert.n_blocks > 0
    return t, cert, value


def test_verifier_reproduces_the_search(synthetic_case):
    t, cert, value = synthetic_case
    assert value == pytest.approx(cert.value, rel=1e-6)
    assert value <= bn.solve(t, 2).gap


def _replace_block(cert, k, **changes):
    blocks = list(cert.blocks)
    blocks[k] = dataclasses.replace(blocks[k], **changes)
    return dataclasses.replace(cert, blocks=tuple(blocks), value=0.0)


@pytest.mark.parametrize(
    "tamper, match",
    [
        (lambda c: _replace_block(c, 0, s=c.blocks[0].s * 1.01), "use weight"),
        (lambda c: _replace_block(c, 0, alpha=c.blocks[0].alpha * 1.01), "use weight"),
        (lambda c: dataclasses.replace(c, blocks=c.blocks + c.blocks[:1], value=0.0), "use weight"),
        (lambda c: dataclasses.replace(c, value=c.value * 1.001), "claims"),
        (lambda c: dataclasses.replace(c, d=c.d + 1), "for d ="),
        (lambda c: dataclasses.replace(c, bias=not c.bias), "bias"),
        (lambda c: _replace_block(c, 0, s=-c.blocks[0].s), "finite and > 0"),
        (lambda c: _replace_block(c, 0, rows=c.blocks[0].rows * 0), "repeat"),
        (lambda c: _replace_block(c, 0, cols=c.blocks[0].cols + 10**6), "indices in"),
        (lambda c: _replace_block(c, 0, family="cubic"), "family"),
        (lambda c: _replace_block(c, 0, t=c.blocks[0].t[:-1]), "match rows and cols"),
    ],
)
def test_verifier_rejects_tampered_certificates(synthetic_case, tamper, match):
    t, cert, _ = synthetic_case
    with pytest.raises(BS.CertificateError, match=match):
        BS.verify_theorem_b(t, cert.d, tamper(cert))


def test_verifier_rejects_a_block_outside_the_support():
    P = softmax(np.random.default_rng(1).standard_normal((6, 7)))
    P[2, 3] = 0.0
    P /= P.sum(axis=1, keepdims=True)
    t = bn.Target.from_probs(P)
    block = BS.Block(
        rows=np.arange(6), cols=np.arange(7), s=np.full(6, 1e-3), t=np.full(7, 1e-3), alpha=1e-3
    )
    with pytest.raises(BS.CertificateError, match="support"):
        BS.verify_theorem_b(t, 1, BS.Certificate(d=1, bias=False, blocks=(block,)))


@pytest.mark.parametrize("bias", [False, True])
def test_verifier_sums_per_block_values_over_mixed_shapes_and_families(bias):
    """The verifier batches blocks by shape and family; the oracle takes them one at a time
    through the public one-block pieces (``projected_block``, a full SVD, ``theorem_b`` /
    ``theorem_b_huber``), with overlapping blocks and used weights well inside ``w``."""
    rng = np.random.default_rng(7)
    P = softmax(3.0 * rng.standard_normal((9, 14)))
    t = bn.Target.from_probs(P, weights=rng.dirichlet(np.ones(9)), bias=bias)
    shapes = [(4, 6), (4, 6), (5, 7), (4, 6), (6, 9), (5, 7), (4, 6), (6, 9)]
    families = ["phi", "huber", "phi", "phi", "huber", "phi", "huber", "huber"]
    blocks = []
    for (m, n), family in zip(shapes, families):
        rows = np.sort(rng.choice(9, m, replace=False))
        cols = np.sort(rng.choice(14, n, replace=False))
        s, tt = rng.uniform(0.5, 1.5, m) * 1e-3, rng.uniform(0.5, 1.5, n) * 1e-3
        # Huber constants near the betas (~1e-6), so both branches of huber_b count
        alpha = rng.uniform(1e-4, 1e-3) if family == "phi" else rng.uniform(2e-7, 2e-6)
        blocks.append(BS.Block(rows, cols, s, tt, alpha, family))
    expected = 0.0
    for b in blocks:
        L = np.log(P[np.ix_(b.rows, b.cols)])
        beta = np.linalg.svd(BS.projected_block(L, b.s, b.t, bias), compute_uv=False)
        one = BS.theorem_b if b.family == "phi" else BS.theorem_b_huber
        expected += one(beta, 2, b.alpha)
    assert expected > 0
    value = BS.verify_theorem_b(t, 2, BS.Certificate(d=2, bias=bias, blocks=tuple(blocks)))
    assert value == pytest.approx(expected, rel=1e-9)


def test_verifier_names_the_first_block_outside_the_support():
    P = softmax(np.random.default_rng(2).standard_normal((6, 9)))
    P[4, 7] = 0.0
    P /= P.sum(axis=1, keepdims=True)
    t = bn.Target.from_probs(P)

    def block(rows, cols):
        return BS.Block(rows, cols, np.full(len(rows), 1e-3), np.full(len(cols), 1e-3), 1e-3)

    blocks = (
        block([0, 1, 2], [0, 1, 2, 3]),
        block([3, 4, 5], [5, 6, 7, 8]),  # holds (4, 7)
        block([0, 1], [4, 5, 6]),
        block([2, 3, 4], [4, 5, 6, 7]),  # holds (4, 7), same shape as block 1 (one batch)
    )
    with pytest.raises(BS.CertificateError, match="block 1 leaves the support"):
        BS.verify_theorem_b(t, 1, BS.Certificate(d=1, bias=False, blocks=blocks))


@pytest.mark.parametrize("family", ["phi", "huber"])
def test_verifier_uses_each_blocks_own_constant_within_a_batch(family):
    """Two blocks of one shape and family (one batch): the first with a tiny constant, the
    second with one that overuses its entries' weight; the second must be rejected."""
    P = softmax(np.random.default_rng(4).standard_normal((6, 10)))
    t = bn.Target.from_probs(P)
    r = np.full(5, 1e-2)
    small = BS.Block([0, 1, 2], [0, 1, 2, 3, 4], r[:3], r, 1e-9, family)
    large = BS.Block([3, 4, 5], [5, 6, 7, 8, 9], r[:3], r, 1e3, family)
    ok = BS.Certificate(d=1, bias=False, blocks=(small, small))
    assert BS.verify_theorem_b(t, 1, dataclasses.replace(ok, value=0.0)) >= 0.0
    with pytest.raises(BS.CertificateError, match="use weight"):
        BS.verify_theorem_b(t, 1, BS.Certificate(d=1, bias=False, blocks=(small, large)))


@pytest.mark.parametrize("family", ["phi", "huber"])
def test_used_weight_broadcasts_one_constant_per_block(family):
    rng = np.random.default_rng(5)
    r = rng.uniform(1e-3, 3.0, size=(4, 3, 5))
    alpha = rng.uniform(0.1, 2.0, size=4)
    stacked = BS.used_weight(r, alpha[:, None, None], family)
    for k in range(4):
        np.testing.assert_array_equal(stacked[k], BS.used_weight(r[k], float(alpha[k]), family))


def test_verifier_rejects_a_huber_constant_that_overflows():
    """b^2 overflowed to inf/inf = NaN used weight, which the ratio test read as unused: this
    certificate used to certify 29 nats on a target whose gap at d = 0 is 0.39."""
    P = np.random.default_rng(0).dirichlet(np.ones(12), size=8)
    t = bn.Target.from_probs(P)
    block = BS.Block(
        np.arange(8), np.arange(12), np.full(8, 0.7), np.full(12, 0.7), 1.7e308, "huber"
    )
    with pytest.raises(BS.CertificateError):
        BS.verify_theorem_b(t, 1, BS.Certificate(d=1, bias=False, blocks=(block,)))


@pytest.mark.parametrize(
    "b, r", [(1.0, 0.5), (2.0, 2.0), (1e-8, 1e-8), (3.0, 1e-5), (1.7e308, 0.49), (1e-200, 1e-100)]
)
def test_huber_used_weight_matches_mpmath_without_overflow(b, r):
    mpmath.mp.dps = 1200  # phi_e(u) = e^-u - 1 + u cancels to u^2/2 for u down to 1e-100
    u = mpmath.mpf(b) / mpmath.mpf(r)
    exact = mpmath.mpf(b) ** 2 / (mpmath.e ** (-u) - 1 + u)
    got = BS.used_weight(np.array([r]), b, "huber")[0]
    assert np.isfinite(got)
    assert abs(mpmath.mpf(got) - exact) <= 1e-14 * exact
    mpmath.mp.dps = 15


def test_certificate_is_frozen_and_owns_its_arrays(synthetic_case):
    _, cert, _ = synthetic_case
    s = np.array([1.0, 2.0])
    block = BS.Block(rows=[0, 1], cols=[0, 1, 2], s=s, t=[1.0, 1.0, 1.0], alpha=0.5)
    s[0] = 100.0
    assert block.s[0] == 1.0
    with pytest.raises(ValueError):
        block.s[0] = 3.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        cert.value = 1.0  # type: ignore[misc]


def test_empty_certificate_is_zero_and_cannot_claim(synthetic_case):
    t, _, _ = synthetic_case
    assert BS.verify_theorem_b(t, 2, BS.Certificate(d=2, bias=False)) == 0.0
    with pytest.raises(BS.CertificateError):
        BS.verify_theorem_b(t, 2, BS.Certificate(d=2, bias=False, value=1e-3))


# ------------------------------------------------------------------ properties
@settings(max_examples=25)
@given(t=targets(zeros=False), d=st.integers(0, 4))
def test_search_output_verifies_and_is_below_the_solver(t, d):
    cert, value = _searched(t, d)  # the verifier accepted the search's claim...
    assert value >= cert.value * (1 - 1e-6)  # ...and the search's own estimate is accurate
    gap = bn.solve(t, min(d, min(t.shape)), n_starts=2).gap
    assert value <= gap * (1 + 1e-7) + 1e-12


@settings(max_examples=25)
@given(t=targets(zeros=True), d=st.integers(0, 3))
def test_with_zeros_blocks_stay_in_the_support(t, d):
    cert, value = _searched(t, d)
    P = np.asarray(t.probs)
    for block in cert.blocks:
        assert (P[np.ix_(block.rows, block.cols)] > 0).all()
    assert value <= bn.solve(t, min(d, min(t.shape)), n_starts=2).gap * (1 + 1e-7) + 1e-12


@settings(max_examples=30)
@given(t=stored_targets(), d=st.integers(0, 3))
def test_every_storage_certifies_below_the_solver(t, d):
    cert, value = _searched(t, d)
    for block in cert.blocks:
        P = t.columns(block.cols)[0]
        assert (P[block.rows] > 0).all()
    gap = bn.solve(t, min(d, min(t.shape)), n_starts=2).gap
    assert value <= gap * (1 + 1e-7) + 1e-12


def test_certificate_round_trips_through_a_file(synthetic_case, tmp_path):
    t, cert, value = synthetic_case
    path = tmp_path / "cert.npz"
    BS.save_certificate(path, cert)
    back = BS.load_certificate(path)
    assert back.d == cert.d and back.bias == cert.bias and back.value == cert.value
    assert back.search == cert.search and back.n_blocks == cert.n_blocks
    for a, b in zip(back.blocks, cert.blocks):
        for name in ("rows", "cols", "s", "t"):
            assert np.array_equal(getattr(a, name), getattr(b, name))
        assert a.alpha == b.alpha and a.family == b.family
    assert BS.verify_theorem_b(t, cert.d, back) == value
    empty = tmp_path / "empty.npz"
    BS.save_certificate(empty, BS.Certificate(d=1, bias=True))
    assert BS.load_certificate(empty).n_blocks == 0
