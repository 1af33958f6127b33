"""_result: the record of a result keeps its scalar fields and listed properties."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bottleneck._result import Record


def test_record_keeps_scalars_and_properties():
    @dataclass(frozen=True)
    class R(Record):
        d: int
        gap: np.float64
        factors: np.ndarray
        bias: object
        note: str | None

        record_properties = ("success",)
        record_skip = ("bias",)

        @property
        def success(self):
            return True

    rec = R(2, np.float64(0.5), np.zeros(3), None, None).to_record()
    assert rec == {"d": 2, "gap": 0.5, "note": None, "success": True}
    assert type(rec["gap"]) is float
