"""Held-out loss of rank-r heads against the head's W-error [Godey2024, §6.2, Fig. 8 analogue].

x: the paper's W-error of the model's own head at rank r,
``W_err(r) = sqrt(sum_{k>r} sigma_k^2) / ||W||_F`` (SmolLM2-135M's 49,152 x 576 head);
y: the held-out loss of the rank-r heads of ``rank_heads.py`` (logit-SVD and distilled).
The paper's points (Pythia-1B head W-error vs the rank-constrained head's Pile loss,
docs/paper.md §7) are overlaid; its claim is that performance degrades once the W-error
exceeds about 0.6.

    .venv/bin/python experiments/loss_vs_werror.py --out out/loss_vs_werror \\
        [--from out/rank_heads/rank_heads.json] [--quick]

Without ``--from`` (or when the file is missing) it runs ``rank_heads.py`` first (with
``--quick`` if given) into ``OUT/rank_heads``. Writes ``loss_vs_werror.csv`` (every
plotted point, ours and the paper's), ``loss_vs_werror.json`` and ``loss_vs_werror.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bottleneck._io import atomic_write_csv, atomic_write_json

#: docs/paper.md §7, Fig. 8: rank, W-error of the trained Pythia-1B head, loss of the rank-r head
PAPER_FIG8 = {
    "r": [2048, 1536, 1024, 512, 256, 128, 64, 32],
    "w_error": [0.00, 0.36, 0.555, 0.73, 0.823, 0.873, 0.90, 0.918],
    "loss": [2.471, 2.487, 2.534, 2.642, 2.78, 3.00, 3.39, 3.83],
}


def load_rank_heads(path: Path | None, out: Path, quick: bool) -> dict:
    if path is not None and path.is_file():
        return json.loads(path.read_text())
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import rank_heads

    return rank_heads.main((["--quick"] if quick else []) + ["--out", str(out / "rank_heads")])


def points(result: dict) -> list[dict]:
    rows = []
    for r in result["rows"]:
        rows.append(
            dict(
                source="SmolLM2 distilled (this run)",
                rank=r["rank"],
                w_error=r["w_error"],
                loss=r["distilled_test_loss"],
            )
        )
        rows.append(
            dict(
                source="SmolLM2 logit-SVD (this run)",
                rank=r["rank"],
                w_error=r["w_error"],
                loss=r["svd_test_loss"],
            )
        )
    for r, w, l in zip(PAPER_FIG8["r"], PAPER_FIG8["w_error"], PAPER_FIG8["loss"]):
        rows.append(dict(source="paper Fig. 8: Pythia-1B (Pile)", rank=r, w_error=w, loss=l))
    return rows


def plot(rows, result, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bottleneck.app.plots import save_figure

    fig, ax = plt.subplots(figsize=(8, 5))
    styles = {
        "SmolLM2 distilled (this run)": dict(color="k", marker="o", ls="-"),
        "SmolLM2 logit-SVD (this run)": dict(color="tab:blue", marker="s", ls="--"),
        "paper Fig. 8: Pythia-1B (Pile)": dict(color="tab:red", marker="^", ls=":"),
    }
    for source, style in styles.items():
        pts = sorted((p for p in rows if p["source"] == source), key=lambda p: p["w_error"])
        ax.plot([p["w_error"] for p in pts], [p["loss"] for p in pts], label=source, **style)
        for p in pts:
            ax.annotate(
                f"r={p['rank']}",
                (p["w_error"], p["loss"]),
                fontsize=6,
                xytext=(3, 3),
                textcoords="offset points",
            )
    ax.axvline(0.6, color="gray", ls="--", lw=1)
    ax.text(
        0.6,
        ax.get_ylim()[0],
        " 0.6 (paper: degradation starts)",
        fontsize=8,
        color="gray",
        va="bottom",
    )
    ax.set(
        xlabel="W-error of the model's head at rank r (Frobenius, paper §6.2)",
        ylabel="held-out loss of the rank-r head (nats / token)",
        title=f"Loss vs W-error (SmolLM2 on {result['corpus']} text; paper on the Pile)",
    )
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)


def main(argv=None):
    p = argparse.ArgumentParser(
        description="Held-out loss of rank-r heads vs the head's W-error (paper Fig. 8)."
    )
    p.add_argument("--out", default="out/loss_vs_werror")
    p.add_argument(
        "--from",
        dest="source",
        default=None,
        help="rank_heads.json of a previous rank_heads.py run",
    )
    p.add_argument(
        "--quick", action="store_true", help="run rank_heads.py --quick when no --from file exists"
    )
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = load_rank_heads(Path(args.source) if args.source else None, out, args.quick)
    rows = points(result)
    atomic_write_csv(out / "loss_vs_werror.csv", rows)
    ours = sorted(
        (r for r in rows if r["source"].startswith("SmolLM2 distilled")), key=lambda r: r["w_error"]
    )
    summary = dict(
        corpus=result["corpus"],
        points=rows,
        paper_fig8=PAPER_FIG8,
        loss_increase_at_werror_le_0_6=[
            r["loss"] - ours[0]["loss"] for r in ours if r["w_error"] <= 0.6
        ],
    )
    atomic_write_json(out / "loss_vs_werror.json", summary)
    plot(rows, result, out / "loss_vs_werror.png")
    for r in ours:
        print(f"r={r['rank']:4d}  W-error {r['w_error']:.3f}  held-out loss {r['loss']:.4f}")
    print(f"wrote {out}/loss_vs_werror.csv, loss_vs_werror.json, loss_vs_werror.png")
    return summary


if __name__ == "__main__":
    main()
