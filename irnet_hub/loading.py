"""``irnet_hub.load``: a model for prediction, local or on a model server.

Local models (a model directory, a registered name, a Hugging Face repo id) come from
:mod:`irnet_hub.hub`; ``remote=URL`` gives a :class:`~irnet_hub.serving.client.RemoteModel`
with the same ``predict``. The dispatch lives here, above both, so that ``hub`` never
imports ``serving`` (``serving`` uses ``hub`` to load what it serves).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from irnet_hub.errors import InvalidInputError

if TYPE_CHECKING:
    from irnet_hub.predictor import Predictor
    from irnet_hub.serving.client import RemoteModel


def load(name_or_path: str | Path, revision: str | None = None, *, verify: bool = True, remote: str | None = None,
         token: str | None = None, timeout: float = 30.0, retries: int = 2) -> "Predictor | RemoteModel":
    """Load a model for prediction: a model directory, a registered name (pulled if needed) or a
    Hugging Face repo id (``org/name``, ``hf://org/name``).

    Prediction runs with NumPy (:class:`irnet_hub.predictor.Predictor`); TensorFlow and Keras
    are not imported. Every model is checked by :func:`irnet_hub.integrity.check_model_dir`
    (manifest, sha256, finite weights); ``verify=False`` skips that for a local directory,
    with a warning.

    With ``remote="http://HOST:PORT"`` the model named ``name_or_path`` on that model server
    (``irnet serve``) is used instead: a :class:`~irnet_hub.serving.client.RemoteModel` whose
    ``predict`` returns the same table. ``token`` is the server's bearer token, ``timeout`` the
    seconds per request and ``retries`` the retries of a failed connection.
    """
    if remote is not None:
        from irnet_hub.serving.client import RemoteModel

        if revision:
            raise InvalidInputError(revision, "revision applies to local models, not to a remote server")
        return RemoteModel(remote, str(name_or_path), token=token, timeout=timeout, retries=retries)
    from irnet_hub.hub import load as load_local

    return load_local(name_or_path, revision, verify=verify)
