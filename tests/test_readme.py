"""Every Python and shell example in README.md, executed as written on small real data.

The blocks are read from README.md itself, so the README cannot drift from
what the package does. Each runs in a fresh working folder holding small
slices of the real data sets from ``IRNET_DATA_DIR`` under the file names the
README uses (``train.csv``, ``val.csv``, ``test.csv``, ``data.csv``,
``candidates.csv``, ``known.csv``) and a small trained ``my-model``; shell
blocks run with ``bash -e`` (any failing command fails the test), Python
blocks with this interpreter. Nothing reaches the network: the registered
models come from ``servables/`` (``HF_HUB_OFFLINE=1``).

Blocks that are not executed are listed in :data:`NOT_EXECUTED` with the
reason; a new block that is neither run nor listed fails
:func:`test_every_block_is_run_or_listed`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
BULK = "crabnet/benchmark_data/mp_bulk_modulus"
OQMD_H = "crabnet/benchmark_data/OQMD_Formation_Enthalpy/val.csv"

# First line of a block -> why it is not executed here.
NOT_EXECUTED = {
    "python scripts/train_zoo.py": "retrains a shipped model (minutes to an hour on 2 cores); the same scripts run "
                                   "end to end at 2 epochs in tests/test_zoo.py, and the split + evaluate steps "
                                   "for every shipped model in tests/test_shipped_models.py",
    "make run": "creates the virtual environment and calls `irnet demo`; `make test` runs this very suite. "
                "`irnet demo` itself is run by test_make_run_command",
    "make serve": "starts a server that runs until stopped; tests/serving/test_readme_remote.py starts the same "
                  "`irnet serve` and runs the two client blocks below against it",
    "irnet predict oqmd-formation-enthalpy NaCl Fe2O3 --remote": "needs a running model server: run by "
                                                                 "tests/serving/test_readme_remote.py (.venv-serve)",
    "# Python, against the same server": "needs a running model server: run by tests/serving/test_readme_remote.py",
    "irnet publish my-model": "remote only: needs a Hugging Face token or a Globus login (both paths are tested "
                              "against local fakes in test_publish_hf.py and test_dlhub.py)",
}


def blocks() -> list[tuple[str, str]]:
    """(language, code) of each fenced bash/python block, in README order."""
    return re.findall(r"```(bash|python)\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def _first_line(code: str) -> str:
    return code.strip().splitlines()[0]


def _listed(code: str) -> str | None:
    first = _first_line(code)
    return next((reason for key, reason in NOT_EXECUTED.items() if first.startswith(key)), None)


RUN = [(lang, code) for lang, code in blocks() if _listed(code) is None]


def test_every_block_is_run_or_listed():
    found = blocks()
    assert len(found) >= 8, "README.md lost its examples?"
    assert {_first_line(c) for _, c in found if _listed(c)} == {
        next(_first_line(c) for _, c in found if _first_line(c).startswith(key)) for key in NOT_EXECUTED
    }, "an entry of NOT_EXECUTED matches no README block"
    assert len(RUN) == len(found) - len(NOT_EXECUTED)


@pytest.fixture(scope="module")
def small_model(tmp_path_factory, data_dir) -> Path:
    """``my-model``: 2 epochs of a small IRNet on 300 bulk moduli (for `irnet servable build my-model`)."""
    import irnet_hub

    out = tmp_path_factory.mktemp("readme-model") / "my-model"
    irnet_hub.train(pd.read_csv(data_dir / BULK / "train.csv").head(300), out,
                    val_data=pd.read_csv(data_dir / BULK / "val.csv").head(100), architecture="32BARx2-1",
                    epochs=2, batch_size=128, learning_rate=1e-3, target_name="bulk modulus", unit="GPa",
                    progress=False)
    return out


@pytest.fixture()
def workspace(tmp_path, data_dir) -> Path:
    read = lambda name, n: pd.read_csv(data_dir / BULK / f"{name}.csv", keep_default_na=False).head(n)  # noqa: E731
    # 200 training rows: the README trains at full width for 20 epochs; this is enough to run it
    read("train", 200).to_csv(tmp_path / "train.csv", index=False)
    read("val", 100).to_csv(tmp_path / "val.csv", index=False)
    read("test", 200).to_csv(tmp_path / "test.csv", index=False)
    read("test", 50)[["formula"]].to_csv(tmp_path / "data.csv", index=False)
    candidates = read("test", 20)[["formula"]]
    pd.concat([candidates, pd.DataFrame({"formula": ["Xx2O3"]})]).to_csv(tmp_path / "candidates.csv", index=False)
    # Known Al-Ni-Zr phases: OQMD formation enthalpies (eV/atom) of the compounds of those elements.
    oqmd = pd.read_csv(data_dir / OQMD_H, keep_default_na=False)
    elements = oqmd["formula"].str.findall(r"[A-Z][a-z]?")
    known = oqmd[[set(e) <= {"Al", "Ni", "Zr"} and len(set(e)) > 1 for e in elements]]
    assert len(known) >= 3
    known.rename(columns={"target": "formation_enthalpy"}).to_csv(tmp_path / "known.csv", index=False)
    return tmp_path


def _env(tmp_path: Path, data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "IRNET_DATA_DIR": str(data_dir),
        "IRNET_HUB_SERVABLES": str(REPO / "servables"),
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / ".hf"),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONWARNINGS": "ignore",
        "MPLBACKEND": "Agg",
    }


@pytest.mark.slow
@pytest.mark.parametrize("lang,code", RUN, ids=[f"{lang}:{_first_line(code)[:40]}" for lang, code in RUN])
def test_readme_block_runs(lang, code, workspace, small_model, data_dir):
    if "my-model" in code and "irnet train" not in code and "irnet_hub.train(" not in code:
        shutil.copytree(small_model, workspace / "my-model")
    cmd = ["bash", "-e", "-o", "pipefail", "-c", code] if lang == "bash" else [sys.executable, "-c", code]
    r = subprocess.run(cmd, cwd=workspace, env=_env(workspace, data_dir), capture_output=True, text=True,
                       timeout=900)
    assert r.returncode == 0, f"README {lang} block failed:\n{code}\n--- stdout\n{r.stdout[-3000:]}\n--- stderr\n{r.stderr[-3000:]}"
    assert "Traceback" not in r.stderr
    # What the blocks promise, checked on their outputs
    if "irnet evaluate my-model" in code:
        assert (workspace / "plots" / "parity.png").is_file() and '"mae"' in r.stdout
    if "--output predictions.csv" in code:
        out = pd.read_csv(workspace / "predictions.csv")
        assert len(out) == 20 and "skipped row 20 'Xx2O3'" in r.stderr
    if "--recipe mp-bulk-modulus" in code:  # the recipe's members, featurizer and transform; --epochs overrides
        record = json.loads((workspace / "my-ensemble" / "irnet.json").read_text())
        assert record["ensemble_size"] == 3 and record["featurizer"]["name"] == "magpie145+oliynyk"
        assert record["hyperparameters"]["epochs_max"] == 10 and record["scaler"]["target_transform"] == "log"
        assert record["hyperparameters"].get("early_stopping_patience") is None  # the recipe's cosine schedule
        assert "RandomForest on the same features" in r.stdout and "validation MAE" in r.stdout
    if "irnet_hub.evaluate(" in code:
        assert re.search(r"test MAE \d+\.\d GPa on 200 compounds", r.stdout)
    if "irnet screen" in code:
        assert (workspace / "screen.parquet").is_file() and (workspace / "a2bx4.csv").is_file()
        assert (workspace / "alnizr.parquet").is_file()


@pytest.mark.slow
def test_make_run_command(tmp_path, data_dir):
    """`make run` is `irnet demo` after installing: the default model predicts and its test MAE is stated."""
    r = subprocess.run(["irnet", "demo"], cwd=tmp_path, env=_env(tmp_path, data_dir), capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "NaCl" in r.stdout and "oqmd-formation-enthalpy: test MAE" in r.stdout
    assert "OQMD split" in r.stdout and "Kirklin" in r.stdout  # reference values, with their source


def test_demo_reference_values_are_the_data_files(data_dir):
    """The demo's OQMD references are the values in the split files they name (issue 18)."""
    from irnet_hub.demo import DEMO_FORMULAS, OQMD_REFERENCE
    from irnet_hub.preprocessing import element_amounts

    def key(formula):
        amounts = element_amounts(formula)
        total = sum(amounts.values())
        return tuple(sorted((e, round(a / total, 6)) for e, a in amounts.items()))

    for split in ("train", "val"):
        df = pd.read_csv(data_dir / f"crabnet/benchmark_data/OQMD_Formation_Enthalpy/{split}.csv", keep_default_na=False)
        found = {key(f): t for f, t in zip(df["formula"], df["target"])}
        for formula in DEMO_FORMULAS:
            value, where = OQMD_REFERENCE[formula]
            if where == split:
                assert found[key(formula)] == pytest.approx(value, abs=1e-6), formula
