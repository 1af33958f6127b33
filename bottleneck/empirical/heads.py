"""Rank-constrained softmax heads trained on frozen features [Godey2024, §5.1, App. B].

A head of rank ``d`` maps a feature ``x`` (D,) to logits ``z = A B x (+ b)`` with
``A`` (V, d) and ``B`` (d, D), so ``W = A B`` has rank ``<= d``. On ``N`` contexts with
features ``X`` (N, D) its logits are

    Z = (X B^T) A^T (+ 1 b^T) = H W_d^T (+ 1 b^T),   H = X B^T (N, d),  W_d = A (V, d),

an explicit rank-``d`` head in the sense of docs/theory.md §1. Hence on a target whose rows
are the contexts of ``X`` its gap is ``>= G*(d)`` (the infimum over all rank-``d``
factorisations; Corollary H in proofs/rank_fact.md), and every certified lower bound of
:func:`bottleneck.bounds` lies below it. The converse does not hold: frozen features
restrict ``H`` to the column space of ``X``, and a trained head is an upper bound on
``G*(d)`` only up to optimisation error.

:func:`fit_head` trains such a head with Adam (the seed paper's optimiser; Pythia's betas),
against observed next tokens (cross-entropy) or a teacher distribution (distillation, the
loss whose excess over the teacher's entropy is the gap of theory.md §1), with held-out
evaluation and progress bars; :func:`lr_sweep` picks the peak learning rate on held-out loss
as the paper does (it swept 1e-3 to 5e-2). The rank is ``d`` everywhere, as in the theory
(the paper's ``r``; the keyword ``rank=`` still works, with a DeprecationWarning). Units:
nats/token.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch

from .. import _validation as _v
from .._compat import renamed_keywords
from .._device import resolve_device
from .._result import Record
from ..target import Target

__all__ = [
    "LowRankHead",
    "logit_svd_weight",
    "HeadFit",
    "HeadEvaluation",
    "LrSweep",
    "RankCurvePoint",
    "WarmupCosine",
    "fit_head",
    "lr_sweep",
    "evaluate_head",
    "head_gap",
    "rank_curve",
]

INITS = ("normal", "svd", "logit_svd")


class LowRankHead(torch.nn.Module):
    """Linear head ``z = A B x (+ b)`` of rank ``<= d`` (proofs/rank_fact.md).

    Parameters
    ----------
    in_features, vocab_size, d : int
        ``D``, ``V`` and the rank ``d`` with ``1 <= d <= min(V, D)``; ``A`` is (V, d), ``B``
        is (d, D).
    bias : bool
        A free bias ``b`` (V,), initialised to zero.
    init : {"normal", "svd", "logit_svd"}
        ``"normal"``: every entry of ``A`` and ``B`` i.i.d. ``N(0, init_std^2)`` (the seed
        paper's ``N(0, 1)`` at the default ``init_std = 1``). ``"svd"``: the best rank-``d``
        approximation of ``weight`` (V, D) in Frobenius norm (Eckart–Young),
        ``A = U_d S_d^{1/2}``, ``B = S_d^{1/2} V_d^T``; at ``d = rank(weight)`` it equals
        ``weight`` exactly. ``"logit_svd"``: the best rank-``d`` approximation of the
        *centred logits* ``X W_c^T`` over the given ``features`` ``X`` (N, D), where
        ``W_c = (I - 11^T/V) W`` (softmax ignores per-row constants, so the centring loses
        nothing): :func:`logit_svd_weight`. On the teacher's own contexts it is the
        truncated-SVD head of theory.md §4 whose gap is ``U_trunc``.
    weight : array (V, D), optional
        Required for ``init="svd"`` and ``"logit_svd"`` (e.g. a pretrained head).
    features : array (N, D), optional
        Required for ``init="logit_svd"``.
    seed : int
        Seed of the ``"normal"`` initialisation.
    dtype : torch.dtype
    """

    @renamed_keywords(rank="d")
    def __init__(
        self,
        in_features: int,
        vocab_size: int,
        d: int,
        *,
        bias: bool = False,
        init: str = "normal",
        init_std: float = 1.0,
        weight=None,
        features=None,
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__()
        _check_head_shape(in_features, vocab_size, d)
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}; got {init!r}")
        self.d = int(d)
        if init == "normal":
            if not (np.isfinite(init_std) and init_std > 0):
                raise ValueError(f"init_std must be finite and > 0; got {init_std!r}")
            gen = torch.Generator().manual_seed(int(seed))
            A = torch.randn(vocab_size, d, generator=gen, dtype=torch.float64) * init_std
            B = torch.randn(d, in_features, generator=gen, dtype=torch.float64) * init_std
        else:
            A_np, B_np = _svd_factors(init, weight, features, vocab_size, in_features, d)
            A, B = torch.from_numpy(A_np), torch.from_numpy(B_np)
        self.A = torch.nn.Parameter(A.to(dtype))
        self.B = torch.nn.Parameter(B.to(dtype))
        self.bias = torch.nn.Parameter(torch.zeros(vocab_size, dtype=dtype)) if bias else None

    @property
    def weight(self) -> torch.Tensor:
        """``W = A B``, shape (V, D), rank ``<= d``."""
        return self.A @ self.B

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(x B^T) A^T (+ b)``, shape (..., V); never forms ``W``."""
        z = (x @ self.B.T) @ self.A.T
        return z + self.bias if self.bias is not None else z

    def factors(self, features) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``(H, W_d, b) = (X B^T, A, b)`` in float64: the head as an explicit rank-``d``
        factorisation ``Z = H W_d^T (+ 1 b^T)`` of theory.md §1."""
        X = np.asarray(features, dtype=np.float64)
        B = self.B.detach().double().cpu().numpy()
        A = self.A.detach().double().cpu().numpy()
        b = None if self.bias is None else self.bias.detach().double().cpu().numpy()
        return X @ B.T, A, b


def _check_head_shape(in_features, vocab_size, d) -> None:
    for name, v in (("in_features", in_features), ("vocab_size", vocab_size), ("d", d)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name} must be a positive integer; got {v!r}")
    if d > min(in_features, vocab_size):
        raise ValueError(
            "the rank d must be <= min(in_features, vocab_size) = "
            f"{min(in_features, vocab_size)}; got {d}"
        )


def _svd_factors(init: str, weight, features, vocab_size: int, in_features: int, d: int):
    """``(A, B)`` of the ``"svd"`` or ``"logit_svd"`` initialisation of a rank-``d`` head."""
    if weight is None:
        raise ValueError(f"init={init!r} needs weight= (V, D), e.g. the pretrained head")
    Wt = np.asarray(weight, dtype=np.float64)
    if Wt.shape != (vocab_size, in_features):
        raise ValueError(
            "weight must have shape (vocab_size, in_features) = "
            f"{(vocab_size, in_features)}; got {Wt.shape}"
        )
    if not np.isfinite(Wt).all():
        raise ValueError("weight has non-finite entries")
    if init == "svd":
        U, S, Vt = np.linalg.svd(Wt, full_matrices=False)
        root = np.sqrt(S[:d])
        return U[:, :d] * root, root[:, None] * Vt[:d]
    if features is None:
        raise ValueError("init='logit_svd' needs features= (N, D)")
    return _logit_svd_factors(Wt, features, d)


def _logit_svd_factors(weight: np.ndarray, features, d: int) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(features, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != weight.shape[1] or not np.isfinite(X).all():
        raise ValueError(
            f"features must be a finite (N, {weight.shape[1]}) array; got shape {X.shape}"
        )
    Wc = weight - weight.mean(axis=0)
    evals, evecs = np.linalg.eigh(X.T @ X)
    keep = evals > evals.max() * X.shape[1] * np.finfo(np.float64).eps
    root = (evecs[:, keep] * np.sqrt(evals[keep])) @ evecs[:, keep].T
    inv_root = (evecs[:, keep] / np.sqrt(evals[keep])) @ evecs[:, keep].T
    U, S, Vt = np.linalg.svd(Wc @ root, full_matrices=False)
    r = np.sqrt(S[:d])
    return U[:, :d] * r, (r[:, None] * Vt[:d]) @ inv_root


@renamed_keywords(rank="d")
def logit_svd_weight(weight, features, d: int) -> np.ndarray:
    """``W_d = [W_c S^{1/2}]_d S^{+1/2}`` (V, D), ``S = X^T X``, ``W_c = (I - 11^T/V) W``.

    The rank-``d`` head whose centred logits ``X W_d^T`` are the best rank-``d``
    approximation of ``X W_c^T`` in Frobenius norm (Eckart–Young,
    proofs/eckart_young_weighted.md, since ``||X M^T||_F = ||M S^{1/2}||_F``); its softmax on
    each row of ``X`` is therefore the truncated-SVD head of theory.md §4 for the teacher
    ``softmax(X W^T)`` (uniform weights). ``S^{+1/2}`` is the pseudo-inverse square root
    (directions without feature energy are dropped).
    """
    Wt = np.asarray(weight, dtype=np.float64)
    if Wt.ndim != 2 or not 1 <= d <= min(Wt.shape):
        raise ValueError(f"weight must be (V, D) and 1 <= d <= min(V, D); got {Wt.shape}, d {d}")
    A, B = _logit_svd_factors(Wt, features, d)
    return A @ B


# ---------------------------------------------------------------------------- results
@dataclass(frozen=True)
class HeadEvaluation(Record):
    """Result of :func:`evaluate_head` on ``n_rows`` rows (nats/token, weighted means).

    ``loss`` is the cross-entropy; ``accuracy`` the top-1 agreement with the observed token
    or the teacher's most likely one; for a distribution target ``entropy`` is the teacher's
    and ``gap = loss - entropy`` the KL gap of theory.md §1 (None for token targets).
    """

    d: int
    loss: float
    accuracy: float
    entropy: float | None
    gap: float | None
    n_rows: int


@dataclass(frozen=True)
class HeadFit(Record):
    """Result of :func:`fit_head`. Losses in nats/token.

    ``loss``, ``accuracy``, ``entropy`` and ``gap`` are those of :class:`HeadEvaluation` on
    the evaluation rows (``eval_on``: ``"held-out"``, ``"eval_data"`` or ``"train"``); NaN
    when training diverged. ``status`` is ``"completed"`` (every step ran) or ``"diverged"``
    (the training loss became non-finite; ``success`` is False). ``iterations`` counts the
    optimiser steps taken; ``history`` holds ``(step, mean training loss since the previous
    record)``.
    """

    head: LowRankHead
    d: int
    lr: float
    mode: str  # "tokens" or "distribution"
    eval_on: str  # "held-out", "eval_data" or "train"
    loss: float
    accuracy: float
    entropy: float | None
    gap: float | None
    status: str
    iterations: int
    seconds: float
    device: str
    n_train: int
    n_eval: int
    history: tuple = ()
    train_index: np.ndarray = field(default=None, repr=False)
    eval_index: np.ndarray | None = field(default=None, repr=False)

    record_properties = ("success", "message")

    @property
    def success(self) -> bool:
        return self.status == "completed"

    @property
    def diverged(self) -> bool:
        """Whether the training loss became non-finite (``status == "diverged"``)."""
        return self.status == "diverged"

    @property
    def message(self) -> str:
        if self.diverged:
            return "the training loss became non-finite; the evaluation is NaN"
        return f"ran {self.iterations} steps"


@dataclass(frozen=True)
class LrSweep:
    """Result of :func:`lr_sweep`: the best fit and ``(lr, loss, diverged)`` per rate."""

    best: HeadFit
    table: tuple


@dataclass(frozen=True)
class RankCurvePoint(Record):
    """One point of :func:`rank_curve`: the float64 gap of the best trained rank-``d`` head
    on the whole target, its peak learning rate (0 for the untrained logit-SVD start), the
    seconds spent on this rank, and that head's logit factors ``(H, W, b)`` (float64,
    ``Z = H W^T (+ 1 b^T)``; not recorded in tables), e.g. to start the solver from it."""

    d: int
    gap: float
    lr: float
    seconds: float
    factors: tuple | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class WarmupCosine:
    """Learning rate at each step: linear warm-up to ``lr`` over ``warmup_steps``, then
    cosine decay to ``final_fraction * lr`` at ``steps`` (Pythia's schedule)."""

    lr: float
    steps: int
    warmup_steps: int
    final_fraction: float

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        t = (step - self.warmup_steps) / max(self.steps - self.warmup_steps, 1)
        decay = (1 - self.final_fraction) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
        return self.lr * (self.final_fraction + decay)


# ---------------------------------------------------------------------------- helpers
def _as_targets(targets, n: int):
    """``("tokens", int64 (N,))``, ``("distribution", Target)``; ValueError otherwise."""
    if isinstance(targets, Target):
        if targets.n_contexts != n:
            raise ValueError(
                f"the target has {targets.n_contexts} contexts but features have {n} rows"
            )
        return "distribution", targets
    arr = np.asarray(targets)
    if arr.ndim == 1:
        if arr.dtype.kind not in "iu":
            raise ValueError(f"1-D targets must be integer token ids; got dtype {arr.dtype}")
        if arr.shape[0] != n:
            raise ValueError(f"{arr.shape[0]} token ids for {n} feature rows")
        if arr.size and arr.min() < 0:
            raise ValueError("token ids must be >= 0")
        return "tokens", arr.astype(np.int64)
    if arr.ndim == 2:
        if arr.shape[0] != n:
            raise ValueError(f"{arr.shape[0]} target rows for {n} feature rows")
        return "distribution", Target.from_probs(arr)
    raise ValueError("targets must be token ids (N,), probabilities (N, V) or a bottleneck.Target")


def _check_features(features) -> np.ndarray:
    X = features if isinstance(features, torch.Tensor) else _v.as_real_array(features, "features")
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"features must be a non-empty (N, D) array; got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError("features have non-finite entries")
    return X


def _batch_loss(logits: torch.Tensor, mode: str, y) -> torch.Tensor:
    """Per-row cross-entropy (nats): ``-log q_y`` or ``-sum_j p_j log q_j`` (0 log 0 = 0)."""
    logq = torch.log_softmax(logits, dim=-1)
    if mode == "tokens":
        return -logq.gather(1, y[:, None]).squeeze(1)
    return -(y * torch.where(y > 0, logq, torch.zeros_like(logq))).sum(dim=1)


class _TeacherRows:
    """Rows of a distribution target on ``device``; a factored teacher's rows are computed
    there as ``softmax(X W*^T + b)`` in the training dtype (no float64 round trip)."""

    def __init__(self, target: Target, device, dtype):
        self.target, self.device, self.dtype = target, device, dtype
        self.factors = None
        if target.has_factors:
            X, W, b = target.factors
            self.factors = (
                X,
                torch.tensor(np.asarray(W), device=device, dtype=dtype),
                None if b is None else torch.tensor(np.asarray(b), device=device, dtype=dtype),
            )

    def __call__(self, idx: np.ndarray) -> torch.Tensor:
        if self.factors is None:
            return torch.from_numpy(self.target.rows(idx)[0]).to(
                device=self.device, dtype=self.dtype
            )
        X, W, b = self.factors
        z = torch.from_numpy(np.asarray(X[idx])).to(device=self.device, dtype=self.dtype) @ W.T
        return torch.softmax(z if b is None else z + b, dim=-1)


def _targets_of(mode: str, targets, idx: np.ndarray, device, dtype):
    if mode == "tokens":
        return torch.from_numpy(targets[idx]).to(device)
    if isinstance(targets, _TeacherRows):
        return targets(idx)
    return torch.from_numpy(targets.rows(idx)[0]).to(device=device, dtype=dtype)


def _row_weights(mode: str, targets, weights, n: int) -> np.ndarray:
    if weights is None:
        w = targets.weights * n if mode == "distribution" else np.ones(n)
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (n,) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            raise ValueError(f"weights must be (N,) = ({n},), finite, >= 0, not all zero")
    return w


def evaluate_head(
    head: LowRankHead, features, targets, *, weights=None, index=None, chunk_size: int = 1024
) -> HeadEvaluation:
    """Weighted cross-entropy, top-1 accuracy and (distillation) entropy/gap of ``head``.

    ``loss = sum_i w_i CE_i / sum_i w_i`` over the rows ``index`` (all rows by default),
    computed in float64 in chunks; for a distribution target also
    ``entropy = sum_i w_i H(p_i) / sum_i w_i`` and ``gap = loss - entropy`` (theory.md §1;
    proofs/rank_fact.md for why ``gap >= G*(d)`` on the full weighted target).
    Accuracy: ``argmax z_i`` equals the observed token, or the teacher's argmax.
    """
    X = _check_features(features)
    n = X.shape[0]
    mode, tg = _as_targets(targets, n)
    if mode == "tokens" and tg.size and tg.max() >= head.A.shape[0]:
        raise ValueError(f"token id {int(tg.max())} >= vocabulary size {head.A.shape[0]}")
    w = _row_weights(mode, tg, weights, n)
    idx = np.arange(n) if index is None else np.asarray(index, dtype=np.int64)
    dev = head.A.device
    loss = acc = ent = wsum = 0.0
    with torch.no_grad():
        A, B = head.A.double(), head.B.double()
        b = None if head.bias is None else head.bias.double()
        for start in range(0, idx.size, chunk_size):
            rows = idx[start : start + chunk_size]
            x = torch.from_numpy(np.asarray(X[rows], dtype=np.float64)).to(dev)
            z = (x @ B.T) @ A.T
            if b is not None:
                z = z + b
            y = _targets_of(mode, tg, rows, dev, torch.float64)
            wr = torch.from_numpy(w[rows]).to(dev)
            loss += float(wr @ _batch_loss(z, mode, y))
            pred = z.argmax(dim=1)
            truth = y if mode == "tokens" else y.argmax(dim=1)
            acc += float(wr @ (pred == truth).double())
            if mode == "distribution":
                plogp = y * torch.where(y > 0, torch.log(y), torch.zeros_like(y))
                ent += float(wr @ -plogp.sum(dim=1))
            wsum += float(wr.sum())
    entropy = gap = None
    if mode == "distribution":
        entropy = ent / wsum
        gap = max(loss / wsum - entropy, 0.0)
    return HeadEvaluation(head.d, loss / wsum, acc / wsum, entropy, gap, int(idx.size))


def head_gap(head: LowRankHead, features, target: Target) -> float:
    """Certified float64 gap ``G(Z) = sum_i pi_i KL(p_i || softmax(z_i))`` of the head's
    logits ``Z = (X B^T) A^T (+ b)`` on ``target`` (all rows, the target's weights), via
    :meth:`Target.gap_factors`; ``>= G*(d)`` by proofs/rank_fact.md (Corollary H)."""
    X = _check_features(features)
    if (
        not isinstance(target, Target)
        or target.n_contexts != X.shape[0]
        or target.vocab_size != head.A.shape[0]
    ):
        raise ValueError(
            "target must be a bottleneck.Target with one row per feature row and the head's "
            "vocabulary"
        )
    H, W, b = head.factors(X)
    return target.gap_factors(H, W, b)


# ---------------------------------------------------------------------------- training
@renamed_keywords(rank="d")
def fit_head(
    features,
    targets,
    d: int,
    *,
    lr: float = 1e-2,
    steps: int = 1000,
    batch_size: int = 256,
    init="normal",
    init_std: float = 1.0,
    init_weight=None,
    bias: bool = False,
    vocab_size: int | None = None,
    weights=None,
    held_out: float = 0.1,
    eval_data=None,
    warmup: float = 0.01,
    final_lr_fraction: float = 0.1,
    weight_decay: float = 0.0,
    seed: int = 0,
    device: str = "auto",
    dtype: torch.dtype = torch.float32,
    records: int = 50,
    progress: bool = True,
) -> HeadFit:
    """Train a :class:`LowRankHead` of rank ``d`` on frozen ``features`` with Adam.

    Minimises the weighted mean cross-entropy over minibatches (rows drawn in proportion to
    their weight): ``-log q_{y_i}`` for observed next tokens, ``-sum_j p_ij log q_ij`` for a
    teacher distribution (distillation; its excess over the teacher's entropy is the gap of
    theory.md §1, ``>= G*(d)`` by Corollary H, proofs/rank_fact.md). AdamW with Pythia's
    betas (0.9, 0.95) and :class:`WarmupCosine` (``warmup * steps`` warm-up steps, then
    cosine decay to ``final_lr_fraction * lr``).

    Parameters
    ----------
    features : array (N, D)
        Frozen features (e.g. a language model's last hidden states after the final norm).
    targets : int array (N,), float array (N, V), or :class:`bottleneck.Target`
        Observed next tokens, teacher probabilities, or a target (any storage; its context
        weights are the row weights unless ``weights`` is given).
    d : int
        The rank, ``1 <= d <= min(V, D)``.
    lr, steps, batch_size, weight_decay : the peak learning rate and the training budget.
    init, init_std, init_weight, bias : the start (:class:`LowRankHead`; ``init`` may also be
        a head of this rank, which is copied) and whether a free bias is trained.
    vocab_size : ``V`` for token targets (default: the rows of ``init_weight``).
    weights : row weights (default: uniform for tokens, the target's ``pi`` for a Target).
    held_out, eval_data : evaluate on a seeded random fraction of the rows, on a separate
        ``(features, targets)`` set, or (``held_out=0``) on the training rows.
    seed : seeds the split, the initialisation and the minibatch order.
    device, dtype : where and in which dtype to train (evaluation is float64).
    records, progress : points of the training-loss ``history``; a progress bar.

    Returns
    -------
    HeadFit
        ``status == "diverged"`` (and a NaN evaluation) when the training loss became
        non-finite; never a silent number. Bad shapes, token ids or hyper-parameters raise
        ValueError.
    """
    X = _check_features(features)
    mode, tg, vocab = _training_targets(targets, X.shape[0], vocab_size, init_weight)
    _check_budget(lr, steps, batch_size, records, held_out)
    _check_options(d, bias, progress, seed, warmup, final_lr_fraction, weight_decay)
    w = _row_weights(mode, tg, weights, X.shape[0])
    rng = np.random.default_rng(seed)
    split = _split_rows(X.shape[0], w, held_out, eval_data, rng)
    dev = resolve_device(device)
    start = dict(bias=bias, init_std=init_std, init_weight=init_weight, seed=seed, dtype=dtype)
    head = _start_head(init, X, split.train, vocab, d, dev, **start)
    schedule = WarmupCosine(lr, steps, max(1, int(round(warmup * steps))), final_lr_fraction)
    t0 = time.perf_counter()
    batches = _Batches(X, split.train, w, batch_size, rng, mode, tg, dev, dtype)
    run = _train(head, batches, schedule, weight_decay, records, progress, f"fit rank {d}")
    ev = _evaluate_fit(head, run.diverged, X, tg, w, split.eval, eval_data)
    return _head_fit(head, lr, mode, split, run, ev, time.perf_counter() - t0, dev)


class _Split(NamedTuple):
    train: np.ndarray
    eval: np.ndarray | None
    eval_on: str


class _Run(NamedTuple):
    history: list
    steps: int
    diverged: bool


def _head_fit(head, lr, mode, split: _Split, run: _Run, ev: HeadEvaluation, seconds, dev):
    """The :class:`HeadFit` of a finished training run and its evaluation."""
    return HeadFit(
        head=head,
        d=head.d,
        lr=float(lr),
        mode=mode,
        eval_on=split.eval_on,
        loss=ev.loss,
        accuracy=ev.accuracy,
        entropy=ev.entropy,
        gap=ev.gap,
        status="diverged" if run.diverged else "completed",
        iterations=run.steps,
        seconds=seconds,
        device=str(dev),
        n_train=split.train.size,
        n_eval=ev.n_rows,
        history=tuple(run.history),
        train_index=split.train,
        eval_index=split.eval,
    )


def _training_targets(targets, n: int, vocab_size, init_weight):
    """``(mode, targets, V)`` of :func:`fit_head`, checked against the vocabulary size."""
    mode, tg = _as_targets(targets, n)
    if mode == "distribution":
        vocab = tg.vocab_size
        if vocab_size is not None and vocab_size != vocab:
            raise ValueError(f"vocab_size={vocab_size} but the target has {vocab} tokens")
        return mode, tg, vocab
    vocab = vocab_size if vocab_size is not None else None
    if vocab is None and init_weight is not None:
        vocab = np.shape(init_weight)[0]
    if vocab is None:
        raise ValueError(
            "token targets need the vocabulary size: pass vocab_size= (or init_weight=)"
        )
    if tg.max() >= vocab:
        raise ValueError(f"token id {int(tg.max())} >= vocab_size {vocab}")
    return mode, tg, vocab


def _check_budget(lr, steps, batch_size, records, held_out) -> None:
    _v.check_real(lr, "lr", minimum=0.0, strict=True)
    for name, v in (("steps", steps), ("batch_size", batch_size), ("records", records)):
        _v.check_int(v, name, minimum=1)
    if _v.check_real(held_out, "held_out", minimum=0.0) >= 1:
        raise ValueError(f"held_out must lie in [0, 1); got {held_out!r}")


def _check_options(d, bias, progress, seed, warmup, final_lr_fraction, weight_decay) -> None:
    """The remaining options of :func:`fit_head`: the rank and seed as integers, the flags as
    bools, the schedule's fractions in [0, 1], a weight decay >= 0."""
    _v.check_int(d, "d", minimum=1)
    _v.check_bool(bias, "bias")
    _v.check_bool(progress, "progress")
    _v.check_int(seed, "seed", minimum=0)
    _v.check_real(warmup, "warmup", minimum=0.0, maximum=1.0)
    _v.check_real(final_lr_fraction, "final_lr_fraction", minimum=0.0, maximum=1.0)
    _v.check_real(weight_decay, "weight_decay", minimum=0.0)


def _split_rows(n: int, w: np.ndarray, held_out: float, eval_data, rng):
    """``(train rows, evaluation rows or None, eval_on)``: all rows with ``eval_data``, a
    seeded random held-out split, or training on all rows and evaluating on them."""
    if eval_data is not None:
        train_index, eval_index, eval_on = np.arange(n), None, "eval_data"
    elif held_out > 0:
        perm = rng.permutation(n)
        n_eval = max(1, int(round(held_out * n)))
        if n_eval >= n:
            raise ValueError(f"held_out={held_out} leaves no training rows out of {n}")
        eval_index, train_index = np.sort(perm[:n_eval]), np.sort(perm[n_eval:])
        eval_on = "held-out"
    else:
        train_index, eval_index, eval_on = np.arange(n), np.arange(n), "train"
    if not (w[train_index] > 0).any():
        raise ValueError("every training row has weight 0")
    return _Split(train_index, eval_index, eval_on)


def _start_head(init, X, train_index, vocab, d, dev, *, bias, init_std, init_weight, seed, dtype):
    """The head training starts from: a copy of a given :class:`LowRankHead`, or a new one."""
    dim = X.shape[1]
    if isinstance(init, LowRankHead):
        have = (init.B.shape[1], init.A.shape[0], init.d, init.bias is not None)
        if have != (dim, vocab, d, bias):
            raise ValueError(
                f"the start head has (D, V, d, bias) = {have}; "
                f"this fit needs {(dim, vocab, d, bias)}"
            )
        return copy.deepcopy(init).to(device=dev, dtype=dtype)
    return LowRankHead(
        dim,
        vocab,
        d,
        bias=bias,
        init=init,
        init_std=init_std,
        weight=init_weight,
        features=X[train_index] if init == "logit_svd" else None,
        seed=seed,
        dtype=dtype,
    ).to(dev)


class _Batches:
    """Minibatches ``(x, y)`` of training rows on the device, rows drawn with probability
    proportional to their weight (so the mean batch loss is unbiased)."""

    def __init__(self, X, train_index, w, batch_size, rng, mode, targets, device, dtype):
        self.X, self.rows, self.rng, self.mode = X, train_index, rng, mode
        self.probs = w[train_index] / w[train_index].sum()
        self.size = min(batch_size, train_index.size)
        self.source = targets if mode == "tokens" else _TeacherRows(targets, device, dtype)
        self.device, self.dtype = device, dtype

    def __call__(self):
        rows = self.rows[self.rng.choice(self.rows.size, size=self.size, p=self.probs)]
        x = torch.from_numpy(np.asarray(self.X[rows])).to(device=self.device, dtype=self.dtype)
        return x, _targets_of(self.mode, self.source, rows, self.device, self.dtype)


def _train(head, batches: _Batches, schedule: WarmupCosine, weight_decay, records, progress, desc):
    """AdamW on ``head`` for ``schedule.steps`` steps; stops early when the batch loss is not
    finite, and reports the run as diverged then or when a parameter became non-finite."""
    from tqdm.auto import trange

    opt = torch.optim.AdamW(
        head.parameters(), lr=schedule.lr, betas=(0.9, 0.95), eps=1e-8, weight_decay=weight_decay
    )
    record_every = max(1, schedule.steps // records)
    history, acc_loss, acc_n, steps_done = [], 0.0, 0, 0
    bar = trange(schedule.steps, desc=desc, disable=not progress, leave=False)
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = schedule(step)
        x, y = batches()
        loss = _batch_loss(head(x), batches.mode, y).mean()
        if not torch.isfinite(loss):
            bar.close()
            return _Run(history, steps_done, True)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        steps_done = step + 1
        acc_loss += loss.item()
        acc_n += 1
        if (step + 1) % record_every == 0 or step + 1 == schedule.steps:
            history.append((step + 1, acc_loss / acc_n))
            bar.set_postfix(loss=f"{acc_loss / acc_n:.4f}")
            acc_loss, acc_n = 0.0, 0
    bar.close()
    finite = all(bool(torch.isfinite(p).all()) for p in head.parameters())
    return _Run(history, steps_done, not finite)


def _evaluate_fit(head, diverged, X, targets, w, eval_index, eval_data) -> HeadEvaluation:
    """The evaluation of a fit: on ``eval_data`` or the evaluation rows; NaN when training
    diverged (the loss or a parameter became non-finite)."""
    if diverged:
        n_eval = 0 if eval_index is None else eval_index.size
        return HeadEvaluation(head.d, float("nan"), float("nan"), None, None, int(n_eval))
    if eval_data is not None:
        return evaluate_head(head, eval_data[0], eval_data[1])
    return evaluate_head(head, X, targets, weights=w, index=eval_index)


@renamed_keywords(rank="d")
def lr_sweep(
    features,
    targets,
    d: int,
    lrs=(1e-3, 3e-3, 1e-2, 2e-2, 5e-2),
    *,
    progress: bool = True,
    **fit_kwargs,
) -> LrSweep:
    """:func:`fit_head` at every peak learning rate in ``lrs``; the best is the lowest
    evaluation loss among runs that did not diverge (the seed paper swept 1e-3 to 5e-2 per
    rank, App. B). All runs share the seed, hence the split and the initialisation.

    Raises ValueError when every rate diverged (the table is in the message).
    """
    lrs = [float(x) for x in lrs]
    if not lrs:
        raise ValueError("lrs is empty")
    from tqdm.auto import tqdm

    fits = []
    for lr in tqdm(lrs, desc=f"lr sweep rank {d}", disable=not progress, leave=False):
        fits.append(fit_head(features, targets, d, lr=lr, progress=False, **fit_kwargs))
    table = tuple((f.lr, f.loss, f.diverged) for f in fits)
    ok = [f for f in fits if not f.diverged and np.isfinite(f.loss)]
    if not ok:
        raise ValueError(f"every learning rate diverged: {list(table)}")
    return LrSweep(best=min(ok, key=lambda f: f.loss), table=table)


@renamed_keywords(ranks="ds")
def rank_curve(
    target: Target,
    ds,
    *,
    features=None,
    lrs=(1e-2, 3e-2, 1e-1),
    steps: int = 1000,
    batch_size: int | None = None,
    init_std: float = 0.1,
    seed: int = 0,
    progress: bool = True,
    **fit_kwargs,
) -> list[RankCurvePoint]:
    """Gap of a trained rank-``d`` head on ``target`` for every ``d`` in ``ds`` (nats/token).

    The curve "trained rank-d head" of the bound-vs-loss figures: for each ``d``,
    :func:`lr_sweep` (Adam, the seed paper's procedure) trains heads on ``features`` against
    the target's distributions and the best is scored by :func:`head_gap` in float64 on all
    contexts with the target's weights. By Corollary H (proofs/rank_fact.md) every value is
    ``>= G*(d)``, hence above every certified lower bound.

    ``features``: default, for a factored target, its own features ``X`` with the
    ``"logit_svd"`` initialisation from its head (then the untrained initial head, whose gap
    is ``U_trunc``, is also a candidate); otherwise the identity (N x N: a free embedding per
    context, so rank-``d`` heads range over all rank-``d`` logit matrices ``H W^T``) with
    ``N(0, init_std^2)`` entries. ``batch_size`` defaults to all contexts (full batch) up to
    1024.
    """
    if not isinstance(target, Target):
        raise ValueError("target must be a bottleneck.Target")
    X, init_weight = _curve_features(target, features, fit_kwargs)
    init = fit_kwargs.pop(
        "init", "logit_svd" if (target.has_factors and init_weight is not None) else "normal"
    )
    train = dict(lrs=lrs, steps=steps, batch_size=batch_size or min(target.n_contexts, 1024))
    train.update(init_std=init_std, init_weight=init_weight, seed=seed, **fit_kwargs)
    from tqdm.auto import tqdm

    points = []
    for d in tqdm(list(ds), desc="trained heads", disable=not progress):
        d = int(min(d, X.shape[1], target.vocab_size))
        t0 = time.perf_counter()
        gap, lr, head = _best_trained_gap(target, X, d, init, train)
        factors = tuple(None if a is None else np.array(a, np.float64) for a in head.factors(X))
        seconds = time.perf_counter() - t0
        points.append(RankCurvePoint(d=d, gap=gap, lr=lr, seconds=seconds, factors=factors))
    return points


def _curve_features(target: Target, features, fit_kwargs):
    """``(features, init_weight)`` of :func:`rank_curve`: the given ones, a factored target's
    own features and head, or free context embeddings (the N x N identity)."""
    if features is not None:
        return _check_features(features), fit_kwargs.pop("init_weight", None)
    if target.has_factors:
        return _check_features(target.factors[0]), target.factors[1]
    n = target.n_contexts
    if n > 4096:
        raise ValueError(
            f"free context embeddings need an N x N identity; N = {n} > 4096: pass features="
        )
    return _check_features(np.eye(n)), None


def _best_trained_gap(target: Target, X, d: int, init, train: dict) -> tuple:
    """``(gap, lr, head)`` of the best head of an :func:`lr_sweep` at rank ``d``, or of its
    logit-SVD start (``lr = 0``) when that start is better."""
    train = dict(train)
    lrs = train.pop("lrs")
    start = None
    if init == "logit_svd":  # one start for every lr, and itself a candidate
        start = LowRankHead(
            X.shape[1],
            target.vocab_size,
            d,
            bias=target.bias,
            init=init,
            weight=train["init_weight"],
            features=X,
            dtype=torch.float64,
        )
    sweep = lr_sweep(
        X,
        target,
        d,
        lrs=lrs,
        init=start or init,
        bias=target.bias,
        held_out=0.0,
        progress=False,
        **train,
    )
    best = (head_gap(sweep.best.head, X, target), sweep.best.lr, sweep.best.head)
    if start is not None:
        start_gap = head_gap(start, X, target)
        if start_gap < best[0]:
            best = (start_gap, 0.0, start)
    return best
