"""The public Pythia evaluation record and model configs, shipped with the package.

Data: ``bottleneck/data/pythia/`` (copied from the EleutherAI/pythia repository at commit
``a19eecb``; provenance, column meanings and caveats in its ``README.md``). Tables are
returned as dicts of numpy arrays (one per column) so nothing beyond numpy is needed.

Defaults select the released v1.1 models, zero-shot, non-deduplicated, standard run (the
bf16 directory of pythia-1b *is* the standard 1b, per the Pythia README), non-superseded
files: 27 checkpoints per model from step 0 to 143,000.
"""

from __future__ import annotations

import csv
import gzip
import io
from importlib import resources

import numpy as np

DATA_PACKAGE = "bottleneck.data"
MODELS = (
    "pythia-70m",
    "pythia-160m",
    "pythia-410m",
    "pythia-1b",
    "pythia-1.4b",
    "pythia-2.8b",
    "pythia-6.9b",
    "pythia-12b",
)
FINAL_STEP = 143_000
_STANDARD_VARIANTS = ("standard", "bf16")


def data_path(name: str):
    """Path-like handle of a packaged Pythia data file (e.g. ``"pythia_lambada_openai.csv"``)."""
    ref = resources.files(DATA_PACKAGE) / "pythia" / name
    if not ref.is_file():
        raise FileNotFoundError(
            f"packaged Pythia file {name!r} not found under bottleneck/data/pythia/"
        )
    return ref


def _convert(values):
    for cast in (int, float):
        try:
            return np.array([cast(v) for v in values])
        except ValueError:
            continue
    if set(values) <= {"True", "False"}:
        return np.array([v == "True" for v in values])
    return np.array(values, dtype=object)


def _read_csv(name: str) -> dict:
    ref = data_path(name)
    raw = ref.read_bytes()
    if name.endswith(".gz"):
        raw = gzip.decompress(raw)
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8"))))
    header, body = rows[0], rows[1:]
    cols = list(zip(*body)) if body else [[] for _ in header]
    table = {}
    for h, col in zip(header, cols):
        if any(v == "" for v in col):
            table[h] = (
                np.array([float(v) if v != "" else np.nan for v in col])
                if _numeric(col)
                else np.array(col, dtype=object)
            )
        else:
            table[h] = _convert(list(col))
    return table


def _numeric(col):
    try:
        [float(v) for v in col if v != ""]
        return True
    except ValueError:
        return False


def _select(table: dict, mask: np.ndarray) -> dict:
    return {k: v[mask] for k, v in table.items()}


def model_configs(deduped: bool = False) -> dict:
    """Model table (``pythia_model_configs.csv``): ``n_params`` (total, embeddings included),
    ``d_model``, ``n_layers``, ``vocab_size``, ``tokens_per_step`` ... one row per model."""
    t = _read_csv("pythia_model_configs.csv")
    return _select(t, t["deduped"] == bool(deduped))


def n_params(model: str, deduped: bool = False) -> int:
    """Total parameter count (embeddings included) of ``model``, e.g. ``"pythia-70m"``."""
    cfg = model_configs(deduped)
    hit = np.flatnonzero(cfg["model"] == model)
    if hit.size == 0:
        raise ValueError(f"unknown Pythia model {model!r}; known: {sorted(set(cfg['model']))}")
    return int(cfg["n_params"][hit[0]])


def lambada(*, deduped: bool = False, num_fewshot: int = 0, models=MODELS) -> dict:
    """LAMBADA (OpenAI) per checkpoint: columns ``model, step, tokens_seen, ppl, ln_ppl, acc`` ...

    Rows sorted by model (in ``models`` order) then step. ``ln_ppl`` is the log of the
    harness's whole-word perplexity (mean NLL of the target word, nats per word, not per
    token).
    """
    t = _read_csv("pythia_lambada_openai.csv")
    mask = (
        (t["suite"] == "pythia-v1")
        & np.isin(t["variant"], _STANDARD_VARIANTS)
        & (t["eval_set"] == ("zero-shot" if num_fewshot == 0 else "five-shot"))
        & (t["num_fewshot"] == num_fewshot)
        & (t["deduped"] == bool(deduped))
        & ~t["superseded"]
        & np.isin(t["model"], list(models))
    )
    out = _select(t, mask)
    rank = {m: i for i, m in enumerate(models)}
    order = np.lexsort((out["step"], np.array([rank[m] for m in out["model"]])))
    return {k: v[order] for k, v in out.items()}


def evals(task: str | None = None, metric: str | None = None) -> dict:
    """The whole long table (``pythia_evals_long.csv.gz``: one row per file, task, metric),
    optionally filtered by ``task`` and ``metric``."""
    t = _read_csv("pythia_evals_long.csv.gz")
    mask = np.ones(t["model"].shape, dtype=bool)
    if task is not None:
        mask &= t["task"] == task
    if metric is not None:
        mask &= t["metric"] == metric
    if not mask.any():
        raise ValueError(f"no rows for task={task!r}, metric={metric!r}")
    return _select(t, mask)
