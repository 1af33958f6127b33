"""The saturation experiment's numbers, recomputed independently from the packaged CSV.

The oracle below reads the raw CSV with the csv module, picks checkpoints by hand and fits
the law with scipy.optimize.curve_fit (a different optimiser and parameterisation than
bottleneck.empirical.scaling); only the experiment's written outputs are compared.
"""

import csv
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import OptimizeWarning, curve_fit

from . import load_experiment

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "bottleneck" / "data" / "pythia"


def raw_curves():
    out = {}
    with open(DATA / "pythia_lambada_openai.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            if (r["suite"], r["eval_set"], r["num_fewshot"], r["deduped"], r["superseded"]) != (
                "pythia-v1",
                "zero-shot",
                "0",
                "False",
                "False",
            ):
                continue
            if r["variant"] not in ("standard", "bf16"):
                continue
            out.setdefault(r["model"], []).append(
                (int(r["step"]), int(r["tokens_seen"]), float(r["ln_ppl"]), float(r["acc"]))
            )
    return {m: sorted(v) for m, v in out.items()}


def raw_params():
    with open(DATA / "pythia_model_configs.csv", newline="") as fh:
        return {
            r["model"]: int(r["n_params"]) for r in csv.DictReader(fh) if r["deduped"] == "False"
        }


def independent_fit(curves, params, min_step):
    big = ["pythia-410m", "pythia-1b", "pythia-1.4b", "pythia-2.8b", "pythia-6.9b", "pythia-12b"]
    pts = [(params[m], t, lp) for m in big for s, t, lp, _ in curves[m] if s >= min_step]
    N, T, L = map(np.array, zip(*pts))
    x = np.vstack([np.log(N), np.log(T)])

    def model(x, logA, alpha, logB, beta, E):
        return np.exp(logA - alpha * x[0]) + np.exp(logB - beta * x[1]) + E

    best = None
    for alpha0 in (0.2, 0.4, 0.7):
        for beta0 in (0.2, 0.4, 0.7):
            try:
                with warnings.catch_warnings(), np.errstate(over="ignore"):
                    warnings.simplefilter("ignore", OptimizeWarning)  # covariance unused
                    p, _ = curve_fit(
                        model,
                        x,
                        L,
                        p0=[math.log(1e3), alpha0, math.log(1e3), beta0, 1.0],
                        maxfev=20000,
                    )
            except RuntimeError:
                continue
            if not np.all(np.isfinite(p)):
                continue
            sse = float(np.sum((model(x, *p) - L) ** 2))
            if best is None or sse < best[0]:
                best = (sse, p)
    logA, alpha, logB, beta, E = best[1]
    return lambda n, t: math.exp(logA) / n**alpha + math.exp(logB) / t**beta + E


def test_lambada_numbers_reproduced_independently(tmp_path):
    exp = load_experiment("saturation")
    exp.main(["lambada", "--quick", "--out", str(tmp_path)])
    with open(tmp_path / "lambada_gaps.csv", newline="") as fh:
        written = {r["model"]: r for r in csv.DictReader(fh)}
    summary = json.loads((tmp_path / "lambada_summary.json").read_text())
    curves, params = raw_curves(), raw_params()
    law = independent_fit(curves, params, summary["fit"]["min_step"])
    assert set(written) == set(curves) and len(curves) == 8
    for m, rows in curves.items():
        assert len(rows) == 27, m
        trained = [r for r in rows if r[0] >= 1]
        best = min(trained, key=lambda r: r[2])
        final = max(rows, key=lambda r: r[0])
        w = written[m]
        assert int(w["best_step"]) == best[0] and int(w["final_step"]) == final[0] == 143000
        assert float(w["best_ln_ppl"]) == pytest.approx(best[2], abs=1e-12)
        assert float(w["final_ln_ppl"]) == pytest.approx(final[2], abs=1e-12)
        assert float(w["final_acc"]) == pytest.approx(final[3], abs=1e-12)
        gap_final = final[2] / law(params[m], final[1]) - 1
        gap_best = best[2] / law(params[m], best[1]) - 1
        assert float(w["gap_final"]) == pytest.approx(gap_final, abs=2e-4), m
        assert float(w["gap_best"]) == pytest.approx(gap_best, abs=2e-4), m
    for m in ("pythia-70m", "pythia-160m"):  # the saturation signature, by the oracle's numbers
        best = min((r for r in curves[m] if r[0] >= 1), key=lambda r: r[2])
        assert best[0] < 100_000
    for name in ("lambada_curves.csv", "saturation_lambada.png"):
        assert (tmp_path / name).stat().st_size > 0


def test_measure_on_tiny_gpt_neox_with_fake_revisions(tmp_path, monkeypatch):
    """`measure` on two tiny random GPT-NeoX 'models', two fake revisions each; resumable."""
    transformers = pytest.importorskip("transformers")
    import torch

    from bottleneck import checkpoints
    from bottleneck.sources.tokenizers import tokenize

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    roots = []
    for size, hidden in (("tiny-a", 16), ("tiny-b", 32)):
        root = tmp_path / size
        for seed, rev in enumerate(("step1000", "step2000")):
            torch.manual_seed(seed + hidden)
            cfg = transformers.GPTNeoXConfig(
                vocab_size=50304,
                hidden_size=hidden,
                num_hidden_layers=1,
                num_attention_heads=2,
                intermediate_size=2 * hidden,
                max_position_embeddings=128,
            )
            transformers.GPTNeoXForCausalLM(cfg).save_pretrained(root / rev)
        roots.append(root)
    text = tmp_path / "sample.txt"
    text.write_text("In the beginning God created the heaven and the earth. " * 40)
    exp = load_experiment("saturation")
    out = tmp_path / "out"
    argv = [
        "measure",
        "--revisions",
        "step1000,step2000",
        "--text",
        str(text),
        "--block-size",
        "64",
        "--out",
        str(out),
        "--fixed",
        "paper",
    ]
    for r in roots:
        argv += ["--model", str(r)]
    result = exp.main(argv)
    assert len(result["points"]) == 4 and "fit" in result
    # oracle: the loss of one checkpoint by a direct computation
    ids = tokenize(text.read_text())[:50_000]
    lm = transformers.GPTNeoXForCausalLM.from_pretrained(roots[0] / "step2000").eval()
    n = (ids.size // 64) * 64
    blocks = torch.from_numpy(ids[:n].reshape(-1, 64))
    with torch.no_grad():
        logits = lm(input_ids=blocks).logits[:, :-1]
    ref = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).double(), blocks[:, 1:].reshape(-1)
    ).item()
    point = next(
        p for p in result["points"] if p["model"] == str(roots[0]) and p["revision"] == "step2000"
    )
    assert point["loss"] == pytest.approx(ref, rel=1e-10)
    assert point["tokens_seen"] == 2000 * 2_097_152 and point["n_params"] == lm.num_parameters()
    # near-uniform random heads: the loss is about ln V
    assert abs(point["loss"] - math.log(50304)) < 0.5
    # resume: a rerun reads the saved results and loads no model
    monkeypatch.setattr(
        checkpoints, "load_causal_lm", lambda *a, **k: pytest.fail("reloaded a model")
    )
    again = exp.main(argv)
    assert [p["loss"] for p in again["points"]] == [p["loss"] for p in result["points"]]
