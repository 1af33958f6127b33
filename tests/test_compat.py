"""_compat: renamed keywords keep working, with a DeprecationWarning."""

from __future__ import annotations

import pytest

from bottleneck._compat import renamed_keywords


def test_old_keyword_is_forwarded_with_a_warning():
    @renamed_keywords(rank="d")
    def f(x, d=1):
        return x * d

    assert f(2, d=3) == 6
    with pytest.warns(DeprecationWarning, match=r"f\(rank=...\) is deprecated; pass d="):
        assert f(2, rank=3) == 6
    with pytest.raises(TypeError, match="got both"):
        f(2, rank=3, d=3)
