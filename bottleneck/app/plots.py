"""Bound-versus-loss figures: every number of the sandwich against the rank ``d``.

The plotted numbers are exactly the rows of :mod:`bottleneck.app.report` (written to CSV
beside each figure), so a figure can always be checked against its table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: the bottom panel's series, each divided by the solver gap: (column, label, style)
RATIO_SERIES = (
    ("lower", "certified lower bound", dict(color="tab:green", marker="^", lw=2)),
    ("U_trunc", "U_trunc (Theorem U, truncated-SVD head)", dict(color="tab:blue", marker="s")),
    ("trained", "trained rank-d head (Adam)", dict(color="tab:red", marker="D", ls="none")),
    ("E_1", "estimate E_1 (not a bound)", dict(color="tab:cyan", ls=":", marker="+")),
    ("E_F", "estimate E_F (not a bound)", dict(color="tab:orange", ls=":", marker="x")),
)


def ratio_to_solver(rows, key: str) -> tuple[np.ndarray, np.ndarray]:
    """``(d, row[key] / row["solver"])`` over the rows where both are positive and finite:
    the bottom panel's points (a zero gap, exact at ``d >= rank``, has no ratio)."""
    ds, out = [], []
    for r in rows:
        v, s = float(r.get(key, np.nan)), float(r.get("solver", np.nan))
        if np.isfinite(v) and np.isfinite(s) and v > 0 and s > 0:
            ds.append(r["d"])
            out.append(v / s)
    return np.array(ds, dtype=float), np.array(out, dtype=float)


#: the result each bound or head named in ``lower_by`` / ``upper_by`` comes from
SOURCE = {
    "L_B": "Theorem B",
    "L_thm": "Theorem L",
    "L_restricted": "Theorem L + Lemma R",
    "U_trunc": "Theorem U",
    "U_quad": "Theorem U, Lemma S",
    "U_osc": "Theorem U, Lemma O",
    "U_ref": "Corollary U'",
    "P_representation": "Theorem P",
    "P_operator": "Theorem P",
    "solver": "explicit head",
    "trained": "explicit head",
}


def _named(name: str) -> str:
    """``"L_B (Theorem B)"``; ``"L_B at d = 16"`` becomes ``"L_B (Theorem B) at d = 16"``."""
    base, _, rest = name.partition(" at ")
    src = SOURCE.get(base)
    return (f"{base} ({src})" if src else base) + (f" of d = {rest[4:]}" if rest else "")


def band_label(rows, side: str) -> str:
    """Legend text naming the bound that won ``side`` (``"lower"``/``"upper"``) at each d,
    consecutive ranks with the same winner grouped: ``"lower: L_B at d = 1-16; L_thm at
    d = 32"`` (column names, explained in the report's column key)."""
    groups: list[list] = []
    for r in rows:
        name = str(r.get(f"{side}_by", "?"))
        if groups and groups[-1][0] == name:
            groups[-1][2] = r["d"]
        else:
            groups.append([name, r["d"], r["d"]])
    if len(groups) == 1:
        return f"{side}: {_named(groups[0][0])} at every d"
    parts = [
        f"{_named(n)} at d = {a}" if a == b else f"{_named(n)} at d = {a}..{b}"
        for n, a, b in groups
    ]
    return f"{side}: " + "; ".join(parts)


def plot_bounds_vs_rank(rows, title: str, path) -> None:
    """Two panels against the rank ``d`` (linear axis, a tick at every computed rank).

    Top: loss in nats/token, ``H(P) + gap``: the entropy floor, the certified band
    ``[H + lower, H + upper]`` shaded (the best loss ``L*(d)`` lies in it), the solver's and
    the trained heads' losses as markers. Bottom: every gap divided by the solver's gap (log
    scale, :data:`RATIO_SERIES`), so that a 0.3 % difference and a factor 10^4 both show.
    The legend names the bound of each side of the band at each d (:func:`band_label`).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(9, 8), sharex=True, gridspec_kw=dict(height_ratios=[3, 2])
    )
    ds = np.array([r["d"] for r in rows], dtype=float)
    H = np.array([float(r["entropy"]) for r in rows])
    col = lambda k: np.array([float(r.get(k, np.nan)) for r in rows])  # noqa: E731
    top.axhline(H[0], color="0.3", lw=1, ls="--", label=f"entropy floor H(P) = {H[0]:.4f}")
    top.fill_between(
        ds,
        H + col("lower"),
        H + col("upper"),
        color="tab:green",
        alpha=0.25,
        label="certified band: " + band_label(rows, "lower") + "\n" + band_label(rows, "upper"),
    )
    top.plot(ds, H + col("solver"), "ko", ms=7, label="solver (explicit rank-d head)")
    if "trained" in rows[0]:
        top.plot(
            ds,
            H + col("trained"),
            "D",
            color="tab:red",
            mfc="none",
            ms=9,
            mew=1.5,
            label="trained rank-d head (Adam)",
        )
    top.set(ylabel="loss (nats / token)", title=title)
    top.legend(fontsize=8, loc="upper right")
    bottom.axhline(1.0, color="k", lw=1.5, label="solver (= 1)")
    ratios = [1.0]
    for key, label, style in RATIO_SERIES:
        x, y = ratio_to_solver(rows, key)
        if len(x):
            bottom.plot(x, y, label=label, **style)
            ratios += list(y)
    bottom.set(yscale="log", xlabel="rank d of the head", ylabel="gap / solver's gap (log)")
    _plain_log_ticks(bottom.yaxis, ratios)
    bottom.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=3)
    for ax in (top, bottom):
        ax.grid(True, which="major", alpha=0.3)
    _rank_ticks(bottom, ds)
    save_figure(fig, path)


def _plain_log_ticks(axis, values) -> None:
    """Log-axis ticks labelled as plain numbers (0.2, 1, 1e-05): at 1, 2, 5 x 10^k when the
    ``values`` span at most two decades, else at about eight powers of ten."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    v = np.asarray([x for x in values if np.isfinite(x) and x > 0], dtype=float)
    decades = np.log10(v.max() / v.min()) if v.size else 0.0
    subs = (1.0, 2.0, 5.0) if decades <= 2 else (1.0,)
    axis.set_major_locator(LogLocator(base=10, subs=subs, numticks=8 if decades > 2 else 30))
    axis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    axis.set_minor_formatter(NullFormatter())


def _rank_ticks(ax, ds) -> None:
    """A tick at every computed rank; labels that would overlap the previous one are left
    blank (the tick stays)."""
    span = max(ds.max() - min(ds.min(), 0.0), 1.0)
    labels, last = [], -np.inf
    for d in ds:
        show = (d - last) / span >= 0.02
        labels.append(f"{d:g}" if show else "")
        last = d if show else last
    ax.set_xticks(ds, labels)


def plot_overview(overview_rows, title: str, path) -> None:
    """The sandwich width across targets: ``lower / solver`` (filled markers) and the best
    theorem's upper bound over the solver, ``theory_upper / solver`` (open markers), against
    ``d`` for every target (log-log; rows of :func:`bottleneck.app.report.overview_rows`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullLocator

    fig, ax = plt.subplots(figsize=(9, 5.5))
    targets = list(dict.fromkeys(r["target"] for r in overview_rows))
    for i, name in enumerate(targets):
        rows = [r for r in overview_rows if r["target"] == name]
        color = f"C{i}"
        for key, marker, fill, label in (
            ("lower/solver", "o", color, f"{name}: lower / solver"),
            ("upper/solver", "s", "none", f"{name}: theorem upper / solver"),
        ):
            pts = [(r["d"], r[key]) for r in rows if np.isfinite(r[key]) and r[key] > 0]
            if pts:
                x, y = zip(*pts)
                ax.plot(
                    x,
                    y,
                    marker=marker,
                    mfc=fill,
                    color=color,
                    ls="-" if fill != "none" else "--",
                    label=label,
                )
    ax.axhline(1.0, color="k", lw=1.5, label="solver (= 1)")
    ax.set(xscale="log", yscale="log", xlabel="rank d of the head", ylabel="bound / solver gap")
    ax.set_title(title)
    ranks = sorted({r["d"] for r in overview_rows})
    ax.set_xticks(ranks, [f"{d:g}" for d in ranks])
    ax.xaxis.set_minor_locator(NullLocator())
    ratios = [r[k] for r in overview_rows for k in ("lower/solver", "upper/solver")]
    _plain_log_ticks(ax.yaxis, ratios + [1.0])
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    save_figure(fig, path)


def write_table_and_figure(rows, title: str, csv_path, figure_path, plot=None) -> None:
    """The CSV of ``rows`` and their figure, written as a pair: the old figure is removed
    first, then the CSV and the figure are each written atomically. An interruption leaves
    at worst a CSV without a figure, never a new CSV beside the figure of other rows.
    ``plot(rows, title, path)`` draws the figure (default :func:`plot_bounds_vs_rank`)."""
    from .report import write_csv

    Path(figure_path).unlink(missing_ok=True)
    write_csv(rows, csv_path)
    (plot or plot_bounds_vs_rank)(rows, title, figure_path)


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
