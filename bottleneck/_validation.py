"""Input checks shared by every public entry point.

Each check raises :class:`ValueError` whose message names the argument, the offending
row/column (or index) and the value, and the hypothesis of docs/theory.md it violates.
Nothing here renormalises or repairs input.
"""

from __future__ import annotations

import numbers

import numpy as np

#: Absolute tolerance on ``|sum_j p_ij - 1|`` accepted by :meth:`Target.from_probs`.
ROW_SUM_ATOL = 1e-8
#: Absolute tolerance on ``|sum_i pi_i - 1|`` accepted for context weights.
WEIGHT_SUM_ATOL = 1e-8


def as_float_matrix(x, name: str, min_columns: int = 2) -> np.ndarray:
    """Return ``x`` as a C-contiguous float64 matrix, or raise a ValueError naming ``name``.

    ``min_columns`` is 2 for probability/logit matrices (a softmax needs 2 tokens); factor
    matrices pass 1."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array; could not convert: {exc}") from exc
    if arr.ndim != 2:
        hint = f" (for a single context use {name}[None, :])" if arr.ndim == 1 else ""
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_contexts, vocab_size); "
            f"got shape {arr.shape}{hint}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(
            f"{name} is empty: shape {arr.shape}; need at least 1 context and 2 tokens"
        )
    if arr.shape[1] < min_columns:
        raise ValueError(
            f"{name} has vocab_size {arr.shape[1]}; a softmax head needs vocab_size >= 2"
        )
    return np.ascontiguousarray(arr)


def check_finite(arr: np.ndarray, name: str) -> None:
    """Raise if ``arr`` has a NaN or infinite entry, naming the first one."""
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        where = _where(idx)
        raise ValueError(
            f"{name} has a non-finite entry {float(arr[idx])!r} at {where} "
            f"({int(bad.sum())} in total)"
        )


def check_probability_rows(P: np.ndarray, name: str = "P", atol: float = ROW_SUM_ATOL) -> None:
    """Raise unless every row of ``P`` is a probability vector (finite, >= 0, sums to 1 +- atol)."""
    check_finite(P, name)
    neg = P < 0
    if neg.any():
        i, j = (int(v) for v in np.argwhere(neg)[0])
        raise ValueError(
            f"{name} has a negative probability {float(P[i, j])!r} at row {i}, column {j} "
            f"({int(neg.sum())} negative entries in total)"
        )
    sums = P.sum(axis=1)
    off = np.abs(sums - 1.0) > atol
    if off.any():
        i = int(np.argmax(off))
        raise ValueError(
            f"{name} row {i} sums to {float(sums[i])!r}, not 1 (tolerance {atol:g}; "
            f"{int(off.sum())} rows off); pass normalize=True to renormalise rows explicitly"
        )


def as_weights(weights, n_contexts: int, *, normalize: bool = False) -> np.ndarray:
    """Validate context weights ``pi`` (shape ``(n_contexts,)``, finite, > 0, summing to 1).

    ``None`` gives uniform weights ``1/n_contexts``. With ``normalize=True`` positive weights
    (e.g. context counts) are divided by their sum; otherwise a sum off 1 by more than
    :data:`WEIGHT_SUM_ATOL` is an error.
    """
    if weights is None:
        return np.full(n_contexts, 1.0 / n_contexts)
    try:
        w = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"weights must be numeric; could not convert: {exc}") from exc
    if w.ndim != 1 or w.shape[0] != n_contexts:
        raise ValueError(
            f"weights must have shape ({n_contexts},) (one per context); got shape {w.shape}"
        )
    check_finite(w, "weights")
    nonpos = w <= 0
    if nonpos.any():
        i = int(np.argmax(nonpos))
        raise ValueError(
            "weights must be strictly positive (theory.md §1: pi_i > 0); "
            f"weights[{i}] = {float(w[i])!r} "
            f"({int(nonpos.sum())} non-positive in total); drop zero-weight contexts instead"
        )
    total = float(w.sum())
    if normalize:
        return w / total
    if abs(total - 1.0) > WEIGHT_SUM_ATOL:
        raise ValueError(
            f"weights sum to {total!r}, not 1 (tolerance {WEIGHT_SUM_ATOL:g}); "
            "pass normalize=True to divide them by their sum (e.g. for counts)"
        )
    return w.copy()


def check_rank(d, name: str = "d") -> int:
    """Return ``d`` as a Python int if it is an integer >= 0, else raise ValueError."""
    if isinstance(d, bool) or not isinstance(d, numbers.Integral):
        if isinstance(d, numbers.Real) and float(d).is_integer() and not isinstance(d, bool):
            raise ValueError(f"{name} must be an integer, got the float {d!r}; pass int({d!r})")
        raise ValueError(f"{name} must be a non-negative integer, got {d!r} ({type(d).__name__})")
    if d < 0:
        raise ValueError(f"{name} must be >= 0, got {d}")
    return int(d)


def check_logits(Z, shape: tuple[int, int], name: str = "Z") -> np.ndarray:
    """Return logits ``Z`` as float64 of the given shape, finite, else raise."""
    arr = as_float_matrix(Z, name)
    if arr.shape != shape:
        raise ValueError(
            f"{name} must have shape {shape} (n_contexts, vocab_size); got {arr.shape}"
        )
    check_finite(arr, name)
    return arr


def _where(idx: tuple[int, ...]) -> str:
    if len(idx) == 2:
        return f"row {idx[0]}, column {idx[1]}"
    if len(idx) == 1:
        return f"index {idx[0]}"
    return f"index {idx}"
