"""irnet cache list|clear and irnet register (issue 19): the irnet models in the Hub cache (and nothing
else there), and a user's own models in a registry file of their own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from irnet_hub.cli import main

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def hf_home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "hf" / "hub"


def _other_librarys_model(cache: Path) -> Path:
    snap = cache / "models--someone--bert-tiny" / "snapshots" / "0123abc"
    snap.mkdir(parents=True)
    (snap / "config.json").write_text("{}")
    return snap.parents[1]


def test_cache_list_and_clear_touch_irnet_models_only(hf_home):
    runner = CliRunner()
    r = runner.invoke(main, ["cache", "list"])
    assert r.exit_code == 0 and "no irnet models in the cache" in r.output
    for name in ("mp-bulk-modulus", "mp-shear-modulus"):
        assert runner.invoke(main, ["pull", name, "--from", str(REPO / "servables" / name)]).exit_code == 0
    other = _other_librarys_model(hf_home)

    r = runner.invoke(main, ["cache", "list", "--json"])
    rows = json.loads(r.output)
    assert [row["name"] for row in rows] == ["mp-bulk-modulus", "mp-shear-modulus"]
    on_disk = sum(p.stat().st_size for p in (hf_home / "models--irnet-hub--mp-bulk-modulus").rglob("*") if p.is_file())
    assert rows[0]["size_mib"] == pytest.approx(on_disk / 2**20, abs=0.01) and rows[0]["repo_id"] == "irnet-hub/mp-bulk-modulus"
    r = runner.invoke(main, ["cache", "list"])
    assert "2 model(s)" in r.output and "bert" not in r.output

    # a name not in the cache: refused, nothing removed
    r = runner.invoke(main, ["cache", "clear", "oqmd-bandgap", "mp-bulk-modulus"])
    assert r.exit_code == 2 and "'oqmd-bandgap': is not in the cache" in r.output and "mp-shear-modulus" in r.output
    assert (hf_home / "models--irnet-hub--mp-bulk-modulus").is_dir()

    r = runner.invoke(main, ["cache", "clear", "irnet-hub/mp-bulk-modulus"])  # by repo id
    assert r.exit_code == 0 and "removed mp-bulk-modulus" in r.output
    assert not (hf_home / "models--irnet-hub--mp-bulk-modulus").exists()

    r = runner.invoke(main, ["cache", "clear"], input="n\n")  # everything: asks first
    assert r.exit_code == 1 and (hf_home / "models--irnet-hub--mp-shear-modulus").is_dir()
    r = runner.invoke(main, ["cache", "clear", "--yes"])
    assert r.exit_code == 0 and "removed mp-shear-modulus" in r.output
    assert not (hf_home / "models--irnet-hub--mp-shear-modulus").exists()
    assert (other / "snapshots" / "0123abc" / "config.json").is_file()  # another library's model stays


def test_a_cleared_model_loads_again_from_the_repository_copy(hf_home, monkeypatch):
    import irnet_hub

    runner = CliRunner()
    name = "mp-bulk-modulus"
    assert runner.invoke(main, ["pull", name, "--from", str(REPO / "servables" / name)]).exit_code == 0
    assert runner.invoke(main, ["cache", "clear", name]).exit_code == 0
    monkeypatch.setenv("IRNET_HUB_SERVABLES", str(REPO / "servables"))
    assert irnet_hub.load(name).predict(["NaCl"])["prediction"].iloc[0] > 0


def test_register_a_users_model_then_list_and_load_it_by_name(hf_home, tmp_path, monkeypatch):
    import shutil

    import irnet_hub
    from irnet_hub.hub.registry import REGISTRY_FILE

    runner = CliRunner()
    builtin = REGISTRY_FILE.read_bytes()
    model = shutil.copytree(REPO / "servables" / "mp-shear-modulus", tmp_path / "my-model")
    registry = tmp_path / "my-registry.json"
    monkeypatch.delenv("IRNET_HUB_REGISTRY", raising=False)
    r = runner.invoke(main, ["register", str(model), "--name", "my-shear"])
    assert r.exit_code == 2 and "no registry file" in r.output and "IRNET_HUB_REGISTRY" in r.output
    r = runner.invoke(main, ["register", str(model), "--name", "my-shear", "--registry", str(REGISTRY_FILE)])
    assert r.exit_code == 2 and "package's own registry" in r.output

    monkeypatch.setenv("IRNET_HUB_REGISTRY", str(registry))
    (model / "README.md").write_text("edited\n")  # no longer what its manifest says: refused, nothing written
    r = runner.invoke(main, ["register", str(model), "--name", "my-shear"])
    assert r.exit_code == 2 and "README.md" in r.output and not registry.exists()
    shutil.copy2(REPO / "servables" / "mp-shear-modulus" / "README.md", model / "README.md")

    r = runner.invoke(main, ["register", str(model), "--name", "my-shear"])
    assert r.exit_code == 0, r.output
    assert f"registered my-shear in {registry}" in r.output and "models--local--my-shear" in r.output
    assert "my-shear" in runner.invoke(main, ["list"]).output
    assert REGISTRY_FILE.read_bytes() == builtin  # package data untouched
    shutil.rmtree(model)  # loads from the cache from now on
    monkeypatch.setenv("IRNET_HUB_SERVABLES", str(tmp_path / "none"))
    df = irnet_hub.load("my-shear").predict(["NaCl"])
    assert df["model"].iloc[0] == "my-shear" and df["prediction"].iloc[0] > 0
    assert [m["name"] for m in json.loads(runner.invoke(main, ["cache", "list", "--json"]).output)] == ["my-shear"]
