"""_validation: the checks every public entry point shares name what is wrong and where."""

from __future__ import annotations

import numpy as np
import pytest

from bottleneck import _validation as v


def test_rank_weights_and_rows():
    assert v.check_rank(np.int64(3)) == 3
    with pytest.raises(ValueError, match="float 2.0; pass int"):
        v.check_rank(2.0)
    np.testing.assert_allclose(v.as_weights([2.0, 6.0], 2, normalize=True), [0.25, 0.75])
    np.testing.assert_allclose(v.as_weights(None, 4), np.full(4, 0.25))
    with pytest.raises(ValueError, match="row 1 sums to 0.9"):
        v.check_probability_rows(np.array([[0.5, 0.5], [0.5, 0.4]]))
    with pytest.raises(ValueError, match=r"shape \(2, 3\)"):
        v.check_logits(np.zeros((2, 2)), (2, 3))
