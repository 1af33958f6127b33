"""Command line ``bottleneck`` (also ``python -m bottleneck``).

Subcommands::

    bottleneck demo [--out DIR] [--quick]          the main job: figures + Markdown report
    bottleneck bounds FILE --d 16 [--logits]        certified sandwich of a probability/logit file
    bottleneck bounds --spectrum FILE --d 16        bounds from singular values alone
    bottleneck solve FILE --d 16                    numerical optimum (certified upper bound)
    bottleneck sweep FILE --ds 1,4,16 --out DIR     bounds + solver per d, CSV and plot
    bottleneck spectrum FILE [--k 20]               singular values and tail energies of A_pi
    bottleneck experiment NAME [ARGS...]            run experiments/NAME.py of a source checkout

Files: ``.npy``, ``.npz`` (key ``P``, ``probs``, ``logits`` or the first array) or ``.pt``
holding an (N, V) matrix; rows are probabilities unless ``--logits``. Units: nats/token.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ..bounds import bounds, bounds_from_spectrum
from ..spectrum import centred_log_prob_spectrum
from ..target import Target


def _load_matrix(path: str) -> np.ndarray:
    p = Path(path)
    if not p.is_file():
        raise SystemExit(f"no such file: {path}")
    if p.suffix == ".npy":
        return np.load(p)
    if p.suffix == ".npz":
        with np.load(p) as z:
            for key in ("P", "probs", "logits", "Z", "singular_values"):
                if key in z:
                    return z[key]
            return z[z.files[0]]
    if p.suffix == ".pt":
        import torch

        return torch.load(p, map_location="cpu").detach().double().numpy()
    raise SystemExit(f"unsupported file type {p.suffix!r}: use .npy, .npz or .pt")


def _target(args) -> Target:
    M = _load_matrix(args.file)
    try:
        if args.logits:
            return Target.from_logits(M, bias=args.bias)
        return Target.from_probs(M, bias=args.bias, normalize=args.normalize)
    except ValueError as exc:
        raise SystemExit(
            f"{args.file}: {exc} (pass --logits for logits, --normalize for counts)"
        ) from None


def demo(args) -> int:
    from .demo import run_demo

    run_demo(args.out, quick=args.quick)
    return 0


def cmd_bounds(args) -> int:
    if args.spectrum:
        s = _load_matrix(args.spectrum).ravel()
        print(bounds_from_spectrum(s, args.d))
        return 0
    if not args.file:
        raise SystemExit("give a probability/logit FILE or --spectrum FILE")
    if args.solve:
        from ..optim.sandwich import bounds_with_solver

        print(bounds_with_solver(_target(args), args.d))
    else:
        print(bounds(_target(args), args.d))
    return 0


def cmd_solve(args) -> int:
    from ..optim.solver import solve

    print(solve(_target(args), args.d, max_seconds=args.max_seconds))
    return 0


def cmd_sweep(args) -> int:
    from .plots import plot_bounds_vs_rank
    from .report import bound_vs_loss_rows, markdown_table, write_csv

    target = _target(args)
    ds = [int(x) for x in args.ds.split(",")]
    rows = bound_vs_loss_rows(target, ds, solve_seconds=args.max_seconds, trained=args.trained)
    out = Path(args.out)
    write_csv(rows, out / "sweep.csv")
    plot_bounds_vs_rank(rows, f"{Path(args.file).name}: bounds vs rank", out / "sweep.png")
    print(markdown_table(rows))
    print(f"wrote {out / 'sweep.csv'} and {out / 'sweep.png'}")
    return 0


def cmd_spectrum(args) -> int:
    spec = centred_log_prob_spectrum(_target(args))
    k = min(args.k, spec.values.size)
    print(f"top {k} singular values of A_pi: {np.array2string(spec.values[:k], precision=5)}")
    print("d, tail energy T_d: " + ", ".join(f"{d}: {spec.tail(d):.5g}" for d in range(k + 1)))
    return 0


def cmd_experiment(args) -> int:
    import runpy

    script = Path(__file__).resolve().parents[2] / "experiments" / f"{args.name}.py"
    if not script.is_file():
        raise SystemExit(
            f"no experiment {args.name!r} (looked for {script}; "
            "experiments live in a source checkout)"
        )
    sys.argv = [str(script)] + list(args.rest)
    runpy.run_path(str(script), run_name="__main__")
    return 0


def _file_args(p):
    p.add_argument(
        "file", nargs="?", help=".npy/.npz/.pt matrix of probabilities (or logits with --logits)"
    )
    p.add_argument("--logits", action="store_true", help="the file holds logits")
    p.add_argument("--normalize", action="store_true", help="divide rows by their sums (counts)")
    p.add_argument("--bias", action="store_true", help="heads with a free bias")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bottleneck",
        description="Certified bounds on the best loss of a rank-d softmax head "
        "(nats/token). Without a subcommand: the demo.",
    )
    sub = p.add_subparsers(dest="command")
    d = sub.add_parser(
        "demo", help="figures and a Markdown report for a synthetic and real targets (the main job)"
    )
    d.add_argument("--out", default="out/demo")
    d.add_argument("--quick", action="store_true", help="synthetic target only (CI)")
    b = sub.add_parser("bounds", help="certified sandwich for one d")
    _file_args(b)
    b.add_argument("--d", type=int, required=True)
    b.add_argument(
        "--spectrum", default=None, help="file of singular values of A_pi instead of a target"
    )
    b.add_argument(
        "--solve", action="store_true", help="also run the solver and the Fisher estimate"
    )
    s = sub.add_parser("solve", help="numerical optimum for one d")
    _file_args(s)
    s.add_argument("--d", type=int, required=True)
    s.add_argument("--max-seconds", type=float, default=None)
    w = sub.add_parser("sweep", help="bounds + solver over several d; CSV and plot")
    _file_args(w)
    w.add_argument("--ds", required=True, help="comma-separated ranks, e.g. 1,4,16,64")
    w.add_argument("--out", default="out/sweep")
    w.add_argument("--max-seconds", type=float, default=30.0, help="solver budget per d")
    w.add_argument(
        "--trained",
        action="store_true",
        help="also train a rank-d head with Adam per d (column 'trained')",
    )
    sp = sub.add_parser("spectrum", help="singular values and tail energies of A_pi")
    _file_args(sp)
    sp.add_argument("--k", type=int, default=20)
    e = sub.add_parser("experiment", help="run experiments/NAME.py (source checkout)")
    e.add_argument("name")
    e.add_argument("rest", nargs=argparse.REMAINDER)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    command = args.command or "demo"
    if args.command is None:
        args = parser().parse_args(["demo"])
    return {
        "demo": demo,
        "bounds": cmd_bounds,
        "solve": cmd_solve,
        "sweep": cmd_sweep,
        "spectrum": cmd_spectrum,
        "experiment": cmd_experiment,
    }[command](args)
