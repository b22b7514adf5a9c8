"""Constants and the request helper shared by the serving tests."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
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




@contextlib.contextmanager
def own_server(tmp_path: Path, *args: str, token_file: Path | None = None, ready_within: float = 120.0):
    """``irnet serve ARGS...`` on a free port (with ``--token-file`` when given), ready; stopped afterwards.
    Yields (Server, the process). A server that exits or is not ready in time fails with its log."""
    port = free_port()
    log = tmp_path / "server.log"
    cmd = [sys.executable, "-m", "irnet_hub.cli", "serve", *args, "--port", str(port)]
    if token_file is not None:
        cmd += ["--token-file", str(token_file)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"},
                                cwd=tmp_path)
    srv = Server(f"http://127.0.0.1:{port}", port, proc.pid, log, token_file or tmp_path / "none")
    deadline = time.monotonic() + ready_within
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"irnet serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if srv.request("GET", "/v2/health/ready", token=None, timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"irnet serve not ready after {ready_within:g} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.25)
        yield srv, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def build_ensemble(out: Path, data_dir: Path) -> Path:
    """A real 3-member Keras ensemble (output: mean, then each member) saved as an irnet-hub model dir.

    Small random members over real Magpie features: what matters is that the server returns the
    Predictor's ``prediction_std`` column, not how good the members are.
    """
    import keras
    import numpy as np
    import pandas as pd

    from irnet_hub import artifact
    from irnet_hub.featurize.composition import featurize_compositions
    from irnet_hub.preprocessing import fit_scaler

    formulas = pd.read_csv(data_dir / "crabnet" / "benchmark_data" / "OQMD_Formation_Enthalpy" / "val.csv",
                           nrows=500)["formula"].tolist()
    X = featurize_compositions(formulas, errors="raise").features.astype(np.float32)
    X = np.where(np.isnan(X), np.nanmean(X, axis=0), X).astype(np.float32)
    keras.utils.set_random_seed(7)
    inp = keras.Input(shape=(X.shape[1],), name="features")
    norm = keras.layers.Normalization(mean=X.mean(0), variance=X.var(0) + 1e-3)(inp)
    members = []
    for i, act in enumerate(["exponential", "softplus", "linear"]):
        h = keras.layers.Dense(16, activation="relu", name=f"m{i}_dense")(norm)
        h = keras.layers.Dense(1, name=f"m{i}_out")(h)
        members.append(keras.layers.Activation(act, name=f"m{i}_{act}")(h))
    mean = keras.layers.Average(name="mean")(members)
    model = keras.Model(inp, keras.layers.Concatenate(name="ensemble")([mean, *members]), name="ensemble")
    info = {"name": "ens3", "featurizer": {"name": "magpie145", "input_kind": "composition"},
            "target": {"name": "test property", "unit": "eV"}, "scaler": fit_scaler(X, np.zeros(len(X))),
            "ensemble_size": 3, "std_scale": 1.5}
    artifact.save_model_dir(model, out, info)
    return out
