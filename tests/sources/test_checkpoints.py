"""sources.checkpoints: revisions, and the errors of per-checkpoint losses (the losses
themselves: tests/experiments/test_saturation.py)."""

from __future__ import annotations

import numpy as np
import pytest


def test_checkpoint_errors(tmp_path):
    pytest.importorskip("transformers")
    from bottleneck import checkpoints

    with pytest.raises(ValueError, match="step<N>"):
        checkpoints.revision_step("main")
    (tmp_path / "m").mkdir()
    with pytest.raises(FileNotFoundError, match="without a 'step5' sub-directory"):
        checkpoints.load_causal_lm(str(tmp_path / "m"), "step5")
    with pytest.raises(ValueError, match="no revisions"):
        checkpoints.checkpoint_cross_entropy(str(tmp_path / "m"), [], np.arange(10))


def test_token_cross_entropy_of_a_uniform_model():
    """A model whose logits are all 0 predicts every token with probability 1/V."""
    import math

    import torch

    from bottleneck.sources.checkpoints import token_cross_entropy

    class Uniform(torch.nn.Module):
        def get_output_embeddings(self):
            return torch.nn.Linear(2, 11, bias=False)

        def forward(self, input_ids):
            return type("Out", (), {"logits": torch.zeros(*input_ids.shape, 11)})()

    loss, n = token_cross_entropy(Uniform(), np.arange(40) % 11, block_size=8, batch_size=2)
    assert n == 5 * 7 and loss == pytest.approx(math.log(11), rel=1e-12)
