"""Corpus files for n-gram counting: discovery, checks before any long work, documents.

A corpus is a directory of text files (searched recursively, hidden files skipped, sorted by
path) or an explicit list of files. Each file is UTF-8 text; its **documents** are the
blocks separated by blank lines (a line holding only whitespace counts as blank), and
n-grams never cross a document boundary. Carriage returns are dropped before splitting, so
Windows line ends read as Unix ones.
"""

from __future__ import annotations

import codecs
import os
import re
from pathlib import Path

_BLANK_LINE = re.compile(r"\n[^\S\n]*\n")


def corpus_files(source) -> list[Path]:
    """The files of a corpus: ``source`` is a directory (every regular, non-hidden file
    below it, sorted as ``pathlib.Path`` objects sort: component by component, so
    ``a/b.txt`` comes before ``a-b.txt``) or a list of paths (files, or directories
    expanded the same way), kept in the given order.

    Raises FileNotFoundError naming a path that does not exist, ValueError when no file is
    found.
    """
    if isinstance(source, (str, os.PathLike)):
        source = [source]
    files: list[Path] = []
    for entry in source:
        path = Path(entry)
        if not path.exists():
            raise FileNotFoundError(f"corpus path does not exist: {path}")
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            files.extend(found)
        else:
            files.append(path)
    if not files:
        raise ValueError(f"no corpus file found in {[str(Path(e)) for e in source]}")
    return files


def check_files(files: list[Path]) -> list[int]:
    """Check every file before counting: readable, text (no NUL byte, valid UTF-8 through
    the whole file: each file is read once here, one at a time), and at least one file not
    blank. Returns the sizes.

    Raises OSError (unreadable), ValueError (binary or not UTF-8, or every file blank), each
    naming the file.
    """
    sizes, any_text = [], False
    for path in files:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise OSError(f"cannot read corpus file {path}: {exc.strerror or exc}") from exc
        nul = data.find(b"\x00")
        if nul >= 0:
            raise ValueError(f"corpus file {path} is binary (NUL byte at {nul}), not text")
        try:
            codecs.decode(data, "utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(
                f"corpus file {path} is not UTF-8 text (byte {exc.start}: {exc.reason})"
            ) from None
        any_text = any_text or bool(data.strip())
        sizes.append(len(data))
    if not any_text:
        raise ValueError(f"the corpus is empty: its {len(files)} file(s) hold no text")
    return sizes


def read_documents(path) -> list[str]:
    """The documents of one corpus file (non-blank blocks between blank lines, stripped).

    Raises ValueError naming the file if it is not valid UTF-8."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"corpus file {path} is not UTF-8 text (byte {exc.start}: {exc.reason})"
        ) from None
    text = text.replace("\r", "")
    return [doc.strip() for doc in _BLANK_LINE.split(text) if doc.strip()]


def file_fingerprint(path: Path) -> dict:
    """What identifies a file's content for resuming: path, size, modification time."""
    st = path.stat()
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
