"""Publishing to the Hugging Face Hub, against a local imitation of the Hub's HTTP API.

``FakeHub`` (a ``ThreadingHTTPServer`` on 127.0.0.1, started and stopped by
each test) implements the endpoints huggingface_hub 2.4.0 calls for
``create_repo`` + ``upload_folder`` (hf_api.py, _commit_api.py, lfs.py,
_upload_pipeline.py):

* ``POST /api/repos/create``: create the repo (409 with its url if it exists);
* ``POST /api/validate-yaml``: the README front matter (checked with ``ModelCard``);
* ``POST /api/models/{repo}/preupload/{rev}``: per file, "regular" or "lfs";
* ``POST /{repo}.git/info/lfs/objects/batch`` (git-LFS batch API), then ``PUT``
  to the returned upload URL and ``POST`` to the verify URL;
* ``POST /api/models/{repo}/commit/{rev}``: the NDJSON commit (header line,
  then ``file`` lines with base64 content or ``lfsFile`` lines with sha256 oids);
* ``POST /api/models/{repo}/branch/{branch}``.

What the real Hub does differently, and how the two tests cover it:

* The real Hub answers "lfs" in preupload for files matching the repo's
  ``.gitattributes`` (the default one for new model repos lists ``*.h5``,
  ``*.pb`` and ``saved_model/**/*`` among others), for files over 10 MB and
  for binary files over 1 MB; everything else is "regular" (inline base64 in
  the commit).
  ``FakeHub(realistic=True)`` applies those rules, so ``model.weights.h5`` and
  every ``saved_model/`` file go the LFS way.
* With ``hf_xet`` installed (it is, here), huggingface_hub uploads "lfs"-mode
  files through Xet storage: ``upload_folder`` runs a pipeline that asks
  ``/api/models/{repo}/xet-write-token/{rev}`` for a token and streams chunks
  to a Xet CAS server with the Rust ``hf_xet`` client. That protocol is not
  imitated; the LFS test sets ``HF_HUB_DISABLE_XET`` so the classic git-LFS
  batch protocol above is used (what huggingface_hub does without hf_xet).
* The default-path test keeps Xet enabled (the pipelined upload that runs in
  production here) with a server that declares every file "regular", so no
  Xet call happens; it asserts none was attempted.
* No real authentication: the fake only checks that the token arrives as
  ``Authorization: Bearer ...`` (a 401 is simulated for a wrong token).
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

# Real-data layer (`pytest -m "not slow"` leaves it out): builds servables (SavedModel export) and uploads them to a local fake Hub.
pytestmark = pytest.mark.slow

TOKEN = "hf_FAKEtoken_not_a_secret_0123456789"
# The LFS patterns of the Hub's default .gitattributes that can match a servable's files.
LFS_PATTERNS = ("*.h5", "*.pb", "saved_model/**/*", "saved_model/*", "*.bin", "*.npz", "*.zip")
LFS_SIZE = 10 * 1024 * 1024
LFS_BINARY_SIZE = 1024 * 1024


class FakeHub:
    """An in-memory imitation of the Hub endpoints used by create_repo and upload_folder."""

    def __init__(self, *, realistic: bool = True, token: str = TOKEN):
        self.realistic = realistic
        self.token = token
        self.repos: dict[str, dict] = {}  # repo_id -> {"visibility", "branches": {name: {path: bytes}}}
        self.lfs: dict[str, bytes] = {}  # sha256 -> content
        self.log: list[dict] = []  # every request: method, path, authorization
        self.modes: dict[str, str] = {}  # path -> upload mode answered by preupload
        self.commits: list[dict] = []
        self.yaml_checked: list[str] = []
        self.unknown: list[str] = []
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle --
    def __enter__(self) -> "FakeHub":
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep the test output clean
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = b""
                    while True:
                        size = int(self.rfile.readline().strip().split(b";")[0], 16)
                        if size == 0:
                            self.rfile.readline()
                            return out
                        out += self.rfile.read(size)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _reply(self, status: int, payload=None) -> None:
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                body = self._body() if method in ("POST", "PUT") else b""
                path = unquote(urlsplit(self.path).path)
                hub.log.append({"method": method, "path": path, "authorization": self.headers.get("Authorization")})
                try:
                    status, payload = hub.route(method, path, body, self.headers)
                except Exception as e:  # a bug in the fake shows up as a 500 the test will see
                    status, payload = 500, {"error": repr(e)}
                self._reply(status, payload)

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

            def do_PUT(self):
                self._handle("PUT")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- routing --
    def _authorized(self, headers) -> bool:
        return headers.get("Authorization") == f"Bearer {self.token}"

    def route(self, method: str, path: str, body: bytes, headers):
        parts = path.strip("/").split("/")
        if path.startswith("/api/") and not self._authorized(headers):
            return 401, {"error": "Invalid credentials in Authorization header"}
        if method == "POST" and path == "/api/repos/create":
            req = json.loads(body)
            repo_id = f"{req['organization']}/{req['name']}" if req.get("organization") else req["name"]
            url = f"{self.url}/{repo_id}"
            if repo_id in self.repos:
                return 409, {"error": "You already created this model repo", "url": url}
            self.repos[repo_id] = {"visibility": req.get("visibility"), "type": req.get("type"),
                                   "branches": {"main": {}}}
            return 200, {"url": url}
        if method == "POST" and path == "/api/validate-yaml":
            from huggingface_hub import ModelCard

            content = json.loads(body)["content"]
            try:
                ModelCard(content)
            except Exception as e:
                return 400, {"errors": [{"message": str(e)}]}
            self.yaml_checked.append(content)
            return 200, {"errors": [], "warnings": []}
        if parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] in ("preupload", "commit", "branch"):
            repo_id, action, rev = f"{parts[2]}/{parts[3]}", parts[4], "/".join(parts[5:])
            if repo_id not in self.repos:
                return 404, {"error": "Repository not found"}
            if action == "preupload":
                files = json.loads(body)["files"]
                out = []
                for f in files:
                    mode = self._mode(f["path"], base64.b64decode(f["sample"]), f["size"])
                    self.modes[f["path"]] = mode
                    out.append({"path": f["path"], "uploadMode": mode, "shouldIgnore": False, "oid": None})
                return 200, {"files": out, "commitOid": "0" * 40}
            if action == "branch":
                self.repos[repo_id]["branches"].setdefault(rev, dict(self.repos[repo_id]["branches"]["main"]))
                return 200, {}
            return self._commit(repo_id, rev, body, headers)
        if method == "POST" and path.endswith(".git/info/lfs/objects/batch"):
            if not self._authorized(headers):
                return 401, {"message": "unauthorized"}
            req = json.loads(body)
            assert req["operation"] == "upload" and req["hash_algo"] == "sha256"
            objects = []
            for obj in req["objects"]:
                entry = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
                if obj["oid"] not in self.lfs:  # already stored: no actions, the client skips the upload
                    entry["actions"] = {
                        "upload": {"href": f"{self.url}/lfs-storage/{obj['oid']}", "header": {}},
                        "verify": {"href": f"{self.url}/lfs-verify", "header": {}},
                    }
                objects.append(entry)
            return 200, {"transfer": "basic", "objects": objects}
        if method == "PUT" and parts[0] == "lfs-storage":
            oid = parts[1]
            if hashlib.sha256(body).hexdigest() != oid:
                return 400, {"error": "sha256 mismatch"}
            self.lfs[oid] = body
            return 200, None
        if method == "POST" and path == "/lfs-verify":
            req = json.loads(body)
            ok = req["oid"] in self.lfs and len(self.lfs[req["oid"]]) == req["size"]
            return (200, {}) if ok else (404, {"error": "object not found"})
        self.unknown.append(f"{method} {path}")
        return 404, {"error": f"not imitated: {method} {path}"}

    def _mode(self, path: str, sample: bytes, size: int) -> str:
        if not self.realistic:
            return "regular"
        binary = b"\x00" in sample
        if size > LFS_SIZE or (binary and size > LFS_BINARY_SIZE) or any(fnmatch.fnmatch(path, p) for p in LFS_PATTERNS):
            return "lfs"
        return "regular"

    def _commit(self, repo_id: str, rev: str, body: bytes, headers):
        assert headers.get("Content-Type") == "application/x-ndjson"
        lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        header, ops = lines[0], lines[1:]
        assert header["key"] == "header"
        tree = self.repos[repo_id]["branches"].setdefault(rev, {})
        for op in ops:
            v = op["value"]
            if op["key"] == "file":
                assert v["encoding"] == "base64"
                tree[v["path"]] = base64.b64decode(v["content"])
            elif op["key"] == "lfsFile":
                content = self.lfs.get(v["oid"])
                if content is None or len(content) != v["size"]:
                    return 422, {"error": f"LFS object of {v['path']} was never uploaded"}
                tree[v["path"]] = content
            else:
                return 400, {"error": f"unexpected operation {op['key']}"}
        oid = hashlib.sha1(body).hexdigest()
        self.commits.append({"repo": repo_id, "rev": rev, "header": header["value"], "ops": ops, "oid": oid})
        return 200, {"commitUrl": f"{self.url}/{repo_id}/commit/{oid}", "commitOid": oid, "pullRequestUrl": None}


def _servable_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _assert_received_servable(hub: FakeHub, repo_id: str, servable: Path, rev: str = "main") -> dict[str, bytes]:
    """The repo holds exactly the servable's files (the built servable is deterministic except dates)."""
    from irnet_hub import artifact

    from irnet_hub.publish.card import render_card

    got = hub.repos[repo_id]["branches"][rev]
    want = _servable_files(servable)
    assert set(got) == set(want)
    # Files that do not depend on when they were built are byte-identical to a local build.
    for name in ("config.json", "metadata.json", "model.weights.h5", "irnet.json", "training_log.csv"):
        assert got[name] == want[name], name
    # The card is rendered for the repository it is published to.
    assert got["README.md"].decode() == render_card(artifact.read_info(servable), repo_id=repo_id)
    # And the upload is internally complete: every file matches the uploaded manifest.
    manifest = json.loads(got["manifest.json"])["files"]
    assert set(manifest) == set(got) - {"manifest.json"}
    for rel, entry in manifest.items():
        assert hashlib.sha256(got[rel]).hexdigest() == entry["sha256"], rel
    assert artifact.verify_manifest(servable) == []
    return got


def _assert_token_handled(hub: FakeHub, capfd, *extra_text: str) -> None:
    api_calls = [r for r in hub.log if r["path"].startswith("/api/") or r["path"].endswith("/objects/batch")]
    assert api_calls and all(r["authorization"] == f"Bearer {TOKEN}" for r in api_calls)
    # Storage URLs never get the token (real LFS/S3 upload URLs are pre-signed).
    assert all(r["authorization"] is None for r in hub.log if r["path"].startswith("/lfs-storage/"))
    out, err = capfd.readouterr()
    for text in (out, err, *extra_text):
        assert TOKEN not in text
    for branch in (b for repo in hub.repos.values() for b in repo["branches"].values()):
        assert all(TOKEN.encode() not in content for content in branch.values())


# --------------------------------------------------------------------------- tests


def test_publish_default_path_all_regular(hub_model_dir, hub_servable_dir, capfd):
    """The production code path here (hf_xet installed: pipelined upload) with every file inline."""
    from irnet_hub.publish.hf import publish_hf

    with FakeHub(realistic=False) as hub:
        url = publish_hf(hub_model_dir, "my-lab/irnet-bulk", private=True, token=TOKEN, endpoint=hub.url)
        assert url.startswith(f"{hub.url}/my-lab/irnet-bulk/commit/")
        assert hub.repos["my-lab/irnet-bulk"]["visibility"] == "private"
        assert hub.repos["my-lab/irnet-bulk"]["type"] == "model"
        _assert_received_servable(hub, "my-lab/irnet-bulk", hub_servable_dir)
        assert set(hub.modes.values()) == {"regular"}
        assert len(hub.commits) == 1 and all(op["key"] == "file" for op in hub.commits[0]["ops"])
        assert not [r for r in hub.log if "xet" in r["path"]] and not hub.unknown
        assert hub.yaml_checked and "library_name: keras" in hub.yaml_checked[0]
        # The card names the repo it was published to.
        assert "hf://my-lab/irnet-bulk" in hub.repos["my-lab/irnet-bulk"]["branches"]["main"]["README.md"].decode()

        # Publishing again to the existing repo (409 on create, exist_ok) makes a second commit.
        url2 = publish_hf(hub_model_dir, "my-lab/irnet-bulk", token=TOKEN, endpoint=hub.url)
        assert url2 != url and len(hub.commits) == 2
        _assert_token_handled(hub, capfd, url, url2)


def test_publish_lfs_path_like_the_real_hub(hub_model_dir, hub_servable_dir, capfd, monkeypatch):
    """Binary/model files go through the git-LFS batch API, the rest inline, as the Hub decides."""
    from huggingface_hub import constants

    from irnet_hub.publish.hf import publish_hf

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)  # classic LFS instead of Xet storage
    with FakeHub(realistic=True) as hub:
        url = publish_hf(hub_model_dir, "my-lab/irnet-bulk", token=TOKEN, endpoint=hub.url, revision="v1")
        assert "/my-lab/irnet-bulk/commit/" in url
        got = _assert_received_servable(hub, "my-lab/irnet-bulk", hub_servable_dir, rev="v1")
        lfs = {p for p, m in hub.modes.items() if m == "lfs"}
        assert "model.weights.h5" in lfs and "saved_model/saved_model.pb" in lfs
        assert {p for p in got if p.startswith("saved_model/")} <= lfs
        assert {"README.md", "config.json", "irnet.json", "dlhub.json", "manifest.json"}.isdisjoint(lfs)
        # Every LFS file was PUT to storage and verified; the commit refers to it by sha256.
        puts = {r["path"].split("/")[-1] for r in hub.log if r["method"] == "PUT"}
        assert puts == {hashlib.sha256(got[p]).hexdigest() for p in lfs}
        (commit,) = hub.commits
        assert commit["rev"] == "v1"
        assert {op["value"]["path"] for op in commit["ops"] if op["key"] == "lfsFile"} == lfs
        assert any(r["path"] == "/api/models/my-lab/irnet-bulk/branch/v1" for r in hub.log)
        assert not hub.unknown
        _assert_token_handled(hub, capfd, url)


def test_publish_rejected_token_and_bad_repo(hub_model_dir, capfd, monkeypatch):
    from click.testing import CliRunner
    from huggingface_hub import constants

    from irnet_hub.cli import main
    from irnet_hub.errors import InvalidInputError
    from irnet_hub.publish.hf import PublishError, publish_hf

    with pytest.raises(InvalidInputError, match="ORG/NAME"):
        publish_hf(hub_model_dir, "no-slash", token=TOKEN)
    with pytest.raises(InvalidInputError, match="valid Hugging Face repository id"):
        publish_hf(hub_model_dir, "org/bad name!", token=TOKEN)

    with FakeHub(token="hf_the_right_one") as hub:
        with pytest.raises(PublishError, match="token was rejected") as e:
            publish_hf(hub_model_dir, "my-lab/x", token=TOKEN, endpoint=hub.url)
        assert TOKEN not in str(e.value)

        # The same through the CLI: exit 4 (remote failure), a one-line message, no traceback, no token.
        monkeypatch.setattr(constants, "ENDPOINT", hub.url)
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        r = CliRunner().invoke(main, ["publish", str(hub_model_dir), "--hf-repo", "my-lab/x"])
        assert r.exit_code == 4, r.output
        assert "token was rejected" in r.output and "Traceback" not in r.output and TOKEN not in r.output
        assert not hub.repos
    out, err = capfd.readouterr()
    assert TOKEN not in out + err


def test_cli_publish_hf(hub_model_dir, hub_servable_dir, monkeypatch, capfd):
    from click.testing import CliRunner
    from huggingface_hub import constants

    from irnet_hub.cli import main

    runner = CliRunner()
    r = runner.invoke(main, ["publish", str(hub_model_dir)])
    assert r.exit_code == 2 and "--hf-repo ORG/NAME or --dlhub" in r.output
    r = runner.invoke(main, ["publish", str(hub_model_dir), "--hf-repo", "a/b", "--dlhub"])
    assert r.exit_code == 2 and "choose one destination" in r.output

    with FakeHub(realistic=False) as hub:
        monkeypatch.setattr(constants, "ENDPOINT", hub.url)  # what HF_ENDPOINT sets at import time
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        r = runner.invoke(main, ["publish", str(hub_model_dir), "--hf-repo", "my-lab/cli-model", "--private"])
        assert r.exit_code == 0, r.output
        assert f"published to {hub.url}/my-lab/cli-model/commit/" in r.output
        oid = hub.commits[-1]["oid"]  # the commit is reported, ready to pin (issue 19)
        assert f"commit {oid}: load exactly this version" in r.output and f"--revision {oid}" in r.output
        assert hub.repos["my-lab/cli-model"]["visibility"] == "private"
        _assert_received_servable(hub, "my-lab/cli-model", hub_servable_dir)
        _assert_token_handled(hub, capfd, r.output)
