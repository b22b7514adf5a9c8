"""NumPy inference: equal to Keras, the Predictor's output, domain flags and input errors.

The model is real: 500 Materials Project bulk moduli featurized and fitted for
2 epochs by ``irnet_hub.training.train`` (built once per session and reused by
test_hub_pull.py and test_cli_predict.py through :func:`build_test_model`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from irnet_hub.errors import BatchInputError, IntegrityError, InvalidInputError
from tolerance import assert_f32_close

# Real-data layer (`pytest -m "not slow"` leaves it out): trains a small model and compares 10,000 real predictions with Keras.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
BULK = "crabnet/benchmark_data/mp_bulk_modulus/train.csv"
OQMD = "crabnet/benchmark_data/OQMD_Bandgap/train.csv"
CARD = "# bm-test\n\nA 2-epoch test model of bulk modulus; do not use.\n"


def build_test_model(base: Path, data_dir: Path) -> Path:
    """A small real model directory (trained once per session, reused from ``base``)."""
    from filelock import FileLock

    out = base / "irnet-test-model" / "bm-test"
    out.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(out.parent / ".lock")):
        if (out / "manifest.json").is_file():
            return out
        from irnet_hub import artifact
        from irnet_hub.training import train

        df = pd.read_csv(data_dir / BULK, keep_default_na=False)
        tmp = out.parent / "building"
        shutil.rmtree(tmp, ignore_errors=True)
        train(df.iloc[:500], tmp, val_data=df.iloc[500:600], target_name="bulk modulus", unit="GPa",
              architecture="64BARx2-32BARx1-1", epochs=2, batch_size=64, learning_rate=1e-3, progress=False,
              name="bm-test", dataset="mp-bulk-modulus")
        shutil.rmtree(tmp / "checkpoint", ignore_errors=True)
        (tmp / "README.md").write_text(CARD)
        artifact.write_manifest(tmp)
        os.replace(tmp, out)
    return out


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory, data_dir) -> Path:
    return build_test_model(tmp_path_factory.getbasetemp(), data_dir)


@pytest.fixture(scope="session")
def real_features(data_dir) -> np.ndarray:
    """10,000 real formulas' Magpie features (NaN where element data are missing)."""
    from irnet_hub.featurize.composition import featurize_compositions

    formulas = pd.read_csv(data_dir / OQMD, nrows=10_000, keep_default_na=False)["formula"].tolist()
    return featurize_compositions(formulas, errors="raise").features


def _keras_predict(model_dir: Path, X: np.ndarray) -> np.ndarray:
    from irnet_hub import artifact

    return artifact.load_keras_model(model_dir).predict(X, batch_size=4096, verbose=0)


@pytest.mark.float32_paths
def test_numpy_equals_keras_on_10000_real_inputs(model_dir, real_features):
    from irnet_hub.predictor import Predictor
    from irnet_hub.runtime import NumpyNetwork

    pred = Predictor.from_dir(model_dir)
    X = real_features.astype(np.float32)
    X = np.where(np.isnan(X), pred._feature_mean, X)  # what predict() does before the network
    assert X.shape == (10_000, 145)
    y_np = NumpyNetwork.from_dir(model_dir)(X)
    y_keras = pred.keras_model().predict(X, batch_size=4096, verbose=0)  # stock Keras, safe_mode=True
    assert y_np.dtype == np.float32 and y_np.shape == y_keras.shape == (10_000, 1)
    # Equal within 1e-5 in the network's standardized output unit (before its Rescaling
    # layer): in GPa, float32 rounding alone is ~1e-5 at 100 GPa, for Keras as for NumPy.
    diff, scale = float(np.max(np.abs(y_np - y_keras))), float(np.max(np.abs(y_keras)))
    target_std = pred.metadata["scaler"]["target_std"]
    print(f"numpy vs keras, 10,000 real inputs: max |diff| {diff:.3g} GPa = {diff / target_std:.3g} standardized "
          f"(largest output {scale:.4g} GPa)")
    assert diff / target_std <= 1e-5
    assert diff <= 1e-5 * max(1.0, scale)
    # predict_features (NaN filling, batches of another size: BLAS rounds differently) agrees too
    batched = pred.predict_features(real_features[:3000], batch_size=1000)
    assert_f32_close(batched, y_np[:3000, 0], scale=max(1.0, scale))


@pytest.mark.float32_paths
def test_numpy_equals_keras_irnet17_with_projections(tmp_path, real_features):
    """The full 17-layer IRNet (projection shortcuts, random BatchNorm statistics) in float32.

    Float32 results of two BLAS libraries differ by rounding, which grows with
    the output's magnitude (here ~100 GPa, where one float32 step is ~1e-5),
    so the bound is 1e-5 relative to the largest output.
    """
    from irnet_hub import artifact
    from irnet_hub.runtime import NumpyNetwork
    from irnet_hub.networks import build_network

    X = np.nan_to_num(real_features.astype(np.float32))
    model = build_network("irnet-17", 145, feature_mean=X.mean(0), feature_variance=X.var(0) + 1e-3,
                          target_mean=100.0, target_scale=80.0, seed=1)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if layer.__class__.__name__ == "BatchNormalization":
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.1, beta.shape),
                               rng.normal(0, 0.5, mean.shape), rng.uniform(0.5, 2.0, var.shape)])
    artifact.save_model_dir(model, tmp_path / "m", {"name": "irnet17-random"})
    y_np = NumpyNetwork.from_dir(tmp_path / "m")(X)
    y_keras = _keras_predict(tmp_path / "m", X)
    diff, scale = float(np.max(np.abs(y_np - y_keras))), float(np.max(np.abs(y_keras)))
    print(f"numpy vs keras, irnet-17: max |diff| {diff:.3g} (largest output {scale:.4g})")
    assert diff <= 1e-5 * scale


def test_unsupported_layer_is_refused(tmp_path):
    import keras

    from irnet_hub import artifact
    from irnet_hub.runtime import NumpyNetwork, UnsupportedModelError

    inp = keras.Input(shape=(4,))
    out = keras.layers.Dense(1)(keras.layers.Dropout(0.1)(keras.layers.Dense(8)(inp)))
    artifact.save_model_dir(keras.Model(inp, out), tmp_path / "m", {"name": "dropout"})
    with pytest.raises(UnsupportedModelError, match="Dropout is not supported"):
        NumpyNetwork.from_dir(tmp_path / "m")


def test_predict_frame_metadata_and_card(model_dir):
    import irnet_hub

    model = irnet_hub.load(model_dir)
    df = model.predict(["NaCl", "Fe2O3", "SiC"])
    assert list(df.columns[:6]) == ["formula", "parsed_formula", "prediction", "unit", "model", "in_domain"]
    assert df["formula"].tolist() == ["NaCl", "Fe2O3", "SiC"]
    assert df.index.tolist() == [0, 1, 2]
    assert (df["unit"] == "GPa").all() and (df["model"] == "bm-test").all()
    assert np.isfinite(df["prediction"]).all()
    assert df.attrs["failures"] == []
    assert model.metadata["target"] == {"name": "bulk modulus", "unit": "GPa"}
    assert model.card == CARD
    # Other input forms give the same numbers.
    from pymatgen.core import Composition, Lattice, Structure

    nacl = Structure(Lattice.cubic(5.6), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    same = [
        model.predict(pd.Series(["NaCl"])),
        model.predict(pd.DataFrame({"formula": ["NaCl"], "other": [1]})),
        model.predict([Composition("NaCl")]),
        model.predict([nacl]),
        model.predict("NaCl"),
    ]
    for other in same:
        assert other["prediction"].iloc[0] == pytest.approx(df["prediction"].iloc[0], rel=1e-5)


def test_in_domain_uses_training_element_counts(model_dir):
    import irnet_hub

    model = irnet_hub.load(model_dir)
    counts = model.metadata["element_counts"]
    absent = next(e for e in ["Pu", "Np", "Pa", "Ac", "Tc", "Pm", "Am"] if e not in counts)
    rare = next(e for e, c in counts.items() if 0 < c < 5 and e not in ("H", "He"))
    common = sorted(counts, key=counts.get)[-2:]  # the two most frequent elements
    df = model.predict([f"{absent}O2", f"{rare}N", "".join(common)])
    assert df["in_domain"].tolist() == [False, False, True]
    assert df["rare_elements"].tolist() == [absent, rare, ""]


def test_invalid_inputs_raise_or_skip(model_dir):
    import irnet_hub

    model = irnet_hub.load(model_dir)
    bad = ["NaCl", "Xx2", "", "Fe(O", "MgO"]
    with pytest.raises(BatchInputError) as err:
        model.predict(bad)
    text = str(err.value)
    assert "'Xx2'" in text and "unknown element" in text
    assert "empty formula" in text and "'Fe(O'" in text and "bracket" in text
    assert [f.row for f in err.value.failures] == [1, 2, 3]
    assert isinstance(err.value, InvalidInputError)

    df = model.predict(bad, errors="skip")
    # Skipped rows keep their place and label, with NaN and the reason (issue 11).
    assert df["formula"].tolist() == bad and df.index.tolist() == [0, 1, 2, 3, 4]
    assert df["prediction"].notna().tolist() == [True, False, False, False, True]
    assert df["note"][1].startswith("skipped: unknown element") and df["note"][0] == ""
    assert [(f.row, f.input) for f in df.attrs["failures"]] == [(1, "Xx2"), (2, ""), (3, "Fe(O")]
    with pytest.raises(InvalidInputError, match="errors must be"):
        model.predict(["NaCl"], errors="ignore")

    result = model.predict_result(bad)  # the typed form: predictions and failures side by side
    assert isinstance(result, irnet_hub.PredictionResult) and not result.ok and len(result) == 2
    assert [(f.row, f.input) for f in result.failures] == [(1, "Xx2"), (2, ""), (3, "Fe(O")]
    assert "unknown element" in result.failures[0].reason
    assert result.predicted["formula"].tolist() == ["NaCl", "MgO"]
    assert result.predictions["formula"].tolist() == bad  # every row keeps its place (issue 11)
    assert model.predict_result(["NaCl"]).ok


@pytest.mark.float32_paths
def test_batches_and_row_numbers_across_chunks(model_dir, data_dir):
    import irnet_hub

    model = irnet_hub.load(model_dir)
    formulas = pd.read_csv(data_dir / OQMD, nrows=2500, keep_default_na=False)["formula"].tolist()
    formulas[1234] = "Qq3"
    whole = model.predict(formulas, errors="skip", batch_size=100_000)
    chunked = model.predict(formulas, errors="skip", batch_size=700)
    assert [f.row for f in chunked.attrs["failures"]] == [1234]
    assert chunked.index.tolist() == whole.index.tolist() == list(range(2500))  # skipped rows keep their place
    assert np.isnan(chunked["prediction"][1234]) and chunked["note"][1234].startswith("skipped:")
    # Different batch sizes only change float32 rounding inside BLAS.
    assert_f32_close(chunked["prediction"], whole["prediction"])


def test_corrupt_local_model_is_refused(model_dir, tmp_path):
    from irnet_hub.predictor import Predictor

    copy = shutil.copytree(model_dir, tmp_path / "copy")
    data = bytearray((copy / "model.weights.h5").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "model.weights.h5").write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="sha256 mismatch"):
        Predictor.from_dir(copy)


def test_prediction_does_not_import_tensorflow(model_dir):
    code = (
        "import sys, irnet_hub\n"
        f"df = irnet_hub.load({str(model_dir)!r}).predict(['NaCl', 'Fe2O3'])\n"
        "assert len(df) == 2\n"
        "bad = [m for m in ('tensorflow', 'keras', 'huggingface_hub', 'matminer.featurizers') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("bad", [-1, 0, 1.5, True, "64"])
def test_bad_batch_size_is_refused_by_name(bad):
    """Issue 16: batch_size=-1 returned NaN silently; 0 and 1.5 raised bare ValueError/TypeError."""
    from irnet_hub.predictor import load_dir

    model = load_dir(REPO / "servables" / "oqmd-formation-enthalpy")
    for call in (lambda: model.predict(["NaCl"], batch_size=bad), lambda: model.predict_features(np.zeros((2, 145)), batch_size=bad)):
        with pytest.raises(InvalidInputError, match="batch_size must be a positive integer"):
            call()


def test_a_huge_amount_is_bad_input_for_its_row_only():
    """Issue 16: Fe1e308O overflowed the features and failed the whole batch as 'damaged weights'."""
    from irnet_hub.predictor import load_dir

    model = load_dir(REPO / "servables" / "oqmd-formation-enthalpy")
    df = model.predict(["NaCl", "Fe1e308O", "Fe100000000000000O", "MgO"], errors="skip")
    assert np.isfinite(df["prediction"].iloc[[0, 3]]).all() and df["prediction"].iloc[[1, 2]].isna().all()
    assert "above 1e+12" in df["note"].iloc[1]
    with pytest.raises(BatchInputError, match="Fe1e308O"):
        model.predict(["NaCl", "Fe1e308O"])
    # A bracket's huge multiplier was reported as "malformed amount '1e'" (pymatgen writes 1e+308).
    notes = model.predict(["(Fe)1e308O", "((Fe1e6)1e6)1e6O", "(Fe)2O3"], errors="skip")["note"].tolist()
    assert notes[0] == "skipped: amount 1e308 is above 1e+12: not a formula unit"
    assert "once brackets are multiplied out" in notes[1] and not notes[2].startswith("skipped")


def test_frames_from_matminer_and_the_materials_project_just_work(tmp_path):
    """Issue 19: matminer's StrToComposition makes 'composition'; the Materials Project gives 'formula_pretty'."""
    import pandas as pd
    from pymatgen.core import Composition

    from irnet_hub.predictor import load_dir
    from irnet_hub.tables import read_inputs

    model = load_dir(REPO / "servables" / "mp-bulk-modulus")
    want = model.predict(["NaCl", "Fe2O3"])["prediction"].to_numpy()
    matminer = pd.DataFrame({"formula_in": ["NaCl", "Fe2O3"], "composition": [Composition("NaCl"), Composition("Fe2O3")]})
    mp = pd.DataFrame({"material_id": ["mp-22862", "mp-19770"], "formula_pretty": ["NaCl", "Fe2O3"]})
    for frame in (matminer, mp):
        np.testing.assert_array_equal(model.predict(frame)["prediction"].to_numpy(), want)
    np.testing.assert_array_equal(model.predict(matminer, column="formula_in")["prediction"].to_numpy(), want)
    with pytest.raises(InvalidInputError, match="has no column 'nope'"):
        model.predict(mp, column="nope")
    # A CSV of matminer's frame holds str(Composition): "Na1 Cl1", which parses.
    matminer.to_csv(tmp_path / "m.csv", index=False)
    assert read_inputs([tmp_path / "m.csv"]) == ["Na1 Cl1", "Fe2 O3"]
    np.testing.assert_array_equal(model.predict(read_inputs([tmp_path / "m.csv"]))["prediction"].to_numpy(), want)
