"""What irnet models the Hub cache holds, and removing them (``irnet cache list|clear``).

Only repositories of the Hugging Face cache that hold an irnet model (a snapshot with an
``irnet.json``) are listed or removed: other libraries' models in the same cache are never
touched. As matgl's ``clear_cache``, clearing removes a model's whole cache folder (every
revision); the next load downloads it again, or finds the repository copy in ``servables/``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from irnet_hub.errors import InvalidInputError
from irnet_hub.hub.cache import hub_cache_dir
from irnet_hub.hub.registry import list_models as list_entries


@dataclass(frozen=True)
class CachedModel:
    """One irnet model repository in the Hub cache."""

    repo_id: str
    name: str | None  # the registered name, if the repository is a registered model's
    folder: Path  # models--org--name
    revisions: tuple[str, ...]  # snapshot folder names (commits, or local-... for `irnet pull --from`)
    size_bytes: int  # on disk: each file (or blob a snapshot links to) counted once

    def to_dict(self) -> dict:
        return {"name": self.name, "repo_id": self.repo_id, "revisions": list(self.revisions),
                "size_mib": round(self.size_bytes / 2**20, 2), "folder": str(self.folder)}  # fmt: skip


def cached_models(cache_dir: str | Path | None = None) -> list[CachedModel]:
    """The irnet models in the Hub cache (default: the one ``irnet pull`` uses), sorted by repo id."""
    cache = Path(cache_dir) if cache_dir else hub_cache_dir()
    if not cache.is_dir():
        return []
    names = {e.repo_id: e.name for e in list_entries()}
    found = []
    for storage in sorted(cache.glob("models--*")):
        if storage.is_symlink() or not storage.is_dir():
            continue
        snapshots = sorted(s for s in (storage / "snapshots").glob("*") if s.is_dir() and not s.name.startswith("."))
        if not any((s / "irnet.json").is_file() for s in snapshots):
            continue  # another library's model
        repo_id = storage.name[len("models--"):].replace("--", "/", 1)
        files = {p.resolve() for p in storage.rglob("*") if p.is_file()}
        found.append(CachedModel(repo_id, names.get(repo_id), storage, tuple(s.name for s in snapshots),
                                 sum(f.stat().st_size for f in files if f.is_file())))  # fmt: skip
    return found


def clear_cache(names: list[str] | None = None, cache_dir: str | Path | None = None) -> list[CachedModel]:
    """Remove cached irnet models: those given (registered names or repo ids), or all of them.

    A name that is not in the cache is refused before anything is removed. Returns what was removed.
    """
    cached = cached_models(cache_dir)
    if names:
        by_key = {**{m.repo_id: m for m in cached}, **{m.name: m for m in cached if m.name}}
        missing = [n for n in names if n not in by_key]
        if missing:
            have = ", ".join(m.name or m.repo_id for m in cached) or "none"
            raise InvalidInputError(", ".join(missing), f"is not in the cache (cached irnet models: {have})")
        cached = list({by_key[n].folder: by_key[n] for n in names}.values())
    for model in cached:
        shutil.rmtree(model.folder)
    return cached
