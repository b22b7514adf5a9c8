"""The CLI end to end on real data: featurize, train, evaluate, baseline, and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

# Real-data layer (`pytest -m "not slow"` leaves it out): runs training and evaluation through the CLI in subprocesses.
pytestmark = pytest.mark.slow

BULK = "crabnet/benchmark_data/mp_bulk_modulus"


def irnet(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "irnet_hub.cli", *args]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


@pytest.fixture(scope="module")
def small_csvs(data_dir, tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    for split, n in (("train", 1200), ("val", 300), ("test", 300)):
        pd.read_csv(data_dir / BULK / f"{split}.csv").head(n).to_csv(d / f"{split}.csv", index=False)
    return d


def test_cli_train_evaluate_end_to_end(small_csvs, tmp_path):
    model = tmp_path / "model"
    r = irnet("train", str(small_csvs / "train.csv"), "--val", str(small_csvs / "val.csv"), "-o", str(model),
              "-a", "256BARx2-64BARx2-1", "--epochs", "15", "--batch-size", "128", "--lr", "1e-3",
              "--patience", "5", "--unit", "GPa", "--target-name", "bulk modulus", "--json")
    assert r.returncode == 0, r.stderr
    trained = json.loads(r.stdout)
    assert trained["metrics"]["val"]["n"] == 300

    plots = tmp_path / "plots"
    r = irnet("evaluate", str(model), "--data", str(small_csvs / "test.csv"), "--json", "--plots", str(plots))
    assert r.returncode == 0, r.stderr
    lines = [l for l in r.stdout.splitlines() if l.strip()]
    assert len(lines) == 1  # exactly one JSON object
    m = json.loads(lines[0])
    assert {"mae", "rmse", "r2", "n", "p90_abs_error"} <= set(m) and m["n"] == 300
    test = pd.read_csv(small_csvs / "test.csv")
    train = pd.read_csv(small_csvs / "train.csv")
    assert m["mae"] < (test.target - train.target.mean()).abs().mean()
    assert (plots / "parity.png").is_file() and (plots / "error_cdf.png").is_file()

    r = irnet("evaluate", str(model), "--data", str(small_csvs / "test.csv"))
    assert r.returncode == 0 and "mae" in r.stdout and "GPa" in r.stdout


def test_cli_featurize_and_baseline(small_csvs, tmp_path):
    out = tmp_path / "features.csv"
    r = irnet("featurize", str(small_csvs / "val.csv"), "-o", str(out))
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(out)
    assert df.shape == (300, 2 + 145) and list(df.columns[:2]) == ["formula", "target"]

    r = irnet("baseline", str(small_csvs / "train.csv"), "--val", str(small_csvs / "val.csv"), "--test",
              str(small_csvs / "test.csv"), "--n-estimators", "30", "--max-features", "0.33", "--min-samples-leaf", "1", "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["test"]["n"] == 300 and res["params"] == {"n_estimators": 30, "max_features": 0.33, "min_samples_leaf": 1}


@pytest.mark.parametrize(
    "rows, needle",
    [(["NaCl", "Xx2O3"], "Xx2O3"), (["NaCl", "Fe2(O3"], "Fe2(O3"), (["NaCl", "Fe0O"], "Fe0O"), (["Fe-1O2"], "Fe-1O2")],
)
def test_cli_featurize_bad_input(tmp_path, rows, needle):
    src = tmp_path / "in.csv"
    pd.DataFrame({"formula": rows}).to_csv(src, index=False)
    out = tmp_path / "out.csv"
    r = irnet("featurize", str(src), "-o", str(out))
    assert r.returncode == 2
    assert needle in r.stderr and "Traceback" not in r.stderr + r.stdout
    assert not out.exists()  # nothing half-written
    r = irnet("featurize", str(src), "-o", str(out), "--skip-invalid")
    if len(rows) == 1:  # every row invalid: a failure even with --skip-invalid, nothing written (issue 11)
        assert r.returncode == 2 and needle in r.stderr and not out.exists()
        return
    assert r.returncode == 0 and needle in r.stderr
    assert len(pd.read_csv(out)) == len(rows) - 1


def test_cli_bad_files_and_options(small_csvs, tmp_path):
    cases = [
        (("evaluate", str(tmp_path / "nope"), "--data", str(small_csvs / "test.csv")), "nope"),
        (("train", str(tmp_path / "missing.csv"), "-o", str(tmp_path / "m")), "missing.csv"),
        (("train", str(small_csvs / "train.csv"), "-o", str(tmp_path / "m2"), "-a", "12QQx3-1"), "12QQx3"),
        (("baseline", str(small_csvs / "train.csv"), "--n-estimators", "ten"), "ten"),
    ]
    nocol = tmp_path / "nocol.csv"
    nocol.write_text("name,value\nNaCl,1\n")
    cases.append((("train", str(nocol), "-o", str(tmp_path / "m3")), "formula"))
    for args, needle in cases:
        r = irnet(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert needle in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)


def test_help_teaches():
    r = irnet("--help")
    assert r.returncode == 0
    for cmd in ("featurize", "train", "evaluate", "baseline"):
        assert cmd in r.stdout
    r = irnet("train", "--help")
    assert "irnet-17" in r.stdout and "--patience" in r.stdout


def test_cli_train_refuses_an_unknown_recipe(small_csvs, tmp_path):
    """A recipe's settings on the user's data are checked on README's `--recipe` example (tests/test_readme.py)."""
    r = irnet("train", str(small_csvs / "train.csv"), "-o", str(tmp_path / "x"), "--recipe", "no-such-recipe")
    assert r.returncode == 2 and "no-such-recipe" in r.stderr and "Traceback" not in r.stderr
