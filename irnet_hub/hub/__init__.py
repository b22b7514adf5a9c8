"""The model hub: named pretrained models, their download cache, and loading them for prediction.

>>> import irnet_hub
>>> irnet_hub.list_models("oqmd-*")                # names; registry only, no network
>>> irnet_hub.model_info("oqmd-bandgap")           # one model's registry entry (property, unit, test MAE, ...)
>>> model = irnet_hub.load("oqmd-formation-enthalpy")   # or a model directory
>>> model.predict(["NaCl", "Fe2O3"])

Importing this package is cheap: it does not import TensorFlow, Keras or
huggingface_hub (the latter only when a download is actually needed).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from irnet_hub.hub.cache import IntegrityError, ModelNotAvailableError, pull, resolve
from irnet_hub.hub.registry import ModelEntry, add_entry, entry_from_model_dir, get_entry
from irnet_hub.hub.registry import list_models as list_entries


def list_models(pattern: str | None = None) -> list[str]:
    """Names of the registered models, sorted (as ``timm.list_models``); ``pattern`` filters them
    shell-style (``"oqmd-*"``, ``"*gap*"``). Reads the local registry only, never the network."""
    import fnmatch

    names = [e.name for e in list_entries()]
    return names if pattern is None else [n for n in names if fnmatch.fnmatchcase(n, pattern)]


def model_info(name: str) -> ModelEntry:
    """The registry entry of model ``name``: property, unit, training data, test MAE, Hub repo and files."""
    return get_entry(name)

if TYPE_CHECKING:
    from irnet_hub.predictor import Predictor


def load(name_or_path: str | Path, revision: str | None = None, *, verify: bool = True) -> "Predictor":
    """Load a local model for prediction: a model directory, a registered name (pulled if needed)
    or a Hugging Face repo id. (``irnet_hub.load``, :func:`irnet_hub.loading.load`, also reaches
    model servers.)

    Prediction runs with NumPy (:class:`irnet_hub.predictor.Predictor`);
    TensorFlow and Keras are not imported. Every model, pulled or local, is
    checked by :func:`irnet_hub.integrity.check_model_dir` (manifest, sha256,
    finite weights); ``verify=False`` skips that for a local directory, with a warning.
    """
    from irnet_hub.predictor import Predictor

    folder, name = resolve(name_or_path, revision)
    # A registered model was just compared with the registry's pinned sha256 by pull(): its files are not
    # hashed again (one hash per load); the manifest and finite weights are still checked.
    return Predictor.from_dir(folder, name=name, verify=verify or name is not None, hashes_checked=name is not None)


__all__ = [
    "list_models",
    "list_entries",
    "model_info",
    "get_entry",
    "load",
    "pull",
    "resolve",
    "entry_from_model_dir",
    "add_entry",
    "ModelEntry",
    "ModelNotAvailableError",
    "IntegrityError",
]
