"""Bound-versus-loss figures: every number of the sandwich against the rank ``d``.

The plotted numbers are exactly the rows of :mod:`bottleneck.app.report` (written to CSV
beside each figure), so a figure can always be checked against its table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: (name in Sandwich.details, label, matplotlib style)
SERIES = (
    ("lower", "certified lower (Thm L, Lemma R)", dict(color="tab:green", marker="^", lw=2)),
    ("solver", "solver (explicit head)", dict(color="k", marker="o", lw=2)),
    ("trained", "trained rank-d head (Adam)", dict(color="tab:gray", marker="D", lw=1.5, ls="--")),
    ("U_trunc", "U_trunc (truncated-SVD head)", dict(color="tab:blue", marker="s")),
    ("U_quad", "U_quad = T_d/4", dict(color="tab:purple", ls="--")),
    ("U_osc", "U_osc = sqrt(2 T_d)", dict(color="tab:pink", ls="--")),
    ("U_ref", "U' (reference logits)", dict(color="tab:pink", ls=":")),
    ("P_representation", "Thm P, representation-aware", dict(color="tab:olive", ls="-.")),
    ("P_operator", "Thm P, operator form", dict(color="tab:brown", ls="-.")),
    ("P_paper", "Thm P, paper's Thm 5.3 form", dict(color="tab:red", ls="-.")),
    ("E_F", "estimate E_F (Fisher)", dict(color="tab:orange", ls=":", marker="x")),
    ("E_1", "estimate E_1 (closed form)", dict(color="tab:cyan", ls=":", marker="+")),
)


def plot_bounds_vs_rank(rows, title: str, path) -> None:
    """Log-log figure of the sandwich against ``d`` (zeros, i.e. exact values at ``d >= rank``,
    are not drawn on the log axis)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 5))
    ds = np.array([r["d"] for r in rows], dtype=float)
    for key, label, style in SERIES:
        vals = np.array([r.get(key, np.nan) for r in rows], dtype=float)
        keep = np.isfinite(vals) & (vals > 0) & (ds > 0)
        if keep.any():
            ax.plot(ds[keep], vals[keep], label=label, **style)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="rank d of the head",
        ylabel="gap above the entropy floor (nats / token)",
        title=title,
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    save_figure(fig, path)


def write_table_and_figure(rows, title: str, csv_path, figure_path) -> None:
    """The CSV of ``rows`` and their figure, written as a pair: the old figure is removed
    first, then the CSV and the figure are each written atomically. An interruption leaves
    at worst a CSV without a figure, never a new CSV beside the figure of other rows."""
    from .report import write_csv

    Path(figure_path).unlink(missing_ok=True)
    write_csv(rows, csv_path)
    plot_bounds_vs_rank(rows, title, figure_path)


def save_figure(fig, path, dpi: int = 120) -> None:
    """Lay out, write and close a matplotlib figure; the file (format from its suffix, PNG
    by default) is written atomically, like every other result, and its folder created."""
    import matplotlib.pyplot as plt

    from .._io import atomic_write

    path = Path(path)
    fig.tight_layout()
    atomic_write(
        path, lambda tmp: fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png")
    )
    plt.close(fig)
