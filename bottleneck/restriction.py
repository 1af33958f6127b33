"""Lemma R: restrictions of a target to a token subset, where Theorem L can be positive.

Restricting to tokens ``S`` and contexts ``I`` gives rows ``p_i(.|S)`` with weights
``pi_i p_i(S)``, and ``G*(d; P) >= G*(d; restricted)`` by the chain rule of KL
(proofs/lemma_r.md). A restriction with full support and log-prob rank above ``d`` gives a
positive Theorem L bound even when the whole target has zeros, or a larger one when its
smallest probabilities are tiny. This module chooses the subsets; :mod:`bottleneck.bounds`
evaluates Theorem L on them (:meth:`bottleneck.Target.restrict` builds each restriction).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .target import Target

__all__ = ["restriction_candidates", "full_support_restrictions"]


def restriction_candidates(
    target: Target, d: int, max_candidates: int = 2
) -> list[tuple[str, np.ndarray]]:
    """Vocabulary subsets ``S`` tried by Lemma R: the top-``k`` tokens of ``pbar = pi^T P``.

    The full vocabulary, then sizes ``k = (d + 2) * 4^j <= V/2`` (at most ``max_candidates``
    of them); for targets with zeros also a token set that ``>= d + 1`` contexts all give
    positive mass (:func:`_support_biclique`), so a full-support restriction exists. Subsets
    with ``k <= d + 1`` are useless (their log-prob rank is ``<= d``); subsets above ``V/2``
    rarely raise ``min_j p_ij`` enough to pay for another SVD. Proof that any subset gives a
    valid lower bound: proofs/lemma_r.md.
    """
    V = target.vocab_size
    pbar = target.mean_probs()
    order = np.argsort(-pbar, kind="stable")
    out = [("all tokens", np.arange(V))]
    k = (d + 2) * 4
    while k <= V // 2 and len(out) <= max_candidates:
        out.append((f"top-{k} tokens", np.sort(order[:k])))
        k *= 4
    if not target.has_full_support:
        S = _support_biclique(target, d)
        if S is not None:
            out.append((f"{S.size} tokens shared by many supports", S))
    return out


def full_support_restrictions(target: Target, d: int) -> Iterator[tuple[str, Target, bool]]:
    """``(label, restricted target, whole)`` for every candidate of
    :func:`restriction_candidates` whose full-support restriction can have rank above ``d``.

    The contexts kept are those giving every token of ``S`` positive mass; ``whole`` says
    the restriction is the target itself (all tokens, all contexts), which is then yielded
    unchanged. The label names the subset and how many contexts it keeps.
    """
    for name, S in restriction_candidates(target, d):
        if S.size == target.vocab_size and target.has_full_support:
            rows = np.arange(target.n_contexts)
        else:
            rows = np.flatnonzero((target.columns(S)[0] > 0).all(axis=1))
        if rows.size == 0:
            continue
        whole = S.size == target.vocab_size and rows.size == target.n_contexts
        sub = target if whole else target.restrict(S, rows)
        if d >= min(sub.shape):
            continue
        yield f"{name}, {rows.size}/{target.n_contexts} contexts", sub, whole


def _support_biclique(target: Target, d: int, max_tokens: int | None = None):
    """Tokens ``S`` (``|S| >= d + 2``) that at least ``d + 1`` contexts all give positive mass.

    Greedy: start from the ``2(d + 2)`` tokens in the most supports and drop, one at a
    time, the token whose removal most enlarges the set of contexts containing all of
    ``S``. Restricting to ``S`` and those contexts gives a full-support target of rank up
    to ``min(|I|, |S| - 1) > d`` (Lemma R), so Theorem L can be positive. None if none found.
    """
    B = target.support()
    counts = np.asarray(B.sum(axis=0)).ravel()
    k0 = min(max_tokens or 2 * (d + 2), target.vocab_size)
    S = list(np.argsort(-counts, kind="stable")[:k0])
    Bc = B.tocsc()
    while True:
        cols = Bc[:, S]
        full = np.asarray(cols.sum(axis=1)).ravel()
        if np.count_nonzero(full == len(S)) >= d + 1:
            return np.sort(np.array(S))
        if len(S) <= d + 2:
            return None
        best, best_gain = None, -1
        for j, t in enumerate(S):
            others = full - np.asarray(cols[:, j].todense()).ravel()
            gain = np.count_nonzero(others == len(S) - 1)
            if gain > best_gain:
                best, best_gain = t, gain
        S.remove(best)
