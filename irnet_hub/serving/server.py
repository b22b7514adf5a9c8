"""``irnet serve``: irnet-hub models behind the KServe Python model server (Open Inference Protocol V2).

:class:`IrnetModel` is a ``kserve.Model``: the same class runs under ``irnet serve`` here and
as the predictor of a KServe InferenceService on Kubernetes (``docs/serving/``). The request
and response layout is described in :mod:`irnet_hub.serving.protocol`.

Prediction runs irnet-hub's NumPy forward pass (the :class:`~irnet_hub.predictor.Predictor`):
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

KServe is an optional dependency (``pip install 'irnet-hub[serve]'``), imported only by this module
and :mod:`irnet_hub.serving.model`; :mod:`~irnet_hub.serving.security` is plain ASGI.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

from irnet_hub.errors import InvalidInputError
from irnet_hub.serving import protocol as P
from irnet_hub.serving.model import InvalidInput, IrnetModel, PayloadTooLarge, kserve
from irnet_hub.serving.security import SecurityMiddleware, bounded_h11_protocol

log = logging.getLogger("irnet_hub.serving")


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
            # SIGTERM: requests still running after this many seconds are cancelled and the process exits
            # (KServe's default, 30 s, kept a server stuck in one slow structure for half a minute).
            grace_period=P.SHUTDOWN_GRACE_SECONDS,
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
                # Limits on request heads before authentication (security.bounded_h11_protocol).
                self.config.http = bounded_h11_protocol()
                self.config.h11_max_incomplete_event_size = P.MAX_HEADER_BYTES

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


def load_models(specs: Sequence[str], *, max_rows: int = P.DEFAULT_MAX_ROWS,
                structure_timeout: float = P.DEFAULT_STRUCTURE_TIMEOUT) -> list[IrnetModel]:
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
        models.append(IrnetModel(predictor, name=name, max_rows=max_rows, structure_timeout=structure_timeout))
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
          access_log: bool = False, blas_threads: int = 1,
          structure_timeout: float = P.DEFAULT_STRUCTURE_TIMEOUT) -> None:
    """Serve models over the V2 protocol until interrupted (SIGINT/SIGTERM).

    ``blas_threads``: threads of the BLAS library (OpenBLAS) per matrix product. One by default:
    a server runs many small products, and measured on 2 busy cores a one-formula prediction took
    4.9 ms with one OpenBLAS thread against 65 ms with two (their threads wait for each other
    whenever one is descheduled); 1,000 formulas 0.30 s against 0.92 s.

    ``structure_timeout``: seconds a structure model may spend featurizing one structure (in a worker
    process, see :mod:`irnet_hub.featurize.bounded`); a slower one fails its row with the reason.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=int(blas_threads), user_api="blas")  # process-wide, kept after the call
    token = read_token(token_file) if token_file else None
    if max_rows < 1 or max_body_bytes < 1024:
        raise InvalidInputError(f"{max_rows} rows / {max_body_bytes} bytes", "limits must be positive (body >= 1 KiB)")
    models = load_models(specs, max_rows=max_rows, structure_timeout=structure_timeout)
    for m in models:
        m.load()
    server = IrnetModelServer(host=host, http_port=port, token=token, max_body_bytes=max_body_bytes,
                              allow_model_control=allow_model_control, models={m.name: m for m in models},
                              access_log=access_log)
    if token is None and host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("serving on %s without --token-file: anyone who can reach this address can use the models",
                    host)
    names = ", ".join(m.name for m in models)
    P.escape_logs()  # after KServe configured its handlers: a client's text never forges a log line
    log.warning("irnet-hub serving %s on http://%s:%d (V2 protocol; auth %s; max %d rows, %d bytes per request)",
                names, host, port, "on" if token else "off", max_rows, max_body_bytes)
    server.start(list(models))


__all__ = ["IrnetModel", "IrnetModelServer", "SecurityMiddleware", "PayloadTooLarge", "load_models", "read_token",
           "serve"]
