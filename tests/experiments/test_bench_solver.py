"""experiments/bench_solver.py: the ratio bookkeeping on hand-made histories and an injected
clock, and tiny runs limited by steps (none of it depends on the machine's speed)."""

import numpy as np
import pytest

from . import load_experiment


@pytest.fixture(scope="module")
def bench():
    return load_experiment("bench_solver")


def test_ratios_when_adam_reaches_the_goal(bench):
    solve = [(0.5, 1.0), (1.0, 0.1 + 5e-7), (2.0, 0.1)]
    adam = {
        1e-2: [(1.0, 0.5), (8.0, 0.1 + 9e-7), (9.0, 0.1)],
        3e-2: [(4.0, 0.1 + 1e-6), (5.0, 0.1)],
    }
    c = bench.compare(solve, adam, 0.1, cap=10.0)
    assert c["adam_seconds_to_goal"] == {"0.01": 8.0, "0.03": 4.0}
    assert c["ratio_adam_over_solve"] == pytest.approx(4.0 / 1.0)
    assert c["ratio_lower_bound"] is None
    # Adam's best is G_ref itself: the equal-accuracy level is the goal, same ratio
    assert c["ratio_at_equal_accuracy"] == pytest.approx(4.0)


def test_adam_without_a_recorded_point(bench):
    """A cap shorter than Adam's first record (10 steps, e.g. on a loaded machine): the
    ratio is a lower bound and there is no equal-accuracy level."""
    solve = [(0.5, 0.3), (2.0, 0.1)]
    c = bench.compare(solve, {1e-2: [], 3e-2: []}, 0.1, cap=0.5)
    assert c["ratio_adam_over_solve"] is None
    assert c["ratio_lower_bound"] == pytest.approx(0.5 / 2.0)
    assert c["adam_seconds_to_level"] is None and c["ratio_at_equal_accuracy"] is None
    assert "n/a" in bench.describe("paper Adam", c, 0.5)


def test_a_baseline_that_recorded_nothing(bench):
    """No learning rate at all: no best gap, no level, and no crash (``min`` of nothing)."""
    c = bench.compare([(0.5, 0.3), (2.0, 0.1)], {}, 0.1, cap=0.5)
    assert c["adam_best_gap"] == {} and c["equal_accuracy_level"] is None
    assert c["ratio_adam_over_solve"] is None and c["ratio_lower_bound"] == pytest.approx(0.25)
    assert c["ratio_at_equal_accuracy"] is None and "n/a" in bench.describe("paper", c, 0.5)
    stepped = bench.compare([(0.5, 0.3), (2.0, 0.1)], {1e-2: [(3.0, 0.5), (6.0, 0.4)]}, 0.1, None)
    assert stepped["ratio_lower_bound"] == pytest.approx(6.0 / 2.0)  # step-limited: last record
    assert "within the step limit" in bench.describe("paper", stepped, None)


class FakeClock:
    """A clock that advances by ``tick`` seconds at every reading."""

    def __init__(self, tick):
        self.now, self.tick = 0.0, tick

    def __call__(self):
        self.now += self.tick
        return self.now


def test_adam_records_on_its_own_clock_and_stops_at_the_cap_or_the_step_limit(bench):
    t = bench.make_target(12, 10)
    H0, W0 = bench.paper_init(t, 2)
    # every loop reads the clock once for the cap and once per record: 35 ticks of 1 s
    hist = bench.run_adam(t, H0, W0, 1e-2, 35.0, clock=FakeClock(1.0))
    assert [s for s, _ in hist] == [11.0, 22.0, 33.0]
    gaps = [g for _, g in hist]
    assert gaps == sorted(gaps, reverse=True)  # Adam at a small rate descends
    stepped = bench.run_adam(t, H0, W0, 1e-2, None, max_steps=20, clock=FakeClock(1.0))
    assert [s for s, _ in stepped] == [1.0, 2.0]  # no cap: the clock is read only to record
    assert [g for _, g in stepped] == gaps[:2]
    with pytest.raises(ValueError, match="cap or a step limit"):
        bench.run_adam(t, H0, W0, 1e-2, None)


def test_lower_bound_and_equal_accuracy_when_adam_is_capped(bench):
    solve = [(0.5, 0.3), (2.0, 0.2), (4.0, 0.1)]
    adam = {1e-2: [(5.0, 0.35), (10.0, 0.25)], 3e-2: [(6.0, 0.3)]}
    c = bench.compare(solve, adam, 0.1, cap=10.0)
    assert c["ratio_adam_over_solve"] is None
    assert c["ratio_lower_bound"] == pytest.approx(10.0 / 4.0)
    # Adam's best 0.25 (+1e-6) first reached at 10 s; solve below it at 2 s
    assert c["equal_accuracy_level"] == pytest.approx(0.25 + 1e-6)
    assert c["ratio_at_equal_accuracy"] == pytest.approx(10.0 / 2.0)


def test_paper_init_is_standard_normal_and_seeded(bench):
    t = bench.make_target(40, 30)
    H, W = bench.paper_init(t, 3, seed=1)
    H2, _ = bench.paper_init(t, 3, seed=1)
    assert H.shape == (40, 3) and W.shape == (30, 3)
    np.testing.assert_array_equal(H, H2)
    both = np.concatenate([H.ravel(), W.ravel()])
    assert abs(both.mean()) < 0.3 and 0.7 < both.std() < 1.3


def test_tiny_run_writes_rows_and_resumes(bench, tmp_path):
    out = tmp_path / "b.json"
    rows = bench.main(["--only", "128,128,4", "--steps", "20", "--out", str(out)])
    assert len(rows) == 1 and out.exists()
    r = rows[0]
    assert r["solve_converged"] and r["G_ref"] <= r["solve_gap"]
    again = bench.main(
        ["--only", "128,128,4", "--steps", "20", "--out", str(out)]
    )  # resumes: no rerun
    assert again == rows


def test_only_rejects_a_malformed_configuration(bench):
    with pytest.raises(SystemExit):
        bench.main(["--only", "512,512"])


def test_one_baseline_at_chosen_learning_rates(bench):
    rows = bench.main(
        ["--only", "128,128,4", "--steps", "20", "--baselines", "paper", "--lrs", "3e-2"]
    )
    r = rows[0]
    assert "paper" in r and "warm" not in r
    assert r["learning_rates"] == [3e-2] and list(r["paper"]["adam_best_gap"]) == ["0.03"]


@pytest.mark.parametrize(
    "flag, value", [("--lrs", "0.01,x"), ("--lrs", "-1"), ("--baselines", "paper,cold")]
)
def test_bad_learning_rates_or_baselines_are_rejected(bench, flag, value):
    with pytest.raises(SystemExit):
        bench.main([flag, value])


def test_median_over_repeats(bench):
    """Measured ratios give their median; a capped repeat enters with its lower bound and
    makes the median a lower bound."""

    def row(ratio, lower):
        return {
            "N": 5,
            "V": 6,
            "d": 2,
            "paper": {"ratio_adam_over_solve": ratio, "ratio_lower_bound": lower},
        }

    line = bench.summarise_repeats([row(8.0, None), row(12.0, None), row(11.0, None)], ["paper"])
    assert "median 11.0x (8.0, 12.0, 11.0)" in line and "3 repeats" in line
    line = bench.summarise_repeats([row(8.0, None), row(None, 20.0), row(11.0, None)], ["paper"])
    assert "median > 11.0x" in line
    assert "warm Adam: n/a" in bench.summarise_repeats([row(8.0, None)], ["warm"])


def test_repeats_are_separate_rows_and_resume(bench, tmp_path, capsys):
    out = tmp_path / "r.json"
    argv = ["--only", "128,128,4", "--steps", "10", "--baselines", "paper", "--lrs", "3e-2"]
    argv += ["--repeat", "2", "--out", str(out)]
    rows = bench.main(argv)
    assert [r["repeat"] for r in rows] == [0, 1]
    assert "2 repeats" in capsys.readouterr().out
    assert bench.main(argv) == rows
    with pytest.raises(SystemExit):
        bench.main(["--repeat", "0"])
    with pytest.raises(SystemExit):
        bench.main(["--steps", "0"])
