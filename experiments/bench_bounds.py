"""Benchmark: ``bounds(target, d)`` on a dense 2,000 x 5,000 target against a full SVD.

Measures, in one run on this machine:
  * wall time of ``bn.bounds(target, 64)`` (target: < 10 s on 2 CPU cores);
  * the tail energy T_64 it uses against ``numpy.linalg.svd`` of the same matrix (target:
    1e-8 relative), and the time of that full SVD as the baseline (ratio reported).

Run: ``.venv/bin/python experiments/bench_bounds.py [--contexts 2000 --vocab 5000 --d 64]``.
Prints a small table; writes nothing.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import bottleneck as bn


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--contexts", type=int, default=2000)
    p.add_argument("--vocab", type=int, default=5000)
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)

    rng = np.random.default_rng(0)
    # A dense, full-rank, realistic-looking target: power-law log-prob spectrum plus noise.
    target, _ = bn.targets.synthetic(
        args.contexts, args.vocab, "power", decay=0.6, scale=40.0, seed=0
    )
    Z = np.array(target.log_probs) + 0.3 * rng.standard_normal(target.shape)
    target = bn.Target.from_logits(Z)

    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        s = bn.bounds(target, args.d)
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    T_ours = bn.tail_energy(target, args.d)
    t_tail = time.perf_counter() - t0

    A = bn.spectrum.centred_log_prob_matrix(target)
    t0 = time.perf_counter()
    sv = np.linalg.svd(A, compute_uv=False)
    t_svd = time.perf_counter() - t0
    T_ref = float(np.sum(sv[args.d :] ** 2))

    print(f"target {args.contexts} x {args.vocab}, d = {args.d}")
    print(
        f"bounds(target, d): median {np.median(times):.2f} s over {args.repeats} runs "
        f"(min {min(times):.2f} s)"
    )
    print(
        f"tail_energy alone: {t_tail:.2f} s; numpy.linalg.svd (values only): {t_svd:.2f} s; "
        f"ratio svd/tail {t_svd / t_tail:.1f}x"
    )
    print(
        f"T_d ours {T_ours:.12e}  numpy {T_ref:.12e}  "
        f"relative difference {abs(T_ours - T_ref) / T_ref:.2e}"
    )
    print(
        f"sandwich: lower {s.lower:.4g}  U_trunc {s.details['U_trunc'].value:.4g}  "
        f"upper {s.upper:.4g}  E_1 {s.estimates['E_1']:.4g}"
    )


if __name__ == "__main__":
    main()
