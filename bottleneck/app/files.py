"""Reading the command line's input files: matrices, spectra and context weights.

A file is ``.npy``, ``.npz`` or ``.pt``; nothing is unpickled (``numpy.load`` with
``allow_pickle=False``, ``torch.load`` with ``weights_only=True``). Every problem (missing,
truncated or foreign file, a ``.pt`` holding something other than a tensor, a wrong shape)
raises :class:`InputError` with one line naming the file and what to do.
"""

from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import _validation as _v

__all__ = ["InputError", "Loaded", "KEYS", "load_array", "float_tolerance", "probability_rows"]

#: ``.npz`` keys (and ``.pt`` dict keys) read for each kind of array, in order of preference.
KEYS = {
    "matrix": ("P", "probs", "logits", "Z"),
    "spectrum": ("singular_values", "s", "sigma"),
    "weights": ("weights", "pi", "w"),
}


class InputError(ValueError):
    """A user's input file cannot be used; the message is one line naming the file."""


@dataclass(frozen=True)
class Loaded:
    """An array read from a file: float64 values, and the dtype it was stored in."""

    values: np.ndarray
    stored_dtype: np.dtype
    path: str


def load_array(path, kind: str = "matrix") -> Loaded:
    """The array of ``kind`` (``"matrix"``, ``"spectrum"`` or ``"weights"``) in ``path``.

    ``.npz`` and a ``.pt`` dict: the first of :data:`KEYS` ``[kind]`` present, else the only
    array; a ``.npy`` file or a ``.pt`` tensor: the array itself. Checked: real numbers,
    2-D for a matrix, 1-D (or a single row or column) for a spectrum or weights.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"no such file: {path}")
    if p.is_dir():
        raise InputError(f"{path} is a folder, not a file")
    readers = {".npy": _read_npy, ".npz": _read_npz, ".pt": _read_pt}
    if p.suffix not in readers:
        raise InputError(f"{path}: unsupported file type {p.suffix!r}; use .npy, .npz or .pt")
    raw, stored = readers[p.suffix](p, kind)
    try:
        values = _v.as_real_array(raw, "the array")
    except ValueError as exc:
        raise InputError(f"{path}: {exc}") from None
    return Loaded(_shaped(values, kind, path), np.dtype(stored), str(path))


def _shaped(values: np.ndarray, kind: str, path) -> np.ndarray:
    if kind == "matrix":
        if values.ndim != 2:
            raise InputError(
                f"{path}: expected an (N, V) matrix (contexts x tokens); got shape {values.shape}"
            )
        return values
    if values.ndim > 2 or (values.ndim == 2 and min(values.shape) != 1):
        raise InputError(f"{path}: expected a 1-D array of {kind}; got shape {values.shape}")
    return values.ravel()


def _unreadable(path, suffix: str, exc: BaseException) -> InputError:
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "pickled" in reason or "allow_pickle" in reason:
        reason = "it would have to be unpickled, which can run code: refused"
    return InputError(f"{path}: cannot read it as a {suffix} file ({reason})")


def _read_npy(p: Path, kind: str):
    try:
        arr = np.load(p, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise _unreadable(p, ".npy", exc) from None
    if not isinstance(arr, np.ndarray):  # numpy reads by content: an .npz archive
        arr.close()
        raise InputError(f"{p}: is an .npz archive, not an .npy array; rename it to .npz")
    return arr, arr.dtype


def _read_npz(p: Path, kind: str):
    try:
        z = np.load(p, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise _unreadable(p, ".npz", exc) from None
    if isinstance(z, np.ndarray):  # numpy reads by content: an .npy array
        raise InputError(f"{p}: is an .npy array, not an .npz archive; rename it to .npy")
    try:
        with z:
            arr = z[_pick(list(z.files), kind, p)]
    except InputError:
        raise
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise _unreadable(p, ".npz", exc) from None
    return arr, arr.dtype


def _pick(keys: list, kind: str, path) -> str:
    """The key holding the array of ``kind``: a known name, else the only one."""
    for key in KEYS[kind]:
        if key in keys:
            return key
    if len(keys) == 1:
        return keys[0]
    known = ", ".join(KEYS[kind])
    raise InputError(
        f"{path}: holds {len(keys)} arrays {sorted(map(str, keys))} and none is named "
        f"{known}; save the one to use under one of these names"
    )


def _read_pt(p: Path, kind: str):
    import torch

    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a foreign or damaged file
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise InputError(
            f"{p}: cannot read it as a .pt file written by torch.save of tensors ({reason})"
        ) from None
    if isinstance(obj, dict):
        key = _pick(list(obj), kind, p)
        obj = obj[key]
    if not isinstance(obj, torch.Tensor):
        raise InputError(
            f"{p}: holds a {type(obj).__name__}, not a tensor; save the tensor itself "
            f"(torch.save(P, path)) or a dict with key {KEYS[kind][0]!r}"
        )
    if obj.is_complex():
        raise InputError(f"{p}: holds a complex tensor; save its real part")
    lower = {torch.float16: np.float16, torch.bfloat16: np.float16, torch.float32: np.float32}
    return obj.detach().double().numpy(), np.dtype(lower.get(obj.dtype, np.float64))


def float_tolerance(stored_dtype, vocab_size: int) -> float:
    """Row-sum tolerance for probabilities stored in ``stored_dtype``: ``1e-8`` for float64,
    else ``4 sqrt(V) eps`` of that dtype (a softmax computed in float32 sums to 1 within
    about ``sqrt(V) eps``)."""
    dt = np.dtype(stored_dtype)
    if dt.kind != "f" or np.finfo(dt).eps <= np.finfo(np.float64).eps:
        return _v.ROW_SUM_ATOL
    return max(_v.ROW_SUM_ATOL, 4.0 * math.sqrt(vocab_size) * float(np.finfo(dt).eps))


def probability_rows(loaded: Loaded) -> tuple[np.ndarray, str]:
    """``(values, note)``: probabilities (rows of a matrix, or a vector of weights) stored in
    a lower precision than float64 that sum to 1 within :func:`float_tolerance` are divided
    by their sums in float64 (``note`` says so); float64 values, and values further off, are
    returned as they are (validation then names what is wrong)."""
    values = loaded.values
    matrix = values.reshape(1, -1) if values.ndim == 1 else values
    tol = float_tolerance(loaded.stored_dtype, matrix.shape[1])
    if tol == _v.ROW_SUM_ATOL or not np.isfinite(matrix).all() or (matrix < 0).any():
        return values, ""
    sums = matrix.sum(axis=1)
    off = float(np.max(np.abs(sums - 1.0)))
    if off > tol:
        return values, ""
    what = "weights" if values.ndim == 1 else "probabilities; rows"
    note = (
        f"note: {loaded.path} holds {loaded.stored_dtype.name} {what} sum to 1 within "
        f"{off:.2g} (tolerance {tol:.2g} = 4 sqrt(V) eps); divided by their sums in float64"
    )
    return (matrix / sums[:, None]).reshape(values.shape), note
