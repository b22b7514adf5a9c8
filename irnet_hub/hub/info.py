"""What ``irnet info`` shows: a model's registry entry, where it is available, and its card."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from irnet_hub.hub.cache import cached_snapshot, servables_dir
from irnet_hub.hub.registry import get_entry


def card_text(name_or_path: str | Path) -> str:
    """The model card (README.md) of a model directory or of a registered model available locally
    (cache or this repository's copy), else ''. Never downloads."""
    p = Path(name_or_path)
    if not p.exists():
        entry = get_entry(str(name_or_path))
        p = cached_snapshot(entry.repo_id, entry.revision) or servables_dir() / entry.name
    card = Path(p) / "README.md"
    return card.read_text(encoding="utf-8") if card.is_file() else ""


def describe(name_or_path: str | Path) -> dict[str, Any]:
    """What ``irnet info`` shows: a registry entry and where it is available locally, or a model
    directory's ``irnet.json`` summary. Never downloads."""
    p = Path(name_or_path)
    if p.exists():
        from irnet_hub import artifact

        record = artifact.read_record(p)
        out = {
            "name": record.name,
            "architecture": record.architecture,
            "target": record.target.to_dict(),
            "featurizer": {k: v for k, v in record.featurizer.to_dict().items() if k != "labels"},
            "data": record.data.to_dict(),
            "metrics": record.metrics,
            "created": record.created,
        }
        out = {k: v for k, v in out.items() if v not in (None, {}, "")}
        out["path"] = str(p.resolve())
        return out
    entry = get_entry(str(name_or_path))
    out = {k: v for k, v in entry.to_dict().items() if k != "files"}
    cached = cached_snapshot(entry.repo_id, entry.revision)
    local = servables_dir() / entry.name
    out["cached"] = str(cached) if cached is not None else "no"
    out["repository_copy"] = str(local) if local.is_dir() else "no"
    out["files"] = entry.sha256
    return out


def card_section(card: str, heading: str) -> str:
    """The body of the card section ``## heading`` (up to the next ``## ``), or ''."""
    match = re.search(rf"^## {re.escape(heading)}\s*$(.*?)(?=^## |\Z)", card or "", flags=re.M | re.S)
    return match.group(1).strip() if match else ""


__all__ = ["describe", "card_text", "card_section"]
