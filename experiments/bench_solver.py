"""Benchmark: ``bn.solve`` against plain Adam on the factors (the paper's optimiser).

Same target, same machine, same run, same chunked float64 objective and gradient
(``bottleneck.optim.objective.GapObjective``) for every method. Two Adam baselines:

* ``paper``: Adam from the seed paper's initialisation, every factor entry ``N(0, 1)``
  (how [Godey2024] §5.1 trains rank-constrained heads; its peak learning rates for these
  ranks were 1e-2 to 2e-2).
* ``warm``: Adam from ``solve``'s own truncated-SVD start (a stronger baseline than the
  paper's); the time to compute that start is added to Adam's clock, as it is in ``solve``'s.

The reference optimum ``G_ref`` is the lowest gap any method reached. For each method we
report the wall time to reach ``G_ref + 1e-6`` (absolute, nats/token) and the ratio
Adam / solve (best learning rate). Adam runs for a fixed time cap per learning rate; when no
learning rate reaches the goal the ratio is reported as a lower bound ``cap / t_solve``.
Because a capped Adam may stall far above ``G_ref``, we also report an equal-accuracy ratio:
with ``L`` = Adam's best gap + 1e-6, ``t_Adam(L) / t_solve(L)`` (how much sooner ``solve``
reached the accuracy Adam reached at all).

Run: ``.venv/bin/python experiments/bench_solver.py [--quick] [--out results.json]``
(rows are written atomically after each configuration; ``--out`` resumes). Full run:
about 50 minutes on 2 CPU cores; ``--quick``: N = V = 512, d = 8 only, 20 s caps;
``--only N,V,d --cap S``: one configuration with longer caps (a lower bound ``cap / t_solve``
below 10 can be settled by a cap above ``10 t_solve``); ``--baselines paper --lrs 3e-2``
runs one baseline at chosen learning rates (to afford such caps); ``--repeat K`` measures
each configuration K times back to back and prints the median ratio (timings on a shared
machine vary by about ±20% between identical runs, and one ``solve`` at 512 x 512, d = 8
lasts under a second); ``--steps K`` runs Adam K steps per learning rate and ``solve`` to
convergence, with no time cap, so that every number but the timings is the same on any
machine (the tests use it).
Torch is warmed up before anything is timed (:func:`warm_up`).
Results kept in ``experiments/results/`` (``.log`` = the printed lines):
``bench_solver.json`` (this script as it stands), ``bench_solver_paper_long.json``
(``--only 512,512,64 --cap 720 --baselines paper --lrs 3e-2``: the paper's Adam at its
better learning rate with a cap above 10 ``t_solve``), ``bench_solver_repeat.json``
(``--quick --baselines paper --repeat 9``: the first configuration nine times). Earlier
solvers, kept for the record: ``bench_solver_cap320.json`` (2,000 x 5,000, d = 64, 320 s
caps, before the faster Hessian products), ``bench_solver_lbfgs.json`` and
``bench_solver_newton_partial.log`` (L-BFGS default; Newton before the one-pass state; warm
baseline only).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch

import bottleneck as bn
from bottleneck._io import atomic_write_json
from bottleneck.optim.objective import GapObjective
from bottleneck.optim.starts import svd_start

ACCURACY = 1e-6  # nats/token


def make_target(n, v, seed=0):
    """Power-law logits (decay 0.6, scale 30) plus 0.3 N(0, 1) noise: full rank, full support."""
    rng = np.random.default_rng(seed)
    t, _ = bn.targets.synthetic(n, v, "power", decay=0.6, scale=30.0, seed=seed)
    return bn.Target.from_logits(np.array(t.log_probs) + 0.3 * rng.standard_normal(t.shape))


def paper_init(target, d, seed=0):
    """Every entry of ``H`` (N x d) and ``W`` (V x d) i.i.d. N(0, 1), as in [Godey2024] §5.1."""
    gen = torch.Generator().manual_seed(seed)
    n, v = target.shape
    return (
        torch.randn(n, d, generator=gen, dtype=torch.float64).numpy(),
        torch.randn(v, d, generator=gen, dtype=torch.float64).numpy(),
    )


def run_adam(target, H0, W0, lr, cap_s, offset_s=0.0, *, max_steps=None, clock=time.perf_counter):
    """Full-batch Adam on (H, W); returns [(seconds, gap)] every 10 steps, clock starting at
    ``offset_s`` (the time it took to compute the start, if any). Stops at ``cap_s`` seconds
    of ``clock`` (None: no cap) or after ``max_steps`` steps (None: no limit)."""
    if cap_s is None and max_steps is None:
        raise ValueError("run_adam needs a time cap or a step limit")
    obj = GapObjective(target, torch.device("cpu"), torch.float64)
    H = torch.tensor(H0, requires_grad=True)
    W = torch.tensor(W0, requires_grad=True)
    opt = torch.optim.Adam([H, W], lr=lr)
    t0 = clock()
    hist = []
    step = 0
    while (cap_s is None or clock() - t0 + offset_s < cap_s) and (
        max_steps is None or step < max_steps
    ):
        with torch.no_grad():
            val, gH, gW, _ = obj.value_and_grad(H, W, None)
        if not torch.isfinite(val):
            break
        H.grad, W.grad = gH, gW
        opt.step()
        step += 1
        if step % 10 == 0:
            hist.append((clock() - t0 + offset_s, float(val)))
    return hist


def warm_up():
    """A small solve and a few Adam steps before anything is timed, so that neither side pays
    torch's one-off start-up costs (thread pool, first kernels) inside its clock: they are a
    visible share of a one-second run."""
    t = make_target(64, 64, seed=1)
    bn.solve(t, 4, init="svd", max_iter=20)
    H0, W0 = paper_init(t, 4)
    run_adam(t, H0, W0, 1e-2, None, max_steps=50)


def time_to(hist, goal):
    """First time in ``hist`` at which the gap is ``<= goal`` (None if never)."""
    for s, g in hist:
        if g <= goal:
            return s
    return None


def best_of(hist):
    return min((g for _, g in hist), default=float("inf"))


def compare(solve_hist, adam_hists, g_ref, cap):
    """Ratios of one Adam baseline (``{lr: history}``) against ``solve``.

    ``cap``: Adam's time cap in seconds; None when Adam ran a number of steps instead, and
    then the longest Adam run's last record stands for it in the lower bound."""
    goal = g_ref + ACCURACY
    t_solve = time_to(solve_hist, goal)
    t_adam = {lr: time_to(h, goal) for lr, h in adam_hists.items()}
    reached = [t for t in t_adam.values() if t is not None]
    best_adam = min(reached) if reached else None
    ratio = best_adam / t_solve if (best_adam is not None and t_solve) else None
    if cap is None:
        cap = max((h[-1][0] for h in adam_hists.values() if h), default=None)
    lower = cap / t_solve if (ratio is None and t_solve and cap is not None) else None
    # a baseline that recorded nothing (no learning rate, or every run shorter than its
    # first record, 10 steps) has no best gap and no equal-accuracy level
    adam_best_gap = min((best_of(h) for h in adam_hists.values()), default=float("inf"))
    level = adam_best_gap + ACCURACY if np.isfinite(adam_best_gap) else None
    levels = [] if level is None else [time_to(h, level) for h in adam_hists.values()]
    t_adam_level = min((t for t in levels if t is not None), default=None)
    t_solve_level = None if level is None else time_to(solve_hist, level)
    return dict(
        adam_seconds_to_goal={str(k): t for k, t in t_adam.items()},
        adam_best_gap={str(k): best_of(h) for k, h in adam_hists.items()},
        ratio_adam_over_solve=ratio,
        ratio_lower_bound=lower,
        equal_accuracy_level=level,
        adam_seconds_to_level=t_adam_level,
        solve_seconds_to_level=t_solve_level,
        ratio_at_equal_accuracy=(
            (t_adam_level / t_solve_level) if (t_adam_level is not None and t_solve_level) else None
        ),
    )


def describe(name, c, cap):
    if c["ratio_adam_over_solve"] is not None:
        r = f"{c['ratio_adam_over_solve']:.1f}x"
    elif c["ratio_lower_bound"] is not None:
        within = "the step limit" if cap is None else f"{cap:.0f} s"
        r = f"> {c['ratio_lower_bound']:.1f}x (no lr reached it within {within})"
    else:
        r = "n/a"
    eq = c["ratio_at_equal_accuracy"]
    return f"{name}: ratio {r}; at Adam's best accuracy {'n/a' if eq is None else f'{eq:.1f}x'}"


def summarise_repeats(rows, baselines):
    """One line per configuration measured several times: for each baseline, the ratios of
    the repeats and their median; a capped repeat counts with its lower bound, and the median
    is then itself a lower bound (printed "> x")."""
    head = f"N={rows[0]['N']} V={rows[0]['V']} d={rows[0]['d']}, {len(rows)} repeats:"
    parts = []
    for name in baselines:
        cs = [r[name] for r in rows if name in r]
        values = [
            c["ratio_adam_over_solve"]
            if c["ratio_adam_over_solve"] is not None
            else c["ratio_lower_bound"]
            for c in cs
        ]
        if not values or any(x is None for x in values):
            parts.append(f"{name} Adam: n/a")
            continue
        capped = any(c["ratio_adam_over_solve"] is None for c in cs)
        listed = ", ".join(f"{x:.1f}" for x in values)
        parts.append(
            f"{name} Adam: median {'> ' if capped else ''}"
            f"{float(np.median(values)):.1f}x ({listed})"
        )
    return " ".join([head, "; ".join(parts)])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--cap", type=float, default=None, help="Adam seconds per learning rate")
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help="Adam steps per learning rate instead of a time cap, and no time budget for "
        "solve: rows that do not depend on the machine's speed (tests)",
    )
    p.add_argument(
        "--out", default=None, help="JSON file of rows (written after each configuration; resumes)"
    )
    p.add_argument(
        "--only",
        default=None,
        metavar="N,V,d",
        help="run this configuration only (e.g. with a longer --cap)",
    )
    p.add_argument(
        "--lrs",
        default="1e-2,3e-2",
        help="Adam learning rates, comma-separated (default 1e-2,3e-2)",
    )
    p.add_argument(
        "--baselines",
        default="paper,warm",
        help="Adam baselines to run: paper, warm or both (default)",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="measure each configuration this many times, back to back (rows tagged 'repeat'); "
        "the median ratio over the repeats is printed at the end",
    )
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error(f"--repeat wants a positive integer; got {args.repeat}")
    if args.steps is not None and args.steps < 1:
        p.error(f"--steps wants a positive integer; got {args.steps}")
    try:
        lrs = [float(x) for x in args.lrs.split(",")]
        assert lrs and all(lr > 0 for lr in lrs)
    except (ValueError, AssertionError):
        p.error(f"--lrs wants positive numbers separated by commas; got {args.lrs!r}")
    baselines = args.baselines.split(",")
    if not baselines or any(b not in ("paper", "warm") for b in baselines):
        p.error(f"--baselines wants paper, warm or paper,warm; got {args.baselines!r}")
    # every core, unless OMP_NUM_THREADS says otherwise (on a shared machine, say)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or 0) or os.cpu_count() or 1)
    configs = (
        [(512, 512, 8)]
        if args.quick
        else [(512, 512, 8), (512, 512, 64), (2000, 5000, 8), (2000, 5000, 64)]
    )
    if args.only:
        try:
            configs = [tuple(int(x) for x in args.only.split(","))]
            assert len(configs[0]) == 3
        except (ValueError, AssertionError):
            p.error(f"--only wants N,V,d (three integers); got {args.only!r}")
    rows = []
    if args.out and os.path.exists(args.out):
        with open(args.out) as fh:
            rows = json.load(fh)
    done = {(r["N"], r["V"], r["d"], r.get("repeat", 0)) for r in rows}
    warm_up()
    for n, v, d, repeat in [(*c, k) for c in configs for k in range(args.repeat)]:
        if (n, v, d, repeat) in done:
            continue
        target = make_target(n, v)
        cap = args.cap or (20.0 if args.quick else (60.0 if n * v < 1e6 else 240.0))
        if args.steps is not None:
            cap = None
        budget = None if cap is None else 4 * cap
        sol = bn.solve(target, d, tol=1e-9, init="svd", max_iter=100000, max_seconds=budget)
        t = time.perf_counter()
        H0, W0, _ = svd_start(target, d)
        svd_seconds = time.perf_counter() - t
        runs = {}
        steps = dict(max_steps=args.steps)
        if "warm" in baselines:
            runs["warm"] = {
                lr: run_adam(target, H0, W0, lr, cap, offset_s=svd_seconds, **steps) for lr in lrs
            }
        if "paper" in baselines:
            Hp, Wp = paper_init(target, d)
            runs["paper"] = {lr: run_adam(target, Hp, Wp, lr, cap, **steps) for lr in lrs}
        g_ref = min([sol.gap] + [best_of(h) for hists in runs.values() for h in hists.values()])
        row = dict(
            N=n,
            V=v,
            d=d,
            repeat=repeat,
            G_ref=g_ref,
            accuracy=ACCURACY,
            adam_cap_seconds=cap,
            learning_rates=lrs,
            solve_gap=sol.gap,
            solve_converged=sol.converged,
            solve_grad_norm=sol.grad_norm,
            solve_iterations=sol.iterations,
            solve_seconds=sol.seconds,
            solve_seconds_to_goal=time_to(sol.history, g_ref + ACCURACY),
            svd_start_seconds=svd_seconds,
            **{name: compare(sol.history, hists, g_ref, cap) for name, hists in runs.items()},
        )
        rows.append(row)
        if args.out:  # after every configuration, atomically: an interrupted run keeps its rows
            atomic_write_json(args.out, rows)
        ts = row["solve_seconds_to_goal"]
        print(
            f"N={n} V={v} d={d}: G_ref={g_ref:.8f} solve {'n/a' if ts is None else f'{ts:.2f} s'} "
            f"({'converged' if sol.converged else 'NOT converged'}); "
            + "; ".join(describe(f"{name} Adam", row[name], cap) for name in runs),
            flush=True,
        )
    if args.repeat > 1:
        for n, v, d in configs:
            print(
                summarise_repeats(
                    [r for r in rows if (r["N"], r["V"], r["d"]) == (n, v, d)], baselines
                ),
                flush=True,
            )
    return rows


if __name__ == "__main__":
    main()
