"""Benchmark: ``bn.solve`` against plain Adam on the factors (issue 3 acceptance).

Adam on ``(H, W)`` is how the seed paper trains rank-constrained heads [Godey2024]. Both
methods start from the same truncated-SVD factors, evaluate the same chunked float64
objective and gradient (``bottleneck._objective.GapObjective``), on the same machine, in
the same run. The reference optimum ``G_ref`` is the lowest gap either method reached;
we report the wall time each needs to reach ``G_ref + 1e-6`` (absolute, nats/token) and the
ratio Adam/solve. Adam gets a small learning-rate sweep and a time cap per learning rate;
a capped run is reported as ``> cap`` (so the ratio is then a lower bound).

Run: ``.venv/bin/python experiments/bench_solver.py [--quick] [--out results.json]``
(rows are written after each configuration). Results kept in ``experiments/results/``:
``bench_solver_lbfgs.json`` (L-BFGS default, full run) and
``bench_solver_newton_partial.log`` (Newton default; the last configuration was interrupted).
(full run: about 60 minutes on 2 CPU cores; ``--quick``: N=V=512 only, small cap).
``solve`` gets 4x Adam's per-learning-rate cap as its own wall-time budget.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

import bottleneck as bn
from bottleneck._io import atomic_write_json
from bottleneck._objective import GapObjective
from bottleneck.solver import _svd_init


def make_target(n, v, seed=0):
    rng = np.random.default_rng(seed)
    t, _ = bn.targets.synthetic(n, v, "power", decay=0.6, scale=30.0, seed=seed)
    return bn.Target.from_logits(np.array(t.log_probs) + 0.3 * rng.standard_normal(t.shape))


def run_adam(target, d, lr, cap_s, goal=None):
    """Full-batch Adam on (H, W) from the SVD start; returns [(seconds, gap)] every 10 steps."""
    H0, W0, _ = _svd_init(target, d)
    obj = GapObjective(target, torch.device("cpu"), torch.float64)
    H = torch.tensor(H0, requires_grad=True)
    W = torch.tensor(W0, requires_grad=True)
    opt = torch.optim.Adam([H, W], lr=lr)
    t0 = time.perf_counter()
    hist = []
    step = 0
    while time.perf_counter() - t0 < cap_s:
        with torch.no_grad():
            val, gH, gW, _ = obj.value_and_grad(H, W, None)
        H.grad, W.grad = gH, gW
        opt.step()
        step += 1
        if step % 10 == 0:
            hist.append((time.perf_counter() - t0, float(val)))
            if goal is not None and float(val) <= goal:
                break
    return hist


def time_to(hist, goal):
    for s, g in hist:
        if g <= goal:
            return s
    return None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--cap", type=float, default=None, help="Adam seconds per learning rate")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(os.cpu_count() or 1)
    configs = [(512, 512, 8), (512, 512, 64)] if args.quick else [(512, 512, 8), (512, 512, 64), (2000, 5000, 8), (2000, 5000, 64)]
    lrs = [1e-2, 3e-2] if not args.quick else [3e-2]
    rows = []
    for n, v, d in configs:
        target = make_target(n, v)
        cap = args.cap or (20.0 if args.quick else (60.0 if n * v < 1e6 else 300.0))
        sol = bn.solve(target, d, tol=1e-9, init="svd", max_iter=100000, max_seconds=4 * cap)
        adam = {lr: run_adam(target, d, lr, cap) for lr in lrs}
        g_ref = min([sol.gap] + [min(g for _, g in h) for h in adam.values() if h])
        goal = g_ref + 1e-6
        t_solve = time_to(sol.history, goal)
        t_adam = {lr: time_to(h, goal) for lr, h in adam.items()}
        reached = [t for t in t_adam.values() if t is not None]
        best_adam = min(reached) if reached else None
        ratio = (best_adam / t_solve) if (best_adam and t_solve) else None
        row = dict(N=n, V=v, d=d, G_ref=g_ref, solve_gap=sol.gap, solve_converged=sol.converged,
                   solve_seconds_to_goal=t_solve, adam_seconds_to_goal={str(k): t for k, t in t_adam.items()},
                   adam_cap_seconds=cap, adam_best_gap={str(k): min(g for _, g in h) for k, h in adam.items()},
                   ratio_adam_over_solve=ratio,
                   ratio_lower_bound=None if ratio is not None or t_solve is None else cap / t_solve)
        rows.append(row)
        if args.out:  # after every configuration, atomically: an interrupted run keeps its rows
            atomic_write_json(args.out, rows)
        rb = f"{ratio:.1f}x" if ratio else (f"> {cap / t_solve:.1f}x (Adam capped at {cap:.0f} s)" if t_solve else "n/a")
        print(f"N={n} V={v} d={d}: G_ref={g_ref:.8f}  solve {t_solve if t_solve is None else round(t_solve, 2)} s  "
              f"Adam(best lr) {best_adam if best_adam is None else round(best_adam, 2)} s  ratio {rb}", flush=True)


if __name__ == "__main__":
    main()
