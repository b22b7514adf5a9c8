"""Output rules, the stoichiometry part of in_domain, ensemble std and labels (issue 11).

The Predictor is exercised with a stub network (fixed outputs) so each rule is
checked against numbers chosen to break it; the shipped models are checked on
the cases the issue reported.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from irnet_hub.output_rules import apply_rules, rules_for
from irnet_hub.preprocessing import composition_ranges, stoichiometry

REPO = Path(__file__).resolve().parents[1]


class StubNetwork:
    """Returns ``columns`` for every row: column 0 the mean, the others ensemble members."""

    n_features = 145

    def __init__(self, columns: list[float]):
        self.columns = np.asarray(columns, np.float32)
        self.n_outputs = len(columns)

    def __call__(self, X, batch_size=None):
        return np.tile(self.columns, (len(X), 1))


def _predictor(columns, target_name, **extra):
    from irnet_hub.predictor import Predictor

    info = {
        "name": "stub", "featurizer": {"name": "magpie145", "version": "1", "input_kind": "composition",
                                       "n_features": 145},
        "scaler": {"feature_mean": [0.0] * 145, "feature_std": [1.0] * 145, "target_mean": 0.0, "target_std": 1.0},
        "target": {"name": target_name, "unit": "u"},
        "element_counts": {"Fe": 100, "O": 100, "Na": 100, "Cl": 100, "Li": 100, "H": 100},
        **extra,
    }
    return Predictor(Path("stub"), StubNetwork(columns), info)


def test_elements_are_zero_with_zero_std_in_an_ensemble():
    p = _predictor([-1.5, -1.0, -1.5, -2.0], "formation enthalpy", ensemble_size=3, std_scale=2.0, schema_version=2,
                   output_rules={"elements_are_zero": True, "non_negative": False})
    df = p.predict(["Fe", "Fe2O3", "O2"])
    assert df["prediction"].tolist() == [0.0, -1.5, 0.0]
    std = df["prediction_std"].to_numpy()
    assert std.dtype == np.float32
    # std of (-1, -1.5, -2) x 2.0 = 0.8165; an element's value is fixed by the rule: std 0
    assert std[0] == 0 and std[2] == 0 and std[1] == pytest.approx(np.std([-1.0, -1.5, -2.0]) * 2.0, rel=1e-6)
    assert "0 by definition" in df["note"][0] and df["note"][1] == ""


def test_non_negative_clamps_and_says_so():
    p = _predictor([-52.8], "bulk modulus", schema_version=2,
                   output_rules={"elements_are_zero": False, "non_negative": True})
    df = p.predict(["NaCl"])
    assert df["prediction"].tolist() == [0.0]
    assert "clamped to 0" in df["note"][0] and "-52.8" in df["note"][0]


def test_rules_derived_for_records_without_them():
    assert rules_for({"target": {"name": "formation enthalpy"}}).elements_are_zero
    assert rules_for({"target": {"name": "shear modulus"}}).non_negative
    assert rules_for({"target": {"name": "last phonon DOS peak"}}).non_negative
    assert not rules_for({"target": {"name": "log10 bulk modulus"}}).non_negative  # log targets can be < 0
    # An explicit record wins over the name.
    assert not rules_for({"target": {"name": "formation enthalpy"},
                          "output_rules": {"elements_are_zero": False, "non_negative": False}}).elements_are_zero


def test_shipped_models_obey_the_rules_of_the_issue():
    import irnet_hub

    fe = irnet_hub.load("oqmd-formation-enthalpy").predict(["Fe", "Li1000000O", "NaCl"])
    assert fe["prediction"][0] == 0.0  # was -1.55 eV/atom
    assert fe["in_domain"].tolist() == [True, False, True]  # 1,000,001 atoms per formula unit: out of domain
    assert "atoms per formula unit" in fe["note"][1]
    bm = irnet_hub.load("mp-bulk-modulus").predict(["Cs", "H", "NaCl"])
    assert (bm["prediction"] >= 0).all()  # Cs was -52.8 GPa, H -47
    d2o = irnet_hub.load("oqmd-formation-enthalpy").predict(["D2O"])
    assert d2o["in_domain"][0] == False and "predicted as H" in d2o["note"][0]  # noqa: E712


def test_stoichiometry_reduces_integer_formulas():
    assert stoichiometry([2, 2]) == (2, 0.5)  # Li2O2 is LiO: 2 atoms per formula unit
    assert stoichiometry([1000000, 1]) == (1000001, pytest.approx(1 / 1000001))
    atoms, frac = stoichiometry([0.62, 0.00095])
    assert atoms == pytest.approx(0.62095) and frac == pytest.approx(0.00095 / 0.62095)


def test_shipped_ranges_match_training_data(data_dir):
    """The bulk-modulus record's stoichiometry ranges are those of its training split."""
    from irnet_hub import artifact
    from irnet_hub.domain import composition_ranges_for

    df = pd.read_csv(data_dir / "crabnet/benchmark_data/mp_bulk_modulus/train.csv", keep_default_na=False)
    record = artifact.read_record(REPO / "servables" / "mp-bulk-modulus")
    assert composition_ranges(df["formula"]) == pytest.approx(composition_ranges_for(record))


def test_card_text_states_the_rules():
    from irnet_hub import artifact
    from irnet_hub.publish.card import render_card

    card = render_card(artifact.read_record(REPO / "servables" / "oqmd-formation-enthalpy"))
    section = card[card.index("## Output rules and domain"):]
    assert "exactly 0" in section and "150 atoms per (reduced) formula unit" in section
    card = render_card(artifact.read_record(REPO / "servables" / "mp-bulk-modulus"))
    section = card[card.index("## Output rules and domain"):]
    assert "cannot be negative" in section and "108 atoms" in section and "training range" in section
    # A record with no domain facts says in_domain is unknown instead of stating rules it cannot apply.
    section = render_card({"name": "x", "target": {"name": "x", "unit": "eV"}, "output_rules": {}})
    assert "`in_domain` is unknown" in section


def test_apply_rules_leaves_other_models_alone():
    pred, std, notes = apply_rules(np.array([-1.0, 2.0]), np.array([1, 2]), rules_for({"target": {"name": "x"},
                                   "output_rules": {}}))
    assert pred.tolist() == [-1.0, 2.0] and notes == ["", ""] and std is None


def test_sigterm_during_screen_removes_its_work_folder(tmp_path):
    """A batch scheduler's time limit (SIGTERM) cleans up like Ctrl-C: no irnet-screen-* folder is left."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = tmp_path / "screen.csv"
    proc = subprocess.Popen([sys.executable, "-m", "irnet_hub.cli", "screen", "--system", "Li-Fe-P-O", "--max-atoms",
                             "14", "-o", str(out), "--quiet"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and not list(tmp_path.glob("irnet-screen-*")):
        if proc.poll() is not None:
            pytest.fail(f"screen ended before it could be interrupted: {proc.communicate()}")
        time.sleep(0.05)
    assert list(tmp_path.glob("irnet-screen-*")), "no work folder appeared"
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert list(tmp_path.glob("irnet-screen-*")) == [], err.decode()
    assert not out.exists() and not list(tmp_path.glob(".screen.csv*"))
    assert b"Traceback" not in err


def test_prediction_records_are_strict_json_with_labels():
    from irnet_hub.prediction_io import format_predictions

    p = _predictor([1.0], "bulk modulus")
    df = p.predict(pd.Series(["NaCl", "Xx"], index=["a", "b"]), errors="skip")
    recs = json.loads(format_predictions(df, "json"))
    assert [r["row"] for r in recs] == ["a", "b"] and recs[1]["prediction"] is None
    assert recs[1]["note"].startswith("skipped:")
