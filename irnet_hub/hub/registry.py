"""The registry of named, pretrained models (timm-style: one small frozen record per model).

The records live in ``irnet_hub/hub/registry.json`` (package data), so listing
models never touches the network. Each record pins a Hugging Face Hub repo and
revision and the sha256 of every file of the model directory; a download is
only used when every file matches (see :mod:`irnet_hub.hub.cache`).

Publishing a model is adding one entry: train it, copy the directory to
``servables/<name>/``, upload it to the Hub, then::

    from irnet_hub.hub.registry import entry_from_model_dir, add_entry
    add_entry(entry_from_model_dir("servables/<name>", repo_id="org/<name>", revision="<commit sha>"))

``$IRNET_HUB_REGISTRY`` may name extra registry files (``os.pathsep``
separated, same format); their entries are added to, and override by name,
the built-in ones. Tests and private model zoos use it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

from irnet_hub.errors import InvalidInputError
from irnet_hub.files import atomic_write_json

REGISTRY_FILE = Path(__file__).with_name("registry.json")
REGISTRY_ENV = "IRNET_HUB_REGISTRY"
SCHEMA_VERSION = 1
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ModelEntry:
    """One registered model.

    ``files`` maps each file of the model directory (relative path) to its
    sha256; ``revision`` is the Hub revision (a commit sha, ideally) those
    hashes belong to.
    """

    name: str
    repo_id: str
    revision: str
    property: str
    unit: str
    training_data: str
    test_mae: float | None
    files: tuple[tuple[str, str], ...]
    input_kind: str = "composition"
    architecture: str = ""
    description: str = ""
    metrics: tuple[tuple[str, float], ...] = field(default=())

    @property
    def sha256(self) -> dict[str, str]:
        """``{relative path: sha256}`` of every file of the model."""
        return dict(self.files)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["files"] = dict(self.files)
        d["metrics"] = dict(self.metrics)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str = "registry") -> "ModelEntry":
        try:
            files = tuple(sorted((str(k), str(v)) for k, v in dict(d["files"]).items()))
            entry = cls(
                name=str(d["name"]),
                repo_id=str(d["repo_id"]),
                revision=str(d["revision"]),
                property=str(d.get("property", "")),
                unit=str(d.get("unit", "")),
                training_data=str(d.get("training_data", "")),
                test_mae=None if d.get("test_mae") is None else float(d["test_mae"]),
                files=files,
                input_kind=str(d.get("input_kind", "composition")),
                architecture=str(d.get("architecture", "")),
                description=str(d.get("description", "")),
                metrics=tuple(sorted((str(k), float(v)) for k, v in dict(d.get("metrics") or {}).items())),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise InvalidInputError(source, f"malformed registry entry {dict(d).get('name', '?')!r}: {e}") from None
        bad = [p for p, h in files if not _SHA256_RE.match(h) or p.startswith("/") or ".." in p.split("/")]
        if bad or not files:
            raise InvalidInputError(source, f"registry entry {entry.name!r} has bad file hashes or paths: {bad or 'none'}")
        return entry


def registry_paths() -> list[Path]:
    """The registry files read, in order: the built-in one, then ``$IRNET_HUB_REGISTRY``."""
    extra = [Path(p) for p in os.environ.get(REGISTRY_ENV, "").split(os.pathsep) if p.strip()]
    return [REGISTRY_FILE, *extra]


def _read(path: Path) -> list[ModelEntry]:
    if not path.is_file():
        if path == REGISTRY_FILE:
            return []
        raise InvalidInputError(str(path), f"registry file named in ${REGISTRY_ENV} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InvalidInputError(str(path), f"corrupt registry file ({e})") from None
    models = data.get("models", []) if isinstance(data, dict) else data
    return [ModelEntry.from_dict(m, str(path)) for m in models]


def _entries() -> dict[str, ModelEntry]:
    out: dict[str, ModelEntry] = {}
    for path in registry_paths():
        for e in _read(path):
            out[e.name] = e
    return out


def list_models() -> list[ModelEntry]:
    """Every registered model, sorted by name. Reads local JSON only, never the network."""
    return sorted(_entries().values(), key=lambda e: e.name)


def get_entry(name: str) -> ModelEntry:
    """The registry entry called ``name``; an :class:`InvalidInputError` names close matches."""
    entries = _entries()
    if name in entries:
        return entries[name]
    import difflib

    close = difflib.get_close_matches(name, list(entries), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    known = f" Registered: {', '.join(sorted(entries))}." if entries else " No models are registered yet."
    raise InvalidInputError(name, f"no such model in the registry and no such model directory{hint}.{known}")


def entry_from_model_dir(
    model_dir: str | Path,
    *,
    repo_id: str,
    revision: str,
    name: str | None = None,
    description: str = "",
    exclude: tuple[str, ...] = ("saved_model/",),
) -> ModelEntry:
    """Build a registry entry from a finished model directory or servable (its manifest and ``irnet.json``).

    The manifest is checked against the files first. The entry lists every
    file of the manifest, and ``manifest.json`` itself, except those under
    ``exclude`` (by default a servable's TensorFlow SavedModel export, which
    local prediction does not need): these are the files ``pull`` downloads
    and verifies.
    """
    from irnet_hub import artifact
    from irnet_hub.integrity import MANIFEST_FILE, sha256_file, verify_manifest

    d = artifact.require_model_dir(model_dir)
    problems = verify_manifest(d)
    if problems:
        raise InvalidInputError(str(d), "manifest does not match the files: " + "; ".join(problems))
    manifest = json.loads((d / artifact.MANIFEST_FILE).read_text())
    files = {rel: f["sha256"] for rel, f in manifest["files"].items() if not rel.startswith(tuple(exclude))}
    files[MANIFEST_FILE] = sha256_file(d / MANIFEST_FILE)
    record = artifact.read_record(d)
    test = record.metrics.get("test") or {}
    flat = {f"{split}_{k}": v for split, m in record.metrics.items() if isinstance(m, dict)
            for k, v in m.items() if isinstance(v, (int, float)) and k in ("mae", "rmse", "r2")}
    entry_name = name or record.name or d.name
    if not _NAME_RE.match(entry_name):
        raise InvalidInputError(entry_name, "model names are lower-case letters, digits, '.', '_' and '-'")
    return ModelEntry(
        name=entry_name,
        repo_id=repo_id,
        revision=revision,
        property=record.target.name,
        unit=record.target.unit,
        # a named data set, else the data file (never "<DataFrame>" for a model trained from a table)
        training_data=str(record.data.dataset or record.data.source or ""),
        test_mae=float(test["mae"]) if "mae" in test else None,
        files=tuple(sorted(files.items())),
        input_kind=record.featurizer.input_kind,
        architecture=record.architecture,
        description=description,
        metrics=tuple(sorted(flat.items())),
    )


def add_entry(entry: ModelEntry, registry_file: str | Path = REGISTRY_FILE) -> Path:
    """Add (or replace, by name) ``entry`` in a registry file, written atomically."""
    path = Path(registry_file)
    entries = {e.name: e for e in (_read(path) if path.is_file() else [])}
    entries[entry.name] = entry
    data = {"schema_version": SCHEMA_VERSION, "models": [entries[k].to_dict() for k in sorted(entries)]}
    return atomic_write_json(path, data)


__all__ = ["ModelEntry", "list_models", "get_entry", "entry_from_model_dir", "add_entry", "registry_paths"]
