"""Command line ``bottleneck`` (also ``python -m bottleneck``).

Subcommands::

    bottleneck demo [--out DIR] [--quick] [--fresh] the main job: figures + Markdown report
    bottleneck bounds FILE --d 16 [--logits]        certified sandwich of a probability/logit file
    bottleneck bounds --spectrum FILE --d 16        bounds from singular values alone
    bottleneck solve FILE --d 16                    numerical optimum (certified upper bound)
    bottleneck sweep FILE --ds 1,4,16 --out DIR     bounds + solver per d, CSV and plot
    bottleneck spectrum FILE [--k 20]               singular values and tail energies of A_pi
    bottleneck experiment [NAME [ARGS...]]          list, or run experiments/NAME.py

Files: see :data:`FILES_HELP` (``bottleneck --help``). A user's mistake (a missing or
unreadable file, a bad rank, an output folder that cannot be written) ends with one line
``bottleneck COMMAND: error: ...`` on stderr and exit status 2, before any long work starts.
Units: nats/token.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from .._io import check_writable_folder
from ..bounds import bounds, bounds_from_spectrum
from ..spectrum import centred_log_prob_spectrum
from ..target import Target
from .files import KEYS, InputError, load_array, probability_rows

#: solve's default budget (``bottleneck.optim.solver.DEFAULT_MAX_SECONDS``, repeated here so
#: that the CLI starts without importing torch; a test keeps them equal).
DEFAULT_MAX_SECONDS = 120.0

FILES_HELP = f"""\
input files (FILE, --spectrum, --weights): .npy, .npz or .pt (read without unpickling:
  numpy allow_pickle=False, torch weights_only=True).
  FILE: an (N, V) matrix, contexts x tokens; rows are probabilities (each sums to 1) unless
    --logits; --normalize divides rows (and weights) by their sums (counts). float32 or
    float16 probabilities are accepted when rows sum to 1 within 4 sqrt(V) eps of their
    dtype, and are then divided by their sums in float64.
  .npz keys (and .pt dict keys), first found: FILE {", ".join(KEYS["matrix"])};
    --spectrum {", ".join(KEYS["spectrum"])}; --weights {", ".join(KEYS["weights"])};
    otherwise the archive's only array.
  --weights FILE: N context weights pi_i > 0 summing to 1 (or any positive numbers with
    --normalize); uniform without it.
errors: one line on stderr, exit status 2."""


class UsageError(ValueError):
    """A mistake in the command line itself (reported like argparse's own errors)."""


class _Parser(argparse.ArgumentParser):
    """argparse, with errors on one line (no usage dump): exit status 2."""

    def error(self, message):
        one_line = " ".join(message.split())
        self.exit(2, f"{self.prog}: error: {one_line} (see {self.prog} --help)\n")


def _rank(text: str) -> int:
    """argparse type of a rank: an integer >= 0."""
    try:
        d = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a rank is an integer >= 0; got {text!r}") from None
    if d < 0:
        raise argparse.ArgumentTypeError(f"a rank is an integer >= 0; got {d}")
    return d


def _ranks(text: str) -> list[int]:
    """argparse type of ``--ds``: comma-separated ranks, at least one."""
    parts = [x.strip() for x in text.split(",")]
    if not text.strip() or any(not x for x in parts):
        raise argparse.ArgumentTypeError(
            f"--ds wants ranks separated by commas, e.g. 1,4,16; got {text!r}"
        )
    return [_rank(x) for x in parts]


def _positive(text: str) -> float:
    """argparse type of a budget in seconds: a finite number > 0."""
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not (v > 0 and np.isfinite(v)):
        raise argparse.ArgumentTypeError(f"want a finite number of seconds > 0; got {text!r}")
    return v


def _count(text: str) -> int:
    """argparse type of a count: an integer >= 1."""
    try:
        k = int(text)
    except ValueError:
        k = 0
    if k < 1:
        raise argparse.ArgumentTypeError(f"want an integer >= 1; got {text!r}")
    return k


def _target(args) -> Target:
    """The target of ``args.file`` (with ``--weights``, ``--logits``, ``--normalize``,
    ``--bias``); every problem is an InputError naming the file."""
    if not args.file:
        raise UsageError("give a FILE: an (N, V) matrix of probabilities (or --logits)")
    loaded = load_array(args.file, "matrix")
    weights, notes = None, []
    if args.weights:
        weights, note = _values(load_array(args.weights, "weights"), args.normalize)
        notes.append(note)
    try:
        if args.logits:
            target = Target.from_logits(
                loaded.values, weights=weights, bias=args.bias, normalize=args.normalize
            )
        else:
            P, note = _values(loaded, args.normalize)
            notes.append(note)
            target = Target.from_probs(P, weights=weights, bias=args.bias, normalize=args.normalize)
    except ValueError as exc:
        message = str(exc).replace("normalize=True", "--normalize")
        if args.weights and "weights" in message:
            raise InputError(f"{args.weights}: {message}") from None
        hint = " (or --logits if FILE holds logits)" if "sums to" in message else ""
        raise InputError(f"{args.file}: {message}{hint}") from None
    for note in filter(None, notes):
        print(note, file=sys.stderr)
    return target


def _values(loaded, normalize: bool):
    """``(values, note)`` of a probability file: as stored with ``--normalize`` (the target
    divides them), else :func:`~bottleneck.app.files.probability_rows`."""
    return (loaded.values, "") if normalize else probability_rows(loaded)


def demo(args) -> int:
    from .demo import run_demo

    run_demo(args.out, quick=args.quick, fresh=args.fresh)
    return 0


def cmd_bounds(args) -> int:
    if args.spectrum:
        if args.file:
            raise UsageError("give either FILE or --spectrum FILE, not both")
        s = load_array(args.spectrum, "spectrum").values
        try:
            print(bounds_from_spectrum(s, args.d, bias=args.bias))
        except ValueError as exc:
            raise InputError(f"{args.spectrum}: {exc}") from None
        return 0
    target = _target(args)
    if args.solve:
        from ..optim.sandwich import bounds_with_solver

        print(bounds_with_solver(target, args.d, solve_kwargs={"max_seconds": args.max_seconds}))
    else:
        print(bounds(target, args.d))
    return 0


def cmd_solve(args) -> int:
    from ..optim.solver import solve

    target = _target(args)
    _check_rank_fits(args.d, target)
    print(solve(target, args.d, max_seconds=args.max_seconds))
    return 0


def _check_rank_fits(d: int, target: Target) -> None:
    if d > min(target.shape):
        raise UsageError(
            f"--d {d} exceeds min(N, V) = {min(target.shape)} of {target.shape}; "
            f"use --d {min(target.shape)} or less (the gap is 0 from there on)"
        )


def cmd_sweep(args) -> int:
    from .report import bound_vs_loss_rows, markdown_table
    from .sweep_run import FIGURE, STATE, TABLE, run_sweep

    target = _target(args)
    out = check_writable_folder(args.out, "--out")
    ranks = sorted({min(d, min(target.shape)) for d in args.ds})
    settings = {"max_seconds": args.max_seconds, "trained": args.trained}

    def compute_row(d: int) -> dict:
        kwargs = dict(solve_seconds=args.max_seconds, trained=args.trained, progress=False)
        return bound_vs_loss_rows(target, [d], **kwargs)[0]

    def on_row(row: dict) -> None:
        print(f"d = {row['d']}: lower {row['lower']:.4g}, upper {row['upper']:.4g}", flush=True)

    rows = run_sweep(
        ranks,
        out,
        compute_row,
        fingerprint=target.fingerprint(),
        settings=settings,
        title=f"{Path(args.file).name}: bounds vs rank",
        restart=args.restart,
        on_row=on_row,
    )
    print(markdown_table(rows))
    print(f"wrote {out / TABLE} and {out / FIGURE} (resumable state {out / STATE})")
    return 0


def cmd_spectrum(args) -> int:
    spec = centred_log_prob_spectrum(_target(args))
    k = min(args.k, spec.values.size)
    print(f"top {k} singular values of A_pi: {np.array2string(spec.values[:k], precision=5)}")
    print("d, tail energy T_d: " + ", ".join(f"{d}: {spec.tail(d):.5g}" for d in range(k + 1)))
    return 0


def _experiments_folder() -> Path:
    return Path(__file__).resolve().parents[2] / "experiments"


def experiments() -> dict[str, str]:
    """``{name: first line of its docstring}`` of the experiment scripts of a source
    checkout (empty for an installed package without ``experiments/``)."""
    import ast

    out = {}
    for script in sorted(_experiments_folder().glob("*.py")):
        try:
            doc = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8"))) or ""
        except (OSError, SyntaxError, UnicodeDecodeError):
            doc = ""
        out[script.stem] = doc.strip().splitlines()[0] if doc.strip() else ""
    return out


def cmd_experiment(args) -> int:
    import runpy

    available = experiments()
    listing = "\n".join(f"  {name:<16} {line}" for name, line in available.items())
    if args.name is None:
        print("experiments (bottleneck experiment NAME [ARGS...]; NAME --help for options):")
        print(listing or f"  none: no experiments/ folder at {_experiments_folder()}")
        return 0
    if args.name not in available:
        raise UsageError(
            f"no experiment {args.name!r}; available: {', '.join(available) or 'none'} "
            "(experiments live in a source checkout)"
        )
    script = _experiments_folder() / f"{args.name}.py"
    sys.argv = [str(script)] + list(args.rest)
    runpy.run_path(str(script), run_name="__main__")
    return 0


def _file_args(p, max_seconds: float | None = None):
    p.add_argument(
        "file",
        nargs="?",
        help="(N, V) matrix of probabilities, or of logits with --logits (.npy/.npz/.pt)",
    )
    p.add_argument("--logits", action="store_true", help="FILE holds logits, not probabilities")
    p.add_argument(
        "--normalize",
        action="store_true",
        help="divide the rows of FILE (and the weights) by their sums, e.g. for counts",
    )
    p.add_argument(
        "--weights", metavar="FILE", help="context weights pi (N values; default uniform)"
    )
    p.add_argument("--bias", action="store_true", help="the heads have a free bias row")


def _add_commands(sub) -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    d = sub.add_parser(
        "demo",
        help="figures and a Markdown report for a synthetic and real targets (the main job)",
    )
    d.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    d.add_argument("--quick", action="store_true", help="synthetic target only (CI)")
    d.add_argument(
        "--fresh",
        action="store_true",
        help="recompute every number (default: reuse the rows cached in OUT/cache by an "
        "earlier run with the same settings)",
    )
    b = sub.add_parser(
        "bounds", help="certified sandwich for one d", epilog=FILES_HELP, formatter_class=formatter
    )
    _file_args(b)
    b.add_argument("--d", type=_rank, required=True, help="rank of the head (integer >= 0)")
    b.add_argument(
        "--spectrum", metavar="FILE", help="singular values of A_pi instead of a target FILE"
    )
    b.add_argument(
        "--solve", action="store_true", help="also run the solver and the Fisher estimate"
    )
    b.add_argument(
        "--max-seconds",
        type=_positive,
        default=DEFAULT_MAX_SECONDS,
        help=f"solver budget with --solve (default {DEFAULT_MAX_SECONDS:g})",
    )
    s = sub.add_parser(
        "solve", help="numerical optimum for one d", epilog=FILES_HELP, formatter_class=formatter
    )
    _file_args(s)
    s.add_argument("--d", type=_rank, required=True, help="rank of the head, <= min(N, V)")
    s.add_argument(
        "--max-seconds",
        type=_positive,
        default=DEFAULT_MAX_SECONDS,
        help=f"solver budget (default {DEFAULT_MAX_SECONDS:g})",
    )
    _add_sweep(sub, formatter)
    sp = sub.add_parser(
        "spectrum",
        help="singular values and tail energies of A_pi",
        epilog=FILES_HELP,
        formatter_class=formatter,
    )
    _file_args(sp)
    sp.add_argument("--k", type=_count, default=20, help="how many values (default 20)")
    e = sub.add_parser(
        "experiment", help="list the experiments, or run experiments/NAME.py (source checkout)"
    )
    e.add_argument("name", nargs="?", help="experiment to run; none: list them")
    e.add_argument("rest", nargs=argparse.REMAINDER, help="arguments of the experiment")


def _add_sweep(sub, formatter) -> None:
    from .sweep_run import OUTPUT_HELP

    w = sub.add_parser(
        "sweep",
        help="bounds + solver over several d; CSV and plot, written rank by rank (resumable)",
        epilog=FILES_HELP + "\n" + OUTPUT_HELP,
        formatter_class=formatter,
    )
    _file_args(w)
    w.add_argument("--ds", type=_ranks, required=True, help="ranks, comma-separated: 1,4,16,64")
    w.add_argument("--out", default="out/sweep", help="output folder (default out/sweep)")
    w.add_argument(
        "--max-seconds", type=_positive, default=30.0, help="solver budget per d (default 30)"
    )
    w.add_argument(
        "--trained",
        action="store_true",
        help="also train a rank-d head with Adam per d (column 'trained')",
    )
    w.add_argument(
        "--restart",
        action="store_true",
        help="replace the results in --out instead of resuming (another target or settings)",
    )


def parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="bottleneck",
        description="Certified bounds on the best loss of a rank-d softmax head "
        "(nats/token). Without a subcommand: the demo.",
        epilog=FILES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_commands(p.add_subparsers(dest="command"))
    return p


COMMANDS = {
    "demo": demo,
    "bounds": cmd_bounds,
    "solve": cmd_solve,
    "sweep": cmd_sweep,
    "spectrum": cmd_spectrum,
    "experiment": cmd_experiment,
}


def main(argv=None) -> int:
    """Run one command; a user's mistake prints one line and exits with status 2, an
    interruption with 130 (a sweep keeps its finished ranks)."""
    p = parser()
    args = p.parse_args(argv)
    command = args.command or "demo"
    if args.command is None:
        args = p.parse_args(["demo"])
    try:
        return COMMANDS[command](args)
    except (ValueError, OSError) as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"bottleneck {command}: error: {message}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        kept = " (finished ranks are kept: rerun the same command to resume)"
        print(
            f"bottleneck {command}: interrupted{kept if command == 'sweep' else ''}",
            file=sys.stderr,
        )
        raise SystemExit(130) from None
