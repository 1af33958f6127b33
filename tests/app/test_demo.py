"""app.demo: the demo's cases (the run itself is .ci/run's `python -m bottleneck demo --quick`)."""

from __future__ import annotations

import bottleneck as bn
from bottleneck.app import report


def test_demo_cases_and_sandwich_rows():
    from bottleneck.app import demo

    (case,) = demo.demo_cases(quick=True)
    target = case.build()
    assert case.name == "synthetic" and target.shape == (200, 300)
    s = bn.bounds(target, 4)
    (row,) = report.sandwich_rows([s])
    assert row == {
        "d": 4,
        "entropy": s.entropy,
        "lower": s.lower,
        "upper": s.upper,
        **{name: b.value for name, b in s.details.items()},
        "lower_by": s.lower_name,
        "upper_by": s.upper_name,
    }
