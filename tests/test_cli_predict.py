"""``irnet list / info / pull / predict`` as a user runs them (subprocesses, offline, real model)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_predictor import build_test_model  # noqa: E402

# Real-data layer (`pytest -m "not slow"` leaves it out): trains a small model and runs the CLI in subprocesses.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
NAME = "bm-test"
COMMIT = "89abcdef0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, data_dir) -> Path:
    return build_test_model(tmp_path_factory.getbasetemp(), data_dir)


@pytest.fixture(scope="module")
def env(tmp_path_factory, model_dir) -> dict[str, str]:
    """Offline, empty HF cache, the model registered and present in a servables folder."""
    from irnet_hub.hub.registry import add_entry, entry_from_model_dir

    root = tmp_path_factory.mktemp("cli-hub")
    shutil.copytree(model_dir, root / "servables" / NAME)
    add_entry(entry_from_model_dir(model_dir, repo_id="irnet-test/bm-test", revision=COMMIT, name=NAME),
              root / "registry.json")
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "IRNET_HUB_REGISTRY": str(root / "registry.json"),
        "IRNET_HUB_SERVABLES": str(root / "servables"),
        "HF_HUB_CACHE": str(root / "hf"),
        "HF_HUB_OFFLINE": "1",
    }


def irnet(env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "irnet_hub.cli", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=120)


def test_predict_json(env):
    r = irnet(env, "predict", NAME, "NaCl", "Fe2O3", "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [x["formula"] for x in rows] == ["NaCl", "Fe2O3"]
    for x in rows:
        assert {"formula", "prediction", "unit", "model", "in_domain"} <= set(x)
        assert isinstance(x["prediction"], float) and x["unit"] == "GPa" and x["model"] == NAME
        assert isinstance(x["in_domain"], bool)


def test_predict_table_from_a_model_directory(env, model_dir):
    r = irnet(env, "predict", str(model_dir), "MgO")
    assert r.returncode == 0, r.stderr
    assert "MgO" in r.stdout and "GPa" in r.stdout and "in_domain" in r.stdout


def test_invalid_formula_exit_2_names_it_and_writes_nothing(env, tmp_path):
    out = tmp_path / "out.csv"
    r = irnet(env, "predict", NAME, "NaCl", "Xx2", "Fe(O", "--output", str(out))
    assert r.returncode == 2
    assert "'Xx2'" in r.stderr and "unknown element" in r.stderr
    assert "'Fe(O'" in r.stderr and "bracket" in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert list(tmp_path.iterdir()) == []  # no output file, no temporary file


def test_input_csv_skip_invalid_to_json_file(env, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("formula,note\nNaCl,a\nXx2,b\nNaN,c\n,d\nSiO2,e\n")
    out = tmp_path / "pred.json"
    r = irnet(env, "predict", NAME, "--input", str(src), "--output", str(out), "--skip-invalid")
    assert r.returncode == 0, r.stderr
    assert "skipped row 1 'Xx2': unknown element symbol 'Xx'" in r.stderr
    assert "skipped row 3 '': empty formula" in r.stderr
    rows = json.loads(out.read_text())
    assert [(x["row"], x["formula"]) for x in rows] == [(0, "NaCl"), (2, "NaN"), (4, "SiO2")]  # NaN: sodium nitride
    assert "Traceback" not in r.stderr


def test_input_csv_invalid_without_skip_writes_nothing(env, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("formula\nNaCl\nXx2\n")
    out = tmp_path / "pred.csv"
    r = irnet(env, "predict", NAME, "--input", str(src), "--output", str(out), "--csv")
    assert r.returncode == 2 and "'Xx2'" in r.stderr and "Traceback" not in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_predict_csv_stdout(env):
    r = irnet(env, "predict", NAME, "NaCl", "--csv")
    assert r.returncode == 0, r.stderr
    header, first = r.stdout.splitlines()[:2]
    assert header.split(",")[:7] == ["row", "formula", "parsed_formula", "prediction", "unit", "model", "in_domain"]
    assert first.startswith("0,NaCl,NaCl,")


def test_usage_errors_are_clean(env, tmp_path):
    for args, code, text in [
        (("predict", "no-such-model", "NaCl"), 2, "no such model"),
        (("predict", NAME), 2, "give formulas as arguments or --input"),
        (("predict", NAME, "--input", str(tmp_path / "missing.csv")), 2, "file not found"),
        (("info", "no-such-model"), 2, "no such model"),
    ]:
        r = irnet(env, *args)
        assert r.returncode == code, (args, r.stderr)
        assert text in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)


def test_list_info_pull(env):
    r = irnet(env, "list", "--json")
    assert r.returncode == 0, r.stderr
    (m,) = [m for m in json.loads(r.stdout) if m["name"] == NAME]
    assert m["property"] == "bulk modulus" and m["unit"] == "GPa" and m["training_data"] == "mp-bulk-modulus"
    assert "test_mae" in m and "files" not in m
    r = irnet(env, "list")
    assert r.returncode == 0 and NAME in r.stdout and "bulk modulus" in r.stdout
    r = irnet(env, "info", NAME)
    assert r.returncode == 0 and "model.weights.h5" in r.stdout and "repository_copy" in r.stdout
    r = irnet(env, "info", NAME, "--card")
    assert r.returncode == 0 and r.stdout.strip() == (Path(env["IRNET_HUB_SERVABLES"]) / NAME / "README.md").read_text().strip()
    r = irnet(env, "pull", NAME)
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()) == Path(env["IRNET_HUB_SERVABLES"]) / NAME


def test_pull_failure_is_exit_4_without_traceback(env, tmp_path):
    r = irnet({**env, "IRNET_HUB_SERVABLES": str(tmp_path)}, "pull", NAME)
    assert r.returncode == 4  # a remote failure: the model could not be fetched
    assert "not available" in r.stderr and "HF_HUB_OFFLINE" in r.stderr and "Traceback" not in r.stderr
    assert f"irnet pull {NAME}" in r.stderr and "IRNET_HUB_SERVABLES" in r.stderr  # how to get it


def test_cli_prediction_path_imports_no_tensorflow(env):
    code = (
        "import sys\n"
        "from irnet_hub.cli import main\n"
        "try:\n"
        f"    main(['predict', {NAME!r}, 'NaCl', '--json'])\n"
        "except SystemExit as e:\n"
        "    assert e.code in (0, None), e.code\n"
        "bad = [m for m in ('tensorflow', 'keras', 'huggingface_hub', 'matminer.featurizers') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)[0]["formula"] == "NaCl"


def test_structure_files_are_read_for_structure_models(tmp_path):
    from pymatgen.core import Lattice, Structure

    from irnet_hub.prediction_io import read_inputs

    s = Structure(Lattice.cubic(4.2), ["Mg", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    s.to(filename=str(tmp_path / "MgO.cif"))
    s.to(filename=str(tmp_path / "POSCAR"))
    items = read_inputs([tmp_path / "MgO.cif", tmp_path / "POSCAR"], "structure")
    assert [x.composition.reduced_formula for x in items] == ["MgO", "MgO"]


def test_info_shows_the_cards_limitations_and_citation():
    """Issue 19: README and the demo send users to `irnet info`, which showed neither."""
    env = {**os.environ, "IRNET_HUB_SERVABLES": str(REPO / "servables"), "HF_HUB_OFFLINE": "1"}
    env.pop("IRNET_HUB_REGISTRY", None)
    r = irnet(env, "info", "mp-bulk-modulus")
    assert r.returncode == 0, r.stderr
    assert "Limitations:" in r.stdout and "Composition only" in r.stdout
    assert "How to cite:" in r.stdout and "10.1145/3292500.3330703" in r.stdout
    r = irnet(env, "info", "mp-bulk-modulus", "--card")
    card = (REPO / "servables" / "mp-bulk-modulus" / "README.md").read_text(encoding="utf-8")
    assert r.returncode == 0 and r.stdout.strip() == card.strip()
