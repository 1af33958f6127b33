"""optim.lbfgs: preconditioned L-BFGS reaches the optimum Newton finds, and says why it
stopped."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import bottleneck as bn
from bottleneck.optim.lbfgs import minimize_factors
from bottleneck.optim.objective import GapObjective
from bottleneck.optim.starts import svd_start


def test_lbfgs_reaches_the_newton_optimum():
    t, _ = bn.targets.synthetic(15, 12, "power", decay=0.7, scale=3.0, seed=1)
    newton = bn.solve(t, 2, tol=1e-9, init="svd")
    lbfgs = bn.solve(t, 2, tol=1e-9, init="svd", method="lbfgs")
    assert lbfgs.status in bn.optim.STATUSES and newton.success
    assert lbfgs.gap == pytest.approx(newton.gap, rel=1e-6)


def test_lbfgs_statuses():
    t, _ = bn.targets.synthetic(15, 12, "power", decay=0.7, scale=3.0, seed=1)
    obj = GapObjective(t, torch.device("cpu"), torch.float64)
    H0, W0, _ = svd_start(t, 2)
    short = minimize_factors(obj, H0, W0, None, tol=1e-14, max_iter=3, check_every=1)
    assert short.status == "max_iter" and short.iterations == 3 and len(short.history) == 3
    done = minimize_factors(obj, H0, W0, None, tol=1e-6, max_iter=5000)
    assert done.status == "converged" and done.grad_norm <= 1e-6
    assert t.gap_factors(done.H, done.W) <= t.gap_factors(H0, W0)
    empty = minimize_factors(obj, np.zeros((15, 0)), np.zeros((12, 0)), None, tol=1e-9, max_iter=10)
    assert empty.status == "converged" and empty.iterations == 0  # d = 0: Z = 0 is the only head
