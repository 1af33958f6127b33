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


def test_monotone_envelope_borrows_certified_bounds_across_ranks():
    import dataclasses

    from bottleneck.sandwich import monotone_envelope

    t, _ = bn.targets.synthetic(40, 50, "power", decay=0.8, scale=6.0, seed=1)
    raw = [bn.bounds(t, d) for d in (1, 2, 4)]
    assert raw[2].lower > 0 and raw[1].upper < raw[0].upper
    # a weak lower bound at d = 2 and a loose upper bound at d = 4, as a weak search would give
    weak = dataclasses.replace(raw[1], lower=0.0)
    loose = dataclasses.replace(raw[2], upper=10.0)
    env = monotone_envelope([raw[0], weak, loose])
    assert env[1].lower == raw[2].lower  # G*(2) >= G*(4) >= lower(4)
    assert env[1].details["lower_envelope"].note == "L_B at d = 4"
    assert env[2].upper == raw[1].upper  # a rank-2 head is a rank-4 head
    assert env[2].details["upper_envelope"].note.endswith("at d = 2")
    assert env[0] == raw[0]  # nothing better around it
    for s in env:
        assert s.lower <= s.upper
