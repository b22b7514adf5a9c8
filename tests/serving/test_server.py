"""``irnet serve`` as a real process: V2 protocol, same answers as local prediction, auth, limits, bad input."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.request

import numpy as np
import pandas as pd
import pytest

# The serve-test extra is in .venv-serve (KServe needs pydantic 2; .venv has the dlhub extra's
# pydantic 1), where `make test` runs this folder; a plain `pytest tests` in .venv skips it.
pytest.importorskip("kserve", reason="the serving tests run in .venv-serve (`make test` runs them there)")

from tolerance import assert_f32_close, assert_f32_frame_equal

from serve_helpers import COMPOSITION_MODEL, MAX_BODY_BYTES, MAX_ROWS, STRUCTURE_MODEL, TOKEN

MODEL = COMPOSITION_MODEL.name
SMODEL = STRUCTURE_MODEL.name


@pytest.fixture(scope="module")
def local():
    import irnet_hub

    return irnet_hub.load(COMPOSITION_MODEL)


def good_request_works(server, local) -> None:
    """After whatever came before, a normal request is still answered correctly."""
    status, body = server.infer(MODEL, ["NaCl"])
    assert status == 200, body
    pred = {o["name"]: o["data"] for o in body["outputs"]}["prediction"][0]
    assert_f32_close(pred, local.predict(["NaCl"])["prediction"].iloc[0])


# --------------------------------------------------------------------------- protocol


def test_health_metadata_and_loopback_only(server):
    assert server.request("GET", "/v2/health/live", token=None) == (200, {"live": True})
    assert server.request("GET", "/v2/health/ready", token=None) == (200, {"ready": True})
    status, meta = server.request("GET", f"/v2/models/{MODEL}")
    assert status == 200
    assert meta["inputs"] == [{"name": "formula", "datatype": "BYTES", "shape": [-1]}]
    outs = {o["name"]: o["datatype"] for o in meta["outputs"]}
    assert outs["prediction"] == "FP32" and outs["in_domain"] == "BOOL" and outs["error"] == "BYTES"
    status, smeta = server.request("GET", f"/v2/models/{SMODEL}")
    assert status == 200 and smeta["inputs"][0]["name"] == "structure"
    assert server.request("GET", f"/v2/models/{MODEL}/ready")[0] == 200
    # Bound to 127.0.0.1 only: another loopback address (the whole 127/8 reaches `lo` on Linux)
    # is refused, which a server bound to 0.0.0.0 would accept.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.2", server.port), timeout=2).close()


@pytest.mark.float32_paths
def test_round_trip_equals_local_prediction(server, local, formulas):
    from irnet_hub.serving.client import RemoteModel

    remote = RemoteModel(server.url, MODEL, token=TOKEN)
    assert remote.batch_size == MAX_ROWS  # 304 rows: two requests
    want = local.predict(formulas)
    got = remote.predict(formulas)
    assert list(got.columns) == list(want.columns)
    assert_f32_frame_equal(got, want)
    assert not want["in_domain"].all()  # the rare-element rows really test in_domain/rare_elements
    # pymatgen objects: a Composition, and a Structure given to a composition model.
    from pymatgen.core import Composition, Lattice, Structure

    rocksalt = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    objects = [Composition("Fe2O3"), rocksalt, "MgO"]
    assert_f32_frame_equal(remote.predict(objects), local.predict(objects))
    # Bad rows: reported the same way, with the same row numbers and reasons.
    mixed = ["NaCl", "Xx2O", "", "Fe2O3", "Na(Cl"]
    want = local.predict(mixed, errors="skip")
    got = remote.predict(mixed, errors="skip")
    assert_f32_frame_equal(got, want)
    assert [(f.row, f.input) for f in got.attrs["failures"]] == [(f.row, f.input) for f in want.attrs["failures"]]
    assert [f.reason for f in got.attrs["failures"]] == [f.reason for f in want.attrs["failures"]]
    from irnet_hub.errors import BatchInputError

    with pytest.raises(BatchInputError) as err:
        remote.predict(mixed)
    assert [f.row for f in err.value.failures] == [1, 2, 4] and "Xx" in str(err.value)


@pytest.mark.float32_paths
def test_remote_results_keep_the_inputs_labels(server, local):
    """README: results keep the input's labels, remotely as locally (the client returned 0..n-1 before)."""
    from irnet_hub.serving.client import RemoteModel

    remote = RemoteModel(server.url, MODEL, token=TOKEN)
    series = pd.Series(["NaCl", "Xx2O", "Fe2O3"], index=pd.Index(["a", "b", "c"], name="id"))
    got, want = remote.predict(series, errors="skip"), local.predict(series, errors="skip")
    assert got.index.tolist() == ["a", "b", "c"] and got.index.name == "id"
    assert list(got.columns[-2:]) == ["in_training", "training_value"]  # the shipped model has its training set
    assert_f32_frame_equal(got, want)
    frame = pd.DataFrame({"composition": ["MgO", "LiFePO4"], "x": [1, 2]}, index=[10, 20])
    got = remote.predict(frame)
    assert got.index.tolist() == [10, 20] and got["formula"].tolist() == ["MgO", "LiFePO4"]
    assert_f32_frame_equal(got, local.predict(frame))
    frame["target"] = got["prediction"]  # lines up row by row
    assert frame["target"].notna().all()


@pytest.mark.float32_paths
def test_structure_model_round_trip(server, structures):
    import irnet_hub

    remote = irnet_hub.load(SMODEL, remote=server.url, token=TOKEN)
    want = irnet_hub.load(STRUCTURE_MODEL).predict(structures)
    got = remote.predict(structures)
    assert_f32_frame_equal(got, want)
    # A path is not a structure: the server never reads files a client names.
    status, body = server.infer(SMODEL, ["/etc/passwd"], name="structure")
    assert status == 400 and "not the JSON of a pymatgen Structure" in body["error"]
    # A huge cell is refused before any Voronoi work; junk dicts are named too.
    big = structures[0].as_dict()
    big["sites"] = big["sites"][:1] * 501
    status, body = server.infer(SMODEL, [json.dumps(big), '{"lattice": 1, "sites": [{}]}', "[]"],
                                name="structure", parameters={"errors": "skip"})
    assert status == 200, body
    errors = {o["name"]: o["data"] for o in body["outputs"]}["error"]
    assert "501 sites; at most 500" in errors[0] and "not a valid pymatgen" in errors[1]
    assert "needs 'lattice' and 'sites'" in errors[2]
    # An unphysical cell (atoms 0.05 A apart once hung the server) is refused by the rule, by name.
    from pymatgen.core import Lattice, Structure

    close = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.0125, 0, 0]])
    status, body = server.infer(SMODEL, [json.dumps(close.as_dict()), json.dumps(structures[0].as_dict())],
                                name="structure", parameters={"errors": "skip"})
    assert status == 200, body
    outputs = {o["name"]: o["data"] for o in body["outputs"]}
    assert "0.050 A apart (below 0.5 A): not a physical crystal" in outputs["error"][0]
    assert outputs["error"][1] == "" and outputs["prediction"][1] is not None


def test_concurrent_clients_get_only_their_own_rows_and_errors(server, local):
    """Issue 16: the batcher merges concurrent requests; one client's bad row must not touch another's
    answer, and no request sees another's rows."""
    from concurrent.futures import ThreadPoolExecutor

    good = [["NaCl", "MgO"], ["Fe2O3"], ["LiFePO4", "SiC", "GaN"]] * 4
    bad = [["Xx2O"], ["NaCl", ""], ["(Fe"]] * 4
    want = {tuple(g): local.predict(g)["prediction"].tolist() for g in good}

    def ask(rows):
        return rows, server.infer(MODEL, rows)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, [r for pair in zip(good, bad) for r in pair]))
    for rows, (status, body) in answers:
        if rows in good:
            assert status == 200, (rows, body)
            outputs = {o["name"]: o["data"] for o in body["outputs"]}
            assert outputs["formula"] == rows
            assert_f32_close(outputs["prediction"], want[tuple(rows)])
        else:  # its own rows only, numbered within its own request
            assert status == 400, (rows, body)
            assert "row 0" in body["error"] or "row 1" in body["error"]
            assert not any(g in body["error"] for g in ("MgO", "Fe2O3", "LiFePO4", "GaN"))


@pytest.mark.float32_paths
def test_ensemble_returns_prediction_std_like_local(server, ensemble_dir):
    import irnet_hub

    status, meta = server.request("GET", "/v2/models/ens3")
    assert {"name": "prediction_std", "datatype": "FP32", "shape": [-1]} in meta["outputs"]
    formulas = ["NaCl", "Fe2O3", "MgO", "LiFePO4", "Xx2O"]
    want = irnet_hub.load(ensemble_dir).predict(formulas, errors="skip")
    got = irnet_hub.load("ens3", remote=server.url, token=TOKEN).predict(formulas, errors="skip")
    assert "prediction_std" in want.columns and want["prediction_std"].dropna().gt(0).all()  # a real spread
    assert want["prediction_std"].isna().sum() == 1  # the skipped Xx2O row keeps its label, with NaN
    assert got["prediction_std"].dtype == np.float32  # float32 locally and remotely
    assert_f32_frame_equal(got, want)


@pytest.mark.float32_paths
def test_third_party_v2_client(server, local):
    """Triton's HTTP client (binary and JSON tensors) gets the same numbers: the protocol is standard."""
    import tritonclient.http as httpclient

    formulas = ["NaCl", "Fe2O3", "SiO2"]
    want = local.predict(formulas)["prediction"].to_numpy()
    client = httpclient.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    headers = {"Authorization": f"Bearer {TOKEN}"}
    assert client.is_server_ready(headers=headers)
    assert client.get_model_metadata(MODEL, headers=headers)["inputs"][0]["name"] == "formula"
    for binary in (True, False):
        inp = httpclient.InferInput("formula", [len(formulas)], "BYTES")
        inp.set_data_from_numpy(np.array([f.encode() for f in formulas], dtype=object), binary_data=binary)
        out = [httpclient.InferRequestedOutput(n, binary_data=binary) for n in ("prediction", "in_domain")]
        result = client.infer(MODEL, [inp], outputs=out, headers=headers)
        assert_f32_close(result.as_numpy("prediction"), want)
        assert result.as_numpy("in_domain").tolist() == [True, True, True]
    client.close()


# --------------------------------------------------------------------------- security


def test_auth(server, local):
    body = {"inputs": [{"name": "formula", "datatype": "BYTES", "shape": [1], "data": ["NaCl"]}]}
    path = f"/v2/models/{MODEL}/infer"
    assert server.request("POST", path, body, token=None)[0] == 401
    assert server.request("POST", path, body, token="wrong-token-of-some-length")[0] == 401
    assert server.request("POST", path, body, token=TOKEN[:-1])[0] == 401
    assert server.request("POST", path, body, token=None, headers={"Authorization": f"Basic {TOKEN}"})[0] == 401
    assert server.request("GET", f"/v2/models/{MODEL}", token=None)[0] == 401
    assert server.request("GET", "/metrics", token=None)[0] == 401
    assert server.request("POST", path, body)[0] == 200
    from irnet_hub.errors import RemoteError
    from irnet_hub.serving.client import RemoteModel

    with pytest.raises(RemoteError, match="bearer token") as err:
        RemoteModel(server.url, MODEL, token="wrong-token-of-some-length")
    assert "wrong-token" not in str(err.value)
    good_request_works(server, local)
    # The token never reaches the log, though it was sent (right and wrong) many times.
    log = server.log.read_text(errors="replace")
    assert "POST /v2/models" in log  # the access log is on: the check below could fail
    assert TOKEN not in log and TOKEN[:12] not in log


def test_model_control_and_v1_are_refused(server, local):
    for path in (f"/v2/repository/models/{MODEL}/unload", f"/v2/repository/models/{MODEL}/load",
                 f"/v1/models/{MODEL}:predict"):
        status, body = server.request("POST", path, {"instances": [["NaCl"]]})
        assert status == 403, (path, body)
    good_request_works(server, local)  # the unload attempt did not unload it


def test_limits(server, local):
    status, body = server.infer(MODEL, ["NaCl"] * (MAX_ROWS + 1))
    assert status == 413 and f"at most {MAX_ROWS}" in body["error"]
    big = json.dumps({"inputs": [{"name": "formula", "datatype": "BYTES", "shape": [1],
                                  "data": ["x" * (MAX_BODY_BYTES + 10)]}]})
    status, body = server.request("POST", f"/v2/models/{MODEL}/infer", big)
    assert status == 413 and "at most" in body["error"]
    # A chunked upload (no Content-Length) is counted as it arrives.
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.putrequest("POST", f"/v2/models/{MODEL}/infer")
    conn.putheader("Authorization", f"Bearer {TOKEN}")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    try:
        for _ in range(8):
            chunk = b" " * 65536
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        conn.send(b"0\r\n\r\n")
    except OSError:
        pass  # the server may close as soon as it has refused
    assert conn.getresponse().status == 413
    conn.close()
    good_request_works(server, local)


# --------------------------------------------------------------------------- bad input

BYTES_IN = {"name": "formula", "datatype": "BYTES", "shape": [1], "data": ["NaCl"]}
BAD_REQUESTS = {
    "unknown model": ("/v2/models/no-such-model/infer", {"inputs": [BYTES_IN]}, 404, "no-such-model"),
    "malformed JSON": (None, '{"inputs": [', 422, "JSON"),
    "not an object": (None, "[1, 2, 3]", 422, "malformed"),
    "no inputs key": (None, {"data": ["NaCl"]}, 422, "inputs"),
    "wrong datatype": (None, {"inputs": [{**BYTES_IN, "datatype": "FP32", "data": [1.0]}]}, 400, "datatype BYTES"),
    "wrong input name": (None, {"inputs": [{**BYTES_IN, "name": "x"}]}, 400, "'formula'"),
    "two inputs": (None, {"inputs": [BYTES_IN, BYTES_IN]}, 400, "2 inputs"),
    "2-d shape": (None, {"inputs": [{**BYTES_IN, "shape": [2, 2], "data": ["a", "b", "c", "d"]}]}, 400, "shape"),
    "shape mismatch": (None, {"inputs": [{**BYTES_IN, "shape": [3]}]}, 400, "holds 1 values"),
    "negative shape": (None, {"inputs": [{**BYTES_IN, "shape": [-1]}]}, 400, "shape"),
    "empty string": (None, {"inputs": [{**BYTES_IN, "data": [""]}]}, 400, "empty formula"),
    "unknown element": (None, {"inputs": [{**BYTES_IN, "data": ["Xx2O"]}]}, 400, "Xx"),
    "lone surrogate": (None, '{"inputs": [{"name": "formula", "datatype": "BYTES", "shape": [1], '
                             '"data": ["Na\\ud800Cl"]}]}', 400, "row 0"),
    "control characters": (None, {"inputs": [{**BYTES_IN, "data": ["Na\x00Cl\x1b[2J"]}]}, 400, "control"),
    "emoji and RTL": (None, {"inputs": [{**BYTES_IN, "data": ["\U0001f9eaNa\u202eCl"]}]}, 400, "row 0"),
    "huge row": (None, {"inputs": [{**BYTES_IN, "data": ["Fe2O3" * 20000]}]}, 400, "characters"),
    "number instead of string": (None, {"inputs": [{**BYTES_IN, "data": [42]}]}, 400, "expected a string"),
    "null row": (None, {"inputs": [{**BYTES_IN, "data": [None]}]}, 400, "expected a string"),
    "bad errors parameter": (None, {"inputs": [BYTES_IN], "parameters": {"errors": "ignore"}}, 400, "'errors'"),
}
# The binary tensor extension: a JSON header of Inference-Header-Content-Length bytes, then raw tensors.
_OCTET = "application/octet-stream"
_BIN_JSON = b'{"inputs": [{"name": "formula", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": 9}}]}'
BINARY_REQUESTS = {
    "binary: no inputs key": (b'{"x": 1}', "8", 400, "inputs"),
    "binary: header longer than the body": (b'{"inputs": [', "999", 400, "request"),
    "binary: header length not a number": (b'{"inputs": []}', "abc", 400, "invalid literal"),
    "binary: garbage tensor bytes": (_BIN_JSON + b"\xff\xff\xff\x7fjunkjunk", str(len(_BIN_JSON)), 400, ""),
    "binary: invalid UTF-8 in a string": (_BIN_JSON + b"\x05\x00\x00\x00\xff\xfeNaC", str(len(_BIN_JSON)), 400,
                                          "UTF-8"),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_input_gets_4xx_naming_the_problem(server, local, case):
    path, body, want_status, fragment = BAD_REQUESTS[case]
    status, answer = server.request("POST", path or f"/v2/models/{MODEL}/infer", body)
    assert status == want_status, answer
    assert fragment in answer.get("error", json.dumps(answer)), answer
    good_request_works(server, local)


@pytest.mark.parametrize("case", list(BINARY_REQUESTS))
def test_bad_binary_request_gets_4xx(server, local, case):
    body, json_length, want_status, fragment = BINARY_REQUESTS[case]
    headers = {"Inference-Header-Content-Length": json_length, "Content-Type": _OCTET}
    status, answer = server.request("POST", f"/v2/models/{MODEL}/infer", body, headers=headers)
    assert status == want_status, answer
    assert fragment in answer.get("error", json.dumps(answer)), answer
    good_request_works(server, local)


def test_skip_mode_returns_per_row_errors(server):
    status, body = server.infer(MODEL, ["NaCl", "Xx2O", "", "Fe2O3"], parameters={"errors": "skip"})
    assert status == 200
    out = {o["name"]: o["data"] for o in body["outputs"]}
    assert [e != "" for e in out["error"]] == [False, True, True, False]
    assert "Xx" in out["error"][1] and out["prediction"][1] is None and out["prediction"][0] is not None
    assert body["parameters"]["unit"] == "eV/atom"


# --------------------------------------------------------------------------- process


def test_server_process_never_imports_tensorflow(server):
    """The NumPy path serves: no TensorFlow library is mapped into the server process."""
    maps = open(f"/proc/{server.pid}/maps").read()
    assert "numpy" in maps  # the check can see Python extension modules at all
    assert "tensorflow" not in maps and "_pywrap_tf" not in maps


@pytest.mark.float32_paths
def test_cli_remote_equals_local(server, tmp_path):
    irnet = [sys.executable, "-m", "irnet_hub.cli"]
    args = ["NaCl", "Fe2O3", "Pu2O3", "--json"]
    remote = subprocess.run(irnet + ["predict", MODEL, *args, "--remote", server.url, "--token-file",
                                     str(server.token_file), "--timeout", "20", "--retries", "1"],
                            capture_output=True, text=True, timeout=120)
    assert remote.returncode == 0, remote.stderr
    local = subprocess.run(irnet + ["predict", str(COMPOSITION_MODEL), *args], capture_output=True, text=True,
                           timeout=120)
    assert local.returncode == 0, local.stderr
    got, want = json.loads(remote.stdout), json.loads(local.stdout)
    assert [sorted(r) for r in got] == [sorted(r) for r in want]
    for g, w in zip(got, want):
        assert_f32_close(g["prediction"], w["prediction"], scale=max(abs(x["prediction"]) for x in want))
        assert {k: v for k, v in g.items() if k != "prediction"} == {k: v for k, v in w.items() if k != "prediction"}
    # Bad rows: named on stderr, exit code 2, no traceback; --skip-invalid predicts the rest.
    bad = subprocess.run(irnet + ["predict", MODEL, "NaCl", "Xx2O", "--remote", server.url, "--token-file",
                                  str(server.token_file)], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "Xx2O" in bad.stderr and "Traceback" not in bad.stderr
    skip = subprocess.run(irnet + ["predict", MODEL, "NaCl", "Xx2O", "--skip-invalid", "--json", "--remote",
                                   server.url, "--token-file", str(server.token_file)],
                          capture_output=True, text=True, timeout=120)
    assert skip.returncode == 0 and "skipped row 1 'Xx2O'" in skip.stderr
    assert [r["formula"] for r in json.loads(skip.stdout)] == ["NaCl"]
    # No token: the server's 401 is a remote failure, exit code 4, and says what to do.
    noauth = subprocess.run(irnet + ["predict", MODEL, "NaCl", "--remote", server.url], capture_output=True,
                            text=True, timeout=120)
    assert noauth.returncode == 4 and "token" in noauth.stderr and "Traceback" not in noauth.stderr


def test_plain_curl_style_request_without_content_type(server):
    """`curl -d` sends form encoding; the server still reads the body as V2 JSON."""
    data = json.dumps({"inputs": [BYTES_IN]}).encode()
    req = urllib.request.Request(f"{server.url}/v2/models/{MODEL}/infer", data=data, method="POST",
                                 headers={"Authorization": f"Bearer {TOKEN}",
                                          "Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 200 and json.loads(r.read())["outputs"][0]["name"] == "prediction"


def test_allowed_model_control_only_reaches_the_served_models(tmp_path):
    """With --allow-model-control, unload/load work for the models the operator named, never for a path."""
    from serve_helpers import own_server

    with own_server(tmp_path, str(COMPOSITION_MODEL), "--allow-model-control") as (srv, _):
        repo = "/v2/repository/models"
        assert srv.infer(MODEL, ["NaCl"], token=None)[0] == 200
        assert srv.request("POST", f"{repo}/{MODEL}/unload", token=None)[0] == 200
        assert srv.infer(MODEL, ["NaCl"], token=None)[0] == 404  # unloaded
        for name in ("no-such-model", "..%2F..%2Fetc%2Fpasswd", str(STRUCTURE_MODEL).replace("/", "%2F")):
            assert srv.request("POST", f"{repo}/{name}/load", token=None)[0] in (404, 503), name
        assert srv.request("GET", "/v2/models", token=None)[1]["models"] == []  # nothing named by a client
        assert srv.request("POST", f"{repo}/{MODEL}/load", token=None)[0] == 200
        assert srv.infer(MODEL, ["NaCl"], token=None)[0] == 200
        assert srv.request("POST", f"/v1/models/{MODEL}:predict", {"instances": [["NaCl"]]}, token=None)[0] == 403


def test_sigterm_stops_a_server_busy_with_a_slow_structure(tmp_path, structures):
    """Issue 16: SIGTERM did not stop a server stuck in one structure. Now it exits within a few seconds
    (SHUTDOWN_GRACE_SECONDS), the slow request failing rather than holding the process."""
    import signal
    import threading
    import time

    from serve_helpers import own_server

    big = structures[0].copy()
    big.make_supercell([4, 4, 4])  # 100+ sites: tens of seconds of tessellation
    with own_server(tmp_path, str(STRUCTURE_MODEL), "--structure-timeout", "300") as (srv, proc):
        answer = {}
        slow = threading.Thread(target=lambda: answer.setdefault("r", srv.infer(
            SMODEL, [json.dumps(big.as_dict())], name="structure", token=None, timeout=120)))
        slow.start()
        time.sleep(3)  # the request is in the featurizer's worker now
        assert slow.is_alive(), answer
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        assert time.monotonic() - start < 15, srv.log.read_text()[-2000:]
        slow.join(30)
        assert not slow.is_alive()


def test_request_heads_are_bounded_before_authentication(server, local):
    """Issue 16: a 64 MB header was accepted and stalled connections held open. Now a head over
    MAX_HEADER_BYTES gets 400, one that does not arrive whole within HEADER_TIMEOUT_SECONDS is closed,
    and the server answers normally throughout."""
    import socket
    import time

    from irnet_hub.serving import protocol as P

    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall(b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (2 * P.MAX_HEADER_BYTES) + b"\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 400")
    stalled = [socket.create_connection(("127.0.0.1", server.port), timeout=60) for _ in range(20)]
    start = time.monotonic()
    for s in stalled:
        s.sendall(b"POST /v2/models/x/infer HTTP/1.1\r\nHost: x\r\n")  # never finished
    good_request_works(server, local)  # not blocked by them
    for s in stalled:
        assert s.recv(100) == b""  # closed by the server
        s.close()
    assert P.HEADER_TIMEOUT_SECONDS - 1 < time.monotonic() - start < P.HEADER_TIMEOUT_SECONDS + 10
    good_request_works(server, local)
