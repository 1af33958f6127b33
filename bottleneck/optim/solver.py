"""The numerical optimum ``G*(d)``: :func:`solve` and :func:`sweep` (docs/theory.md §4).

``solve`` minimises ``G(H W^T (+ 1 b^T))`` over the factors, float64 on CPU, float32 on
CUDA: trust-region Newton–CG with exact Hessian-vector products by default
(:mod:`bottleneck.optim.newton`), diagonally preconditioned L-BFGS with
``method="lbfgs"`` (:mod:`bottleneck.optim.lbfgs`). It starts from the best of several
feasible points (:mod:`bottleneck.optim.starts`), stops when the Riemannian gradient norm
(first-order optimality on the rank-``d`` manifold, gauge-invariant) falls below ``tol``,
and recomputes the gap in float64 at the final point with :meth:`Target.gap_factors`.
Because the final point is an explicit rank-``d`` head, the reported ``gap`` is a certified
upper bound on ``G*(d)`` whatever the run's status; ``success`` says whether it is also a
first-order stationary point. The problem is non-convex in the factors: a converged run is a
stationary point, not necessarily the global optimum (tests check it against brute force on
tiny instances and against the certified lower bounds). Speed against Adam:
``experiments/bench_solver.py``.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

import numpy as np

from .. import _validation as _v
from .._device import resolve_device
from .._io import LockedError, check_writable_file, exclusive_lock, remove_orphaned_temporaries
from .._io import atomic_write_json as _atomic_write_json
from ..target import Target
from ._sweep_file import read_records
from .fisher import fisher_solution
from .lbfgs import minimize_factors
from .newton import minimize_factors_newton
from .objective import GapObjective
from .result import STATUSES, FisherSolution, Solution
from .starts import FISHER_START_LIMIT, factor_logits, svd_start, warm_starts, zeros_start

#: Entries of P from which Newton's inner Hessian products run in float32 (``"auto"``).
FLOAT32_HVP_MIN = 2**18
#: Default time budget of :func:`solve` in seconds (per call; ``max_seconds=None`` lifts it).
DEFAULT_MAX_SECONDS = 120.0
#: Entries of P from which ``progress=None`` shows a progress bar.
PROGRESS_MIN = 2**21

__all__ = ["Solution", "solve", "sweep"]


@dataclass(frozen=True)
class _Setup:
    """The validated problem: target (with the requested bias), rank, device and dtypes."""

    target: Target
    d: int
    bias: bool
    device: object
    dtype: object
    hvp_dtype: object
    tol: float
    method: str


def solve(
    target: Target,
    d: int,
    *,
    bias: bool | None = None,
    device: str = "auto",
    dtype=None,
    tol: float = 1e-8,
    max_iter: int = 20000,
    init="auto",
    seed: int = 0,
    chunk_size: int | None = None,
    check_every: int = 25,
    max_seconds: float | None = DEFAULT_MAX_SECONDS,
    method: str = "newton",
    n_starts: int = 2,
    fisher_logits=None,
    hvp_dtype="auto",
    progress: bool | None = None,
) -> Solution:
    """Numerically minimise ``G(H W^T (+ 1 b^T))`` over rank-``d`` heads (theory.md §4).

    Parameters
    ----------
    target : Target
        Any storage (chunked over contexts); zeros allowed (the loss reads the support).
    d : int
        Rank, ``0 <= d <= min(N, V)``.
    bias : bool, optional
        Free bias row; default ``target.bias``.
    device, dtype, chunk_size
        ``"auto"`` (CUDA if available), ``"cpu"``, ...; float64 on CPU, float32 on CUDA by
        default (the final gap is recomputed in float64); rows per chunk (memory ``O(chunk V)``).
    tol, max_iter, max_seconds
        Stop at Riemannian gradient norm ``||P_T(dG/dZ)||_F <= tol`` (float64 resolves about
        ``1e-10``), after ``max_iter`` Newton steps (L-BFGS iterations) or ``max_seconds``
        (default :data:`DEFAULT_MAX_SECONDS`; None: no time limit).
    method : {"newton", "lbfgs"}
        Trust-region Newton–CG or preconditioned L-BFGS (``check_every`` iterations between
        preconditioner updates).
    init : {"auto", "svd", "fisher", "zeros"} or Solution
        ``"auto"``: the truncated SVD of ``A_pi`` and the Fisher solution (``fisher_logits``:
        one already computed for this ``d`` and bias, a FisherSolution or its logits); a
        :class:`Solution` of rank ``<= d`` is extended by steepest rank-one directions;
        ``seed`` seeds ``"zeros"``. See :mod:`bottleneck.optim.starts`.
    n_starts : int
        The ``n_starts`` lowest-gap starts are each optimised (the problem is non-convex).
    hvp_dtype : torch.dtype or "auto"
        Precision of Newton's inner Hessian products; ``"auto"``: float32 from
        ``N V >= 2^18`` (where they are bandwidth-bound), else ``dtype``.
    progress : bool, optional
        tqdm bar of seconds against the budget, gap and gradient norm; None: if N V >= 2^21.

    Returns
    -------
    Solution
        ``gap`` is the float64 gap of the returned explicit head, a certified upper bound on
        ``G*(d)`` whatever its ``status`` and never above the best start's
        (proofs/theorem_u.md); ``success`` says the head is also first-order stationary;
        ``message``: why it stopped; for a target with zeros whose logits grew, that the
        infimum is approached only as logits go to ``-inf`` (no finite stationary head);
        after a budget stop, the gap's fall in the run's last quarter (:func:`recent_decrease`).

    Raises
    ------
    ValueError
        Bad arguments or ``init``, non-finite values during optimisation.
    """
    setup = _setup(target, d, bias, device, dtype, tol, method, n_starts, hvp_dtype)
    _check_options(max_iter, seed, chunk_size, check_every, max_seconds)
    t0 = time.perf_counter()
    starts = _starting_points(setup, init, seed, fisher_logits, max_seconds)
    obj = GapObjective(setup.target, setup.device, setup.dtype, chunk_size)
    n, v = setup.target.shape
    show = n * v >= PROGRESS_MIN if progress is None else _v.check_bool(progress, "progress")
    with _progress_bar(show, d, max_seconds) as callback:
        runs = _run_starts(
            setup, obj, starts[:n_starts], (max_iter, check_every, max_seconds), t0, callback
        )
    return _solution(setup, *runs, time.perf_counter() - t0)


def _run_starts(setup: _Setup, obj, starts, limits, t0, callback):
    """``(best, iterations, history)`` over the runs from each of ``starts`` while the
    budget ``limits = (max_iter, check_every, max_seconds)`` lasts (``best``: the lowest
    gap's :func:`_finish` tuple, its start and its run's own history)."""
    max_iter, check_every, max_seconds = limits
    best, iterations, history = None, 0, []
    for start in starts:
        start_point = (time.perf_counter() - t0, start[0])
        budget = None if max_seconds is None else max(max_seconds - start_point[0], 0.0)
        run = _minimize(setup, obj, start[2:], max_iter, check_every, budget, t0, callback)
        iterations += run.iterations
        run_history = [start_point, *run.history]
        history += run_history
        candidate = _finish(setup, obj, start, run)
        if best is None or candidate[0] < best[0]:
            best = candidate + (start, run_history)
        if max_seconds is not None and time.perf_counter() - t0 > max_seconds:
            break
    return best, iterations, history


class _progress_bar:
    """Context manager giving the minimisers' ``callback``: a tqdm bar of elapsed seconds
    (out of ``max_seconds`` when there is a budget) with the gap and gradient norm; None
    when not shown."""

    def __init__(self, show: bool, d: int, max_seconds):
        self.bar = None
        if show:
            from tqdm.auto import tqdm

            total = None if max_seconds is None else round(max_seconds)
            self.bar = tqdm(total=total, desc=f"solve d={d}", unit="s", leave=False)

    def __enter__(self):
        return None if self.bar is None else self.update

    def update(self, seconds: float, value: float, grad_norm: float) -> None:
        self.bar.n = round(seconds)
        self.bar.set_postfix(gap=f"{value:.6g}", grad=f"{grad_norm:.1e}")

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()
        return False


def _logit_scale(H, W, b, rows: int = 256) -> float:
    """``max |Z|`` of ``Z = H W^T (+ 1 b^T)``, in blocks of ``rows`` rows."""
    out = 0.0
    for s in range(0, H.shape[0], rows):
        Z = H[s : s + rows] @ W.T
        out = max(out, float(np.abs(Z if b is None else Z + b).max(initial=0.0)))
    return out


def _stop_message(setup: _Setup, status: str, start, H, W, b) -> str:
    """Why the run stopped (:data:`STATUSES`); for a target with zeros whose largest logit
    grew by more than a quarter during an unconverged run, also that the infimum is then
    approached only as logits go to ``-inf`` (no finite stationary head)."""
    message = STATUSES[status]
    if status == "converged" or setup.target.has_full_support or H.size == 0:
        return message
    before, after = _logit_scale(*start[2:]), _logit_scale(H, W, b)
    if after > 1.25 * before:
        message += (
            f"; the target has zeros and the largest |logit| grew from {before:.3g} to "
            f"{after:.3g} during the run: its infimum is approached only as some logits go "
            "to -inf, so no finite head is stationary and grad_norm may never reach tol "
            "(the gap is still a certified upper bound)"
        )
    return message


def recent_decrease(run_history, fraction: float = 0.25) -> float:
    """How much one run's gap fell during the last ``fraction`` of its time.

    ``min{g_k : t_k <= t_e - fraction (t_e - t_s)} - min_k g_k`` over the run's points
    ``(t_k, g_k)`` (its start, then each accepted step), ``t_s`` and ``t_e`` its first and
    last times; 0 for a single point. A budget stop with a decrease that is large against
    the accuracy wanted means the run was stopped while its gap was still falling.
    Units: nats/token.
    """
    times = np.array([t for t, _ in run_history], dtype=float)
    values = np.array([v for _, v in run_history], dtype=float)
    cut = times[-1] - fraction * (times[-1] - times[0])
    return float(values[times <= cut].min() - values.min())


def _solution(setup: _Setup, best, iterations: int, history: list, seconds: float) -> Solution:
    """The :class:`Solution` of the best run (``best``: :func:`_finish`'s tuple, the start
    and the run's history); a run stopped by a budget says in its message how much its gap
    fell during the last quarter of its time (:func:`recent_decrease`)."""
    gap, H, W, b, grad_norm, init_name, status, start, run_history = best
    message = _stop_message(setup, status, start, H, W, b)
    if status in ("max_seconds", "max_iter") and len(run_history) > 1:
        span = run_history[-1][0] - run_history[0][0]
        message += (
            f"; the gap fell by {recent_decrease(run_history):.3g} nats during the last "
            f"quarter of the run that gave this head (its last {0.25 * span:.3g} s)"
        )
    return Solution(
        d=setup.d,
        gap=gap,
        loss=setup.target.entropy() + gap,
        H=H,
        W=W,
        bias=b,
        status=status,
        grad_norm=grad_norm,
        iterations=iterations,
        seconds=seconds,
        device=str(setup.device),
        init=init_name,
        tol=setup.tol,
        history=tuple(history),
        message=message,
    )


def _setup(target, d, bias, device, dtype, tol, method, n_starts, hvp_dtype) -> _Setup:
    """Validate the arguments of :func:`solve` and resolve its defaults."""
    import torch

    if not isinstance(target, Target):
        raise ValueError(f"target must be a bottleneck.Target; got {type(target).__name__}")
    d = _v.check_rank(d)
    n, v = target.shape
    if d > min(n, v):
        raise ValueError(
            f"d = {d} exceeds min(N, V) = {min(n, v)}; rank-{min(n, v)} heads already reach every Z"
        )
    if isinstance(tol, bool) or not (
        isinstance(tol, (int, float, np.floating)) and tol > 0 and math.isfinite(tol)
    ):
        raise ValueError(f"tol must be finite and > 0; got {tol!r}")
    if method not in ("newton", "lbfgs"):
        raise ValueError(f"method must be 'newton' or 'lbfgs'; got {method!r}")
    n_starts = _v.check_int(n_starts, "n_starts", minimum=1)
    use_bias = target.bias if bias is None else _v.check_bool(bias, "bias")
    tgt = target if use_bias == target.bias else target.with_bias(use_bias)
    dev = resolve_device(device)
    if dtype is None:
        dtype = torch.float64 if dev.type == "cpu" else torch.float32
    if isinstance(hvp_dtype, str):
        if hvp_dtype != "auto":
            raise ValueError(f"hvp_dtype must be 'auto' or a torch dtype; got {hvp_dtype!r}")
        hvp_dtype = torch.float32 if n * v >= FLOAT32_HVP_MIN else dtype
    return _Setup(tgt, d, use_bias, dev, dtype, hvp_dtype, float(tol), method)


def _check_options(max_iter, seed, chunk_size, check_every, max_seconds) -> None:
    """Raise unless the loop options of :func:`solve` are integers (not floats or bools) and
    the time budget is None or a finite number >= 0."""
    _v.check_int(max_iter, "max_iter", minimum=0)
    _v.check_int(seed, "seed", minimum=0)
    _v.check_optional_int(chunk_size, "chunk_size", minimum=1)
    _v.check_int(check_every, "check_every", minimum=1)
    _v.check_budget(max_seconds, "max_seconds")


def _starting_points(setup: _Setup, init, seed: int, fisher_logits, max_seconds) -> list[tuple]:
    """``(gap, name, H, W, b)`` for every starting point ``init`` asks for, lowest gap first
    (the gap of each start is exact: every start is an explicit head)."""
    tgt, d, bias = setup.target, setup.d, setup.bias
    if not isinstance(init, (str, Solution)):
        raise _v.ArgumentTypeError(
            "init must be 'auto', 'svd', 'fisher', 'zeros' or a Solution; "
            f"got {type(init).__name__}"
        )
    if isinstance(init, Solution):
        candidates = warm_starts(init, tgt, d, bias)
    elif init in ("auto", "svd"):
        candidates = [("svd", *svd_start(tgt, d))]
        if init == "auto" and d > 0:
            candidates += _fisher_start(setup, fisher_logits, max_seconds)
    elif init == "fisher":
        candidates = [("fisher", *factor_logits(fisher_solution(tgt, d).logits(), d, bias))]
    elif init == "zeros":
        candidates = [("zeros", *zeros_start(tgt, d, bias, seed))]
    else:
        raise ValueError(
            f"init must be 'auto', 'svd', 'fisher', 'zeros' or a Solution; got {init!r}"
        )
    scored = [(tgt.gap_factors(H, W, b), name, H, W, b) for name, H, W, b in candidates]
    scored.sort(key=lambda c: c[0])
    return scored


def _fisher_start(setup: _Setup, fisher_logits, max_seconds) -> list[tuple]:
    """The Fisher start of ``init="auto"``: from ``fisher_logits`` when given, else computed
    (a quarter of the time budget) where the target is small enough for its dense logits."""
    tgt, d, bias = setup.target, setup.d, setup.bias
    n, v = tgt.shape
    if fisher_logits is not None:
        if isinstance(fisher_logits, FisherSolution):
            fisher_logits = fisher_logits.logits()
        Zf = np.asarray(fisher_logits, dtype=np.float64)
        if Zf.shape != (n, v) or not np.isfinite(Zf).all():
            raise ValueError(f"fisher_logits must be finite with shape {(n, v)}; got {Zf.shape}")
        return [("fisher", *factor_logits(Zf, d, bias))]
    if n * v > FISHER_START_LIMIT:
        return []
    try:
        budget = None if max_seconds is None else max_seconds / 4
        fs = fisher_solution(tgt, d, max_iter=500, max_seconds=budget)
        return [("fisher", *factor_logits(fs.logits(), d, bias))]
    except ValueError:
        return []


def _minimize(setup: _Setup, obj, factors, max_iter, check_every, budget, t0, callback=None):
    """One run of the chosen method from ``factors``, its clock counting from ``t0``
    (``callback(seconds, value, grad_norm)`` after each step or block)."""

    def clock():
        return time.perf_counter() - t0

    H0, W0, b0 = factors
    try:
        if setup.method == "newton":
            return minimize_factors_newton(
                obj,
                H0,
                W0,
                b0,
                tol=setup.tol,
                max_iter=max_iter,
                clock=clock,
                max_seconds=budget,
                hvp_dtype=setup.hvp_dtype,
                callback=callback,
            )
        return minimize_factors(
            obj,
            H0,
            W0,
            b0,
            tol=setup.tol,
            max_iter=max_iter,
            check_every=check_every,
            clock=clock,
            max_seconds=budget,
            callback=callback,
        )
    except FloatingPointError as exc:
        raise ValueError(
            f"non-finite gap during optimisation at d = {setup.d} ({exc}); try dtype=torch.float64"
        ) from None


def _finish(setup: _Setup, obj, start, run):
    """``(gap, H, W, b, grad_norm, init name, status)`` of one run, its gap recomputed in
    float64; a run that ended above its start (an explicit, feasible head) returns the
    start instead, with status ``"start_kept"`` unless the start is stationary."""
    import torch

    start_gap, name, H0, W0, b0 = start
    gap = setup.target.gap_factors(run.H, run.W, run.b)
    if gap <= start_gap:
        return gap, run.H, run.W, run.b, run.grad_norm, name, run.status
    tensors = (
        None if x is None else torch.as_tensor(x, device=setup.device, dtype=setup.dtype)
        for x in (H0, W0, b0)
    )
    grad_norm = obj.stationarity(*tensors)[1]
    status = "converged" if grad_norm <= setup.tol else "start_kept"
    return start_gap, H0, W0, b0, grad_norm, name, status


# ---------------------------------------------------------------------------- sweep
def sweep(
    target: Target, ds, *, path: str | None = None, progress: bool = True, **solve_kwargs
) -> list[Solution]:
    """Solve a list of ranks with warm starts, so the curve ``d -> gap`` is monotone.

    Ranks are solved in increasing order; rank ``d`` starts from the best of the rank-``d``
    defaults and the previous solution extended to rank ``d`` (whose gap is the previous
    gap), so ``gap(d) <= gap(d')`` for ``d > d'`` by construction.

    Parameters
    ----------
    target : Target
    ds : iterable of int
    path : str, optional
        JSON file of per-rank records (no factors), written atomically after each rank.
        If it exists and matches the target, solved ranks are skipped (resume) and their
        recorded gaps are kept; the warm start then restarts from the rank-``d`` defaults.
        Checked before any solve (writable; a malformed file or one of another target is a
        ValueError); ``path + ".lock"`` keeps a second sweep off the same file.
    progress : bool
        Show a tqdm progress bar over the ranks (and, on large targets, each solve's own).
    **solve_kwargs
        Passed to :func:`solve`; its ``max_seconds`` (default
        :data:`DEFAULT_MAX_SECONDS`) bounds each of the two solves per rank (defaults and
        warm start), so a sweep takes at most ``2 len(ds) max_seconds`` plus set-up.

    Returns
    -------
    list of Solution
        In increasing ``d`` (ranks read back from ``path`` have empty factors).
    """
    ranks, progress, fingerprint = _sweep_arguments(target, ds, path, progress, solve_kwargs)
    if path is None:
        return _sweep_ranks(target, ranks, None, progress, fingerprint, solve_kwargs)
    try:
        with exclusive_lock(f"{path}.lock"):
            remove_orphaned_temporaries(os.path.dirname(os.path.abspath(path)), [_basename(path)])
            return _sweep_ranks(target, ranks, path, progress, fingerprint, solve_kwargs)
    except LockedError:
        raise ValueError(
            f"another sweep is writing to {path}; wait for it to finish or choose another path"
        ) from None


def _basename(path) -> str:
    return os.path.basename(os.path.abspath(path))


def _sweep_ranks(target, ranks, path, progress, fingerprint, solve_kwargs) -> list[Solution]:
    """The loop of :func:`sweep` over validated ``ranks`` (holding the lock on ``path``)."""
    from tqdm.auto import tqdm

    done = read_records(path, fingerprint)
    solve_kwargs = {"progress": None if progress else False, **solve_kwargs}
    out: list[Solution] = []
    prev: Solution | None = None
    records = list(done.values())
    for d in tqdm(ranks, desc="sweep", disable=not progress):
        if d in done:
            sol = _solution_from_record(done[d])
            out.append(_envelope(out, sol))
            prev = out[-1]
            continue
        sol = solve(target, d, **solve_kwargs)
        if prev is not None and prev.H.size:
            warm = solve(target, d, **{**solve_kwargs, "init": prev})
            if warm.gap < sol.gap:
                sol = warm
        sol = _envelope(out, sol)  # monotone by construction: the padded head is feasible
        out.append(sol)
        prev = sol
        record = {**sol.to_record(), "history": list(sol.history)}
        records = [r for r in records if int(r["d"]) != d] + [record]
        if path is not None:
            records.sort(key=lambda r: r["d"])
            _atomic_write_json(path, {"target": fingerprint, "records": records})
    return out


def _solution_from_record(r: dict) -> Solution:
    """A :class:`Solution` read back from a sweep record (no factors)."""
    status = r.get("status") or ("converged" if r.get("converged") else "unknown")
    return Solution(
        d=int(r["d"]),
        gap=r["gap"],
        loss=r["loss"],
        H=np.zeros((0, 0)),
        W=np.zeros((0, 0)),
        bias=None,
        status=status,
        grad_norm=r["grad_norm"],
        iterations=r["iterations"],
        seconds=r["seconds"],
        device=r["device"],
        init=r.get("init", ""),
        tol=r.get("tol", 0.0),
    )


def _sweep_arguments(target, ds, path, progress, solve_kwargs) -> tuple:
    """``(ranks, progress, fingerprint)`` of :func:`sweep`, validated before any work: ranks
    as integers >= 0, ``path`` writable, the fingerprint with the bias the heads get."""
    if not isinstance(target, Target):
        raise _v.ArgumentTypeError(
            f"target must be a bottleneck.Target; got {type(target).__name__}"
        )
    if isinstance(ds, (str, bytes)) or not hasattr(ds, "__iter__"):
        raise _v.ArgumentTypeError(f"ds must be a list of ranks; got {ds!r}")
    ranks = sorted({_v.check_rank(d, "ds") for d in ds})
    if not ranks:
        raise ValueError("ds is empty; give at least one rank")
    if path is not None:
        check_writable_file(path, "sweep file")
    bias = solve_kwargs.get("bias")
    fingerprint = target.fingerprint()
    if bias is not None:
        fingerprint["bias"] = _v.check_bool(bias, "bias")
    return ranks, _v.check_bool(progress, "progress"), fingerprint


def _envelope(out: list[Solution], sol: Solution) -> Solution:
    """``sol``, or the previous rank's result padded to ``sol.d`` when that has a lower gap
    (a rank-``d'`` head with zero columns added is a rank-``d`` head): ``gap(d)`` is then
    non-increasing in ``d`` whatever was solved or read back."""
    if not out or sol.gap <= out[-1].gap:
        return sol
    last = out[-1]
    if not last.H.size:  # read back from a sweep file: the gap without the factors
        return _padded_copy(last, last, sol.d, init=f"rank {last.d} (read back, no factors)")
    return _padded_copy(last, last, sol.d)


def _padded_copy(last: Solution, prev: Solution, d: int, init: str = "") -> Solution:
    """``prev`` zero-padded to rank ``d``: a feasible rank-``d`` head with ``last``'s gap
    (no factors when ``prev`` has none)."""
    n, v = prev.H.shape[0], prev.W.shape[0]
    H = np.hstack([prev.H, np.zeros((n, d - prev.d))]) if prev.H.size else prev.H
    W = np.hstack([prev.W, np.zeros((v, d - prev.d))]) if prev.W.size else prev.W
    return Solution(
        d=d,
        gap=last.gap,
        loss=last.loss,
        H=H,
        W=W,
        bias=prev.bias,
        status=last.status,
        grad_norm=last.grad_norm,
        iterations=0,
        seconds=0.0,
        device=last.device,
        init=init or "padded previous rank",
        tol=last.tol,
    )
