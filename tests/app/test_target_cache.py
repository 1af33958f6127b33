"""app.target_cache: every storage comes back equal, and a damaged file is rebuilt."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from bottleneck import Target
from bottleneck.app.target_cache import cached_target


def _targets():
    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.ones(5), size=4)
    S = sparse.csr_matrix(np.where(P > 0.2, P, 0.0))
    X, b = rng.normal(size=(4, 3)), rng.normal(size=6)
    W = rng.normal(size=(6, 3)).astype(np.float32).astype(np.float64)  # stored as float32
    w = np.array([0.1, 0.2, 0.3, 0.4])
    return {
        "dense": Target.from_probs(P, weights=w, bias=True),
        "sparse": Target.from_sparse(S, weights=w, normalize=True),
        "factored": Target.from_factors(X, W, b, weights=w),
    }


def test_cached_targets_round_trip_and_hit(tmp_path):
    for name, target in _targets().items():
        built, hit = cached_target(tmp_path, name, lambda t=target: t)
        assert built is target and not hit
        again, hit = cached_target(tmp_path, name, lambda: 1 / 0)  # never built again
        assert hit and again.storage == target.storage == name
        assert again.fingerprint() == target.fingerprint()


def test_a_damaged_cache_file_is_rebuilt(tmp_path):
    target = _targets()["dense"]
    cached_target(tmp_path, "k", lambda: target)
    (path,) = tmp_path.glob("target-*.npz")
    path.write_bytes(b"not an npz")
    again, hit = cached_target(tmp_path, "k", lambda: target)
    assert not hit and again is target
    assert cached_target(tmp_path, "k", lambda: 1 / 0)[1]


def test_a_head_that_is_not_float32_exact_is_kept_in_float64(tmp_path):
    rng = np.random.default_rng(1)
    target = Target.from_factors(rng.normal(size=(3, 2)), rng.normal(size=(4, 2)))
    cached_target(tmp_path, "f64", lambda: target)
    again, hit = cached_target(tmp_path, "f64", lambda: 1 / 0)
    assert hit and again.fingerprint() == target.fingerprint()
