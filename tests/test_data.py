"""The dataset loader: public sources, the local folder, and downloads checked by sha256."""

from __future__ import annotations

import http.server
import threading

import pytest

from irnet_hub import data
from irnet_hub.errors import IntegrityError, InvalidInputError

REL = "crabnet/benchmark_data/mp_bulk_modulus/test.csv"


def test_every_dataset_names_its_public_source(data_dir):
    for ds in data.DATASETS.values():
        assert (data_dir / ds.folder).is_dir(), ds.folder
        assert data.source_url(ds.folder + "/train.csv").startswith("https://raw.githubusercontent.com/anthony-wang/CrabNet/")
        assert ds.citation and ds.unit is not None
    assert data.source_url("crabnet/matbench_cv/elasticity_log10_G_VRH/train0.csv").endswith(
        "matbench_cv/elasticity_log10(G_VRH)/train0.csv")
    assert "aviary" in data.source_url(data.PHONON_STRUCTURES)


def test_reads_local_folder_and_keeps_sodium_nitride(data_dir, monkeypatch):
    monkeypatch.setenv("IRNET_DATA_DIR", str(data_dir))
    df = data.load_split("mp-e-above-hull", "train")
    assert "NaN" in set(df.formula)  # sodium nitride, not a missing value
    assert df.target.dtype == float and len(df) == 39663


@pytest.fixture()
def file_server(data_dir):
    """Serves REL from a folder on 127.0.0.1; `corrupt` flips the bytes served."""
    state = {"corrupt": False, "hits": 0}
    body = (data_dir / REL).read_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server API
            state["hits"] += 1
            if not self.path.endswith("mp_bulk_modulus/test.csv"):
                self.send_error(404)
                return
            payload = body[::-1] if state["corrupt"] else body
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/data/", state
    server.shutdown()
    server.server_close()


def test_download_when_missing_verified_by_sha256(file_server, tmp_path, monkeypatch, data_dir):
    url, state = file_server
    monkeypatch.setenv("IRNET_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(data, "CRABNET_RAW", url)
    path = data.fetch(REL)
    assert path == tmp_path / REL and path.read_bytes() == (data_dir / REL).read_bytes()
    assert data.fetch(REL) == path and state["hits"] == 1  # second call reads the local copy

    path.unlink()
    state["corrupt"] = True
    with pytest.raises(IntegrityError, match="sha256"):
        data.fetch(REL)
    assert not path.exists() and not list(path.parent.glob("*.part"))  # nothing half-written is left

    with pytest.raises(InvalidInputError, match="IRNET_DATA_DIR"):
        data.fetch(REL, download=False)


def test_bad_tables_are_named(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("formula,target\nNaCl,abc\n")
    with pytest.raises(InvalidInputError, match="non-numeric"):
        data.read_table(bad)
    with pytest.raises(InvalidInputError, match="unknown data set"):
        data.load_split("no-such-set", "train")
    with pytest.raises(InvalidInputError, match="file not found"):
        data.read_table(tmp_path / "missing.csv")
