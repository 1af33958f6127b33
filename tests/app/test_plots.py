"""app.plots: figures are written atomically in the format their name says."""

from __future__ import annotations


def test_save_figure_writes_the_named_format_atomically(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bottleneck.app.plots import save_figure

    for name, magic in (("a/b/fig.png", b"\x89PNG"), ("fig.pdf", b"%PDF")):
        fig, ax = plt.subplots()
        ax.plot([0, 1], [1, 0])
        save_figure(fig, tmp_path / name)
        assert (tmp_path / name).read_bytes()[:4] == magic
        assert not plt.fignum_exists(fig.number)  # closed
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_bounds_vs_rank_figure(tmp_path):
    from bottleneck.app.plots import plot_bounds_vs_rank

    rows = [
        {"d": 1, "entropy": 2.0, "lower": 1e-3, "upper": 0.3, "solver": 0.3, "U_trunc": 0.5},
        {"d": 4, "entropy": 2.0, "lower": 0.0, "upper": 0.1, "solver": 0.1, "U_trunc": 0.2},
    ]
    plot_bounds_vs_rank(rows, "t", tmp_path / "f.png")
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"


def test_band_label_names_the_winner_at_each_rank():
    from bottleneck.app.plots import band_label

    rows = [
        {"d": 1, "lower_by": "L_B"},
        {"d": 4, "lower_by": "L_B"},
        {"d": 16, "lower_by": "L_thm"},
        {"d": 64, "lower_by": "L_B at d = 128"},
    ]
    assert band_label(rows, "lower") == (
        "lower: L_B (Theorem B) at d = 1..4; L_thm (Theorem L) at d = 16; "
        "L_B (Theorem B) of d = 128 at d = 64"
    )
    assert band_label(rows[:2], "lower") == "lower: L_B (Theorem B) at every d"
