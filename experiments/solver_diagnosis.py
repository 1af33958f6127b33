"""Why ``solve`` does not converge on real targets (issue 15): two measurements.

1. KJV word bigrams (300 contexts, ``min_count=20``), d = 4: ``solve`` for ``--seconds``,
   then, for ``--sample`` tokens that follow a single context, a linear program
   (``scipy.optimize.linprog``) for a direction ``u`` of ``w_j`` with ``h_r . u = 0`` on the
   context ``r`` that has the token and ``h_i . u <= 0`` on every other, ``< 0`` somewhere:
   moving ``w_j`` along ``u`` lowers the gap for ever, so the infimum is approached only as
   logits go to -inf (no finite stationary head).
2. Factored targets 48 x 3,000 from 8-dimensional features scaled by 1, 1.5 and 2.5 (more
   and more peaked rows: min p from 1e-19 to 1e-47), d = 2: Newton steps to ``tol``, at most
   ``--max-iter``, counted in iterations (no clock).

Run: ``OMP_NUM_THREADS=1 .venv/bin/python experiments/solver_diagnosis.py [--seconds 120]
[--max-iter 150]`` (about 3 minutes).
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.optimize import linprog

import bottleneck as bn


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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=120.0)
    p.add_argument("--sample", type=int, default=40)
    p.add_argument("--max-iter", type=int, default=150)
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
