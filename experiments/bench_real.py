"""Benchmark on real targets: ``bn.solve`` against Adam on the factors, and ``bn.bounds``.

Targets (issue 15):

* ``kjv_bigram``: word bigrams of the KJV, 300 most frequent contexts, ``min_count=20``
  (sparse, 300 x 25,750, 1.2% of the entries non-zero);
* ``smollm2``: SmolLM2-135M's next-token distributions on the first 128 tokens of the KJV
  (factored, 128 x 49,152; features cached under ``--cache``);
* ``factored_262k``: random factors X (128 x 64), W (262,144 x 64), only for the time of
  ``bounds()`` at d = 4 (CPU seconds, the process's own; wall seconds depend on the load).

Per target and rank: ``solve`` with a ``--solve-cap`` budget (everything else default), its
status and message, ``bounds()``'s certified ``lower``/``upper`` and ``U_trunc`` (the
sandwich ``lower <= gap`` must hold, and ``gap <= upper`` holds by construction), the paper's
Adam (every factor entry N(0, 1), [Godey2024] §5.1; ``experiments/bench_solver.py``'s
``run_adam``, same chunked float64 objective) for ``--adam-cap`` seconds at lr ``--lr``, and
for SmolLM2 the demo's trained head (25 Adam steps at lr 1e-3 on the frozen features,
:func:`bottleneck.empirical.heads.rank_curve`). Ratios as in ``bench_solver.py``: time to
``G_ref + 1e-6`` (``G_ref``: the lowest gap of the run) if both reach it, and the
equal-accuracy ratio ``t_Adam(L) / t_solve(L)`` at ``L`` = Adam's best gap + 1e-6.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python experiments/bench_real.py [--quick]
[--only kjv_bigram,smollm2,factored_262k] [--ds 4,16,64] [--out results.json]``; rows are
written atomically after each configuration. Full run: about 30 minutes on 2 cores.
Results: ``experiments/results/bench_real.json`` (``.log``: the printed lines).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from pathlib import Path

import numpy as np

import bottleneck as bn
from bottleneck._io import atomic_write_json

HERE = Path(__file__).resolve().parent


def _bench_solver():
    spec = importlib.util.spec_from_file_location("bench_solver", HERE / "bench_solver.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def kjv_bigram():
    return bn.targets.ngram(
        bn.corpora.kjv(), order=2, tokenizer="words", min_count=20, max_contexts=300
    )


def smollm2(cache):
    text = " ".join(bn.corpora.kjv(max_verses=40))
    return bn.targets.from_model(
        "smollm2",
        text,
        max_tokens=128,
        context_length=128,
        device="cpu",
        cache_dir=cache,
        progress=False,
    )


def factored_262k():
    rng = np.random.default_rng(0)
    return bn.Target.from_factors(
        rng.standard_normal((128, 64)), 0.3 * rng.standard_normal((262144, 64))
    )


def time_bounds(target, d):
    """``bounds(target, d)`` with its CPU and wall seconds."""
    c0, w0 = time.process_time(), time.perf_counter()
    s = bn.bounds(target, d)
    return s, time.process_time() - c0, time.perf_counter() - w0


def solver_row(name, target, d, args, bs):
    """One configuration: solve, bounds, Adam (and the demo's trained head for SmolLM2)."""
    sol = bn.solve(target, d, max_seconds=args.solve_cap, progress=False)
    s, cpu, wall = time_bounds(target, d)
    H0, W0 = bs.paper_init(target, d)
    adam = bs.run_adam(target, H0, W0, args.lr, args.adam_cap)
    solve_hist = list(sol.history)
    g_ref = min(sol.gap, bs.best_of(adam))
    cmp = bs.compare(solve_hist, {args.lr: adam}, g_ref, args.adam_cap)
    row = dict(
        target=name,
        shape=list(target.shape),
        d=d,
        gap=sol.gap,
        status=sol.status,
        message=sol.message,
        grad_norm=sol.grad_norm,
        solve_seconds=sol.seconds,
        iterations=sol.iterations,
        lower=s.lower,
        lower_name=s.lower_name,
        upper=s.upper,
        upper_name=s.upper_name,
        U_trunc=s.details["U_trunc"].value if "U_trunc" in s.details else None,
        sandwich_holds=bool(s.lower <= sol.gap <= max(s.upper, sol.gap)),
        gap_below_upper=bool(sol.gap <= s.upper),
        bounds_cpu_seconds=cpu,
        bounds_wall_seconds=wall,
        adam_lr=args.lr,
        adam_cap=args.adam_cap,
        G_ref=g_ref,
        **cmp,
    )
    if name == "smollm2":
        from bottleneck.empirical.heads import rank_curve

        point = rank_curve(target, [d], lrs=(1e-3,), steps=25, progress=False)[0]
        row["trained_25_steps"] = point.gap
        row["gap_at_most_trained_and_U_trunc"] = bool(
            sol.gap <= min(point.gap, row["U_trunc"] or np.inf)
        )
    return row


def bs_best(r):
    return min(r["adam_best_gap"].values())


def describe(r):
    eq = r["ratio_at_equal_accuracy"]
    full = r["ratio_adam_over_solve"]
    extra = f" trained25 {r['trained_25_steps']:.6g}" if "trained_25_steps" in r else ""
    return (
        f"{r['target']} d={r['d']}: solve gap {r['gap']:.8g} ({r['status']}, "
        f"{r['solve_seconds']:.0f} s, grad {r['grad_norm']:.1e}); lower {r['lower']:.4g} "
        f"({r['lower_name']}) upper {r['upper']:.6g} ({r['upper_name']}) U_trunc "
        f"{r['U_trunc']}{extra}; sandwich {r['sandwich_holds']}; bounds "
        f"{r['bounds_cpu_seconds']:.1f} s CPU; Adam best {bs_best(r):.6g} in "
        f"{r['adam_cap']:.0f} s; ratio to G_ref+1e-6 "
        f"{'n/a' if full is None else f'{full:.1f}x'}; at Adam's best accuracy "
        f"{'n/a' if eq is None else f'{eq:.1f}x'}"
    )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="caps of 10 s, d = 4 only")
    p.add_argument("--only", default="kjv_bigram,smollm2,factored_262k")
    p.add_argument("--ds", default="4,16,64")
    p.add_argument("--solve-cap", type=float, default=120.0)
    p.add_argument("--adam-cap", type=float, default=60.0)
    p.add_argument("--lr", type=float, default=3e-2)
    p.add_argument("--cache", default="out/bench_real_cache")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    ds = [4] if args.quick else [int(x) for x in args.ds.split(",")]
    if args.quick:
        args.solve_cap, args.adam_cap = 10.0, 10.0
    bs = _bench_solver()
    bs.warm_up()
    rows = []
    if args.out and Path(args.out).is_file():
        rows = json.loads(Path(args.out).read_text())["rows"]
    done = {(r["target"], r["d"]) for r in rows}
    for name in args.only.split(","):
        if name == "factored_262k":
            if (name, 4) in done:
                continue
            s, cpu, wall = time_bounds(factored_262k(), 4)
            row = dict(
                target=name,
                d=4,
                lower=s.lower,
                upper=s.upper,
                bounds_cpu_seconds=cpu,
                bounds_wall_seconds=wall,
            )
            print(
                f"{name} d=4: bounds {cpu:.1f} s CPU, {wall:.1f} s wall; lower "
                f"{s.lower:.4g} upper {s.upper:.6g}",
                flush=True,
            )
            rows.append(row)
        else:
            target = kjv_bigram() if name == "kjv_bigram" else smollm2(args.cache)
            for d in ds:
                if (name, d) in done:
                    continue
                rows.append(solver_row(name, target, d, args, bs))
                print(describe(rows[-1]), flush=True)
                if args.out:
                    atomic_write_json(args.out, {"rows": rows})
        if args.out:
            atomic_write_json(args.out, {"rows": rows})
    return rows


if __name__ == "__main__":
    main()
