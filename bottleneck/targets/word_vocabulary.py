"""A word vocabulary of fixed size: the most frequent whitespace words of a corpus, every
other word one unknown token.

Raw whitespace words give an open vocabulary (1.05M observed types on the 21.8M-word
offline corpus of ``experiments/ngram_werror.py --scale``), far from the 32k-50k token
vocabularies of the paper's Figure 7 [Godey2024, §6.1], and too wide for the memory of
the SLQ estimator on one machine. :class:`TopWords` is a word tokenizer with the
vocabulary size of a BPE: ``size`` kept words plus ``unknown``. It is a picklable
callable, so it runs on Dask workers and its identity (the resume key of
:func:`bottleneck.targets.ngram` on corpus files) is a hash of its word list.
"""

from __future__ import annotations

from collections import Counter

from .. import _validation as _v
from .corpus_files import check_files, corpus_files, read_documents

__all__ = ["TopWords", "top_words"]


class TopWords:
    """The tokenizer ``text -> [w if w in words else unknown for w in text.split()]``.

    Parameters
    ----------
    words : sequence of str
        The kept vocabulary (distinct, non-empty, without whitespace), in the order given;
        a tuple copy is kept, so editing the caller's list changes nothing.
    unknown : str
        The token every other word becomes; must not be one of ``words``.
    """

    __slots__ = ("words", "unknown", "_kept")

    def __init__(self, words, unknown: str = "<unk>"):
        words = tuple(words)
        if not words:
            raise ValueError("TopWords needs at least one word")
        for w in words:
            if not isinstance(w, str) or not w or w.split() != [w]:
                raise ValueError(f"every word must be a non-empty string without spaces; got {w!r}")
        if len(set(words)) != len(words):
            raise ValueError("the words of TopWords must be distinct")
        if not isinstance(unknown, str) or not unknown or unknown in words:
            raise ValueError(
                f"unknown must be a non-empty string not among the words; got {unknown!r}"
            )
        object.__setattr__(self, "words", words)
        object.__setattr__(self, "unknown", unknown)
        object.__setattr__(self, "_kept", frozenset(words))

    def __setattr__(self, name, value):
        raise AttributeError("TopWords is immutable")

    def __call__(self, text: str) -> list[str]:
        kept, unknown = self._kept, self.unknown
        return [w if w in kept else unknown for w in text.split()]

    def __reduce__(self):
        # the word tuple only (a frozenset's pickle depends on the string hash seed, and
        # the resume key hashes this pickle)
        return (TopWords, (self.words, self.unknown))

    def __len__(self) -> int:
        return len(self.words) + 1

    def __repr__(self) -> str:
        return f"TopWords({len(self.words)} words, unknown={self.unknown!r})"


def top_words(source, size: int, *, unknown: str = "<unk>", progress: bool = False) -> TopWords:
    """The ``size`` most frequent whitespace words of corpus files, as a :class:`TopWords`.

    ``source``: a ``pathlib.Path`` (a directory, read recursively in sorted order, or a
    file) or a list of them, read as :func:`bottleneck.targets.ngram` reads them (documents
    between blank lines; the same checks and errors: missing, binary, non-UTF-8, empty).
    Words are ranked by decreasing count, ties by first occurrence in file order; a corpus
    with fewer distinct words keeps them all. One streaming pass, one file in memory at a
    time; the table is the corpus's word types (a few million strings at most in practice).

    Raises ValueError for ``size < 1``, ``unknown`` being a word kept, or a bad corpus.
    """
    size = _v.check_int(size, "size", minimum=1)
    files = corpus_files(source)
    check_files(files)
    counts: Counter = Counter()
    if progress:
        from tqdm.auto import tqdm

        files = tqdm(files, desc="counting words", unit="file")
    for path in files:
        for doc in read_documents(path):
            counts.update(doc.split())
    # Counter.most_common sorts stably by count: ties keep insertion (first-seen) order
    words = [w for w, _ in counts.most_common(size)]
    if unknown in words:
        raise ValueError(
            f"the unknown token {unknown!r} is itself one of the {size} most frequent words; "
            "pass another unknown="
        )
    return TopWords(words, unknown)
