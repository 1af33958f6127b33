"""sources.lm: offline model loading says what is missing and where to look."""

from __future__ import annotations

import pytest

from bottleneck.sources import lm


def test_loading_errors(tmp_path):
    pytest.importorskip("transformers")
    (tmp_path / "m" / "step1").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="without a 'step9' sub-directory"):
        lm.load_causal_lm(str(tmp_path / "m"), "step9")
    with pytest.raises(ValueError, match="SmolLM2 has no revisions"):
        lm.load_causal_lm("smollm2", "step1")
    assert isinstance(lm.smollm2_available(), bool)
