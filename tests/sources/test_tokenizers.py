"""sources.tokenizers: the packaged GPT-NeoX BPE and tokenize() with any tokenizer."""

from __future__ import annotations

import pytest

from bottleneck.sources.tokenizers import tokenize


def test_tokenize_with_a_callable_and_with_the_packaged_bpe():
    assert tokenize(["a b", "c"], lambda text: [len(w) for w in text.split()]).tolist() == [1, 1, 1]
    pytest.importorskip("tokenizers")
    assert tokenize("Hello world").tolist() == [12092, 1533]  # the tokenizer file's README example
