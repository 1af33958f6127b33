"""A disk cache of built targets, so that the demo's second run skips tokenising corpora
and loading language models.

``cached_target(folder, key, build)`` returns the target saved under ``key`` (any string
that names how the target is built) or builds it, saves it atomically and returns it. The
file (``target-<sha256(key)[:20]>.npz``) holds the target's own arrays, by storage: dense
``P``; sparse CSR ``data, indices, indptr, shape``; factored ``X, W`` (and ``b``; ``W`` in
float32 when that is exact, read back as float64); plus the
context weights and the bias flag. Arrays are read with ``allow_pickle=False``. A file that
cannot be read (truncated, another format) is rebuilt, never trusted.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from .._io import atomic_savez
from ..target import Target

__all__ = ["cached_target", "load_target", "save_target"]


def cached_target(folder, key: str, build) -> tuple[Target, bool]:
    """``(target, hit)``: the target cached in ``folder`` under ``key``, or ``build()``
    saved there (``hit`` False)."""
    path = Path(folder) / f"target-{hashlib.sha256(key.encode()).hexdigest()[:20]}.npz"
    if path.is_file():
        try:
            return load_target(path), True
        except (OSError, ValueError, KeyError):
            path.unlink(missing_ok=True)
    target = build()
    save_target(target, path)
    return target, False


def save_target(target: Target, path) -> None:
    """Write ``target``'s arrays to ``path`` (.npz, atomically)."""
    arrays = {"weights": target.weights, "bias": np.array(target.bias)}
    arrays["storage"] = np.array(target.storage)
    if target.storage == "dense":
        arrays["P"] = target.probs
    elif target.storage == "sparse":
        P = target.sparse_probs
        arrays.update(data=P.data, indices=P.indices, indptr=P.indptr, shape=np.array(P.shape))
    else:
        X, W, b = target.factors
        arrays.update(X=X, W=_compact(W))
        if b is not None:
            arrays["b"] = b
    atomic_savez(Path(path), **arrays)


def _compact(a: np.ndarray) -> np.ndarray:
    """``a`` as float32 when that loses nothing (a language model's head usually is float32:
    SmolLM2's 49,152 x 576 head takes 113 MB instead of 226), else unchanged."""
    a32 = a.astype(np.float32)
    return a32 if np.array_equal(a32.astype(a.dtype), a) else a


def load_target(path) -> Target:
    """The target saved by :func:`save_target` (validated again by its constructor)."""
    from scipy import sparse

    with np.load(path, allow_pickle=False) as z:
        storage, w, bias = str(z["storage"]), z["weights"], bool(z["bias"])
        if storage == "dense":
            return Target.from_probs(z["P"], weights=w, bias=bias)
        if storage == "sparse":
            P = sparse.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))
            return Target.from_sparse(P, weights=w, bias=bias)
        b = z["b"] if "b" in z.files else None
        return Target.from_factors(z["X"], z["W"], b, weights=w, bias=bias)
