"""``irnet serve``: irnet-hub models behind the KServe Python model server (Open Inference Protocol V2).

:class:`IrnetModel` is a ``kserve.Model``: the same class runs under ``irnet serve`` here and
as the predictor of a KServe InferenceService on Kubernetes (``docs/serving/``). The request
and response layout is described in :mod:`irnet_hub.serving.protocol`.

Prediction runs irnet-hub's NumPy forward pass (the :class:`~irnet_hub.inference.Predictor`):
TensorFlow is never imported, so the server starts in seconds and stays small.

What the operator gets on top of KServe's ``ModelServer`` (each for a measured reason):

* it binds ``127.0.0.1`` unless told otherwise (KServe 0.21 hard-codes ``0.0.0.0`` in
  ``RESTServer``), and starts no gRPC port;
* optional bearer-token authentication (``--token-file``), compared with
  :func:`hmac.compare_digest`; the token is never logged or echoed;
* a request body limit and a row limit, both answered with 413;
* KServe's model repository extension (``/v2/repository/...``: load/unload by name) and the V1
  protocol are answered with 403 unless the operator allows model control; even then a client can
  only reload one of the models the server was started with, never a path it names;
* every malformed request gets a 4xx naming the problem (KServe answers some with 500).

KServe is an optional dependency (``pip install 'irnet-hub[serve]'``); it is imported here only.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import sys
import threading
from collections import deque
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from irnet_hub.errors import InvalidInputError, RowFailure
from irnet_hub.serving import protocol as P

log = logging.getLogger("irnet_hub.serving")


def _import_kserve():
    """Import kserve without letting it parse *our* command line.

    ``kserve.model_server`` runs ``argparse.parse_known_args()`` on ``sys.argv`` at import time,
    and its options share prefixes with ours (``--workers``, ``--timeout-keep-alive``), so
    ``irnet serve ... --workers 2`` would be read by KServe too. Its defaults are what we want;
    everything we change is passed explicitly.
    """
    try:
        saved = sys.argv
        sys.argv = sys.argv[:1]
        try:
            import kserve  # noqa: F401
            from kserve import model_server  # noqa: F401
        finally:
            sys.argv = saved
    except ImportError as e:
        from irnet_hub.errors import MissingDependencyError

        raise MissingDependencyError(
            "kserve", f"the model server needs KServe: pip install 'irnet-hub[serve]' ({e})"
        ) from None
    import kserve

    return kserve


kserve = _import_kserve()
from kserve.errors import InvalidInput  # noqa: E402
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse  # noqa: E402


class PayloadTooLarge(InvalidInput):
    """A request over the server's row or body limit (HTTP 413)."""


# --------------------------------------------------------------------------- the model


class IrnetModel(kserve.Model):
    """One irnet-hub model (a :class:`~irnet_hub.inference.Predictor`) as a V2 inference endpoint."""

    def __init__(self, predictor: Any, *, name: str | None = None, max_rows: int = P.DEFAULT_MAX_ROWS):
        super().__init__(name or predictor.name)
        self.predictor = predictor
        self.max_rows = int(max_rows)
        self.input_kind: str = predictor.input_kind
        self.input_name = P.INPUT_NAMES[self.input_kind]
        self._batcher = _Batcher(self._predict_rows, self.max_rows, f"irnet-{self.name}")
        self.ready = False

    # KServe calls load() before serving; the Predictor is already in memory.
    def load(self) -> bool:
        self.ready = True
        return self.ready

    @property
    def has_std(self) -> bool:
        """Whether predictions carry ``prediction_std`` (ensembles of 3 or more members)."""
        return _ensemble_size(self.predictor) >= 3

    @property
    def has_domain(self) -> bool:
        """Whether the model recorded the training element counts that ``in_domain`` needs."""
        return bool(_element_counts(self.predictor))

    def output_names(self) -> list[str]:
        return [n for n in P.OUTPUTS if (n != "prediction_std" or self.has_std) and (n != "in_domain" or self.has_domain)]

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
        columns = await asyncio.wrap_future(self._batcher.submit(values))
        failures: list[RowFailure] = columns.pop("_failures")
        if failures and mode == "raise":
            raise InvalidInput(_failure_message(failures, self.input_name))
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

    def _predict_rows(self, values: list[Any]) -> dict[str, Any]:
        n = len(values)
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

        prediction = np.full(n, np.nan, dtype=np.float32)
        std = np.full(n, np.nan, dtype=np.float32)
        in_domain = np.zeros(n, dtype=bool)
        rare = np.full(n, "", dtype=object)
        formula = np.full(n, "", dtype=object)
        error = np.full(n, "", dtype=object)
        if items:
            df = self.predictor.predict(items, errors="skip", progress=False)
            for f in df.attrs.get("failures", []):
                row = item_rows[f.row]
                failures.append(RowFailure(row, _shown(values[row]), f.reason))
            rows = np.asarray(item_rows, dtype=np.int64)[df.index.to_numpy(dtype=np.int64)]
            prediction[rows] = df["prediction"].to_numpy(dtype=np.float32)
            if "prediction_std" in df.columns:
                std[rows] = df["prediction_std"].to_numpy(dtype=np.float32)
            if "in_domain" in df.columns:
                # pandas' nullable boolean: unknown (NA) is sent as False, "not known to be in domain".
                in_domain[rows] = df["in_domain"].fillna(False).to_numpy(dtype=bool)
            if "rare_elements" in df.columns:
                rare[rows] = df["rare_elements"].astype(str).to_numpy(dtype=object)
            formula[rows] = [P.safe_text(str(f)) for f in df["formula"]]
        failures.sort(key=lambda f: f.row)
        for f in failures:
            error[f.row] = P.safe_text(f.reason)
        return {"prediction": prediction, "prediction_std": std, "in_domain": in_domain, "rare_elements": rare,
                "formula": formula, "error": error, "_failures": failures}

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
                columns = self._fn([x for values, _ in batch for x in values])
            except BaseException as e:  # a bug must fail these requests (500), not the thread
                for _, f in batch:
                    f.set_exception(e)
                continue
            start = 0
            for values, f in batch:
                end = start + len(values)
                part = {k: v[start:end] for k, v in columns.items() if k != "_failures"}
                part["_failures"] = [RowFailure(x.row - start, x.input, x.reason)
                                     for x in columns["_failures"] if start <= x.row < end]
                f.set_result(part)
                start = end


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
    for source in (predictor, getattr(predictor, "record", None), getattr(predictor, "metadata", None)):
        if source is None:
            continue
        size = source.get("ensemble_size") if isinstance(source, dict) else getattr(source, "ensemble_size", None)
        if size is not None:
            return int(size)
    return 1


def _element_counts(predictor: Any) -> dict:
    counts = getattr(predictor, "_element_counts", None)
    if counts is None:
        meta = getattr(predictor, "metadata", None)
        counts = meta.get("element_counts") if isinstance(meta, dict) else getattr(meta, "element_counts", None)
    return dict(counts or {})


# --------------------------------------------------------------------------- HTTP layer


class SecurityMiddleware:
    """Pure ASGI middleware: bearer token, body size, and endpoints the operator did not allow.

    It runs before FastAPI reads the body, so an oversized or unauthenticated request costs
    the server neither the parsing nor the memory.
    """

    OPEN_PATHS = ("/v2/health/live", "/v2/health/ready")  # probes (Kubernetes) carry no token

    def __init__(self, app, *, token: str | None, max_body_bytes: int, allow_model_control: bool):
        self.app = app
        self._token = token.encode() if token else None
        self.max_body_bytes = int(max_body_bytes)
        self.allow_model_control = allow_model_control

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        if self._token is not None and path not in self.OPEN_PATHS and not self._authorized(scope):
            return await _reply(send, 401, "missing or wrong bearer token (Authorization: Bearer <token>)",
                                {"www-authenticate": 'Bearer realm="irnet-hub"'})
        if not self.allow_model_control and (path.startswith("/v2/repository") or path.startswith("/v1/")):
            what = "the V1 protocol" if path.startswith("/v1/") else "model control (load/unload)"
            return await _reply(send, 403, f"{what} is disabled on this server; use POST /v2/models/<name>/infer")
        if path.startswith("/v1/"):
            return await _reply(send, 403, "the V1 protocol is not served; use POST /v2/models/<name>/infer")
        if path.endswith("/infer") and _header(scope, b"inference-header-content-length") is None:
            # Without the binary-extension header the body can only be JSON; KServe would otherwise
            # treat a body sent without Content-Type: application/json (curl -d) as binary tensors.
            scope = dict(scope)
            scope["headers"] = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"content-type"]
            scope["headers"].append((b"content-type", b"application/json"))
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                return await _reply(send, 400, "invalid Content-Length header")
            if size > self.max_body_bytes:
                return await _reply(send, 413, f"request body of {size} bytes; this server accepts at most "
                                               f"{self.max_body_bytes}")
            return await self.app(scope, receive, send)
        # No Content-Length (chunked upload): count the bytes as they arrive and stop at the limit.
        chunks, total = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return
            body = message.get("body", b"")
            total += len(body)
            if total > self.max_body_bytes:
                return await _reply(send, 413, f"request body over {self.max_body_bytes} bytes")
            chunks.append(body)
            if not message.get("more_body", False):
                break
        replay = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def replay_receive():
            return replay.pop() if replay else await receive()

        return await self.app(scope, replay_receive, send)

    def _authorized(self, scope) -> bool:
        value = _header(scope, b"authorization") or b""
        scheme, _, given = value.partition(b" ")
        # compare_digest over bytes: the time taken does not depend on where the token differs.
        return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self._token)


def _header(scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value
    return None


async def _reply(send, status: int, message: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"error": message}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _json_error(status: int, message: str):
    from fastapi.responses import JSONResponse

    return JSONResponse(status_code=status, content={"error": P.safe_text(message)})


async def _too_large_handler(_request, exc):
    log.info("413: %s", exc)
    return _json_error(413, str(exc))


async def _invalid_input_handler(_request, exc):
    # One line per bad request, no traceback: a client's mistake is not a server error.
    log.info("400: %s", P.safe_text(str(exc))[:300])
    return _json_error(400, str(exc))


async def _validation_handler(_request, exc):
    # FastAPI's own 422 lists pydantic errors with the offending input echoed back in full;
    # this keeps the location and message only (the input may be megabytes).
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(x) for x in err.get("loc", ()) if x != "body")
        parts.append(f"{loc or 'body'}: {err.get('msg', 'invalid')}")
    return _json_error(422, "malformed V2 inference request: " + "; ".join(parts))


def _model_repository(models: dict[str, IrnetModel]):
    """A repository whose ``load(name)`` can only re-enable one of the models the server started with."""
    from kserve.model_repository import ModelRepository

    class OperatorModels(ModelRepository):
        def __init__(self):
            super().__init__(models_dir="")  # never a folder a client could make it read
            self._known = dict(models)

        def load(self, name: str) -> bool:
            model = self._known.get(name)
            if model is None:
                return False
            model.load()
            self.update(model)
            return True

        def load_model(self, name: str) -> bool:
            return self.load(name)

    return OperatorModels()


class IrnetModelServer(kserve.ModelServer):
    """KServe's ``ModelServer`` with the host, security layer and error mapping described above."""

    def __init__(self, *, host: str = P.DEFAULT_HOST, http_port: int = P.DEFAULT_PORT, token: str | None = None,
                 max_body_bytes: int = P.DEFAULT_MAX_BODY_BYTES, allow_model_control: bool = False,
                 models: dict[str, IrnetModel] | None = None, access_log: bool = False):
        super().__init__(
            http_port=http_port,
            enable_grpc=False,  # one port, one protocol to secure
            enable_docs_url=False,
            enable_latency_logging=False,  # one log line per request costs ~10 % at 1 formula/request
            registered_models=_model_repository(models or {}),
        )
        self.host = host
        self.token = token
        # KServe's request decoder (JSON and the binary tensor extension) lets ValueError,
        # struct.error, InferenceError... of a malformed request escape as 500s (found by the
        # fuzz tests); everything it raises while decoding is the client's input, so a 400.
        decode = self.dataplane.decode_inference_request

        def decode_inference_request(body, headers, model_name):
            try:
                return decode(body, headers, model_name)
            except InvalidInput:
                raise
            except Exception as e:
                raise InvalidInput(f"malformed inference request ({type(e).__name__}: {str(e)[:200]})") from None

        self.dataplane.decode_inference_request = decode_inference_request
        self.max_body_bytes = max_body_bytes
        self.allow_model_control = allow_model_control
        self.access_log = access_log

    def start(self, models: list[IrnetModel]) -> None:  # type: ignore[override]
        from fastapi.exceptions import RequestValidationError
        from kserve.model_server import app
        from kserve.protocol.rest.server import RESTServer

        app.add_middleware(SecurityMiddleware, token=self.token, max_body_bytes=self.max_body_bytes,
                           allow_model_control=self.allow_model_control)
        server = self

        class _RESTServer(RESTServer):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                # KServe 0.21 builds uvicorn.Config(host="0.0.0.0"); uvicorn reads config.host at bind time.
                self.config.host = server.host
                self.config.server_header = False

            def _add_middlewares(self, app):
                # KServe's TimingMiddleware writes two log lines per request (measured: ~10 % of the
                # time of a one-formula request); uvicorn's access log is opt-in (--access-log).
                logging.getLogger("uvicorn.access").disabled = not server.access_log

            def _add_exception_handlers(self, app):
                super()._add_exception_handlers(app)
                app.add_exception_handler(PayloadTooLarge, _too_large_handler)
                app.add_exception_handler(InvalidInput, _invalid_input_handler)
                app.add_exception_handler(RequestValidationError, _validation_handler)

        import kserve.model_server as ms

        # ModelServer.start() constructs RESTServer by its module-level name; point it at ours.
        original = ms.RESTServer
        ms.RESTServer = _RESTServer
        try:
            super().start(models)
        finally:
            ms.RESTServer = original


def load_models(specs: Sequence[str], *, max_rows: int = P.DEFAULT_MAX_ROWS) -> list[IrnetModel]:
    """Models to serve from ``NAME``, ``PATH`` or ``NAME=PATH_OR_NAME`` (served under NAME)."""
    from irnet_hub.hub import load

    models: list[IrnetModel] = []
    seen: set[str] = set()
    for spec in specs:
        alias, sep, target = spec.partition("=")
        if not sep:
            alias, target = "", spec
        predictor = load(target)
        name = alias or predictor.name or Path(target).name
        if not name or "/" in name or name in seen:
            raise InvalidInputError(spec, "each served model needs a distinct name without '/' (use NAME=PATH)")
        seen.add(name)
        models.append(IrnetModel(predictor, name=name, max_rows=max_rows))
    if not models:
        raise InvalidInputError(list(specs), "name at least one model to serve")
    return models


def read_token(path: str | Path) -> str:
    """The bearer token in ``path`` (surrounding whitespace removed); never printed."""
    p = Path(path)
    try:
        token = p.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInputError(str(path), f"cannot read the token file ({type(e).__name__})") from None
    if len(token) < 16:
        raise InvalidInputError(str(path), "the token file must hold a token of at least 16 characters")
    return token


def serve(specs: Sequence[str], *, host: str = P.DEFAULT_HOST, port: int = P.DEFAULT_PORT,
          token_file: str | Path | None = None, max_rows: int = P.DEFAULT_MAX_ROWS,
          max_body_bytes: int = P.DEFAULT_MAX_BODY_BYTES, allow_model_control: bool = False,
          access_log: bool = False, blas_threads: int = 1) -> None:
    """Serve models over the V2 protocol until interrupted (SIGINT/SIGTERM).

    ``blas_threads``: threads of the BLAS library (OpenBLAS) per matrix product. One by default:
    a server runs many small products, and measured on 2 busy cores a one-formula prediction took
    4.9 ms with one OpenBLAS thread against 65 ms with two (their threads wait for each other
    whenever one is descheduled); 1,000 formulas 0.30 s against 0.92 s.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=int(blas_threads), user_api="blas")  # process-wide, kept after the call
    token = read_token(token_file) if token_file else None
    if max_rows < 1 or max_body_bytes < 1024:
        raise InvalidInputError(f"{max_rows} rows / {max_body_bytes} bytes", "limits must be positive (body >= 1 KiB)")
    models = load_models(specs, max_rows=max_rows)
    for m in models:
        m.load()
    server = IrnetModelServer(host=host, http_port=port, token=token, max_body_bytes=max_body_bytes,
                              allow_model_control=allow_model_control, models={m.name: m for m in models},
                              access_log=access_log)
    names = ", ".join(m.name for m in models)
    log.warning("irnet-hub serving %s on http://%s:%d (V2 protocol; auth %s; max %d rows, %d bytes per request)",
                names, host, port, "on" if token else "off", max_rows, max_body_bytes)
    server.start(list(models))


__all__ = ["IrnetModel", "IrnetModelServer", "SecurityMiddleware", "PayloadTooLarge", "load_models", "read_token",
           "serve"]
