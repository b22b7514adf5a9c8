"""Constants and the request helper shared by the serving tests."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COMPOSITION_MODEL = REPO / "servables" / "oqmd-formation-enthalpy"
STRUCTURE_MODEL = REPO / "servables" / "matbench-phonons-structure"
TOKEN = "s3rve-t0ken-" + "x7" * 12  # what the server's --token-file holds
MAX_ROWS = 200
MAX_BODY_BYTES = 256 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    port: int
    pid: int
    log: Path
    token_file: Path

    def request(self, method: str, path: str, body: bytes | str | dict | None = None, *, token: str | None = TOKEN,
                headers: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, dict]:
        """(status, JSON body) of one request; ``token=None`` sends no Authorization header."""
        if isinstance(body, dict):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode("utf-8", "surrogatepass")
        h = {"Content-Type": "application/json", **(headers or {})}
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, {"raw": raw.decode("utf-8", "replace")}

    def infer(self, model: str, data: list, *, name: str = "formula", datatype: str = "BYTES", shape=None,
              parameters: dict | None = None, **kw) -> tuple[int, dict]:
        body = {"inputs": [{"name": name, "datatype": datatype, "shape": shape if shape is not None else [len(data)],
                            "data": data}]}
        if parameters is not None:
            body["parameters"] = parameters
        return self.request("POST", f"/v2/models/{model}/infer", body, **kw)


