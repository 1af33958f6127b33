"""Atomic file writes: a crash or interrupt leaves either the old file or the new one."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path, write) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``
    (its folder is created); on any error the temporary file is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(
            tmp, 0o666 & ~_umask()
        )  # mkstemp makes 0600; results are for sharing, like open()'s
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temporary file in the same folder + rename)."""

    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)

    atomic_write(path, write)


def atomic_write_json(path, payload) -> None:
    """``json.dump`` to ``path`` atomically."""
    atomic_write_text(path, json.dumps(payload, indent=1))


def atomic_savez(path, **arrays) -> None:
    """``numpy.savez`` to ``path`` atomically (``path`` should end in ``.npz``)."""

    def write(tmp):
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    atomic_write(path, write)


def atomic_write_csv(path, rows) -> None:
    """A list of dicts as CSV (header = every key, first-seen order), atomically; floats
    are written with ``repr`` so they read back exactly."""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
    w.writeheader()
    w.writerows(
        {k: repr(float(v)) if isinstance(v, (float, np.floating)) else v for k, v in r.items()}
        for r in rows
    )
    atomic_write_text(path, buf.getvalue())


def check_writable_file(path, what: str = "output file") -> Path:
    """Raise a ValueError naming ``path`` unless a file can be written there: it is not a
    folder, and its folder exists (or can be created) and is writable. Run before any long
    work, so that the work is not lost at the end."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{what} {str(path)!r} is a folder; give a file path")
    _check_writable_folder(path.parent, f"the folder of {what} {str(path)!r}")
    return path


def check_writable_folder(path, what: str = "output folder") -> Path:
    """Raise a ValueError naming ``path`` unless it is a folder (created if missing) in
    which files can be written."""
    path = Path(path)
    _check_writable_folder(path, f"{what} {str(path)!r}")
    return path


def _check_writable_folder(folder: Path, what: str) -> None:
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{what} is a file, not a folder; remove it or choose another path")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"{what} cannot be created: {exc.strerror or exc}") from None
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-check.", suffix=".tmp")
    except OSError as exc:
        raise ValueError(f"{what} is not writable: {exc.strerror or exc}") from None
    os.close(fd)
    os.unlink(probe)


def remove_orphaned_temporaries(folder, names) -> list[Path]:
    """Delete the temporary files :func:`atomic_write` left beside ``folder/name`` for each
    of ``names`` when a process was killed mid-write (``.name.*.tmp``); returns them. Call it
    only while holding :func:`exclusive_lock` on the folder's outputs (a live writer's
    temporary file would go too)."""
    removed = []
    for name in names:
        for tmp in Path(folder).glob(f".{name}.*.tmp"):
            try:
                tmp.unlink()
                removed.append(tmp)
            except FileNotFoundError:
                pass
    return removed


class LockedError(ValueError):
    """Another process holds the lock (:func:`exclusive_lock`)."""


@contextlib.contextmanager
def exclusive_lock(path):
    """Hold an exclusive lock on the file ``path`` (created if missing) for the ``with``
    block, or raise :class:`LockedError` at once when another process holds it.

    POSIX ``flock``: the lock goes with the process, so a killed run leaves no stale lock
    (the file stays; it is only a handle). Elsewhere the file is created exclusively and
    removed at the end; a killed run's file must then be removed by hand."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield from _exclusive_file(path)
        return
    fh = open(path, "a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise LockedError(f"{path} is locked by {holder}") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}\n")
        fh.flush()
        yield path
    finally:
        fh.close()


def _exclusive_file(path: Path):  # pragma: no cover - not POSIX
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        raise LockedError(
            f"{path} exists: another run holds it (remove it if no run is going)"
        ) from None
    os.write(fd, f"pid {os.getpid()}\n".encode())
    os.close(fd)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)
