"""Registry, cache and pull, against a local imitation of the Hugging Face Hub on 127.0.0.1.

The server answers the requests ``huggingface_hub.snapshot_download`` makes
(read from huggingface_hub 2.4's source):

* ``GET /api/models/{repo}/revision/{rev}``: ``{"id", "sha", "siblings"}``
  (only for branch/tag revisions; a commit sha skips it);
* ``GET /api/models/{repo}/tree/{commit}?recursive=True``: the file list;
* ``HEAD``/``GET /{repo}/resolve/{commit}/{file}``: ``ETag`` (git blob sha1,
  or the sha256 for LFS files), ``X-Repo-Commit``, ``Content-Length``, and
  ``Range`` requests (206) for resumed downloads.

It can serve corrupted bytes, cut a transfer mid-body, and count requests.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_predictor import build_test_model  # noqa: E402

from irnet_hub.errors import InvalidInputError  # noqa: E402
from tolerance import assert_f32_close

# Real-data layer (`pytest -m "not slow"` leaves it out): trains a small model and serves it from a local fake Hub.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
REPO_ID = "irnet-test/bm-test"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
NAME = "bm-test"


class FakeHub:
    """A minimal Hugging Face Hub: one model repo, one commit, branch ``main``."""

    def __init__(self, files: dict[str, bytes]):
        self.files = dict(files)
        self.corrupt: dict[str, int] = {}  # path -> how many GETs to corrupt (-1: all)
        self.cut: dict[str, str] = {}  # path -> "fail" (then 503) or "resume" (then honour Range)
        self.delay = 0.0  # seconds before each file body (widens race windows)
        self.gets: Counter[str] = Counter()
        self.requests: list[tuple[str, str, str | None]] = []
        self._lock = threading.Lock()
        self._cut_done: set[str] = set()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_HEAD(self):
                hub._handle(self, head=True)

            def do_GET(self):
                hub._handle(self, head=False)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeHub":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    @staticmethod
    def etag(path: str, data: bytes) -> str:
        if path.endswith(".h5"):  # LFS file: the Hub's ETag is its sha256
            return hashlib.sha256(data).hexdigest()
        return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()

    def _json(self, h: BaseHTTPRequestHandler, obj, status: int = 200, headers: dict | None = None) -> None:
        body = json.dumps(obj).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(body)

    def _error(self, h: BaseHTTPRequestHandler, status: int, code: str | None = None) -> None:
        self._json(h, {"error": code or "error"}, status, {"X-Error-Code": code} if code else None)

    def _handle(self, h: BaseHTTPRequestHandler, head: bool) -> None:
        path = unquote(urlsplit(h.path).path)
        with self._lock:
            self.requests.append(("HEAD" if head else "GET", path, h.headers.get("Range")))
        m = re.match(r"^/api/models/([^/]+/[^/]+)/(revision|tree)/([^/]+)", path)
        if m:
            repo, what, rev = m.groups()
            if repo != REPO_ID:
                return self._error(h, 404, "RepoNotFound")
            if rev not in (COMMIT, "main"):
                return self._error(h, 404, "RevisionNotFound")
            if what == "revision":
                return self._json(h, {"id": REPO_ID, "sha": COMMIT, "siblings": [{"rfilename": p} for p in self.files]})
            tree = []
            for p, data in sorted(self.files.items()):
                entry = {"type": "file", "path": p, "size": len(data), "oid": self.etag(p, b"x" + data)[:40]}
                if p.endswith(".h5"):
                    entry["lfs"] = {"oid": self.etag(p, data), "size": len(data), "pointerSize": 134}
                tree.append(entry)
            return self._json(h, tree)
        m = re.match(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", path)
        if not m:
            return self._error(h, 404)
        repo, rev, fname = m.groups()
        if repo != REPO_ID:
            return self._error(h, 404, "RepoNotFound")
        if rev not in (COMMIT, "main"):
            return self._error(h, 404, "RevisionNotFound")
        if fname not in self.files:
            return self._error(h, 404, "EntryNotFound")
        self._serve_file(h, fname, head)

    def _serve_file(self, h: BaseHTTPRequestHandler, fname: str, head: bool) -> None:
        data = self.files[fname]
        headers = {"ETag": f'"{self.etag(fname, data)}"', "X-Repo-Commit": COMMIT, "Accept-Ranges": "bytes"}
        if head:
            h.send_response(200)
            for k, v in headers.items():
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            return
        with self._lock:
            self.gets[fname] += 1
            corrupt = self.corrupt.get(fname, 0)
            if corrupt:
                self.corrupt[fname] = corrupt - 1 if corrupt > 0 else -1
            cut = self.cut.get(fname)
            already_cut = fname in self._cut_done
            if cut and not already_cut:
                self._cut_done.add(fname)
        if corrupt:
            body = bytearray(data)
            body[len(body) // 2] ^= 0xFF  # same size, one byte off
            data = bytes(body)
        if self.delay:
            time.sleep(self.delay)
        if cut and already_cut and cut == "fail":
            return self._error(h, 503)
        start = 0
        rng = h.headers.get("Range")
        if rng and (m := re.match(r"bytes=(\d+)-$", rng)):
            start = int(m.group(1))
        status = 206 if start else 200
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(data) - start))
        if start:
            h.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        h.end_headers()
        if cut and not already_cut:
            # The connection dies mid-body: half the promised bytes, then a reset.
            h.wfile.write(data[start : start + (len(data) - start) // 2])
            h.wfile.flush()
            h.close_connection = True
            try:
                h.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        h.wfile.write(data[start:])


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, data_dir) -> Path:
    return build_test_model(tmp_path_factory.getbasetemp(), data_dir)


@pytest.fixture(scope="module")
def served_files(model_dir) -> dict[str, bytes]:
    files = {p.relative_to(model_dir).as_posix(): p.read_bytes() for p in model_dir.rglob("*") if p.is_file()}
    files[".gitattributes"] = b"*.h5 filter=lfs diff=lfs merge=lfs -text\n"  # in the repo, not in the model
    return files


@pytest.fixture
def hub_env(tmp_path, monkeypatch, model_dir):
    """Registry with the test model pinned at COMMIT, an empty HF cache and servables folder."""
    from irnet_hub.hub.registry import add_entry, entry_from_model_dir

    registry = tmp_path / "registry.json"
    add_entry(entry_from_model_dir(model_dir, repo_id=REPO_ID, revision=COMMIT, name=NAME), registry)
    monkeypatch.setenv("IRNET_HUB_REGISTRY", str(registry))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("IRNET_HUB_SERVABLES", str(tmp_path / "servables"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    (tmp_path / "servables").mkdir()
    return tmp_path


@pytest.fixture
def hub(hub_env, served_files, monkeypatch):
    with FakeHub(served_files) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server


def _model_files(model_dir: Path) -> dict[str, bytes]:
    return {p.relative_to(model_dir).as_posix(): p.read_bytes() for p in model_dir.rglob("*") if p.is_file()}


def _no_partial_files(cache: Path) -> None:
    leftovers = [p for p in cache.rglob("*") if p.name.endswith(".incomplete")]
    assert not leftovers, leftovers


# ----------------------------------------------------------------------------- tests


def test_registry_lists_without_network(hub_env, model_dir):
    import irnet_hub
    from irnet_hub.hub.registry import get_entry

    assert NAME in irnet_hub.list_models() and irnet_hub.list_models("bm-*") == [NAME]  # names, as timm's
    entry = irnet_hub.model_info(NAME)
    assert entry.repo_id == REPO_ID and entry.revision == COMMIT
    assert entry.property == "bulk modulus" and entry.unit == "GPa" and entry.training_data == "mp-bulk-modulus"
    assert set(entry.sha256) == set(_model_files(model_dir)) | {"manifest.json"} - {"checkpoint"}
    with pytest.raises(InvalidInputError, match="did you mean bm-test"):
        get_entry("bm-tset")


def test_pull_downloads_verifies_and_reuses_the_cache(hub, model_dir, monkeypatch):
    import irnet_hub

    path = irnet_hub.pull(NAME)
    assert path == hub_cache(hub) / "models--irnet-test--bm-test" / "snapshots" / COMMIT
    assert _model_files(path) == _model_files(model_dir)  # every file, byte for byte
    assert not (path / ".gitattributes").exists()  # only the registry's files are fetched
    n = len(hub.requests)
    assert irnet_hub.pull(NAME) == path and len(hub.requests) == n  # cached: no network at all
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    df = irnet_hub.load(NAME).predict(["NaCl"])
    assert df["model"].iloc[0] == NAME and len(hub.requests) == n
    _no_partial_files(hub_cache(hub))


def test_a_registered_model_is_hashed_once_per_load(hub, model_dir, monkeypatch):
    """Issue 17, move 4: pull compares every file with the registry's pins, and load does not hash them again
    (it still reads the manifest and checks the weights are finite)."""
    import irnet_hub
    from irnet_hub import integrity

    irnet_hub.pull(NAME)  # downloaded once
    hashed: list[str] = []
    real = integrity.sha256_file
    monkeypatch.setattr(integrity, "sha256_file", lambda p: hashed.append(Path(p).name) or real(p))
    model = irnet_hub.load(NAME)
    entry = irnet_hub.model_info(NAME)
    assert sorted(hashed) == sorted(Path(f).name for f in entry.sha256)  # each pinned file, once
    assert model.predict(["NaCl"])["model"].iloc[0] == NAME
    # A local folder (nothing pinned) is still hashed in full by its manifest.
    hashed.clear()
    irnet_hub.load(model_dir)
    assert "model.weights.h5" in hashed


def hub_cache(hub) -> Path:
    return Path(os.environ["HF_HUB_CACHE"])


def test_branch_revision_is_resolved_and_checked_against_its_manifest(hub):
    from irnet_hub.hub import pull

    path = pull(NAME, revision="main")
    assert ("GET", f"/api/models/{REPO_ID}/revision/main", None) in hub.requests
    assert path.name == COMMIT and (path / "model.weights.h5").is_file()
    assert (path / ".gitattributes").is_file()  # an unpinned revision fetches the whole repo


def test_corrupted_download_is_refused_and_deleted(hub):
    import irnet_hub
    from irnet_hub.errors import IntegrityError

    hub.corrupt["model.weights.h5"] = -1
    with pytest.raises(IntegrityError, match="model.weights.h5: sha256 mismatch"):
        irnet_hub.pull(NAME)
    assert hub.gets["model.weights.h5"] == 2  # fetched, refused, fetched again (forced), refused
    snap = hub_cache(hub) / "models--irnet-test--bm-test" / "snapshots" / COMMIT
    assert not (snap / "model.weights.h5").exists()
    blobs = hub_cache(hub) / "models--irnet-test--bm-test" / "blobs"
    assert FakeHub.etag("model.weights.h5", hub.files["model.weights.h5"]) not in {p.name for p in blobs.iterdir()}
    with pytest.raises(IntegrityError):  # and never used later either
        irnet_hub.load(NAME)


def test_damaged_hub_download_falls_back_and_says_so(hub, hub_env, model_dir):
    """The Hub serves damaged weights: pull says the download was refused and which copy it uses (issue 11)."""
    import shutil

    from click.testing import CliRunner

    from irnet_hub.cli import main

    hub.corrupt["model.weights.h5"] = -1
    local = shutil.copytree(model_dir, hub_env / "servables" / NAME)
    r = CliRunner().invoke(main, ["pull", NAME])
    assert r.exit_code == 0, r.output
    assert r.output.strip().splitlines()[-1] == str(local)
    assert "Warning: model 'bm-test': using the repository copy" in r.output
    assert "download refused" in r.output and "model.weights.h5: sha256 mismatch" in r.output


def test_corrupted_download_is_fetched_again(hub, model_dir):
    from irnet_hub.errors import IrnetWarning
    from irnet_hub.hub import pull

    hub.corrupt["model.weights.h5"] = 1  # only the first transfer is bad
    with pytest.warns(IrnetWarning, match=r"deleted from the Hub cache.*model\.weights\.h5 \(model\.weights\.h5: sha256 "
                                          r"mismatch"):  # never silently (issue 19)
        path = pull(NAME)
    assert hub.gets["model.weights.h5"] == 2
    assert (path / "model.weights.h5").read_bytes() == (model_dir / "model.weights.h5").read_bytes()


def test_a_card_edited_on_the_hub_is_kept_with_a_warning_and_the_model_loads(hub, model_dir, monkeypatch):
    """Issue 19: a card edit on the Hub changes README.md only. The model still loads (weights and config
    are checked as strictly as ever), the edited card is what the cache holds, and the user is told."""
    import irnet_hub
    from irnet_hub.errors import IrnetWarning

    edited = b"# bm-test\n\nEdited on the Hub: a new limitations paragraph.\n"
    hub.files["README.md"] = edited
    with pytest.warns(IrnetWarning, match=r"README\.md: sha256 mismatch against the registry pin .*edited on the Hub"):
        path = irnet_hub.pull(NAME)
    assert (path / "README.md").read_bytes() == edited  # kept, not deleted
    assert (path / "model.weights.h5").read_bytes() == (model_dir / "model.weights.h5").read_bytes()
    assert hub.gets["model.weights.h5"] == 1
    n = len(hub.requests)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.warns(IrnetWarning, match="README.md"):  # from the cache too: said again, still not deleted
        model = irnet_hub.load(NAME)
    assert model.predict(["NaCl"])["model"].iloc[0] == NAME and len(hub.requests) == n
    assert (path / "README.md").read_bytes() == edited


def test_an_edited_config_is_still_refused(hub):
    import irnet_hub
    from irnet_hub.errors import IntegrityError

    hub.files["config.json"] = hub.files["config.json"] + b"\n"  # still valid JSON, another sha256
    with pytest.raises(IntegrityError, match="config.json: sha256 mismatch"):
        irnet_hub.pull(NAME)


def test_corrupted_cache_file_is_replaced(hub, model_dir):
    from irnet_hub.hub import pull

    path = pull(NAME)
    blob = (path / "model.weights.h5").resolve()
    data = bytearray(blob.read_bytes())
    data[100] ^= 0xFF
    blob.write_bytes(bytes(data))
    assert pull(NAME) == path
    assert hub.gets["model.weights.h5"] == 2
    assert (path / "model.weights.h5").read_bytes() == (model_dir / "model.weights.h5").read_bytes()


def test_interrupted_transfer_leaves_no_model(hub, model_dir):
    import irnet_hub
    from irnet_hub.hub import ModelNotAvailableError

    hub.cut["model.weights.h5"] = "fail"  # the connection drops mid-body, then the server errors
    with pytest.raises(ModelNotAvailableError, match="not available"):
        irnet_hub.pull(NAME)
    snap = hub_cache(hub) / "models--irnet-test--bm-test" / "snapshots" / COMMIT
    assert not (snap / "model.weights.h5").exists()
    _no_partial_files(hub_cache(hub))
    with pytest.raises(ModelNotAvailableError):
        irnet_hub.load(NAME)
    hub.cut.clear()  # the server recovers: the next pull completes the snapshot
    path = irnet_hub.pull(NAME)
    assert _model_files(path) == _model_files(model_dir)


def test_interrupted_transfer_is_retried_and_verified(hub, model_dir):
    from irnet_hub.hub import pull

    hub.cut["model.weights.h5"] = "resume"  # drops mid-body once, then serves (Range too)
    path = pull(NAME)
    assert hub.gets["model.weights.h5"] == 2
    assert (path / "model.weights.h5").read_bytes() == (model_dir / "model.weights.h5").read_bytes()
    _no_partial_files(hub_cache(hub))


def test_concurrent_pulls_in_threads_download_once(hub, model_dir):
    from irnet_hub.hub import pull

    hub.delay = 0.2
    results: list = []

    def run():
        try:
            results.append(pull(NAME))
        except Exception as e:  # pragma: no cover - reported below
            results.append(e)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == 3 and len(set(results)) == 1 and isinstance(results[0], Path), results
    assert _model_files(results[0]) == _model_files(model_dir)
    assert set(hub.gets.values()) == {1}  # each file transferred exactly once


def test_concurrent_pulls_in_processes_give_one_complete_model(hub, model_dir):
    hub.delay = 0.2
    code = "import irnet_hub; print(irnet_hub.pull('bm-test'))"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    paths = {o[0].strip() for o in outs}
    assert len(paths) == 1
    assert _model_files(Path(paths.pop())) == _model_files(model_dir)
    assert set(hub.gets.values()) == {1}


def test_offline_falls_back_to_the_repository_copy(hub_env, model_dir, monkeypatch):
    import shutil

    from irnet_hub.errors import IntegrityError
    from irnet_hub.hub import ModelNotAvailableError, pull

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there; must not be asked
    with pytest.raises(ModelNotAvailableError) as err:
        pull(NAME)
    assert "HF_HUB_OFFLINE" in str(err.value) and "repository copy" in str(err.value)

    local = shutil.copytree(model_dir, hub_env / "servables" / NAME)
    assert pull(NAME) == local
    (local / "README.md").write_text("tampered\n")
    with pytest.raises(IntegrityError, match="README.md: sha256 mismatch"):
        pull(NAME)


def test_hub_down_falls_back_to_the_repository_copy(hub_env, model_dir, monkeypatch):
    import shutil

    import irnet_hub

    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    local = shutil.copytree(model_dir, hub_env / "servables" / NAME)
    assert irnet_hub.pull(NAME) == local
    assert len(irnet_hub.load(NAME).predict(["MgO"])) == 1


def test_local_path_wins_and_revision_needs_a_name(hub_env, model_dir):
    import irnet_hub

    assert irnet_hub.load(model_dir).path == model_dir
    with pytest.raises(InvalidInputError, match="revision"):
        irnet_hub.load(model_dir, revision="main")
    with pytest.raises(InvalidInputError, match="no such model directory"):
        irnet_hub.load("./does/not/exist")


@pytest.mark.float32_paths
def test_stock_keras_loads_hf_uri_from_the_hub(hub, model_dir, tmp_path):
    """`keras.saving.load_model("hf://ORG/NAME")` (no irnet_hub import) gives the network."""
    code = (
        "import sys, json, numpy as np, keras\n"
        f"m = keras.saving.load_model('hf://{REPO_ID}')\n"
        "x = np.zeros((2, m.inputs[0].shape[-1]), 'float32')\n"
        "print(json.dumps([sys.modules.get('irnet_hub') is None, m.count_params(), m.predict(x, verbose=0).ravel().tolist()]))\n"
    )
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_CACHE": str(tmp_path / "kcache"), "TF_CPP_MIN_LOG_LEVEL": "3",
           "HF_HUB_DISABLE_XET": "1"}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    no_irnet, n_params, preds = json.loads(r.stdout.strip().splitlines()[-1])
    import keras
    import numpy as np

    local = keras.saving.load_model(str(model_dir))
    assert no_irnet and n_params == local.count_params()
    x = np.zeros((2, local.inputs[0].shape[-1]), "float32")
    assert_f32_close(preds, local.predict(x, verbose=0).ravel())  # another process, other threads


def test_a_published_repo_id_loads_back(hub, model_dir, monkeypatch):
    """Issue 19: `irnet publish` then `load("my-lab/name")` closes the loop, as timm's "hf-hub:" does."""
    import irnet_hub
    from irnet_hub.errors import ModelNotAvailableError

    want = irnet_hub.load(model_dir).predict(["NaCl", "Fe2O3"])["prediction"].to_numpy()
    got = irnet_hub.load(REPO_ID).predict(["NaCl", "Fe2O3"])  # not a registry name: the Hub repo itself
    assert (got["prediction"].to_numpy() == want).all()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    offline = irnet_hub.load("hf://" + REPO_ID)  # from the Hugging Face cache, checked against its manifest
    assert (offline.predict(["NaCl", "Fe2O3"])["prediction"].to_numpy() == want).all()
    with pytest.raises(ModelNotAvailableError, match="nobody/nothing: not in the Hugging Face cache"):
        irnet_hub.load("nobody/nothing")
    import pandas as pd

    data = pd.DataFrame({"formula": ["NaCl", "Fe2O3"], "target": [20.0, 150.0]})
    assert irnet_hub.evaluate(REPO_ID, data)["mae"] == irnet_hub.evaluate(model_dir, data)["mae"]  # evaluate too


def test_pull_from_a_folder_puts_a_verified_copy_in_the_cache(hub_env, model_dir, tmp_path, monkeypatch):
    """Issue 19: an offline path: `irnet pull NAME --from DIR` checks the folder and caches it."""
    import shutil

    import irnet_hub
    from irnet_hub.errors import IntegrityError
    from irnet_hub.hub.cache import pull_from

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    copy = tmp_path / "usb-stick" / NAME
    shutil.copytree(model_dir, copy)
    bad = tmp_path / "damaged"
    shutil.copytree(model_dir, bad)
    (bad / "model.weights.h5").write_bytes(b"not weights")
    with pytest.raises(IntegrityError, match="model.weights.h5"):
        pull_from(NAME, bad)
    assert not list((hub_env / "hf").rglob("model.weights.h5"))  # nothing was cached
    cached = pull_from(NAME, copy)
    shutil.rmtree(copy)  # the cache holds its own copy
    assert irnet_hub.load(NAME).path == cached  # found offline, verified, no Hub and no servables/
    r = subprocess.run([sys.executable, "-m", "irnet_hub.cli", "pull", NAME, "--from", str(bad)],
                       capture_output=True, text=True, env=dict(os.environ), timeout=120)
    assert r.returncode == 5 and "model.weights.h5" in r.stderr and "Traceback" not in r.stderr
