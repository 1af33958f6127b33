"""The target: context weights ``pi`` and next-token distributions ``P`` (docs/theory.md §1).

A :class:`Target` is validated once, at construction. Every loss it reports is in nats per
token. Three storages share one interface (row blocks through :meth:`Target.iter_rows`):

* ``"dense"``: ``P`` and ``log P`` as (N, V) arrays;
* ``"sparse"``: ``P`` as a CSR matrix (n-gram targets; zeros off the support);
* ``"factored"``: a teacher ``p_i = softmax(W x_i + b)`` kept as features ``X`` (N, D),
  head ``W`` (V, D) and bias ``b``; rows are computed block by block and never all
  materialised (spectra come from the factors, :mod:`bottleneck.spectrum`).

``Target.probs`` / ``Target.log_probs`` materialise a non-dense target only up to
:data:`DENSE_LIMIT` entries and otherwise raise, naming the chunked alternative.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from . import _validation as _v

__all__ = ["Target", "log_softmax", "centring_matrix_apply"]


def log_softmax(Z: np.ndarray) -> np.ndarray:
    """Row-wise ``log softmax(z_i)_j = z_ij - log sum_k exp(z_ik)`` in float64, stable."""
    m = Z.max(axis=1, keepdims=True)
    shifted = Z - m
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def kl_rows(p: np.ndarray, logp: np.ndarray, logq: np.ndarray) -> np.ndarray:
    """``KL(p_i || q_i) = sum_{j: p_ij > 0} p_ij (log p_ij - log q_ij)`` per row (Lemma K,
    ``proofs/lemma_k.md``), clipped at 0 against rounding; shapes (n, V) -> (n,)."""
    return np.maximum((p * np.where(p > 0, logp - logq, 0.0)).sum(axis=1), 0.0)


def centring_matrix_apply(M: np.ndarray) -> np.ndarray:
    """Return ``M C`` with ``C = I - 11^T/V``: subtract each row's mean over the vocabulary."""
    return M - M.mean(axis=1, keepdims=True)


def _probs_and_logs(logp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(exp(logp), logp)`` with ``logp = -inf`` where the probability underflows to 0
    (logit spreads beyond about 745): such entries are zeros of the target, consistently."""
    p = np.exp(logp)
    if not p.all():
        logp = np.where(p > 0, logp, -np.inf)
    return p, logp


DENSE_LIMIT = 2**26  # entries of P a non-dense target may materialise (512 MB in float64)
_BLOCK_ENTRIES = 2**22  # entries per row block when iterating (32 MB in float64)


def _freeze(*arrays) -> None:
    """Make arrays the target owns read-only (a caller cannot change a target's rows)."""
    for a in arrays:
        if a is not None:
            a.setflags(write=False)


@dataclass(frozen=True)
class _DenseStorage:
    probs: np.ndarray  # (N, V) float64, rows on the simplex; owned, read-only
    log_probs: np.ndarray  # (N, V) float64, -inf where probs == 0
    name = "dense"

    def __post_init__(self):
        _freeze(self.probs, self.log_probs)

    @property
    def shape(self):
        return self.probs.shape

    def block(self, sl):
        return self.probs[sl], self.log_probs[sl]

    def full_support(self):
        return bool(np.isfinite(self.log_probs).all())

    def content(self):
        return (self.probs,)

    def support(self, rows):
        from scipy import sparse

        return sparse.vstack([sparse.csr_matrix((p > 0).astype(np.float64)) for _, p, _ in rows])


@dataclass(frozen=True)
class _SparseStorage:
    probs: object  # scipy.sparse.csr_matrix (N, V), float64, rows on the simplex; owned
    name = "sparse"

    def __post_init__(self):
        _freeze(self.probs.data, self.probs.indices, self.probs.indptr)

    @property
    def shape(self):
        return self.probs.shape

    def block(self, sl):
        P = self.probs[sl].toarray()
        with np.errstate(divide="ignore"):
            return P, np.log(P)

    def full_support(self):
        n, v = self.probs.shape
        return bool(self.probs.nnz == n * v and (self.probs.data > 0).all())

    def content(self):
        return (self.probs.indptr, self.probs.indices, self.probs.data)

    def support(self, rows):
        B = self.probs.copy()
        B.data = (B.data > 0).astype(np.float64)
        return B


@dataclass(frozen=True)
class _FactoredStorage:
    features: np.ndarray  # X, (N, D) float64; owned, read-only
    head: np.ndarray  # W, (V, D) float64
    head_bias: np.ndarray | None  # b, (V,) or None
    name = "factored"

    def __post_init__(self):
        _freeze(self.features, self.head, self.head_bias)

    @property
    def shape(self):
        return (self.features.shape[0], self.head.shape[0])

    def logits(self, sl):
        Z = self.features[sl] @ self.head.T
        return Z + self.head_bias if self.head_bias is not None else Z

    def block(self, sl):
        return _probs_and_logs(log_softmax(self.logits(sl)))

    def full_support(self):
        return None  # known after a pass over the rows (Target.has_full_support)

    def content(self):
        return tuple(a for a in (self.features, self.head, self.head_bias) if a is not None)

    support = _DenseStorage.support


def _owned_csr(P):
    """A canonical float64 CSR copy of the scipy.sparse matrix ``P`` (duplicates summed,
    explicit zeros dropped); ``P`` itself is left as it was."""
    from scipy import sparse

    if not sparse.issparse(P):
        raise _v.ArgumentTypeError(
            f"P must be a scipy.sparse matrix; got {type(P).__name__} (use from_probs for arrays)"
        )
    if P.dtype.kind not in "biuf":
        raise _v.ArgumentTypeError(
            f"P must hold real numbers; got dtype {P.dtype}"
            + (
                " (pass P.real if the imaginary part is rounding noise)"
                if P.dtype.kind == "c"
                else ""
            )
        )
    M = sparse.csr_matrix(P, dtype=np.float64, copy=True)
    M.sum_duplicates()
    M.eliminate_zeros()
    return M


def _check_sparse_entries(M) -> None:
    """Raise at the first non-finite or negative stored entry of the CSR matrix ``M``."""
    for bad, what in ((~np.isfinite(M.data), "a non-finite entry"), (M.data < 0, "")):
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            i = int(np.searchsorted(M.indptr, k, side="right") - 1)
            what = what or f"a negative probability {float(M.data[k])!r}"
            raise ValueError(f"P has {what} at row {i}, column {int(M.indices[k])}")


def _normalised_csr(M, sums: np.ndarray):
    """``diag(1/sums) M`` (rows divided by their sums, every sum > 0), with the rows whose
    sum overflows or is subnormal divided through their largest entry first."""
    rows = np.repeat(np.arange(M.shape[0]), np.diff(M.indptr))
    with np.errstate(divide="ignore"):
        inv = 1.0 / sums
    out = M.copy()
    out.data = M.data * inv[rows]
    bad = ~np.isfinite(inv) | ~np.isfinite(sums) | (sums < np.finfo(np.float64).tiny)
    if bad.any():
        dense = _v.normalise_rows(M[bad].toarray(), sums[bad, None])
        for k, i in enumerate(np.flatnonzero(bad)):
            lo, hi = M.indptr[i], M.indptr[i + 1]
            out.data[lo:hi] = dense[k, M.indices[lo:hi]]
    return out


class Target:
    """Next-token distributions ``p_i`` with context weights ``pi_i`` (theory.md §1).

    Build with :meth:`from_probs` or :meth:`from_logits`; the constructor is private.

    Attributes
    ----------
    n_contexts : int
        ``N``, the number of contexts (rows).
    vocab_size : int
        ``V``, the number of tokens (columns).
    weights : ndarray, shape (N,)
        ``pi``, strictly positive. Sums to 1 for user-built targets; restricted targets of
        Lemma R (:meth:`restrict`) carry the unnormalised weights ``pi_i p_i(S)``.
    bias : bool
        Whether the head has a free bias row ``1 b^T`` (then ``A`` becomes ``Ã``).
    """

    __slots__ = ("_storage", "_weights", "_bias", "_full_support", "_memo")

    def __init__(self, storage, weights: np.ndarray, bias: bool):
        self._memo = {}  # derived quantities, see cached()
        self._storage = storage
        w = np.array(weights, dtype=np.float64)
        w.setflags(write=False)
        self._weights = w
        self._bias = bool(bias)
        self._full_support = storage.full_support()  # None: computed on first use

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_probs(cls, P, weights=None, bias: bool = False, normalize: bool = False) -> Target:
        """Target from a probability matrix.

        Parameters
        ----------
        P : array_like, shape (N, V)
            Row ``i`` is the next-token distribution ``p_i``: finite, ``>= 0``, summing to 1
            within ``1e-8`` (see ``bottleneck._validation.ROW_SUM_ATOL``). Zeros are allowed
            (the loss only reads the support).
        weights : array_like, shape (N,), optional
            Context weights ``pi_i > 0`` summing to 1 (uniform if omitted).
        bias : bool
            Whether heads scored against this target carry a free bias.
        normalize : bool
            If True, divide each row of ``P`` and the weights by their sums instead of
            rejecting sums off 1. Nothing is renormalised otherwise.

        Raises
        ------
        ValueError
            Non-finite or negative entries, rows not summing to 1, wrong shape, empty input,
            ``V < 2``, or invalid weights; the message names the row/column.
        """
        bias, normalize = _v.check_bool(bias, "bias"), _v.check_bool(normalize, "normalize")
        arr = _v.as_float_matrix(P, "P", copy=True)
        _v.check_finite(arr, "P")
        if normalize:
            neg = arr < 0
            if neg.any():
                i, j = (int(t) for t in np.argwhere(neg)[0])
                raise ValueError(
                    f"P has a negative probability {float(arr[i, j])!r} at row {i}, column {j}"
                )
            with np.errstate(over="ignore"):  # inf sums are rescaled in normalise_rows
                sums = arr.sum(axis=1, keepdims=True)
            if (sums <= 0).any():
                i = int(np.argmax(sums[:, 0] <= 0))
                raise ValueError(f"P row {i} sums to 0; cannot normalise an all-zero row")
            arr = _v.normalise_rows(arr, sums)
        _v.check_probability_rows(arr, "P", source_dtype=getattr(P, "dtype", None))
        w = _v.as_weights(weights, arr.shape[0], normalize=normalize)
        with np.errstate(divide="ignore"):
            logp = np.log(arr)
        return cls(_DenseStorage(arr, logp), w, bias)

    @classmethod
    def from_logits(cls, Z, weights=None, bias: bool = False, normalize: bool = False) -> Target:
        """Target ``p_i = softmax(z_i)`` from finite logits ``Z`` of shape (N, V).

        Log-probabilities are kept as ``log_softmax(Z)``, exact wherever ``p_ij`` is a
        positive float64. Where ``p_ij`` underflows to 0 (a logit more than about 745 below
        its row's largest), the entry is a zero of the target: ``log_probs`` is ``-inf``
        there and the target does not have full support (``bounds`` then uses Lemma R and
        Theorem U'). ``normalize`` applies to the weights.
        """
        bias, normalize = _v.check_bool(bias, "bias"), _v.check_bool(normalize, "normalize")
        arr = _v.as_float_matrix(Z, "Z")
        _v.check_finite(arr, "Z")
        w = _v.as_weights(weights, arr.shape[0], normalize=normalize)
        return cls(_DenseStorage(*_probs_and_logs(log_softmax(arr))), w, bias)

    @classmethod
    def from_sparse(cls, P, weights=None, bias: bool = False, normalize: bool = False) -> Target:
        """Sparse target from a (N, V) scipy.sparse matrix of probabilities (or counts).

        Same validation as :meth:`from_probs` (rows on the simplex within ``1e-8`` unless
        ``normalize=True``, which divides each row by its sum: pass counts that way).
        Stored as CSR; zeros are off the support.
        """
        bias, normalize = _v.check_bool(bias, "bias"), _v.check_bool(normalize, "normalize")
        M = _owned_csr(P)
        n, v = M.shape
        if n == 0 or v == 0:
            raise ValueError(f"P is empty (shape {M.shape})")
        if v < 2:
            raise ValueError(f"P needs at least 2 columns (tokens); got {v}")
        _check_sparse_entries(M)
        with np.errstate(over="ignore"):  # inf sums are rescaled in _normalised_csr
            sums = np.asarray(M.sum(axis=1)).ravel()
        if normalize:
            if (sums <= 0).any():
                raise ValueError(
                    f"P row {int(np.argmax(sums <= 0))} sums to 0; cannot normalise an all-zero row"
                )
            M = _normalised_csr(M, sums)
        else:
            bad = np.flatnonzero(np.abs(sums - 1.0) > _v.ROW_SUM_ATOL)
            if bad.size:
                raise ValueError(
                    f"P row {int(bad[0])} sums to {sums[bad[0]]!r}, not 1 "
                    f"(tolerance {_v.ROW_SUM_ATOL:g}); "
                    "pass normalize=True to divide by the row sums"
                )
        w = _v.as_weights(weights, n, normalize=normalize)
        return cls(_SparseStorage(M), w, bias)

    @classmethod
    def from_factors(
        cls,
        features,
        head,
        head_bias=None,
        weights=None,
        bias: bool = False,
        normalize: bool = False,
    ) -> Target:
        """Factored teacher target ``p_i = softmax(W x_i + b)``, never materialised.

        Parameters
        ----------
        features : array_like, shape (N, D)
            ``X``: the teacher's final features (after its final norm).
        head : array_like, shape (V, D)
            ``W``: the teacher's output head.
        head_bias : array_like, shape (V,), optional
            ``b``: the teacher head's bias.
        weights, bias, normalize
            As in :meth:`from_probs` (``bias`` is the *student* head's free bias).
        """
        bias, normalize = _v.check_bool(bias, "bias"), _v.check_bool(normalize, "normalize")
        X = _v.as_float_matrix(features, "features", min_columns=1, copy=True)
        W = _v.as_float_matrix(head, "head", min_columns=1, copy=True)
        _v.check_finite(X, "features")
        _v.check_finite(W, "head")
        if X.shape[1] != W.shape[1]:
            raise ValueError(
                f"features have D = {X.shape[1]} columns but the head has D = {W.shape[1]}"
            )
        if W.shape[0] < 2:
            raise ValueError(f"the head needs at least 2 rows (tokens); got {W.shape[0]}")
        b = None
        if head_bias is not None:
            b = np.array(_v.as_real_array(head_bias, "head_bias"), dtype=np.float64).ravel()
            if b.shape != (W.shape[0],) or not np.isfinite(b).all():
                raise ValueError(
                    f"head_bias must be finite with shape ({W.shape[0]},); "
                    f"got {np.shape(head_bias)}"
                )
        w = _v.as_weights(weights, X.shape[0], normalize=normalize)
        return cls(_FactoredStorage(X, W, b), w, bias)

    # ------------------------------------------------------------------ basic properties
    @property
    def n_contexts(self) -> int:
        return self._storage.shape[0]

    @property
    def vocab_size(self) -> int:
        return self._storage.shape[1]

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_contexts, self.vocab_size)

    @property
    def weights(self) -> np.ndarray:
        return self._weights

    @property
    def bias(self) -> bool:
        return self._bias

    @property
    def storage(self) -> str:
        """Name of the storage: ``"dense"``, ``"sparse"`` or ``"factored"``."""
        return self._storage.name

    @property
    def is_dense(self) -> bool:
        """Whether ``P`` and ``log P`` are stored whole (dense storage)."""
        return self._storage.name == "dense"

    @property
    def has_factors(self) -> bool:
        """Whether the rows are ``softmax(W x_i + b)`` of stored factors (:attr:`factors`)."""
        return self._storage.name == "factored"

    def cached(self, key, compute):
        """A derived quantity of this target, computed by ``compute()`` on the first call with
        ``key`` and returned unchanged afterwards.

        A :class:`Target` is immutable, so a quantity derived from it (its factored SVD, say)
        stays valid as long as the target lives; callers that share the result must treat it
        as read-only.
        """
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def fingerprint(self) -> dict:
        """``{"shape", "bias", "sha256"}``: a content hash of the distributions and weights,
        equal for equal targets of the same storage (used to match saved results)."""
        import hashlib

        h = hashlib.sha256()
        h.update(self.storage.encode())
        for a in self._storage.content():
            h.update(np.ascontiguousarray(a).tobytes())
        h.update(np.ascontiguousarray(self._weights).tobytes())
        return {"shape": list(self.shape), "bias": self.bias, "sha256": h.hexdigest()}

    def support(self):
        """The support ``p_ij > 0`` as an (N, V) scipy.sparse CSR matrix of ones."""
        return self._storage.support(self.iter_rows()).tocsr()

    @property
    def factors(self):
        """``(X, W, b)`` of a factored target (read-only); ValueError otherwise."""
        if self.storage != "factored":
            raise ValueError(f"only factored targets have factors; this one is {self.storage}")
        st = self._storage
        out = []
        for a in (st.features, st.head, st.head_bias):
            if a is not None:
                a = a.view()
                a.setflags(write=False)
            out.append(a)
        return tuple(out)

    @property
    def sparse_probs(self):
        """The CSR matrix of a sparse target (read-only arrays); ValueError otherwise."""
        if self.storage != "sparse":
            raise ValueError(f"only sparse targets have sparse_probs; this one is {self.storage}")
        from scipy import sparse

        P = self._storage.probs  # a new matrix over the target's read-only arrays
        return sparse.csr_matrix((P.data, P.indices, P.indptr), shape=P.shape, copy=False)

    def _dense(self):
        if self.storage == "dense":
            return self._storage.probs, self._storage.log_probs
        n, v = self.shape
        if n * v > DENSE_LIMIT:
            raise ValueError(
                f"this {self.storage} target has {n} x {v} = {n * v:,} entries, above "
                f"DENSE_LIMIT = {DENSE_LIMIT:,}; use the chunked methods "
                "(iter_rows, gap, mean_probs, min_probs, columns) "
                "or fewer contexts"
            )
        P = np.empty((n, v))
        L = np.empty((n, v))
        for sl, p, lp in self.iter_rows():
            P[sl], L[sl] = p, lp
        return P, L

    @property
    def probs(self) -> np.ndarray:
        """Dense ``P`` (read-only), shape (N, V); materialised for non-dense storage
        (up to :data:`DENSE_LIMIT` entries)."""
        v = self._dense()[0].view()
        v.setflags(write=False)
        return v

    @property
    def log_probs(self) -> np.ndarray:
        """Dense ``log P`` (read-only), ``-inf`` where ``p_ij = 0``; see :attr:`probs`."""
        v = self._dense()[1].view()
        v.setflags(write=False)
        return v

    @property
    def has_full_support(self) -> bool:
        """True iff every ``p_ij > 0`` as a float64 (log-probabilities all finite); for a
        factored target, found on first use from :meth:`min_probs` (one pass over the rows)."""
        if self._full_support is None:
            self._full_support = bool((self.min_probs() > 0).all())
        return self._full_support

    def block_rows(self) -> int:
        """Rows per block in :meth:`iter_rows` (about 4M entries per block)."""
        return max(1, min(self.n_contexts, _BLOCK_ENTRIES // max(self.vocab_size, 1)))

    def rows(self, sl) -> tuple[np.ndarray, np.ndarray]:
        """``(P[sl], log P[sl])`` for a slice or an integer index array of contexts (dense
        blocks, any storage; minibatches of :func:`bottleneck.empirical.heads.fit_head`)."""
        if not isinstance(sl, slice):
            idx = np.asarray(sl)
            if idx.ndim != 1 or idx.dtype.kind not in "iu":
                raise ValueError("rows() takes a slice or a 1-D integer array of context indices")
            if idx.size and (idx.min() < 0 or idx.max() >= self.n_contexts):
                raise ValueError(
                    f"context indices must lie in [0, {self.n_contexts}); "
                    f"got {idx.min()}..{idx.max()}"
                )
            sl = idx
        return self._storage.block(sl)

    def mean_probs(self) -> np.ndarray:
        """``pbar = pi^T P / sum(pi)``, shape (V,) (one pass over the rows, shared with
        :meth:`min_probs` and :meth:`entropy`, once per target)."""
        return self._row_summary()["mean"].copy()

    def min_probs(self) -> np.ndarray:
        """``m_i = min_j p_ij``, shape (N,) (0 where a row has zeros; the pass of
        :meth:`mean_probs`)."""
        return self._row_summary()["min"].copy()

    def _row_summary(self) -> dict:
        """One pass over the rows, once per target: ``min`` (``min_j p_ij``), ``plogp``
        (``sum_j p_ij log p_ij``), ``mean`` (``pi^T P / sum pi``) and, for a factored
        target, ``shift`` (``m_i = max_j z_ij``) and ``log_mass`` (``log sum_j
        exp(z_ij - m_i)``): the numbers :func:`log_softmax` subtracts, so that
        ``log p_ij = (z_ij - m_i) - log_mass_i`` for any column (:meth:`columns`)."""

        def compute():
            n = self.n_contexts
            out = {k: np.empty(n) for k in ("min", "plogp", "shift", "log_mass")}
            acc = np.zeros(self.vocab_size)
            for start in range(0, n, self.block_rows()):
                sl = slice(start, min(n, start + self.block_rows()))
                if self.has_factors:  # log_softmax, keeping what it subtracts
                    Z = self._storage.logits(sl)
                    out["shift"][sl] = Z.max(axis=1)
                    Z -= out["shift"][sl, None]
                    out["log_mass"][sl] = np.log(np.exp(Z).sum(axis=1))
                    p, logp = _probs_and_logs(Z - out["log_mass"][sl, None])
                else:
                    p, logp = self._storage.block(sl)
                out["min"][sl] = p.min(axis=1)
                out["plogp"][sl] = np.where(p > 0, p * np.where(p > 0, logp, 0.0), 0.0).sum(1)
                acc += self._weights[sl] @ p
            out["mean"] = acc / self._weights.sum()
            for a in out.values():
                a.setflags(write=False)
            return out

        return self.cached("row_summary", compute)

    def columns(self, tokens) -> tuple[np.ndarray, np.ndarray]:
        """``(P[:, S], log P[:, S])`` for a token subset ``S``, block by block; a factored
        target forms only those columns, ``O(N |S| D)`` after :meth:`_row_summary`."""
        S = _v.as_index_array(tokens, "tokens", self.vocab_size)
        if self.has_factors:
            X, W, b = self.factors
            rows = self._row_summary()
            Z = X @ W[S].T
            if b is not None:
                Z += b[S]
            return _probs_and_logs((Z - rows["shift"][:, None]) - rows["log_mass"][:, None])
        P = np.empty((self.n_contexts, S.size))
        L = np.empty((self.n_contexts, S.size))
        for sl, p, lp in self.iter_rows():
            P[sl], L[sl] = p[:, S], lp[:, S]
        return P, L

    def with_bias(self, bias: bool) -> Target:
        """The same distributions and weights, with the head's bias switched on or off."""
        return Target(self._storage, self._weights, _v.check_bool(bias, "bias"))

    def with_weights(self, weights) -> Target:
        """The same distributions with other (validated, summing to 1) context weights."""
        return Target(self._storage, _v.as_weights(weights, self.n_contexts), self._bias)

    def iter_rows(
        self, chunk_size: int | None = None
    ) -> Iterator[tuple[slice, np.ndarray, np.ndarray]]:
        """Yield ``(rows, P[rows], log P[rows])`` in blocks; the storage-independent access path.

        ``chunk_size`` defaults to :meth:`block_rows`.
        """
        n = self.n_contexts
        chunk = _v.check_optional_int(chunk_size, "chunk_size", minimum=1) or self.block_rows()
        for start in range(0, n, chunk):
            sl = slice(start, min(n, start + chunk))
            yield (sl, *self._storage.block(sl))

    def __repr__(self) -> str:
        return (
            f"Target(n_contexts={self.n_contexts}, vocab_size={self.vocab_size}, "
            f"storage={self.storage!r}, bias={self.bias}, full_support={self.has_full_support})"
        )

    # ------------------------------------------------------------------ losses
    def entropy(self) -> float:
        """Entropy floor ``H(P) = sum_i pi_i H(p_i)`` in nats/token (theory.md §1), from the
        pass of :meth:`mean_probs`."""
        return -float(self._weights @ self._row_summary()["plogp"])

    def kl_per_context(self, Z) -> np.ndarray:
        """``KL(p_i || softmax(z_i))`` for every context, shape (N,), nats.

        Computed directly as ``sum_{j: p_ij > 0} p_ij (log p_ij - log q_ij)`` (Lemma K), not
        as a difference of cross-entropy and entropy, so small gaps keep their precision.
        """
        Zc = _v.check_logits(Z, self.shape, "Z")
        out = np.empty(self.n_contexts)
        for sl, p, logp in self.iter_rows():
            out[sl] = kl_rows(p, logp, log_softmax(Zc[sl]))
        return out

    def gap(self, Z) -> float:
        """Gap ``G(Z) = sum_i pi_i KL(p_i || softmax(z_i)) = L(Z) - H(P) >= 0`` (theory.md §1).

        ``Z`` is any finite logit matrix of shape (N, V) (a head's full output, bias included).
        """
        return float(self._weights @ self.kl_per_context(Z))

    def gap_factors(self, H, W, b=None) -> float:
        """Gap of the head ``Z = H W^T (+ 1 b^T)`` without forming ``Z`` (block by block).

        ``H`` (N, k), ``W`` (V, k), ``b`` (V,) or None; same value as ``gap(H @ W.T + b)``.
        """
        H, W = _v.as_real_array(H, "H"), _v.as_real_array(W, "W")
        b = None if b is None else _v.as_real_array(b, "b")
        if b is not None and b.shape != (self.vocab_size,):
            raise ValueError(f"b must have shape ({self.vocab_size},); got {b.shape}")
        if (
            H.ndim != 2
            or W.ndim != 2
            or H.shape[0] != self.n_contexts
            or W.shape[0] != self.vocab_size
            or H.shape[1] != W.shape[1]
        ):
            raise ValueError(
                f"H must be (N, k) and W (V, k) with N, V = {self.shape}; got {H.shape}, {W.shape}"
            )
        total = 0.0
        for sl, p, logp in self.iter_rows():
            Z = H[sl] @ W.T
            if b is not None:
                Z = Z + b
            if not np.isfinite(Z).all():
                raise ValueError("the head's logits are not finite")
            total += float(self._weights[sl] @ kl_rows(p, logp, log_softmax(Z)))
        return total

    def loss(self, Z) -> float:
        """Cross-entropy ``L(Z) = -sum_i pi_i sum_j p_ij log softmax(z_i)_j`` (nats/token)."""
        return self.entropy() + self.gap(Z)

    # ------------------------------------------------------------------ log-prob geometry
    def centred_log_probs(self) -> np.ndarray:
        """``A = (log P) C`` (or ``Ã = (I - 1 pi^T) A`` when ``bias``), shape (N, V).

        Requires full support (theory.md §1); ``pi`` in the context centring is normalised
        to sum to 1. See :func:`bottleneck.spectrum.centred_log_prob_matrix` for the
        row-weighted ``A_pi``.

        Raises
        ------
        ValueError
            If some ``p_ij = 0`` (names the first such entry); use Lemma R restrictions or
            a smoothed target instead.
        """
        logp = self._dense()[1]
        if not np.isfinite(logp).all():
            i, j = (int(t) for t in np.argwhere(~np.isfinite(logp))[0])
            raise ValueError(
                f"centred log-probabilities need full support, but P[{i}, {j}] = 0; "
                "restrict the vocabulary (Target.restrict, Lemma R) or smooth the target"
            )
        A = centring_matrix_apply(logp)
        if self._bias:
            pi = self._weights / self._weights.sum()
            A = A - pi @ A
        return A

    def restrict(self, tokens, contexts=None) -> Target:
        """Restricted target of Lemma R: rows ``p_i(.|S)``, weights ``pi_i p_i(S)``.

        Parameters
        ----------
        tokens : array_like of int
            The vocabulary subset ``S`` (at least 2 distinct token ids).
        contexts : array_like of int, optional
            The context subset ``I``; default: every context with ``p_i(S) > 0``.

        Returns
        -------
        Target
            With ``vocab_size = |S|``, weights ``pi_i p_i(S)`` **not renormalised** (chain rule
            of KL, theory.md §2 Lemma R: ``G*(d; P) >= G*(d; restricted)``), same ``bias``.
        """
        S = np.unique(_v.as_index_array(tokens, "tokens", self.vocab_size))
        if S.size < 2:
            raise ValueError(
                f"tokens must hold >= 2 distinct ids in [0, {self.vocab_size}); got {S.size} ids"
                + (f" spanning [{S[0]}, {S[-1]}]" if S.size else "")
            )
        P, logS = self.columns(S)
        mass = P.sum(axis=1)
        if contexts is None:
            I = np.flatnonzero(mass > 0)
        else:
            I = np.unique(_v.as_index_array(contexts, "contexts", self.n_contexts))
            if (mass[I] <= 0).any():
                raise ValueError("every chosen context must put positive mass on the token subset")
        if I.size == 0:
            raise ValueError("no context puts positive mass on the token subset")
        Pr = P[I] / mass[I, None]
        with np.errstate(divide="ignore"):
            logr = logS[I] - np.log(mass[I, None])
        logr[Pr == 0] = -np.inf
        return Target(_DenseStorage(Pr, logr), self._weights[I] * mass[I], self._bias)
