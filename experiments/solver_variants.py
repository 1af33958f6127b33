"""Newton variants tried against the crawl of ``solve`` on sparse bigrams (issue 15), not kept.

Each variant runs ``solve`` on the KJV word bigrams (300 contexts, ``min_count=20``,
300 x 25,750) at rank ``--d`` for ``--seconds`` with one start, in the same process as the
shipped trust-region Newton (``baseline``), so the gaps compare at equal wall time:

* ``block``: the diagonal scaling of the trust region replaced by the Cholesky factors of the
  ``d x d`` Gauss–Newton blocks of each row of ``H`` (``pi_i Cov_{q_i}(W)``) and each column
  of ``W`` (``sum_i pi_i q_ij (1 - q_ij) h_i h_i^T``), damped by ``--damp`` times their mean
  eigenvalue: an affine-invariant ball, which lets a column move far along a direction of
  tiny curvature (a recession direction) while it stays short along the others.
* ``extrapolate``: every 10 accepted steps, the factors moved along their displacement over
  those steps by the best ``alpha`` in ``1, 2, 4, ...`` (a value pass each).
* ``balance``: after each accepted step, the gauge ``H -> H R, W -> W R^{-T}`` that gives
  both factors the same singular values (``H^T H = W^T W``).
* ``continuation``: the shipped Newton on the smoothed targets ``(1 - eps) P + eps / V``
  (full support: a finite minimiser) for ``eps = 1e-2, 1e-3, 1e-4, 1e-5``, a tenth of the
  budget each, each warm-started from the last, then on ``P`` for the rest of the budget.

Run: ``OMP_NUM_THREADS=2 .venv/bin/python experiments/solver_variants.py [--seconds 60]
[--d 4] [--damp 1e-3] [--only block,continuation]`` (about ``5 x seconds`` for all).
Results and what they mean: experiments/README.md, "Real targets".
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

import bottleneck as bn
from bottleneck.optim import newton, solver
from bottleneck.optim.result import FactorRun, RunClock, stop_status


def gauss_newton_blocks(state):
    """``(B_H, B_W)``: the ``d x d`` Gauss–Newton blocks of the rows of ``H`` (``N x d x d``)
    and of the columns of ``W`` (``V x d x d``) at a Newton state."""
    H, W, b, obj = state.H, state.W, state.b, state.obj
    n, d = H.shape
    v = W.shape[0]
    WW = (W[:, :, None] * W[:, None, :]).reshape(v, d * d)
    HH = (H[:, :, None] * H[:, None, :]).reshape(n, d * d)
    BH = torch.empty(n, d * d, dtype=H.dtype)
    BW = torch.zeros(v, d * d, dtype=H.dtype)
    for k, sl in enumerate(obj.chunks(n)):
        if state.curvature_weights is not None:
            Q = state.curvature_weights[k]
        else:
            Q = torch.softmax(obj._logits(H, W, b, sl), dim=1)
        w = obj.w[sl, None]
        m = Q @ W
        BH[sl] = w * (Q @ WW - (m[:, :, None] * m[:, None, :]).reshape(-1, d * d))
        BW += ((Q - Q * Q) * w).T @ HH[sl]
    return BH.view(n, d, d), BW.view(v, d, d)


class BlockModel(newton._Model):
    """:class:`bottleneck.optim.newton._Model` with block (Cholesky) instead of diagonal
    scaling; bias entries, if any, keep the diagonal one."""

    damp = 1e-3

    def __init__(self, state, layout):
        self.state, self.layout = state, layout
        blocks = torch.cat(gauss_newton_blocks(state))
        d = blocks.shape[-1]
        trace = torch.diagonal(blocks, dim1=-2, dim2=-1).sum(-1)
        eye = torch.eye(d, dtype=blocks.dtype)
        self.L = torch.linalg.cholesky(blocks + (self.damp * trace.mean() / d + 1e-300) * eye)
        self.L_hvp = self.L.to(state.hvp_dtype)
        self.n_block = blocks.shape[0] * d
        Db = state.diag[2]
        self.Sb = None if Db is None else torch.sqrt(Db + 1e-3 * Db.mean() + 1e-300)
        g = self._solve(layout.flat(state.grad), self.L, transpose=False)
        self.g = g.to(state.hvp_dtype)
        self.gnorm = math.sqrt(float(g @ g))
        self.products = []

    def _solve(self, x, L, transpose):
        head, rest = x[: self.n_block].view(L.shape[0], -1, 1), x[self.n_block :]
        M = L.transpose(-1, -2) if transpose else L
        out = torch.linalg.solve_triangular(M, head, upper=transpose).reshape(-1)
        if self.Sb is not None:
            rest = rest / self.Sb.to(x.dtype)
        return torch.cat([out, rest])

    def hess(self, k, v):
        if k < len(self.products):
            return self.products[k]
        Hv = self._solve(self.state.hvp_flat(self._solve(v, self.L_hvp, True)), self.L_hvp, False)
        self.products.append(Hv)
        return Hv

    def step(self, p):
        return self.layout.unflat(self._solve(p.to(self.L.dtype), self.L, True))


def balanced(H, W):
    """The gauge of ``H W^T`` with ``H^T H = W^T W`` (same product)."""
    Uh, Rh = torch.linalg.qr(H)
    Uw, Rw = torch.linalg.qr(W)
    A, S, Bt = torch.linalg.svd(Rh @ Rw.T)
    r = S.sqrt()
    return Uh @ (A * r), Uw @ (Bt.T * r)


def newton_with(after_step):
    """``minimize_factors_newton`` (no bias) with ``after_step(obj, H, W, count)`` applied to
    the factors after each accepted step."""

    def minimize(
        obj,
        H0,
        W0,
        b0,
        *,
        tol,
        max_iter,
        clock=None,
        max_seconds=None,
        max_cg=100,
        hvp_dtype=None,
        callback=None,
    ):
        assert b0 is None
        timer = RunClock(clock, max_seconds)
        H, W, _ = obj.tensors(H0, W0, None)
        layout = newton._FlatLayout(H, W, None)
        history, iterations, radius, accepted_steps, reason = [], 0, None, 0, None
        with torch.no_grad():
            state = obj.second_order_state(H, W, None, hvp_dtype)
            model = newton._Model(state, layout)
            while state.grad_norm > tol and iterations < max_iter:
                if timer.out_of_time():
                    reason = "max_seconds"
                    break
                if radius is None:
                    radius = 0.1 * max(model.gnorm, 1e-12) ** 0.5
                step, _, accepted, radius = newton._trust_region_step(
                    model, radius, min(max_cg, layout.size + 5), timer.out_of_time
                )
                iterations += 1
                if accepted:
                    accepted_steps += 1
                    H, W = after_step(obj, H + step[0], W + step[1], accepted_steps)
                    state = obj.second_order_state(H, W, None, hvp_dtype)
                    model = newton._Model(state, layout)
                    history.append((timer.clock(), state.value))
        if reason is None and state.grad_norm > tol:
            reason = "max_iter"
        return FactorRun(
            H.double().numpy(),
            W.double().numpy(),
            None,
            grad_norm=state.grad_norm,
            iterations=iterations,
            seconds=timer.elapsed(),
            status=stop_status(state.grad_norm, tol, reason),
            history=tuple(history),
        )

    return minimize


class Extrapolation:
    """``after_step`` moving the factors along their last ``every``-step displacement."""

    def __init__(self, every=10):
        self.every, self.anchor, self.alphas = every, None, []

    def __call__(self, obj, H, W, count):
        if self.anchor is None:
            self.anchor = (H.clone(), W.clone())
        if count % self.every:
            return H, W
        dH, dW = H - self.anchor[0], W - self.anchor[1]
        v0, best, alpha = float(obj.value(H, W, None)), (0.0, 0.0), 1.0
        while alpha < 2**12:
            gain = v0 - float(obj.value(H + alpha * dH, W + alpha * dW, None))
            if not gain > best[1]:
                break
            best, alpha = (alpha, gain), 2 * alpha
        self.alphas.append(best[0])
        H, W = H + best[0] * dH, W + best[0] * dW
        self.anchor = (H.clone(), W.clone())
        return H, W


def continuation(target, d, seconds, eps_schedule=(1e-2, 1e-3, 1e-4, 1e-5)):
    """Variant ``continuation``: ``solve`` on smoothed copies of ``target``, then on it; the
    stages as ``(eps, gap on the smoothed target, gap on target, Newton steps)``."""
    P = np.asarray(target.probs)  # dense for every storage (up to DENSE_LIMIT entries)
    weights = np.asarray(target.weights)
    t0, sol, stages = time.perf_counter(), None, []
    for eps in eps_schedule:
        smooth = bn.Target.from_probs((1 - eps) * P + eps / P.shape[1], weights=weights)
        sol = bn.solve(
            smooth,
            d,
            max_seconds=seconds / 10,
            n_starts=1,
            progress=False,
            init="auto" if sol is None else sol,
        )
        stages.append((eps, sol.gap, target.gap_factors(sol.H, sol.W), sol.iterations))
    left = max(seconds - (time.perf_counter() - t0), 0.0)
    final = bn.solve(target, d, max_seconds=left, n_starts=1, progress=False, init=sol)
    return final, stages


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--d", type=int, default=4)
    p.add_argument("--damp", type=float, default=1e-3)
    p.add_argument("--only", default="baseline,block,extrapolate,balance,continuation")
    args = p.parse_args(argv)
    chosen = args.only.split(",")
    t = bn.targets.ngram(
        bn.corpora.kjv(), order=2, tokenizer="words", min_count=20, max_contexts=300
    )
    original = (newton._Model, solver.minimize_factors_newton)
    extrapolation = Extrapolation()
    variants = {
        "baseline": original,
        "block": (BlockModel, original[1]),
        "extrapolate": (original[0], newton_with(extrapolation)),
        "balance": (original[0], newton_with(lambda obj, H, W, k: balanced(H, W))),
    }
    BlockModel.damp = args.damp
    for name, (model, minimize) in variants.items():
        if name not in chosen:
            continue
        newton._Model, solver.minimize_factors_newton = model, minimize
        try:
            sol = bn.solve(t, args.d, max_seconds=args.seconds, n_starts=1, progress=False)
        finally:
            newton._Model, solver.minimize_factors_newton = original
        extra = f", alphas {extrapolation.alphas}" if name == "extrapolate" else ""
        print(
            f"{name}: d = {args.d}, {args.seconds:.0f} s: gap {sol.gap:.6g}, grad "
            f"{sol.grad_norm:.1e}, {sol.iterations} Newton steps{extra}",
            flush=True,
        )
    if "continuation" in chosen:
        sol, stages = continuation(t, args.d, args.seconds)
        steps = "; ".join(
            f"eps {e:g}: {g:.6g} smoothed, {r:.6g} on P, {k} steps" for e, g, r, k in stages
        )
        print(
            f"continuation: d = {args.d}, {args.seconds:.0f} s: gap {sol.gap:.6g}, grad "
            f"{sol.grad_norm:.1e} ({steps})",
            flush=True,
        )


if __name__ == "__main__":
    main()
