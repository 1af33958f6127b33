"""Corpus-scale n-gram counting on Dask (issue 23): the file path equals the in-memory path
on the same documents, embedded and on a 2-worker LocalCluster, with a worker killed during
counting, after an interrupted run resumed; the store reopens the same target; bad input."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bottleneck as bn
from bottleneck.targets import corpus_files, ngram_corpus, ngram_counts, ngram_store

pytest.importorskip("distributed", reason="pip install 'dask[array,bag]' distributed")

WORDS = "the a of to and in is it that was he for on are with as his they be at".split()


def _write_corpus(folder: Path, n_files: int = 4, docs: int = 25, seed: int = 0) -> Path:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for f in range(n_files):
        parts = []
        for _ in range(docs):
            vocab = WORDS[: rng.randint(2, len(WORDS))]
            parts.append(" ".join(rng.choice(vocab) for _ in range(rng.randint(1, 40))))
        sep = rng.choice(["\n\n", "\n \n", "\r\n\r\n", "\n\n\n"])
        (folder / f"part-{f}.txt").write_text(sep.join(parts) + "\n", encoding="utf-8")
    return folder


def _documents(folder: Path) -> list[str]:
    return [d for f in corpus_files.corpus_files(folder) for d in corpus_files.read_documents(f)]


def _assert_same(a, ia, b, ib):
    A, B = a.sparse_probs, b.sparse_probs
    assert A.shape == B.shape
    assert np.array_equal(A.indptr, B.indptr) and np.array_equal(A.indices, B.indices)
    assert np.array_equal(A.data, B.data)
    assert np.array_equal(a.weights, b.weights)
    assert list(ia.contexts) == list(ib.contexts)
    assert ia.vocab == ib.vocab and ia.n_ngrams == ib.n_ngrams


def test_documents_split_on_blank_lines(tmp_path):
    p = tmp_path / "x.txt"
    p.write_text("a b\nc\n\n  \n d e \r\n\r\nf\n", encoding="utf-8")
    assert corpus_files.read_documents(p) == ["a b\nc", "d e", "f"]


def test_bigram_counts_by_hand_from_files(tmp_path):
    (tmp_path / "1.txt").write_text("a b a c\n\na b\n", encoding="utf-8")
    (tmp_path / "2.txt").write_text("b a\n", encoding="utf-8")
    t, info = bn.targets.ngram_with_info(tmp_path, order=2)
    # bigrams: (a,b) x2, (a,c), (b,a) x2; contexts a: 3, b: 2 (first seen: a, then b)
    assert info.n_ngrams == 5 and info.n_files == 2 and info.n_tokens == 8
    assert list(info.contexts) == [("a",), ("b",)] and info.vocab == ["a", "b", "c"]
    np.testing.assert_allclose(t.probs, [[0, 2 / 3, 1 / 3], [1, 0, 0]])
    np.testing.assert_allclose(t.weights, [0.6, 0.4])


@pytest.mark.parametrize("order", [2, 3, 5])
@pytest.mark.parametrize("kw", [{}, {"max_contexts": 17}, {"min_count": 3}])
def test_embedded_equals_in_memory(tmp_path, order, kw):
    folder = _write_corpus(tmp_path / "c")
    a, ia = bn.targets.ngram_with_info(_documents(folder), order, **kw)
    b, ib = bn.targets.ngram_with_info(folder, order, **kw)
    _assert_same(a, ia, b, ib)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    n_files=st.integers(1, 5),
    order=st.integers(2, 5),
    n_parts=st.integers(1, 7),
)
def test_partitioning_never_changes_the_counts(tmp_path_factory, seed, n_files, order, n_parts):
    folder = _write_corpus(tmp_path_factory.mktemp("c"), n_files, docs=6, seed=seed)
    docs = _documents(folder)
    ref, iref = bn.targets.ngram_with_info(docs, order)
    out = ngram_corpus.count_corpus(
        folder,
        order,
        tokenizer="words",
        min_count=1,
        max_contexts=None,
        n_parts=n_parts,
        progress=False,
    )
    assert out["n_ngrams"] == iref.n_ngrams
    assert list(out["contexts"]) == list(iref.contexts)
    assert (out["counts"] != iref.counts).nnz == 0


def test_integer_tokens_and_gpt_neox(tmp_path):
    pytest.importorskip("tokenizers", reason="pip install tokenizers")
    folder = _write_corpus(tmp_path / "c", n_files=3)
    docs = _documents(folder)
    for tok in ("gpt-neox", lambda text: [len(w) for w in text.split()]):
        a, ia = bn.targets.ngram_with_info(docs, 3, tokenizer=tok)
        b, ib = bn.targets.ngram_with_info(folder, 3, tokenizer=tok)
        _assert_same(a, ia, b, ib)


def test_store_reopens_the_same_target(tmp_path):
    folder = _write_corpus(tmp_path / "c")
    t, info = bn.targets.ngram_with_info(folder, 3, store=tmp_path / "store")
    store = ngram_store.NgramStore(tmp_path / "store")
    assert store.shape == t.shape and store.meta["order"] == 3
    assert store.meta["n_ngrams"] == info.n_ngrams
    _assert_same(t, info, store.target(), info)
    assert list(store.contexts()) == list(info.contexts) and store.vocab() == info.vocab
    rows = [b for _, b in store.iter_blocks()]
    assert sum(b.shape[0] for b in rows) == t.n_contexts
    with pytest.raises(ValueError, match="already holds a store"):
        bn.targets.ngram(folder, 3, store=tmp_path / "store")


def test_store_in_small_blocks(tmp_path):
    folder = _write_corpus(tmp_path / "c")
    t, info = bn.targets.ngram_with_info(folder, 2)
    ngram_store.save_store(
        tmp_path / "s",
        info.counts,
        np.rint(t.weights * info.n_ngrams),
        info.contexts,
        info.vocab,
        block_rows=3,
    )
    store = ngram_store.NgramStore(tmp_path / "s")
    assert len(store.blocks) == -(-t.n_contexts // 3)
    assert (store.counts() != info.counts).nnz == 0
    starts = [s for s, _ in store.iter_blocks()]
    assert starts == list(range(0, t.n_contexts, 3))


def test_incomplete_store_is_refused(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "block-00000.npz").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="no store.json"):
        ngram_store.NgramStore(tmp_path / "s")


class ResumableTokenizer:
    """Whitespace words; raises on a document holding ``STOP`` while the file ``fail``
    exists; appends each document it tokenizes to the file ``log``. Its state is two paths,
    so the interrupted and the resumed run use the same tokenizer (the resume key hashes
    it)."""

    def __init__(self, fail: str, log: str):
        self.fail, self.log = fail, log

    def __call__(self, text):
        if "STOP" in text and os.path.exists(self.fail):
            raise RuntimeError("interrupted")
        with open(self.log, "a", encoding="utf-8") as fh:
            fh.write(text.replace("\n", " ") + "\n")
        return text.split()


def _logged(path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def test_interrupted_run_resumes_from_the_files_done(tmp_path, monkeypatch):
    monkeypatch.setattr(ngram_corpus, "EMBEDDED_SCHEDULER", "synchronous")  # no task left running
    folder = _write_corpus(tmp_path / "c", n_files=5)
    with open(folder / "part-3.txt", "a", encoding="utf-8") as fh:
        fh.write("\nthe STOP a\n")
    work, fail, log = tmp_path / "work", tmp_path / "fail", tmp_path / "log"
    tok = ResumableTokenizer(str(fail), str(log))
    fail.touch()
    with pytest.raises(RuntimeError, match="interrupted"):
        bn.targets.ngram(folder, 3, tokenizer=tok, work_dir=work)
    done = sorted(p.name for p in work.glob("shard-*.npz"))
    assert "shard-00003.npz" not in done
    fail.unlink()
    log.unlink()
    b, ib = bn.targets.ngram_with_info(folder, 3, tokenizer=tok, work_dir=work)
    files = corpus_files.corpus_files(folder)
    redone = [
        d.replace("\n", " ")
        for i, f in enumerate(files)
        if f"shard-{i:05d}.npz" not in done
        for d in corpus_files.read_documents(f)
    ]
    assert len(redone) < len(_documents(folder))
    assert sorted(_logged(log)) == sorted(redone)  # the files counted before are not re-read
    a, ia = bn.targets.ngram_with_info(_documents(folder), 3)
    _assert_same(a, ia, b, ib)
    # a changed file is counted again, never read back stale
    (folder / "part-0.txt").write_text("a b c a b d\n", encoding="utf-8")
    log.unlink()
    bn.targets.ngram(folder, 3, tokenizer=tok, work_dir=work)
    assert _logged(log) == ["a b c a b d"]
    # a damaged partial count is counted again, not an error
    (work / "shard-00001.npz").write_bytes(b"PK\x03\x04 truncated")
    log.unlink()
    bn.targets.ngram(folder, 3, tokenizer=tok, work_dir=work)
    assert sorted(_logged(log)) == sorted(
        d.replace("\n", " ") for d in corpus_files.read_documents(files[1])
    )


def test_resume_tells_tokenizers_apart(tmp_path):
    """Two partials of one function with other arguments, two lambdas: other tokenizers,
    so nothing is read back from the other's work_dir entries."""
    import functools

    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "a.txt").write_text("A a b\n\nc A d\n", encoding="utf-8")

    def tok(text, lower):
        return (text.lower() if lower else text).split()

    work = tmp_path / "work"
    _, i1 = bn.targets.ngram_with_info(
        folder, 2, tokenizer=functools.partial(tok, lower=False), work_dir=work
    )
    _, i2 = bn.targets.ngram_with_info(
        folder, 2, tokenizer=functools.partial(tok, lower=True), work_dir=work
    )
    assert "A" in i1.vocab and "A" not in i2.vocab
    _, i3 = bn.targets.ngram_with_info(folder, 2, tokenizer=lambda s: s.split(), work_dir=work)
    _, i4 = bn.targets.ngram_with_info(
        folder, 2, tokenizer=lambda s: s.lower().split(), work_dir=work
    )
    assert "A" in i3.vocab and "A" not in i4.vocab


def _killer(marker: str):
    def tokenize(text):
        if "KILLWORKER" in text and not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(1)  # the worker process dies in the middle of its task
        return text.split()

    return tokenize


@pytest.mark.slow
def test_local_cluster_equals_embedded_and_survives_a_killed_worker(tmp_path):
    from distributed import Client, LocalCluster

    folder = _write_corpus(tmp_path / "c", n_files=4, docs=40)
    with open(folder / "part-2.txt", "a", encoding="utf-8") as fh:
        fh.write("\nthe KILLWORKER a of\n")
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        for order in (2, 3, 5):
            a, ia = bn.targets.ngram_with_info(folder, order)
            b, ib = bn.targets.ngram_with_info(folder, order, client=client)
            _assert_same(a, ia, b, ib)
        marker = str(tmp_path / "killed")
        for work_dir in (None, tmp_path / "work"):
            if os.path.exists(marker):
                os.unlink(marker)
            c, ic = bn.targets.ngram_with_info(
                folder, 3, tokenizer=_killer(marker), client=client, work_dir=work_dir
            )
            assert os.path.exists(marker)  # a worker did die
            a, ia = bn.targets.ngram_with_info(folder, 3)
            _assert_same(a, ia, c, ic)


# ---- bad input: a clear error naming the file or address, before any counting -------


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        bn.targets.ngram([tmp_path / "nope.txt"], 2)


def test_binary_and_non_utf8_files(tmp_path):
    (tmp_path / "ok.txt").write_text("a b c\n", encoding="utf-8")
    (tmp_path / "bin.dat").write_bytes(b"a b\x00\x01\x02")
    with pytest.raises(ValueError, match=r"bin\.dat is binary"):
        bn.targets.ngram(tmp_path, 2)
    (tmp_path / "bin.dat").write_bytes("caf\u00e9 ".encode("latin-1"))
    with pytest.raises(ValueError, match=r"bin\.dat is not UTF-8"):
        bn.targets.ngram(tmp_path, 2)


def test_unreadable_file(tmp_path):
    link = tmp_path / "dangling.txt"
    link.symlink_to(tmp_path / "gone.txt")
    with pytest.raises(OSError, match="dangling.txt"):
        bn.targets.ngram([link], 2)


def test_empty_corpus(tmp_path):
    (tmp_path / "a.txt").write_text("\n  \n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="corpus is empty"):
        bn.targets.ngram(tmp_path, 2)
    (tmp_path / "sub").mkdir()
    with pytest.raises(ValueError, match="no corpus file"):
        bn.targets.ngram(tmp_path / "sub", 2)


def test_too_short_for_the_order(tmp_path):
    (tmp_path / "a.txt").write_text("a b\n\nc d\n", encoding="utf-8")
    with pytest.raises(ValueError, match="shorter than one 3-gram"):
        bn.targets.ngram(tmp_path, 3)


def test_scheduler_address_that_does_not_answer(tmp_path, monkeypatch):
    (tmp_path / "a.txt").write_text("a b c\n", encoding="utf-8")
    monkeypatch.setattr(ngram_corpus, "CONNECT_TIMEOUT_S", 1.0)
    with pytest.raises(ConnectionError, match="127.0.0.1:9"):
        bn.targets.ngram(tmp_path, 2, client="tcp://127.0.0.1:9")


def test_options_for_files_only_and_mixed_sources(tmp_path):
    with pytest.raises(ValueError, match="apply to corpus files"):
        bn.targets.ngram(["a b c"], 2, work_dir=tmp_path)
    with pytest.raises(ValueError, match="not both"):
        bn.targets.ngram(["a b c", tmp_path], 2)
    (tmp_path / "a.txt").write_text("a b c\n", encoding="utf-8")
    with pytest.raises(ValueError, match="tokenizer must be"):
        bn.targets.ngram(tmp_path, 2, tokenizer="bpe?")
    with pytest.raises(TypeError, match="all int or all str"):
        bn.targets.ngram(tmp_path, 2, tokenizer=lambda s: [1.5, 2.5])


# ---- the counting kernels against brute force ------------------------------------------


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.lists(st.integers(0, 6), min_size=3, max_size=3), min_size=1, max_size=40))
def test_unique_rows_is_lexicographic_dedup(rows):
    g = np.array(rows, dtype=np.int32)
    perm, starts = ngram_counts.unique_rows(g, 7)
    got = [tuple(r) for r in g[perm][starts]]
    assert got == sorted(set(map(tuple, rows)))
    assert sorted(perm.tolist()) == list(range(len(rows)))


def test_context_partition_does_not_depend_on_the_shard():
    a = ngram_counts.vocab_array(["x", "y", "z"])
    b = ngram_counts.vocab_array(["w", "x", "z"])
    ga = np.array([[0, 2, 1]], dtype=np.int32)  # context (x, z)
    gb = np.array([[1, 2, 0]], dtype=np.int32)  # context (x, z)
    pa = ngram_counts.context_partition(ga, ngram_counts.token_hashes(a), 13)
    pb = ngram_counts.context_partition(gb, ngram_counts.token_hashes(b), 13)
    assert pa[0] == pb[0]


def test_store_keeps_bias_and_smoothing_and_refuses_edits(tmp_path):
    folder = _write_corpus(tmp_path / "c", n_files=2)
    t = bn.targets.ngram(folder, 2, smoothing=0.5, bias=True, store=tmp_path / "s")
    back = ngram_store.NgramStore(tmp_path / "s").target()
    assert back.bias and back.storage == "dense"
    np.testing.assert_array_equal(back.probs, t.probs)
    # permuted context counts: the row sums no longer match
    with np.load(tmp_path / "s" / "rows.npz") as data:
        counts, ids = data["context_counts"], data["context_ids"]
    np.savez(tmp_path / "s" / "rows.npz", context_counts=counts[::-1], context_ids=ids)
    with pytest.raises(ValueError, match="do not match"):
        ngram_store.NgramStore(tmp_path / "s").target()
    # a block whose columns were all set to 0 (duplicates in a row)
    with np.load(tmp_path / "s" / "block-00000.npz") as data:
        parts = {k: data[k] for k in data.files}
    parts["indices"] = np.zeros_like(parts["indices"])
    np.savez(tmp_path / "s" / "block-00000.npz", **parts)
    with pytest.raises(ValueError, match="corrupt"):
        ngram_store.NgramStore(tmp_path / "s").counts()
    (tmp_path / "s" / "store.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="unreadable store.json"):
        ngram_store.NgramStore(tmp_path / "s")


def test_late_binary_or_bad_utf8_is_found_before_counting(tmp_path):
    big = "a b c\n\n" * 20000  # past any first-chunk sniffing
    (tmp_path / "a.txt").write_bytes(big.encode() + b"q\x00r")
    with pytest.raises(ValueError, match="NUL byte"):
        bn.targets.ngram(tmp_path, 2)
    (tmp_path / "a.txt").write_bytes(big.encode() + b"caf\xe9")
    with pytest.raises(ValueError, match="not UTF-8"):
        bn.targets.ngram(tmp_path, 2)


def test_generators_of_paths_and_too_short_documents(tmp_path):
    (tmp_path / "a.txt").write_text("a b\n\nc d\n", encoding="utf-8")
    t = bn.targets.ngram((p for p in [tmp_path / "a.txt"]), 2)
    assert t.n_contexts == 2 and bn.targets.ngram(iter(["a b a"]), 2).n_contexts == 2
    with pytest.raises(ValueError, match="shorter than one 5-gram"):
        bn.targets.ngram(tmp_path, 5)
    _, info = bn.targets.ngram_with_info(tmp_path, 2)
    assert (info.contexts == 5) is False
