"""A matrix read as row blocks, and the two passes the spectra need: the Gram ``M^T M``
and the product ``M^T (M X)``, summed block by block (in this process or on Dask).

``M`` is ``(N, V)``; only its *observed* columns (some non-zero entry) are kept, renumbered
``0 .. V_obs - 1``: the others add only zero eigenvalues to ``M^T M``. Sources: a numpy
array, a scipy.sparse matrix, or anything with ``shape`` and ``iter_blocks()`` yielding
``(start, block)`` row blocks (:class:`bottleneck.targets.ngram_store.NgramStore`).

The blocks are read once (a store: block by block from disk) and kept in memory as CSR
chunks; the dense ``N x V`` matrix is never formed. With a ``distributed.Client`` they are
read in this process, sent to the workers once, and every pass is then a map over them with
a tree sum: after that first transfer the ``V_obs x V_obs`` Gram (or ``V_obs x b`` product)
is the only thing that travels.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse

from . import _validation as _v

#: rows per block when an in-memory matrix is split
DEFAULT_BLOCK_ROWS = 1 << 15
#: consecutive blocks are joined into chunks of at least this many stored entries: each pass
#: forms one dense ``V_obs x b`` partial result per chunk, so few large chunks beat many
#: small blocks (a store's 65,536-row blocks of a 5-gram matrix hold ~80k entries each)
CHUNK_ENTRIES = 1 << 21


def pass_threads() -> int:
    """Threads for the local passes (scipy's sparse products release the GIL):
    ``OMP_NUM_THREADS`` if set, else the CPUs of the process, at most 8. The partial
    results are added in block order, so the sums do not depend on it."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return min(int(env), 8)
    try:
        return max(1, min(len(os.sched_getaffinity(0)), 8))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, min(os.cpu_count() or 1, 8))


def _chunks(blocks: list) -> list:
    """Consecutive blocks joined into chunks of at least :data:`CHUNK_ENTRIES` entries."""
    out, group, size = [], [], 0
    for b in blocks:
        group.append(b)
        size += b.nnz if scipy.sparse.issparse(b) else b.size
        if size >= CHUNK_ENTRIES:
            out.append(group)
            group, size = [], 0
    if group:
        out.append(group)
    return [
        g[0]
        if len(g) == 1
        else (scipy.sparse.vstack(g, format="csr") if scipy.sparse.issparse(g[0]) else np.vstack(g))
        for g in out
    ]


def _as_blocks(source):
    """``(shape, blocks)``: a list of CSR/ndarray row blocks, or a zero-argument callable
    returning a fresh iterator over them (streamed sources)."""
    if hasattr(source, "iter_blocks") and hasattr(source, "shape"):
        return tuple(source.shape), lambda: (b for _, b in source.iter_blocks())
    if scipy.sparse.issparse(source):
        if source.dtype.kind not in "biuf":
            raise TypeError(f"M must hold real numbers; got dtype {source.dtype}")
        M = scipy.sparse.csr_matrix(source, dtype=np.float64, copy=True)
        M.sum_duplicates()
        M.data = _v.rescale_extreme(M.data)
        if not np.all(np.isfinite(M.data)):
            raise ValueError("the matrix has a non-finite entry")
    else:
        M = _v.rescale_extreme(_v.as_real_array(source, "M"))
        if M.ndim != 2:
            raise ValueError(f"M must be 2-D; got shape {M.shape}")
    n = M.shape[0]
    return M.shape, [M[s : s + DEFAULT_BLOCK_ROWS] for s in range(0, n, DEFAULT_BLOCK_ROWS)]


def _observed(block) -> np.ndarray:
    if scipy.sparse.issparse(block):
        return np.unique(block.indices[block.data != 0])
    return np.flatnonzero(np.any(block != 0, axis=0))


def _renumbered(block, columns: np.ndarray, n_columns: int):
    """The block restricted to ``columns`` (sorted), as CSR with columns renumbered."""
    if scipy.sparse.issparse(block):
        block = scipy.sparse.csr_matrix(block, dtype=np.float64)
        lookup = np.full(n_columns, -1, dtype=np.int64)
        lookup[columns] = np.arange(columns.size)
        keep = block.data != 0
        rows = np.repeat(np.arange(block.shape[0]), np.diff(block.indptr))[keep]
        return scipy.sparse.csr_matrix(
            (block.data[keep], (rows, lookup[block.indices[keep]])),
            shape=(block.shape[0], columns.size),
        )
    return np.ascontiguousarray(block[:, columns], dtype=np.float64)


def _sparse_gram_part(block):
    return (block.T @ block).tocsr()


def _gram(block) -> np.ndarray:
    if scipy.sparse.issparse(block):
        return (block.T @ block).toarray()
    return block.T @ block


def _gram_times(block, X: np.ndarray) -> np.ndarray:
    """``B^T (B X)`` in row slices, so the dense ``B X`` held at once stays under
    :data:`_CHUNK_ENTRIES` entries (a chunk of 2M rows times 2,000 columns would be 32 GB)."""
    step = max(1, _CHUNK_ENTRIES // max(X.shape[1], 1))
    out = None
    for start in range(0, block.shape[0], step):
        rows = block[start : start + step]
        part = np.asarray(rows.T @ (rows @ X))
        out = part if out is None else out + part
    return out


#: entries of the dense ``B U`` products formed at once by :func:`_energy_along`
_CHUNK_ENTRIES = 1 << 24


def _energy_along(block, U: np.ndarray) -> np.ndarray:
    """``sum_i (B U)_ij^2`` for each column ``j`` of ``U``, in row chunks of the block."""
    step = max(1, _CHUNK_ENTRIES // max(U.shape[1], 1))
    out = np.zeros(U.shape[1])
    for start in range(0, block.shape[0], step):
        Y = np.asarray(block[start : start + step] @ U)
        out += np.einsum("ij,ij->j", Y, Y)
    return out


def _fro_sq(block) -> float:
    data = block.data if scipy.sparse.issparse(block) else block
    return float(np.einsum("i,i->", data.ravel(), data.ravel()))


def _nnz(block) -> int:
    return int(block.nnz) if scipy.sparse.issparse(block) else int(np.count_nonzero(block))


class GramBlocks:
    """Row blocks of ``M`` restricted to its observed columns, with the passes over them.

    Attributes: ``shape`` (of ``M``), ``columns`` (observed column indices), ``n_columns``
    (``V_obs``), ``frobenius_sq`` (``||M||_F^2``), ``nnz``, ``passes`` (how many passes over
    the data were made: the work counter of the spectra). ``on_pass``: None or a callable
    run after each pass is counted (a progress bar's update).
    """

    def __init__(self, source, client=None, on_pass=None):
        shape, blocks = _as_blocks(source)
        self.shape = shape
        self.client = client
        blocks = list(blocks()) if callable(blocks) else blocks
        if not blocks:
            raise ValueError("the matrix has no rows")
        observed = np.unique(np.concatenate([_observed(b) for b in blocks]))
        self.columns = observed
        self.n_columns = int(observed.size)
        self._blocks = _chunks([_renumbered(b, observed, shape[1]) for b in blocks])
        self.frobenius_sq = float(sum(_fro_sq(b) for b in self._blocks))
        self.nnz = int(sum(_nnz(b) for b in self._blocks))
        if self.frobenius_sq == 0.0:
            raise ValueError("w_error is undefined for a zero matrix (||M||_F = 0)")
        if not np.isfinite(self.frobenius_sq):
            raise ValueError("the matrix has a non-finite entry or overflows ||M||_F^2")
        self.passes = 0
        self.on_pass = on_pass
        self._remote = None
        self._gram_sparse = None
        if client is not None:
            import dask

            self._remote = client.persist([dask.delayed(b) for b in self._blocks])
            self._blocks = None

    def count_pass(self) -> None:
        """Count one pass over the data (and tell ``on_pass``)."""
        self.passes += 1
        if self.on_pass is not None:
            self.on_pass()

    def _sum(self, fn, *args):
        self.count_pass()
        if self._remote is None:
            total = None
            threads = pass_threads()
            window = max(1, 2 * threads)
            with ThreadPoolExecutor(threads) as pool:
                for start in range(0, len(self._blocks), window):  # bounded memory
                    batch = self._blocks[start : start + window]
                    for part in pool.map(lambda b: fn(b, *args), batch):  # in block order
                        total = part if total is None else total + part
            return total
        import dask

        args_d = [dask.delayed(a) for a in args]
        parts = [dask.delayed(fn)(b, *args_d) for b in self._remote]
        while len(parts) > 1:  # tree sum: pairs on the workers, one result back
            parts = [
                dask.delayed(np.add)(parts[i], parts[i + 1]) if i + 1 < len(parts) else parts[i]
                for i in range(0, len(parts), 2)
            ]
        return self.client.compute(parts[0], sync=True)

    def gram(self) -> np.ndarray:
        """``M^T M`` on the observed columns, dense ``(V_obs, V_obs)`` float64 (one pass)."""
        return self._sum(_gram)

    def gram_times(self, X: np.ndarray) -> np.ndarray:
        """``M^T (M X)`` for ``X`` of shape ``(V_obs, b)`` (one pass; with the sparse Gram
        formed, one product with it instead)."""
        X = np.ascontiguousarray(X, dtype=np.float64)
        # measured on the 20.9M x 46k 5-gram matrix: 16 columns 1.7 s by rows vs 2.2 s by
        # the Gram; 256 columns 25.8 s vs 15.2 s
        G = self._sparse_gram() if X.shape[1] >= 64 else None
        if G is None:
            return self._sum(_gram_times, X)
        self.count_pass()
        out = np.empty((G.shape[0], X.shape[1]))
        step = max(1, -(-G.shape[0] // (4 * pass_threads())))
        slices = [slice(a, min(a + step, G.shape[0])) for a in range(0, G.shape[0], step)]

        def rows(sl):
            out[sl] = G[sl] @ X

        with ThreadPoolExecutor(pass_threads()) as pool:
            list(pool.map(rows, slices))
        return out

    def _sparse_gram(self):
        """``M^T M`` as a sparse matrix, formed once (one pass) when ``M`` is sparse and
        local, its fill bound ``sum_i r_i^2`` (``r_i``: row ``i``'s non-zeros) is at most
        ``2^28``, and it has at most ``2 (N + nnz(M))`` entries: a product with it then costs
        less than a pass over the rows, which also forms a dense ``N x b`` intermediate. An
        n-gram matrix (about 1.2 entries a row) is such a case. None otherwise."""
        if self._remote is not None:
            return None
        if self._gram_sparse is not None:
            return self._gram_sparse if scipy.sparse.issparse(self._gram_sparse) else None
        self._gram_sparse = False
        if not all(scipy.sparse.issparse(b) for b in self._blocks):
            return None
        fill = sum(int(np.sum(np.diff(b.indptr).astype(np.int64) ** 2)) for b in self._blocks)
        if fill > 1 << 28:
            return None
        G = scipy.sparse.csr_matrix(self._sum(_sparse_gram_part))
        if G.nnz <= 2 * (self.shape[0] + self.nnz):
            self._gram_sparse = G
            return G
        return None

    def energy_along(self, U: np.ndarray) -> np.ndarray:
        """``||M u_j||^2`` for each column ``u_j`` of ``U`` (``(V_obs, r)``), from the data
        itself rather than the Gram, so small values keep their relative accuracy (one
        pass)."""
        return self._sum(_energy_along, np.ascontiguousarray(U, dtype=np.float64))

    def local_matrix(self):
        """The whole (observed-column) matrix in this process, as CSR or ndarray."""
        if self._remote is not None:
            blocks = self.client.compute(self._remote, sync=True)
        else:
            blocks = self._blocks
        if scipy.sparse.issparse(blocks[0]):
            return scipy.sparse.vstack(blocks, format="csr")
        return np.vstack(blocks)
