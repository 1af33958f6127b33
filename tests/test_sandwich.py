"""sandwich: the result of bounds() reads as a table, gives one flat row, checks its kinds."""

from __future__ import annotations

import pytest

import bottleneck as bn
from bottleneck.sandwich import BoundValue


def test_str_is_readable():
    t, _ = bn.targets.synthetic(10, 12, seed=0)
    text = str(bn.bounds(t, 2))
    assert "Sandwich for rank d = 2" in text and "<= G*(d) <=" in text and "Theorem L" in text


def test_row_and_kinds():
    t, _ = bn.targets.synthetic(10, 12, seed=0)
    s = bn.bounds(t, 2)
    row = s.to_record()
    assert (
        list(row)[:4] == ["d", "entropy", "lower", "upper"]
        and row["U_trunc"] == s.details["U_trunc"].value
    )
    assert s.width == s.upper - s.lower and s.loss_lower == s.entropy + s.lower and s.solver is None
    with pytest.raises(ValueError, match="kind must be one of"):
        BoundValue("x", 0.0, "guess", "", "")
