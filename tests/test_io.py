"""bottleneck._io: atomic writes keep the old file on failure and get ordinary permissions."""

import os
import stat

import pytest

from bottleneck._io import atomic_write, atomic_write_json, atomic_write_text


def test_failed_write_keeps_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "r.json"
    atomic_write_json(path, {"a": 1})

    def broken(tmp):
        with open(tmp, "w") as fh:
            fh.write("partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, broken)
    assert path.read_text() == '{\n "a": 1\n}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_permissions_follow_the_umask_not_mkstemp(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "x.txt", "hi")
        os.umask(0o077)
        atomic_write_text(tmp_path / "y.txt", "hi")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "x.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "y.txt").stat().st_mode) == 0o600
