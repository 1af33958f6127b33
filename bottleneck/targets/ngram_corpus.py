"""Corpus-scale n-gram counting on Dask: one task per file, a hash shuffle, a merge by key.

The graph (``S`` files, ``P`` partitions):

1. **map**, one task per file: read its documents, tokenize, count the unique n-grams with
   their first position (:func:`~bottleneck.targets.ngram_counts.count_shard`), split them
   into ``P`` partitions by a hash of the context;
2. **vocabulary**: the sorted union of the files' token sets (small: one entry per distinct
   token);
3. **merge**, one task per partition: piece ``p`` of every file, merged by key
   (:func:`~bottleneck.targets.ngram_counts.merge_part`). No task ever holds the whole
   count table: a worker holds one file's counts or one partition's;
4. **selection** on the client from each partition's candidates (count, first occurrence),
   then each partition's kept rows are gathered into the CSR target.

``client=None`` runs it embedded on Dask's local threaded scheduler (nothing to start); a
``distributed.Client`` (or a scheduler address) runs it on that cluster. Dask reruns the
tasks of a lost worker from their inputs, and each task is a pure function of its file, so a
worker killed during counting loses nothing and counts nothing twice. With ``work_dir``
each file's counts are also written there atomically (``shard-NNNNN.npz``, keyed by the
file's path, size and mtime and the counting parameters), so an interrupted run resumes
from the files already counted; on a real cluster ``work_dir`` must be a folder every
worker sees.
"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
import zipfile
from pathlib import Path

import numpy as np

from .. import _io
from . import corpus_files as _files
from . import ngram_counts as _nc

#: format of the per-file partial counts in ``work_dir``
_SHARD_FORMAT = 1
_TOKENIZER_NAMES = ("words", "gpt-neox", "gpt2")
#: Dask scheduler of the embedded path ("threads": the local thread pool; tests use
#: "synchronous" where the order of tasks matters)
EMBEDDED_SCHEDULER = "threads"
#: seconds :func:`resolve_client` waits for a scheduler address to answer
CONNECT_TIMEOUT_S = 10.0


@functools.lru_cache(maxsize=4)
def _named_tokenizer(name: str):
    from ..sources.tokenizers import gpt2_tokenizer, gpt_neox_tokenizer

    return gpt_neox_tokenizer() if name == "gpt-neox" else gpt2_tokenizer()


def tokenize_documents(docs: list[str], tokenizer) -> list:
    """Token sequences of documents: ``"words"`` (whitespace split), ``"gpt-neox"``,
    ``"gpt2"`` (BPE ids, batch-encoded) or a callable ``str -> sequence``."""
    if callable(tokenizer) and not isinstance(tokenizer, str):
        return [list(tokenizer(d)) for d in docs]
    if tokenizer == "words":
        return [d.split() for d in docs]
    return [enc.ids for enc in _named_tokenizer(tokenizer).encode_batch(docs)]


def tokenizer_key(tokenizer) -> str:
    """What identifies the tokenizer for the resume check: its name, or for a callable its
    qualified name and a hash of its ``cloudpickle`` (code, closure, bound arguments and
    state of lambdas, partials and instances; a module-level function or class is
    pickled by reference, so editing its body is not seen: use a new ``work_dir`` then)."""
    if isinstance(tokenizer, str):
        if tokenizer not in _TOKENIZER_NAMES:
            raise ValueError(
                f"tokenizer must be 'words', 'gpt2', 'gpt-neox' or a callable; got {tokenizer!r}"
            )
        return tokenizer
    if not callable(tokenizer):
        raise ValueError(f"tokenizer must be a name or a callable; got {tokenizer!r}")
    kind = type(tokenizer) if not hasattr(tokenizer, "__qualname__") else tokenizer
    name = f"{getattr(kind, '__module__', '?')}.{getattr(kind, '__qualname__', repr(kind))}"
    try:
        import cloudpickle

        digest = hashlib.sha256(cloudpickle.dumps(tokenizer)).hexdigest()[:16]
    except Exception as exc:  # any pickling failure: no stable identity, and no Dask
        raise ValueError(
            f"the tokenizer {name} cannot be pickled ({type(exc).__name__}: {exc}); Dask "
            "needs to send it to its workers"
        ) from None
    return f"{name}#{digest}"


# ---- partial counts on disk (no pickle) ------------------------------------------------


def _vocab_arrays(vocab: np.ndarray, prefix: str = "vocab") -> dict:
    if vocab.dtype != object:
        return {f"{prefix}_int": vocab}
    encoded = [v.encode("utf-8") for v in vocab]
    lengths = np.array([len(e) for e in encoded], dtype=np.int64)
    blob = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    return {f"{prefix}_utf8": blob, f"{prefix}_lengths": lengths}


def _vocab_from(data, prefix: str = "vocab") -> np.ndarray:
    if f"{prefix}_int" in data:
        return np.asarray(data[f"{prefix}_int"], dtype=np.int64)
    blob = data[f"{prefix}_utf8"].tobytes()
    ends = np.cumsum(data[f"{prefix}_lengths"])
    out = np.empty(ends.size, dtype=object)
    out[:] = [blob[s:e].decode("utf-8") for s, e in zip(ends - data[f"{prefix}_lengths"], ends)]
    return out


def save_shard(path: Path, counts: _nc.ShardCounts, key: str) -> None:
    """Write one file's :class:`ShardCounts` atomically, with its resume ``key``."""
    sizes = np.array([g.shape[0] for g in counts.grams], dtype=np.int64)
    _io.atomic_savez(
        path,
        key=np.array(key),
        grams=np.concatenate(counts.grams),
        counts=np.concatenate(counts.counts),
        first=np.concatenate(counts.first),
        part_sizes=sizes,
        totals=np.array([counts.n_ngrams, counts.n_tokens], dtype=np.int64),
        **_vocab_arrays(counts.vocab),
    )


def load_shard(path: Path, key: str) -> _nc.ShardCounts | None:
    """The counts saved at ``path`` if they were made with ``key``; None otherwise, also
    for a damaged file (it is then counted again and overwritten atomically)."""
    if not path.exists():
        return None
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as data:
            if "key" not in data.files or str(data["key"]) != key:
                return None
            bounds = np.cumsum(np.concatenate([[0], data["part_sizes"]]))
            cut = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
            grams, counts, first = data["grams"], data["counts"], data["first"]
            return _nc.ShardCounts(
                vocab=_vocab_from(data),
                grams=tuple(grams[s] for s in cut),
                counts=tuple(counts[s] for s in cut),
                first=tuple(first[s] for s in cut),
                n_ngrams=int(data["totals"][0]),
                n_tokens=int(data["totals"][1]),
            )
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
        return None


# ---- the tasks -------------------------------------------------------------------------


def count_file(path, index: int, order: int, tokenizer, n_parts: int, work_dir, key: str):
    """Map task: the :class:`ShardCounts` of one file (read back from ``work_dir`` when a
    previous run counted it with the same ``key``)."""
    out = None if work_dir is None else Path(work_dir) / f"shard-{index:05d}.npz"
    if out is not None:
        done = load_shard(out, key)
        if done is not None:
            return done
    docs = tokenize_documents(_files.read_documents(path), tokenizer)
    counts = _nc.count_shard(docs, order, index, n_parts)
    if out is not None:
        save_shard(out, counts, key)
    return counts


def shard_key(path: Path, index: int, order: int, tok_key: str, n_parts: int) -> str:
    """The resume key of one file's counts: a hash of its fingerprint and the parameters."""
    payload = dict(
        file=_files.file_fingerprint(path),
        index=index,
        order=order,
        tokenizer=tok_key,
        n_parts=n_parts,
        format=_SHARD_FORMAT,
    )
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _vocab_of(counts: _nc.ShardCounts) -> np.ndarray:
    return counts.vocab


def _part_of(counts: _nc.ShardCounts, p: int) -> tuple:
    return counts.part(p)


def _totals(counts: _nc.ShardCounts) -> tuple[int, int]:
    return counts.n_ngrams, counts.n_tokens


def _merge(vocab, order: int, *pieces):
    return _nc.merge_part(pieces, vocab, order)


# ---- running the graph -----------------------------------------------------------------


def resolve_client(client, timeout: float | None = None):
    """``(client, owned)``: None for the embedded scheduler, a ``distributed.Client``, or a
    new client connected to a scheduler address (``owned``: the caller must close it).

    Raises ConnectionError naming the address when no scheduler answers within ``timeout``
    seconds, before any counting."""
    if client is None:
        return None, False
    timeout = CONNECT_TIMEOUT_S if timeout is None else float(timeout)
    if isinstance(client, str):
        try:
            from distributed import Client
        except ImportError:
            raise ImportError(
                "a scheduler address needs dask.distributed: pip install 'dask[array,bag]' "
                "distributed"
            ) from None
        try:
            return Client(client, timeout=f"{timeout}s", set_as_default=False), True
        except (OSError, TimeoutError) as exc:
            raise ConnectionError(
                f"no Dask scheduler answers at {client!r} (waited {timeout:g} s): {exc}"
            ) from None
    if not (hasattr(client, "persist") and hasattr(client, "compute")):
        raise TypeError(f"client must be None, a distributed.Client or an address; got {client!r}")
    return client, False


class _TaskProgress:
    """tqdm over the finished tasks whose key starts with ``prefix`` (local scheduler)."""

    def __init__(self, total: int, prefix: str, desc: str, enabled: bool):
        from dask.callbacks import Callback
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc=desc, unit="file", disable=not enabled)

        class _Hook(Callback):
            def _posttask(self, key, result, dsk, state, worker_id):
                name = key[0] if isinstance(key, tuple) else key
                if isinstance(name, str) and name.startswith(prefix):
                    bar.update(1)

        self.bar, self.hook = bar, _Hook()

    def __enter__(self):
        self.hook.__enter__()
        return self

    def __exit__(self, *exc):
        self.hook.__exit__(*exc)
        self.bar.close()


def persist(objs: list, client, *, progress: bool = False, desc: str = "", prefix: str = ""):
    """Compute ``objs`` (dask.delayed) and keep their results where they are: in this
    process (embedded) or on the cluster's workers. Shows a tqdm bar over the tasks."""
    import dask

    if client is None:
        with _TaskProgress(len(objs), prefix, desc, progress):
            return list(dask.persist(*objs, scheduler=EMBEDDED_SCHEDULER))
    from distributed import as_completed, futures_of
    from tqdm.auto import tqdm

    out = client.persist(objs)
    futures = futures_of(out)
    for _ in tqdm(as_completed(futures), total=len(futures), desc=desc, disable=not progress):
        pass
    return out


def compute(objs: list, client) -> list:
    """The results of ``objs`` in this process."""
    import dask

    if client is None:
        return list(dask.compute(*objs, scheduler=EMBEDDED_SCHEDULER))
    return list(client.compute(objs, sync=True))


# ---- the whole count -------------------------------------------------------------------


class ContextTable:
    """The contexts of the rows, as a read-only sequence of token tuples: row ``i`` is
    ``tuple(values[ids[i]])``. Stored as an ``(N, order - 1)`` id array, not as N tuples."""

    def __init__(self, ids: np.ndarray, values: np.ndarray):
        self.ids = np.array(ids, dtype=np.int32, copy=True)
        self.values = np.array(values, copy=True)
        self.ids.setflags(write=False)
        self.values.setflags(write=False)

    def __len__(self) -> int:
        return self.ids.shape[0]

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return tuple(self.values[self.ids[i]].tolist())

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __eq__(self, other) -> bool:
        if not isinstance(other, (ContextTable, list, tuple)):
            return NotImplemented
        return list(self) == list(other)

    __hash__ = None

    def __repr__(self) -> str:
        return f"ContextTable({len(self)} contexts of {self.ids.shape[1]} tokens)"


def _map_graph(files, order, tokenizer, n_parts, work_dir, run: str):
    """One map task per file; ``run`` makes the keys unique to this call (a cluster keeps
    finished keys while a client holds them: a fixed name would hand one call's counts to
    the next)."""
    import dask

    tok_key = tokenizer_key(tokenizer)
    return [
        dask.delayed(count_file, pure=True)(
            str(path),
            i,
            order,
            tokenizer,
            n_parts,
            None if work_dir is None else str(work_dir),
            shard_key(path, i, order, tok_key, n_parts),
            dask_key_name=f"count-file-{i:05d}-{run}",
        )
        for i, path in enumerate(files)
    ]


def count_corpus(
    source,
    order,
    *,
    tokenizer,
    min_count,
    max_contexts,
    client=None,
    work_dir=None,
    n_parts=None,
    progress=True,
) -> dict:
    """Count ``order``-grams of the corpus files of ``source`` on Dask (module docstring);
    returns the kept rows as ``counts`` (CSR, float64), ``context_counts``, ``contexts``
    (:class:`ContextTable`), ``vocab`` (list), ``n_ngrams``, ``n_tokens``, ``n_files``."""
    import dask

    files = _files.corpus_files(source)
    _files.check_files(files)
    tokenizer_key(tokenizer)
    n_parts = max(1, min(len(files), 32)) if n_parts is None else int(n_parts)
    if work_dir is not None:
        _io.check_writable_folder(work_dir, "work_dir")
    client, owned = resolve_client(client)
    run = uuid.uuid4().hex[:12]
    try:
        maps = persist(
            _map_graph(files, order, tokenizer, n_parts, work_dir, run),
            client,
            progress=progress,
            desc=f"counting {order}-grams",
            prefix="count-file",
        )
        totals = compute([dask.delayed(_totals)(m) for m in maps], client)
        if sum(t[0] for t in totals) == 0:
            raise ValueError(
                f"the corpus's documents are shorter than one {order}-gram; pass more text "
                "or a lower order"
            )
        vocab = _nc.global_vocab(compute([dask.delayed(_vocab_of)(m) for m in maps], client))
        vocab_d = dask.delayed(vocab)
        tables = persist(
            [
                dask.delayed(_merge)(
                    vocab_d,
                    order,
                    *[dask.delayed(_part_of)(m, p) for m in maps],
                    dask_key_name=f"merge-part-{p:05d}-{run}",
                )
                for p in range(n_parts)
            ],
            client,
        )
        del maps
        cands = compute(
            [dask.delayed(_nc.candidates)(t, min_count, max_contexts) for t in tables], client
        )
        kept = _nc.select(cands, max_contexts)
        if kept.shape[0] == 0:
            raise ValueError(f"no context occurs at least min_count = {min_count} times")
        kept_d = dask.delayed(kept[:, 1])
        pieces = compute([dask.delayed(_nc.extract)(t, kept_d) for t in tables], client)
    finally:
        if owned:
            client.close()
    out = assemble(pieces, kept, vocab, order)
    out.update(
        n_ngrams=sum(t[0] for t in totals), n_tokens=sum(t[1] for t in totals), n_files=len(files)
    )
    return out


def assemble(pieces, kept: np.ndarray, vocab: np.ndarray, order: int) -> dict:
    """The CSR count matrix of the kept contexts (rows in the order of ``kept``: ``(count,
    first)`` rows from :func:`~bottleneck.targets.ngram_counts.select`) from the partitions'
    :func:`~bottleneck.targets.ngram_counts.extract` pieces. Columns: the tokens that
    follow a kept context, sorted by value."""
    from scipy import sparse

    entry_first, tokens, counts, ctx_first, ctx_ids = (
        np.concatenate([p[k] for p in pieces]) for k in range(5)
    )
    keys = kept[:, 1]
    by_key = np.argsort(keys)
    row = by_key[np.searchsorted(keys[by_key], entry_first)]
    ids = np.zeros((keys.size, order - 1), dtype=np.int32)
    ids[by_key[np.searchsorted(keys[by_key], ctx_first)]] = ctx_ids
    columns, col = np.unique(tokens, return_inverse=True)
    if columns.size < 2:
        raise ValueError("the kept contexts are followed by fewer than 2 distinct tokens")
    matrix = sparse.csr_matrix(
        (counts.astype(np.float64), (row, col.reshape(-1))), shape=(keys.size, columns.size)
    )
    return dict(
        counts=matrix,
        context_counts=kept[:, 0].astype(np.int64),
        contexts=ContextTable(ids, vocab),
        vocab=vocab[columns].tolist(),
    )
