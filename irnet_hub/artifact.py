"""The model directory: one self-describing folder per trained model.

Layout (the first three files are exactly Keras 3's own directory format, the
one ``keras.saving.save_model(model, "hf://...")`` uploads, so stock
``keras.saving.load_model(dir)`` reads the network with no irnet_hub import)::

    MODEL_DIR/
      config.json          Keras model config
      metadata.json        Keras version and date
      model.weights.h5     Keras weights
      irnet.json           featurizer, scaler, target, data, split, hyperparameters,
                           library versions, metrics, training element counts
      training_log.csv     one row per epoch (train/val MAE)
      README.md            model card (optional)
      manifest.json        sha256 and size of every other file

The network embeds its scaler as fixed ``Normalization``/``Rescaling`` layers,
so it maps raw features to the target in its unit; ``irnet.json`` records the
same numbers so other tools (the NumPy forward pass, DLHub) can use them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from irnet_hub.errors import IntegrityError, InvalidInputError, IrnetWarning
from irnet_hub.files import atomic_write_json
from irnet_hub.record import INFO_FILE, SCHEMA_VERSION, ModelRecord, as_record  # noqa: F401 (re-exported)

KERAS_FILES = ("config.json", "metadata.json", "model.weights.h5")
LOG_FILE = "training_log.csv"
CARD_FILE = "README.md"
MANIFEST_FILE = "manifest.json"
SAVING_PREFIX = ".irnet-saving-"  # the temporary folder a model is saved into before its files move in place
# Not part of a finished model: working state that training may leave behind.
_NOT_IN_MANIFEST = {MANIFEST_FILE, "checkpoint", "assets"}


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


def save_model_dir(model: Any, out_dir: str | Path, info: ModelRecord | dict[str, Any]) -> Path:
    """Write the Keras model and ``irnet.json`` into ``out_dir`` and refresh the manifest."""
    import keras

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if getattr(model, "optimizer", None) is not None:
        # A compiled model would also store its optimizer's state (Adam: twice the weights again);
        # the model directory holds the network only (resume state lives in checkpoint/).
        # (keras.models.clone_model keeps the compiled optimizer; a model rebuilt from its config does not.)
        bare = keras.Model.from_config(model.get_config())
        bare.set_weights(model.get_weights())
        model = bare
    # Save into a temporary folder first so a crash never leaves half a model; one that a killed
    # run left behind (SIGKILL) is removed by the next save.
    for stale in out.glob(f"{SAVING_PREFIX}*"):
        shutil.rmtree(stale, ignore_errors=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=SAVING_PREFIX) as tmp:
        keras.saving.save_model(model, os.path.join(tmp, "m"), zipped=False)
        for name in KERAS_FILES:
            os.replace(os.path.join(tmp, "m", name), out / name)
    write_info(out, info)
    write_manifest(out)
    return out


def write_info(model_dir: str | Path, info: ModelRecord | dict[str, Any]) -> None:
    """Write ``irnet.json`` through :class:`~irnet_hub.record.ModelRecord` (a dict is validated first)."""
    as_record(info, str(Path(model_dir) / INFO_FILE)).write(model_dir)


def read_record(model_dir: str | Path) -> ModelRecord:
    """The model directory's typed record (``irnet.json``, schema checked and migrated)."""
    return ModelRecord.read(require_model_dir(model_dir))


def read_info(model_dir: str | Path) -> dict[str, Any]:
    """``irnet.json`` as a plain dict, in the current schema (for scripts that edit it by key)."""
    return read_record(model_dir).to_dict()


def load_keras_model(model_dir: str | Path, *, verify: bool = True):
    """Load the network with stock Keras (``safe_mode=True``, no custom objects).

    The folder is checked first (:func:`check_model_dir`) unless ``verify=False``
    (used internally on a folder being assembled, which has no manifest yet).
    """
    import keras

    # verify=False here is an internal caller that has checked the folder already: no warning.
    path = check_model_dir(model_dir) if verify else require_model_dir(model_dir)
    return keras.saving.load_model(str(path), safe_mode=True, compile=False)


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
        if p.is_file() and rel.split("/")[0] not in _NOT_IN_MANIFEST:
            files[rel] = {"sha256": sha256_file(p), "size": p.stat().st_size}
    atomic_write_json(root / MANIFEST_FILE, {"files": files})
    return files


def verify_manifest(model_dir: str | Path) -> list[str]:
    """Return the problems found (empty when every listed file matches its sha256)."""
    root = Path(model_dir)
    mf = root / MANIFEST_FILE
    if not mf.is_file():
        return [f"{MANIFEST_FILE} missing"]
    problems = []
    for rel, entry in json.loads(mf.read_text())["files"].items():
        p = root / rel
        if not p.is_file():
            problems.append(f"{rel}: missing")
        elif sha256_file(p) != entry["sha256"]:
            problems.append(f"{rel}: sha256 mismatch")
    return problems


# Files a model cannot be loaded without: its manifest must list each, with a matching sha256.
REQUIRED_FILES = (*KERAS_FILES, INFO_FILE)


def _read_manifest(root: Path) -> dict[str, str]:
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


def check_model_dir(model_dir: str | Path, *, verify: bool = True) -> Path:
    """THE integrity check every path that loads a model runs (predict, evaluate, servable, publish,
    screen, serve, Keras loading). Returns the folder.

    The folder must be a model directory whose ``manifest.json`` lists every
    file the model needs (:data:`REQUIRED_FILES`) with a matching sha256, and
    the weights must be finite. Other listed files (card, DLHub description,
    SavedModel export) are not read to predict: a changed one is a warning,
    an absent one (a pull leaves out the SavedModel) is fine. Any failure raises
    :class:`~irnet_hub.errors.IntegrityError` (exit code 5). ``verify=False``
    skips all of it with a warning (for one's own training output).
    """
    import warnings

    path = require_model_dir(model_dir)
    if not verify:
        warnings.warn(f"{path}: model files not verified (--no-verify); predictions from a damaged folder "
                      "can be wrong without any error", IrnetWarning, stacklevel=2)
        return path
    hashes = _read_manifest(path)
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


def copy_model_dir(src: str | Path, dst: str | Path) -> Path:
    """Copy a model directory without its training working state."""
    src, dst = Path(src), Path(dst)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("checkpoint", "assets"), dirs_exist_ok=True)
    return dst


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("irnet-hub", "keras", "tensorflow-cpu", "tensorflow", "jax", "torch", "numpy", "pymatgen", "matminer", "scikit-learn"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    try:
        import keras

        out["keras_backend"] = keras.backend.backend()
    except Exception:  # keras missing or misconfigured: versions are informative only
        pass
    return out


# Layers that keep float32 when weights are stored in a lower precision: the
# fixed input standardization and output rescaling hold large-magnitude numbers.
_KEEP_FLOAT32 = {"InputLayer", "Normalization", "Rescaling"}


def convert_weights(model_dir: str | Path, out_dir: str | Path, dtype: str = "float16") -> Path:
    """Copy a model directory with its network's weights stored as ``dtype``.

    Uses Keras's per-layer dtype policy (stock layers, no custom objects): the
    Dense/BatchNorm layers then store and compute in ``dtype`` while
    standardization and rescaling stay float32.
    """
    import keras

    src, dst = require_model_dir(model_dir), Path(out_dir)
    model = load_keras_model(src)
    config = model.get_config()
    for layer in config["layers"]:
        if layer["class_name"] not in _KEEP_FLOAT32:
            layer["config"]["dtype"] = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": dtype}, "registered_name": None}
    converted = keras.Model.from_config(config)
    for old, new in zip(model.layers, converted.layers):
        new.set_weights([w.astype(new.dtype if new.dtype else w.dtype) for w in old.get_weights()])
    if dst.exists():
        shutil.rmtree(dst)
    copy_model_dir(src, dst)
    record = read_record(dst)
    record.weights_dtype = dtype
    save_model_dir(converted, dst, record)
    return dst
