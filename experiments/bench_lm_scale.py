"""Benchmark (issue 24): a factored LM-sized target at N >> d, memory and the roofline ratio.

Target: ``p_i = softmax(U x_i)`` with N = 2,048 contexts, V = 262,144 tokens (Gemma 3's
vocabulary), D = 576 features; Gaussian ``U`` and ``x`` (the cost does not depend on the
values; the Gemma GGUF wheel is not installed here), float32 factors as an LM hands them
over. One float64 N x V array alone would be 4.3 GB.

Each measured call runs in a fresh process, so its peak resident memory (``ru_maxrss``) is
its own, the target's factors included:

* ``bounds(target, 64)``;
* ``solve(target, 64, max_iter=K, init="svd")`` (a count budget: ``K`` Newton steps);
* ``--one target`` and ``--one spectrum`` (not in the default run): the peak of building the
  target alone, and of its factored spectrum, to locate the peak of the calls below;
* ``pass``: one value-and-gradient pass of the solver's objective at the SVD start, timed
  against the roofline of the same size in the same process: for every row chunk, one
  ``(rows, D) x (D, V)`` teacher matmul, one ``(rows, d) x (d, V)`` head matmul and one
  ``exp`` of the ``(rows, V)`` result (what any pass must do at least). The ratio is pass /
  roofline.

Run::

    .venv/bin/python experiments/bench_lm_scale.py --iters 1 \
        --out experiments/results/bench_lm_scale.json
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

N, V, D, RANK = 2048, 262_144, 576, 64


def _target(n: int, v: int):
    import bottleneck as bn

    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, D)).astype(np.float32)
    U = (rng.standard_normal((v, D)) * (3.0 / np.sqrt(D))).astype(np.float32)
    return bn.Target.from_factors(X, U)


def _roofline(target, d: int, chunk: int) -> float:
    import torch

    # the target keeps float64 factors: used as they are, no conversion inside the timed loop
    X, U = (torch.as_tensor(np.asarray(a, dtype=np.float64)) for a in target.factors[:2])
    H = torch.randn(X.shape[0], d, dtype=torch.float64)
    W = torch.randn(U.shape[0], d, dtype=torch.float64)
    t0 = time.perf_counter()
    for s in range(0, X.shape[0], chunk):
        teacher = (X[s : s + chunk] @ U.T).exp_()
        head = (H[s : s + chunk] @ W.T).exp_()
        del teacher, head
    return time.perf_counter() - t0


def _one(what: str, n: int, v: int, iters: int) -> dict:
    import torch

    import bottleneck as bn
    from bottleneck.optim.objective import GapObjective
    from bottleneck.optim.starts import svd_start

    target = _target(n, v)
    t0 = time.perf_counter()
    out = {"what": what}
    if what == "target":
        pass  # the factors alone (generated in float64, kept as float32)
    elif what == "spectrum":
        out["values"] = int(len(bn.spectrum.factored_spectrum(target).values))
    elif what == "bounds":
        s = bn.bounds(target, RANK)
        out.update(lower=s.lower, upper=s.upper)
    elif what == "solve":
        sol = bn.solve(target, RANK, max_iter=iters, init="svd", max_seconds=None, progress=False)
        out.update(gap=sol.gap, status=sol.status, iterations=sol.iterations)
    else:
        obj = GapObjective(target, torch.device("cpu"), torch.float64)
        H, W, b = obj.tensors(*svd_start(target, RANK))
        t0 = time.perf_counter()
        value = obj.value_and_grad(H, W, b)[0]
        out.update(value=float(value))
        out["seconds"] = time.perf_counter() - t0
        out["roofline_seconds"] = _roofline(target, RANK, obj.chunk)
        out["ratio"] = out["seconds"] / out["roofline_seconds"]
        out["chunk_rows"] = obj.chunk
    out.setdefault("seconds", time.perf_counter() - t0)
    out["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=N)
    p.add_argument("--v", type=int, default=V)
    p.add_argument("--iters", type=int, default=2, help="Newton steps of the solve (a count)")
    p.add_argument(
        "--one", choices=["bounds", "solve", "pass", "target", "spectrum"], help=argparse.SUPPRESS
    )
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    if args.one:
        print(json.dumps(_one(args.one, args.n, args.v, args.iters)))
        return
    rows = []
    for what in ("pass", "bounds", "solve"):
        cmd = [sys.executable, __file__, "--one", what, "--n", str(args.n), "--v", str(args.v)]
        res = subprocess.run(cmd + ["--iters", str(args.iters)], capture_output=True, text=True)
        if res.returncode != 0:
            raise SystemExit(f"{what} failed:\n{res.stderr[-2000:]}")
        row = json.loads(res.stdout.strip().splitlines()[-1])
        print(row, flush=True)
        rows.append(row)
    result = dict(n=args.n, v=args.v, D=D, d=RANK, newton_steps=args.iters, runs=rows)
    if args.out:
        from bottleneck._io import atomic_write_json

        atomic_write_json(args.out, result)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
