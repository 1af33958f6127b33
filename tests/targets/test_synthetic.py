"""Synthetic targets reproduce their requested spectrum (exact SVD oracle)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import bottleneck as bn
from bottleneck.targets import synthetic, synthetic_spectrum


@given(
    n=st.integers(1, 12),
    v=st.integers(2, 12),
    spectrum=st.sampled_from(["power", "exponential", "step"]),
    decay=st.floats(0.0, 2.0),
    scale=st.floats(0.01, 20.0),
    weights=st.sampled_from(["uniform", "zipf"]),
    bias=st.booleans(),
    seed=st.integers(0, 1000),
    data=st.data(),
)
def test_synthetic_reproduces_spectrum(n, v, spectrum, decay, scale, weights, bias, seed, data):
    max_rank = min(n - int(bias), v - 1)
    rank = data.draw(st.integers(0, max_rank))
    t, sigma = synthetic(
        n, v, spectrum, decay=decay, scale=scale, rank=rank, weights=weights, seed=seed, bias=bias
    )
    s = np.linalg.svd(bn.spectrum.centred_log_prob_matrix(t), compute_uv=False)
    expected = np.zeros(min(n, v))
    expected[:rank] = sigma
    # tolerance: rounding in the construction and in log_softmax, relative to sigma_1
    np.testing.assert_allclose(s, expected, rtol=0, atol=1e-12 * max(1.0, scale) * max(n, v))
    assert t.bias == bias


def test_spectrum_shapes_by_formula():
    np.testing.assert_allclose(synthetic_spectrum(3, "power", 2.0, 4.0), [4.0, 1.0, 4.0 / 9.0])
    np.testing.assert_allclose(
        synthetic_spectrum(3, "exponential", np.log(2), 8.0), [8.0, 4.0, 2.0]
    )
    np.testing.assert_allclose(synthetic_spectrum(2, "step", 0.3, 5.0), [5.0, 5.0])


def test_zipf_weights():
    t, _ = synthetic(4, 5, weights="zipf")
    w = 1 / np.arange(1, 5)
    np.testing.assert_allclose(t.weights, w / w.sum())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_contexts=0, vocab_size=3), "n_contexts"),
        (dict(n_contexts=3, vocab_size=1), "vocab_size"),
        (dict(n_contexts=3, vocab_size=3, rank=3), r"rank must be an integer in \[0, 2\]"),
        (dict(n_contexts=3, vocab_size=3, spectrum="cubic"), "spectrum must be one of"),
        (dict(n_contexts=3, vocab_size=3, scale=-1.0), "scale"),
        (dict(n_contexts=3, vocab_size=3, weights="flat"), "weights"),
        (dict(n_contexts=3, vocab_size=3, seed=1.5), "seed must be an integer"),
        (dict(n_contexts=3, vocab_size=3, decay="fast"), "decay must be a real number"),
        (dict(n_contexts=3, vocab_size=3, scale=np.nan), "scale must be a finite number"),
        (dict(n_contexts=3, vocab_size=3, bias="False"), "bias must be True or False"),
    ],
)
def test_synthetic_rejects(kwargs, match):
    with pytest.raises(ValueError, match=match):
        synthetic(**kwargs)
