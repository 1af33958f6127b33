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
import time
from pathlib import Path

import numpy as np

from .._io import atomic_write_csv

CLOSED_FORMS = ("U_quad", "U_osc", "U_ref", "P_representation", "P_operator")


def sweep_sandwiches(
    target,
    ds,
    *,
    solve_seconds: float,
    progress: bool = True,
    label: str = "",
    certificate_work: float | None = None,
):
    """``bounds(target, d, solve=True)`` for every ``d`` (solver budget ``solve_seconds`` each;
    Theorem B's search budget ``certificate_work``, default :func:`bottleneck.bounds`'s),
    tightened by :func:`bottleneck.sandwich.monotone_envelope` (a lower bound at a larger ``d``
    holds at a smaller one; an explicit head at a smaller ``d`` is one at a larger). Returns
    the sandwiches and the seconds each rank took (bounds and solver together)."""
    from tqdm.auto import tqdm

    from ..optim.sandwich import bounds_with_solver
    from ..sandwich import monotone_envelope

    out, seconds = [], []
    for d in tqdm(ds, desc=f"bounds {label}".strip(), disable=not progress):
        d = min(int(d), min(target.shape))
        solve_kwargs = {"max_seconds": solve_seconds, "max_iter": 200}
        t0 = time.perf_counter()
        extra = {} if certificate_work is None else {"certificate_work": certificate_work}
        out.append(bounds_with_solver(target, d, solve_kwargs=solve_kwargs, **extra))
        seconds.append(time.perf_counter() - t0)
    return monotone_envelope(out), seconds


def sandwich_rows(sandwiches) -> list[dict]:
    """One row per sandwich (:meth:`bottleneck.Sandwich.to_record`): ``d``, ``entropy``,
    ``lower``, ``upper`` and every bound and estimate by name, plus :func:`provenance`."""
    return [{**s.to_record(), **provenance(s)} for s in sandwiches]


def provenance(s) -> dict:
    """Which bound won each side of sandwich ``s`` and the solver's status, as text columns:
    ``lower_by`` / ``upper_by`` (a name of :attr:`Sandwich.details`; a bound carried over
    from another rank by :func:`~bottleneck.sandwich.monotone_envelope` reads
    ``"L_B at d = 16"``) and ``solver_status`` (``"converged"`` or why it stopped)."""
    out = {}
    for side, won in (("lower_by", s.lower_detail), ("upper_by", s.upper_detail)):
        if won is not None:
            out[side] = won.note if won.name.endswith("_envelope") else won.name
    if "solver" in s.details:
        out["solver_status"] = s.details["solver"].note.split(",")[0]
    return out


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
    certificate_work: float | None = None,
) -> list[dict]:
    """Rows of the bound-vs-loss figure: :func:`sweep_sandwiches` (column ``seconds``: bounds
    and solver at that rank) merged, when ``trained``, with
    :func:`bottleneck.empirical.heads.rank_curve` (columns ``trained``, ``trained_lr``).
    A trained head is an explicit head, so it also lowers ``upper`` (and ``upper_by`` then
    reads ``trained``)."""
    sandwiches, seconds = sweep_sandwiches(
        target,
        ds,
        solve_seconds=solve_seconds,
        progress=progress,
        label=label,
        certificate_work=certificate_work,
    )
    rows = sandwich_rows(sandwiches)
    for row, sec in zip(rows, seconds):
        row["seconds"] = sec
    if trained:
        from ..empirical.heads import rank_curve

        ds = [r["d"] for r in rows]
        curve = rank_curve(
            target, ds, features=features, lrs=train_lrs, steps=train_steps, progress=progress
        )
        for row, point in zip(rows, curve):
            row.update(trained=point.gap, trained_lr=point.lr)
            if "solver" in row:
                row.setdefault("solver_start", "auto")
            if point.gap < row.get("solver", np.inf) and point.d == row["d"]:
                polish_from_head(target, row, point, solve_seconds=solve_seconds)
            if point.gap < row["upper"]:
                row.update(upper=point.gap, upper_by="trained")
    return rows


def polish_from_head(target, row: dict, point, *, solve_seconds: float) -> dict:
    """Where a trained head beat the solver (stopped by its budget), run the solver again
    from that head and put its result in ``row`` (``solver``, ``solver_status``,
    ``solver_start``; ``upper`` if lower).

    ``point`` is the head's :class:`~bottleneck.empirical.heads.RankCurvePoint` (its ``d``,
    ``gap`` and ``factors = (H, W, b)``, logits ``Z = H W^T (+ 1 b^T)``). ``solve`` returns
    its start when it ends above it (status ``start_kept``), so the new ``solver`` gap is at
    most the trained head's, and it is the gap of an explicit rank-``d`` head: a certified
    upper bound on ``G*(d)`` (docs/theory.md §4, proofs/rank_fact.md)."""
    from ..optim import Solution, solve

    H, W, b = point.factors
    start = Solution(
        d=point.d,
        gap=point.gap,
        loss=float(row["entropy"]) + point.gap,
        H=H,
        W=W,
        bias=b,
        status="max_iter",  # Adam ran its fixed number of steps
        grad_norm=float("nan"),
        iterations=0,
        seconds=0.0,
        device="cpu",
        init="trained head",
    )
    sol = solve(
        target, point.d, init=start, bias=b is not None, max_seconds=solve_seconds, max_iter=200
    )
    row.update(solver=sol.gap, solver_status=sol.status_line, solver_start="trained head")
    if sol.gap < row["upper"]:
        row.update(upper=sol.gap, upper_by="solver")
    return row


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
    """Rows written by :func:`write_csv`: ``d`` as int, text columns (:data:`TEXT_COLUMNS`)
    as str, every other column as float (empty: NaN)."""
    with open(path, newline="") as fh:
        return [{k: _cell(k, v) for k, v in row.items()} for row in csv.DictReader(fh)]


#: columns that hold text, not numbers
TEXT_COLUMNS = ("lower_by", "upper_by", "solver_status", "solver_start", "target")


def _cell(key: str, value: str):
    if key == "d":
        return int(value)
    if key in TEXT_COLUMNS:
        return value
    return float(value) if value != "" else np.nan


#: what each CSV column means (the report's column key); gaps in nats/token above H(P)
COLUMN_KEY = {
    "d": "rank of the head",
    "entropy": "entropy floor H(P), nats/token (loss = entropy + gap)",
    "lower": "best certified lower bound on the gap G*(d) (max over the lower bounds)",
    "upper": "best certified upper bound on G*(d) (min over explicit heads and upper bounds)",
    "lower_by": "which bound gave `lower` (a column name; 'X at d = k': X at rank k, monotone)",
    "upper_by": "which bound or head gave `upper`",
    "solver": "gap of the solver's explicit rank-d head (trust-region Newton-CG)",
    "solver_status": "'converged' or why the solver stopped (e.g. its time budget)",
    "solver_start": "'auto' (its own starts), or 'trained head' where the solver was rerun "
    "from a trained head that had beaten it (so solver <= trained)",
    "trained": "gap of the best trained rank-d head (Adam; Corollary H: >= G*(d))",
    "trained_lr": "peak learning rate of that trained head",
    "seconds": "wall time of bounds + solver at this rank",
    "U_trunc": "Theorem U: explicit truncated-SVD head",
    "U_quad": "Theorem U (Lemma S): T_d / 4",
    "U_osc": "Theorem U (Lemma O): sqrt(2 T_d)",
    "U_ref": "Corollary U': reference logits",
    "L_thm": "Theorem L",
    "L_restricted": "Theorem L on a Lemma R restriction",
    "L_B": "Theorem B (block-spectral, with a verifiable certificate)",
    "P_representation": "Theorem P, representation-aware (fixed features)",
    "P_operator": "Theorem P, operator form",
    "P_paper": "Theorem P, the paper's Thm 5.3 form",
    "E_1": "closed-form spectral estimate (not a bound)",
    "E_F": "Fisher estimate (not a bound)",
    "lower_envelope": "a lower bound of a larger rank (G* is non-increasing in d)",
    "upper_envelope": "an upper bound of a smaller rank (G* is non-increasing in d)",
}


#: the columns a reader looks at first, in this order (then every other; ``seconds`` last)
FIRST_COLUMNS = (
    "d",
    "entropy",
    "lower",
    "lower_by",
    "upper",
    "upper_by",
    "solver",
    "solver_status",
    "solver_start",
    "trained",
    "trained_lr",
    "U_trunc",
)


def ordered_columns(rows) -> list[dict]:
    """The rows with their columns in the order :data:`FIRST_COLUMNS`, the others as they
    come, ``seconds`` last (values unchanged)."""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    order = [k for k in FIRST_COLUMNS if k in keys]
    order += [k for k in keys if k not in order and k != "seconds"]
    order += ["seconds"] if "seconds" in keys else []
    return [{k: r[k] for k in order if k in r} for r in rows]


#: the columns the figures read: never dropped as duplicates
PLOTTED = ("d", "entropy", "lower", "upper", "solver", "trained", "U_trunc", "E_1", "E_F")


def drop_duplicate_columns(rows, keep=PLOTTED):
    """``(rows, dropped)``: the rows without any column equal, in every row, to an earlier
    one (``dropped`` maps each removed column to the one it equals). The columns in
    ``keep`` are never removed (the figure reads them)."""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    dropped = {}
    for i, k in enumerate(keys):
        if k in keep:
            continue
        for earlier in keys[:i]:
            if earlier not in dropped and all(r.get(k) == r.get(earlier) for r in rows):
                dropped[k] = earlier
                break
    return [{k: v for k, v in r.items() if k not in dropped} for r in rows], dropped


def column_key(rows, dropped=None) -> str:
    """Markdown list: every column of ``rows`` with its meaning (:data:`COLUMN_KEY`), and the
    columns :func:`drop_duplicate_columns` removed."""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    lines = [f"- `{k}`: {COLUMN_KEY.get(k, 'see bottleneck.bounds')}" for k in keys]
    for k, same in (dropped or {}).items():
        lines.append(f"- `{k}` ({COLUMN_KEY.get(k, k)}) equals `{same}` at every d: not repeated")
    return "\n".join(lines)


def overview_rows(results) -> list[dict]:
    """Rows of the overview across targets, from ``{target name: rows}``: per target and
    rank, ``lower / solver`` and ``upper / solver`` where ``upper`` is the best upper bound a
    theorem gives (``U_trunc`` and the closed forms :data:`CLOSED_FORMS`; the solver and the
    trained heads left out), named in ``upper_by``. Ranks where the solver's gap is 0 give
    NaN ratios."""
    out = []
    for name, rows in results.items():
        for r in rows:
            solver = float(r.get("solver", np.nan))
            uppers = {k: r[k] for k in ("U_trunc", *CLOSED_FORMS) if k in r}
            by = min(uppers, key=uppers.get) if uppers else ""
            upper = float(uppers[by]) if uppers else np.nan
            ok = solver > 0
            out.append(
                {
                    "target": name,
                    "d": r["d"],
                    "solver": solver,
                    "lower/solver": r["lower"] / solver if ok else np.nan,
                    "lower_by": r.get("lower_by", ""),
                    "upper/solver": upper / solver if ok else np.nan,
                    "upper_by": by,
                }
            )
    return out


def markdown_table(rows) -> str:
    """A Markdown table per rank: the certified ``lower`` and ``upper`` with the bound that
    gave each, the solver (and its status), the trained head, ``U_trunc``, the width
    ``solver / lower`` (how far the certified lower side is from the best known head;
    inf where ``lower`` is 0), ``E_1`` and the seconds taken."""
    lines = [
        "| d | lower | by | solver | solver status | trained head | U_trunc | upper | by "
        "| solver / lower | E_1 | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        solver = r.get("solver", np.nan)
        width = solver / r["lower"] if r["lower"] > 0 else (1.0 if solver == 0 else np.inf)
        cells = [
            r["d"],
            r["lower"],
            r.get("lower_by", ""),
            solver,
            r.get("solver_status", ""),
            r.get("trained", np.nan),
            r.get("U_trunc", np.nan),
            r["upper"],
            r.get("upper_by", ""),
            width,
            r.get("E_1", np.nan),
            r.get("seconds", np.nan),
        ]
        lines.append(
            "| " + " | ".join(f"{c:.4g}" if isinstance(c, float) else str(c) for c in cells) + " |"
        )
    return "\n".join(lines)
