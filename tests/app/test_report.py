"""app.report: bound-vs-loss rows round-trip through CSV and their certified ordering is
checked."""

from __future__ import annotations

import pytest

from bottleneck.app import report


def test_report_round_trip_and_check_rows(tmp_path):
    rows = [
        {"d": 1, "lower": 0.1, "upper": 0.3, "solver": 0.3, "trained": 0.31, "entropy": 2.0},
        {"d": 2, "lower": 0.05, "upper": 0.1, "solver": 0.1, "trained": 0.12, "entropy": 2.0},
    ]
    report.write_csv(rows, tmp_path / "r.csv")
    assert report.read_csv(tmp_path / "r.csv") == rows  # floats written with repr: exact round trip
    report.check_rows(rows)
    with pytest.raises(ValueError, match="d=2: trained head"):
        report.check_rows([rows[0], {**rows[1], "trained": 0.01}])
    with pytest.raises(ValueError, match="d=1: solver"):
        report.check_rows(
            [{**rows[0], "solver": 0.2}]
        )  # an explicit head below the reported upper bound
    with pytest.raises(ValueError, match="d=1: solver"):
        report.check_rows([{**rows[0], "solver": 0.05}])  # below the certified lower bound


def test_duplicate_columns_are_dropped_and_the_key_says_so():
    rows = [
        {"d": 1, "lower": 0.1, "L_thm": 0.01, "L_restricted": 0.01, "solver": 0.3, "x": "a"},
        {"d": 2, "lower": 0.05, "L_thm": 0.02, "L_restricted": 0.02, "solver": 0.1, "x": "a"},
    ]
    kept, dropped = report.drop_duplicate_columns(rows)
    assert dropped == {"L_restricted": "L_thm"}
    assert [list(r) for r in kept] == [["d", "lower", "L_thm", "solver", "x"]] * 2
    key = report.column_key(kept, dropped)
    assert "- `L_thm`: Theorem L" in key and "`L_restricted`" in key and "equals `L_thm`" in key
    # the plotted columns stay even when equal to another
    same = [{"d": 1, "lower": 0.1, "solver": 0.1, "upper": 0.1}]
    assert report.drop_duplicate_columns(same) == (same, {})


def test_text_columns_round_trip(tmp_path):
    rows = [{"d": 1, "lower": 0.1, "lower_by": "L_B", "solver_status": "converged"}]
    report.write_csv(rows, tmp_path / "t.csv")
    assert report.read_csv(tmp_path / "t.csv") == rows


def test_a_trained_head_that_beat_the_solver_is_polished_by_the_solver():
    """rank_curve hands back each head's factors (their gap is the point's gap); the solver
    rerun from a head ends at or below that head's gap, and is the gap of its own head."""
    import numpy as np

    import bottleneck as bn
    from bottleneck.empirical.heads import rank_curve

    target, _ = bn.targets.synthetic(12, 15, spectrum="power", decay=0.5, scale=3.0, seed=3)
    (point,) = rank_curve(target, [2], lrs=(3e-2,), steps=40, progress=False)
    H, W, b = point.factors
    assert target.gap_factors(H, W, b) == pytest.approx(point.gap, rel=1e-12)
    row = {"d": 2, "entropy": target.entropy(), "solver": np.inf, "upper": np.inf}
    report.polish_from_head(target, row, point, solve_seconds=600.0)
    assert row["solver_start"] == "trained head"
    assert row["solver"] <= point.gap * (1 + 1e-12)
    assert row["upper"] == row["solver"]
    best = bn.solve(target, 2, tol=1e-10)
    assert row["solver"] >= best.gap * (1 - 1e-6) - 1e-12  # an explicit head: >= G*(2)
