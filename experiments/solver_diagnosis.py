"""Why ``solve`` does not converge on real targets (issue 15): two measurements.

1. KJV word bigrams (300 contexts, ``min_count=20``), d = 4: ``solve`` for ``--seconds``,
   then, for ``--sample`` tokens that follow a single context, a linear program
   (``scipy.optimize.linprog``) for a direction ``u`` of ``w_j`` with ``h_r . u = 0`` on the
   context ``r`` that has the token and ``h_i . u <= 0`` on every other, ``< 0`` somewhere:
   moving ``w_j`` along ``u`` lowers the gap for ever, so the infimum is approached only as
   logits go to -inf (no finite stationary head).
2. With ``--long-seconds S`` (e.g. 900), the same target and rank solved for ``S`` seconds:
   the gap at 60, 120, 300, 600, ... s from its history, the final gradient norm, the part of
   the gap that is mass on zeros of the target (``sum_i pi_i (-log(1 - m_i))`` with ``m_i``
   the head's mass outside the support of row ``i``: what a head loses by not being able to
   zero those entries), the largest logit and the support sizes of the rows with the largest
   ``|h_i|``.
3. With ``--separation-seconds S``: the single-context reduction. For any head, the chain
   rule of KL over the split {kept tokens, row ``r``'s single-context tokens} gives
   ``KL(P_r || q_r) >= (1 - m_r) KL(P'_r || q'_r)``, with ``m_r`` row ``r``'s mass on tokens
   that follow no other context, ``P'_r`` the rest renormalised and ``q'_r`` the head's
   softmax over the kept tokens alone; so ``G*(d) >= Z G*_red(d)`` for the reduced target
   (rows ``P'_r``, weights ``pi_r (1 - m_r) / Z``, ``Z = sum_r pi_r (1 - m_r)``). Equality
   holds in the limit for a reduced head whose ``H`` makes every context with such tokens an
   exposed ray of the cone of the ``h_i`` (a ``u_r`` with ``h_r . u_r = 0`` and
   ``h_i . u_r < 0`` for ``i != r``): each such token can then get exactly its target
   probability in its context and vanish elsewhere (:func:`lift_single_tokens`). The script
   solves the reduced target for ``S`` seconds, counts the contexts its ``H`` exposes (LP),
   and lifts the head back to measure the full gap it gives.
4. Factored targets 48 x 3,000 from 8-dimensional features scaled by 1, 1.5 and 2.5 (more
   and more peaked rows: min p from 1e-19 to 1e-47), d = 2: Newton steps to ``tol``, at most
   ``--max-iter``, counted in iterations (no clock).

Run: ``OMP_NUM_THREADS=1 .venv/bin/python experiments/solver_diagnosis.py [--seconds 120]
[--max-iter 150] [--long-seconds 900] [--separation-seconds 120]`` (about 3 minutes, plus
``S`` seconds for each of the last two).
"""

from __future__ import annotations

import argparse

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog
from scipy.special import logsumexp

import bottleneck as bn
from bottleneck.target import log_softmax


def recession_directions(target, H, tokens):
    """For each token (a column with support in one row), whether an LP finds ``u``."""
    P = target.sparse_probs.tocsc()
    found = 0
    for j in tokens:
        rows = P.indices[P.indptr[j] : P.indptr[j + 1]]
        off = np.setdiff1d(np.arange(H.shape[0]), rows)
        res = linprog(
            H[off].sum(axis=0),
            A_ub=H[off],
            b_ub=np.zeros(off.size),
            A_eq=H[rows],
            b_eq=np.zeros(rows.size),
            bounds=[(-1, 1)] * H.shape[1],
        )
        found += bool(res.status == 0 and res.fun < -1e-9)
    return found


def single_context_reduction(target):
    """The target without its single-context tokens: ``(reduced, keep, kept_mass)``.

    ``reduced`` has rows ``P'_r`` (row ``r`` on the tokens ``keep`` that follow two or more
    contexts, renormalised) and weights ``pi_r (1 - m_r) / Z``, ``Z = sum_i pi_i (1 - m_i)``
    (:func:`reduction_weight`); ``kept_mass[r] = 1 - m_r``. Sparse targets without a bias
    (the lift has none), every row keeping some mass.
    """
    if target.bias:
        raise ValueError("the single-context reduction is written for heads without a bias")
    P = target.sparse_probs.tocsr()
    keep = np.flatnonzero(np.diff(P.tocsc().indptr) >= 2)
    kept = P[:, keep]
    kept_mass = np.asarray(kept.sum(axis=1)).ravel()
    if np.any(kept_mass <= 0):
        raise ValueError("a row has all its mass on single-context tokens")
    weights = np.asarray(target.weights) * kept_mass / reduction_weight(target, kept_mass)
    reduced = bn.Target.from_sparse(sp.diags(1.0 / kept_mass) @ kept, weights=weights)
    return reduced, keep, kept_mass


def reduction_weight(target, kept_mass) -> float:
    """``Z = sum_r pi_r (1 - m_r)``: the full gap of a lifted head tends to ``Z`` times the
    reduced gap of its kept part, and ``G*(d) >= Z G*_red(d)`` (chain rule)."""
    return float(np.sum(np.asarray(target.weights) * kept_mass))


def exposing_directions(H, rows):
    """``u_r`` with ``h_r . u_r = 0`` and ``h_i . u_r <= -1`` for every ``i != r`` (an LP per
    row of ``rows``), shape (N, d), and which rows have one (N,) bool."""
    n, d = H.shape
    U, exposed = np.zeros((n, d)), np.zeros(n, dtype=bool)
    for r in rows:
        off = np.arange(n) != r
        res = linprog(
            np.zeros(d),
            A_ub=H[off],
            b_ub=-np.ones(n - 1),
            A_eq=H[r : r + 1],
            b_eq=[0.0],
            bounds=[(None, None)] * d,
        )
        if res.status == 0:
            U[r], exposed[r] = res.x, True
    return U, exposed


def lift_single_tokens(target, H, W_kept, keep, kept_mass, U, scale):
    """A full head from a head of the reduced target: the tokens ``keep`` get ``W_kept``;
    a token ``j`` that follows only context ``r`` gets ``w_j = a_j h_r / |h_r|^2 + scale u_r``
    with ``a_j = log sum_k exp(h_r . w_k) + log(p_rj / (1 - m_r))`` (sum over kept tokens),
    so that ``q_rj = p_rj`` when ``h_i . w_j -> -inf`` for ``i != r``. Returns W (V, d)."""
    P = target.sparse_probs.tocsr()
    single = np.setdiff1d(np.arange(P.shape[1]), keep)
    entries = P[:, single].tocoo()
    r, j = entries.row, single[entries.col]
    log_partition = logsumexp(H @ W_kept.T, axis=1)
    a = log_partition[r] + np.log(entries.data / kept_mass[r])
    W = np.zeros((P.shape[1], H.shape[1]))
    W[keep] = W_kept
    W[j] = (a / np.sum(H[r] ** 2, axis=1))[:, None] * H[r] + scale * U[r]
    return W


def separation(target, seconds, d=4):
    """Measurement 3: solve the reduced target, count exposed contexts, lift, measure."""
    reduced, keep, kept_mass = single_context_reduction(target)
    sol = bn.solve(reduced, d, max_seconds=seconds, progress=False)
    limit = sol.gap * reduction_weight(target, kept_mass)
    P = target.sparse_probs.tocsr()
    single = np.setdiff1d(np.arange(P.shape[1]), keep)
    rows = np.unique(P[:, single].tocoo().row)
    U, exposed = exposing_directions(sol.H, rows)
    lifted = {
        s: target.gap(sol.H @ lift_single_tokens(target, sol.H, sol.W, keep, kept_mass, U, s).T)
        for s in (0.0, 30.0, 1000.0)
    }
    print(
        f"KJV bigrams without the single-context tokens {reduced.shape}, d = {d}, "
        f"{sol.seconds:.0f} s ({sol.status}): Z gap_red = {limit:.6g} (what its lift tends to if "
        f"every context is exposed), largest |logit| {np.abs(sol.logits()).max():.3g}; "
        f"its H exposes {exposed[rows].sum()} of the "
        f"{rows.size} contexts that have single-context tokens; the lifted head's full gap "
        + ", ".join(f"{v:.6g} at scale {s:g}" for s, v in lifted.items()),
        flush=True,
    )


def long_run(target, seconds, d=4):
    """Measurement 2: where a long run goes, and what its gap is made of."""
    sol = bn.solve(target, d, max_seconds=seconds, n_starts=1, progress=False)
    marks = [m for m in (60, 120, 300, 600, 900, 1800, 3600) if m <= seconds]
    at = {m: min((v for s, v in sol.history if s <= m), default=float("nan")) for m in marks}
    P = target.sparse_probs.tocoo()
    Z = sol.logits()
    largest_logit = np.abs(Z).max()
    # q_i(support of p_i): the head's mass on the observed next words of each context
    Q_observed = np.exp(log_softmax(Z)[P.row, P.col])
    on_support = np.bincount(P.row, weights=Q_observed, minlength=P.shape[0])
    zero_part = float(np.sum(np.asarray(target.weights) * -np.log(on_support)))
    norms = np.linalg.norm(sol.H, axis=1)
    largest = np.argsort(-norms)[:5]
    observed = np.bincount(P.row, minlength=P.shape[0])
    print(
        f"KJV bigrams, d = {d}, {sol.seconds:.0f} s: gap "
        + ", ".join(f"{at[m]:.6g} at {m} s" for m in marks)
        + f", {sol.gap:.6g} at the end ({sol.status}), grad {sol.grad_norm:.1e}; mass on zeros "
        f"of the target: {zero_part:.4g} nats of the gap (median row mass "
        f"{np.median(1 - on_support):.3f}); largest |logit| {largest_logit:.3g}; "
        f"rows with the largest |h_i| ({', '.join(f'{norms[i]:.0f}' for i in largest)}) have "
        f"{', '.join(str(observed[i]) for i in largest)} observed next words",
        flush=True,
    )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=120.0)
    p.add_argument("--sample", type=int, default=40)
    p.add_argument("--max-iter", type=int, default=150)
    p.add_argument("--long-seconds", type=float, default=0.0)
    p.add_argument("--separation-seconds", type=float, default=0.0)
    args = p.parse_args(argv)
    t = bn.targets.ngram(
        bn.corpora.kjv(), order=2, tokenizer="words", min_count=20, max_contexts=300
    )
    support = np.diff(t.sparse_probs.tocsc().indptr)
    sol = bn.solve(t, 4, max_seconds=args.seconds, progress=False)
    single = np.flatnonzero(support == 1)
    sample = np.random.default_rng(0).choice(single, size=args.sample, replace=False)
    found = recession_directions(t, sol.H, sample)
    print(
        f"KJV bigrams {t.shape}, d = 4, {sol.seconds:.0f} s: gap {sol.gap:.6g} ({sol.status}); "
        f"{single.size} tokens follow one context; a recession direction for {found} of "
        f"{args.sample} sampled; message: {sol.message}",
        flush=True,
    )
    if args.long_seconds > 0:
        long_run(t, args.long_seconds)
    if args.separation_seconds > 0:
        separation(t, args.separation_seconds)
    for scale in (1.0, 1.5, 2.5):
        rng = np.random.default_rng(0)
        X = scale * rng.standard_normal((48, 8))
        W = rng.standard_normal((3000, 8)) * np.linspace(1.5, 0.3, 3000)[:, None]
        f = bn.Target.from_factors(X, W)
        s = bn.solve(f, 2, init="svd", max_iter=args.max_iter, n_starts=1, progress=False)
        print(
            f"factored 48 x 3,000, features x{scale}, min p {f.min_probs().min():.1e}, d = 2: "
            f"{s.status} after {s.iterations} Newton steps, gap {s.gap:.6g}, grad "
            f"{s.grad_norm:.1e}, largest |logit| {np.abs(s.logits()).max():.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
