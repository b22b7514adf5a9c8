"""Servables: a model directory turned into the folder that is published.

Layout::

    SERVABLE/
      config.json            \\
      metadata.json           | Keras 3's own Hugging Face layout: exactly the files
      model.weights.h5        | keras.saving.save_model(model, "hf://...") uploads
      README.md              /  (there, a stub card; here, the full model card)
      irnet.json             featurizer spec, scaler, target, data, metrics (copied)
      training_log.csv       one row per epoch (copied, when the model has one)
      training_set.npy       training composition keys and values: in_training (copied, when it has one)
      saved_model/           TensorFlow SavedModel, signature "serving_default":
                             float32 features [None, F] -> "output_0" [None, 1]
      saved_model/dlhub.json DLHub description of the SavedModel (TensorFlowModel)
      dlhub.json             DLHub description of formula -> property (PythonStaticMethodModel)
      manifest.json          sha256 and size of every other file

Keras's uploader also adds ``assets/summary_plot.png`` when pydot is installed;
that plot is decoration and is left out. Stock ``keras.saving.load_model(SERVABLE)``
(or ``"hf://ORG/NAME"`` once uploaded) loads the network with no irnet_hub
import; ``irnet_hub.predictor.load_dir(SERVABLE)`` loads the whole model.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from irnet_hub import artifact
from irnet_hub.errors import InvalidInputError, IrnetError
from irnet_hub.integrity import check_model_dir
from irnet_hub.record import ModelRecord, as_record
from irnet_hub.training_set import TRAINING_SET_FILE

SAVED_MODEL_DIR = "saved_model"
SERVING_SIGNATURE = "serving_default"
SERVING_OUTPUT = "output_0"
# What keras.saving.save_model(model, "hf://...") writes (keras/src/saving/saving_lib.py, _upload_model_to_hf).
KERAS_HF_FILES = (*artifact.KERAS_FILES, artifact.CARD_FILE)
# Largest |SavedModel - Keras| difference accepted when checking an export (float32 network).
EXPORT_TOLERANCE = 1e-5


def is_servable(path: str | Path) -> bool:
    """Whether ``path`` is a built servable folder (a model directory with a SavedModel export)."""
    p = Path(path)
    return artifact.is_model_dir(p) and (p / SAVED_MODEL_DIR / "saved_model.pb").is_file()


def build_servable(
    model_dir: str | Path,
    out_dir: str | Path,
    *,
    anchors: Mapping[str, Any] | None = None,
    license: str | None = None,
    repo_id: str | None = None,
    dlhub: bool | None = None,
    creators: Sequence[str] | None = None,
    overwrite: bool = False,
    verify: bool = True,
) -> Path:
    """Build the publishable folder for the model in ``model_dir`` at ``out_dir``; returns ``out_dir``.

    ``anchors`` (published test MAEs), ``license`` and ``repo_id`` go into the
    model card. ``dlhub=None`` writes the DLHub descriptions when dlhub-sdk is
    installed (``True`` requires it, ``False`` skips them); ``creators``
    overrides the DataCite creators. The folder is assembled next to
    ``out_dir`` and renamed into place, so a failure never leaves half a
    servable; an existing non-empty ``out_dir`` is replaced only with ``overwrite``.
    """
    from irnet_hub.publish import card

    src = check_model_dir(model_dir, verify=verify)
    info = artifact.read_record(src)
    if not (info.has("scaler") and info.has("featurizer")) or info.scaler is None:
        raise InvalidInputError(str(model_dir), "irnet.json lacks the scaler or featurizer; retrain with irnet-hub")

    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        if not overwrite:
            raise InvalidInputError(str(out_dir), "already exists and is not empty (pass overwrite to replace it)")
        if out.resolve() == src.resolve() or src.resolve() in out.resolve().parents:
            raise InvalidInputError(str(out_dir), "cannot replace the model directory itself")
    out.parent.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix=f".{out.name}-", dir=out.parent) as tmp:
        stage = Path(tmp) / "servable"
        stage.mkdir()
        for name in (*artifact.KERAS_FILES, artifact.INFO_FILE, artifact.LOG_FILE, TRAINING_SET_FILE):
            if (src / name).is_file():
                shutil.copy2(src / name, stage / name)
        (stage / artifact.CARD_FILE).write_text(
            card.render_card(info, anchors=anchors, license=license, repo_id=repo_id), encoding="utf-8"
        )
        export_saved_model(stage, stage / SAVED_MODEL_DIR, info=info)
        _write_dlhub(stage, info, dlhub, creators)
        artifact.write_manifest(stage)
        if out.exists():
            # Move the old folder aside first so the rename below is the only moment without a servable.
            old = Path(tmp) / "old"
            os.replace(out, old)
        os.replace(stage, out)
    return out


def _write_dlhub(stage: Path, info: ModelRecord, dlhub: bool | None, creators: Sequence[str] | None) -> None:
    from irnet_hub.publish import dlhub_meta as dl

    if dlhub is False:
        return
    if not dl.sdk_available():
        if dlhub:
            dl._require_sdk()  # raises with the install hint
        warnings.warn("dlhub-sdk is not installed: the servable has no dlhub.json (pip install 'irnet-hub[dlhub]')",
                      stacklevel=3)
        return
    dl.write_descriptions(stage, info, creators=creators)


# --------------------------------------------------------------------------- SavedModel


def export_saved_model(model_dir: str | Path, out: str | Path, *,
                       info: ModelRecord | Mapping[str, Any] | None = None) -> Path:
    """Export the network of ``model_dir`` as a TF SavedModel at ``out`` and check it against Keras.

    The export runs on the CPU with Keras's TensorFlow backend: in this process
    when that is the backend, otherwise in a subprocess with
    ``KERAS_BACKEND=tensorflow`` (the network only uses stock layers, so it
    loads under any backend).
    """
    import keras

    out = Path(out)
    if keras.backend.backend() == "tensorflow":
        _export_here(Path(model_dir), out)
    else:
        env = {**os.environ, "KERAS_BACKEND": "tensorflow", "CUDA_VISIBLE_DEVICES": "-1", "TF_CPP_MIN_LOG_LEVEL": "2"}
        code = "import sys; from irnet_hub.publish.servable import _export_here; _export_here(*map(__import__('pathlib').Path, sys.argv[1:]))"
        r = subprocess.run([sys.executable, "-c", code, str(model_dir), str(out)], env=env,
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise IrnetError(f"SavedModel export failed:\n{r.stderr[-2000:]}")
    check_saved_model(model_dir, out, info=info)
    return out


def _export_here(model_dir: Path, out: Path) -> None:
    import tensorflow as tf

    from keras.export import ExportArchive

    model = artifact.load_keras_model(model_dir, verify=False)  # the staged copy of a checked folder
    # model.export() also track()s the model, which stores every weight a second time
    # (checkpoint keys `variables/` and `_all_variables/`): 21 MiB for an IRNet-17 in
    # float16, over the 16 MiB per-file limit. An endpoint alone tracks the variables
    # it uses, once; the serving signature is the same.
    archive = ExportArchive()
    spec = [tf.TensorSpec([None, int(model.inputs[0].shape[-1])], tf.float32, name="features")]
    archive.add_endpoint("serve", lambda x: model(x, training=False), input_signature=spec)
    with tf.device("/CPU:0"):
        archive.write_out(str(out), verbose=False)


def _probe_inputs(info: ModelRecord, n_features: int) -> np.ndarray:
    """A few realistic input rows: the training mean, and the mean shifted by +-1 and 2 std."""
    if info.scaler is None:
        raise IrnetError("irnet.json has no scaler to build probe inputs from")
    mean = np.asarray(info.scaler.feature_mean, dtype=np.float32)
    std = np.asarray(info.scaler.feature_std, dtype=np.float32)
    if mean.shape != (n_features,):
        raise IrnetError(f"irnet.json scaler has {mean.shape[0]} features but the network takes {n_features}")
    return np.stack([mean, mean + std, mean - std, mean + 2 * std]).astype(np.float32)


def check_saved_model(model_dir: str | Path, saved_model: str | Path, *,
                      info: ModelRecord | Mapping[str, Any] | None = None) -> float:
    """Check the SavedModel's serving signature (float32 ``[None, F]``) and outputs against Keras.

    Returns the largest absolute difference; raises :class:`IrnetError` if the
    signature is wrong or the difference exceeds :data:`EXPORT_TOLERANCE`
    (relative to the output scale).
    """
    import tensorflow as tf

    info = as_record(info) if info is not None else artifact.read_record(model_dir)
    loaded = tf.saved_model.load(str(saved_model))
    if SERVING_SIGNATURE not in loaded.signatures:
        raise IrnetError(f"SavedModel has no {SERVING_SIGNATURE!r} signature (found {list(loaded.signatures)})")
    fn = loaded.signatures[SERVING_SIGNATURE]
    specs = list(fn.structured_input_signature[1].values())
    if len(specs) != 1 or specs[0].dtype != tf.float32 or specs[0].shape.rank != 2 or specs[0].shape[0] is not None:
        raise IrnetError(f"unexpected SavedModel input signature {fn.structured_input_signature}")
    n_features = int(specs[0].shape[1])
    x = _probe_inputs(info, n_features)
    got = next(iter(fn(tf.constant(x)).values())).numpy().reshape(-1)
    want = np.asarray(artifact.load_keras_model(model_dir, verify=False).predict(x, verbose=0)).reshape(-1)
    diff = float(np.max(np.abs(got - want)))
    scale = max(1.0, float(np.max(np.abs(want))))
    if not np.isfinite(diff) or diff > EXPORT_TOLERANCE * scale:
        raise IrnetError(f"SavedModel outputs differ from the saved network by {diff:.3g}")
    return diff


__all__ = ["build_servable", "export_saved_model", "check_saved_model", "is_servable", "SAVED_MODEL_DIR",
           "SERVING_SIGNATURE", "KERAS_HF_FILES"]
