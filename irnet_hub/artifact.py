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

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from irnet_hub.errors import InvalidInputError
# The integrity checks live in irnet_hub.integrity; these names are re-exported for the model-folder API.
from irnet_hub.integrity import (  # noqa: F401
    KERAS_FILES,
    MANIFEST_FILE,
    REQUIRED_FILES,
    check_finite_weights,
    check_model_dir,
    is_model_dir,
    require_model_dir,
    sha256_file,
    verify_manifest,
    write_manifest,
)
from irnet_hub.record import INFO_FILE, SCHEMA_VERSION, ModelRecord, as_record  # noqa: F401 (re-exported)

LOG_FILE = "training_log.csv"
CARD_FILE = "README.md"
SAVING_PREFIX = ".irnet-saving-"  # the temporary folder a model is saved into before its files move in place


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
    from irnet_hub.extras import require

    require("train")  # Keras and its backend
    import keras

    # verify=False here is an internal caller that has checked the folder already: no warning.
    path = check_model_dir(model_dir) if verify else require_model_dir(model_dir)
    return keras.saving.load_model(str(path), safe_mode=True, compile=False)


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
