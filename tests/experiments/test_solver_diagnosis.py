"""experiments/solver_diagnosis.py, measurement 3: the single-context reduction and its lift.

Oracle: on a tiny target whose contexts all lie on exposed rays (rows of ``H`` on a circle in
the plane ``x_3 = 1``, so each is a vertex of the cone they span), the lifted head's full gap,
computed by ``Target.gap``, must tend to ``sum_r pi_r (1 - m_r) KL(P'_r || q'_r)`` computed on
the reduced target: the identity the reduction rests on.
"""

import numpy as np
import pytest
import scipy.sparse as sp

import bottleneck as bn

from . import load_experiment


@pytest.fixture(scope="module")
def diagnosis():
    return load_experiment("solver_diagnosis")


def _target(seed=0, n=6, shared=3, singles=2):
    """``n`` contexts sharing ``shared`` tokens, each with ``singles`` tokens of its own."""
    rng = np.random.default_rng(seed)
    P = np.zeros((n, shared + n * singles))
    P[:, :shared] = rng.uniform(0.5, 1.0, size=(n, shared))
    for r in range(n):
        P[r, shared + r * singles : shared + (r + 1) * singles] = rng.uniform(0.1, 1.0, singles)
    P /= P.sum(axis=1, keepdims=True)
    return bn.Target.from_sparse(sp.csr_matrix(P), weights=rng.dirichlet(np.ones(n)))


def _circle_head(n, seed=1):
    theta = 2 * np.pi * np.arange(n) / n
    return np.stack([np.cos(theta), np.sin(theta), np.ones(n)], axis=1) * np.random.default_rng(
        seed
    ).uniform(0.5, 2.0, size=(n, 1))


def test_reduction_keeps_the_shared_tokens_and_their_mass(diagnosis):
    t = _target()
    reduced, keep, kept_mass = diagnosis.single_context_reduction(t)
    np.testing.assert_array_equal(keep, [0, 1, 2])
    np.testing.assert_allclose(kept_mass, t.probs[:, :3].sum(axis=1), rtol=1e-14)
    np.testing.assert_allclose(reduced.probs, t.probs[:, :3] / kept_mass[:, None], rtol=1e-14)
    expected = np.asarray(t.weights) * kept_mass
    np.testing.assert_allclose(reduced.weights, expected / expected.sum(), rtol=1e-14)


def test_every_vertex_of_a_circle_is_exposed_and_a_centre_point_is_not(diagnosis):
    H = _circle_head(6)
    U, exposed = diagnosis.exposing_directions(H, np.arange(6))
    assert exposed.all()
    for r in range(6):
        assert abs(H[r] @ U[r]) < 1e-9
        assert np.all(np.delete(H @ U[r], r) <= -1 + 1e-9)
    inner = np.vstack([H, [0.0, 0.0, 1.0]])  # the circle's centre: inside the cone
    _, exposed = diagnosis.exposing_directions(inner, [6])
    assert not exposed[6]


def test_lifted_gap_tends_to_the_reduced_limit_when_every_context_is_exposed(diagnosis):
    t = _target()
    reduced, keep, kept_mass = diagnosis.single_context_reduction(t)
    H = _circle_head(6)
    W_kept = np.random.default_rng(2).standard_normal((keep.size, 3))
    U, _ = diagnosis.exposing_directions(H, np.arange(6))
    limit = reduced.gap(H @ W_kept.T) * diagnosis.reduction_weight(t, kept_mass)
    gaps = []
    for scale in (0.0, 5.0, 50.0):
        W = diagnosis.lift_single_tokens(t, H, W_kept, keep, kept_mass, U, scale)
        np.testing.assert_allclose(W[keep], W_kept)
        gaps.append(t.gap(H @ W.T))
    assert gaps[0] > gaps[1] > gaps[2] > limit  # the limit is approached from above
    assert gaps[2] == pytest.approx(limit, rel=1e-10, abs=1e-12)
    assert diagnosis.reduction_weight(t, kept_mass) == pytest.approx(
        float(np.sum(np.asarray(t.weights) * t.probs[:, keep].sum(axis=1))), rel=1e-14
    )


def test_chain_rule_the_reduced_gap_is_below_the_full_one_for_any_head(diagnosis):
    """``G(H W^T) >= Z G_red(H W_keep^T)`` for every head, exposed or not."""
    t = _target(seed=3)
    reduced, keep, kept_mass = diagnosis.single_context_reduction(t)
    rng = np.random.default_rng(4)
    for _ in range(20):
        H, W = rng.standard_normal((6, 2)) * 3, rng.standard_normal((t.vocab_size, 2)) * 3
        full = t.gap(H @ W.T)
        assert full >= diagnosis.reduction_weight(t, kept_mass) * reduced.gap(H @ W[keep].T)


def test_reduction_rejects_a_bias_and_rows_without_kept_mass(diagnosis):
    t = _target()
    with pytest.raises(ValueError, match="bias"):
        diagnosis.single_context_reduction(t.with_bias(True))
    P = t.probs.copy()
    P[0, :3] = 0.0
    P /= P.sum(axis=1, keepdims=True)
    with pytest.raises(ValueError, match="all its mass"):
        diagnosis.single_context_reduction(bn.Target.from_sparse(sp.csr_matrix(P)))
