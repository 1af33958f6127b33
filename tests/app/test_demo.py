"""app.demo: the demo's cases (the run itself is .ci/run's `python -m bottleneck demo --quick`)."""

from __future__ import annotations

import bottleneck as bn
from bottleneck.app import report


def test_demo_cases_and_sandwich_rows():
    from bottleneck.app import demo

    (case,) = demo.demo_cases(quick=True)
    assert case.name == "synthetic" and case.target.shape == (200, 300)
    s = bn.bounds(case.target, 4)
    (row,) = report.sandwich_rows([s])
    assert row == {
        "d": 4,
        "entropy": s.entropy,
        "lower": s.lower,
        "upper": s.upper,
        **{name: b.value for name, b in s.details.items()},
    }
