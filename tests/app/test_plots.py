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
        {"d": 1, "lower": 1e-3, "upper": 0.3, "solver": 0.3, "U_quad": 0.5},
        {"d": 4, "lower": 0.0, "upper": 0.1, "solver": 0.1, "U_quad": 0.2},
    ]
    plot_bounds_vs_rank(rows, "t", tmp_path / "f.png")
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
