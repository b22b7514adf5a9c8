"""Integrity of model folders, in one place: sha256 of files, the manifest, finite weights.

Every path that loads a model runs :func:`check_model_dir` (predict, evaluate, servable,
publish, screen, serve, Keras loading); a registered model pulled from the Hub or a cache is
compared with the registry's pinned sha256 by :func:`compare_files` (``hub.cache``) and then
loaded with ``hashes_checked=True``, so each file is hashed once per load. Failures are
:class:`~irnet_hub.errors.IntegrityError` (exit code 5).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping

from irnet_hub.errors import IntegrityError, InvalidInputError, IrnetWarning
from irnet_hub.files import atomic_write_json
from irnet_hub.record import INFO_FILE

KERAS_FILES = ("config.json", "metadata.json", "model.weights.h5")
MANIFEST_FILE = "manifest.json"
# Not part of a finished model: working state that training may leave behind.
NOT_IN_MANIFEST = {MANIFEST_FILE, "checkpoint", "assets"}
# The model card: it describes a model and is never read to predict. A card edited on the Hub after a
# version was pinned changes only its own sha256; that is reported, never refused or deleted. Weights,
# config and every other pinned file stay strict.
CARD_FILES = frozenset({"README.md"})


def split_card_problems(problems: list[str]) -> tuple[list[str], list[str]]:
    """``(problems that refuse the model, problems with the card only)`` from :func:`compare_files`."""
    card = [p for p in problems if p.split(":")[0] in CARD_FILES]
    return [p for p in problems if p not in card], card


def is_model_dir(path: str | Path) -> bool:
    p = Path(path)
    return p.is_dir() and (p / INFO_FILE).is_file() and (p / "config.json").is_file()


def require_model_dir(path: str | Path) -> Path:
    if not isinstance(path, (str, os.PathLike)) or str(path) == "":
        raise InvalidInputError(path, "expected a model name or the path of a model directory")
    p = Path(path)
    if not p.exists():
        raise InvalidInputError(str(path), "no such model directory")
    if not is_model_dir(p):
        raise InvalidInputError(str(path), f"not an irnet-hub model directory (needs {INFO_FILE} and config.json)")
    return p


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_manifest(model_dir: str | Path) -> dict[str, dict[str, Any]]:
    """Record sha256 and size of every file of the model (recursively)."""
    root = Path(model_dir)
    files = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and rel.split("/")[0] not in NOT_IN_MANIFEST:
            files[rel] = {"sha256": sha256_file(p), "size": p.stat().st_size}
    atomic_write_json(root / MANIFEST_FILE, {"files": files})
    return files


def compare_files(folder: str | Path, sha256: Mapping[str, str]) -> list[str]:
    """Problems found checking every file of ``sha256`` (relative path -> hex digest) in ``folder``;
    an empty list when all match. The one comparison behind manifests and registry pins."""
    root = Path(folder)
    problems = []
    for rel, expected in sorted(sha256.items()):
        p = root / rel
        if not p.is_file():
            problems.append(f"{rel}: missing")
        elif sha256_file(p) != expected:
            problems.append(f"{rel}: sha256 mismatch")
    return problems


def verify_manifest(model_dir: str | Path) -> list[str]:
    """Return the problems found (empty when every file ``manifest.json`` lists matches its sha256)."""
    root = Path(model_dir)
    mf = root / MANIFEST_FILE
    if not mf.is_file():
        return [f"{MANIFEST_FILE} missing"]
    return compare_files(root, {rel: entry["sha256"] for rel, entry in json.loads(mf.read_text())["files"].items()})


# Files a model cannot be loaded without: its manifest must list each, with a matching sha256.
REQUIRED_FILES = (*KERAS_FILES, INFO_FILE)


def read_manifest(root: Path) -> dict[str, str]:
    """``{relative path: sha256}`` from ``manifest.json``; :class:`IntegrityError` if missing or malformed."""
    mf = root / MANIFEST_FILE
    hint = ("a model folder must carry the manifest irnet-hub writes (irnet train does); "
            "for your own training output you can skip the check with --no-verify")
    if not mf.is_file():
        raise IntegrityError(f"{root}: {MANIFEST_FILE} is missing, so its files cannot be verified ({hint})")
    try:
        data = json.loads(mf.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise IntegrityError(f"{root}: {MANIFEST_FILE} is damaged (not JSON: {e})") from None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        raise IntegrityError(f"{root}: {MANIFEST_FILE} is damaged (expected {{\"files\": {{path: {{sha256, size}}}}}}, "
                             f"found {type(data).__name__} {str(data)[:60]})")
    out: dict[str, str] = {}
    for rel, entry in files.items():
        sha = entry.get("sha256") if isinstance(entry, dict) else None
        if not isinstance(sha, str) or len(sha) != 64 or rel.startswith("/") or ".." in rel.split("/"):
            raise IntegrityError(f"{root}: {MANIFEST_FILE} is damaged (bad entry for {rel!r})")
        out[rel] = sha
    missing = [f for f in REQUIRED_FILES if f not in out]
    if missing:
        raise IntegrityError(f"{root}: {MANIFEST_FILE} does not list {', '.join(missing)}, which the model needs "
                             f"({hint})")
    return out


def check_finite_weights(weights_path: str | Path) -> None:
    """:class:`IntegrityError` unless every array in a Keras weights file is finite (and the file reads)."""
    import h5py
    import numpy as np

    bad: list[str] = []

    def visit(name: str, obj) -> None:
        if isinstance(obj, h5py.Dataset) and obj.dtype.kind == "f" and not np.isfinite(obj[()]).all():
            bad.append(name)

    try:
        with h5py.File(weights_path, "r") as h5:
            h5.visititems(visit)
    except OSError as e:
        raise IntegrityError(f"{weights_path}: cannot read the weights file ({e})") from None
    if bad:
        raise IntegrityError(f"{weights_path}: non-finite (NaN or infinite) weights in {', '.join(bad[:3])}"
                             + (f" and {len(bad) - 3} more" if len(bad) > 3 else ""))


def check_model_dir(model_dir: str | Path, *, verify: bool = True, hashes_checked: bool = False) -> Path:
    """THE integrity check every path that loads a model runs (predict, evaluate, servable, publish,
    screen, serve, Keras loading). Returns the folder.

    The folder must be a model directory whose ``manifest.json`` lists every
    file the model needs (:data:`REQUIRED_FILES`) with a matching sha256, and
    the weights must be finite. Other listed files (card, DLHub description,
    SavedModel export) are not read to predict: a changed one is a warning,
    an absent one (a pull leaves out the SavedModel) is fine. Any failure raises
    :class:`~irnet_hub.errors.IntegrityError` (exit code 5). ``verify=False``
    skips all of it with a warning (for one's own training output). ``hashes_checked=True``: the caller
    has just compared every file with pinned sha256 (``hub.cache.pull`` against the registry), so the
    files are not hashed a second time; the manifest and the weights are still checked.
    """
    import warnings

    path = require_model_dir(model_dir)
    if not verify:
        warnings.warn(f"{path}: model files not verified (--no-verify); predictions from a damaged folder "
                      "can be wrong without any error", IrnetWarning, stacklevel=2)
        return path
    hashes = read_manifest(path)
    if hashes_checked:
        check_finite_weights(path / "model.weights.h5")
        return path
    problems, changed = [], []
    for rel, expected in sorted(hashes.items()):
        p = path / rel
        if not p.is_file():
            if rel in REQUIRED_FILES:
                problems.append(f"{rel}: missing")
        elif sha256_file(p) != expected:
            if rel in REQUIRED_FILES:
                problems.append(f"{rel}: sha256 mismatch (damaged or changed after the manifest was written)")
            else:
                changed.append(rel)
    if problems:
        raise IntegrityError(f"{path}: model files do not match {MANIFEST_FILE}: " + "; ".join(problems))
    if changed:
        # Descriptions a host rewrites (DLHub's dlhub.json), a card edited by hand: never read to predict.
        warnings.warn(f"{path}: {', '.join(changed)} differ from {MANIFEST_FILE} (not used for predictions)",
                      IrnetWarning, stacklevel=2)
    check_finite_weights(path / "model.weights.h5")
    return path


__all__ = ["CARD_FILES", "split_card_problems", "is_model_dir", "require_model_dir", "sha256_file", "write_manifest", "compare_files", "verify_manifest", "read_manifest", "check_finite_weights",
           "check_model_dir", "REQUIRED_FILES", "KERAS_FILES", "MANIFEST_FILE"]
