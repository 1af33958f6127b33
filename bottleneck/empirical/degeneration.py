"""Degeneration metrics of representations and heads (theory.md §5; [Godey2024] §4–§5).

Empirical diagnostics, not bounds (no proof file); each is tested against its O(n^2) or
closed-form definition in ``tests/test_degeneration.py``.

* :func:`anisotropy` — mean cosine similarity over ordered pairs ``i != j`` of rows, in
  ``O(n d)`` via the sum of unit vectors.
* :func:`singular_entropy` — ``KL(p || uniform) = ln k - H(p)`` of the normalised singular
  values (``p_i = sigma_i^2 / sum sigma^2`` by default, ``sigma_i / sum sigma`` selectable).
* Effective ranks, each by its own name: :func:`entropy_rank` (Roy & Vetterli 2007,
  ``exp H(sigma / sum sigma)``), :func:`participation_ratio` (``(sum s^2)^2 / sum s^4``),
  :func:`energy_rank` (smallest ``r`` holding a fraction of ``sum s^2``).
* :func:`layer_anisotropy` — per-layer anisotropy of a causal LM over a text sample.

References
----------
[Godey2024] Godey, de la Clergerie & Sagot, arXiv 2404.07647, 2024.
[RoyVetterli2007] O. Roy and M. Vetterli, "The effective rank", EUSIPCO 2007.
"""

from __future__ import annotations

import numpy as np

from .. import _validation as _v

_NORMALIZATIONS = ("squared", "plain")


def _as_matrix(H, name="H"):
    H = _v.as_real_array(H, name)  # torch tensors are read on the CPU in float64
    if H.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (rows = vectors); got shape {H.shape}")
    if H.size == 0:
        raise ValueError(f"{name} is empty (shape {H.shape})")
    bad = np.argwhere(~np.isfinite(H))
    if bad.size:
        raise ValueError(f"{name} has a non-finite entry at row {bad[0][0]}, column {bad[0][1]}")
    return H


def anisotropy(H) -> float:
    """Mean cosine similarity over ordered pairs of distinct rows.

    ``A(H) = 1/(n(n-1)) sum_{i != j} <u_i, u_j>`` with ``u_i = h_i / ||h_i||``; computed as
    ``(||sum_i u_i||^2 - n) / (n (n - 1))`` in ``O(n d)``. In ``[-1/(n-1), 1]``: 1 for
    identical directions, 0 for an orthonormal set, ``-1/(n-1)`` when the unit vectors sum
    to zero.

    Parameters
    ----------
    H : array_like or torch.Tensor, shape (n, d)
        ``n >= 2`` non-zero rows.
    """
    H = _as_matrix(H)
    n = H.shape[0]
    if n < 2:
        raise ValueError(f"anisotropy needs at least 2 rows; got {n}")
    zero = np.flatnonzero(~np.any(H != 0, axis=1))
    if zero.size:
        raise ValueError(f"row {zero[0]} of H is zero: its cosine similarity is undefined")
    H = np.vstack([_v.rescale_extreme(h) for h in H]) if _extreme_rows(H) else H
    norms = np.linalg.norm(H, axis=1)
    s = (H / norms[:, None]).sum(axis=0)
    value = (float(s @ s) - n) / (n * (n - 1))
    return float(np.clip(value, -1.0 / (n - 1), 1.0))


def _extreme_rows(H: np.ndarray) -> bool:
    """Whether some row's largest entry is so small or large that its squared norm would
    underflow or overflow (then each row is rescaled by a power of two: cosines unchanged)."""
    top = np.abs(H).max(axis=1)
    return bool(np.any(top < 2.0**-200) or np.any(top > 2.0**200))


def singular_values(W) -> np.ndarray:
    """Singular values of a matrix, decreasing (float64)."""
    return np.linalg.svd(_as_matrix(W, "W"), compute_uv=False)


def _spectrum(W=None, values=None):
    if (W is None) == (values is None):
        raise ValueError("pass exactly one of W (a matrix) or values= (its singular values)")
    if values is None:
        s = singular_values(W)
    else:
        s = _v.as_real_array(values, "values").ravel()
    if s.size == 0 or np.any(~np.isfinite(s)) or np.any(s < 0):
        raise ValueError("singular values must be a non-empty array of finite values >= 0")
    if not np.any(s > 0):
        raise ValueError("the spectrum is identically zero: its distribution is undefined")
    return _v.rescale_extreme(s)  # every metric here is scale-invariant


def _distribution(s, normalization):
    if normalization not in _NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {_NORMALIZATIONS}; got {normalization!r}")
    w = s * s if normalization == "squared" else s
    return w / w.sum()


def _entropy(p):
    p = p[p > 0]
    return float(-np.sum(p * np.log(p)))


def singular_entropy(W=None, normalization: str = "squared", *, values=None) -> float:
    """``KL(p || u) = sum_i p_i ln(k p_i) = ln k - H(p)`` (nats) of the normalised spectrum.

    ``p_i = sigma_i^2 / sum_j sigma_j^2`` (``"squared"``, the reading consistent with the
    seed paper's Figure 5) or ``sigma_i / sum_j sigma_j`` (``"plain"``); ``k`` is the number of
    singular values (``min(shape)``). 0 for a flat spectrum, ``ln k`` for a single spike.
    The seed paper's "explosion of the entropy" is a rise of this KL, i.e. a fall of ``H(p)``.
    """
    s = _spectrum(W, values)
    p = _distribution(s, normalization)
    return float(max(np.log(s.size) - _entropy(p), 0.0))


def entropy_rank(W=None, *, values=None) -> float:
    """Effective rank of Roy & Vetterli: ``exp H(sigma / sum sigma)``, in ``[1, k]``."""
    return float(np.exp(_entropy(_distribution(_spectrum(W, values), "plain"))))


def participation_ratio(W=None, *, values=None) -> float:
    """``(sum sigma^2)^2 / sum sigma^4``, in ``[1, k]``."""
    s2 = _spectrum(W, values) ** 2
    return float(s2.sum() ** 2 / np.sum(s2 * s2))


def energy_rank(W=None, threshold: float = 0.9, *, values=None) -> int:
    """Smallest ``r`` with ``sum_{i<=r} sigma_i^2 >= threshold * sum sigma^2``."""
    threshold = _v.check_real(threshold, "threshold", minimum=0.0, strict=True, maximum=1.0)
    s2 = np.sort(_spectrum(W, values))[::-1] ** 2
    frac = np.cumsum(s2) / s2.sum()
    return int(np.searchsorted(frac, threshold * (1 - 1e-12)) + 1)


def spectrum_report(W=None, *, values=None) -> dict:
    """All spectrum metrics of one matrix by name (for tables and experiments)."""
    s = _spectrum(W, values)
    return {
        "k": int(s.size),
        "sigma2_over_sigma1": float(np.sort(s)[::-1][1] / s.max()) if s.size > 1 else float("nan"),
        "singular_entropy_squared": singular_entropy(values=s, normalization="squared"),
        "singular_entropy_plain": singular_entropy(values=s, normalization="plain"),
        "entropy_rank": entropy_rank(values=s),
        "participation_ratio": participation_ratio(values=s),
        "energy_rank_90": energy_rank(values=s, threshold=0.90),
        "energy_rank_95": energy_rank(values=s, threshold=0.95),
        "energy_rank_99": energy_rank(values=s, threshold=0.99),
    }


def layer_anisotropy(
    model, input_ids, *, attention_mask=None, max_tokens: int | None = None
) -> np.ndarray:
    """Anisotropy of every layer's token representations of a causal LM.

    Runs ``model(input_ids, output_hidden_states=True)`` (Hugging Face convention: entry 0
    is the embedding output, entry ``L`` the last layer after the final norm) and pools the
    representations of all (non-padding) tokens of the sample per layer.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        A causal LM (any architecture returning ``hidden_states``).
    input_ids : torch.LongTensor, shape (batch, seq)
    attention_mask : torch.Tensor, optional
        Padding mask; padded positions are excluded.
    max_tokens : int, optional
        Keep at most this many tokens (the first ones) per layer.

    Returns
    -------
    numpy.ndarray, shape (n_layers + 1,)
        Anisotropy per hidden-state entry, embeddings first.
    """
    import torch

    if input_ids.ndim != 2:
        raise ValueError(f"input_ids must have shape (batch, seq); got {tuple(input_ids.shape)}")
    with torch.no_grad():
        out = model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
    if getattr(out, "hidden_states", None) is None:
        raise ValueError("the model did not return hidden_states; is it a transformers causal LM?")
    keep = attention_mask.bool().reshape(-1) if attention_mask is not None else None
    result = []
    for h in out.hidden_states:
        rows = h.reshape(-1, h.shape[-1])
        if keep is not None:
            rows = rows[keep]
        if max_tokens is not None:
            rows = rows[:max_tokens]
        result.append(anisotropy(rows))
    return np.array(result)
