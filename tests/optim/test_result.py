"""optim.result: solutions are frozen, say why they stopped, and give one flat record."""

from __future__ import annotations

import pytest

import bottleneck as bn


def test_stop_reasons_are_distinct_and_solutions_frozen():
    import dataclasses

    t, _ = bn.targets.synthetic(20, 30, "power", decay=0.5, scale=5.0, seed=0)
    done = bn.solve(t, 3, init="svd")
    assert done.status == "converged" and done.success and done.converged
    assert done.message == bn.optim.STATUSES["converged"]
    assert bn.solve(t, 3, max_iter=2, tol=1e-14, init="svd").status == "max_iter"
    assert bn.solve(t, 3, max_seconds=0.0, tol=1e-14, init="svd").status == "max_seconds"
    with pytest.raises(dataclasses.FrozenInstanceError):
        done.gap = 0.0
    record = done.to_record()
    assert record["d"] == 3 and record["gap"] == done.gap and record["success"] is True
    assert record["status"] == "converged" and not {"H", "W", "bias", "history"} & set(record)
    with pytest.raises(ValueError, match="status must be one of"):
        dataclasses.replace(done, status="fine")
