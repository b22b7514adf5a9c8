"""The KServe model: one irnet-hub :class:`~irnet_hub.predictor.Predictor` as a V2 inference endpoint.

:class:`IrnetModel` is a ``kserve.Model``: the same class runs under ``irnet serve`` and as the
predictor of a KServe InferenceService. Request checks happen here (one BYTES input tensor of
shape ``[n]``, the row limit, per-row limits and parsing); prediction runs in one thread that
merges waiting requests into one batch (:class:`_Batcher`). The layout of requests and responses
is described in :mod:`irnet_hub.serving.protocol`.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import sys
import threading
from collections import deque
from concurrent.futures import Future
from typing import Any

import numpy as np

from irnet_hub.errors import RowFailure
from irnet_hub.prediction_table import PredictionTable
from irnet_hub.serving import protocol as P

log = logging.getLogger("irnet_hub.serving")


def _import_kserve():
    """Import kserve without letting it parse *our* command line.

    ``kserve.model_server`` runs ``argparse.parse_known_args()`` on ``sys.argv`` at import time,
    and its options share prefixes with ours (``--workers``, ``--timeout-keep-alive``), so
    ``irnet serve ... --workers 2`` would be read by KServe too. Its defaults are what we want;
    everything we change is passed explicitly.
    """
    saved = sys.argv
    sys.argv = sys.argv[:1]
    try:
        importlib.import_module("kserve.model_server")  # the module that parses sys.argv
        return importlib.import_module("kserve")
    except ImportError as e:
        from irnet_hub.errors import MissingDependencyError

        raise MissingDependencyError(
            "kserve", f"the model server needs KServe: pip install 'irnet-hub[serve]' ({e})"
        ) from None
    finally:
        sys.argv = saved


kserve = _import_kserve()
from kserve.errors import InvalidInput  # noqa: E402
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse  # noqa: E402


class PayloadTooLarge(InvalidInput):
    """A request over the server's row or body limit (HTTP 413)."""


# --------------------------------------------------------------------------- the model


class IrnetModel(kserve.Model):
    """One irnet-hub model (a :class:`~irnet_hub.predictor.Predictor`) as a V2 inference endpoint."""

    def __init__(self, predictor: Any, *, name: str | None = None, max_rows: int = P.DEFAULT_MAX_ROWS,
                 structure_timeout: float = P.DEFAULT_STRUCTURE_TIMEOUT):
        super().__init__(name or predictor.name)
        self.predictor = predictor
        self.max_rows = int(max_rows)
        self.input_kind: str = predictor.input_kind
        self.input_name = P.INPUT_NAMES[self.input_kind]
        if self.input_kind == "structure":
            # Structures come from clients: featurize each in a worker process with a time limit (a
            # tessellation can hang in C code that nothing else interrupts), and never write them to the
            # on-disk feature cache, which would grow with every distinct structure anyone sends.
            predictor.featurize_options = {**getattr(predictor, "featurize_options", {}), "use_cache": False,
                                           "n_jobs": 1, "timeout": float(structure_timeout)}
        self._batcher = _Batcher(self._predict_rows, self.max_rows, f"irnet-{self.name}")
        self.ready = False

    # KServe calls load() before serving; the Predictor is already in memory.
    def load(self) -> bool:
        self.ready = True
        return self.ready

    @property
    def has_std(self) -> bool:
        """Whether predictions carry ``prediction_std`` (ensembles of 3 or more members)."""
        from irnet_hub.predictor import MIN_MEMBERS_FOR_STD

        return _ensemble_size(self.predictor) >= MIN_MEMBERS_FOR_STD

    @property
    def has_domain(self) -> bool:
        """Whether the model recorded what ``in_domain`` needs (its :class:`~irnet_hub.domain.DomainRule`)."""
        return self.predictor.domain.known

    @property
    def has_training_set(self) -> bool:
        """Whether the model ships its training compositions (the in_training and training_value outputs)."""
        return getattr(self.predictor, "training_set", None) is not None

    def output_names(self) -> list[str]:
        optional = {"prediction_std": self.has_std, "in_domain": self.has_domain,
                    "in_training": self.has_training_set, "training_value": self.has_training_set}
        return [n for n in P.OUTPUTS if optional.get(n, True)]

    def get_input_types(self) -> list[dict]:
        return [{"name": self.input_name, "datatype": "BYTES", "shape": [-1]}]

    def get_output_types(self) -> list[dict]:
        return [{"name": n, "datatype": P.OUTPUTS[n], "shape": [-1]} for n in self.output_names()]

    def response_parameters(self) -> dict[str, Any]:
        return {"model": self.name, "unit": self.predictor.unit, "property": self.predictor.property,
                "input_kind": self.input_kind, "max_rows": self.max_rows}

    async def predict(self, payload: InferRequest, headers: dict[str, str] | None = None) -> InferResponse:
        if not isinstance(payload, InferRequest):  # the V1 protocol is refused before it gets here
            raise InvalidInput(f"model {self.name} speaks the V2 protocol only: POST /v2/models/{self.name}/infer")
        mode = _errors_mode(payload.parameters)
        values = self._input_values(payload)
        table: PredictionTable = await asyncio.wrap_future(self._batcher.submit(values))
        if table.failures and mode == "raise":
            raise InvalidInput(_failure_message(table.failures, self.input_name))
        columns = table.to_v2(P.safe_text)
        outputs = [InferOutput(name=n, shape=[len(values)], datatype=P.OUTPUTS[n], data=columns[n])
                   for n in self.output_names()]
        return InferResponse(response_id=payload.id or "", model_name=self.name, infer_outputs=outputs,
                             parameters=self.response_parameters(),
                             use_binary_outputs=payload.use_binary_outputs,
                             requested_outputs=payload.request_outputs)

    # -- request checks -------------------------------------------------------------------

    def _input_values(self, payload: InferRequest) -> list[Any]:
        inputs = payload.inputs or []
        want = f"one input tensor {self.input_name!r} (datatype BYTES, shape [n])"
        if len(inputs) != 1:
            raise InvalidInput(f"model {self.name} takes {want}; the request has {len(inputs)} inputs")
        tensor = inputs[0]
        if tensor.name != self.input_name:
            raise InvalidInput(f"model {self.name} takes {want}; got an input named {P.safe_text(str(tensor.name))!r}")
        if tensor.datatype != "BYTES":
            raise InvalidInput(f"input {self.input_name!r} must have datatype BYTES, got {P.safe_text(str(tensor.datatype))}")
        shape = list(tensor.shape or [])
        if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)) or any(
            not isinstance(d, int) or d < 0 for d in shape
        ):
            raise InvalidInput(f"input {self.input_name!r} must have shape [n] or [n, 1], got {shape}")
        n = shape[0]
        if n > self.max_rows:
            raise PayloadTooLarge(f"{n} rows in one request; this server accepts at most {self.max_rows} "
                                  "(split the input into several requests)")
        values = tensor.data
        if isinstance(values, np.ndarray):
            values = values.reshape(-1).tolist()
        if not isinstance(values, list):
            raise InvalidInput(f"input {self.input_name!r} has no data list")
        if values and all(isinstance(v, list) for v in values):  # [n, 1] sent nested
            if any(len(v) != 1 for v in values):
                raise InvalidInput(f"input {self.input_name!r}: nested rows must hold exactly one value each")
            values = [v[0] for v in values]
        if len(values) != n:
            raise InvalidInput(f"input {self.input_name!r} declares shape {shape} but holds {len(values)} values")
        return values

    # -- prediction (runs in the executor thread) -----------------------------------------

    def _predict_rows(self, values: list[Any]) -> PredictionTable:
        """The predictor's table for the request's rows; a row that does not parse is skipped with its reason."""
        failures: list[RowFailure] = []
        items: list[Any] = []
        item_rows: list[int] = []
        for i, value in enumerate(values):
            item, reason = self._parse_value(value)
            if reason is not None:
                failures.append(RowFailure(i, _shown(value), reason))
            else:
                items.append(item)
                item_rows.append(i)
        part = None
        if items:
            part = self.predictor.predict_table(items, errors="skip", progress=False)
            failures += [RowFailure(item_rows[f.row], _shown(values[item_rows[f.row]]), f.reason) for f in part.failures]
        # A row that failed has formula "" on the wire (its input is echoed in the error, not here).
        return PredictionTable.assemble([""] * len(values), item_rows, part, failures, unit=self.predictor.unit,
                                        model=self.name, with_std=self.has_std, with_training=self.has_training_set)

    def _parse_value(self, value: Any) -> tuple[Any, str | None]:
        """(the Predictor's input, None) or (None, why the row cannot be used)."""
        if isinstance(value, bytes):  # the binary tensor encoding delivers bytes
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                return None, "not valid UTF-8 text"
        if not isinstance(value, str):
            return None, f"expected a string, got {type(value).__name__}"
        if self.input_kind == "composition":
            if len(value) > P.MAX_FORMULA_CHARS:
                return None, f"formula of {len(value)} characters; at most {P.MAX_FORMULA_CHARS} are accepted"
            if not value.strip():
                return None, "empty formula"
            if not value.isprintable():
                return None, "formula contains control or unprintable characters"
            return value, None
        return _parse_structure(value)


class _Batcher:
    """One prediction thread that merges the requests waiting for it into one batch.

    Prediction is CPU work, so it runs beside the event loop (health checks and request parsing
    go on meanwhile). One thread: the featurizer holds the GIL and BLAS already uses every core.
    Requests that arrive while a batch runs are predicted together next, as one network pass
    (the dynamic batching of Triton and KServe runtimes, without a waiting window, so an idle
    server adds no delay): a one-row forward pass of IRNet-17 streams all 22 MB of weights from
    memory, and eight rows cost about the same as one.
    """

    def __init__(self, fn, max_rows: int, name: str):
        self._fn = fn
        self._max_rows = max_rows
        self._pending: deque[tuple[list[Any], Future]] = deque()
        self._cv = threading.Condition()
        threading.Thread(target=self._run, name=name, daemon=True).start()

    def submit(self, values: list[Any]) -> Future:
        future: Future = Future()
        with self._cv:
            self._pending.append((values, future))
            self._cv.notify()
        return future

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._pending:
                    self._cv.wait()
                batch = [self._pending.popleft()]
                rows = len(batch[0][0])
                while self._pending and rows + len(self._pending[0][0]) <= self._max_rows:
                    batch.append(self._pending.popleft())
                    rows += len(batch[-1][0])
            batch = [(v, f) for v, f in batch if f.set_running_or_notify_cancel()]
            if not batch:
                continue
            try:
                table = self._fn([x for values, _ in batch for x in values])
            except BaseException as e:  # a bug must fail these requests (500), not the thread
                if len(batch) == 1:
                    batch[0][1].set_exception(e)
                    continue
                # One request's rows failed the merged pass: each request is predicted on its own, so a
                # failure stays in the request that caused it and names that request's rows only.
                for values, f in batch:
                    try:
                        f.set_result(self._fn(values))
                    except BaseException as e_own:
                        f.set_exception(e_own)
                continue
            start = 0
            for values, f in batch:
                f.set_result(table.rows(start, start + len(values)))
                start += len(values)


def _parse_structure(text: str) -> tuple[Any, str | None]:
    """A pymatgen Structure from its JSON text; never a file path (the client must not name files)."""
    if len(text) > P.MAX_STRUCTURE_SITES * 2000:
        return None, f"structure JSON of {len(text)} characters is too large"
    try:
        doc = json.loads(text)
    except ValueError as e:
        return None, f"not the JSON of a pymatgen Structure dict ({e})"
    if not isinstance(doc, dict) or "sites" not in doc or "lattice" not in doc:
        return None, "not a pymatgen Structure dict (needs 'lattice' and 'sites')"
    if not isinstance(doc["sites"], list) or len(doc["sites"]) > P.MAX_STRUCTURE_SITES:
        count = len(doc["sites"]) if isinstance(doc["sites"], list) else "?"
        return None, f"structure with {count} sites; at most {P.MAX_STRUCTURE_SITES} are accepted"
    from pymatgen.core import Structure

    try:
        return Structure.from_dict(doc), None
    except Exception as e:  # pymatgen raises many types for malformed dicts; each is the client's input
        return None, f"not a valid pymatgen Structure dict ({type(e).__name__}: {str(e)[:200]})"


def _errors_mode(parameters: Any) -> str:
    mode = (parameters or {}).get(P.ERRORS_PARAMETER, "raise") if isinstance(parameters, dict) else "raise"
    if mode not in P.ERROR_MODES:
        raise InvalidInput(f"parameter {P.ERRORS_PARAMETER!r} must be 'raise' or 'skip', got {P.safe_text(str(mode))!r}")
    return mode


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    text = P.safe_text(text)
    return text if len(text) <= 80 else text[:77] + "..."


def _failure_message(failures: list[RowFailure], input_name: str) -> str:
    lines = "; ".join(P.safe_text(str(f)) for f in failures[:20])
    more = f"; ... and {len(failures) - 20} more" if len(failures) > 20 else ""
    return (f"{len(failures)} invalid {input_name} row(s): {lines}{more} "
            f"(send parameters {{\"{P.ERRORS_PARAMETER}\": \"skip\"}} to predict the valid rows)")


def _ensemble_size(predictor: Any) -> int:
    """Members of the network: its outputs are the ensemble mean then one column per member."""
    outputs = int(getattr(predictor.network, "n_outputs", 1))
    return outputs - 1 if outputs > 1 else 1


# --------------------------------------------------------------------------- HTTP layer


__all__ = ["IrnetModel", "PayloadTooLarge", "InvalidInput", "kserve"]
