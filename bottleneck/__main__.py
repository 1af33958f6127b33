"""Command line: ``python -m bottleneck`` (or the ``bottleneck`` entry point).

Without arguments it prints the certified sandwich for a default synthetic target
(power-law spectrum) at a few ranks: the main job until the demo of a later issue exists.
"""

from __future__ import annotations

import argparse
import sys


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bottleneck",
        description="Certified bounds on the best loss of a rank-d softmax head (nats/token).",
    )
    p.add_argument("--contexts", type=int, default=300, help="N, number of contexts (default 300)")
    p.add_argument("--vocab", type=int, default=400, help="V, vocabulary size (default 400)")
    p.add_argument("--spectrum", choices=["power", "exponential", "step"], default="power")
    p.add_argument("--decay", type=float, default=0.8, help="spectrum decay (default 0.8)")
    p.add_argument("--scale", type=float, default=6.0, help="largest singular value (default 6)")
    p.add_argument("--ranks", type=int, nargs="+", default=[4, 16, 64, 256], help="ranks d")
    p.add_argument("--bias", action="store_true", help="heads with a free bias")
    p.add_argument("--seed", type=int, default=0)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    import bottleneck as bn

    target, sigma = bn.targets.synthetic(
        args.contexts, args.vocab, spectrum=args.spectrum, decay=args.decay,
        scale=args.scale, seed=args.seed, bias=args.bias,
    )
    print(
        f"synthetic target: N={target.n_contexts}, V={target.vocab_size}, {args.spectrum} spectrum "
        f"(decay {args.decay}, sigma_1 {args.scale}), rank {sigma.size}\n"
    )
    for d in args.ranks:
        print(bn.bounds(target, d))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
