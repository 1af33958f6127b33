"""``bottleneck sweep``: the sandwich (and trained heads) rank by rank, written as it goes.

The files it keeps in its output folder are described in :data:`OUTPUT_HELP` (also printed
by ``bottleneck sweep --help``). A state of another target or other settings, or a table or
figure without a state, is never overwritten silently: the run stops with an error unless
``restart=True`` (``--restart``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from .._io import (
    LockedError,
    atomic_write_json,
    check_writable_folder,
    exclusive_lock,
    remove_orphaned_temporaries,
)
from .plots import write_table_and_figure
from .report import TEXT_COLUMNS, check_rows

__all__ = ["STATE", "TABLE", "FIGURE", "LOCK", "OUTPUT_HELP", "run_sweep"]

STATE, TABLE, FIGURE, LOCK = "sweep.json", "sweep.csv", "sweep.png", ".sweep.lock"

OUTPUT_HELP = f"""\
output folder (--out):
  {TABLE}     one row per finished rank (every bound, solver, estimates, trained head)
  {FIGURE}     their figure
  {STATE}    the run's state: target fingerprint, settings, finished rows
  {LOCK}   held while a sweep writes there; a second sweep on the same folder
                stops at once with an error instead of overwriting the first
  After each rank: the state is replaced atomically, then the figure is removed and the
  table and the new figure are written (never a new table beside an old figure). Rerun
  the same command after an interruption or a kill: finished ranks are kept. Another
  target or other settings in --out is an error; --restart replaces them."""
_FORMAT = "bottleneck sweep state 1"


def run_sweep(
    ranks,
    out,
    compute_row: Callable[[int], dict],
    *,
    fingerprint: dict,
    settings: dict,
    title: str,
    restart: bool = False,
    on_row: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Rows of ``ranks`` (sorted, distinct), each from the state in ``out`` or from
    ``compute_row(d)``; the state, ``sweep.csv`` and ``sweep.png`` are written after each.

    Raises ValueError (before any row is computed) when ``out`` is not a writable folder,
    another sweep holds its lock, or it holds the results of another run (``restart``
    replaces them)."""
    out = check_writable_folder(out)
    try:
        with exclusive_lock(out / LOCK):
            remove_orphaned_temporaries(out, [STATE, TABLE, FIGURE])
            done = _resumable_rows(out, fingerprint, settings, restart)
            return _rank_by_rank(
                ranks, out, compute_row, done, fingerprint, settings, title, on_row
            )
    except LockedError:
        raise ValueError(
            f"another sweep is writing to {out} (lock {out / LOCK}); wait for it to finish "
            "or choose another --out"
        ) from None


def _rank_by_rank(ranks, out, compute_row, done, fingerprint, settings, title, on_row):
    rows = [done[d] for d in ranks if d in done]
    if rows:
        write_table_and_figure(rows, title, out / TABLE, out / FIGURE)
    for d in ranks:
        if d in done:
            continue
        row = compute_row(d)
        check_rows([row])
        done[d] = row
        state = {"format": _FORMAT, "target": fingerprint, "settings": settings}
        atomic_write_json(out / STATE, {**state, "rows": [done[k] for k in sorted(done)]})
        rows = [done[k] for k in ranks if k in done]
        write_table_and_figure(rows, title, out / TABLE, out / FIGURE)
        if on_row is not None:
            on_row(row)
    return [done[d] for d in ranks]


def _resumable_rows(out: Path, fingerprint: dict, settings: dict, restart: bool) -> dict:
    """The rows, by rank, of an earlier run in ``out`` with this target and settings."""
    if restart:
        for name in (STATE, TABLE, FIGURE):
            (out / name).unlink(missing_ok=True)
        return {}
    state_path = out / STATE
    if not state_path.exists():
        leftovers = [name for name in (TABLE, FIGURE) if (out / name).exists()]
        if leftovers:
            raise ValueError(
                f"{out} holds {' and '.join(leftovers)} of an earlier run without its state "
                f"{STATE}; pass --restart to replace them, or choose another --out"
            )
        return {}
    state = _read_state(state_path)
    if state["target"] != fingerprint or state["settings"] != settings:
        what = "another target" if state["target"] != fingerprint else "other settings"
        raise ValueError(
            f"{out} holds a sweep of {what} ({state_path}: {state['settings']}); pass "
            "--restart to replace it, or choose another --out"
        )
    return {int(r["d"]): r for r in state["rows"]}


def _read_state(path: Path) -> dict:
    """The state file, checked: its format, and rows with a rank, numbers and the certified
    ordering (:func:`bottleneck.app.report.check_rows`); text only in the text columns."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        if not (isinstance(state, dict) and state.get("format") == _FORMAT):
            raise ValueError("not a sweep state")
        rows = state["rows"]
        for r in rows:
            if isinstance(r["d"], bool) or not isinstance(r["d"], int) or r["d"] < 0:
                raise ValueError(f"rank {r['d']!r}")
            bad = [
                k
                for k, v in r.items()
                if not (isinstance(v, str) if k in TEXT_COLUMNS else _number(v))
            ]
            if bad:
                raise ValueError(f"d={r['d']}: {bad[0]} = {r[bad[0]]!r} is not a number")
        check_rows(rows)
        if len({r["d"] for r in rows}) != len(rows):
            raise ValueError("a rank appears twice")
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"{path} is not a sweep state this version can resume ({exc}); pass --restart to "
            "replace it, or choose another --out"
        ) from None
    return state


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)
