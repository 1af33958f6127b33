"""sources.pythia: the packaged evaluation record reads as the README of its folder says."""

from __future__ import annotations

import numpy as np
import pytest

from bottleneck.sources import pythia


def test_lambada_has_every_checkpoint_of_every_model():
    t = pythia.lambada()
    for model in pythia.MODELS:
        steps = t["step"][t["model"] == model]
        assert steps.size == 27 and steps.max() == pythia.FINAL_STEP and np.all(np.diff(steps) > 0)
    assert pythia.n_params("pythia-70m") > 0
    with pytest.raises(ValueError, match="unknown Pythia model"):
        pythia.n_params("pythia-7m")
