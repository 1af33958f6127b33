"""explicit: the truncated-SVD heads, as logits and as factors, for every storage."""

from __future__ import annotations

import numpy as np
import pytest

import bottleneck as bn
from bottleneck import explicit

from .oracles import dense_twin


@pytest.mark.parametrize("bias", [False, True])
def test_factors_and_logits_are_the_same_head(bias):
    t, _ = bn.targets.synthetic(
        15, 11, "power", decay=0.6, scale=3.0, weights="zipf", seed=1, bias=bias
    )
    Z, spec = explicit.truncated_svd_head(t, 3)
    H, W, mu = explicit.truncated_svd_factors(t, 3)
    np.testing.assert_allclose(H @ W.T + (0 if mu is None else mu), Z, atol=1e-12)
    assert np.linalg.matrix_rank(H @ W.T, tol=1e-9) <= 3 and (mu is not None) == bias
    gap, T = explicit.truncated_svd_gap(t, 3)
    assert gap == pytest.approx(t.gap(Z), rel=1e-12) and T == spec.tail(3)
    assert gap == bn.bounds(t, 3).details["U_trunc"].value


@pytest.mark.parametrize("bias", [False, True])
def test_factored_head_equals_the_dense_head(bias):
    rng = np.random.default_rng(3)
    t = bn.Target.from_factors(
        rng.standard_normal((30, 5)), rng.standard_normal((12, 5)), bias=bias
    )
    H, W, mu, T = explicit.factored_truncated_head(t, 2)
    Z, spec = explicit.truncated_svd_head(dense_twin(t), 2)
    np.testing.assert_allclose(H @ W.T + (0 if mu is None else mu), Z, atol=1e-9)
    assert T == pytest.approx(spec.tail(2), rel=1e-9)


def test_targets_with_zeros_need_a_floor():
    t = bn.Target.from_probs([[0.0, 0.5, 0.5], [0.25, 0.25, 0.5]])
    floors = explicit.default_floors(t)
    assert floors == pytest.approx([0.25 * f for f in explicit.DEFAULT_FLOOR_FACTORS])
    with pytest.raises(ValueError, match="pass floor > 0"):
        explicit.truncated_svd_head(t, 1)
    R = explicit.reference_logits(t, floors[0])
    assert np.isfinite(R).all() and R[0, 0] == pytest.approx(np.log(0.25))
    Z, _ = explicit.truncated_svd_head(t, 1, floor=floors[0])
    assert np.isfinite(t.gap(Z))
