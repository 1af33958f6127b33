"""optim.fisher: the Fisher estimate E_F is asymptotically exact; the Fisher solution is a
low-rank head kept as factors."""

from __future__ import annotations

import numpy as np
import pytest

import bottleneck as bn


def test_fisher_estimate_asymptotically_exact():
    """G*(d)/E_F(d) -> 1 as the log-prob tail vanishes (proofs/estimates.md)."""
    ratios = []
    for scale in (2.0, 0.5, 0.1):
        t, _ = bn.targets.synthetic(20, 15, "power", decay=0.5, scale=scale, seed=3)
        ratios.append(bn.solve(t, 2, tol=1e-13).gap / bn.fisher_estimate(t, 2, tol=1e-13))
    errs = [abs(r - 1) for r in ratios]
    assert errs[2] < errs[1] < errs[0]
    assert errs[2] < 0.02


@pytest.mark.parametrize("bias", [False, True])
def test_fisher_solution_is_factors_of_a_rank_d_head(bias):
    t, _ = bn.targets.synthetic(12, 10, "power", decay=0.5, scale=1.0, seed=4, bias=bias)
    fs = bn.fisher_solution(t, 2)
    assert fs.H.shape == (12, 2) and fs.W.shape == (10, 2) and (fs.bias is not None) == bias
    assert fs.success and fs.status == "converged" and fs.to_record()["d"] == 2
    Z = fs.logits()
    assert np.linalg.matrix_rank(Z - (0 if fs.bias is None else fs.bias), tol=1e-9) <= 2
    assert bn.optim.fisher_value(t, Z) == pytest.approx(bn.fisher_estimate(t, 2), rel=1e-12)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(tol=0.0), ValueError, "tol must be > 0"),
        (dict(tol="1e-8"), TypeError, "tol must be a real number"),
        (dict(max_iter=2.5), TypeError, "max_iter must be an integer"),
        (dict(max_seconds=-1.0), ValueError, "max_seconds must be >= 0"),
        (dict(max_seconds=float("nan")), ValueError, "max_seconds must be a finite number"),
    ],
)
def test_fisher_rejects_bad_options(kwargs, error, match):
    t, _ = bn.targets.synthetic(5, 4, "power", decay=1.0, scale=1.0, seed=0)
    with pytest.raises(error, match=match):
        bn.fisher_estimate(t, 1, **kwargs)
    with pytest.raises(TypeError, match="target must be a bottleneck.Target"):
        bn.fisher_solution(np.eye(3), 1)
