"""Theorem B ablation: what each ingredient of the certified lower bound contributes.

The numbers behind "what did not help" in proofs/theorem_b.md. For synthetic targets
(N = 200, V = 300) at d = 1 and 8, every variant's certified value divided by the solver's
gap (``bn.solve``, an explicit head):

* ``proposal``: docs/lower_bounds.md's form, one block: Huber split with the rho = b/r
  scalings, rank-one minorant, Ky Fan, ``max_k huber(K_k; 1, b, k)``, best ``b`` on a grid;
* ``huber_M``: the same block and scalings, Lemma M per singular value
  (``sum_j huber_b(beta_{d+j})``, :func:`bottleneck.bounds.theorem_b_huber`);
* ``phi_M``: one block, ``phi_e`` family (Theorem B as shipped, a single block);
* ``tiles``: the search's tilings, no layers;
* ``default``: the search as ``bounds()`` runs it (tilings and layers).

Also the quadratic-limit diagnostics: ``minorant_quad / E_F`` (how much the best rank-one
minorant of ``sqrt(w)`` keeps of the Fisher value even with every error in the quadratic
regime) and ``entrywise / spectral`` at the SVD residual of one block (Lemma M's
concentration loss).

    .venv/bin/python experiments/theorem_b_ablation.py --out experiments/results

Writes ``theorem_b_ablation.csv`` and prints the table (about 2 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import bottleneck as bn
from bottleneck import block_spectral as BS
from bottleneck._io import atomic_write_csv
from bottleneck.block_search import minorant, search_theorem_b

FAMILIES = [
    ("power 6k^-0.8", "power", dict(decay=0.8, scale=6.0)),
    ("power peaked 12k^-1.2", "power", dict(decay=1.2, scale=12.0)),
    ("exponential 4e^-0.3k", "exponential", dict(decay=0.3, scale=4.0)),
    ("step rank 20", "step", dict(scale=2.0, rank=20)),
    ("step full rank", "step", dict(scale=1.0)),
]
UNLIMITED = dict(max_work=1e12, budget_seconds=1e9)


def _single_block(L, w, bias, family, param):
    """Scalings of one block spanning the whole grid: the maximal rank-one minorant of the
    admissible scalings (with the search's relative slack), and the projected block."""
    R = BS.admissible_scaling(w, param, family) * (1 - 1e-9)
    log_s, log_t = minorant(np.log(R)[None])
    s, t = np.exp(log_s[0]), np.exp(log_t[0])
    return s, t, BS.projected_block(L, s, t, bias)


def proposal_and_huber(L, w, d, bias):
    """Best over b of the proposal's max_k huber(K_k) and of Lemma M's sum of huber_b."""
    best_prop, best_m = 0.0, 0.0
    for b in np.logspace(-4, 2, 25):
        _, _, B = _single_block(L, w, bias, "huber", b)
        beta = np.linalg.svd(B, compute_uv=False)[d:]
        K = np.cumsum(beta)
        k = np.arange(1, beta.size + 1)
        proposal = np.where(K <= b * k / 2, K**2 / k, b * K - b**2 * k / 4)
        best_prop = max(best_prop, float(proposal.max(initial=0.0)))
        best_m = max(best_m, BS.theorem_b_huber(beta, 0, b))
    return best_prop, best_m


def quadratic_diagnostics(target, L, w, d, bias):
    """minorant_quad / E_F and entrywise / spectral phi_e sums at one block's SVD residual."""
    e_f = bn.fisher_estimate(target, d)
    log_s, log_t = minorant(np.log(np.sqrt(w / 2))[None])
    B = BS.projected_block(L, np.exp(log_s[0]), np.exp(log_t[0]), bias)
    beta = np.linalg.svd(B, compute_uv=False)
    quad = float(np.sum(beta[d:] ** 2))
    best = (0.0, 1.0)
    for alpha in np.logspace(-9, -2, 29):
        s, t, B = _single_block(L, w, bias, "phi", alpha)
        U, sv, Vt = np.linalg.svd(B, full_matrices=False)
        spectral = alpha * float(np.sum(BS.phi_even(sv[d:])))
        if spectral > best[0]:
            residual = (U[:, d:] * sv[d:]) @ Vt[d:]
            entrywise = alpha * float(np.sum(BS.phi_even(np.abs(residual))))
            best = (spectral, entrywise / spectral)
    return quad / e_f, best[1]


def measure(name, spectrum, kw, d) -> dict:
    target = bn.targets.synthetic(200, 300, spectrum, seed=0, **kw)[0]
    L = np.array(target.log_probs)
    w = target.weights[:, None] * np.array(target.probs)
    gap = bn.solve(target, d).gap
    proposal, huber_m = proposal_and_huber(L, w, d, target.bias)
    whole = [(200, 300)]
    one = search_theorem_b(target, d, shapes=whole, orders=("sorted",), layers=1, **UNLIMITED)
    tiles = search_theorem_b(target, d, layers=1, **UNLIMITED)
    default = search_theorem_b(target, d)
    quad, conc = quadratic_diagnostics(target, L, w, d, target.bias)
    values = {
        "proposal": proposal,
        "huber_M": huber_m,
        "phi_M": BS.verify_theorem_b(target, d, one),
        "tiles": BS.verify_theorem_b(target, d, tiles),
        "default": BS.verify_theorem_b(target, d, default),
    }
    row = {"target": name, "d": d, "solver": gap}
    row.update({f"{k}/solver": v / gap for k, v in values.items()})
    row.update({"minorant_quad/E_F": quad, "entrywise/spectral": conc})
    return row


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="out/theorem_b_ablation")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = [measure(n, s, kw, d) for n, s, kw in FAMILIES for d in (1, 8)]
    atomic_write_csv(out / "theorem_b_ablation.csv", rows)
    keys = [k for k in rows[0] if k not in ("target", "d", "solver")]
    print(f"{'target':<24}{'d':>3}" + "".join(f"{k:>20}" for k in keys))
    for r in rows:
        print(f"{r['target']:<24}{r['d']:>3}" + "".join(f"{r[k]:>20.3g}" for k in keys))
    print(f"wrote {out / 'theorem_b_ablation.csv'}")


if __name__ == "__main__":
    main()
