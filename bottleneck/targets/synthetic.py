"""Synthetic targets with a prescribed centred log-probability spectrum.

Construction: ``A = D_pi^{-1/2} U diag(sigma) V^T`` with ``U`` (N x r) orthonormal columns
and ``V`` (vocab x r) orthonormal columns orthogonal to ``1``; the target is
``p_i = softmax(a_i)``. Then ``A C = A`` and ``A_pi = U diag(sigma) V^T`` has exactly the
singular values ``sigma`` (to float64 rounding). With ``bias=True`` the columns of ``U`` are
also orthogonal to ``sqrt(pi)``, so ``Ã_pi = A_pi`` and the spectrum is exact for the
biased head too.
"""

from __future__ import annotations

import numbers

import numpy as np

from .._validation import as_weights, check_bool, check_choice, check_int, check_real
from ..target import Target

__all__ = ["synthetic", "synthetic_spectrum"]

SPECTRA = ("power", "exponential", "step")


def synthetic_spectrum(
    rank: int, spectrum: str = "power", decay: float = 1.0, scale: float = 1.0
) -> np.ndarray:
    """Singular values ``sigma_1 >= ... >= sigma_rank > 0``.

    - ``"power"``: ``sigma_k = scale * k^(-decay)``
    - ``"exponential"``: ``sigma_k = scale * exp(-decay (k - 1))``
    - ``"step"``: ``sigma_k = scale`` (a flat spectrum of the given rank; ``decay`` unused)
    """
    check_choice(spectrum, "spectrum", SPECTRA)
    decay = check_real(decay, "decay", minimum=0.0)
    scale = check_real(scale, "scale", minimum=0.0, strict=True)
    rank = check_int(rank, "rank", minimum=0)
    k = np.arange(1, rank + 1, dtype=np.float64)
    if spectrum == "power":
        return scale * k ** (-decay)
    if spectrum == "exponential":
        return scale * np.exp(-decay * (k - 1))
    return np.full(rank, float(scale))


def _weights(weights, n: int, rng) -> np.ndarray:
    if isinstance(weights, str):
        if weights == "uniform":
            return np.full(n, 1.0 / n)
        if weights == "zipf":
            w = 1.0 / np.arange(1, n + 1)
            return w / w.sum()
        raise ValueError(f"weights must be 'uniform', 'zipf' or an array; got {weights!r}")
    return as_weights(weights, n)


def _orthonormal(rng, rows: int, cols: int, avoid: np.ndarray | None) -> np.ndarray:
    G = rng.standard_normal((rows, cols))
    if avoid is not None:
        u = avoid / np.linalg.norm(avoid)
        G -= np.outer(u, u @ G)
    Q = np.linalg.qr(G)[0]
    if avoid is not None:  # re-orthogonalise once: QR keeps the span up to rounding
        Q -= np.outer(u, u @ Q)
        Q = np.linalg.qr(Q)[0]
    return Q


def synthetic(
    n_contexts: int,
    vocab_size: int,
    spectrum: str = "power",
    decay: float = 1.0,
    scale: float = 1.0,
    rank: int | None = None,
    weights="uniform",
    seed: int = 0,
    bias: bool = False,
) -> tuple[Target, np.ndarray]:
    """A target whose weighted centred log-prob matrix ``A_pi`` has a requested spectrum.

    Parameters
    ----------
    n_contexts, vocab_size : int
        ``N >= 1`` and ``V >= 2``.
    spectrum : {"power", "exponential", "step"}
        Shape of the spectrum (:func:`synthetic_spectrum`).
    decay, scale : float
        Decay rate and ``sigma_1``.
    rank : int, optional
        Number of non-zero singular values; default ``min(N, V - 1)`` (``min(N - 1, V - 1)``
        with ``bias``), the largest possible.
    weights : "uniform", "zipf" or array_like
        Context weights ``pi`` (``zipf``: ``pi_i ∝ 1/i``).
    seed : int
    bias : bool
        Build the target for a head with bias (see module docstring).

    Returns
    -------
    target : Target
    singular_values : ndarray, shape (rank,)
        Exactly the singular values of ``A_pi`` (of ``Ã_pi`` when ``bias``), decreasing.

    Examples
    --------
    >>> from bottleneck.targets import synthetic
    >>> t, s = synthetic(20, 30, spectrum="exponential", decay=0.5, scale=3.0, seed=1)
    >>> t.shape, s.shape
    ((20, 30), (20,))
    """
    for name, val, lo in (("n_contexts", n_contexts, 1), ("vocab_size", vocab_size, 2)):
        if isinstance(val, bool) or not isinstance(val, numbers.Integral) or val < lo:
            raise ValueError(f"{name} must be an integer >= {lo}; got {val!r}")
    bias = check_bool(bias, "bias")
    seed = check_int(seed, "seed", minimum=0)
    max_rank = min(n_contexts - (1 if bias else 0), vocab_size - 1)
    if rank is None:
        rank = max_rank
    if (
        isinstance(rank, bool)
        or not isinstance(rank, numbers.Integral)
        or not 0 <= rank <= max_rank
    ):
        raise ValueError(
            f"rank must be an integer in [0, {max_rank}] "
            f"(= min(N{' - 1' if bias else ''}, V - 1)); got {rank!r}"
        )
    rng = np.random.default_rng(seed)
    pi = _weights(weights, n_contexts, rng)
    sigma = synthetic_spectrum(int(rank), spectrum, decay, scale)
    U = _orthonormal(rng, n_contexts, rank, np.sqrt(pi) if bias else None)
    Vm = _orthonormal(rng, vocab_size, rank, np.ones(vocab_size))
    A = (U * sigma) @ Vm.T / np.sqrt(pi)[:, None]
    return Target.from_logits(A, weights=pi, bias=bias), sigma
