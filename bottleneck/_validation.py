"""Input checks shared by every public entry point.

Each check raises :class:`ValueError` whose message names the argument, the offending
row/column (or index) and the value, and the hypothesis of docs/theory.md it violates, or
how to fix it. An argument of the wrong type raises :class:`ArgumentTypeError`, which is both
a :class:`TypeError` and a :class:`ValueError` (so ``except ValueError`` still catches every
bad input). Nothing here renormalises or repairs input.
"""

from __future__ import annotations

import math
import numbers

import numpy as np


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type (a string for a flag, a float for a count, a complex or
    masked array, ...). Both a TypeError and a ValueError."""


#: Absolute tolerance on ``|sum_j p_ij - 1|`` accepted by :meth:`Target.from_probs`.
ROW_SUM_ATOL = 1e-8
#: Absolute tolerance on ``|sum_i pi_i - 1|`` accepted for context weights.
WEIGHT_SUM_ATOL = 1e-8


def as_real_array(x, name: str) -> np.ndarray:
    """``x`` as a float64 array (no copy when it already is one), or raise naming ``name``.

    Rejected with :class:`ArgumentTypeError`: complex values (the imaginary part would be
    dropped), masked arrays (the masked entries would be read as their hidden values), scipy
    sparse matrices, strings and other non-numeric entries. A torch tensor is read on the CPU.
    """
    if isinstance(x, np.ma.MaskedArray):
        raise ArgumentTypeError(
            f"{name} is a masked array; its masked entries would be read as their hidden "
            f"values: pass {name}.filled(value) or drop the masked rows"
        )
    if hasattr(x, "tocsr") and hasattr(x, "nnz"):
        raise ArgumentTypeError(
            f"{name} is a scipy.sparse matrix; pass a dense array ({name}.toarray()) or use "
            "Target.from_sparse"
        )
    if hasattr(x, "detach") and hasattr(x, "is_complex"):  # a torch tensor
        if x.is_complex():
            raise ArgumentTypeError(f"{name} is a complex tensor; pass its real part")
        x = x.detach().cpu().double().numpy()
    try:
        raw = x if isinstance(x, np.ndarray) else np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise ArgumentTypeError(
            f"{name} must be a numeric array; could not convert: {exc}"
        ) from exc
    kind = raw.dtype.kind
    if kind == "c":
        raise ArgumentTypeError(
            f"{name} is complex; pass a real array ({name}.real if the imaginary part is "
            "rounding noise)"
        )
    if kind == "O":
        bad = [v for v in raw.ravel() if not isinstance(v, numbers.Real)]
        if bad:
            raise ArgumentTypeError(
                f"{name} must be a numeric array; it holds {bad[0]!r} ({type(bad[0]).__name__})"
            )
    elif kind not in "biuf":
        raise ArgumentTypeError(f"{name} must be a numeric array; got dtype {raw.dtype}")
    try:
        return np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ArgumentTypeError(
            f"{name} must be a numeric array; could not convert: {exc}"
        ) from exc


def as_float_matrix(x, name: str, min_columns: int = 2, *, copy: bool = False) -> np.ndarray:
    """Return ``x`` as a C-contiguous float64 matrix, or raise a ValueError naming ``name``.

    ``min_columns`` is 2 for probability/logit matrices (a softmax needs 2 tokens); factor
    matrices pass 1. With ``copy`` the result never shares memory with ``x`` (what a
    :class:`~bottleneck.Target` keeps must not change when the caller's array does)."""
    arr = as_real_array(x, name)
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
    if copy:
        return np.array(arr, dtype=np.float64, order="C", copy=True)
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


def check_probability_rows(
    P: np.ndarray, name: str = "P", atol: float = ROW_SUM_ATOL, source_dtype=None
) -> None:
    """Raise unless every row of ``P`` is a probability vector (finite, >= 0, sums to 1 +- atol).

    ``source_dtype``: the dtype ``P`` came in (a float32 matrix gets a hint: its rows sum
    to 1 only to about ``V`` float32 roundings)."""
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
        hint = ""
        if source_dtype is not None and np.dtype(source_dtype).kind == "f":
            eps = np.finfo(source_dtype).eps
            if eps > np.finfo(np.float64).eps:
                hint = (
                    f"; {name} is {np.dtype(source_dtype).name}, whose rows sum to 1 only to "
                    f"about {P.shape[1]} x {eps:.1e}: normalize=True divides them by their "
                    "sums in float64"
                )
        raise ValueError(
            f"{name} row {i} sums to {float(sums[i])!r}, not 1 (tolerance {atol:g}; "
            f"{int(off.sum())} rows off); pass normalize=True to renormalise rows explicitly" + hint
        )


def normalise_rows(P: np.ndarray, sums: np.ndarray) -> np.ndarray:
    """``P / sums`` row by row (``sums`` (N, 1), every one > 0); rows whose sum overflows to
    inf or is subnormal are first divided by their largest entry, so no row becomes 0 or
    inf."""
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        out = P / sums
    bad = ~np.isfinite(sums[:, 0]) | (sums[:, 0] < np.finfo(np.float64).tiny)
    if bad.any():
        scaled = P[bad] / P[bad].max(axis=1, keepdims=True)
        out[bad] = scaled / scaled.sum(axis=1, keepdims=True)
    return out


def as_index_array(x, name: str, size: int) -> np.ndarray:
    """A 1-D array of integer ids in ``[0, size)`` (int64), else raise naming ``name``
    (floats are not truncated silently)."""
    arr = x if isinstance(x, np.ndarray) else np.asarray(x)
    if arr.dtype.kind not in "iu" and not (arr.size == 0 and arr.dtype.kind == "f"):
        raise ArgumentTypeError(f"{name} must be integer ids; got dtype {arr.dtype}")
    arr = arr.astype(np.int64).ravel()
    if arr.size and (arr.min() < 0 or arr.max() >= size):
        raise ValueError(
            f"{name} must be ids in [0, {size}); got values from {arr.min()} to {arr.max()}"
        )
    return arr


def as_weights(weights, n_contexts: int, *, normalize: bool = False) -> np.ndarray:
    """Validate context weights ``pi`` (shape ``(n_contexts,)``, finite, > 0, summing to 1).

    ``None`` gives uniform weights ``1/n_contexts``. With ``normalize=True`` positive weights
    (e.g. context counts) are divided by their sum; otherwise a sum off 1 by more than
    :data:`WEIGHT_SUM_ATOL` is an error.
    """
    if weights is None:
        return np.full(n_contexts, 1.0 / n_contexts)
    w = as_real_array(weights, "weights")
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
    with np.errstate(over="ignore"):
        total = float(w.sum())  # inf when it overflows: normalised through max(w) below
    if normalize:
        return _normalised_weights(w, total)
    if abs(total - 1.0) > WEIGHT_SUM_ATOL:
        raise ValueError(
            f"weights sum to {total!r}, not 1 (tolerance {WEIGHT_SUM_ATOL:g}); "
            "pass normalize=True to divide them by their sum (e.g. for counts)"
        )
    return w.copy()


def _normalised_weights(w: np.ndarray, total: float) -> np.ndarray:
    """``w / sum(w)``, computed on ``w / max(w)`` when the sum overflows or underflows; a
    weight that still underflows to 0 is an error (pi_i > 0 is a hypothesis of theory.md §1)."""
    if not (math.isfinite(total) and total >= np.finfo(np.float64).tiny):
        scaled = w / w.max()
        out = scaled / scaled.sum()
    else:
        out = w / total
    if not (out > 0).all():
        i = int(np.argmin(out))
        raise ValueError(
            f"weights[{i}] = {float(w[i])!r} is 0 once the weights are divided by their sum "
            f"({total!r}): it underflows; drop that context or rescale the weights"
        )
    return out


def check_rank(d, name: str = "d") -> int:
    """Return ``d`` as a Python int if it is an integer >= 0, else raise (ArgumentTypeError
    for a non-integer, ValueError for a negative one)."""
    return check_int(d, name, minimum=0)


def check_int(x, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """``x`` as a Python int: an integer (numpy integers too, not bools, not floats) within
    ``[minimum, maximum]``, else raise naming ``name``."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Integral):
        if isinstance(x, (bool, np.bool_)):
            raise ArgumentTypeError(f"{name} must be an integer, got the bool {x!r}")
        if isinstance(x, numbers.Real) and math.isfinite(float(x)) and float(x).is_integer():
            raise ArgumentTypeError(
                f"{name} must be an integer, got the float {x!r}; pass int({x!r})"
            )
        raise ArgumentTypeError(f"{name} must be an integer, got {x!r} ({type(x).__name__})")
    if minimum is not None and x < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {int(x)}")
    if maximum is not None and x > maximum:
        raise ValueError(f"{name} must be an integer <= {maximum}; got {int(x)}")
    return int(x)


def check_optional_int(x, name: str, *, minimum: int | None = None) -> int | None:
    """None, or :func:`check_int`."""
    return None if x is None else check_int(x, name, minimum=minimum)


def check_bool(x, name: str) -> bool:
    """``x`` as a bool: only ``True`` or ``False`` (numpy bools too); a string such as
    ``"False"``, which is truthy, or a number raises ArgumentTypeError."""
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    raise ArgumentTypeError(f"{name} must be True or False, got {x!r} ({type(x).__name__})")


def check_real(
    x,
    name: str,
    *,
    minimum: float | None = None,
    strict: bool = False,
    maximum: float | None = None,
    allow_inf: bool = False,
) -> float:
    """``x`` as a float: a real number (not a bool, not a string), not NaN, finite unless
    ``allow_inf``, ``> minimum`` (``strict``) or ``>= minimum``, ``<= maximum``."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Real):
        raise ArgumentTypeError(f"{name} must be a real number, got {x!r} ({type(x).__name__})")
    v = float(x)
    if math.isnan(v) or (math.isinf(v) and not allow_inf):
        raise ValueError(f"{name} must be a finite number, got {v!r}")
    if minimum is not None and (v <= minimum if strict else v < minimum):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {minimum:g}, got {v!r}")
    if maximum is not None and v > maximum:
        raise ValueError(f"{name} must be <= {maximum:g}, got {v!r}")
    return v


def check_budget(x, name: str) -> float | None:
    """A time budget in seconds: None (no budget) or a finite number ``>= 0``."""
    return None if x is None else check_real(x, name, minimum=0.0)


def check_choice(x, name: str, choices) -> str:
    """``x`` if it is one of ``choices`` (strings), else raise listing them."""
    if not isinstance(x, str) or x not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}; got {x!r}")
    return x


def check_logits(Z, shape: tuple[int, int], name: str = "Z") -> np.ndarray:
    """Return logits ``Z`` as float64 of the given shape, finite, else raise."""
    arr = as_float_matrix(Z, name)
    if arr.shape != shape:
        raise ValueError(
            f"{name} must have shape {shape} (n_contexts, vocab_size); got {arr.shape}"
        )
    check_finite(arr, name)
    return arr


def check_bounds_arguments(target, d: int, *, floors, solution, fisher_estimate) -> None:
    """Raise unless the options of :func:`bottleneck.bounds.bounds` are usable: ``floors``
    None or finite numbers > 0; ``solution`` an explicit head for this target and rank (a gap
    that is finite and >= 0, of rank ``<= d``, with a bias only when the target's head has
    one); ``fisher_estimate`` a finite number >= 0. A mismatched solver value would be
    reported as a certified upper bound."""
    if floors is not None:
        if isinstance(floors, (str, bytes)) or not hasattr(floors, "__iter__"):
            raise ArgumentTypeError(f"floors must be a list of numbers > 0; got {floors!r}")
        for fl in floors:
            check_real(fl, "floors", minimum=0.0, strict=True)
    if fisher_estimate is not None:
        check_real(fisher_estimate, "fisher_estimate", minimum=0.0)
    if solution is None:
        return
    gap = getattr(solution, "gap", None)
    if gap is None or not hasattr(solution, "success"):
        raise ArgumentTypeError(
            f"solution must be a Solution of bottleneck.solve; got {type(solution).__name__}"
        )
    check_real(gap, "solution.gap", minimum=0.0)
    if getattr(solution, "d", d) > d:
        raise ValueError(
            f"solution is of rank d = {solution.d} > {d}: its gap bounds G*({solution.d}), "
            f"not G*({d}); solve at d = {d} or pass no solution"
        )
    if getattr(solution, "bias", None) is not None and not target.bias:
        raise ValueError(
            "solution has a bias row but the target's heads have none (bias=False): its gap "
            "does not bound G*(d) without bias; use target.with_bias(True) or solve(bias=False)"
        )
    H, W = getattr(solution, "H", None), getattr(solution, "W", None)
    if (
        H is not None
        and W is not None
        and np.size(H)
        and (np.shape(H)[0], np.shape(W)[0]) != tuple(target.shape)
    ):
        raise ValueError(
            f"solution has {np.shape(H)[0]} contexts and {np.shape(W)[0]} tokens but the "
            f"target is {target.shape}: it is a solution of another target"
        )


def check_spectrum_constants(weights, min_probs, vocab_size) -> None:
    """Raise unless ``sum(weights) <= 1`` and ``min_probs <= 1/V`` (1/2 without ``V``), as
    for every target (up to the tolerances of :mod:`bottleneck._validation`)."""
    w = as_real_array(weights, "weights")
    m = as_real_array(min_probs, "min_probs")
    V = 2 if vocab_size is None else check_int(vocab_size, "vocab_size", minimum=2)
    if np.all(np.isfinite(w)) and float(np.sum(w)) > 1.0 + WEIGHT_SUM_ATOL:
        raise ValueError(
            f"weights sum to {float(np.sum(w))!r} > 1: context weights of a target sum to 1 "
            "(less for a Lemma R restriction); divide them by their sum"
        )
    limit = (1.0 + ROW_SUM_ATOL) / V
    if np.any(m > limit):
        i = int(np.argmax(m > limit))
        raise ValueError(
            f"min_probs[{i}] = {float(m[i])!r} > 1/V = {1.0 / V:g}: the smallest of V "
            "probabilities summing to 1 is at most 1/V"
            + (f" (vocab_size = {V})" if vocab_size is not None else " (V >= 2)")
        )


#: Binary exponent beyond which :func:`rescale_extreme` rescales (2^200 ~ 1.6e60): squares
#: and sums of squares of entries inside ``[2^-200, 2^200]`` neither overflow nor underflow.
_SAFE_EXPONENT = 200


def rescale_extreme(x: np.ndarray) -> np.ndarray:
    """``x`` times the power of two that brings its largest ``|entry|`` into ``[0.5, 1)``,
    when that entry lies outside ``[2^-200, 2^200]``; else ``x`` itself (same object).

    For quantities invariant under scaling (cosines, normalised spectra, W-error) this is
    exact (multiplying by a power of two rounds nothing) and keeps sums of squares from
    overflowing to inf (``1e300``) or underflowing to 0 (``1e-300``)."""
    if x.size == 0:
        return x
    top = float(np.max(np.abs(x)))
    if top == 0.0 or not math.isfinite(top):
        return x
    e = math.frexp(top)[1]
    return np.ldexp(x, -e) if abs(e) > _SAFE_EXPONENT else x


def _where(idx: tuple[int, ...]) -> str:
    if len(idx) == 2:
        return f"row {idx[0]}, column {idx[1]}"
    if len(idx) == 1:
        return f"index {idx[0]}"
    return f"index {idx}"
