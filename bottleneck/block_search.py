"""Certificate search for Theorem B: which blocks, scalings and constants to use.

Any choice gives a valid bound (proofs/theorem_b.md), so this module only has to find a good
one fast; :func:`bottleneck.block_spectral.verify_theorem_b` certifies what it returns.

What the search does, and why (measurements in proofs/theorem_b.md, "search"):

* **Tilings.** The context x token grid (restricted to the ``max_entries // N`` tokens of
  largest mass) is cut into a grid of blocks of about ``m x n`` entries, rows and tokens in
  one of two orders: *sorted* (contexts by weight, tokens by mass: blocks of similar weights,
  so the rank-one minorant ``s t^T`` loses little) and *random* (blocks whose log-probabilities
  look like the whole matrix, so little is lost by letting each block have its own rank-``d``
  fit). Small blocks lose little to the spectral step and to the minorant but each one lets
  the head fit ``d`` directions of its own; shapes ``m = k (d + 1)``, ``n = 2m`` for
  ``k = 2, 4, 8`` and the whole grid are tried, best first, until the budget runs out.
* **Per block**, for each ``alpha`` on a log grid around the block's median weight: the
  admissible scalings ``r_max(w_ij)``, their largest rank-one minorant (alternating
  minimisation in the log domain), the singular values of the projected block and the value
  ``alpha sum_{j>d} phi_e(beta_j)``; the best ``alpha`` is refined locally.
* **Zeros.** A block must lie in the support: tiles with zero entries are pruned to a dense
  core by dropping, one at a time, the row or column with the most zeros.
* **Layers.** Blocks rarely use all of an entry's weight (the minorant is tight on few
  entries); the weight left over is tiled again with another order and added.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import _validation as _v
from .block_spectral import (
    DEFAULT_BUDGET_SECONDS,
    DEFAULT_MAX_ENTRIES,
    DEFAULT_MAX_WORK,
    Block,
    Certificate,
    phi_even,
    projected_stack,
    used_weight,
)

__all__ = ["search_theorem_b", "tile_grid", "threshold_packing", "minorant"]

_SLACK = 1e-9  # relative margin left under every weight constraint
_COARSE = np.logspace(-3.0, 2.0, 11)  # alpha / median block weight
_REFINE = 10.0 ** np.array([-0.25, 0.25])
#: Blocks of one shape evaluated together (fixed: results must not depend on the threads).
_CHUNK_BLOCKS = 2048


def minorant(log_R: np.ndarray, iterations: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Largest rank-one minorants ``s t^T <= R`` of a stack of blocks, in the log domain.

    ``log_R`` has shape (K, m, n); returns ``(log s, log t)`` of shapes (K, m), (K, n).
    Alternating ``s_i = min_j R_ij / t_j``, ``t_j = min_i R_ij / s_i``: each step keeps
    ``s t^T <= R``, and at a fixed point neither scaling can grow (a maximal minorant).
    Any minorant is admissible in Theorem B (proofs/theorem_b.md, "Knobs").
    """
    log_t = np.zeros((log_R.shape[0], log_R.shape[2]))
    for _ in range(iterations):
        log_s = np.min(log_R - log_t[:, None, :], axis=2)
        new_t = np.min(log_R - log_s[:, :, None], axis=1)
        done = np.allclose(new_t, log_t, rtol=0, atol=1e-12)
        log_t = new_t
        if done:
            break
    log_s = np.min(log_R - log_t[:, None, :], axis=2)
    return log_s, log_t


def _tail_values(L, s, t, d: int, bias: bool) -> np.ndarray:
    """Singular values beyond ``d`` of the projected blocks, stacked (K, min(m, n) - d)."""
    B, scale = projected_stack(L, s, t, bias)
    gram = B @ B.transpose(0, 2, 1) if B.shape[1] <= B.shape[2] else B.transpose(0, 2, 1) @ B
    eig = np.linalg.eigvalsh(gram)[:, ::-1]
    # Gram eigenvalues carry an absolute error ~ eps (beta_1^2 + ||B before projection||^2):
    # subtract it, so that a block of exact rank <= d is worth 0 (lower bounds)
    top = np.maximum(eig[:, :1], 0.0) + scale[:, None] ** 2
    margin = 64.0 * np.finfo(np.float64).eps * gram.shape[1] * top
    return np.sqrt(np.maximum(eig - margin, 0.0))[:, d:]


def _evaluate(L, log_cap, d: int, bias: bool, alpha: np.ndarray):
    """Value of every block of a stack at its own ``alpha`` (K,), with the scalings.

    ``log r_max = min(x, x/2)`` with ``x = log(w/alpha)`` (:func:`admissible_scaling`),
    lowered by the relative slack so that no weight constraint is tight.
    """
    x = log_cap - np.log(alpha)[:, None, None]
    log_s, log_t = minorant(np.minimum(x, 0.5 * x) + np.log1p(-_SLACK))
    s, t = np.exp(log_s), np.exp(log_t)
    beta = _tail_values(L, s, t, d, bias)
    value = alpha * np.sum(phi_even(beta), axis=1)
    return np.where(np.isfinite(value), value, 0.0), s, t


def _best_alpha(L, cap, d: int, bias: bool):
    """Best ``alpha`` per block: a coarse log grid around the median weight, refined once;
    returns ``(value, alpha, s, t)`` of the best evaluation of each block."""
    K = L.shape[0]
    scale = np.median(cap.reshape(K, -1), axis=1)
    cap = np.log(cap)
    best = np.zeros(K)
    arg = np.full(K, np.nan)
    best_s, best_t = np.ones(L.shape[:2]), np.ones((K, L.shape[2]))

    def consider(alpha):
        val, s, t = _evaluate(L, cap, d, bias, alpha)
        better = val > best
        best[better], arg[better] = val[better], alpha[better]
        best_s[better], best_t[better] = s[better], t[better]

    for g in _COARSE:
        consider(scale * g)
    if np.all(np.isnan(arg)):
        return best, arg, None, None
    arg[:] = np.where(np.isnan(arg), scale, arg)  # never positive: value 0, dropped
    for f in _REFINE:  # around the best so far (the second factor from the first's result)
        consider(arg * f)
    return best, arg, best_s, best_t


def _dense_core(mask: np.ndarray, m_min: int, n_min: int):
    """Rows and columns of a block with no zero, dropping the worst row or column in turn."""
    rows = np.arange(mask.shape[0])
    cols = np.arange(mask.shape[1])
    sub = mask
    while not sub.all():
        zr = (~sub).sum(axis=1)
        zc = (~sub).sum(axis=0)
        if zr.max() / sub.shape[1] >= zc.max() / sub.shape[0]:
            keep = np.arange(sub.shape[0]) != int(np.argmax(zr))
            rows, sub = rows[keep], sub[keep]
        else:
            keep = np.arange(sub.shape[1]) != int(np.argmax(zc))
            cols, sub = cols[keep], sub[:, keep]
        if rows.size < m_min or cols.size < n_min:
            return None
    return rows, cols


def tile_grid(row_order: np.ndarray, col_order: np.ndarray, m: int, n: int):
    """Cut ordered rows and columns into groups of ``m`` (or ``m + 1``) and ``n`` (``n + 1``)
    so that every row and column lies in exactly one group; yields ``(rows, cols)`` blocks
    (disjoint, so each may use all of its entries' weight: proofs/theorem_b.md)."""
    row_groups = np.array_split(row_order, max(1, row_order.size // m))
    col_groups = np.array_split(col_order, max(1, col_order.size // n))
    for I in row_groups:
        for J in col_groups:
            yield I, J


def _tiling_blocks(L, cap, d: int, bias: bool, row_order, col_order, m: int, n: int):
    """Evaluate one tiling; returns ``(value, [(rows, cols, s, t, alpha, value)])``."""
    m_min, n_min = d + 1 + int(bias), d + 2
    blocks = []
    for I, J in tile_grid(row_order, col_order, m, n):
        positive = cap[np.ix_(I, J)] > 0
        if not positive.all():
            core = _dense_core(positive, m_min, n_min)
            if core is None:
                continue
            I, J = I[core[0]], J[core[1]]
        if I.size >= m_min and J.size >= n_min:
            blocks.append((I, J))
    return _evaluate_blocks(L, cap, d, bias, blocks)


def _evaluate_blocks(L, cap, d: int, bias: bool, blocks):
    """Best ``alpha`` and scalings of each block (batched by shape); the positive ones.

    Blocks of one shape are evaluated in chunks of :data:`_CHUNK_BLOCKS`, on
    :func:`_threads` threads (numpy releases the GIL in the batched kernels). The chunking
    is fixed, so the blocks found do not depend on the number of threads.
    """
    shapes: dict[tuple[int, int], list] = {}
    for I, J in blocks:
        shapes.setdefault((I.size, J.size), []).append((I, J))
    chunks = [
        group[start : start + _CHUNK_BLOCKS]
        for group in shapes.values()
        for start in range(0, len(group), _CHUNK_BLOCKS)
    ]

    def evaluate(chunk):
        Ls = np.stack([L[np.ix_(I, J)] for I, J in chunk])
        caps = np.stack([cap[np.ix_(I, J)] for I, J in chunk])
        return _best_alpha(Ls, caps, d, bias)

    threads = min(_threads(), len(chunks))
    if threads > 1:
        with ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(evaluate, chunks))
    else:
        results = [evaluate(chunk) for chunk in chunks]
    found, total = [], 0.0
    for chunk, (val, alpha, s, t) in zip(chunks, results):
        for k, (I, J) in enumerate(chunk):
            if val[k] > 0:
                found.append((I, J, s[k], t[k], float(alpha[k]), float(val[k])))
                total += float(val[k])
    return total, found


def _threads() -> int:
    """Threads for the block evaluations: ``OMP_NUM_THREADS`` if set, else the CPUs this
    process may run on (at most 8)."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return min(int(env), 8)
    cpus = (
        os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    )
    return max(1, min(len(cpus), 8))


def threshold_packing(P: np.ndarray, d: int, bias: bool, theta: float, max_cols: int = 64):
    """Disjoint blocks on which every probability is ``>= theta``, found greedily.

    For rows peaked on different tokens (language models), a tile mixes each context's
    likely tokens with tokens it gives ``1e-9``, and the rank-one minorant is set by the
    latter. Here each block starts from the token that the most contexts give
    ``p >= theta``, keeps those contexts, and adds the token shared by most of them while
    ``|I| |J|`` grows (at least ``d + 2`` tokens, ``d + 1`` contexts, ``+1`` with a bias);
    its entries are then taken, and the next block starts. Yields ``(rows, cols)``.
    """
    m_min, n_min = d + 1 + int(bias), d + 2
    avail = P >= theta
    cols = np.flatnonzero(avail.sum(axis=0) >= m_min)
    avail = avail[:, cols]
    dead = np.zeros(cols.size, dtype=bool)
    while True:
        counts = np.where(dead, 0, avail.sum(axis=0))
        if counts.size == 0 or counts.max() < m_min:
            return
        j0 = int(np.argmax(counts))
        I, J = np.flatnonzero(avail[:, j0]), [j0]
        while len(J) < max_cols:
            shared = avail[I].sum(axis=0)
            shared[J] = 0
            j = int(np.argmax(shared))
            grown = I[avail[I, j]]
            if grown.size < m_min or (
                len(J) >= n_min and grown.size * (len(J) + 1) <= I.size * len(J)
            ):
                break
            I, J = grown, J + [j]
        if len(J) < n_min:
            dead[j0] = True
            continue
        avail[np.ix_(I, J)] = False
        yield I, cols[np.array(J)]


def _packing_blocks(L, cap, P, d: int, bias: bool, quantile: float):
    """Evaluate :func:`threshold_packing` at the ``quantile`` of the grid's probabilities."""
    theta = float(np.quantile(P, quantile))
    if not theta > 0:
        return 0.0, []
    return _evaluate_blocks(L, cap, d, bias, list(threshold_packing(P, d, bias, theta)))


def _shapes(d: int, bias: bool, n_rows: int, n_cols: int) -> list[tuple[int, int]]:
    m_min, n_min = d + 1 + int(bias), d + 2
    out = []
    for k in (4, 8, 2):
        m = min(n_rows, max(m_min, k * (d + 1)))
        n = min(n_cols, max(n_min, 2 * m))
        if (m, n) not in out:
            out.append((m, n))
    if (n_rows, n_cols) not in out:
        out.append((n_rows, n_cols))
    return out


def _descending(values: np.ndarray) -> np.ndarray:
    """Indices by decreasing value, robust to rounding: values are compared on a 30-bit
    mantissa (ties keep index order), so BLAS thread counts, which move the last bits of
    sums, cannot reorder near-equal tokens or contexts and change the certificate."""
    mantissa, exponent = np.frexp(np.asarray(values, dtype=np.float64))
    coarse = np.ldexp(np.round(mantissa * 2.0**30) / 2.0**30, exponent)
    return np.argsort(-coarse, kind="stable")


def _token_subset(target, max_entries: int, n_min: int) -> np.ndarray:
    """Tokens by decreasing mass ``pbar``: all of them, or the top ``max_entries // N``."""
    order = _descending(target.mean_probs())
    k = min(target.vocab_size, max(n_min, max_entries // target.n_contexts))
    return order[:k]


class _Budget:
    """Deterministic work budget (:func:`_candidate_cost` units) with a wall-clock safety cap.

    The search stops trying new tilings once ``max_work`` units are spent, so its result does
    not depend on the machine's speed unless ``seconds`` runs out first.
    """

    def __init__(self, max_work: float, seconds: float):
        self.max_work, self.seconds = max_work, seconds
        self.work, self.start = 0.0, time.perf_counter()

    def allows(self, cost: float) -> bool:
        if self.work == 0:
            return True  # the first tiling always runs
        in_time = time.perf_counter() - self.start <= self.seconds
        return in_time and self.work + cost <= self.max_work

    def spend(self, cost: float) -> None:
        self.work += cost

    def elapsed(self) -> float:
        return time.perf_counter() - self.start


def _report(message: str, budget: _Budget) -> None:
    """One progress line per candidate (through tqdm, so it does not break progress bars)."""
    from tqdm.auto import tqdm

    spent = f"work {budget.work:.3g}/{budget.max_work:.3g}"
    tqdm.write(f"  {message} ({budget.elapsed():.1f} s, {spent})")


def _candidate_cost(cap: np.ndarray, kind: str, size) -> float:
    """Work units of one candidate: a tiling costs its grid entries, times ``m/64`` for tall
    blocks (Gram matrices and their eigenvalues cost ``m^2 n`` per block, ``m`` per entry);
    a packing a quarter of the grid (its blocks cover few entries)."""
    if kind == "pack":
        return cap.size / 4.0
    return cap.size * max(1.0, size[0] / 64.0)


def _run_candidate(L, cap, P, d, bias, kind, size, rng):
    n_rows, n_cols = cap.shape
    if kind == "pack":
        return _packing_blocks(L, cap, P, d, bias, size)
    if kind == "sorted":
        rows, cols = _descending(cap.sum(axis=1)), np.arange(n_cols)
    else:
        rows, cols = rng.permutation(n_rows), rng.permutation(n_cols)
    return _tiling_blocks(L, cap, d, bias, rows, cols, *size)


def _describe(kind, size, n_tokens: int) -> str:
    if kind == "pack":
        return f"threshold packing at the {size:g} quantile of p, top {n_tokens} tokens"
    return f"{kind} {size[0]} x {size[1]} tiles of the top {n_tokens} tokens"


def _explore(L, cap, P, d, bias, candidates, budget: _Budget, rng, progress: bool):
    """Try candidates while the budget allows (skipping those that no longer fit); returns the
    best ``(value, blocks, (kind, size))``. The first tiling and the first packing are probes:
    the rest of that kind of the two that did better is tried first."""
    best = (-1.0, [], None)
    queue = list(candidates)
    probed: dict[str, float] = {}
    while queue:
        kind, size = queue.pop(0)
        cost = _candidate_cost(cap, kind, size)
        if not budget.allows(cost):
            continue
        total, found = _run_candidate(L, cap, P, d, bias, kind, size, rng)
        budget.spend(cost)
        if progress:
            line = f"Theorem B, d = {d}: {_describe(kind, size, cap.shape[1])}: {total:.4g}"
            _report(line, budget)
        if total > best[0]:
            best = (total, found, (kind, size))
        family = "pack" if kind == "pack" else "tiles"
        if family not in probed:
            probed[family] = total
            if len(probed) == 2:
                winner = max(probed, key=probed.get)
                queue.sort(key=lambda c: ("pack" if c[0] == "pack" else "tiles") != winner)
    return best


def _add_layers(L, cap, d, bias, found, shape, layers: int, budget: _Budget, rng, progress):
    """Tile the weight the blocks leave unused again (random order), ``layers - 1`` times."""
    remaining = cap.copy()
    _subtract(remaining, found)
    extra_total, notes = 0.0, []
    for layer in range(2, layers + 1):
        if not budget.allows(_candidate_cost(cap, "random", shape)):
            break
        rows, cols = rng.permutation(cap.shape[0]), rng.permutation(cap.shape[1])
        extra, more = _tiling_blocks(L, remaining, d, bias, rows, cols, *shape)
        budget.spend(_candidate_cost(cap, "random", shape))
        if progress:
            _report(f"Theorem B, d = {d}: layer {layer}: +{extra:.4g}", budget)
        if extra <= 0:
            break
        _subtract(remaining, more)
        found.extend(more)
        extra_total += extra
        notes = [
            f"{layer - 1} more layer(s) of random {shape[0]} x {shape[1]} tiles on the weight left"
        ]
    return extra_total, notes


def search_theorem_b(
    target,
    d: int,
    *,
    max_work: float = DEFAULT_MAX_WORK,
    budget_seconds: float = DEFAULT_BUDGET_SECONDS,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    layers: int = 16,
    shapes=None,
    orders=("sorted", "pack", "random"),
    quantiles=(0.995, 0.99, 0.999),
    seed: int = 0,
    progress: bool = False,
) -> Certificate:
    """Find a Theorem B certificate for ``G*(d)`` (blocks, scalings, constants).

    Parameters
    ----------
    target : Target
        Any storage; only the ``N x k`` columns of the ``k = max_entries // N`` tokens of
        largest mass are materialised (chunked through ``Target.columns``).
    d : int
    max_work : float
        Work budget: one tiling of the ``N x k`` grid into ``m``-row blocks costs
        ``N k max(1, m/64)``; default :data:`DEFAULT_MAX_WORK`. The first tiling always runs.
        The result depends on this count, not on the machine's speed.
    budget_seconds : float
        Wall-clock safety cap (default :data:`DEFAULT_BUDGET_SECONDS`): no new tiling starts
        after it.
    max_entries : int
        Entries of the context x token grid to materialise.
    layers : int
        Tilings stacked on the weight left unused (``>= 1``): each adds a few per cent while
        the work budget lasts (all 16 on small targets, none on the largest grids).
    shapes : sequence of (m, n), optional
        Block shapes to try (default ``k(d + 1) x 2k(d + 1)`` for ``k = 4, 8, 2`` and the
        whole grid).
    orders : sequence of {"sorted", "pack", "random"}
        Kinds of candidates: tilings with rows and tokens sorted by weight and mass, or in
        random order, and :func:`threshold_packing` (blocks where every ``p_ij`` is above a
        quantile of the grid's probabilities; what works for language-model rows). They are
        tried interleaved (sorted, pack, sorted, pack, ..., then random).
    quantiles : sequence of float
        Quantiles of ``p`` on the grid used as packing thresholds.
    seed : int
        Seed of the random tilings.
    progress : bool
        Print one line per tiling (value so far, seconds, work spent of the budget).

    Returns
    -------
    Certificate
        Re-verify with :func:`bottleneck.block_spectral.verify_theorem_b`.

    Notes
    -----
    Any blocks give a valid bound (Theorem B, proofs/theorem_b.md, where "Knobs" and "what
    did not help" record why the search is built this way).
    """
    d = _v.check_rank(d)
    budget = _Budget(_positive(max_work, "max_work"), _positive(budget_seconds, "budget_seconds"))
    layers = max(1, _v.check_rank(layers, "layers"))
    bias = bool(target.bias)
    S = _token_subset(target, int(_positive(max_entries, "max_entries")), d + 2)
    if target.n_contexts < d + 1 + int(bias) or S.size < d + 2:
        return Certificate(d=d, bias=bias, search="target too small for a block beyond rank d")
    P, L = target.columns(S)
    cap = np.asarray(target.weights)[:, None] * P
    rng = np.random.default_rng(seed)
    shapes = list(shapes) if shapes is not None else _shapes(d, bias, *cap.shape)
    candidates = _candidates(orders, shapes, quantiles)
    total, found, how = _explore(L, cap, P, d, bias, candidates, budget, rng, progress)
    if how is None or total <= 0:
        return Certificate(d=d, bias=bias, search="no block with a positive value")
    found = list(found)
    layer_shape = how[1] if how[0] != "pack" else shapes[0]
    extra, notes = _add_layers(L, cap, d, bias, found, layer_shape, layers, budget, rng, progress)
    blocks = tuple(Block(rows=I, cols=S[J], s=s, t=t, alpha=a) for I, J, s, t, a, _ in found)
    search = "; ".join([_describe(*how, S.size), *notes])
    return Certificate(d=d, bias=bias, blocks=blocks, value=total + extra, search=search)


def _candidates(orders, shapes, quantiles) -> list:
    """Sorted tilings and packings interleaved (each kind's most promising first), then
    random tilings."""
    sorted_ = [("sorted", sh) for sh in shapes] if "sorted" in orders else []
    packs = [("pack", q) for q in quantiles] if "pack" in orders else []
    mixed = []
    for k in range(max(len(sorted_), len(packs))):
        mixed += sorted_[k : k + 1] + packs[k : k + 1]
    random_ = [("random", sh) for sh in shapes] if "random" in orders else []
    return mixed + random_


def _positive(x, name: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number; got {type(x).__name__}")
    if not (x > 0):
        raise ValueError(f"{name} must be > 0; got {x!r}")
    return float(x)


def _subtract(remaining: np.ndarray, found) -> None:
    """Remove the weight ``found`` blocks use; what is left below ``1e-6`` of an entry's
    weight (the search's slack, rounding) counts as none, so no layer is built on dust."""
    for I, J, s, t, alpha, _ in found:
        sub = np.ix_(I, J)
        before = remaining[sub]
        left = before - used_weight(np.outer(s, t), alpha)
        remaining[sub] = np.where(left > 1e-6 * before, left, 0.0)
