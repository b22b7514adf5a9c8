"""The client of ``irnet serve`` (or any server running :class:`~irnet_hub.serving.server.IrnetModel`).

>>> import irnet_hub
>>> model = irnet_hub.load("oqmd-formation-enthalpy", remote="http://127.0.0.1:8080")
>>> model.predict(["NaCl", "Fe2O3"])        # the same table as local prediction

It speaks plain V2 JSON over :mod:`http.client` (standard library only, so it works without the
``serve`` extra), keeps one connection open across requests, splits large inputs into requests
of ``batch_size`` rows, and retries a failed connection or a 502/503/504 answer ``retries``
times with exponential back-off. Retrying is safe because inference is a pure function of the
request. Failures to reach the server raise :class:`~irnet_hub.errors.RemoteError`
(CLI exit code 4); the token is never part of an error message or ``repr``.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from typing import Any, Iterable, Literal
from urllib.parse import quote, urlsplit

from irnet_hub.errors import BatchInputError, InvalidInputError, RemoteError
from irnet_hub.serving import protocol as P

DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRIES = 2
_RETRY_STATUS = {502, 503, 504}
# Largest response read: a full batch of rows with every output is a few MB; more is not an answer.
MAX_RESPONSE_BYTES = 64 * 2**20


class RemoteModel:
    """A model served over the V2 protocol, used like a local :class:`~irnet_hub.predictor.Predictor`.

    ``url`` is the server's base URL (``http://HOST:PORT``); ``name`` the model's name there.
    ``token`` is the bearer token, if the server requires one. ``timeout`` (seconds) applies to
    each request; ``retries`` is how many times a failed connection or a 502/503/504 is retried.
    """

    def __init__(self, url: str, name: str, *, token: str | None = None, timeout: float = DEFAULT_TIMEOUT,
                 retries: int = DEFAULT_RETRIES, batch_size: int = P.DEFAULT_CLIENT_BATCH):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInputError(url, "a model server URL looks like http://HOST:PORT (or https://)")
        if timeout <= 0 or retries < 0 or batch_size < 1:
            raise InvalidInputError(f"timeout={timeout}, retries={retries}, batch_size={batch_size}",
                                    "timeout and batch size must be positive, retries zero or more")
        self.url = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        self._scheme, self._host, self._port = parts.scheme, parts.hostname, parts.port
        self._base = parts.path.rstrip("/")
        self.__token = token
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.name = name
        self._conn: http.client.HTTPConnection | None = None

        meta = self._request("GET", f"/v2/models/{quote(name, safe='')}")
        inputs = {t.get("name") for t in meta.get("inputs", [])}
        kinds = [k for k, n in P.INPUT_NAMES.items() if n in inputs]
        if not kinds:
            raise RemoteError(f"{self.url} serves {name!r} with inputs {sorted(map(str, inputs))}, "
                              "not an irnet-hub model (expected 'formula' or 'structure')")
        self.input_kind: str = kinds[0]
        self.input_name = P.INPUT_NAMES[self.input_kind]
        self.output_names = [t.get("name") for t in meta.get("outputs", [])]
        # An empty request returns the model's parameters (unit, property, row limit) and nothing else.
        params = self._infer([], "skip").get("parameters") or {}
        self.unit: str = str(params.get("unit", ""))
        self.property: str = str(params.get("property", ""))
        self.max_rows = int(params.get("max_rows") or P.DEFAULT_MAX_ROWS)
        self.batch_size = min(int(batch_size), self.max_rows)

    def __repr__(self) -> str:
        return f"RemoteModel({self.name!r}, url={self.url!r}, property={self.property!r}, unit={self.unit!r})"

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> "RemoteModel":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- prediction -----------------------------------------------------------------------

    def predict(self, inputs: Any, *, errors: Literal["raise", "skip"] = "raise", progress: bool | None = None,
                column: str | None = None):
        """Predict on the server; the same DataFrame as the local ``Predictor.predict``.

        Columns ``formula, prediction[, prediction_std], unit, model, in_domain, rare_elements, note``,
        indexed by the input's labels (a Series' or DataFrame's index; a list's positions, named ``row``).
        A DataFrame's formulas are read from ``column``, or the first of ``formula``, ``composition`` and
        ``formula_pretty`` it has (``structure`` for a structure model). ``errors="raise"``: any invalid
        input raises :class:`~irnet_hub.errors.BatchInputError` naming each one (after every row was
        checked); ``errors="skip"``: the failures are in ``df.attrs["failures"]`` (or use :meth:`predict_result`).
        """
        return self.predict_result(inputs, errors=errors, progress=progress, column=column).predictions

    def predict_result(self, inputs: Any, *, errors: Literal["raise", "skip"] = "skip",
                       progress: bool | None = None, column: str | None = None):
        """Like :meth:`predict`, but a :class:`~irnet_hub.predictor.PredictionResult` (predictions and failures)."""
        from irnet_hub.predictor import PredictionResult

        table = self.predict_table(inputs, errors=errors, column=column)
        return PredictionResult(table.to_frame(), table.failures)

    def predict_table(self, inputs: Any, *, errors: Literal["raise", "skip"] = "skip", column: str | None = None):
        """The server's :class:`~irnet_hub.prediction_table.PredictionTable` for ``inputs``, labels kept."""
        from irnet_hub.prediction_table import PredictionTable

        if errors not in ("raise", "skip"):
            raise InvalidInputError(errors, "errors must be 'raise' or 'skip'")
        labels, items = self._as_items(inputs, column)
        encoded = [self._encode(x) for x in items]
        cols: dict[str, list] = {n: [] for n in P.OUTPUTS}
        for start in range(0, len(encoded), self.batch_size):
            outputs = self._outputs(self._infer(encoded[start:start + self.batch_size], "skip"))
            for name in cols:
                cols[name].extend(outputs.get(name, []))
        n = len(items)
        # A formula string is shown as given, a Composition/Structure by its reduced formula.
        sent = cols["formula"]
        shown = [items[i] if isinstance(items[i], str)
                 else _reduced_formula(items[i]) or (str(sent[i]) if i < len(sent) else "") for i in range(n)]
        try:
            table = PredictionTable.from_v2(cols, items, shown, unit=self.unit, model=self.name,
                                            with_std="prediction_std" in self.output_names,
                                            with_domain="in_domain" in self.output_names,
                                            with_training="in_training" in self.output_names, labels=labels)
        except ValueError as e:  # rows the server did not answer, non-numbers, NaN: a remote failure
            raise RemoteError(f"the server at {self.url} {e}") from None
        if table.failures and errors == "raise":
            raise BatchInputError(table.failures)
        return table

    def _as_items(self, inputs: Any, column: str | None = None) -> tuple[Any, list[Any]]:
        """(labels, items): the input's labels (None: list positions) and its rows."""
        import pandas as pd

        if isinstance(inputs, pd.DataFrame):
            from irnet_hub.tables import formula_column

            if column is None and self.input_kind == "structure" and "structure" in inputs.columns:
                column = "structure"
            return inputs.index, list(inputs[formula_column(inputs.columns, "<DataFrame>", column)])
        if isinstance(inputs, pd.Series):
            return inputs.index, list(inputs)
        if isinstance(inputs, (str, bytes, dict)) or hasattr(inputs, "as_dict"):
            return None, [inputs]
        if isinstance(inputs, Iterable):
            return None, list(inputs)
        raise InvalidInputError(inputs, "expected formulas or structures (a list, Series or DataFrame)")

    def _encode(self, item: Any) -> Any:
        """One row as the server expects it; anything unusable is sent as is and reported by the server."""
        if self.input_kind == "structure":
            if hasattr(item, "as_dict") and hasattr(item, "lattice"):
                return json.dumps(item.as_dict())
            if isinstance(item, dict):
                return json.dumps(item)
            return item if isinstance(item, str) else repr(item)
        comp = getattr(item, "composition", item)  # a Structure predicts from its composition
        if not isinstance(comp, str) and hasattr(comp, "formula"):
            return str(comp.formula).replace(" ", "")
        return item if isinstance(item, str) else repr(item)

    # -- HTTP -----------------------------------------------------------------------------

    def _infer(self, rows: list[Any], mode: str) -> dict[str, Any]:
        body = {"inputs": [{"name": self.input_name, "datatype": "BYTES", "shape": [len(rows)], "data": rows}],
                "parameters": {P.ERRORS_PARAMETER: mode}}
        return self._request("POST", f"/v2/models/{quote(self.name, safe='')}/infer", body)

    @staticmethod
    def _outputs(response: dict[str, Any]) -> dict[str, list]:
        return {o.get("name"): list(o.get("data") or []) for o in response.get("outputs", [])}

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=self.timeout)
        return self._conn

    def _request(self, method: str, path: str, body: dict | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self.__token:
            headers["Authorization"] = f"Bearer {self.__token}"
        last = status_seen = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(0.5 * 2 ** (attempt - 1), 8.0))
            # `timeout` bounds the whole request, not each read: a server that drips bytes, or never
            # ends its body, is cut off when the time is up (the watchdog shuts the socket down).
            conn = None
            expired = threading.Event()
            watchdog = threading.Timer(self.timeout, lambda: (expired.set(), _shutdown(conn)))
            try:
                conn = self._connection()
                watchdog.start()
                conn.request(method, self._base + path, body=data, headers=headers)
                resp = conn.getresponse()
                status, raw = resp.status, _read_limited(resp, expired)
            except (OSError, http.client.HTTPException, _TooLarge) as e:  # refused, reset, timed out, DNS
                self.close()
                if isinstance(e, _TooLarge):
                    raise RemoteError(f"the server at {self.url} sent more than {MAX_RESPONSE_BYTES // 2**20} MiB; "
                                      "not an answer to this request") from None  # fmt: skip
                last = ("timed out" if isinstance(e, socket.timeout) or expired.is_set()
                        else f"{type(e).__name__}: {e}")  # fmt: skip
                continue
            finally:
                watchdog.cancel()
            if expired.is_set():  # the body was cut short by the watchdog
                self.close()
                last = "timed out"
                continue
            if status in _RETRY_STATUS:
                # The server may close this connection after a 503: the retry opens a fresh one, and the
                # status stays in the message (a later "RemoteDisconnected" alone would hide it).
                self.close()
                status_seen = f"HTTP {status}: {_error_text(raw)}"
                last = status_seen
                continue
            return self._check(status, raw)
        if status_seen and status_seen != last:
            last = f"{status_seen}, then {last}"
        raise RemoteError(f"cannot reach the model server at {self.url} ({last}; {self.retries + 1} attempt(s), "
                          f"timeout {self.timeout:g} s). Is `irnet serve` running there?")

    def _check(self, status: int, raw: bytes) -> dict[str, Any]:
        if status == 200:
            try:
                return json.loads(raw)
            except ValueError:
                raise RemoteError(f"the server at {self.url} answered with something other than JSON") from None
        message = _error_text(raw)
        if status == 401:
            raise RemoteError(f"the server at {self.url} requires a valid bearer token ({message}); "
                              "pass token= / --token-file")
        if status == 404:
            raise InvalidInputError(self.name, f"the server at {self.url} does not serve this model ({message})")
        if status == 413:
            raise InvalidInputError(self.name, f"request over the server's limit ({message}); lower the batch size")
        if 400 <= status < 500:
            raise InvalidInputError(self.name, f"the server refused the request (HTTP {status}): {message}")
        raise RemoteError(f"the server at {self.url} failed (HTTP {status}): {message}")


class _TooLarge(Exception):
    pass


def _shutdown(conn: Any) -> None:
    sock = getattr(conn, "sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _read_limited(resp: Any, expired: threading.Event) -> bytes:
    """The response body, read as it arrives, up to :data:`MAX_RESPONSE_BYTES`."""
    chunks, size = [], 0
    while not expired.is_set():
        chunk = resp.read1(1 << 16)
        if not chunk:
            break
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise _TooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


def _reduced_formula(item: Any) -> str | None:
    comp = getattr(item, "composition", item)
    return getattr(comp, "reduced_formula", None)


def _error_text(raw: bytes) -> str:
    try:
        doc = json.loads(raw)
        text = doc.get("error") or doc.get("detail") or raw.decode("utf-8", "replace")
    except (ValueError, AttributeError):
        text = raw.decode("utf-8", "replace")
    text = str(text)
    return text if len(text) <= 500 else text[:497] + "..."


def read_token_file(path: str) -> str:
    """The bearer token held in the file ``path`` (surrounding whitespace removed)."""
    from pathlib import Path

    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInputError(str(path), f"cannot read the token file ({type(e).__name__})") from None


__all__ = ["RemoteModel", "read_token_file", "DEFAULT_TIMEOUT", "DEFAULT_RETRIES"]
