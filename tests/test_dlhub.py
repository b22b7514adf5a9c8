"""DLHub: descriptions validate offline, the entry point runs from the folder, and the client's requests.

The publish/run test drives the real ``dlhub_sdk.client.DLHubClient`` (built
with stub ``AccessTokenAuthorizer``s, so no Globus login) against
``FakeGlobus``, a local HTTP server on 127.0.0.1 that imitates every service
the client talks to:

* Globus Auth ``GET /v2/oauth2/userinfo`` (the constructor asks who you are);
* Globus Compute ``GET /v2/version``, ``POST /v2/containers/build``,
  ``GET /v2/containers/build/{id}``, ``POST /v2/functions``,
  ``POST /v3/endpoints/{ep}/submit`` and ``GET /v2/tasks/{id}``;
* Globus Search ``POST /v1/index/{index}/search``;
* DLHub's ``GET /api/v1/publish/signed_url``, the S3 form upload it points to,
  and the search-writer Lambda that ingests the servable's metadata;
* ``raw.githubusercontent.com`` for the DLHub JSON schemas (served from the
  unchanged upstream copies in ``irnet_hub/publish/dlhub_schemas/``).

Globus SDK clients are pointed at it with ``GLOBUS_SDK_SERVICE_URL_*``, Globus
Compute by patching its URL lookup, and the hard-coded ``requests`` URLs of
dlhub-sdk by rewriting them in ``requests.api.request``. Any request to
another host fails the test. The fake "endpoint" executes a submitted task
like DLHub's ``dlhub_run`` does: it unpacks the uploaded ZIP, reads its
``dlhub.json`` and calls the named function with the inputs.

What the real services do beyond this: real Globus OAuth tokens and scopes;
the container service actually builds a Docker image from the ContainerSpec
(dlhub-sdk 2.1.0 asks for Python 3.7, which irnet-hub, needing 3.11, does not
support; see the report), the endpoint runs in that container, results can
also arrive over AMQP, and DLHub has been winding down (whether its public
service still accepts servables could not be checked offline).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import uuid
import zipfile
from email.parser import BytesParser
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import pandas as pd
import pytest
from tolerance import assert_f32_close

# Real-data layer (`pytest -m "not slow"` leaves it out): builds servables and publishes them to local fakes of Globus/DLHub.
pytestmark = pytest.mark.slow

pytest.importorskip("dlhub_sdk.client")

TOKENS = {
    "dlhub": "dlhub-FAKE-token-1",
    "search": "search-FAKE-token-2",
    "compute": "compute-FAKE-token-3",
    "openid": "openid-FAKE-token-4",
    "lambda": "lambda-FAKE-token-5",
}
FORMULAS = ["Fe2O3", "NaCl", "SiC", "MgO", "Cu", "GaAs"]


def _descriptions(folder: Path) -> list[Path]:
    return sorted(folder.rglob("dlhub.json"))


# --------------------------------------------------------------------------- descriptions


def test_every_dlhub_json_validates_offline(hub_servable_dir, monkeypatch):
    """Both descriptions pass dlhub-sdk's own validate_against_dlhub_schema, with the schemas served offline."""
    import requests
    from dlhub_sdk.utils.schemas import _schema_repo, validate_against_dlhub_schema

    from irnet_hub.publish.dlhub_meta import _schema_bundle, validate_description

    paths = _descriptions(hub_servable_dir)
    assert [p.relative_to(hub_servable_dir).as_posix() for p in paths] == ["dlhub.json", "saved_model/dlhub.json"]

    bundle = _schema_bundle()
    assert bundle["base_url"] == _schema_repo + ("" if _schema_repo.endswith("/") else "/")
    fetched = []

    class _Response:
        def __init__(self, doc):
            self._doc = doc

        def json(self):
            return self._doc

    def offline_get(url, *args, **kwargs):
        # validate_against_dlhub_schema fetches "<repo>//servable.json"; RefResolver fetches the $refs.
        assert url.startswith(_schema_repo), f"unexpected network access: {url}"
        name = url[len(_schema_repo):].lstrip("/")
        fetched.append(name)
        return _Response(bundle["schemas"][name])

    monkeypatch.setattr(requests, "get", offline_get)
    for path in paths:
        doc = json.loads(path.read_text())
        validate_against_dlhub_schema(doc, "servable")
        validate_description(doc)  # irnet-hub's offline twin agrees
    assert {"servable.json", "dlhub.json", "datacite-v4.1.json", "servable/method.json",
            "servable/argument_type.json", "general/files.json"} <= set(fetched)

    # The validation is real: a type the schema does not know is rejected by both.
    import jsonschema

    doc = json.loads(paths[1].read_text())
    doc["servable"]["methods"]["run"]["input"]["type"] = "tuple"
    with pytest.raises(jsonschema.ValidationError):
        validate_against_dlhub_schema(doc, "servable")
    with pytest.raises(jsonschema.ValidationError):
        validate_description(doc)


def test_description_contents(hub_servable_dir):
    from irnet_hub import artifact
    from irnet_hub.publish.dlhub_meta import PAPER_DOI, load_description

    info = artifact.read_info(hub_servable_dir)
    doc = json.loads((hub_servable_dir / "dlhub.json").read_text())
    assert doc["dlhub"]["name"] == "irnet-mp-bulk-modulus-small" and doc["dlhub"]["type"] == "servable"
    dc = doc["datacite"]
    assert "bulk modulus" in dc["titles"][0]["title"]
    assert dc["creators"][0] == {"nameIdentifiers": [], "affiliations": [], "familyName": "Jha", "givenName": "Dipendra"}
    assert dc["publicationYear"] == info["created"][:4]
    related = {(r["relatedIdentifier"], r["relationType"]) for r in dc["relatedIdentifiers"]}
    assert (PAPER_DOI, "IsDescribedBy") in related
    assert ("10.1063/1.4812323", "IsDerivedFrom") in related  # Materials Project
    assert ("10.1038/s41524-021-00545-1", "IsDerivedFrom") in related  # the published split
    abstract = [d for d in dc["descriptions"] if d["descriptionType"] == "Abstract"][0]["description"]
    assert "bulk modulus (GPa)" in abstract and "Materials Project" in abstract
    assert dc["rightsList"][0]["rightsURI"] == "https://creativecommons.org/licenses/by/4.0/"

    run = doc["servable"]["methods"]["run"]
    assert doc["servable"]["shim"] == "python.PythonStaticMethodServable"
    assert run["method_details"] == {"method_name": "predict", "module": "irnet_hub.publish.dlhub_entry", "autobatch": False}
    assert run["input"] == {"type": "list", "description": "Chemical formulas, e.g. ['Fe2O3', 'NaCl']",
                            "item_type": {"type": "string"}}
    assert run["output"]["item_type"]["type"] == "dict"
    assert set(run["output"]["item_type"]["properties"]) == {
        "formula", "parsed_formula", "prediction", "unit", "in_domain", "rare_elements", "note", "in_training",
        "training_value"}
    deps = doc["dlhub"]["dependencies"]["python"]
    assert deps["irnet-hub"] and {"numpy", "pymatgen", "matminer", "h5py", "pandas"} <= set(deps)
    files = doc["dlhub"]["files"]["other"]
    assert {"config.json", "metadata.json", "model.weights.h5", "irnet.json", "manifest.json"} <= set(files)
    assert all((hub_servable_dir / f).is_file() for f in files)
    assert not any(f.startswith("saved_model/") for f in files)  # the NumPy path needs no TensorFlow

    tf_doc = json.loads((hub_servable_dir / "saved_model" / "dlhub.json").read_text())
    assert tf_doc["servable"]["shim"] == "tensorflow.TensorFlowServable"
    assert tf_doc["servable"]["methods"]["run"]["input"]["shape"] == [None, 145]
    assert tf_doc["servable"]["methods"]["run"]["output"]["shape"] == [None, 1]
    assert "saved_model.pb" in tf_doc["dlhub"]["files"]["other"]
    assert "tensorflow" in tf_doc["dlhub"]["dependencies"]["python"]

    # A written description loads back into a publishable model object unchanged.
    for path in _descriptions(hub_servable_dir):
        model = load_description(path)
        assert json.loads(json.dumps(model.to_dict(simplify_paths=True))) == json.loads(path.read_text())
        assert all(Path(f).is_file() for f in model.list_files())


@pytest.mark.float32_paths
def test_entry_point_runs_from_the_unpacked_folder_alone(hub_servable_dir, hub_model_dir, tmp_path):
    """Like a DLHub worker: only the files dlhub.json lists, unpacked in the working directory."""
    from irnet_hub.predictor import load_dir

    doc = json.loads((hub_servable_dir / "dlhub.json").read_text())
    work = tmp_path / "home"
    for rel in doc["dlhub"]["files"]["other"]:
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(hub_servable_dir / rel, work / rel)
    (work / "dlhub.json").write_text(json.dumps(doc))
    code = (
        "import json, sys, importlib\n"
        "d = json.load(open('dlhub.json'))['servable']['methods']['run']['method_details']\n"
        "fn = getattr(importlib.import_module(d['module']), d['method_name'])\n"
        f"out = fn({FORMULAS!r})\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
        "print('RESULT', json.dumps(out))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "IRNET_SERVABLE_DIR"}
    r = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.split("RESULT", 1)[1])
    want = load_dir(hub_model_dir).predict(FORMULAS)
    assert [o["formula"] for o in out] == FORMULAS
    assert [o["unit"] for o in out] == ["GPa"] * len(FORMULAS)
    assert_f32_close([o["prediction"] for o in out], want["prediction"])
    assert [o["in_domain"] for o in out] == [None if pd.isna(v) else bool(v) for v in want["in_domain"]]
    assert set(out[0]) == {"formula", "parsed_formula", "prediction", "unit", "in_domain", "rare_elements", "note",
                           "in_training", "training_value"}
    assert [o["note"] for o in out] == list(want["note"])  # the same words as local prediction


def test_servables_published_before_the_publish_split_still_run():
    """Published dlhub.json files name irnet_hub.hub.dlhub_entry; that path forwards to the one entry point."""
    import importlib

    old = importlib.import_module("irnet_hub.hub.dlhub_entry")
    from irnet_hub.publish import dlhub_entry

    assert old.predict is dlhub_entry.predict


def test_entry_point_input_checks(hub_servable_dir, monkeypatch):
    from irnet_hub.errors import InvalidInputError
    from irnet_hub.publish import dlhub_entry

    monkeypatch.setenv(dlhub_entry.SERVABLE_DIR_ENV, str(hub_servable_dir))
    assert dlhub_entry.predict([]) == []
    (one,) = dlhub_entry.predict("NaCl")
    assert one["formula"] == "NaCl" and isinstance(one["prediction"], float)
    with pytest.raises(InvalidInputError, match="formula string"):
        dlhub_entry.predict(["NaCl", 3])
    with pytest.raises(InvalidInputError, match="Xx"):
        dlhub_entry.predict(["NaCl", "Xx2O"])


# --------------------------------------------------------------------------- the client, against fake services


class FakeGlobus:
    """Local imitation of Globus Auth/Search/Compute, DLHub's signed-URL API, S3 and the ingest Lambda."""

    def __init__(self, workdir: Path):
        from irnet_hub.publish.dlhub_meta import _schema_bundle

        self.workdir = workdir
        self.schemas = _schema_bundle()["schemas"]
        self.log: list[dict] = []
        self.uploads: dict[str, bytes] = {}
        self.containers: dict[str, dict] = {}
        self.functions: dict[str, dict] = {}
        self.index: list[dict] = []  # ingested servable metadata (Globus Search content)
        self.submitted: list[dict] = []
        self.results: dict[str, str] = {}
        self.unknown: list[str] = []
        self._lock = threading.Lock()

    def __enter__(self) -> "FakeGlobus":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self, method):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                parts = urlsplit(self.path)
                path = unquote(parts.path)
                fake.log.append({"method": method, "path": path, "authorization": self.headers.get("Authorization")})
                try:
                    status, payload = fake.route(method, path, body, self.headers)
                except Exception as e:  # a bug in the fake shows up as a 500 the test will see
                    import traceback

                    status, payload = 500, {"error": repr(e), "trace": traceback.format_exc()}
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def _auth(self, headers, service: str) -> bool:
        return headers.get("Authorization") == f"Bearer {TOKENS[service]}"

    def route(self, method, path, body, headers):
        from globus_compute_sdk.serialize import ComputeSerializer

        if path.startswith("/schemas/"):
            return 200, self.schemas[path[len("/schemas/"):].lstrip("/")]
        if path == "/v2/oauth2/userinfo":
            if not self._auth(headers, "openid"):
                return 401, {"error": "unauthorized"}
            return 200, {"sub": "0c0c0c0c-1111-2222-3333-444444444444", "preferred_username": "tester@example.org",
                         "name": "Test User", "email": "tester@example.org"}
        if path == "/dlhub-api/v1/publish/signed_url":
            key = f"servables/{uuid.uuid4()}.zip"
            return 200, {"url": f"{self.url}/s3-bucket", "fields": {"key": key, "policy": "p0", "x-amz-signature": "s0"}}
        if path == "/s3-bucket" and method == "POST":
            msg = BytesParser(policy=email_policy).parsebytes(
                b"Content-Type: " + headers["Content-Type"].encode() + b"\r\n\r\n" + body)
            form = {p.get_param("name", header="content-disposition"): p.get_payload(decode=True)
                    for p in msg.iter_parts()}
            self.uploads[form["key"].decode()] = form["file"]
            return 204, None
        if path == "/lambda/" and method == "POST":
            if not self._auth(headers, "lambda"):
                return 401, {"error": "unauthorized"}
            gingest = json.loads(body)["document_file"]
            for entry in gingest["ingest_data"]["gmeta"]:
                self.index.append(entry["content"])
            return 200, {"success": True}
        if re.fullmatch(r"/v1/index/[^/]+/search", path):
            if not self._auth(headers, "search"):
                return 401, {"error": "unauthorized"}
            q = json.loads(body)["q"]
            wanted = dict(re.findall(r'dlhub\.(\w+):\s*"?([^")\s]+)"?', q))
            hits = [d for d in self.index if all(str(d["dlhub"].get(k)) == v for k, v in wanted.items())]
            return 200, {"gmeta": [{"subject": d["dlhub"]["id"], "entries": [{"content": d, "entry_id": None}]}
                                   for d in hits], "total": len(hits), "count": len(hits), "offset": 0}
        # Globus Compute
        if path.startswith(("/v2/", "/v3/")):
            if not self._auth(headers, "compute"):
                return 401, {"error": "unauthorized"}
            if path == "/v2/version":
                return 200, {"api": "1.0.0", "min_sdk_version": "0.0.1", "min_ep_version": "0.0.1"}
            if path == "/v2/containers/build" and method == "POST":
                cid = str(uuid.uuid4())
                self.containers[cid] = json.loads(body)
                return 200, {"container_id": cid}
            m = re.fullmatch(r"/v2/containers/build/([0-9a-f-]+)", path)
            if m:
                return (200, {"status": "ready"}) if m.group(1) in self.containers else (404, {"error": "no container"})
            if path == "/v2/functions" and method == "POST":
                fid = str(uuid.uuid4())
                self.functions[fid] = json.loads(body)
                return 200, {"function_uuid": fid}
            m = re.fullmatch(r"/v3/endpoints/([0-9a-f-]+)/submit", path)
            if m:
                return 200, self._submit(m.group(1), json.loads(body), ComputeSerializer())
            m = re.fullmatch(r"/v2/tasks/([0-9a-f-]+)", path)
            if m and m.group(1) in self.results:
                return 200, {"task_id": m.group(1), "status": "success", "result": self.results[m.group(1)],
                             "completion_t": "1700000000.0"}
        self.unknown.append(f"{method} {path}")
        return 404, {"error": f"not imitated: {method} {path}"}

    def _submit(self, endpoint_id: str, batch: dict, ser) -> dict:
        """Run each task the way DLHub's dlhub_run does, in the servable unpacked from its ZIP."""
        import importlib

        from irnet_hub.publish import dlhub_entry

        out = {}
        for fid, payloads in batch["tasks"].items():
            fn = self.functions[fid]
            spec = self.containers[fn["container_uuid"]]
            key = spec["payload_url"].split("amazonaws.com/", 1)[1]
            folder = self.workdir / key.replace("/", "_")
            if not folder.exists():
                zipfile.ZipFile(io.BytesIO(self.uploads[key])).extractall(folder)
            meta = json.loads((folder / "dlhub.json").read_text())
            details = meta["servable"]["methods"]["run"]["method_details"]
            func = getattr(importlib.import_module(details["module"]), details["method_name"])
            for payload in payloads:
                ser_args, ser_kwargs = ser.unpack_buffers(payload)
                (event,) = ser.deserialize(ser_args)
                assert ser.deserialize(ser_kwargs) == {}
                self.submitted.append({"endpoint_id": endpoint_id, "function_id": fid, "event": event})
                with self._lock:
                    old = os.environ.get(dlhub_entry.SERVABLE_DIR_ENV)
                    os.environ[dlhub_entry.SERVABLE_DIR_ENV] = str(folder)  # dlhub_run chdirs there instead
                    try:
                        result = func(event["inputs"], **(event.get("parameters") or {}))
                    finally:
                        if old is None:
                            os.environ.pop(dlhub_entry.SERVABLE_DIR_ENV, None)
                        else:
                            os.environ[dlhub_entry.SERVABLE_DIR_ENV] = old
                tid = str(uuid.uuid4())
                # dlhub_run returns (shim.run(...), elapsed ms); shim.run returns (output, metadata).
                self.results[tid] = ser.serialize(((result, {"success": True}), 12.5))
                out.setdefault(fid, []).append(tid)
        return {"tasks": out, "task_group_id": str(uuid.uuid4()), "request_id": "req-1", "endpoint_id": endpoint_id}


@pytest.fixture
def fake_globus(tmp_path, monkeypatch):
    """FakeGlobus running, with every dlhub-sdk/Globus URL pointed at it and all other network refused."""
    import globus_compute_sdk.sdk.client as gc_client
    import requests
    import requests.adapters
    from dlhub_sdk.config import DLHUB_SERVICE_ADDRESS, GLOBUS_SEARCH_WRITER_LAMBDA
    from dlhub_sdk.utils.schemas import _schema_repo

    with FakeGlobus(tmp_path / "endpoint") as fake:
        monkeypatch.setenv("GLOBUS_SDK_SERVICE_URL_AUTH", fake.url + "/")
        monkeypatch.setenv("GLOBUS_SDK_SERVICE_URL_SEARCH", fake.url + "/")
        monkeypatch.setattr(gc_client, "get_web_service_url", lambda *a, **k: fake.url)
        rewrites = {
            DLHUB_SERVICE_ADDRESS.rsplit("/api/", 1)[0] + "/api/": fake.url + "/dlhub-api/",
            GLOBUS_SEARCH_WRITER_LAMBDA: fake.url + "/lambda/",
            _schema_repo: fake.url + "/schemas/",
        }
        original_request = requests.api.request

        def rewriting_request(method, url, **kwargs):
            for prefix, target in rewrites.items():
                if url.startswith(prefix):
                    url = target + url[len(prefix):]
            return original_request(method, url, **kwargs)

        original_send = requests.adapters.HTTPAdapter.send

        def local_only_send(self, request, *args, **kwargs):
            if not request.url.startswith(fake.url):
                raise requests.ConnectionError(f"test: network access to {urlsplit(request.url).netloc} refused")
            return original_send(self, request, *args, **kwargs)

        monkeypatch.setattr(requests.api, "request", rewriting_request)
        monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", local_only_send)
        yield fake


def _client():
    from dlhub_sdk.client import DLHubClient
    from globus_sdk import AccessTokenAuthorizer

    return DLHubClient(
        dlh_authorizer=AccessTokenAuthorizer(TOKENS["dlhub"]),
        search_authorizer=AccessTokenAuthorizer(TOKENS["search"]),
        fx_authorizer=AccessTokenAuthorizer(TOKENS["compute"]),
        openid_authorizer=AccessTokenAuthorizer(TOKENS["openid"]),
        sl_authorizer=AccessTokenAuthorizer(TOKENS["lambda"]),
    )


@pytest.mark.float32_paths
def test_publish_and_run_through_dlhub_client(fake_globus, hub_servable_dir, hub_model_dir, capfd, monkeypatch):
    from irnet_hub.publish.dlhub import publish_dlhub, run_remote
    from irnet_hub.predictor import load_dir

    client = _client()
    container_id = publish_dlhub(hub_servable_dir, client)
    assert container_id in fake_globus.containers

    # The ZIP uploaded to the signed URL: every file of the end-to-end servable, byte for byte, plus
    # the metadata the client completed (owner from the userinfo, S3 location, no secrets).
    local = json.loads((hub_servable_dir / "dlhub.json").read_text())
    (key, blob), = fake_globus.uploads.items()
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        names = set(z.namelist())
        assert names == set(local["dlhub"]["files"]["other"]) | {"dlhub.json"}
        for rel in local["dlhub"]["files"]["other"]:
            assert z.read(rel) == (hub_servable_dir / rel).read_bytes(), rel
        sent = json.loads(z.read("dlhub.json"))
    assert sent["dlhub"]["owner"] == "tester_example"
    assert sent["dlhub"]["shorthand_name"] == "tester_example/irnet-mp-bulk-modulus-small"
    assert sent["dlhub"]["transfer_method"] == {"S3": "s3://"}  # the ZIP's copy is written before the upload
    assert sent["servable"] == local["servable"] and sent["datacite"] == local["datacite"]

    # The container spec pins the requirements; the registered function belongs to that container.
    spec = fake_globus.containers[container_id]
    assert any(p.startswith("irnet-hub==") for p in spec["pip"])
    assert spec["payload_url"].endswith(key)
    (fid, fn), = fake_globus.functions.items()
    assert fn["container_uuid"] == container_id and fn["public"] is True
    (ingested,) = fake_globus.index
    assert ingested["dlhub"]["funcx_id"] == fid
    assert ingested["dlhub"]["transfer_method"]["S3"].endswith(key)
    assert ingested["datacite"]["relatedIdentifiers"][0]["relatedIdentifier"] == "10.1145/3292500.3330703"

    # run_remote: search finds the servable, compute runs it, and the table matches local prediction.
    df = run_remote("tester_example/irnet-mp-bulk-modulus-small", FORMULAS, client, async_wait=0.05, timeout=60)
    (task,) = fake_globus.submitted
    assert task["event"] == {"inputs": FORMULAS, "parameters": None, "debug": False}
    assert task["endpoint_id"] == client.fx_endpoint and task["function_id"] == fid
    want = load_dir(hub_model_dir).predict(FORMULAS)
    assert list(df.columns) == list(want.columns)  # the same table as local prediction
    assert df.index.equals(want.index) and list(df["note"]) == list(want["note"])
    assert list(df["formula"]) == FORMULAS and set(df["unit"]) == {"GPa"}
    assert set(df["model"]) == {"tester_example/irnet-mp-bulk-modulus-small"}
    assert_f32_close(df["prediction"], want["prediction"])
    assert list(df["in_domain"]) == list(want["in_domain"])

    # Each service saw only its own token; no token reached any output, upload or the index.
    expected = {"/v2/oauth2/userinfo": "openid", "/lambda/": "lambda"}
    for r in fake_globus.log:
        path = r["path"]
        service = expected.get(path) or ("search" if path.startswith("/v1/index/") else
                                         "compute" if path.startswith(("/v2/", "/v3/")) else None)
        if service:
            assert r["authorization"] == f"Bearer {TOKENS[service]}", path
        else:
            assert r["authorization"] is None, path  # S3, the signed-URL API and schemas get no token
    assert not fake_globus.unknown
    # publish_servable validated the description against the schemas it fetched (here: from the fake).
    assert {"/schemas//servable.json", "/schemas/datacite-v4.1.json"} <= {r["path"] for r in fake_globus.log}
    out, err = capfd.readouterr()
    texts = [out, err, blob.decode("latin-1"), json.dumps(fake_globus.index), json.dumps(fake_globus.containers)]
    texts += [p.read_text(errors="replace") for p in hub_servable_dir.rglob("*.json")]
    for token in TOKENS.values():
        assert all(token not in t for t in texts), token

    # The CLI publishes the same way (the client is the one dlhub-sdk would log in with).
    from click.testing import CliRunner

    from irnet_hub.cli import main
    from irnet_hub.publish import dlhub as dl

    monkeypatch.setattr(dl, "_default_client", lambda: client)
    runner = CliRunner()
    r = runner.invoke(main, ["publish", str(hub_servable_dir), "--dlhub"])
    assert r.exit_code == 0, r.output
    assert "submitted to DLHub:" in r.output and len(fake_globus.containers) == 2
    assert all(token not in r.output for token in TOKENS.values())

    # irnet predict NAME ... --remote dlhub prints the same table as a local prediction.
    run = client.run
    monkeypatch.setattr(client, "run", lambda *a, **k: run(*a, **{**k, "async_wait": 0.05}))  # poll fast in tests
    name = "tester_example/irnet-mp-bulk-modulus-small"
    r = runner.invoke(main, ["predict", name, *FORMULAS, "--remote", "dlhub", "--json"])
    assert r.exit_code == 0, r.output
    records = json.loads(r.stdout)
    assert [x["row"] for x in records] == list(range(len(FORMULAS)))
    assert [x["formula"] for x in records] == FORMULAS and {x["model"] for x in records} == {name}
    assert_f32_close([x["prediction"] for x in records], want["prediction"])
    r = runner.invoke(main, ["predict", name, "NaCl", "SiC", "--remote", "dlhub"])
    assert r.exit_code == 0 and "NaCl" in r.stdout and "GPa" in r.stdout and name in r.stdout
    n_tasks = len(fake_globus.submitted)
    r = runner.invoke(main, ["predict", name, "NaCl", "Xx2", "--remote", "dlhub"])
    assert r.exit_code == 2 and "Xx2" in r.output and "Traceback" not in r.output
    assert len(fake_globus.submitted) == n_tasks  # rejected locally, nothing sent
    r = runner.invoke(main, ["predict", name, "NaCl", "Xx2", "--remote", "dlhub", "--skip-invalid", "--json"])
    assert r.exit_code == 0, r.output
    assert [x["row"] for x in json.loads(r.stdout)] == [0] and "skipped row 1 'Xx2'" in r.output
    r = runner.invoke(main, ["predict", "not-a-dlhub-name", "NaCl", "--remote", "dlhub"])
    assert r.exit_code == 2 and "OWNER/NAME" in r.output
    assert all(token not in r.output for token in TOKENS.values())


def test_run_remote_rejects_bad_input_before_any_request():
    from irnet_hub.errors import BatchInputError, InvalidInputError
    from irnet_hub.publish.dlhub import run_remote

    class NoClient:
        def run(self, *a, **k):
            raise AssertionError("no request expected")

    with pytest.raises(InvalidInputError, match="OWNER/NAME"):
        run_remote("just-a-name", ["NaCl"], NoClient())
    with pytest.raises(InvalidInputError, match="at least one formula"):
        run_remote("a/b", [], NoClient())
    with pytest.raises(BatchInputError, match="Xx"):
        run_remote("a/b", ["NaCl", "Xx3"], NoClient())


def test_vendored_schemas_are_the_upstream_files_unchanged():
    """The schemas are byte-for-byte DLHub-Argonne/dlhub_schemas at the recorded commit."""
    import hashlib

    from irnet_hub.publish import dlhub_meta

    folder = Path(dlhub_meta.__file__).with_name(dlhub_meta.SCHEMA_DIR)
    source = json.loads((folder / "SOURCE.json").read_text())
    assert len(source["commit"]) == 40 and source["repository"].endswith("DLHub-Argonne/dlhub_schemas")
    for name in source["files"]:
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == source["sha256"][name], name
    argument_type = json.loads((folder / "servable" / "argument_type.json").read_text())
    assert "draft-07" in argument_type["$schema"]
