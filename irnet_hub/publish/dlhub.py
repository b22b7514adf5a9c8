"""DLHub service calls: publish a servable and run a published one remotely.

This module sits *above* the servable builder: it builds a servable when given
a plain model directory. The descriptions themselves (DataCite metadata, the
offline schema validation) are in :mod:`irnet_hub.publish.dlhub_meta`, below the
builder; their names are re-exported here for callers of the earlier layout.

``dlhub_sdk`` is an optional dependency (``pip install irnet-hub[dlhub]``; it
needs pydantic 1); it is imported only inside these functions.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from irnet_hub.errors import InvalidInputError, RemoteError
from irnet_hub.publish.dlhub_meta import (  # noqa: F401 (re-exported)
    DLHUB_FILE,
    PAPER_DOI,
    TF_DLHUB_FILE,
    DLHubUnavailableError,
    _require_sdk,
    _schema_bundle,
    describe_python,
    describe_tensorflow,
    load_description,
    schema_store,
    sdk_available,
    servable_name,
    validate_description,
    write_descriptions,
)


# --------------------------------------------------------------------------- service


def _default_client():
    _require_sdk()
    from dlhub_sdk.client import DLHubClient

    try:
        return DLHubClient()  # Globus login (tokens cached under ~/.dlhub by dlhub-sdk, never by us)
    except Exception as e:  # login or service discovery failed: a remote failure (exit 4)
        raise RemoteError(f"cannot connect to DLHub: {type(e).__name__}: {e}") from e


@contextlib.contextmanager
def _servable_folder(model_dir: str | Path) -> Iterator[Path]:
    """``model_dir`` itself when it is a built servable, else a servable built into a temporary folder."""
    from irnet_hub.integrity import check_model_dir
    from irnet_hub.publish.servable import build_servable, is_servable

    src = check_model_dir(model_dir)  # a servable published as is must be intact too
    if is_servable(src) and (src / DLHUB_FILE).is_file():
        yield src
        return
    with tempfile.TemporaryDirectory(prefix="irnet-dlhub-") as tmp:
        yield build_servable(src, Path(tmp) / "servable")


def publish_dlhub(model_dir: str | Path, client: Any = None, *, tensorflow: bool = False) -> str:
    """Publish a model (a model or servable folder) to DLHub; returns DLHub's task/container id.

    Publishes the end-to-end formula -> property function (``dlhub.json``), or
    with ``tensorflow=True`` the bare SavedModel (``saved_model/dlhub.json``).
    ``client`` is a ``dlhub_sdk.client.DLHubClient``; without one, dlhub-sdk
    logs in through Globus.
    """
    _require_sdk()
    with _servable_folder(model_dir) as folder:
        desc = folder / (TF_DLHUB_FILE if tensorflow else DLHUB_FILE)
        if not desc.is_file():
            raise InvalidInputError(str(folder), f"has no {desc.relative_to(folder)} to publish")
        model = load_description(desc)
        validate_description(model.to_dict(simplify_paths=True))  # fail here, before any upload
        client = client if client is not None else _default_client()
        try:
            return client.publish_servable(model)
        except Exception as e:  # network, Globus auth or service errors: a remote failure (exit 4)
            raise RemoteError(f"publishing {folder} to DLHub failed: {type(e).__name__}: {e}") from e


def _check_formulas(formulas: Sequence[str]) -> tuple[list[str], list[int], list[Any]]:
    """Check input locally, before a remote round trip: (formulas, rows that parse, failures)."""
    if isinstance(formulas, str):
        formulas = [formulas]
    formulas = list(formulas)
    if not formulas:
        raise InvalidInputError(formulas, "give at least one formula")
    for f in formulas:
        if not isinstance(f, str):
            raise InvalidInputError(f, "every input must be a formula string")
    from irnet_hub.featurize.composition import featurize_compositions

    res = featurize_compositions(formulas, errors="collect")
    return formulas, [int(i) for i in res.rows], list(res.failures)


def run_remote(name: str, formulas: Sequence[str], client: Any = None, *, errors: str = "raise",
               timeout: float | None = None, async_wait: float = 5.0):
    """Run a published servable ``owner/name`` on DLHub; returns the same table as local prediction.

    The DataFrame has the columns of local prediction (``model`` is the DLHub name), indexed by
    the input's labels (a Series' index, else the row). Formulas are checked locally first: an
    invalid one raises :class:`~irnet_hub.errors.BatchInputError`, or with ``errors="skip"`` keeps
    its row with NaN and ``skipped: <reason>`` in ``note``, and is listed in ``df.attrs["failures"]``.
    ``client`` is a ``dlhub_sdk.client.DLHubClient`` (Globus login when omitted).
    """

    from irnet_hub.errors import BatchInputError

    if errors not in ("raise", "skip"):
        raise InvalidInputError(errors, "errors must be 'raise' or 'skip'")
    if not isinstance(name, str) or name.count("/") != 1 or not all(name.split("/")):
        raise InvalidInputError(name, "a DLHub servable is named OWNER/NAME, e.g. 'jha_northwestern/irnet-oqmd'")
    labels = formulas.index if hasattr(formulas, "iloc") else None  # a pandas Series keeps its labels
    formulas, rows, failures = _check_formulas(formulas)
    if failures and errors == "raise":
        raise BatchInputError(failures)
    send = [formulas[i] for i in rows]
    result: list = []
    if send:
        _require_sdk()
        client = client if client is not None else _default_client()
        try:
            result = client.run(name, send, timeout=timeout, async_wait=async_wait)
        except Exception as e:  # network, Globus auth or service errors: a remote failure (exit 4)
            raise RemoteError(f"DLHub request for {name!r} failed: {type(e).__name__}: {e}") from e
        if not isinstance(result, list) or len(result) != len(send) or not all(isinstance(r, Mapping) for r in result):
            raise RemoteError(f"DLHub servable {name} returned an unexpected result ({type(result).__name__}); "
                             "is it an irnet-hub servable?")
    from irnet_hub.prediction_table import PredictionTable

    try:
        part = PredictionTable.from_dlhub(result, model=name)
    except ValueError as e:
        raise RemoteError(f"DLHub servable {name} {e}") from None
    # Every input row under its own label, as locally; a formula refused here holds NaN and the reason.
    return PredictionTable.assemble(formulas, rows, part, failures, unit=part.unit, model=name,
                                    with_std=part.std is not None, with_training=part.in_training is not None,
                                    labels=labels).to_frame()


__all__ = [
    "DLHUB_FILE", "TF_DLHUB_FILE", "PAPER_DOI", "describe_python", "describe_tensorflow", "validate_description",
    "write_descriptions", "load_description", "publish_dlhub", "run_remote", "servable_name", "schema_store",
    "sdk_available", "DLHubUnavailableError",
]
