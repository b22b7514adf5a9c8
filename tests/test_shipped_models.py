"""Every shipped servable: intact, float32, within the size budget, and its card's MAE reproduced.

Generated from the registry (like timm's tests): adding a model adds its checks.
The test split is rebuilt from the servable's own record (``data.split``), so
the check needs nothing but the model folder and the data files.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from irnet_hub import artifact, zoo
from irnet_hub.hub.registry import list_models

REPO = Path(__file__).resolve().parents[1]
SERVABLES = REPO / "servables"
MODELS = [e.name for e in list_models() if (SERVABLES / e.name).is_dir()]
# float32 sums in another order (other CPU kernels, threads, batch split) move a
# mean absolute error by ~1e-6 relative; 1e-4 leaves room and still catches any
# real change of weights, features or split (those move it by >= 1e-3).
REL_TOL = 1e-4


def test_registry_points_at_shipped_servables():
    assert "oqmd-formation-enthalpy" in MODELS  # the default model of `make run`
    assert sorted(MODELS) == sorted(p.name for p in SERVABLES.iterdir() if p.is_dir())
    assert sorted(MODELS) == sorted(zoo.RECIPES)  # every recipe ships


def test_size_budget():
    files = [p for p in SERVABLES.rglob("*") if p.is_file()]
    assert max(p.stat().st_size for p in files) < 16 * 2**20
    assert sum(p.stat().st_size for p in files) <= 200 * 2**20


@pytest.mark.parametrize("name", MODELS)
def test_saved_config_computes_in_float32(name):
    """No float16/bfloat16 dtype policy anywhere: results must not depend on one CPU's half-precision kernels."""
    config = (SERVABLES / name / "config.json").read_text()
    for low in ("float16", "bfloat16", "mixed_"):
        assert low not in config, f"{name}: {low} in config.json"
    policies = {layer["config"].get("dtype", {}).get("config", {}).get("name")
                for layer in json.loads(config)["config"]["layers"] if isinstance(layer["config"].get("dtype"), dict)}
    assert policies <= {"float32"}


@pytest.mark.float32_paths
@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_servable_intact_and_card_mae_reproduced(name, data_dir, monkeypatch):
    from irnet_hub.evaluation import evaluate

    monkeypatch.setenv("IRNET_DATA_DIR", str(data_dir))
    folder = SERVABLES / name
    assert artifact.verify_manifest(folder) == []
    for keras_file in artifact.KERAS_FILES + ("README.md",):
        assert (folder / keras_file).is_file()
    record = artifact.read_record(folder)
    card = (folder / "README.md").read_text()
    assert "library_name: keras" in card and "model-index" in card and "Limitations" in card

    split = zoo.rebuild_split(record.data.split)
    test = split.test if "formula" in split.test.columns else split.test[["structure", "target"]]
    m = evaluate(folder, test)
    assert m["n"] == record.metrics["test"]["n"]
    assert m["mae"] == pytest.approx(record.metrics["test"]["mae"], rel=REL_TOL)
    assert f"{record.metrics['test']['mae']:.4g}" in card


@pytest.mark.float32_paths
@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_loads_with_stock_keras_and_matches_numpy_runtime(name):
    """keras.saving.load_model(dir) runs the network in float32; the NumPy runtime gives the same numbers."""
    import keras

    from irnet_hub.runtime import NumpyNetwork

    folder = SERVABLES / name
    model = keras.saving.load_model(folder)
    assert all(w.dtype == "float32" for w in model.weights)
    record = artifact.read_record(folder)
    rng = np.random.default_rng(0)
    mean, std = np.asarray(record.scaler.feature_mean), np.asarray(record.scaler.feature_std)
    X = (mean + rng.standard_normal((64, len(mean))) * std * 0.5).astype(np.float32)
    ref = model.predict(X, verbose=0)
    assert ref.dtype == np.float32 and ref.shape == (64, 1 + record.ensemble_size if record.ensemble_size > 1 else 1)
    got = NumpyNetwork.from_dir(folder)(X)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * float(np.abs(ref).max()))


def test_evaluate_scores_what_predict_returns(data_dir):
    """One scoring path (issue 17): elements, which the output rules set to 0, count in the MAE as predicted."""
    import pandas as pd

    from irnet_hub.evaluation import evaluate
    from irnet_hub.predictor import Predictor

    folder = SERVABLES / "oqmd-formation-enthalpy"
    df = pd.read_csv(data_dir / "crabnet/benchmark_data/OQMD_Formation_Enthalpy/val.csv", keep_default_na=False).head(300)
    df = pd.concat([df, pd.DataFrame({"formula": ["Fe", "O2", "Si"], "target": [0.0, 0.0, 0.0]})], ignore_index=True)
    predicted = Predictor.from_dir(folder).predict(df)
    assert (predicted["prediction"].iloc[-3:] == 0.0).all()  # the rule, as users see it
    m = evaluate(folder, df)
    assert m["n"] == len(df) and "output rules applied" in m["scored"]
    assert m["mae"] == pytest.approx(float(np.mean(np.abs(predicted["prediction"] - df["target"]))), rel=1e-12)
    card = (folder / "README.md").read_text()
    assert "scored on the predictions `irnet predict` returns" in card


COMPOSITION_MODELS = [n for n in MODELS if n != "matbench-phonons-structure"]


@pytest.mark.parametrize("name", COMPOSITION_MODELS)
def test_no_network_output_is_certain_for_any_element_or_lanthanide_alloy(name):
    """Issue 16: the moduli gave 0 +- 0 GPa, in domain, for Ce, Gd, U and their alloys."""
    from pymatgen.core import Element

    from irnet_hub.predictor import load_dir

    model = load_dir(SERVABLES / name)
    inputs = [Element.from_Z(z).symbol for z in range(1, 113)] + ["CeNd", "Nd5Ho4", "GdFe2", "UO2", "CeNi5"]
    df = model.predict(inputs, errors="skip")
    assert df["prediction"].notna().sum() >= 100
    by_rule = df["note"].str.startswith("element:")  # an output rule's exact value (a formation energy is 0)
    if "prediction_std" in df:
        certain = (df["prediction_std"] == 0) & ~by_rule
        assert not certain.any(), df[certain]
        assert not (df["prediction_std"].isna() & df["prediction"].notna() & df["in_domain"].fillna(False)).any()
    if name in ("mp-bulk-modulus", "mp-shear-modulus"):  # no lanthanide in their training rows
        assert not df.loc[df["formula"].isin(["Ce", "Gd", "CeNd", "Nd5Ho4"]), "in_domain"].any()
        assert df.loc[df["formula"] == "Ce", "note"].str.contains("outside its training range").all()


@pytest.mark.parametrize("name", [m for m in MODELS if (SERVABLES / m / "irnet.json").is_file()
                                  and artifact.read_record(SERVABLES / m).featurizer.input_kind == "composition"])
def test_no_output_has_std_zero_while_in_domain_for_any_element(name):
    """Issue 16: the moduli gave exactly 0 +- 0 GPa, in_domain, for the lanthanides and U. Every element (and
    its 1:1 oxide) through every shipped composition model: where a network output is given (no output
    rule's exact value), an ensemble's std is never 0 while in_domain is true, and every prediction is finite."""
    from pymatgen.core import Element

    from irnet_hub.featurize.composition import MAX_Z
    from irnet_hub.predictor import load_dir

    model = load_dir(SERVABLES / name)
    symbols = [Element.from_Z(z).symbol for z in range(1, MAX_Z + 1)]
    df = model.predict(symbols + [f"{s}O" for s in symbols if s != "O"], errors="skip")
    predicted = df[~df["note"].str.startswith("skipped")]
    assert len(predicted) >= 150, df[df["note"].str.startswith("skipped")]["note"].head()
    assert np.isfinite(predicted["prediction"]).all()
    if "prediction_std" in df.columns:
        network = predicted[~predicted["note"].str.startswith("element")]  # not an output rule's exact 0
        bad = network[(network["prediction_std"] == 0) & network["in_domain"].fillna(False)]
        assert bad.empty, bad[["formula", "prediction", "prediction_std", "note"]]
