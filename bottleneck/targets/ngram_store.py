"""n-gram targets stored on disk as CSR row blocks, reopened without recounting.

Layout of a store folder::

    store.json            shape, order, tokenizer, nnz, n-grams read, blocks (written last)
    rows.npz              context counts (the weights, unnormalised), context token ids
    tokens.npz            the token values the context ids index, and the column vocabulary
    block-00000.npz ...   rows [start, stop) of the count matrix: indptr, indices, data

Every file is written atomically and ``store.json`` last, so a folder without it is an
incomplete store and is refused. Counts (not probabilities) are stored, so a reopened
target equals the counted one exactly (:meth:`NgramStore.target` normalises them the way
:func:`bottleneck.targets.ngram` does). :meth:`NgramStore.iter_blocks` streams row blocks of
the probability matrix for the spectra (:func:`bottleneck.spectrum.w_error_curve`), one
block in memory at a time.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .. import _io
from ..target import Target
from . import ngram_corpus as _corpus

STORE_FORMAT = 1
DEFAULT_BLOCK_ROWS = 1 << 16


def save_store(
    path,
    counts,
    context_counts,
    contexts,
    vocab,
    *,
    meta=None,
    block_rows: int = DEFAULT_BLOCK_ROWS,
) -> Path:
    """Write a count matrix (CSR, rows = contexts) and its row data as a store folder.

    ``contexts``: a :class:`~bottleneck.targets.ngram_corpus.ContextTable`; ``vocab``:
    the column tokens (ints or strs); ``meta``: JSON-able facts kept in ``store.json``.
    """
    from scipy import sparse

    path = check_new_store(path)
    counts = sparse.csr_matrix(counts, dtype=np.float64)
    n = counts.shape[0]
    blocks = []
    for k, start in enumerate(range(0, n, int(block_rows))):
        stop = min(start + int(block_rows), n)
        b = counts[start:stop]
        _io.atomic_savez(
            path / f"block-{k:05d}.npz", indptr=b.indptr, indices=b.indices, data=b.data
        )
        blocks.append([start, stop])
    _io.atomic_savez(
        path / "rows.npz", context_counts=np.asarray(context_counts), context_ids=contexts.ids
    )
    _io.atomic_savez(
        path / "tokens.npz",
        **_corpus._vocab_arrays(_corpus_values(contexts.values), "values"),
        **_corpus._vocab_arrays(_corpus_values(vocab), "vocab"),
    )
    manifest = dict(
        format=STORE_FORMAT,
        shape=list(counts.shape),
        nnz=int(counts.nnz),
        blocks=blocks,
        meta=meta or {},
    )
    _io.atomic_write_json(path / "store.json", manifest)
    return path


def check_new_store(path) -> Path:
    """Raise before any counting unless ``path`` is a writable folder without a store."""
    path = _io.check_writable_folder(path, "store folder")
    if (path / "store.json").exists():
        raise ValueError(f"store folder {str(path)!r} already holds a store; choose another")
    return path


def _corpus_values(values) -> np.ndarray:
    from .ngram_counts import vocab_array

    return values if isinstance(values, np.ndarray) else vocab_array(values)


class NgramStore:
    """A store folder opened read-only: ``shape``, ``meta``, :meth:`iter_blocks`,
    :meth:`target`, :meth:`context_counts`, :meth:`contexts`, :meth:`vocab`.

    Raises FileNotFoundError when the folder has no ``store.json`` (missing or incomplete
    store), ValueError for another format or a block that does not match the manifest.
    """

    def __init__(self, path):
        self.path = Path(path)
        manifest = self.path / "store.json"
        if not manifest.exists():
            raise FileNotFoundError(f"no n-gram store at {str(self.path)!r} (no store.json)")
        try:
            info = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"store {str(self.path)!r}: unreadable store.json ({exc})") from None
        if not isinstance(info, dict) or info.get("format") != STORE_FORMAT:
            raise ValueError(f"store {str(self.path)!r} is not a format-{STORE_FORMAT} store")
        try:
            self.shape = tuple(int(x) for x in info["shape"])
            self.nnz = int(info["nnz"])
            self.blocks = tuple((int(a), int(b)) for a, b in info["blocks"])
            self.meta = dict(info.get("meta", {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"store {str(self.path)!r}: store.json lacks {exc}") from None
        ends = [0] + [stop for _, stop in self.blocks]
        if (
            len(self.shape) != 2
            or [start for start, _ in self.blocks] != ends[:-1]
            or ends[-1] != self.shape[0]
        ):
            raise ValueError(f"store {str(self.path)!r}: blocks do not tile shape {self.shape}")

    def __repr__(self) -> str:
        return f"NgramStore({str(self.path)!r}, shape={self.shape}, nnz={self.nnz})"

    def count_block(self, k: int):
        """Block ``k`` of the count matrix (CSR)."""
        from scipy import sparse

        start, stop = self.blocks[k]
        with np.load(self.path / f"block-{k:05d}.npz", allow_pickle=False) as data:
            b = sparse.csr_matrix(
                (data["data"], data["indices"], data["indptr"]), shape=(stop - start, self.shape[1])
            )
        ok = (
            b.indptr[0] == 0
            and np.all(np.diff(b.indptr) >= 0)
            and (b.indices.size == 0 or (b.indices.min() >= 0 and b.indices.max() < self.shape[1]))
            and b.has_canonical_format  # sorted, no duplicate column in a row
            and np.all(np.isfinite(b.data))
            and np.all(b.data > 0)
        )
        if not ok:
            raise ValueError(f"block {k} of store {str(self.path)!r} is corrupt")
        return b

    def iter_blocks(self):
        """``(start, P_block)`` for each row block: rows of the probability matrix."""
        for k, (start, _) in enumerate(self.blocks):
            b = self.count_block(k)
            sums = np.asarray(b.sum(axis=1)).ravel()
            yield start, sparse_rows_divided(b, sums)

    def context_counts(self) -> np.ndarray:
        with np.load(self.path / "rows.npz", allow_pickle=False) as data:
            return np.array(data["context_counts"])

    def contexts(self) -> _corpus.ContextTable:
        with np.load(self.path / "rows.npz", allow_pickle=False) as data:
            ids = np.array(data["context_ids"])
        with np.load(self.path / "tokens.npz", allow_pickle=False) as data:
            return _corpus.ContextTable(ids, _corpus._vocab_from(data, "values"))

    def vocab(self) -> list:
        with np.load(self.path / "tokens.npz", allow_pickle=False) as data:
            return _corpus._vocab_from(data, "vocab").tolist()

    def counts(self):
        """The whole count matrix (CSR), read block by block."""
        from scipy import sparse

        return sparse.vstack([self.count_block(k) for k in range(len(self.blocks))], format="csr")

    def target(self, bias: bool | None = None, smoothing: float | None = None) -> Target:
        """The :class:`~bottleneck.Target` counted: probabilities = counts / row sums
        (add-``smoothing``, dense, if the count asked for it), weights = context counts /
        their total; ``bias`` and ``smoothing`` default to those of the count (``meta``).

        Raises ValueError if the counts do not match the manifest or the stored context
        counts (a damaged or edited store)."""
        counts = self.counts()
        context_counts = self.context_counts()
        if counts.nnz != self.nnz or not np.array_equal(
            np.asarray(counts.sum(axis=1)).ravel(), context_counts.astype(np.float64)
        ):
            raise ValueError(f"store {str(self.path)!r}: counts do not match its manifest")
        bias = bool(self.meta.get("bias", False)) if bias is None else bias
        smoothing = self.meta.get("smoothing") if smoothing is None else smoothing
        return target_from_counts(counts, context_counts, bias, smoothing)


def target_from_counts(counts, context_counts, bias: bool, smoothing) -> Target:
    """The n-gram target of a count matrix: rows divided by their sums (sparse), or
    add-``smoothing`` (dense, full support); weights = context counts / their total."""
    weights = np.asarray(context_counts, dtype=np.float64)
    weights = weights / weights.sum()
    if smoothing is None:
        return Target.from_sparse(counts, weights=weights, bias=bias, normalize=True)
    dense = counts.toarray() + float(smoothing)
    return Target.from_probs(dense / dense.sum(axis=1, keepdims=True), weights=weights, bias=bias)


def sparse_rows_divided(block, sums: np.ndarray):
    """``diag(1 / sums) block`` for a CSR block whose row sums are positive."""
    out = block.copy()
    out.data = block.data / np.repeat(sums, np.diff(block.indptr))
    return out
