"""Target: construction, validation (bad input), losses against hand-computed values."""

import math

import numpy as np
import pytest

import bottleneck as bn


def kl(p, q):
    return sum(a * math.log(a / b) for a, b in zip(p, q) if a > 0)


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


def test_from_logits_keeps_exact_log_probs_under_underflow():
    Z = np.array([[0.0, -800.0]])
    t = bn.Target.from_logits(Z)
    assert t.has_full_support
    assert t.log_probs[0, 1] == pytest.approx(-800.0, rel=1e-15)


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
