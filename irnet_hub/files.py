"""The one safe writer for the files irnet-hub produces (``-o`` outputs, model metadata, tables).

Every output goes through :func:`atomic_output`:

* the real target is written, not a symlink pointing at it: the path is
  resolved first, and the temporary file is made *next to the real target*,
  so the final ``os.replace`` is a rename within one filesystem and a reader
  never sees half a file;
* a target that is not a regular file (a device such as ``/dev/full``, a
  FIFO, a folder) or is read-only is refused unless ``force=True``: a typo
  in ``-o`` must not replace something that was not an output;
* the new file gets the permissions a plain ``open(path, "w")`` would give
  (``0o666`` minus the umask), or the old file's mode when one is replaced,
  instead of the ``0o600`` of a temporary file;
* a missing or unwritable folder is reported as the user's input
  (:class:`~irnet_hub.errors.InvalidInputError`, exit 2), not a traceback.
"""

from __future__ import annotations

import os
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

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


@contextmanager
def atomic_output(path: str | os.PathLike[str], *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside the real target; on success it replaces the target atomically.

    On any error (or KeyboardInterrupt) the temporary file is removed and the
    old target is left untouched.
    """
    real = resolve_output(path, force=force)
    old_mode = None
    if real.exists():
        st = real.stat()
        if stat.S_ISREG(st.st_mode):
            old_mode = stat.S_IMODE(st.st_mode)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".tmp", dir=real.parent)
    except OSError as e:
        raise InvalidInputError(str(path), f"cannot write in {str(real.parent)!r} ({e.strerror})") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        mode = old_mode if old_mode is not None else (0o666 & ~_umask())
        os.chmod(tmp, mode)
        if not real.exists() or stat.S_ISREG(real.stat().st_mode):
            os.replace(tmp, real)
        else:  # forced: a device or FIFO is unlinked first (rename over it is what was asked)
            os.unlink(real)
            os.replace(tmp, real)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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
    mode = stat.S_IMODE(real.stat().st_mode) if real.is_file() else (0o666 & ~_umask())
    os.chmod(tmp, mode)
    if real.exists() and not real.is_file():
        os.unlink(real)  # only reachable with force (resolve_output refused it otherwise)
    os.replace(tmp, real)


def write_text(path: str | os.PathLike[str], text: str, *, force: bool = False, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_output`); returns the real path written."""
    with atomic_output(path, force=force) as tmp:
        with open(tmp, "w", encoding=encoding, newline="") as f:
            f.write(text)
    return Path(os.path.realpath(path))


def write_bytes(path: str | os.PathLike[str], data: bytes, *, force: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically; returns the real path written."""
    with atomic_output(path, force=force) as tmp:
        tmp.write_bytes(data)
    return Path(os.path.realpath(path))


def write_with(path: str | os.PathLike[str], writer: Callable[[Path], object], *, force: bool = False) -> Path:
    """Call ``writer(tmp_path)`` (e.g. ``df.to_parquet``) and move the result onto ``path`` atomically."""
    with atomic_output(path, force=force) as tmp:
        writer(tmp)
    return Path(os.path.realpath(path))


__all__ = ["resolve_output", "atomic_output", "new_temp_beside", "commit_temp", "write_text", "write_bytes", "write_with"]
