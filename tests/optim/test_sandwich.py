"""optim.sandwich: the sandwich with the solver's gap and E_F (bounds(..., solve=True))."""

from __future__ import annotations

import bottleneck as bn


def test_bounds_with_solve_runs_the_solver_from_the_facade():
    """``bn.bounds(target, d, solve=True)``: the core bounds take the solution and E_F that
    the optimisation layer computed; the solver's gap is a certified upper bound."""
    t, _ = bn.targets.synthetic(20, 15, "power", decay=0.6, scale=3.0, seed=2)
    s = bn.bounds(t, 3, solve=True, solve_kwargs={"max_iter": 200})
    plain = bn.bounds(t, 3)
    assert s.solver is not None and s.upper <= plain.upper and s.lower == plain.lower
    assert {"E_1", "E_F", "E_1/solver", "E_F/solver"} <= set(s.estimates)
    assert s.details["solver"].note.startswith("converged")


def test_bounds_with_solver_at_a_rank_above_the_shape():
    """Ranks above min(N, V) are solved at min(N, V), where the gap is 0."""
    t, _ = bn.targets.synthetic(4, 6, "power", decay=0.5, scale=2.0, seed=0)
    s = bn.optim.bounds_with_solver(t, 9, solve_kwargs={"max_iter": 100})
    assert s.d == 9 and s.upper == 0.0 and s.solver <= 1e-12
