"""Factored targets from causal language models: ``p_i = softmax(W* x_i + b)``.

:func:`from_model` runs a Hugging Face causal LM over text in blocks, keeps the final-layer
features ``x_i`` (after the final norm: the last entry of ``hidden_states``) and the head
``W*`` (and bias), checks on a sample that ``logits == X W*^T (+ b)``, and returns a
``Target`` with factored storage: its N x V rows are never all materialised; spectra come
from the factors (:func:`bottleneck.spectrum.factored_spectrum`).

Models: ``"smollm2"`` (the offline SmolLM2-135M GGUF, :mod:`bottleneck.sources.lm`), Pythia
by name (``"pythia-70m"`` ... with ``revision="step{N}"``; hub or cache), any local model
directory, a ``.gguf`` file transformers can read (tokenizer from the same file), or a model
instance. Features are cached to ``cache_dir`` keyed by (model, revision, token hash,
settings), written atomically and reused on rerun.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._device import resolve_device
from .._io import atomic_savez as _atomic_savez
from ..sources import lm as _lm
from ..sources.tokenizers import gpt_neox_tokenizer, tokenize
from ..target import Target

PYTHIA_SIZES = ("14m", "31m", "70m", "160m", "410m", "1b", "1.4b", "2.8b", "6.9b", "12b")


def _resolve_name(name: str) -> str:
    if name == _lm.SMOLLM2 or Path(name).is_dir():
        return name
    if name.lower().endswith(".gguf"):
        if not Path(name).is_file():
            raise FileNotFoundError(f"no GGUF file at {name!r}")
        return name
    base = name.split("/")[-1]
    if base.startswith("pythia-"):
        size = base[len("pythia-") :].removesuffix("-deduped")
        if size not in PYTHIA_SIZES:
            raise ValueError(f"unknown Pythia model {name!r}; sizes: {', '.join(PYTHIA_SIZES)}")
        return name if "/" in name else f"EleutherAI/{name}"
    if "/" not in name:
        raise ValueError(
            f"unknown model {name!r}: pass 'smollm2', a Pythia name ('pythia-70m'), a hub id "
            "('org/name') or a local model directory"
        )
    return name


def _tokenizer_for(name: str, model_dir: str | None):
    if name == _lm.SMOLLM2:
        return None  # loaded together with the model
    if "pythia" in name.lower():
        return gpt_neox_tokenizer()
    if model_dir is not None and (Path(model_dir) / "tokenizer.json").is_file():
        from tokenizers import Tokenizer

        return Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
    return None


def _encode(texts, tokenizer) -> np.ndarray:
    if isinstance(texts, np.ndarray) and texts.dtype.kind in "iu":
        return texts.astype(np.int64).ravel()
    if tokenizer is None:
        raise ValueError(
            "no tokenizer for this model: pass tokenizer= (a tokenizers/transformers tokenizer "
            "or a callable) or token ids"
        )
    if hasattr(tokenizer, "encode") and hasattr(
        tokenizer, "convert_tokens_to_ids"
    ):  # transformers tokenizer
        items = [texts] if isinstance(texts, str) else list(texts)
        return np.asarray(
            [i for t in items for i in tokenizer.encode(t, add_special_tokens=False)],
            dtype=np.int64,
        )
    return tokenize(texts, tokenizer)


def extract_features(
    model, ids: np.ndarray, *, context_length: int, batch_size: int, device, progress: bool
):
    """Final-layer features of every position of ``ids`` (blocks of ``context_length``) and
    the logits of the first block, for the factorisation check."""
    import torch
    from tqdm.auto import tqdm

    n_blocks = -(-ids.size // context_length)
    feats, first_logits = [], None
    with torch.no_grad():
        for start in tqdm(range(0, n_blocks, batch_size), desc="features", disable=not progress):
            blocks = [
                ids[j * context_length : (j + 1) * context_length]
                for j in range(start, min(n_blocks, start + batch_size))
            ]
            width = max(len(b) for b in blocks)
            batch = torch.zeros(len(blocks), width, dtype=torch.long)
            mask = torch.zeros(len(blocks), width, dtype=torch.long)
            for r, b in enumerate(blocks):
                batch[r, : len(b)] = torch.from_numpy(b)
                mask[r, : len(b)] = 1
            out = model(
                input_ids=batch.to(device),
                attention_mask=mask.to(device),
                output_hidden_states=True,
            )
            h = out.hidden_states[-1]
            if first_logits is None:
                first_logits = (out.logits[0, : len(blocks[0])].double().cpu().numpy(), len(feats))
            for r, b in enumerate(blocks):
                feats.append(h[r, : len(b)].double().cpu().numpy())
    return np.concatenate(feats), first_logits[0]


@dataclass(frozen=True)
class ModelFeatures:
    """Final-layer features of a causal LM on a token sample, with the sample and the head.

    ``features[t]`` (D,) is the representation that predicts ``token_ids[t + 1]``; the
    model's next-token distribution at ``t`` is ``softmax(head @ features[t] + head_bias)``.
    """

    features: np.ndarray  # (N, D) float64
    token_ids: np.ndarray  # (N,) int64
    head: np.ndarray  # (V, D) float64
    head_bias: np.ndarray | None  # (V,) or None
    model_id: str
    revision: str | None

    def next_token_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """``(features[:-1], token_ids[1:])``: inputs and observed next tokens for
        :func:`bottleneck.empirical.heads.fit_head`."""
        return self.features[:-1], self.token_ids[1:]


def model_features(
    model_or_name,
    texts,
    *,
    revision: str | None = None,
    tokenizer=None,
    max_tokens: int = 4096,
    context_length: int = 512,
    batch_size: int = 4,
    device: str = "auto",
    cache_dir=None,
    check_rtol: float = 1e-4,
    progress: bool = True,
) -> ModelFeatures:
    """Features, token ids and head of a causal LM on a text sample (see :func:`from_model`
    for the parameters and errors); the logits are checked to equal ``X W*^T + b``."""
    import torch

    dev = resolve_device(device)
    model, model_id, tok = _load_model(model_or_name, revision, tokenizer, dev)
    W, b = _head_of(model)
    ids = _sample_ids(texts, tok, max_tokens, W.shape[0])
    key = hashlib.sha256(
        json.dumps([model_id, revision, context_length, str(tokenizer is not None)]).encode()
        + ids.tobytes()
    ).hexdigest()[:20]
    cache = Path(cache_dir) / f"features-{key}.npz" if cache_dir is not None else None
    if cache is not None and cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            X, logits0 = z["features"], z["logits0"]
    else:
        X, logits0 = extract_features(
            model,
            ids,
            context_length=context_length,
            batch_size=batch_size,
            device=dev,
            progress=progress,
        )
        if cache is not None:
            _atomic_savez(cache, features=X, logits0=logits0)
    _check_linear_head(X, W, b, logits0, check_rtol)
    del model
    if dev.type == "cuda":
        torch.cuda.empty_cache()
    return ModelFeatures(
        features=X, token_ids=ids, head=W, head_bias=b, model_id=model_id, revision=revision
    )


def _load_model(model_or_name, revision, tokenizer, dev):
    """``(model in eval mode on dev, model id, tokenizer)``: a name is resolved and loaded
    (with its own tokenizer unless one is given); a model instance is used as it is."""
    if not isinstance(model_or_name, str):
        _lm.require_transformers()
        model = model_or_name.to(dev).eval()
        model_id = f"{type(model).__name__}:{getattr(model.config, '_name_or_path', '')}"
        return model, model_id, tokenizer
    name = _resolve_name(model_or_name)
    if name == _lm.SMOLLM2:
        model, tok = _lm.load_smollm2(str(dev))
        return model, name, tokenizer or tok
    if name.lower().endswith(".gguf"):
        if revision is not None:
            raise ValueError("a GGUF file has no revisions; pass revision=None")
        model, tok = _lm.load_gguf(name, str(dev))
        return model, _gguf_id(Path(name)), tokenizer or tok
    model = _lm.load_causal_lm(name, revision, device=str(dev))
    return model, name, tokenizer or _tokenizer_for(name, name if Path(name).is_dir() else None)


def _gguf_id(path: Path) -> str:
    """Model id of a GGUF file for the feature cache: its name, size and the SHA-256 of its
    first and last MiB (a changed file gets another key without hashing gigabytes)."""
    size = path.stat().st_size
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read(2**20))
        f.seek(max(0, size - 2**20))
        h.update(f.read(2**20))
    return f"gguf:{path.name}:{size}:{h.hexdigest()[:16]}"


def _head_of(model):
    """``(W, b)`` of the model's output head in float64 (``b`` None without a bias)."""
    head = model.get_output_embeddings()
    if head is None:
        raise ValueError("the model has no output embeddings (not a causal LM head)")
    W = head.weight.detach().double().cpu().numpy()
    b = None if getattr(head, "bias", None) is None else head.bias.detach().double().cpu().numpy()
    return W, b


def _sample_ids(texts, tokenizer, max_tokens: int, vocab_size: int) -> np.ndarray:
    """The first ``max_tokens`` token ids of ``texts``, checked against the head's vocabulary."""
    ids = _encode(texts, tokenizer)
    if ids.size < 2:
        raise ValueError(
            f"the text gives {ids.size} token(s), shorter than one context (need >= 2 tokens)"
        )
    ids = ids[:max_tokens]
    if ids.min() < 0 or ids.max() >= vocab_size:
        raise ValueError(
            f"token id {int(ids.max())} is outside the head's vocabulary of {vocab_size}: "
            "the tokenizer does not match the model (pass the model's own tokenizer=)"
        )
    return ids


def _check_linear_head(X, W, b, logits0, check_rtol: float) -> None:
    """Raise unless the model's logits on its first rows equal ``X W^T + b``."""
    rows = min(64, logits0.shape[0])
    recon = X[:rows] @ W.T + (0.0 if b is None else b)
    err = float(np.max(np.abs(recon - logits0[:rows])))
    scale = float(np.max(np.abs(logits0[:rows]))) or 1.0
    if err > check_rtol * scale:
        raise ValueError(
            f"logits differ from features x head by {err:.3g} (scale {scale:.3g}): this model "
            "transforms the logits after the head (e.g. soft-capping or scaling), so it is not a "
            "linear softmax head"
        )


def from_model(
    model_or_name,
    texts,
    *,
    revision: str | None = None,
    tokenizer=None,
    max_tokens: int = 4096,
    context_length: int = 512,
    batch_size: int = 4,
    device: str = "auto",
    cache_dir=None,
    bias: bool = False,
    check_rtol: float = 1e-4,
    progress: bool = True,
) -> Target:
    """Factored target of a causal LM's next-token distributions on a text sample.

    Every token position of the sample (up to ``max_tokens``) is a context with uniform
    weight; its row is ``softmax(W* x_i + b)`` of the model. Units: nats/token.

    Parameters
    ----------
    model_or_name : str or transformers.PreTrainedModel
        ``"smollm2"``, ``"pythia-70m"`` (etc., with ``revision``), a hub id, a local
        directory, a path ending in ``.gguf`` (a GGUF causal LM; its tokenizer is read from
        the same file), or a loaded model (then pass ``tokenizer`` or token ids).
    texts : str, list of str, or integer ndarray of token ids
    revision : str, optional
        Checkpoint (``"step1000"``) for Pythia / hub models, or a sub-directory of a local root.
    tokenizer : optional
        Overrides the model's tokenizer (``tokenizers``/transformers tokenizer or callable).
    max_tokens, context_length, batch_size : int
        Sample size, block length fed to the model, blocks per forward pass.
    device : str
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``.
    cache_dir : path, optional
        Where features are cached (``features-<key>.npz``).
    bias : bool
        Whether the *student* heads scored against this target get a free bias.
    check_rtol : float
        Tolerance of the check ``logits == X W*^T + b`` (relative to the logits' scale).

    Raises
    ------
    ValueError
        Unknown model name, text shorter than one context, token ids outside the head's
        vocabulary (tokenizer mismatch), logits that are not ``X W*^T + b`` (e.g. soft-capping),
        a ``.gguf`` file transformers cannot read (or given a ``revision``).
    FileNotFoundError
        A ``.gguf`` path that is not a file.
    ImportError
        Missing optional package, with the pip command.
    """
    mf = model_features(
        model_or_name,
        texts,
        revision=revision,
        tokenizer=tokenizer,
        max_tokens=max_tokens,
        context_length=context_length,
        batch_size=batch_size,
        device=device,
        cache_dir=cache_dir,
        check_rtol=check_rtol,
        progress=progress,
    )
    return Target.from_factors(mf.features, mf.head, mf.head_bias, bias=bias)
