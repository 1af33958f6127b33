"""The target: context weights ``pi`` and next-token distributions ``P`` (docs/theory.md §1).

A :class:`Target` is validated once, at construction. Every loss it reports is in nats per
token. Storage is dense for now; all computations go through :meth:`Target.iter_rows`, so a
sparse (n-gram) or factored (teacher features x head) storage can slot in later without
changing callers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from . import _validation as _v

__all__ = ["Target", "log_softmax", "centring_matrix_apply"]


def log_softmax(Z: np.ndarray) -> np.ndarray:
    """Row-wise ``log softmax(z_i)_j = z_ij - log sum_k exp(z_ik)`` in float64, stable."""
    m = Z.max(axis=1, keepdims=True)
    shifted = Z - m
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def centring_matrix_apply(M: np.ndarray) -> np.ndarray:
    """Return ``M C`` with ``C = I - 11^T/V``: subtract each row's mean over the vocabulary."""
    return M - M.mean(axis=1, keepdims=True)


@dataclass(frozen=True)
class _DenseStorage:
    probs: np.ndarray  # (N, V) float64, rows on the simplex
    log_probs: np.ndarray  # (N, V) float64, -inf where probs == 0


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

    __slots__ = ("_storage", "_weights", "_bias")

    def __init__(self, storage: _DenseStorage, weights: np.ndarray, bias: bool):
        self._storage = storage
        w = np.array(weights, dtype=np.float64)
        w.setflags(write=False)
        self._weights = w
        self._bias = bool(bias)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_probs(cls, P, weights=None, bias: bool = False, normalize: bool = False) -> "Target":
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
        arr = _v.as_float_matrix(P, "P")
        _v.check_finite(arr, "P")
        if normalize:
            neg = arr < 0
            if neg.any():
                i, j = (int(t) for t in np.argwhere(neg)[0])
                raise ValueError(f"P has a negative probability {float(arr[i, j])!r} at row {i}, column {j}")
            sums = arr.sum(axis=1, keepdims=True)
            if (sums <= 0).any():
                i = int(np.argmax(sums[:, 0] <= 0))
                raise ValueError(f"P row {i} sums to 0; cannot normalise an all-zero row")
            arr = arr / sums
        _v.check_probability_rows(arr, "P")
        w = _v.as_weights(weights, arr.shape[0], normalize=normalize)
        with np.errstate(divide="ignore"):
            logp = np.log(arr)
        return cls(_DenseStorage(arr, logp), w, bias)

    @classmethod
    def from_logits(cls, Z, weights=None, bias: bool = False, normalize: bool = False) -> "Target":
        """Target ``p_i = softmax(z_i)`` from finite logits ``Z`` of shape (N, V).

        Log-probabilities are kept as ``log_softmax(Z)`` (exact even where ``p_ij``
        underflows), so the target has full support. ``normalize`` applies to the weights.
        """
        arr = _v.as_float_matrix(Z, "Z")
        _v.check_finite(arr, "Z")
        w = _v.as_weights(weights, arr.shape[0], normalize=normalize)
        logp = log_softmax(arr)
        return cls(_DenseStorage(np.exp(logp), logp), w, bias)

    # ------------------------------------------------------------------ basic properties
    @property
    def n_contexts(self) -> int:
        return self._storage.probs.shape[0]

    @property
    def vocab_size(self) -> int:
        return self._storage.probs.shape[1]

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
        """Name of the storage: ``"dense"`` (``"sparse"``/``"factored"`` reserved)."""
        return "dense"

    @property
    def probs(self) -> np.ndarray:
        """Dense ``P`` (read-only view), shape (N, V)."""
        v = self._storage.probs.view()
        v.setflags(write=False)
        return v

    @property
    def log_probs(self) -> np.ndarray:
        """Dense ``log P`` (read-only view), ``-inf`` where ``p_ij = 0``."""
        v = self._storage.log_probs.view()
        v.setflags(write=False)
        return v

    @property
    def has_full_support(self) -> bool:
        """True iff every ``p_ij > 0`` (log-probabilities all finite)."""
        return bool(np.isfinite(self._storage.log_probs).all())

    def with_bias(self, bias: bool) -> "Target":
        """The same distributions and weights, with the head's bias switched on or off."""
        return Target(self._storage, self._weights, bias)

    def iter_rows(self, chunk_size: int = 4096) -> Iterator[tuple[slice, np.ndarray, np.ndarray]]:
        """Yield ``(rows, P[rows], log P[rows])`` in chunks; the storage-independent access path."""
        n = self.n_contexts
        for start in range(0, n, chunk_size):
            sl = slice(start, min(n, start + chunk_size))
            yield sl, self._storage.probs[sl], self._storage.log_probs[sl]

    def __repr__(self) -> str:
        return (
            f"Target(n_contexts={self.n_contexts}, vocab_size={self.vocab_size}, "
            f"storage={self.storage!r}, bias={self.bias}, full_support={self.has_full_support})"
        )

    # ------------------------------------------------------------------ losses
    def entropy(self) -> float:
        """Entropy floor ``H(P) = sum_i pi_i H(p_i)`` in nats/token (theory.md §1)."""
        total = 0.0
        for sl, p, logp in self.iter_rows():
            plogp = np.where(p > 0, p * np.where(p > 0, logp, 0.0), 0.0)
            total -= float(self._weights[sl] @ plogp.sum(axis=1))
        return total

    def kl_per_context(self, Z) -> np.ndarray:
        """``KL(p_i || softmax(z_i))`` for every context, shape (N,), nats.

        Computed directly as ``sum_{j: p_ij > 0} p_ij (log p_ij - log q_ij)`` (Lemma K), not
        as a difference of cross-entropy and entropy, so small gaps keep their precision.
        """
        Zc = _v.check_logits(Z, self.shape, "Z")
        out = np.empty(self.n_contexts)
        for sl, p, logp in self.iter_rows():
            logq = log_softmax(Zc[sl])
            diff = np.where(p > 0, logp - logq, 0.0)
            out[sl] = np.maximum((p * diff).sum(axis=1), 0.0)
        return out

    def gap(self, Z) -> float:
        """Gap ``G(Z) = sum_i pi_i KL(p_i || softmax(z_i)) = L(Z) - H(P) >= 0`` (theory.md §1).

        ``Z`` is any finite logit matrix of shape (N, V) (a head's full output, bias included).
        """
        return float(self._weights @ self.kl_per_context(Z))

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
        logp = self._storage.log_probs
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

    def restrict(self, tokens, contexts=None) -> "Target":
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
        S = np.unique(np.asarray(tokens, dtype=np.int64))
        if S.size < 2 or S[0] < 0 or S[-1] >= self.vocab_size:
            raise ValueError(
                f"tokens must hold >= 2 distinct ids in [0, {self.vocab_size}); got {S.size} ids"
                + (f" spanning [{S[0]}, {S[-1]}]" if S.size else "")
            )
        P = self._storage.probs[:, S]
        mass = P.sum(axis=1)
        if contexts is None:
            I = np.flatnonzero(mass > 0)
        else:
            I = np.unique(np.asarray(contexts, dtype=np.int64))
            if I.size and (I[0] < 0 or I[-1] >= self.n_contexts):
                raise ValueError(f"contexts must be ids in [0, {self.n_contexts})")
            if (mass[I] <= 0).any():
                raise ValueError("every chosen context must put positive mass on the token subset")
        if I.size == 0:
            raise ValueError("no context puts positive mass on the token subset")
        Pr = P[I] / mass[I, None]
        with np.errstate(divide="ignore"):
            logr = self._storage.log_probs[np.ix_(I, S)] - np.log(mass[I, None])
        logr[Pr == 0] = -np.inf
        return Target(_DenseStorage(Pr, logr), self._weights[I] * mass[I], self._bias)
