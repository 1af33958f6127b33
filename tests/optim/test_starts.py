"""optim.starts: the starting points of solve are explicit heads with the gaps they claim."""

from __future__ import annotations

import numpy as np
import pytest

import bottleneck as bn
from bottleneck.optim.starts import factor_logits, pad_factors, svd_start, warm_starts


def test_svd_start_is_the_u_trunc_head_for_targets_with_zeros():
    """With zeros, ``U_trunc`` is the best over floors of ``log max(P, floor)``; the solver's
    SVD start is that same head (``max_iter=0`` returns the start), so ``solve <= U_trunc``
    holds by construction, even for a run that cannot improve its start."""
    rng = np.random.default_rng(0)
    for _ in range(6):
        P = np.exp(rng.standard_normal((6, 5)) * 2)
        P[rng.random(P.shape) < 0.35] = 0.0
        P[:, 0] += 0.05
        t = bn.Target.from_probs(P / P.sum(axis=1, keepdims=True))
        u_trunc = bn.bounds(t, 2).details["U_trunc"].value
        assert bn.solve(t, 2, init="svd", max_iter=0).gap == pytest.approx(
            u_trunc, rel=1e-12, abs=1e-15
        )


@pytest.mark.parametrize("bias", [False, True])
def test_factor_logits_reproduces_a_low_rank_matrix(bias):
    rng = np.random.default_rng(2)
    Z = rng.standard_normal((7, 2)) @ rng.standard_normal((2, 5)) + (
        rng.standard_normal(5) if bias else 0
    )
    H, W, b = factor_logits(Z, 3, bias)
    assert H.shape == (7, 3) and W.shape == (5, 3) and (b is not None) == bias
    np.testing.assert_allclose(H @ W.T + (0 if b is None else b), Z, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(H, axis=0), np.linalg.norm(W, axis=0), atol=1e-12)


def test_warm_starts_extend_a_solution_without_raising_its_gap():
    t, _ = bn.targets.synthetic(12, 9, "power", decay=0.5, scale=3.0, seed=0)
    low = bn.solve(t, 1, init="svd")
    starts = warm_starts(low, t, 3, bias=False)
    assert [s[0] for s in starts][-1] == "warm-zero-pad" and len(starts) == 4
    for _, H, W, b in starts:
        assert H.shape == (12, 3) and W.shape == (9, 3) and b is None
    assert t.gap_factors(*starts[-1][1:]) == pytest.approx(low.gap, rel=1e-12)
    H, W, _ = pad_factors(low.H, low.W, None, t, 3, 1e-4)
    assert t.gap_factors(H, W) <= low.gap + 1e-9
    np.testing.assert_array_equal(svd_start(t, 2)[0][:, :2], svd_start(t, 2)[0])
