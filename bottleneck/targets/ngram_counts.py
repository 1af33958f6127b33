"""Partial n-gram counts of one shard, and their merge by key: the map and the reduce of
corpus-scale counting (:mod:`bottleneck.targets.ngram_corpus` runs them on Dask).

A shard is a list of token sequences (its documents; n-grams never cross documents). Its
:class:`ShardCounts` holds, per hash partition of the *contexts*, the unique n-grams as rows
of local token ids, their counts and the position of their first occurrence. Positions are
global keys ``shard_index * 2**40 + j`` (``j``: the n-gram's index within the shard, in
reading order), so the minimum over shards is the corpus-wide first occurrence, and the
canonical context order of :func:`bottleneck.targets.ngram` (decreasing count, ties by first
occurrence) is reproduced exactly whatever the engine, the number of workers or the order
in which shards finish.

Partitions are chosen by a hash of the context's token *values* (not of shard-local ids):
``splitmix64`` of integer tokens, ``blake2b`` of string tokens. The same context lands in
the same partition from every shard, so partition ``p`` is merged from piece ``p`` of every
shard alone: no worker holds the whole count table (a hash shuffle).

Pure numpy functions; no engine here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

#: bits of the within-shard n-gram index in a position key (2**40 n-grams per shard)
POSITION_BITS = 40
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


@dataclass(frozen=True)
class ShardCounts:
    """Counts of one shard: ``vocab`` (sorted token values: int64, or object array of str),
    per partition ``p`` the unique n-gram rows ``grams[p]`` (``(u_p, order)`` int32 ids into
    ``vocab``), ``counts[p]`` (int64) and ``first[p]`` (int64 position keys), and the number
    of n-grams read."""

    vocab: np.ndarray
    grams: tuple
    counts: tuple
    first: tuple
    n_ngrams: int
    n_tokens: int

    def part(self, p: int) -> tuple:
        """``(vocab, grams, counts, first)`` of partition ``p`` (what its merge needs)."""
        return self.vocab, self.grams[p], self.counts[p], self.first[p]


@dataclass(frozen=True)
class PartTable:
    """The merged counts of one partition: unique n-grams in global ids, sorted
    lexicographically, so each context's n-grams are contiguous. ``ctx_start[k]`` indexes
    the first n-gram of context ``k``; ``ctx_count`` and ``ctx_first`` are its total count
    and first occurrence."""

    grams: np.ndarray
    counts: np.ndarray
    ctx_start: np.ndarray
    ctx_count: np.ndarray
    ctx_first: np.ndarray


def vocab_array(values) -> np.ndarray:
    """Token values as a sortable array: int64 for integers, an object array for strings.

    Raises TypeError for any other token type or a mix (the file path needs tokens that
    sort the same way on every worker)."""
    values = list(values)
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=np.int64).reshape(-1)
    if all(isinstance(v, str) for v in values):
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out
    kinds = sorted({type(v).__name__ for v in values})
    raise TypeError(f"corpus tokens must be all int or all str; the tokenizer gave {kinds}")


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser on a uint64 array (wrapping arithmetic)."""
    z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def token_hashes(vocab: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each token value that does not depend on the shard (uint64)."""
    if vocab.dtype == object:
        digests = [hashlib.blake2b(v.encode("utf-8"), digest_size=8).digest() for v in vocab]
        return np.frombuffer(b"".join(digests), dtype="<u8").astype(np.uint64, copy=True)
    return splitmix64(vocab.view(np.uint64))


def context_partition(grams: np.ndarray, hashes: np.ndarray, n_parts: int) -> np.ndarray:
    """Partition index in ``[0, n_parts)`` of each n-gram row's context (its first
    ``order - 1`` tokens), from the token hashes: ``h <- splitmix64(h ^ hash(token))``."""
    h = np.zeros(grams.shape[0], dtype=np.uint64)
    for k in range(grams.shape[1] - 1):
        h = splitmix64(h ^ hashes[grams[:, k]])
    return (h % np.uint64(n_parts)).astype(np.int64)


def _packed_keys(grams: np.ndarray, n_values: int) -> list[np.ndarray]:
    """Columns of ``grams`` packed into as few uint64 words as fit, most significant
    column first (lexicographic order of rows = order of the word tuples)."""
    bits = max(1, int(n_values - 1).bit_length())
    per_word = max(1, 64 // bits)
    words = []
    for start in range(0, grams.shape[1], per_word):
        w = np.zeros(grams.shape[0], dtype=np.uint64)
        for k in range(start, min(start + per_word, grams.shape[1])):
            w = (w << np.uint64(bits)) | grams[:, k].astype(np.uint64)
        words.append(w)
    return words


def unique_rows(grams: np.ndarray, n_values: int) -> tuple[np.ndarray, np.ndarray]:
    """``(order, starts)``: a stable permutation sorting the rows lexicographically and the
    indices (into the sorted rows) where each run of equal rows starts."""
    n = grams.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    words = _packed_keys(grams, n_values)
    order = np.argsort(words[0], kind="stable") if len(words) == 1 else np.lexsort(words[::-1])
    change = np.zeros(n, dtype=bool)
    change[0] = True
    for w in words:
        ws = w[order]
        change[1:] |= ws[1:] != ws[:-1]
    return order, np.flatnonzero(change)


def shard_grams(docs_ids: list[np.ndarray], order: int) -> np.ndarray:
    """All ``order``-grams of the documents, in reading order: ``(n, order)`` int32."""
    lengths = np.array([len(d) for d in docs_ids], dtype=np.int64)
    if lengths.sum() == 0:
        return np.zeros((0, order), dtype=np.int32)
    ids = np.concatenate([np.asarray(d, dtype=np.int32) for d in docs_ids])
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    in_doc = np.arange(ids.size) - starts
    ends = np.flatnonzero(in_doc >= order - 1)
    return np.stack([ids[ends - (order - 1 - k)] for k in range(order)], axis=1)


def local_ids(docs_tokens) -> tuple[np.ndarray, list[np.ndarray]]:
    """``(vocab, ids)``: the sorted distinct token values of the documents and each
    document's tokens as indices into it."""
    index: dict = {}
    raw = [
        np.fromiter((index.setdefault(t, len(index)) for t in doc), dtype=np.int64)
        for doc in docs_tokens
    ]
    values = vocab_array(index.keys())
    perm = np.argsort(values, kind="stable")
    rank = np.empty(perm.size, dtype=np.int32)
    rank[perm] = np.arange(perm.size, dtype=np.int32)
    return values[perm], [rank[r] for r in raw]


def count_shard(docs_tokens, order: int, shard_index: int, n_parts: int) -> ShardCounts:
    """The map step: unique ``order``-grams of one shard with counts and first positions,
    split into ``n_parts`` context-hash partitions.

    ``docs_tokens``: the shard's documents as sequences of tokens (all int or all str).
    """
    vocab, ids = local_ids(docs_tokens)
    grams = shard_grams(ids, order)
    first = np.arange(grams.shape[0], dtype=np.int64) + (np.int64(shard_index) << POSITION_BITS)
    perm, starts = unique_rows(grams, max(vocab.size, 1))
    ug = grams[perm][starts]
    counts = np.diff(np.append(starts, grams.shape[0])).astype(np.int64)
    ufirst = first[perm][starts]
    part = context_partition(ug, token_hashes(vocab), n_parts) if ug.size else ug[:, 0]
    sel = [np.flatnonzero(part == p) for p in range(n_parts)]
    return ShardCounts(
        vocab=vocab,
        grams=tuple(ug[s] for s in sel),
        counts=tuple(counts[s] for s in sel),
        first=tuple(ufirst[s] for s in sel),
        n_ngrams=int(grams.shape[0]),
        n_tokens=int(sum(len(d) for d in ids)),
    )


def global_vocab(vocabs) -> np.ndarray:
    """The sorted union of the shards' vocabularies."""
    vocabs = [v for v in vocabs if v.size]
    if not vocabs:
        return np.zeros(0, dtype=np.int64)
    kinds = {v.dtype == object for v in vocabs}
    if len(kinds) > 1:
        raise TypeError("corpus tokens must be all int or all str across shards")
    return np.unique(np.concatenate(vocabs))


def merge_part(pieces, vocab: np.ndarray, order: int) -> PartTable:
    """The reduce step: one partition's pieces ``(shard_vocab, grams, counts, first)``,
    given in increasing shard order, merged into global ids (``vocab``: the
    :func:`global_vocab`). Counts of equal n-grams add; the first occurrence is the
    earliest shard's."""
    mapped, counts, first = [], [], []
    for shard_vocab, g, c, f in pieces:
        if g.shape[0]:
            to_global = np.searchsorted(vocab, shard_vocab).astype(np.int32)
            mapped.append(to_global[g])
            counts.append(c)
            first.append(f)
    if not mapped:
        empty = np.zeros(0, dtype=np.int64)
        return PartTable(np.zeros((0, order), np.int32), empty, empty, empty, empty)
    g = np.concatenate(mapped)
    c = np.concatenate(counts)
    f = np.concatenate(first)
    perm, starts = unique_rows(g, max(vocab.size, 1))
    ug = g[perm][starts]
    uc = np.add.reduceat(c[perm], starts)
    uf = f[perm][starts]  # stable sort: the earliest shard's entry comes first in its run
    ctx_change = np.ones(ug.shape[0], dtype=bool)
    if order > 1 and ug.shape[0] > 1:
        ctx_change[1:] = np.any(ug[1:, : order - 1] != ug[:-1, : order - 1], axis=1)
    ctx_start = np.flatnonzero(ctx_change)
    return PartTable(
        grams=ug,
        counts=uc,
        ctx_start=ctx_start,
        ctx_count=np.add.reduceat(uc, ctx_start),
        ctx_first=np.minimum.reduceat(uf, ctx_start),
    )


def candidates(table: PartTable, min_count: int, max_contexts: int | None) -> np.ndarray:
    """``(k, 2)`` int64 rows ``(count, first)`` of the partition's contexts that can be kept:
    count at least ``min_count`` and, with ``max_contexts``, among the partition's
    ``max_contexts`` first in the canonical order (decreasing count, then first occurrence)."""
    keep = np.flatnonzero(table.ctx_count >= min_count)
    if max_contexts is not None and keep.size > max_contexts:
        order = np.lexsort((table.ctx_first[keep], -table.ctx_count[keep]))
        keep = keep[order[:max_contexts]]
    return np.stack([table.ctx_count[keep], table.ctx_first[keep]], axis=1)


def select(cands: list[np.ndarray], max_contexts: int | None) -> np.ndarray:
    """The kept contexts as ``(k, 2)`` rows ``(count, first)`` in the canonical row order
    (decreasing count, ties by first occurrence), at most ``max_contexts`` of them."""
    allc = np.concatenate(cands) if cands else np.zeros((0, 2), dtype=np.int64)
    order = np.lexsort((allc[:, 1], -allc[:, 0]))
    if max_contexts is not None:
        order = order[:max_contexts]
    return allc[order]


def extract(table: PartTable, kept_first: np.ndarray) -> tuple:
    """The n-grams of the partition's kept contexts, as ``(entry_first, tokens, counts,
    ctx_first, ctx_ids)``: per entry its context's key, next-token id and count; per kept
    context its key and its ``order - 1`` token ids."""
    ctx = np.flatnonzero(np.isin(table.ctx_first, kept_first))
    ends = np.append(table.ctx_start[1:], table.grams.shape[0])
    starts = table.ctx_start[ctx]
    lengths = ends[ctx] - starts
    offsets = np.cumsum(lengths) - lengths
    rows = np.repeat(starts - offsets, lengths) + np.arange(int(lengths.sum()))
    return (
        np.repeat(table.ctx_first[ctx], lengths),
        table.grams[rows, -1],
        table.counts[rows],
        table.ctx_first[ctx],
        table.grams[starts, :-1],
    )
