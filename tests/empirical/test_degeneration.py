"""Degeneration metrics: exact small cases, O(n^2) oracle, bad input, per-layer anisotropy."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bottleneck import degeneration as D


def anisotropy_quadratic(H):
    """O(n^2) definition: mean of cos(h_i, h_j) over ordered pairs i != j."""
    n = H.shape[0]
    total = 0.0
    for i in range(n):
        for j in range(n):
            if i != j:
                total += H[i] @ H[j] / (np.linalg.norm(H[i]) * np.linalg.norm(H[j]))
    return total / (n * (n - 1))


def test_anisotropy_exact_cases():
    v = np.array([1.0, -2.0, 0.5])
    assert D.anisotropy(np.stack([v, 3 * v, 0.1 * v, v])) == pytest.approx(1.0, abs=1e-15)
    assert D.anisotropy(np.eye(5)) == pytest.approx(0.0, abs=1e-15)
    assert D.anisotropy(np.eye(3)[:, :]) == pytest.approx(0.0, abs=1e-15)
    assert D.anisotropy(np.array([[1.0, 0.0], [-2.0, 0.0]])) == pytest.approx(-1.0, abs=1e-15)
    # vertices of a regular simplex sum to zero: the lower bound -1/(n-1) is reached
    n = 4
    simplex = np.eye(n) - 1.0 / n
    assert D.anisotropy(simplex) == pytest.approx(-1.0 / (n - 1), abs=1e-14)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(2, 12),
    d=st.integers(1, 6),
    seed=st.integers(0, 2**31 - 1),
    shift=st.floats(0.0, 5.0),
)
def test_anisotropy_matches_quadratic_definition(n, d, seed, shift):
    rng = np.random.default_rng(seed)
    H = rng.standard_normal((n, d)) + shift
    H[np.linalg.norm(H, axis=1) < 1e-6] += 1.0
    fast = D.anisotropy(H)
    assert fast == pytest.approx(anisotropy_quadratic(H), rel=1e-10, abs=1e-12)
    assert -1.0 / (n - 1) - 1e-12 <= fast <= 1.0 + 1e-12
    # invariant under positive row scaling and row permutation
    scales = rng.uniform(0.1, 10.0, n)[:, None]
    assert D.anisotropy(H * scales) == pytest.approx(fast, rel=1e-9, abs=1e-12)
    assert D.anisotropy(H[rng.permutation(n)]) == pytest.approx(fast, rel=1e-9, abs=1e-12)


def test_anisotropy_accepts_torch():
    H = torch.randn(7, 3, generator=torch.Generator().manual_seed(0))
    assert D.anisotropy(H) == pytest.approx(anisotropy_quadratic(H.double().numpy()), rel=1e-10)


@pytest.mark.parametrize(
    "H, message",
    [
        (np.ones((1, 3)), "at least 2 rows"),
        (np.array([[1.0, 0.0], [0.0, 0.0]]), "row 1 of H is zero"),
        (np.array([[1.0, np.nan], [0.0, 1.0]]), "non-finite entry at row 0, column 1"),
        (np.ones(3), "2-D"),
        (np.ones((0, 3)), "empty"),
    ],
)
def test_anisotropy_rejects(H, message):
    with pytest.raises(ValueError, match=message):
        D.anisotropy(H)


def kl_to_uniform(p):
    k = p.size
    return sum(pi * math.log(k * pi) for pi in p if pi > 0)


@pytest.mark.parametrize("normalization", ["squared", "plain"])
def test_singular_entropy_flat_and_spike(normalization):
    k = 7
    assert D.singular_entropy(np.eye(k) * 3.0, normalization) == pytest.approx(0.0, abs=1e-14)
    spike = np.zeros((k, 9))
    spike[2, 4] = 5.0
    assert D.singular_entropy(spike, normalization) == pytest.approx(math.log(k), abs=1e-14)


@settings(max_examples=40, deadline=None)
@given(
    k=st.integers(1, 8),
    seed=st.integers(0, 2**31 - 1),
    normalization=st.sampled_from(["squared", "plain"]),
)
def test_spectrum_metrics_match_definitions(k, seed, normalization):
    rng = np.random.default_rng(seed)
    s = np.sort(rng.uniform(0.0, 3.0, k))[::-1]
    s[0] += 0.1
    w = s**2 if normalization == "squared" else s
    p = w / w.sum()
    assert D.singular_entropy(values=s, normalization=normalization) == pytest.approx(
        kl_to_uniform(p), abs=1e-12
    )
    q = s / s.sum()
    assert D.entropy_rank(values=s) == pytest.approx(
        math.exp(-sum(x * math.log(x) for x in q if x > 0)), rel=1e-12
    )
    assert D.participation_ratio(values=s) == pytest.approx(
        (s**2).sum() ** 2 / (s**4).sum(), rel=1e-12
    )
    for thr in (0.5, 0.9, 0.99, 1.0):
        r = D.energy_rank(values=s, threshold=thr)
        cum = np.cumsum(s**2) / (s**2).sum()
        assert cum[r - 1] >= thr - 1e-12 and (r == 1 or cum[r - 2] < thr - 1e-12)
    assert 1 - 1e-12 <= D.entropy_rank(values=s) <= k + 1e-12
    assert 1 - 1e-12 <= D.participation_ratio(values=s) <= k + 1e-12


def test_effective_ranks_exact():
    assert D.entropy_rank(np.eye(6)) == pytest.approx(6.0)
    assert D.participation_ratio(np.eye(6)) == pytest.approx(6.0)
    assert D.energy_rank(np.eye(6), threshold=0.5) == 3
    assert D.entropy_rank(values=[4.0, 0.0, 0.0]) == pytest.approx(1.0)
    assert D.participation_ratio(values=[1.0, 1.0, 0.0, 0.0]) == pytest.approx(2.0)
    rep = D.spectrum_report(values=[2.0, 1.0])
    assert rep["sigma2_over_sigma1"] == 0.5 and rep["k"] == 2


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(values=[0.0, 0.0]), "identically zero"),
        (dict(values=[1.0, -1.0]), ">= 0"),
        (dict(values=[]), "non-empty"),
        (dict(values=[1.0], normalization="log"), "normalization"),
        (dict(), "exactly one"),
    ],
)
def test_singular_entropy_rejects(kwargs, message):
    with pytest.raises(ValueError, match=message):
        D.singular_entropy(**kwargs)


def test_energy_rank_rejects_threshold():
    with pytest.raises(ValueError, match="threshold"):
        D.energy_rank(values=[1.0], threshold=0.0)


def test_layer_anisotropy_on_tiny_gpt_neox():
    transformers = pytest.importorskip("transformers")
    config = transformers.GPTNeoXConfig(
        vocab_size=97,
        hidden_size=32,
        num_hidden_layers=3,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    model = transformers.GPTNeoXForCausalLM(config).eval()
    ids = torch.randint(0, 97, (2, 16), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[1, 12:] = 0
    values = D.layer_anisotropy(model, ids, attention_mask=mask)
    assert values.shape == (config.num_hidden_layers + 1,)
    with torch.no_grad():
        last = model.gpt_neox(input_ids=ids, attention_mask=mask).last_hidden_state
    rows = last.reshape(-1, 32)[mask.bool().reshape(-1)]
    assert rows.shape[0] == 28
    assert values[-1] == pytest.approx(
        anisotropy_quadratic(rows.double().numpy()), rel=1e-6, abs=1e-9
    )


@settings(max_examples=25)
@given(
    seed=st.integers(0, 2**32 - 1),
    shape=st.tuples(st.integers(2, 7), st.integers(2, 7)),
    scale=st.sampled_from([1e-300, 1e-200, 1e-160, 1e160, 1e200, 1e300]),
)
def test_scale_invariant_metrics_are_computed_stably_at_any_scale(seed, shape, scale):
    """Every metric is invariant under ``H -> c H``; at 1e-300 and 1e300 squares underflow
    or overflow, which gave 'row is zero' errors, NaN participation ratios and ln(k)
    singular entropies before the exact power-of-two rescaling."""
    H = np.random.default_rng(seed).standard_normal(shape)
    for name in ("anisotropy", "singular_entropy", "entropy_rank", "participation_ratio"):
        f = getattr(D, name)
        assert f(scale * H) == pytest.approx(f(H), rel=1e-12, abs=1e-14), name
    assert D.energy_rank(scale * H, 0.9) == D.energy_rank(H, 0.9)
    s = D.singular_values(H)
    assert D.participation_ratio(values=scale * s) == pytest.approx(
        D.participation_ratio(values=s), rel=1e-12
    )


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: D.anisotropy(np.ones((2, 2)) + 1e-3j), "complex"),
        (lambda: D.anisotropy(np.ma.masked_array(np.ones((2, 2)), [[0, 1], [0, 0]])), "masked"),
        (lambda: D.energy_rank(np.eye(3), threshold=float("nan")), "threshold"),
        (lambda: D.energy_rank(np.eye(3), threshold="0.9"), "threshold"),
        (lambda: D.singular_entropy(values=["1", "2"]), "values"),
    ],
)
def test_metrics_reject_complex_masked_and_non_numeric_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
