"""The function a DLHub servable runs: chemical formulas in, property predictions out.

DLHub (a Globus Compute function, ``dlhub_sdk.utils.publish.dlhub_run``)
unpacks the servable's ZIP into the working directory, reads ``dlhub.json``
and calls :func:`predict` with the request's inputs. Everything the function
needs is in that folder (``config.json``, ``model.weights.h5``,
``irnet.json``) plus an installed ``irnet_hub``: the model is evaluated with
irnet-hub's NumPy forward pass, so TensorFlow is not needed at run time.

The folder is ``$IRNET_SERVABLE_DIR`` when set, otherwise the current
directory (where DLHub unpacks the servable).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from irnet_hub.errors import InvalidInputError

SERVABLE_DIR_ENV = "IRNET_SERVABLE_DIR"
_lock = threading.Lock()
_cache: dict[str, Any] = {}  # servable folder -> loaded model, so repeated calls on a worker are fast


def servable_dir() -> Path:
    """The servable folder this process serves from."""
    return Path(os.environ.get(SERVABLE_DIR_ENV) or os.getcwd()).resolve()


def _model(folder: Path):
    from irnet_hub.predictor import load_dir

    key = str(folder)
    with _lock:
        if key not in _cache:
            _cache[key] = load_dir(folder)
        return _cache[key]


def predict(formulas: list[str]) -> list[dict[str, Any]]:
    """Predict the model's property for each formula.

    Returns one dict per input, in order (:meth:`~irnet_hub.prediction_table.PredictionTable.to_dlhub`):
    ``formula``, ``prediction`` (float, in ``unit``), ``prediction_std`` (ensembles of 3+ members only),
    ``unit``, ``in_domain`` (None when unknown), ``rare_elements`` and ``note`` (the output rule applied
    or why the row is out of domain), the columns of local prediction. An invalid formula raises
    :class:`~irnet_hub.errors.InvalidInputError` naming it.
    """
    if isinstance(formulas, str):  # a single formula is a convenience, not an error
        formulas = [formulas]
    if not isinstance(formulas, (list, tuple)):
        raise InvalidInputError(formulas, "expected a list of formula strings")
    bad = [f for f in formulas if not isinstance(f, str)]
    if bad:
        raise InvalidInputError(bad[0], "every input must be a formula string")
    if not formulas:
        return []
    return _model(servable_dir()).predict_table(list(formulas), errors="raise").to_dlhub()


__all__ = ["predict", "servable_dir", "SERVABLE_DIR_ENV"]
