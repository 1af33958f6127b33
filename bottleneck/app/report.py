"""Bound-versus-loss tables: the sandwich and trained heads per rank, as rows, CSV and Markdown.

One row per rank ``d`` holds every number of :func:`bottleneck.bounds` with ``solve=True``
(certified lower bound, solver optimum, ``U_trunc``, the closed forms of Theorems U and P,
the estimates ``E_F`` and ``E_1``) and, optionally, the gap of a trained rank-``d`` head
(:func:`bottleneck.empirical.heads.rank_curve`). Gaps in nats/token above the entropy floor
``entropy``. The certified ordering of every row is ``lower <= solver <= upper`` and
``lower <= trained`` (Corollary H, proofs/rank_fact.md); since a trained head is an explicit
rank-``d`` head, ``upper`` is the smallest of the solver, ``U_trunc`` and the trained head.
:func:`check_rows` asserts the ordering.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .._io import atomic_write_csv

CLOSED_FORMS = ("U_quad", "U_osc", "U_ref", "P_representation", "P_operator")


def sweep_sandwiches(target, ds, *, solve_seconds: float, progress: bool = True, label: str = ""):
    """``bounds(target, d, solve=True)`` for every ``d`` (solver budget ``solve_seconds`` each),
    tightened by :func:`bottleneck.sandwich.monotone_envelope` (a lower bound at a larger ``d``
    holds at a smaller one; an explicit head at a smaller ``d`` is one at a larger)."""
    from tqdm.auto import tqdm

    from ..optim.sandwich import bounds_with_solver
    from ..sandwich import monotone_envelope

    out = []
    for d in tqdm(ds, desc=f"bounds {label}".strip(), disable=not progress):
        d = min(int(d), min(target.shape))
        solve_kwargs = {"max_seconds": solve_seconds, "max_iter": 200}
        out.append(bounds_with_solver(target, d, solve_kwargs=solve_kwargs))
    return monotone_envelope(out)


def sandwich_rows(sandwiches) -> list[dict]:
    """One row per sandwich (:meth:`bottleneck.Sandwich.to_record`): ``d``, ``entropy``,
    ``lower``, ``upper`` and every bound and estimate by name."""
    return [s.to_record() for s in sandwiches]


def bound_vs_loss_rows(
    target,
    ds,
    *,
    solve_seconds: float = 15.0,
    trained: bool = True,
    train_steps: int = 600,
    train_lrs=(3e-3, 1e-2, 3e-2),
    features=None,
    progress: bool = True,
    label: str = "",
) -> list[dict]:
    """Rows of the bound-vs-loss figure: :func:`sweep_sandwiches` merged, when ``trained``,
    with :func:`bottleneck.empirical.heads.rank_curve` (columns ``trained``, ``trained_lr``).
    A trained head is an explicit head, so it also lowers ``upper``."""
    rows = sandwich_rows(
        sweep_sandwiches(target, ds, solve_seconds=solve_seconds, progress=progress, label=label)
    )
    if trained:
        from ..empirical.heads import rank_curve

        ds = [r["d"] for r in rows]
        curve = rank_curve(
            target, ds, features=features, lrs=train_lrs, steps=train_steps, progress=progress
        )
        for row, point in zip(rows, curve):
            row.update(trained=point.gap, trained_lr=point.lr)
            row["upper"] = min(row["upper"], point.gap)
    return rows


def check_rows(rows, *, rtol: float = 1e-9) -> None:
    """Assert the certified ordering of every row (ValueError naming the rank otherwise)."""
    for r in rows:
        tol = rtol * max(1.0, abs(r["upper"]))
        if not r["lower"] <= r["upper"] + tol:
            raise ValueError(f"d={r['d']}: lower {r['lower']} > upper {r['upper']}")
        for name in ("solver", "U_trunc"):
            if name in r and not (r["upper"] - tol <= r[name]):
                raise ValueError(
                    f"d={r['d']}: {name} {r[name]} below the reported upper bound {r['upper']}"
                )
            if name in r and not r["lower"] - tol <= r[name]:
                raise ValueError(
                    f"d={r['d']}: {name} {r[name]} below the certified lower bound {r['lower']}"
                )
        if "trained" in r and not (
            r["lower"] - tol <= r["trained"] and r["upper"] - tol <= r["trained"]
        ):
            raise ValueError(
                f"d={r['d']}: trained head {r['trained']} outside "
                f"[{r['lower']}, {r['upper']}] ordering"
            )


def write_csv(rows, path) -> None:
    """Every column of every row, atomically (``path`` is replaced whole or not at all);
    floats as ``repr``, so :func:`read_csv` gives them back exactly."""
    atomic_write_csv(Path(path), rows)


def read_csv(path) -> list[dict]:
    """Rows written by :func:`write_csv` (``d`` as int, every other column as float)."""
    with open(path, newline="") as fh:
        return [
            {k: (int(v) if k == "d" else float(v) if v != "" else np.nan) for k, v in row.items()}
            for row in csv.DictReader(fh)
        ]


def markdown_table(rows) -> str:
    """A Markdown table with the columns ``d``, certified lower, solver, trained head,
    ``U_trunc``, best closed form, ``E_1`` and ``E_F``."""
    lines = [
        "| d | certified lower | solver | trained head | U_trunc | best closed form | E_1 | E_F |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        closed = min(r.get(k, np.inf) for k in CLOSED_FORMS)
        cells = [
            r["d"],
            r["lower"],
            r.get("solver", np.nan),
            r.get("trained", np.nan),
            r.get("U_trunc", np.nan),
            closed,
            r.get("E_1", np.nan),
            r.get("E_F", np.nan),
        ]
        lines.append(
            "| " + " | ".join(f"{c:.4g}" if isinstance(c, float) else str(c) for c in cells) + " |"
        )
    return "\n".join(lines)
