"""TopWords / top_words: the capped word vocabulary of the --scale words targets."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import bottleneck as bn
from bottleneck.targets import TopWords, top_words
from bottleneck.targets.ngram_corpus import tokenizer_key


def _corpus(tmp_path: Path) -> Path:
    (tmp_path / "a.txt").write_text("b a c a\n\nd b a\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("e c e\n", encoding="utf-8")
    return tmp_path


def test_counts_and_ties_by_first_occurrence(tmp_path):
    # counts: a 3, b 2, c 2, e 2, d 1; ties (b, c, e) in first-seen order b, c, e
    corpus = _corpus(tmp_path)
    assert top_words(corpus, 10).words == ("a", "b", "c", "e", "d")
    assert top_words(corpus, 3).words == ("a", "b", "c")
    assert top_words([corpus / "b.txt"], 1).words == ("e",)


def test_tokenizer_maps_other_words_to_unknown():
    tok = TopWords(["the", "of"], unknown="<u>")
    assert tok("the cat of  the\nhat") == ["the", "<u>", "of", "the", "<u>"]
    assert len(tok) == 3


def test_ngram_with_top_words_equals_ngram_of_mapped_texts(tmp_path):
    """Oracle: the corpus path with TopWords against the in-memory path on texts whose
    rare words were replaced by hand."""
    corpus = _corpus(tmp_path)
    tok = top_words(corpus, 3)
    mapped = ["b a c a", "<unk> b a", "<unk> c <unk>"]  # kept: a, b, c
    via_corpus, info_corpus = bn.targets.ngram_with_info(corpus, 2, tokenizer=tok)
    by_hand, info_hand = bn.targets.ngram_with_info(mapped, 2, tokenizer="words")
    assert list(info_corpus.vocab) == list(info_hand.vocab)
    assert list(info_corpus.contexts) == list(info_hand.contexts)
    np.testing.assert_array_equal(via_corpus.probs, by_hand.probs)
    np.testing.assert_array_equal(via_corpus.weights, by_hand.weights)


def test_frozen_and_copies_its_words():
    words = ["x", "y"]
    tok = TopWords(words)
    words[0] = "z"
    assert tok.words == ("x", "y") and tok("z x") == ["<unk>", "x"]
    with pytest.raises(AttributeError):
        tok.unknown = "x"


def test_resume_key_is_the_same_in_another_process():
    """The key hashes the pickle; a frozenset's pickle would change with the hash seed."""
    tok = TopWords([f"w{i}" for i in range(200)])
    code = (
        "from bottleneck.targets import TopWords;"
        "from bottleneck.targets.ngram_corpus import tokenizer_key;"
        "print(tokenizer_key(TopWords([f'w{i}' for i in range(200)])))"
    )
    keys = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert keys == {tokenizer_key(tok)}
    assert pickle.loads(pickle.dumps(tok))("w3 v") == ["w3", "<unk>"]


@pytest.mark.parametrize(
    "words, unknown, match",
    [
        ([], "<unk>", "at least one"),
        (["a", "a"], "<unk>", "distinct"),
        (["a b"], "<unk>", "without spaces"),
        ([""], "<unk>", "without spaces"),
        ([3], "<unk>", "without spaces"),
        (["a"], "a", "not among"),
        (["a"], "", "not among"),
    ],
)
def test_bad_words(words, unknown, match):
    with pytest.raises(ValueError, match=match):
        TopWords(words, unknown)


def test_bad_corpus_and_size(tmp_path):
    corpus = _corpus(tmp_path)
    with pytest.raises(ValueError, match="size"):
        top_words(corpus, 0)
    with pytest.raises(FileNotFoundError):
        top_words(tmp_path / "missing", 5)
    (tmp_path / "u.txt").write_text("<unk> <unk> <unk> <unk> a", encoding="utf-8")
    with pytest.raises(ValueError, match="unknown token"):
        top_words(corpus, 2)
    (tmp_path / "bin.txt").write_bytes(b"a\x00b")
    with pytest.raises(ValueError, match="bin.txt"):
        top_words(corpus, 2)
