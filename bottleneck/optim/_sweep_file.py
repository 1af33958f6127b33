"""The resume file of :func:`bottleneck.sweep`: one JSON object ``{"target": fingerprint,
"records": [...]}`` with one record per solved rank (no factors), read back validated."""

from __future__ import annotations

import json
import math
import numbers
import os

from .result import STATUSES

#: Record fields a resumed rank needs, and what each must be.
_NUMBERS = ("gap", "loss", "grad_norm", "seconds")


def read_records(path, fingerprint: dict) -> dict[int, dict]:
    """The records of an earlier sweep of the same target saved at ``path``, by rank
    (empty when ``path`` is None or absent). Raises ValueError naming ``path`` when the file
    is not a sweep file, holds a sweep of another target, or a record is malformed."""
    if path is None or not os.path.exists(path):
        return {}
    try:
        with open(path, encoding="utf-8") as fh:
            saved = json.load(fh)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(
            f"{path} is not a readable sweep file ({exc}); remove it or choose another path"
        ) from None
    if not (isinstance(saved, dict) and isinstance(saved.get("records"), list)):
        raise ValueError(
            f"{path} is not a sweep file (no 'target' and 'records'); remove it or choose "
            "another path"
        )
    if saved.get("target") != fingerprint:
        raise ValueError(
            f"{path} holds a sweep of another target; remove it or choose another path"
        )
    out: dict[int, dict] = {}
    for k, r in enumerate(saved["records"]):
        problem = _record_problem(r)
        if problem is None and int(r["d"]) in out:
            problem = f"rank d = {r['d']} appears twice"
        if problem is not None:
            raise ValueError(
                f"{path}: record {k} is malformed ({problem}); remove the file or that record"
            )
        out[int(r["d"])] = r
    return out


def _record_problem(r) -> str | None:
    """What is wrong with one saved record, or None."""
    if not isinstance(r, dict):
        return f"not an object: {r!r}"
    d = r.get("d")
    if isinstance(d, bool) or not isinstance(d, int) or d < 0:
        return f"d = {d!r} is not a rank"
    for key in _NUMBERS:
        v = r.get(key)
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or math.isnan(v):
            return f"{key} = {v!r} is not a number"
    if not (math.isfinite(r["gap"]) and r["gap"] >= 0 and math.isfinite(r["loss"])):
        return f"gap = {r['gap']!r}, loss = {r['loss']!r}: a gap is finite and >= 0"
    it = r.get("iterations")
    if isinstance(it, bool) or not isinstance(it, int) or it < 0:
        return f"iterations = {it!r} is not a count"
    if "status" in r and r["status"] not in STATUSES:
        return f"status = {r['status']!r} is not one of {sorted(STATUSES)}"
    if not isinstance(r.get("device"), str):
        return f"device = {r.get('device')!r} is not a string"
    return None
