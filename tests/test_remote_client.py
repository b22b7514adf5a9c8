"""The remote client without KServe: unreachable servers, retries, time-outs, exit codes.

The client is standard library only, so these run in the main environment; the tests against a
real ``irnet serve`` process are in ``tests/serving`` (run in ``.venv-serve``). Here a tiny
``http.server`` plays a server that fails in controlled ways.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from irnet_hub.errors import InvalidInputError, RemoteError
from irnet_hub.serving.client import RemoteModel

META = {"name": "m", "platform": "", "inputs": [{"name": "formula", "datatype": "BYTES", "shape": [-1]}],
        "outputs": [{"name": n, "datatype": t, "shape": [-1]} for n, t in
                    [("prediction", "FP32"), ("in_domain", "BOOL"), ("rare_elements", "BYTES"),
                     ("formula", "BYTES"), ("error", "BYTES")]]}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens there


class _LocalServer:
    """A threaded HTTP server on a free loopback port, for one test."""

    def _start(self, handler) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class FlakyServer(_LocalServer):
    """Answers 503 ``failures`` times, then like irnet serve (one fixed prediction per row); ``delay`` seconds late."""

    def __init__(self, failures: int = 0, delay: float = 0.0, predictions=None):
        outer = self
        self.failures, self.delay, self.calls = failures, delay, 0
        # predictions(n) -> the "prediction" values sent for n rows (a hostile server's, in some tests)
        self.predictions = predictions or (lambda n: [1.5] * n)

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest's output clean
                pass

            def _send(self, status: int, doc: dict) -> None:
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                try:
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    # The client gave up (the timeout test): without this the handler thread prints a
                    # traceback to stderr later, inside whichever test is running then.
                    pass

            def _answer(self, doc_fn) -> None:
                outer.calls += 1
                time.sleep(outer.delay)
                if outer.failures > 0:
                    outer.failures -= 1
                    return self._send(503, {"error": "warming up"})
                self._send(200, doc_fn())

            def do_GET(self):
                self._answer(lambda: META)

            def do_POST(self):
                req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                rows = req["inputs"][0]["data"]
                n = len(rows)
                out = {"prediction": outer.predictions(n), "in_domain": [True] * n, "rare_elements": [""] * n,
                       "formula": rows, "error": [""] * n}
                self._answer(lambda: {"model_name": "m", "parameters": {"unit": "eV", "property": "p", "max_rows": 7},
                                      "outputs": [{"name": k, "datatype": "X", "shape": [n], "data": v}
                                                  for k, v in out.items()]})

        self._start(Handler)


def test_unreachable_server_is_a_clear_error_with_exit_code_4():
    url = f"http://127.0.0.1:{closed_port()}"
    start = time.monotonic()
    with pytest.raises(RemoteError, match="cannot reach the model server") as err:
        RemoteModel(url, "m", token="secret-token-value-123", retries=1, timeout=2)
    assert "2 attempt(s)" in str(err.value) and "secret" not in str(err.value)
    assert time.monotonic() - start < 10
    run = subprocess.run([sys.executable, "-m", "irnet_hub.cli", "predict", "m", "NaCl", "--remote", url,
                          "--retries", "0", "--timeout", "2"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 4, run.stderr
    assert "cannot reach the model server" in run.stderr and "Traceback" not in run.stderr


def test_retries_then_success_and_batching():
    server = FlakyServer(failures=2)
    try:
        model = RemoteModel(server.url, "m", retries=2, timeout=5)
        assert model.unit == "eV" and model.max_rows == 7 and model.batch_size == 7  # capped by the server's limit
        df = model.predict([f"Na{i}Cl" for i in range(1, 17)])  # 16 rows: 3 requests of at most 7
        assert len(df) == 16 and (df["prediction"] == 1.5).all() and df.index.tolist() == list(range(16))
        assert server.calls == 2 + 2 + 3  # two 503s retried, metadata, empty probe, three batches
    finally:
        server.close()
    server = FlakyServer(failures=5)
    try:
        with pytest.raises(RemoteError, match="HTTP 503: warming up"):
            RemoteModel(server.url, "m", retries=1, timeout=5)
        assert server.calls == 2
    finally:
        server.close()


def test_timeout_is_honoured():
    server = FlakyServer(delay=3.0)
    try:
        start = time.monotonic()
        with pytest.raises(RemoteError, match="timed out"):
            RemoteModel(server.url, "m", retries=0, timeout=0.5)
        assert time.monotonic() - start < 2.5
    finally:
        server.close()


@pytest.mark.parametrize("url", ["ftp://host:1", "127.0.0.1:8080", "http://"])
def test_bad_urls_are_input_errors(url):
    with pytest.raises(InvalidInputError, match="http://HOST:PORT"):
        RemoteModel(url, "m")


def test_token_stays_out_of_repr():
    server = FlakyServer()
    try:
        model = RemoteModel(server.url, "m", token="secret-token-value-123")
        assert "secret" not in repr(model) and "secret" not in str(model)
    finally:
        server.close()


def test_serve_without_the_serve_extra_says_how_to_install_it():
    import importlib.util

    if importlib.util.find_spec("kserve") is not None:  # make test runs this file in .venv, without KServe
        pytest.skip("KServe is installed here; this checks the environment without the serve extra")
    run = subprocess.run([sys.executable, "-m", "irnet_hub.cli", "serve", "oqmd-formation-enthalpy"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 3, run.stderr  # missing optional dependency
    assert "pip install 'irnet-hub[serve]'" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.parametrize("predictions,message", [
    (lambda n: [float("nan")] + [1.5] * (n - 1), r"non-finite 'prediction' \(NaN or infinite\) for rows 0"),
    (lambda n: [1.5] * (n - 1) + [float("inf")], "non-finite 'prediction'"),
    (lambda n: [1.5] * (n - 1), r"returned \d values of 'prediction' for \d inputs"),
    (lambda n: ["1.5x"] * n, "returned a non-number for 'prediction'"),
])
def test_a_server_that_answers_nonsense_is_a_remote_failure(predictions, message):
    """Issue 16: NaN and infinity passed through with in_domain=True; too few rows or strings gave exit 1."""
    server = FlakyServer(predictions=predictions)
    try:
        model = RemoteModel(server.url, "m", retries=0, timeout=5)
        with pytest.raises(RemoteError, match=message):
            model.predict(["NaCl", "MgO", "Fe2O3"])
        run = subprocess.run([sys.executable, "-m", "irnet_hub.cli", "predict", "m", "NaCl", "MgO", "--remote",
                              server.url, "--retries", "0"], capture_output=True, text=True, timeout=120)
        assert run.returncode == 4, run.stderr
        assert "Traceback" not in run.stderr and "please report" not in run.stderr
    finally:
        server.close()


class DripServer(_LocalServer):
    """Answers metadata, then a body it sends one byte at a time (``pause`` s apart), or ``size`` bytes at once."""

    def __init__(self, pause: float = 1.0, size: int = 2000):
        outer = self
        self.pause, self.size = pause, size

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                body = json.dumps(META).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(200)
                self.send_header("Content-Length", str(outer.size))
                self.end_headers()
                try:
                    if outer.pause:
                        for _ in range(outer.size):
                            self.wfile.write(b" ")
                            self.wfile.flush()
                            time.sleep(outer.pause)
                    else:
                        self.wfile.write(b" " * outer.size)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self._start(Handler)


def test_timeout_bounds_the_whole_request_and_the_body_size_is_bounded(monkeypatch):
    """Issue 16: a server dripping 1 byte/s kept the client waiting over 60 s with --timeout 3."""
    from irnet_hub.serving import client

    server = DripServer(pause=0.5)
    try:
        start = time.monotonic()
        with pytest.raises(RemoteError, match="timed out"):
            RemoteModel(server.url, "m", retries=0, timeout=2)  # its empty probe request drips
        assert time.monotonic() - start < 8
    finally:
        server.close()
    monkeypatch.setattr(client, "MAX_RESPONSE_BYTES", 1000)
    server = DripServer(pause=0.0, size=5000)
    try:
        with pytest.raises(RemoteError, match="sent more than"):
            RemoteModel(server.url, "m", retries=0, timeout=5)
    finally:
        server.close()


def test_log_lines_cannot_be_forged():
    """Issue 16: a model name holding %0a wrote a forged line into the server's log."""
    import io
    import logging

    from irnet_hub.serving.protocol import OneLineLogFilter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(OneLineLogFilter())
    logger = logging.getLogger("irnet-test-forging")
    logger.addHandler(handler)
    logger.propagate = False
    logger.warning("model %s not found", "x\nINFO: admin logged in\r\x1b[2J")
    assert stream.getvalue() == "model x\\nINFO: admin logged in\\r\\x1b[2J not found\n"  # one line, visible
