"""The one atomic and safe file writer: every file irnet-hub writes appears whole or not at all.

:func:`atomic_write` writes text or bytes; :func:`atomic_path` gives a
temporary path for writers that need a file name (pandas, pyarrow, NumPy,
matplotlib) and moves it into place when the block succeeds. Both write a
uniquely named temporary file in the folder of the *real* destination
(symlinks are followed, so ``-o link.csv`` writes the file the link points
to and the link stays; ``os.replace`` is atomic only within one file
system), flush it to disk, rename it over the destination, and remove the
temporary file if anything fails, so a crash or Ctrl-C never leaves a
half-written or stray file under the final name.

Safety (issue 11), checked by :func:`resolve_output` before anything is written:

* a destination that is not a regular file (a device such as ``/dev/full``,
  a FIFO, a folder) or is read-only is refused unless ``force=True``: a typo
  in ``-o`` must not replace something that was not an output;
* the new file gets the permissions a plain ``open(path, "w")`` would give
  (``0o666`` minus the umask), or the old file's mode when one is replaced,
  instead of the ``0o600`` of a temporary file;
* a missing or unwritable folder is reported as the user's input
  (:class:`~irnet_hub.errors.InvalidInputError`, exit 2), not a traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
import time
from glob import escape as glob_escape
from pathlib import Path
from typing import Any, Callable, Iterator

from irnet_hub.errors import InvalidInputError


def _umask() -> int:
    # os.umask can only be read by setting it; set it back at once (single call site, no threads write files here).
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def resolve_output(path: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Check that ``path`` can be written as an output and return the real file to write.

    Symlinks are followed (the link stays, its target gets the new content).
    Raises :class:`InvalidInputError` naming ``path`` when its folder is
    missing or unwritable, or, without ``force``, when it exists and is not a
    regular file or is read-only.
    """
    if path is None or str(path) == "":
        raise InvalidInputError(path, "an output file name is needed")
    given = str(path)
    real = Path(os.path.realpath(os.path.expanduser(given)))
    if real.is_dir():
        raise InvalidInputError(given, "is a folder, not a file")
    folder = real.parent
    if not folder.is_dir():
        raise InvalidInputError(given, f"the folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InvalidInputError(given, f"the folder {str(folder)!r} is not writable")
    if real.exists() or real.is_symlink():
        st = real.stat()
        if not stat.S_ISREG(st.st_mode) and not force:
            raise InvalidInputError(given, "exists and is not a regular file (a device, FIFO or socket); "
                                           "refusing to replace it without --force")
        # Mode bits, not os.access: root may write anything, but a file marked read-only was marked on purpose.
        if stat.S_ISREG(st.st_mode) and not (st.st_mode & 0o222) and not force:
            raise InvalidInputError(given, "is read-only; refusing to overwrite it without --force")
    return real


STALE_SECONDS = 3600  # a temporary of the same output older than this was left by a killed run


def _temp_in(real: Path, suffix: str = ".tmp") -> tuple[int, Path]:
    # A run killed outright (SIGKILL; SIGTERM is handled by the CLI) leaves its temporary behind:
    # the next write of the same output removes those that are clearly stale.
    for old in real.parent.glob(f".{glob_escape(real.name[:60])}.*.tmp*"):
        with contextlib.suppress(OSError):
            if time.time() - old.stat().st_mtime > STALE_SECONDS:
                old.unlink()
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{real.name[:60]}.", suffix=suffix, dir=real.parent)
    except OSError as e:
        raise InvalidInputError(str(real), f"cannot write in {str(real.parent)!r} ({e.strerror})") from None
    return fd, Path(tmp)


def _replace(tmp: Path, real: Path) -> None:
    _keep_mode(real, tmp)
    if real.exists() and not stat.S_ISREG(real.stat().st_mode):
        os.unlink(real)  # only reachable with force: resolve_output refused it otherwise
    os.replace(tmp, real)


def atomic_write(path: str | Path, data: str | bytes, *, encoding: str = "utf-8", fsync: bool = True,
                 force: bool = False) -> Path:
    """Write ``data`` (text or bytes) to ``path`` atomically; returns ``path``.

    Text is written with ``newline=""`` (exactly the characters given).
    """
    real = resolve_output(path, force=force)
    fd, tmp = _temp_in(real)
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
        _replace(tmp, real)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return Path(path)


def atomic_write_json(path: str | Path, obj: Any, *, indent: int | None = 2, **kwargs: Any) -> Path:
    """``json.dumps(obj)`` plus a final newline, written atomically."""
    return atomic_write(path, json.dumps(obj, indent=indent, **kwargs) + "\n")


@contextlib.contextmanager
def atomic_path(path: str | Path, *, suffix: str | None = None, force: bool = False) -> Iterator[Path]:
    """A temporary path beside the real ``path``; moved onto it when the block exits without error.

    ``suffix`` (default: that of ``path``) keeps writers that choose a format
    by file extension working::

        with atomic_path("out.parquet") as tmp:
            df.to_parquet(tmp)
    """
    real = resolve_output(path, force=force)
    fd, tmp = _temp_in(real, suffix=".tmp" + (real.suffix if suffix is None else suffix))
    os.close(fd)
    try:
        yield tmp
        _replace(tmp, real)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# The names the CLI's output code uses.
atomic_output = atomic_path


def write_text(path: str | os.PathLike[str], text: str, *, force: bool = False) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, text, force=force)


def write_with(path: str | os.PathLike[str], writer: Callable[[Path], object], *, force: bool = False) -> Path:
    """Call ``writer(tmp_path)`` (e.g. ``df.to_parquet``) and move the result onto ``path`` atomically."""
    with atomic_path(path, force=force) as tmp:
        writer(tmp)
    return Path(path)


def new_temp_beside(real: Path) -> Path:
    """A new empty temporary file next to ``real`` (a path from :func:`resolve_output`), for streamed writes."""
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".tmp", dir=real.parent)
    except OSError as e:
        raise InvalidInputError(str(real), f"cannot write in {str(real.parent)!r} ({e.strerror})") from None
    os.close(fd)
    return Path(tmp_name)


def commit_temp(tmp: Path, real: Path) -> None:
    """Give ``tmp`` the permissions of a normally written file and rename it onto ``real``."""
    _replace(tmp, real)


def _keep_mode(out: Path, tmp: Path) -> None:
    # mkstemp creates 0600 files; give the result the permissions a plain open() would
    # (those of an existing regular file, or 0666 minus the umask).
    try:
        st = out.stat()
        mode = stat.S_IMODE(st.st_mode) if stat.S_ISREG(st.st_mode) else 0o666 & ~_umask()
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    os.chmod(tmp, mode)


__all__ = ["atomic_write", "atomic_write_json", "atomic_path", "atomic_output", "resolve_output", "write_text",
           "write_with", "new_temp_beside", "commit_temp"]
