"""_device: device names resolve to torch devices, with clear errors."""

from __future__ import annotations

import pytest

from bottleneck._device import resolve_device


def test_resolve_device():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")
