"""restriction: the Lemma R subsets tried by bounds(), and the restricted targets they give."""

from __future__ import annotations

import numpy as np

import bottleneck as bn
from bottleneck import restriction


def test_candidates_start_with_every_token_and_grow_by_four():
    t, _ = bn.targets.synthetic(20, 200, "power", decay=0.5, scale=2.0, seed=0)
    names = [name for name, _ in restriction.restriction_candidates(t, 2)]
    assert names == ["all tokens", "top-16 tokens", "top-64 tokens"]
    for _, S in restriction.restriction_candidates(t, 2):
        assert np.all(np.diff(S) > 0)


def test_zeros_give_a_full_support_restriction():
    """A block of contexts sharing a support: the biclique search finds it, and every yielded
    restriction has full support and a rank that can exceed d."""
    P = np.zeros((6, 8))
    P[:4, :5] = np.random.default_rng(1).dirichlet(np.ones(5), size=4)
    P[4:, 3:] = 1 / 5
    t = bn.Target.from_probs(P)
    names = [name for name, _ in restriction.restriction_candidates(t, 1)]
    assert names[-1].endswith("tokens shared by many supports")
    found = list(restriction.full_support_restrictions(t, 1))
    assert found and all(sub.has_full_support and min(sub.shape) > 1 for _, sub, _ in found)
    assert not any(whole for _, _, whole in found)
    assert bn.bounds(t, 1).details["L_restricted"].value > 0.0
