"""Per-checkpoint cross-entropy of causal LMs on a text sample (the seed paper's Pile loss).

[Godey2024, §3] measures the cross-entropy of every Pythia checkpoint on 50k tokens of The
Pile and fits the saturation law of :mod:`bottleneck.empirical.scaling` to it. The evaluation record
shipped with the package has no Pile loss, so users who have Pythia checkpoints (a local
mirror or a Hugging Face cache) measure it here:

    ce = checkpoint_cross_entropy("path/to/pythia-70m", ["step1000", "step143000"], ids)

``model`` is a Hugging Face name (needs the hub or its cache) or a local directory; a
local directory whose sub-directories are named by revision (``root/step1000/``) stands in
for ``revision=`` so mirrors and tests need no network. Results are written atomically to
``results_path`` after every checkpoint and reused on rerun (keyed by a fingerprint of the
model, the token sample and the settings), so an interrupted sweep resumes.

Loss: mean next-token negative log-likelihood in nats/token over non-overlapping blocks of
``block_size`` tokens (the first token of each block is context only).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from .._io import atomic_write_json as _atomic_write_json
from .lm import load_causal_lm

PYTHIA_TOKENS_PER_STEP = (
    2_097_152  # 1,024 sequences x 2,048 tokens (bottleneck/data/pythia/README.md)
)


def token_cross_entropy(
    model, token_ids, *, block_size: int = 512, batch_size: int = 8, device: str = "cpu"
):
    """Mean next-token NLL (nats/token) of ``model`` on ``token_ids`` and the token count.

    The stream is cut into ``floor(n / block_size)`` blocks; each block predicts its last
    ``block_size - 1`` tokens.
    """
    import torch

    ids = np.asarray(token_ids, dtype=np.int64).ravel()
    if block_size < 2:
        raise ValueError(f"block_size must be >= 2; got {block_size}")
    n_blocks = ids.size // block_size
    if n_blocks == 0:
        raise ValueError(
            f"the sample has {ids.size} tokens, fewer than one block of {block_size}; "
            "pass more text"
        )
    vocab = model.get_output_embeddings().weight.shape[0]
    if ids.max() >= vocab or ids.min() < 0:
        raise ValueError(
            f"token id {int(ids.max())} is outside the model's vocabulary of {vocab}: "
            "tokenizer mismatch"
        )
    blocks = torch.from_numpy(ids[: n_blocks * block_size].reshape(n_blocks, block_size))
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, n_blocks, batch_size):
            batch = blocks[start : start + batch_size].to(device)
            logits = model(input_ids=batch).logits[:, :-1].double()
            logp = torch.log_softmax(logits, dim=-1)
            nll = -logp.gather(-1, batch[:, 1:, None]).squeeze(-1)
            total += float(nll.sum())
            count += nll.numel()
    return total / count, count


def _fingerprint(model, token_ids, block_size):
    h = hashlib.sha256()
    h.update(str(model).encode())
    h.update(np.asarray(token_ids, dtype=np.int64).tobytes())
    h.update(str(block_size).encode())
    return h.hexdigest()[:16]


def revision_step(revision: str) -> int:
    """``"step1000" -> 1000`` (Pythia's revision names)."""
    if not revision.startswith("step") or not revision[4:].isdigit():
        raise ValueError(f"revision {revision!r} is not of the form 'step<N>'")
    return int(revision[4:])


def checkpoint_cross_entropy(
    model: str,
    revisions,
    token_ids,
    *,
    block_size: int = 512,
    batch_size: int = 8,
    device: str = "cpu",
    tokens_per_step: int = PYTHIA_TOKENS_PER_STEP,
    results_path=None,
    progress: bool = True,
) -> list[dict]:
    """Cross-entropy of every checkpoint ``revisions`` of ``model`` on one token sample.

    Returns one dict per revision: ``revision, step, tokens_seen (= step x tokens_per_step),
    n_params, loss (nats/token), n_tokens``. With ``results_path`` each result is saved
    atomically as soon as it is measured and reused on rerun.
    """
    from tqdm.auto import tqdm

    revisions = list(revisions)
    if not revisions:
        raise ValueError("no revisions given")
    fp = _fingerprint(model, token_ids, block_size)
    done = {}
    path = Path(results_path) if results_path is not None else None
    if path is not None and path.exists():
        saved = json.loads(path.read_text())
        if saved.get("fingerprint") == fp:
            done = {r["revision"]: r for r in saved["results"]}
    for rev in tqdm(
        revisions, desc=f"checkpoints of {Path(str(model)).name}", disable=not progress
    ):
        if rev in done:
            continue
        lm = load_causal_lm(model, rev, device=device)
        loss, n_tok = token_cross_entropy(
            lm, token_ids, block_size=block_size, batch_size=batch_size, device=device
        )
        done[rev] = dict(
            revision=rev,
            step=revision_step(rev),
            tokens_seen=revision_step(rev) * tokens_per_step,
            n_params=int(lm.num_parameters()),
            loss=loss,
            n_tokens=n_tok,
        )
        del lm
        if path is not None:
            _atomic_write_json(
                path, {"fingerprint": fp, "model": str(model), "results": list(done.values())}
            )
    return [done[r] for r in revisions]
