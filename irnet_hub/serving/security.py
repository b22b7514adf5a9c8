"""The server's security layer: a pure ASGI middleware in front of KServe's FastAPI app.

It runs before FastAPI reads the body, so an oversized or unauthenticated request costs the
server neither the parsing nor the memory: bearer token (constant-time comparison, never logged),
body size limit (413, chunked uploads counted as they arrive), 403 for model control and the V1
protocol unless the operator allowed them.
"""

from __future__ import annotations

import hmac
import json

from irnet_hub.serving import protocol as P


def bounded_h11_protocol():
    """uvicorn's h11 protocol with limits before any request reaches the app (so before authentication):
    a request head over :data:`~irnet_hub.serving.protocol.MAX_HEADER_BYTES` gets 400 (h11's own limit;
    uvicorn's default parser, httptools, took a 64 MB header), and a connection that has not sent a
    whole request head within :data:`~irnet_hub.serving.protocol.HEADER_TIMEOUT_SECONDS` of connecting,
    or of its previous response, is closed (150 stalled connections were once held open)."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class BoundedH11Protocol(H11Protocol):
        _deadline = None

        def _arm(self) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(P.HEADER_TIMEOUT_SECONDS, self._too_slow)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _too_slow(self) -> None:
            self._deadline = None
            if not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def connection_lost(self, exc) -> None:
            self._disarm()
            super().connection_lost(exc)

        def handle_events(self) -> None:
            cycle = self.cycle
            super().handle_events()
            if self.cycle is not cycle:  # a whole request head arrived
                self._disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()  # the next request on this connection gets the same deadline

    return BoundedH11Protocol


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


__all__ = ["SecurityMiddleware"]
