"""Getting a registered model onto disk: local cache, Hugging Face Hub, then the repository copy.

Resolution order for a registered name (:func:`pull`):

1. the local cache: the Hugging Face Hub cache (``$HF_HUB_CACHE``, else
   ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``), read directly from
   its documented layout (``models--org--name/snapshots/<commit>/``) so a
   cached model loads without importing ``huggingface_hub`` or touching the
   network;
2. the Hub, with :func:`huggingface_hub.snapshot_download` (honours
   ``HF_ENDPOINT``, ``HF_TOKEN``, ``HF_HUB_OFFLINE`` and writes the standard
   cache layout), skipped when ``HF_HUB_OFFLINE`` is set;
3. the copy in the repository's ``servables/<name>/`` folder (or
   ``$IRNET_HUB_SERVABLES/<name>``), so a fresh clone works offline.

Every file is checked against the sha256 the registry pins before the model
is used. A cached file that does not match is deleted and fetched again with
``force_download=True``; a download that still does not match is deleted and
refused, never used.

Consistency under concurrency and interruption:

* ``snapshot_download`` (huggingface_hub >= 0.23, checked in 2.4's source)
  writes every file to a process-unique temporary file, renames it atomically
  into ``blobs/<etag>`` and only then links ``snapshots/<commit>/<file>`` to
  it, under a per-blob file lock; an interrupted transfer deletes its
  temporary file. A snapshot folder can therefore lack files after an
  interruption but never holds a partial file, and we rely on that.
* Whether a snapshot is *complete* is decided here, by the registry's file
  list and hashes, not by the folder's existence.
* :func:`pull` holds one :class:`filelock.FileLock` per model and revision
  for the whole check-download-verify sequence, so two concurrent pulls of
  the same model (threads or processes) download it once; the second finds
  the verified snapshot of the first.
"""

from __future__ import annotations

import hashlib
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from irnet_hub.errors import IntegrityError, InvalidInputError, ModelNotAvailableError
from irnet_hub.hub.network import hub_unreachable
from irnet_hub.hub.registry import ModelEntry, get_entry, list_models
from irnet_hub.integrity import check_model_dir, compare_files, is_model_dir, split_card_problems

SERVABLES_ENV = "IRNET_HUB_SERVABLES"
LIBRARY_NAME = "irnet-hub"
_COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")


# --------------------------------------------------------------------------- locations


def _truthy(value: str | None) -> bool:
    return (value or "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def hub_cache_dir() -> Path:
    """The Hugging Face Hub cache folder, resolved from the environment *now*.

    (huggingface_hub reads these variables once, at import; resolving them at
    call time and passing ``cache_dir`` explicitly keeps a later change, e.g.
    in tests, effective.)
    """
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.path.expandvars(os.path.expanduser(os.environ[var])))
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(os.path.expandvars(os.path.expanduser(home))) / "hub"


def is_offline() -> bool:
    """``HF_HUB_OFFLINE`` (or the legacy ``TRANSFORMERS_OFFLINE``) is set."""
    return _truthy(os.environ.get("HF_HUB_OFFLINE")) or _truthy(os.environ.get("TRANSFORMERS_OFFLINE"))


def servables_dir() -> Path:
    """Where the repository keeps its copies of the registered models."""
    env = os.environ.get(SERVABLES_ENV)
    return Path(env) if env else Path(__file__).resolve().parents[2] / "servables"


def _repo_folder(repo_id: str) -> str:
    return "models--" + repo_id.replace("/", "--")


def cached_snapshot(repo_id: str, revision: str, cache_dir: str | Path | None = None) -> Path | None:
    """The cached snapshot folder of ``repo_id`` at ``revision``, if any (no network, no verification)."""
    storage = Path(cache_dir or hub_cache_dir()) / _repo_folder(repo_id)
    commit = revision if _COMMIT_RE.match(revision) else None
    if commit is None:
        ref = storage / "refs" / revision
        if ref.is_file():
            commit = ref.read_text().strip()
    if not commit:
        return None
    snap = storage / "snapshots" / commit
    return snap if snap.is_dir() else None


# --------------------------------------------------------------------------- verification


def _manifest_hashes(folder: Path) -> dict[str, str] | None:
    """File hashes from a downloaded ``manifest.json`` (for revisions the registry does not pin)."""
    import json

    mf = folder / "manifest.json"
    if not mf.is_file():
        return None
    try:
        return {rel: f["sha256"] for rel, f in json.loads(mf.read_text())["files"].items()}
    except (ValueError, KeyError, TypeError):
        return None


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _purge(folder: Path, problems: list[str], cache_dir: Path) -> list[str]:
    """Delete the mismatching files of a cached snapshot (the link and the blob it points to).

    Only paths that, once resolved, lie inside the cache root are touched: a
    snapshot folder that is (or contains) a symlink to a user's folder must
    never lead to a user's file being deleted. Returns what could not be
    deleted and why (a read-only cache, a path outside the cache).
    """
    root = cache_dir.resolve()
    notes: list[str] = []
    deleted: list[str] = []
    for problem in problems:
        rel = problem.split(":")[0]
        link = folder / rel
        if not link.exists() and not link.is_symlink():
            continue
        # Where the link itself lives, with every symlinked folder above it resolved.
        link_real = link.parent.resolve() / link.name
        target = link.resolve()
        if not _inside(link_real, root):
            notes.append(f"{rel}: not deleted, {link_real} is outside the cache {root}")
            continue
        try:
            link.unlink(missing_ok=True)
            # Only blobs inside the cache we manage are ours to delete.
            if target != link_real and target.is_file() and _inside(target, root):
                target.unlink(missing_ok=True)
            deleted.append(f"{link} ({problem})")
        except OSError as e:
            notes.append(f"{rel}: could not be deleted ({e.strerror or e}; read-only cache?)")
    if deleted:  # never silently: the user learns which cached file went, and why
        import warnings

        from irnet_hub.errors import IrnetWarning

        warnings.warn("deleted from the Hub cache, because it does not match the sha256 pinned for it: "
                      + "; ".join(deleted), IrnetWarning, stacklevel=3)
    return notes


# --------------------------------------------------------------------------- pull


def _hf_download(entry: ModelEntry, revision: str, cache_dir: Path, patterns: list[str] | None, force: bool) -> Path:
    from huggingface_hub import snapshot_download

    from irnet_hub import __version__

    path = snapshot_download(
        entry.repo_id,
        revision=revision,
        cache_dir=str(cache_dir),
        library_name=LIBRARY_NAME,
        library_version=__version__,
        allow_patterns=patterns,
        force_download=force,
        # Read at call time: huggingface_hub fixes its default endpoint at import.
        endpoint=os.environ.get("HF_ENDPOINT") or None,
        max_workers=4,
    )
    return Path(path)


def _from_hub(entry: ModelEntry, revision: str, expected: dict[str, str] | None, cache_dir: Path, force: bool) -> Path:
    """Download with snapshot_download and verify; one forced re-fetch on a mismatch."""
    patterns = sorted(expected) if expected else None
    snap = _hf_download(entry, revision, cache_dir, patterns, force)
    hashes = expected or _manifest_hashes(snap)
    if hashes is None:
        raise IntegrityError(f"{entry.name}: revision {revision} has no manifest.json to verify its files against")
    problems, card = split_card_problems(compare_files(snap, hashes))
    if problems:
        # Never use a mismatching file: drop it and fetch everything again from the server.
        if _purge(snap, problems, cache_dir):
            raise IntegrityError(f"{entry.name}: files in the cache do not match the registry and cannot be "
                                 f"replaced ({'; '.join(problems)})")
        snap = _hf_download(entry, revision, cache_dir, patterns, True)
        hashes = expected or _manifest_hashes(snap) or hashes
        problems, card = split_card_problems(compare_files(snap, hashes))
        if problems:
            _purge(snap, problems, cache_dir)
            raise IntegrityError(
                f"{entry.name}: files downloaded from {entry.repo_id}@{revision} do not match the registry "
                f"and were deleted ({'; '.join(problems)})"
            )
    _warn_card_changed(entry, revision, snap, card)
    return snap


def _warn_card_changed(entry: ModelEntry, revision: str, snap: Path, card: list[str]) -> None:
    """Say that a card differs from the pinned one (edited on the Hub since): it is kept, not deleted."""
    if card:
        import warnings

        from irnet_hub.errors import IrnetWarning

        warnings.warn(f"model {entry.name!r}: {'; '.join(card)} against the registry pin for "
                      f"{entry.repo_id}@{revision} (the card was probably edited on the Hub since); kept "
                      f"as it is in {snap}: it is not read to predict, and every file that is matches",
                      IrnetWarning, stacklevel=3)


def _lock_path(cache_dir: Path, entry: ModelEntry, revision: str) -> Path:
    safe_rev = re.sub(r"[^A-Za-z0-9._-]", "_", revision)
    return cache_dir / ".locks" / LIBRARY_NAME / f"{_repo_folder(entry.repo_id)}.{safe_rev}.lock"


LOCK_TIMEOUT_S = 900.0  # longest wait for another process's download of the same model


@contextmanager
def _model_lock(path: Path, name: str) -> Iterator[None]:
    """Hold the per-model file lock; a read-only cache (nothing can be written there) goes unlocked."""
    from filelock import FileLock, Timeout

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(path), timeout=LOCK_TIMEOUT_S)
        lock.acquire()
    except Timeout:
        raise ModelNotAvailableError(
            f"model {name!r}: another process has been downloading it for {LOCK_TIMEOUT_S:.0f} s "
            f"(lock file {path}); try again, or delete the lock file if no download is running"
        ) from None
    except OSError:  # read-only cache: only verified reads can happen, and those need no lock
        yield
        return
    try:
        yield
    finally:
        lock.release()


def pull(
    name: str,
    revision: str | None = None,
    *,
    cache_dir: str | Path | None = None,
    force_download: bool = False,
) -> Path:
    """Make the registered model ``name`` available locally and return its verified folder.

    ``revision`` defaults to the one the registry pins (whose sha256 are
    checked); another revision is checked against its own ``manifest.json``.
    Raises :class:`ModelNotAvailableError` when no source has a complete,
    verified copy; the message says what each source answered.
    """
    entry = get_entry(name)
    rev = revision or entry.revision
    pinned = rev == entry.revision
    expected = entry.sha256 if pinned else None
    cache = Path(cache_dir) if cache_dir else hub_cache_dir()
    tried: list[str] = []
    mismatch = False  # some source had a file whose sha256 differs: an integrity failure, not absence
    refused: list[str] = []  # copies that were found but failed their check: the user is told

    with _model_lock(_lock_path(cache, entry, rev), name):
        snap = None if force_download else cached_snapshot(entry.repo_id, rev, cache)
        if snap is not None:
            hashes = expected or _manifest_hashes(snap)
            problems = compare_files(snap, hashes) if hashes else ["manifest.json: missing"]
            problems, card = split_card_problems(problems)
            if not problems:
                _warn_card_changed(entry, rev, snap, card)
                return snap
            # Incomplete (interrupted) or corrupted: the bad files go, then the Hub is asked again.
            notes = _purge(snap, [p for p in problems if "mismatch" in p], cache)
            force_download = force_download or any("mismatch" in p for p in problems)
            mismatch = mismatch or any("mismatch" in p for p in problems)
            tried.append(f"cache {snap}: " + "; ".join(problems + notes))
            refused.append(tried[-1])

        endpoint = os.environ.get("HF_ENDPOINT") or None
        if is_offline():
            tried.append("Hugging Face Hub: not contacted (HF_HUB_OFFLINE is set)")
        elif (why := hub_unreachable(endpoint)) is not None:
            tried.append(f"Hugging Face Hub: {why}")
        else:
            try:
                return _from_hub(entry, rev, expected, cache, force_download)
            except IntegrityError as e:
                mismatch = True
                tried.append(f"Hugging Face Hub {entry.repo_id}@{rev}: download refused: {e}")
                refused.append(tried[-1])
            except Exception as e:  # noqa: BLE001 - any Hub failure (network, auth, 404, 5xx) falls through
                tried.append(f"Hugging Face Hub {entry.repo_id}@{rev}: {type(e).__name__}: {_first_line(e)}")

        if pinned:
            local = servables_dir() / entry.name
            if local.is_dir():
                problems = compare_files(local, entry.sha256)
                if not problems:
                    if refused:
                        import warnings

                        from irnet_hub.errors import IrnetWarning

                        warnings.warn(f"model {name!r}: using the repository copy {local}, because "
                                      + "; ".join(refused), IrnetWarning, stacklevel=2)
                    return local
                mismatch = mismatch or any("mismatch" in p for p in problems)
                tried.append(f"repository copy {local}: " + "; ".join(problems))
            elif not servables_dir().is_dir() and not os.environ.get(SERVABLES_ENV):
                tried.append(f"repository copy: this installation has no servables/ folder (looked for "
                             f"{servables_dir()}; a wheel install ships none, only a source checkout has one)")
            else:
                tried.append(f"repository copy {local}: not present")

    message = f"model {name!r} is not available:\n  " + "\n  ".join(tried) + "\n" + _how_to_get(name, cache)
    raise (IntegrityError if mismatch else ModelNotAvailableError)(message)


def pull_from(name: str, folder: str | Path, *, cache_dir: str | Path | None = None,
              entry: ModelEntry | None = None) -> Path:
    """Put a copy of registered model ``name`` that is already on disk (a folder copied from another
    machine, an unpacked download) into the Hub cache, for machines without network access.

    Every file the registry pins is checked against its sha256 first; a folder that fails is refused
    and nothing is written. Returns the cached folder, which later loads find offline. ``entry``: the
    registry entry to check against (default: the registered one called ``name``).
    """
    import shutil

    entry = entry or get_entry(name)
    src = Path(folder)
    if not src.is_dir():
        raise InvalidInputError(str(folder), "is not a folder")
    problems = compare_files(src, entry.sha256)
    if problems:
        raise IntegrityError(f"{folder}: not model {name!r} as the registry pins it: " + "; ".join(problems))
    cache = Path(cache_dir) if cache_dir else hub_cache_dir()
    storage = cache / _repo_folder(entry.repo_id)
    # A commit-pinned entry goes under its commit; a branch-pinned one under a local id its ref points to.
    commit = entry.revision if _COMMIT_RE.match(entry.revision) else "local-" + hashlib.sha256(
        "".join(sorted(entry.sha256.values())).encode()).hexdigest()[:32]  # fmt: skip
    with _model_lock(_lock_path(cache, entry, entry.revision), name):
        snap = storage / "snapshots" / commit
        stage = storage / "snapshots" / f".{commit}.incomplete"
        shutil.rmtree(stage, ignore_errors=True)
        for rel in entry.sha256:
            (stage / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / rel, stage / rel)
        shutil.rmtree(snap, ignore_errors=True)
        os.replace(stage, snap)
        if commit != entry.revision:
            (storage / "refs").mkdir(parents=True, exist_ok=True)
            (storage / "refs" / entry.revision).write_text(commit)
    return snap


def _how_to_get(name: str, cache: Path) -> str:
    return (f"To get it: with network access run `irnet pull {name}` (it is then kept in the cache {cache}); "
            f"or set {SERVABLES_ENV} to a folder holding {name}/ (such as servables/ of an irnet-hub source "
            "checkout); or set HF_ENDPOINT to a Hugging Face Hub mirror.")


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else ""


def resolve(name_or_path: str | Path, revision: str | None = None) -> tuple[Path, str | None]:
    """``(folder, registry name or None)`` for an explicit model directory or a registered name."""
    if not isinstance(name_or_path, (str, os.PathLike)) or str(name_or_path).strip() == "":
        raise InvalidInputError(name_or_path, "expected a registered model name or the path of a model directory "
                                              f"(got {type(name_or_path).__name__})")
    if revision is not None and not isinstance(revision, str):
        raise InvalidInputError(revision, "a revision is a branch, tag or commit string")
    p = Path(name_or_path)
    if p.exists():
        if revision is not None:
            raise InvalidInputError(str(name_or_path), "a revision applies to registered models, not to a local directory")
        return p, None
    name = str(name_or_path)
    hub_id = _HUB_ID_RE.fullmatch(name)
    if hub_id and (name.startswith("hf://") or name not in {e.name for e in list_models()}):
        # A Hugging Face repo id ("my-lab/irnet-bulk-modulus" or "hf://..."), as `irnet publish` made it.
        return pull_repo(hub_id["repo"], revision), None
    if os.sep in name or name.startswith("."):
        # Looks like a path (a registry name has no slashes): say so rather than query the registry.
        raise InvalidInputError(name, "no such model directory")
    return pull(name, revision), name


_HUB_ID_RE = re.compile(r"(?:hf://)?(?P<repo>[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*)")


def pull_repo(repo_id: str, revision: str | None = None) -> Path:
    """A model published on the Hugging Face Hub under ``repo_id`` (not in the registry): its snapshot,
    from the Hub cache when offline (``HF_HUB_OFFLINE=1``) or downloaded, then checked against the
    manifest it carries (sha256 of every file, finite weights)."""
    cache = hub_cache_dir()
    folder = cached_snapshot(repo_id, revision or "main", cache) if is_offline() else None
    if folder is None:
        entry = ModelEntry(name=repo_id.split("/")[-1].lower(), repo_id=repo_id, revision=revision or "main",
                           property="", unit="", training_data="", test_mae=None, files=())  # fmt: skip
        try:
            folder = _hf_download(entry, revision or "main", cache, None, False)
        except Exception as e:  # huggingface_hub raises many kinds: offline, missing repo, network
            raise ModelNotAvailableError(f"{repo_id}: not in the Hugging Face cache ({cache}) and not downloadable "
                                         f"({_first_line(e)})") from None  # fmt: skip
    if not is_model_dir(folder):
        raise InvalidInputError(repo_id, f"the Hub repo is not an irnet-hub model (no irnet.json in {folder})")
    return check_model_dir(folder)


__all__ = [
    "pull",
    "pull_from",
    "resolve",
    "cached_snapshot",
    "hub_cache_dir",
    "servables_dir",
    "is_offline",
    "ModelNotAvailableError",
    "IntegrityError",
]
