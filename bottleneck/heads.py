"""Rank-constrained softmax heads trained on frozen features [Godey2024, §5.1, App. B].

A head of rank ``r`` maps a feature ``x`` (D,) to logits ``z = A B x (+ b)`` with
``A`` (V, r) and ``B`` (r, D), so ``W = A B`` has rank ``<= r``. On ``N`` contexts with
features ``X`` (N, D) its logits are

    Z = (X B^T) A^T (+ 1 b^T) = H W_r^T (+ 1 b^T),   H = X B^T (N, r),  W_r = A (V, r),

an explicit rank-``r`` head in the sense of docs/theory.md §1. Hence on a target whose rows
are the contexts of ``X`` its gap is ``>= G*(r)`` (the infimum over all rank-``r``
factorisations; corollary in proofs/rank_fact.md), and every certified lower bound of
:func:`bottleneck.bounds` lies below it. The converse does not hold: frozen features
restrict ``H`` to the column space of ``X``, and a trained head is an upper bound on
``G*(r)`` only up to optimisation error.

:func:`fit_head` trains such a head with Adam (the seed paper's optimiser; Pythia's betas),
against observed next tokens (cross-entropy) or a teacher distribution (distillation, the
loss whose excess over the teacher's entropy is the gap of theory.md §1), with held-out
evaluation and progress bars; :func:`lr_sweep` picks the peak learning rate on held-out loss
as the paper does (it swept 1e-3 to 5e-2). Units: nats/token.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ._device import resolve_device
from .target import Target

__all__ = [
    "LowRankHead",
    "logit_svd_weight",
    "rank_curve",
    "HeadFit",
    "LrSweep",
    "fit_head",
    "lr_sweep",
    "evaluate_head",
    "head_gap",
]

INITS = ("normal", "svd", "logit_svd")


class LowRankHead(torch.nn.Module):
    """Linear head ``z = A B x (+ b)`` of rank ``<= r`` (proofs/rank_fact.md).

    Parameters
    ----------
    in_features, vocab_size, rank : int
        ``D``, ``V`` and ``r`` with ``1 <= r <= min(V, D)``; ``A`` is (V, r), ``B`` is (r, D).
    bias : bool
        A free bias ``b`` (V,), initialised to zero.
    init : {"normal", "svd"}
        ``"normal"``: every entry of ``A`` and ``B`` i.i.d. ``N(0, init_std^2)`` (the seed
        paper's ``N(0, 1)`` at the default ``init_std = 1``). ``"svd"``: the best rank-``r``
        approximation of ``weight`` (V, D) in Frobenius norm (Eckart–Young),
        ``A = U_r S_r^{1/2}``, ``B = S_r^{1/2} V_r^T``; at ``r = rank(weight)`` it equals
        ``weight`` exactly. ``"logit_svd"``: the best rank-``r`` approximation of the
        *centred logits* ``X W_c^T`` over the given ``features`` ``X`` (N, D), where
        ``W_c = (I - 11^T/V) W`` (softmax ignores per-row constants, so the centring loses
        nothing): with ``S = X^T X`` and its square root ``S^{1/2}``,
        ``W_r = [W_c S^{1/2}]_r S^{+1/2}`` (Eckart–Young in the metric of the features,
        :func:`logit_svd_weight`). On the teacher's own contexts it is the truncated-SVD head
        of theory.md §4 whose gap is ``U_trunc``.
    weight : array (V, D), optional
        Required for ``init="svd"`` and ``"logit_svd"`` (e.g. a pretrained head).
    features : array (N, D), optional
        Required for ``init="logit_svd"``.
    seed : int
        Seed of the ``"normal"`` initialisation.
    dtype : torch.dtype
    """

    def __init__(
        self,
        in_features: int,
        vocab_size: int,
        rank: int,
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
        for name, v in (("in_features", in_features), ("vocab_size", vocab_size), ("rank", rank)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive integer; got {v!r}")
        if rank > min(in_features, vocab_size):
            raise ValueError(
                f"rank must be <= min(in_features, vocab_size) = {min(in_features, vocab_size)}; got {rank}"
            )
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}; got {init!r}")
        self.rank = int(rank)
        if init == "normal":
            if not (np.isfinite(init_std) and init_std > 0):
                raise ValueError(f"init_std must be finite and > 0; got {init_std!r}")
            gen = torch.Generator().manual_seed(int(seed))
            A = torch.randn(vocab_size, rank, generator=gen, dtype=torch.float64) * init_std
            B = torch.randn(rank, in_features, generator=gen, dtype=torch.float64) * init_std
        else:
            if weight is None:
                raise ValueError(f"init={init!r} needs weight= (V, D), e.g. the pretrained head")
            Wt = np.asarray(weight, dtype=np.float64)
            if Wt.shape != (vocab_size, in_features):
                raise ValueError(
                    f"weight must have shape (vocab_size, in_features) = {(vocab_size, in_features)}; got {Wt.shape}"
                )
            if not np.isfinite(Wt).all():
                raise ValueError("weight has non-finite entries")
            if init == "svd":
                U, S, Vt = np.linalg.svd(Wt, full_matrices=False)
                root = np.sqrt(S[:rank])
                A_np, B_np = U[:, :rank] * root, root[:, None] * Vt[:rank]
            else:
                if features is None:
                    raise ValueError("init='logit_svd' needs features= (N, D)")
                A_np, B_np = _logit_svd_factors(Wt, features, rank)
            A, B = torch.from_numpy(A_np), torch.from_numpy(B_np)
        self.A = torch.nn.Parameter(A.to(dtype))
        self.B = torch.nn.Parameter(B.to(dtype))
        self.bias = torch.nn.Parameter(torch.zeros(vocab_size, dtype=dtype)) if bias else None

    @property
    def weight(self) -> torch.Tensor:
        """``W = A B``, shape (V, D), rank ``<= r``."""
        return self.A @ self.B

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(x B^T) A^T (+ b)``, shape (..., V); never forms ``W``."""
        z = (x @ self.B.T) @ self.A.T
        return z + self.bias if self.bias is not None else z

    def factors(self, features) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``(H, W_r, b) = (X B^T, A, b)`` in float64: the head as an explicit rank-``r``
        factorisation ``Z = H W_r^T (+ 1 b^T)`` of theory.md §1."""
        X = np.asarray(features, dtype=np.float64)
        B = self.B.detach().double().cpu().numpy()
        A = self.A.detach().double().cpu().numpy()
        b = None if self.bias is None else self.bias.detach().double().cpu().numpy()
        return X @ B.T, A, b


def _logit_svd_factors(weight: np.ndarray, features, rank: int) -> tuple[np.ndarray, np.ndarray]:
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
    r = np.sqrt(S[:rank])
    return U[:, :rank] * r, (r[:, None] * Vt[:rank]) @ inv_root


def logit_svd_weight(weight, features, rank: int) -> np.ndarray:
    """``W_r = [W_c S^{1/2}]_r S^{+1/2}`` (V, D), ``S = X^T X``, ``W_c = (I - 11^T/V) W``.

    The rank-``r`` head whose centred logits ``X W_r^T`` are the best rank-``r``
    approximation of ``X W_c^T`` in Frobenius norm (Eckart–Young, proofs/eckart_young_weighted.md,
    since ``||X M^T||_F = ||M S^{1/2}||_F``); its softmax on each row of ``X`` is therefore the
    truncated-SVD head of theory.md §4 for the teacher ``softmax(X W^T)`` (uniform weights).
    ``S^{+1/2}`` is the pseudo-inverse square root (directions without feature energy are
    dropped).
    """
    Wt = np.asarray(weight, dtype=np.float64)
    if Wt.ndim != 2 or not 1 <= rank <= min(Wt.shape):
        raise ValueError(
            f"weight must be (V, D) and 1 <= rank <= min(V, D); got {Wt.shape}, rank {rank}"
        )
    A, B = _logit_svd_factors(Wt, features, rank)
    return A @ B


@dataclass
class HeadFit:
    """Result of :func:`fit_head`. Losses in nats/token.

    ``eval_loss`` is the cross-entropy on the evaluation rows (held-out unless
    ``eval_on == "train"``); for distillation ``eval_gap = eval_loss - eval_entropy`` is the
    KL gap of theory.md §1 on those rows, and ``eval_accuracy`` is top-1 agreement with the
    teacher's most likely token (with the observed token for token targets).
    """

    head: LowRankHead
    rank: int
    lr: float
    steps: int
    mode: str  # "tokens" or "distribution"
    eval_on: str  # "held-out", "eval_data" or "train"
    eval_loss: float
    eval_accuracy: float
    eval_entropy: float | None
    eval_gap: float | None
    train_curve: np.ndarray  # (k, 2): step, mean training loss since the previous record
    diverged: bool
    seconds: float
    device: str
    n_train: int
    n_eval: int
    train_index: np.ndarray = field(repr=False)
    eval_index: np.ndarray | None = field(repr=False)


@dataclass
class LrSweep:
    """Result of :func:`lr_sweep`: the best fit and ``(lr, eval_loss, diverged)`` per rate."""

    best: HeadFit
    table: list[tuple[float, float, bool]]


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
    X = np.asarray(features)
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
) -> dict:
    """Weighted cross-entropy, top-1 accuracy and (distillation) entropy/gap of ``head``.

    ``loss = sum_i w_i CE_i / sum_i w_i`` over the rows ``index`` (all rows by default),
    computed in float64 in chunks; for a distribution target also
    ``entropy = sum_i w_i H(p_i) / sum_i w_i`` and ``gap = loss - entropy`` (theory.md §1;
    proofs/rank_fact.md for why ``gap >= G*(r)`` on the full weighted target).
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
                ent += float(
                    wr @ -(y * torch.where(y > 0, torch.log(y), torch.zeros_like(y))).sum(dim=1)
                )
            wsum += float(wr.sum())
    out = {"loss": loss / wsum, "accuracy": acc / wsum, "entropy": None, "gap": None}
    if mode == "distribution":
        out["entropy"] = ent / wsum
        out["gap"] = max(out["loss"] - out["entropy"], 0.0)
    return out


def head_gap(head: LowRankHead, features, target: Target) -> float:
    """Certified float64 gap ``G(Z) = sum_i pi_i KL(p_i || softmax(z_i))`` of the head's
    logits ``Z = (X B^T) A^T (+ b)`` on ``target`` (all rows, the target's weights), via
    :meth:`Target.gap_factors`; ``>= G*(r)`` by proofs/rank_fact.md (Corollary H)."""
    X = _check_features(features)
    if (
        not isinstance(target, Target)
        or target.n_contexts != X.shape[0]
        or target.vocab_size != head.A.shape[0]
    ):
        raise ValueError(
            "target must be a bottleneck.Target with one row per feature row and the head's vocabulary"
        )
    H, W, b = head.factors(X)
    return target.gap_factors(H, W, b)


def _lr_at(step: int, steps: int, lr: float, warmup_steps: int, final_fraction: float) -> float:
    """Linear warm-up to ``lr``, then cosine decay to ``final_fraction * lr`` (Pythia's schedule)."""
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    t = (step - warmup_steps) / max(steps - warmup_steps, 1)
    return lr * (
        final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
    )


def fit_head(
    features,
    targets,
    rank: int,
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
    """Train a :class:`LowRankHead` of rank ``r`` on frozen ``features`` with Adam.

    Minimises the weighted mean cross-entropy ``sum_i w_i CE(y_i, softmax(A B x_i + b)) /
    sum_i w_i`` over minibatches: ``CE = -log q_{y_i}`` for observed next tokens, or
    ``-sum_j p_ij log q_ij`` for a teacher distribution (distillation; its excess over the
    teacher's entropy is the gap of theory.md §1, and a rank-``r`` head's gap is ``>= G*(r)``:
    proofs/rank_fact.md, Corollary H). Optimiser: AdamW with betas (0.9, 0.95) (Pythia's),
    linear warm-up over ``warmup * steps`` steps then cosine decay to ``final_lr_fraction * lr``.

    Parameters
    ----------
    features : array (N, D)
        Frozen features (e.g. a language model's last hidden states after the final norm).
    targets : int array (N,), float array (N, V), or :class:`bottleneck.Target`
        Observed next tokens, teacher probabilities, or a target (any storage; its context
        weights become the row weights unless ``weights`` is given).
    rank : int
        ``1 <= r <= min(V, D)``.
    lr, steps, batch_size : training budget (peak learning rate, optimizer steps, rows per step).
    init, init_std, init_weight : see :class:`LowRankHead` (``init_weight`` is its ``weight``);
        ``init`` may also be a :class:`LowRankHead` of this rank to start from (copied, not
        modified), e.g. one logit-SVD start shared by several learning rates.
    bias : bool
        Train a free bias too.
    vocab_size : int, optional
        ``V`` for token targets (default: rows of ``init_weight``); a distribution target
        fixes it.
    weights : array (N,), optional
        Row weights (default: uniform for tokens, the target's ``pi`` for a Target).
    held_out : float in [0, 1)
        Fraction of rows held out for evaluation when ``eval_data`` is not given (a seeded
        random split); 0 trains and evaluates on all rows (``eval_on == "train"``).
    eval_data : (features, targets), optional
        Separate evaluation set (then all given rows are used for training).
    seed : int
        Seeds the split, the initialisation and the minibatch order.
    device : "auto", "cpu", "cuda"; dtype : training dtype (evaluation is float64).
    records : int
        Number of points of the training-loss curve.

    Returns
    -------
    HeadFit
        With ``diverged=True`` (and NaN evaluation) when the training loss became
        non-finite; never a silent number.

    Raises
    ------
    ValueError
        Shapes that do not match, token ids outside the vocabulary, bad hyper-parameters.
    """
    X = _check_features(features)
    n, dim = X.shape
    mode, tg = _as_targets(targets, n)
    if mode == "distribution":
        vocab = tg.vocab_size
        if vocab_size is not None and vocab_size != vocab:
            raise ValueError(f"vocab_size={vocab_size} but the target has {vocab} tokens")
    else:
        vocab = (
            vocab_size
            if vocab_size is not None
            else (None if init_weight is None else np.shape(init_weight)[0])
        )
        if vocab is None:
            raise ValueError(
                "token targets need the vocabulary size: pass vocab_size= (or init_weight=)"
            )
        if tg.max() >= vocab:
            raise ValueError(f"token id {int(tg.max())} >= vocab_size {vocab}")
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be finite and > 0; got {lr!r}")
    for name, v in (("steps", steps), ("batch_size", batch_size), ("records", records)):
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive integer; got {v!r}")
    if not 0 <= held_out < 1:
        raise ValueError(f"held_out must lie in [0, 1); got {held_out!r}")
    w = _row_weights(mode, tg, weights, n)
    rng = np.random.default_rng(seed)
    if eval_data is not None:
        train_index, eval_index, eval_on = np.arange(n), None, "eval_data"
    elif held_out > 0:
        perm = rng.permutation(n)
        n_eval = max(1, int(round(held_out * n)))
        if n_eval >= n:
            raise ValueError(f"held_out={held_out} leaves no training rows out of {n}")
        eval_index, train_index, eval_on = (
            np.sort(perm[:n_eval]),
            np.sort(perm[n_eval:]),
            "held-out",
        )
    else:
        train_index, eval_index, eval_on = np.arange(n), np.arange(n), "train"
    if not (w[train_index] > 0).any():
        raise ValueError("every training row has weight 0")

    dev = resolve_device(device)
    if isinstance(init, LowRankHead):
        if (init.B.shape[1], init.A.shape[0], init.rank, init.bias is not None) != (
            dim,
            vocab,
            rank,
            bias,
        ):
            raise ValueError(
                f"the start head has (D, V, r, bias) = {(init.B.shape[1], init.A.shape[0], init.rank, init.bias is not None)}; "
                f"this fit needs {(dim, vocab, rank, bias)}"
            )
        head = copy.deepcopy(init).to(device=dev, dtype=dtype)
    else:
        head = LowRankHead(
            dim,
            vocab,
            rank,
            bias=bias,
            init=init,
            init_std=init_std,
            weight=init_weight,
            features=X[train_index] if init == "logit_svd" else None,
            seed=seed,
            dtype=dtype,
        ).to(dev)
    opt = torch.optim.AdamW(
        head.parameters(), lr=lr, betas=(0.9, 0.95), eps=1e-8, weight_decay=weight_decay
    )
    warmup_steps = max(1, int(round(warmup * steps)))
    # sample rows with probability proportional to w, so the mean batch loss is unbiased
    probs = w[train_index] / w[train_index].sum()
    record_every = max(1, steps // records)
    curve, acc_loss, acc_n, diverged, steps_done = [], 0.0, 0, False, 0
    t0 = time.perf_counter()
    from tqdm.auto import trange

    source = tg if mode == "tokens" else _TeacherRows(tg, dev, dtype)
    bar = trange(steps, desc=f"fit rank {rank}", disable=not progress, leave=False)
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = _lr_at(step, steps, lr, warmup_steps, final_lr_fraction)
        rows = train_index[
            rng.choice(train_index.size, size=min(batch_size, train_index.size), p=probs)
        ]
        x = torch.from_numpy(np.asarray(X[rows])).to(device=dev, dtype=dtype)
        y = _targets_of(mode, source, rows, dev, dtype)
        loss = _batch_loss(head(x), mode, y).mean()
        if not torch.isfinite(loss):
            diverged = True
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        steps_done = step + 1
        acc_loss += loss.item()
        acc_n += 1
        if (step + 1) % record_every == 0 or step + 1 == steps:
            curve.append((step + 1, acc_loss / acc_n))
            bar.set_postfix(loss=f"{acc_loss / acc_n:.4f}")
            acc_loss, acc_n = 0.0, 0
    bar.close()
    if diverged or not all(torch.isfinite(p).all() for p in head.parameters()):
        diverged = True
        ev = {"loss": float("nan"), "accuracy": float("nan"), "entropy": None, "gap": None}
        n_eval = 0 if eval_index is None else eval_index.size
    elif eval_data is not None:
        ev = evaluate_head(head, eval_data[0], eval_data[1])
        n_eval = np.asarray(eval_data[0]).shape[0]
    else:
        ev = evaluate_head(head, X, tg, weights=w, index=eval_index)
        n_eval = eval_index.size
    return HeadFit(
        head=head,
        rank=int(rank),
        lr=float(lr),
        steps=steps_done,
        mode=mode,
        eval_on=eval_on,
        eval_loss=ev["loss"],
        eval_accuracy=ev["accuracy"],
        eval_entropy=ev["entropy"],
        eval_gap=ev["gap"],
        train_curve=np.asarray(curve, dtype=np.float64).reshape(-1, 2),
        diverged=diverged,
        seconds=time.perf_counter() - t0,
        device=str(dev),
        n_train=train_index.size,
        n_eval=int(n_eval),
        train_index=train_index,
        eval_index=eval_index,
    )


def lr_sweep(
    features,
    targets,
    rank: int,
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
    for lr in tqdm(lrs, desc=f"lr sweep rank {rank}", disable=not progress, leave=False):
        fits.append(fit_head(features, targets, rank, lr=lr, progress=False, **fit_kwargs))
    table = [(f.lr, f.eval_loss, f.diverged) for f in fits]
    ok = [f for f in fits if not f.diverged and np.isfinite(f.eval_loss)]
    if not ok:
        raise ValueError(f"every learning rate diverged: {table}")
    return LrSweep(best=min(ok, key=lambda f: f.eval_loss), table=table)


def rank_curve(
    target: Target,
    ranks,
    *,
    features=None,
    lrs=(1e-2, 3e-2, 1e-1),
    steps: int = 1000,
    batch_size: int | None = None,
    init_std: float = 0.1,
    seed: int = 0,
    progress: bool = True,
    **fit_kwargs,
) -> list[dict]:
    """Gap of a trained rank-``r`` head on ``target`` for every ``r`` in ``ranks`` (nats/token).

    The curve "trained rank-d head" of the bound-vs-loss figures: for each ``r``,
    :func:`lr_sweep` (Adam, the seed paper's procedure) trains heads on ``features`` against
    the target's distributions and the best is scored by :func:`head_gap` in float64 on all
    contexts with the target's weights. By Corollary H (proofs/rank_fact.md) every value is
    ``>= G*(r)``, hence above every certified lower bound.

    ``features``: default, for a factored target, its own features ``X`` with the
    ``"logit_svd"`` initialisation from its head (then the untrained initial head, whose gap
    is ``U_trunc``, is also a candidate); otherwise the identity (N x N: a free embedding per
    context, so rank-``r`` heads range over all rank-``r`` logit matrices ``H W^T``) with
    ``N(0, init_std^2)`` entries. ``batch_size`` defaults to all contexts (full batch) up to
    1024.

    Returns one dict per rank: ``d``, ``trained`` (gap), ``trained_lr`` (0 for the untrained
    initial head), ``trained_seconds``.
    """
    if not isinstance(target, Target):
        raise ValueError("target must be a bottleneck.Target")
    n, v = target.shape
    factored = target.has_factors
    if features is None:
        if factored:
            features, init_weight = target.factors[0], target.factors[1]
        else:
            if n > 4096:
                raise ValueError(
                    f"free context embeddings need an N x N identity; N = {n} > 4096: pass features="
                )
            features, init_weight = np.eye(n), None
    else:
        init_weight = fit_kwargs.pop("init_weight", None)
    X = _check_features(features)
    init = fit_kwargs.pop(
        "init", "logit_svd" if (factored and init_weight is not None) else "normal"
    )
    batch = batch_size or min(n, 1024)
    from tqdm.auto import tqdm

    rows = []
    for r in tqdm(list(ranks), desc="trained heads", disable=not progress):
        r = int(min(r, X.shape[1], v))
        t0 = time.perf_counter()
        start = None
        if init == "logit_svd":  # one start for every lr, and itself a candidate
            start = LowRankHead(
                X.shape[1],
                v,
                r,
                bias=target.bias,
                init=init,
                weight=init_weight,
                features=X,
                dtype=torch.float64,
            )
        sweep = lr_sweep(
            X,
            target,
            r,
            lrs=lrs,
            steps=steps,
            batch_size=batch,
            init=start or init,
            init_std=init_std,
            init_weight=init_weight,
            bias=target.bias,
            held_out=0.0,
            seed=seed,
            progress=False,
            **fit_kwargs,
        )
        best_gap, best_lr = head_gap(sweep.best.head, X, target), sweep.best.lr
        if start is not None:
            start_gap = head_gap(start, X, target)
            if start_gap < best_gap:
                best_gap, best_lr = start_gap, 0.0
        rows.append(
            {
                "d": r,
                "trained": best_gap,
                "trained_lr": best_lr,
                "trained_seconds": time.perf_counter() - t0,
            }
        )
    return rows
