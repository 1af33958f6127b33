"""experiments/ngram_werror.py --scale on a small corpus of your own (--corpus): CSV, figure,
and a rerun that resumes from what is on disk instead of recounting."""

from __future__ import annotations

import csv
import random

import numpy as np
import pytest

from . import load_experiment

pytest.importorskip("dask", reason="pip install dask")


def _corpus(folder, files=3, seed=0):
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(60)]
    folder.mkdir()
    for f in range(files):
        docs = [" ".join(rng.choice(words) for _ in range(rng.randint(5, 60))) for _ in range(40)]
        (folder / f"{f}.txt").write_text("\n\n".join(docs) + "\n", encoding="utf-8")
    return folder


def test_scale_run_writes_and_resumes(tmp_path):
    mod = load_experiment("ngram_werror")
    corpus = _corpus(tmp_path / "corpus")
    out = tmp_path / "out"
    argv = [
        "--scale",
        "--corpus",
        str(corpus),
        "--out",
        str(out),
        "--tokenizers",
        "words",
        "--orders",
        "3,2",
        "--lanczos-steps",
        "20",
        "--probes",
        "4",
        "--deflation",
        "8",
    ]
    first = mod.main(argv)
    for name in ("scale_werror.csv", "scale_summary.csv", "scale_werror.json", "scale_werror.png"):
        assert (out / name).stat().st_size > 0
    with open(out / "scale_werror.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["order"] for r in rows} == {"3", "2"}
    for r in rows:
        assert 0.0 <= float(r["lower"]) <= float(r["w_error"]) <= float(r["upper"]) <= 1.0
    t3 = first["targets"]["words-3"]
    assert t3["count_seconds"] is not None and t3["method"] == "exact"  # small: exact
    stamp = (out / "stores" / "words-3" / "store.json").stat().st_mtime_ns
    second = mod.main(argv)  # resumes: the stores and curves are read back
    assert (out / "stores" / "words-3" / "store.json").stat().st_mtime_ns == stamp
    # the costs reported are those of the run that computed the target, not the resume's
    for key in ("count_seconds", "peak_rss_gb", "spectrum_seconds"):
        assert second["targets"]["words-3"][key] == t3[key]
    np.testing.assert_array_equal(second["targets"]["words-3"]["w_error"], t3["w_error"])
