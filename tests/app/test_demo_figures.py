"""The demo's figures show exactly the CSV beside them, and the CSVs keep the certified order.

No pixel is inspected: :func:`bottleneck.app.plots.save_figure` is wrapped to record every
line and shaded band of each figure as it is saved; each record is then compared with the
series computed from the CSV written beside the PNG (read back from disk), and every drawn
series must be one of them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bottleneck.app import demo, plots, report
from bottleneck.targets import ngram, synthetic

TEXT = (
    "the cat sat on the mat . the dog sat on the log . a cat and a dog sat on the mat . "
    "the cat saw the dog . the dog saw a cat on the log ."
)


def tiny_cases(quick):
    fast = dict(solve_seconds=0.5, train_steps=20, train_lrs=(3e-2,))
    return [
        demo.DemoCase(
            "synthetic",
            "tiny synthetic",
            lambda: synthetic(12, 16, spectrum="power", decay=0.8, scale=4.0, seed=0)[0],
            "test-synthetic-12x16",
            [1, 2, 4],
            fast,
        ),
        demo.DemoCase(
            "words",
            "tiny bigrams (sparse)",
            lambda: ngram(TEXT, order=2),
            "test-words-bigram",
            [1, 2, 3],
            fast,
        ),
    ]


def record_figures(monkeypatch) -> dict:
    """``{file name: [(axes index, label, x, y), ...]}`` of every figure saved; a shaded band
    is recorded as ``(axes, label, x, (y_low, y_high))`` from its polygon."""
    drawn = {}
    real = plots.save_figure

    def spy(fig, path, dpi=120):
        items = []
        for i, ax in enumerate(fig.axes):
            for line in ax.get_lines():
                items.append((i, line.get_label(), *map(np.asarray, line.get_data())))
            for band in ax.collections:
                xy = band.get_paths()[0].vertices
                items.append((i, band.get_label(), *_band_edges(xy)))
        drawn[Path(path).name] = items
        real(fig, path, dpi)

    monkeypatch.setattr(plots, "save_figure", spy)
    return drawn


def _band_edges(xy):
    """``(x, (low, high))`` of a fill_between polygon: for each x its lowest and highest y."""
    xs = np.unique(xy[:, 0])
    return xs, (
        np.array([xy[xy[:, 0] == x, 1].min() for x in xs]),
        np.array([xy[xy[:, 0] == x, 1].max() for x in xs]),
    )


def expected_rank_figure(rows) -> dict:
    """``{(axes, label): (x, y)}``: what :func:`plots.plot_bounds_vs_rank` must draw."""
    d = np.array([r["d"] for r in rows], dtype=float)
    H = rows[0]["entropy"]
    col = lambda k: np.array([r[k] for r in rows], dtype=float)  # noqa: E731
    band = "certified band: " + plots.band_label(rows, "lower") + "\n"
    band += plots.band_label(rows, "upper")
    out = {
        (0, f"entropy floor H(P) = {H:.4f}"): ([0, 1], [H, H]),
        (0, band): (d, (H + col("lower"), H + col("upper"))),
        (0, "solver (explicit rank-d head)"): (d, H + col("solver")),
        (0, "trained rank-d head (Adam)"): (d, H + col("trained")),
        (1, "solver (= 1)"): ([0, 1], [1.0, 1.0]),
    }
    for key, label, _ in plots.RATIO_SERIES:
        pts = [
            (r["d"], r[key] / r["solver"])
            for r in rows
            if r.get(key, 0) > 0 and r["solver"] > 0  # a zero gap has no ratio (log axis)
        ]
        if pts:
            out[(1, label)] = tuple(np.array(v, dtype=float) for v in zip(*pts))
    return out


def expected_overview(rows) -> dict:
    out = {(0, "solver (= 1)"): ([0, 1], [1.0, 1.0])}
    for name in dict.fromkeys(r["target"] for r in rows):
        mine = [r for r in rows if r["target"] == name]
        for key, label in (
            ("lower/solver", "lower / solver"),
            ("upper/solver", "theorem upper / solver"),
        ):
            pts = [(r["d"], r[key]) for r in mine if np.isfinite(r[key]) and r[key] > 0]
            if pts:  # a series with no positive ratio is not drawn (log axis)
                out[(0, f"{name}: {label}")] = tuple(np.array(v, dtype=float) for v in zip(*pts))
    return out


def assert_figure(items, expected) -> None:
    """Every drawn series is expected, and every expected one is drawn, with equal data."""
    got = {(i, label): (x, y) for i, label, x, y in items if not label.startswith("_")}
    assert set(got) == set(expected), set(got) ^ set(expected)
    for key, (x, y) in expected.items():
        gx, gy = got[key]
        np.testing.assert_allclose(np.asarray(gx, dtype=float), np.asarray(x, dtype=float))
        np.testing.assert_allclose(
            np.asarray(gy, dtype=float), np.asarray(y, dtype=float), rtol=1e-12
        )


def assert_certified_order(rows) -> None:
    """``lower <= solver <= U_trunc`` and ``solver <= trained head`` at every rank."""
    for r in rows:
        tol = 1e-9 * max(1.0, r["solver"])
        assert r["lower"] <= r["solver"] + tol, r
        assert r["solver"] <= r["U_trunc"] + tol, r
        assert r["solver"] <= r["trained"] + tol, r


def assert_demo_folder(out: Path, drawn: dict) -> None:
    """Each PNG has its CSV beside it; the figure draws exactly the CSV's series."""
    pngs = sorted(out.glob("*.png"))
    assert pngs and {p.name for p in pngs} == set(drawn)
    for png in pngs:
        rows = report.read_csv(png.with_suffix(".csv"))
        if png.stem == "overview":
            assert_figure(drawn[png.name], expected_overview(rows))
        else:
            assert_figure(drawn[png.name], expected_rank_figure(rows))
            assert_certified_order(rows)


def test_every_plotted_series_is_the_csv_beside_the_figure(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(demo, "demo_cases", tiny_cases)
    drawn = record_figures(monkeypatch)
    path = demo.run_demo(tmp_path, quick=False)
    assert_demo_folder(tmp_path, drawn)
    text = path.read_text()
    assert "| solver / lower |" in text and "- `lower_by`:" in text and "overview.png" in text
    printed = capsys.readouterr().out
    assert "solver/lower" in printed and "synthetic" in printed and "words" in printed
    assert printed.count("from the cache") == 0
    # --fresh recomputes from the cached targets; a plain second run reads the cached rows
    drawn.clear()
    demo.run_demo(tmp_path, quick=False, fresh=True)
    assert capsys.readouterr().out.count(") from the cache") == 2
    assert_demo_folder(tmp_path, drawn)
    fresh_csv = (tmp_path / "words.csv").read_text()
    drawn.clear()
    demo.run_demo(tmp_path, quick=False)
    assert capsys.readouterr().out.count("rows from the cache of an earlier run") == 2
    assert_demo_folder(tmp_path, drawn)
    assert "numbers read from the cache" in path.read_text()
    # the cached rows are written back unchanged (the --fresh run recomputed them, so the
    # cache now holds its rows: compare with what that run wrote)
    assert (tmp_path / "words.csv").read_text() == fresh_csv


def test_a_case_that_cannot_run_is_reported_with_its_fix(tmp_path, monkeypatch, capsys):
    def cases(quick):
        (synth, words) = tiny_cases(quick)
        absent = ("the moon corpus", lambda: False, "pip install moon")
        return [synth, demo.DemoCase(**{**words.__dict__, "requires": (absent,)})]

    monkeypatch.setattr(demo, "demo_cases", cases)
    demo.run_demo(tmp_path)
    printed = capsys.readouterr().out
    assert "SKIPPED words: the moon corpus is not installed; fix: pip install moon" in printed
    assert "Skipped words" in (tmp_path / "report.md").read_text()
    assert not (tmp_path / "words.csv").exists()


@pytest.mark.slow
def test_quick_demo_figures_and_order(tmp_path, monkeypatch):
    drawn = record_figures(monkeypatch)
    demo.run_demo(tmp_path, quick=True)
    assert_demo_folder(tmp_path, drawn)
