"""The one atomic file writer: every file irnet-hub writes appears whole or not at all.

:func:`atomic_write` writes text or bytes; :func:`atomic_path` gives a
temporary path for writers that need a file name (pandas, pyarrow, NumPy,
matplotlib) and moves it into place when the block succeeds. Both write a
uniquely named temporary file in the destination's folder (``os.replace`` is
atomic only within one file system), flush it to disk, rename it over the
destination, and remove the temporary file if anything fails, so a crash or
Ctrl-C never leaves a half-written or stray file under the final name.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator


def _temp_in(path: Path, suffix: str = ".tmp") -> tuple[int, Path]:
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:60]}.", suffix=suffix, dir=folder)
    return fd, Path(tmp)


def atomic_write(path: str | Path, data: str | bytes, *, encoding: str = "utf-8", fsync: bool = True) -> Path:
    """Write ``data`` (text or bytes) to ``path`` atomically; returns ``path``.

    Text is written with ``newline=""`` (exactly the characters given).
    """
    out = Path(path)
    fd, tmp = _temp_in(out)
    try:
        if isinstance(data, bytes):
            f = os.fdopen(fd, "wb")
        else:
            f = os.fdopen(fd, "w", encoding=encoding, newline="")
        with f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        _keep_mode(out, tmp)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out


def atomic_write_json(path: str | Path, obj: Any, *, indent: int | None = 2, **kwargs: Any) -> Path:
    """``json.dumps(obj)`` plus a final newline, written atomically."""
    return atomic_write(path, json.dumps(obj, indent=indent, **kwargs) + "\n")


@contextlib.contextmanager
def atomic_path(path: str | Path, *, suffix: str | None = None) -> Iterator[Path]:
    """A temporary path beside ``path``; moved onto ``path`` when the block exits without error.

    ``suffix`` (default: that of ``path``) keeps writers that choose a format
    by file extension working::

        with atomic_path("out.parquet") as tmp:
            df.to_parquet(tmp)
    """
    out = Path(path)
    fd, tmp = _temp_in(out, suffix=".tmp" + (out.suffix if suffix is None else suffix))
    os.close(fd)
    try:
        yield tmp
        _keep_mode(out, tmp)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _keep_mode(out: Path, tmp: Path) -> None:
    # mkstemp creates 0600 files; give the result the permissions a plain open() would
    # (those of an existing file, or 0666 minus the umask).
    try:
        mode = out.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    os.chmod(tmp, mode)


__all__ = ["atomic_write", "atomic_write_json", "atomic_path"]
