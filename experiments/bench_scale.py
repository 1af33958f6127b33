"""Benchmarks of corpus-scale counting and spectra (issue 23), on the offline corpus.

1. **Counting throughput**: the same corpus slice counted embedded (Dask's local threaded
   scheduler, one process) and on a 2-worker ``LocalCluster`` (processes), equal results
   checked; tokens per second and the ratio, in the same run. The cluster's start-up is
   timed apart.
2. **Cost against corpus size**: 5-gram targets (Pythia BPE) of about 1M, 4M and 16M words:
   contexts, vocabulary, non-zeros, counting time, peak memory (each size in a fresh
   process, so the peak is its own), and the SLQ curve's time at fixed parameters.
3. **SLQ against exact** where both run (the most frequent 2,000 and 5,000 contexts of the 4M
   slice, every column): time, largest error, largest stated error.
4. **Extrapolation to Pile scale** (300B tokens) from power laws fitted to the three sizes.

    .venv/bin/python experiments/bench_scale.py --corpus out/ngram_scale/corpus \\
        --out experiments/results/bench_scale.json

The corpus is the one ``experiments/ngram_werror.py --scale`` builds. Budgets are counts
(words, Lanczos steps, probes); times are measured, never asserted.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import bottleneck as bn
from bottleneck import spectrum
from bottleneck._io import atomic_write_json

SIZES = (1_000_000, 4_000_000, 16_000_000)
SLQ = dict(lanczos_steps=50, probes=8, deflation=256)
PILE_TOKENS = 300e9


def shard_slice(corpus: Path, words: int) -> list[Path]:
    """Shards of the built corpus taken round-robin across its sources (so every slice
    mixes domains) until about ``words`` words."""
    manifest = json.loads((corpus / "MANIFEST.json").read_text(encoding="utf-8"))
    queues = [[corpus / f for f in s["shards"]] for s in manifest["sources"].values()]
    per_shard = {
        corpus / f: s["words"] / max(len(s["shards"]), 1)
        for s in manifest["sources"].values()
        for f in s["shards"]
    }
    out, total = [], 0.0
    while total < words and any(queues):
        for q in queues:
            if q and total < words:
                out.append(q.pop(0))
                total += per_shard[out[-1]]
    return out


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def measure_size(corpus: Path, words: int) -> dict:
    """One size, in this process: count the 5-gram target embedded, then its SLQ curve."""
    files = shard_slice(corpus, words)
    t0 = time.perf_counter()
    target, info = bn.targets.ngram_with_info(files, 5, tokenizer="gpt-neox")
    count_s = time.perf_counter() - t0
    peak_count = _peak_gb()
    t0 = time.perf_counter()
    curve = spectrum.w_error_curve(target, [100, 1000, 5000], method="slq", **SLQ)
    slq_s = time.perf_counter() - t0
    return dict(
        words_asked=words,
        files=len(files),
        tokens=info.n_tokens,
        ngrams=info.n_ngrams,
        contexts=target.n_contexts,
        vocab=target.vocab_size,
        nnz=int(info.counts.nnz),
        count_seconds=count_s,
        tokens_per_second=info.n_tokens / count_s,
        peak_rss_gb_counting=peak_count,
        slq_seconds=slq_s,
        slq_passes=curve.passes,
        w_error=dict(zip(curve.ds.tolist(), curve.w_error.round(4).tolist())),
        peak_rss_gb=_peak_gb(),
    )


def counting_vs_cluster(corpus: Path, words: int) -> dict:
    """Embedded vs a 2-worker LocalCluster on the same files; results compared."""
    from distributed import Client, LocalCluster

    files = shard_slice(corpus, words)
    t0 = time.perf_counter()
    a, ia = bn.targets.ngram_with_info(files, 5, tokenizer="gpt-neox")
    embedded = time.perf_counter() - t0
    t0 = time.perf_counter()
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        startup = time.perf_counter() - t0
        client.run(lambda: __import__("bottleneck.targets.ngram_corpus"))
        t0 = time.perf_counter()
        b, ib = bn.targets.ngram_with_info(files, 5, tokenizer="gpt-neox", client=client)
        clustered = time.perf_counter() - t0
        worker_peak = client.run(lambda: __import__("resource").getrusage(0).ru_maxrss / 1e6)
    same = (a.sparse_probs != b.sparse_probs).nnz == 0 and list(ia.contexts) == list(ib.contexts)
    return dict(
        files=len(files),
        tokens=ia.n_tokens,
        embedded_seconds=embedded,
        cluster_seconds=clustered,
        cluster_startup_seconds=startup,
        ratio_embedded_over_cluster=embedded / clustered,
        identical=bool(same),
        worker_peak_rss_gb=sorted(worker_peak.values()),
    )


def slq_vs_exact(corpus: Path, words: int) -> list[dict]:
    files = shard_slice(corpus, words)
    rows = []
    for contexts in (2000, 5000):
        t = bn.targets.ngram(files, 3, tokenizer="gpt-neox", max_contexts=contexts)
        ds = np.unique(np.geomspace(1, contexts - 1, 40).round().astype(int))
        t0 = time.perf_counter()
        exact = spectrum.w_error_curve(t, ds, method="exact")
        exact_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        slq = spectrum.w_error_curve(
            t, ds, method="slq", lanczos_steps=100, probes=16, deflation=256
        )
        slq_s = time.perf_counter() - t0
        gap = np.abs(slq.w_error - exact.w_error)
        rows.append(
            dict(
                shape=list(t.shape),
                exact_seconds=exact_s,
                slq_seconds=slq_s,
                ratio_exact_over_slq=exact_s / slq_s,
                max_abs_error=float(gap.max()),
                max_stated_error=float(slq.error.max()),
                median_stated_error=float(np.median(slq.error)),
                within_stated_error=bool(np.all(gap <= slq.error)),
            )
        )
    return rows


def extrapolate(sizes: list[dict], cluster: dict) -> dict:
    """Power laws in the token count, fitted on the measured sizes, taken to 300B tokens."""
    x = np.log([s["tokens"] for s in sizes])

    def law(key):
        slope, intercept = np.polyfit(x, np.log([s[key] for s in sizes]), 1)
        return float(slope), float(math.exp(intercept + slope * math.log(PILE_TOKENS)))

    ngram_exp, ngrams_pile = law("ngrams")
    nnz_exp, nnz_pile = law("nnz")
    ctx_exp, ctx_pile = law("contexts")
    per_worker = cluster["tokens"] / cluster["cluster_seconds"] / 2  # tokens/s per worker
    bytes_per_entry = 36  # merge table: 5 int32 ids + int64 count + int64 first position
    table_gb = nnz_pile * bytes_per_entry / 1e9
    workers_for_memory = math.ceil(table_gb / 16)  # 16 GB of count table per worker
    pass_rate = sizes[-1]["slq_passes"] / sizes[-1]["slq_seconds"] * sizes[-1]["nnz"]
    return dict(
        exponents=dict(ngrams=ngram_exp, nnz=nnz_exp, contexts=ctx_exp),
        pile_nnz=nnz_pile,
        pile_contexts=ctx_pile,
        count_table_gb=table_gb,
        workers_for_memory=workers_for_memory,
        tokens_per_second_per_worker=per_worker,
        counting_hours_on_those_workers=PILE_TOKENS / (per_worker * workers_for_memory) / 3600,
        slq_hours_per_pass_one_core=nnz_pile / pass_rate / 3600,
        slq_passes=sizes[-1]["slq_passes"],
    )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", default="out/ngram_scale/corpus")
    p.add_argument("--out", default="experiments/results/bench_scale.json")
    p.add_argument("--one", type=int, help=argparse.SUPPRESS)  # one size, in a child
    args = p.parse_args(argv)
    corpus = Path(args.corpus)
    if args.one:
        print(json.dumps(measure_size(corpus, args.one)))
        return None
    if not (corpus / "MANIFEST.json").exists():
        raise SystemExit(f"no built corpus at {corpus}: run experiments/ngram_werror.py --scale")
    sizes = []
    for words in SIZES:
        child = subprocess.run(
            [sys.executable, __file__, "--corpus", str(corpus), "--one", str(words)],
            check=True,
            capture_output=True,
            text=True,
        )
        sizes.append(json.loads(child.stdout.strip().splitlines()[-1]))
        print(json.dumps(sizes[-1]), flush=True)
    cluster = counting_vs_cluster(corpus, SIZES[1])
    print(json.dumps(cluster), flush=True)
    exact = slq_vs_exact(corpus, SIZES[1])
    print(json.dumps(exact), flush=True)
    result = dict(
        sizes=sizes,
        cluster=cluster,
        slq_vs_exact=exact,
        extrapolation=extrapolate(sizes, cluster),
        slq_parameters=SLQ,
        machine="2 cores, 24 GB",
    )
    atomic_write_json(args.out, result)
    print(json.dumps(result["extrapolation"], indent=1))
    return result


if __name__ == "__main__":
    main()
