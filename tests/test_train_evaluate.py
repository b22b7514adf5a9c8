"""A real training run on Materials Project bulk moduli, evaluation, baseline, save/load."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from irnet_hub import artifact
from irnet_hub.errors import InvalidInputError

# Real-data layer (`pytest -m "not slow"` leaves it out): trains IRNet-17 at a quarter of the paper's width on
# 4,414 bulk moduli (about 25 s on 2 cores; full width took 60 s and proves nothing more here).
pytestmark = pytest.mark.slow

BULK = "crabnet/benchmark_data/mp_bulk_modulus"


@pytest.fixture(scope="session")
def bulk(data_dir):
    read = lambda s: pd.read_csv(data_dir / BULK / f"{s}.csv")  # noqa: E731
    return read("train"), read("val"), read("test")


@pytest.fixture(scope="session")
def trained(bulk, tmp_path_factory):
    from irnet_hub.training import train

    tr, va, _ = bulk
    out = tmp_path_factory.mktemp("models") / "bulk-irnet17"
    info = train(tr, out, val_data=va, architecture="irnet-17/4", epochs=25, batch_size=256,
                 learning_rate=1e-3, patience=8, target_name="bulk modulus", unit="GPa",
                 seed=0, progress=False, dataset="mp-bulk-modulus",
                 compare_random_forest=False)  # the forest reference has its own test below
    return out, info


def test_training_beats_mean_predictor(trained, bulk):
    from irnet_hub.evaluation import evaluate

    out, info = trained
    tr, _, te = bulk
    m = evaluate(out, te)
    baseline_mae = float(np.mean(np.abs(te.target - tr.target.mean())))
    assert m["n"] == len(te) and m["n_skipped"] == 0
    # "clearly beats": under 60 % of the mean predictor's error on the held-out test split
    assert m["mae"] < 0.6 * baseline_mae, (m["mae"], baseline_mae)
    assert 0.5 < m["r2"] <= 1.0
    assert m["rmse"] >= m["mae"] and m["p90_abs_error"] >= 0


def test_model_directory_is_self_describing(trained):
    out, info = trained
    on_disk = json.loads((out / artifact.INFO_FILE).read_text())
    assert on_disk["featurizer"]["name"] == "magpie145" and len(on_disk["featurizer"]["labels"]) == 145
    assert on_disk["target"] == {"name": "bulk modulus", "unit": "GPa"}
    assert len(on_disk["scaler"]["feature_mean"]) == 145
    assert on_disk["hyperparameters"]["batch_size"] == 256
    assert on_disk["data"]["n_train"] == 4414 and on_disk["data"]["n_val"] == 946
    assert "keras" in on_disk["versions"] and on_disk["element_counts"]["O"] > 100
    # The network's float32 weights only: no optimizer state (Adam's would triple the file; issue 19).
    assert (out / "model.weights.h5").stat().st_size < 4 * on_disk["n_parameters"] * 1.2 + 300_000
    assert not (out / "checkpoint").exists()
    for name in artifact.KERAS_FILES + (artifact.LOG_FILE, artifact.MANIFEST_FILE):
        assert (out / name).is_file(), name
    log = pd.read_csv(out / artifact.LOG_FILE)
    assert len(log) == on_disk["hyperparameters"]["epochs_run"] and "val_mae" in log.columns
    assert artifact.verify_manifest(out) == []
    (out / artifact.LOG_FILE).write_text((out / artifact.LOG_FILE).read_text() + "x\n")
    assert artifact.verify_manifest(out) == [f"{artifact.LOG_FILE}: sha256 mismatch"]
    artifact.write_manifest(out)


def test_stock_keras_roundtrip_identical(trained, bulk):
    import keras

    from irnet_hub.featurize.composition import featurize_compositions
    from irnet_hub.preprocessing import fill_missing

    out, _ = trained
    X = featurize_compositions(list(bulk[2].formula[:300]), errors="raise").features
    Xf = fill_missing(X, np.asarray(artifact.read_info(out)["scaler"]["feature_mean"]))
    stock = keras.saving.load_model(str(out), safe_mode=True)  # no custom objects needed
    ours = artifact.load_keras_model(out)  # checked first, then the same stock loader
    np.testing.assert_array_equal(stock.predict(Xf, batch_size=4096, verbose=0), ours.predict(Xf, batch_size=4096, verbose=0))


def test_refuses_to_overwrite_and_bad_architecture(trained, bulk, tmp_path):
    from irnet_hub.training import train

    out, _ = trained
    with pytest.raises(InvalidInputError, match="already holds"):
        train(bulk[0].head(50), out, progress=False)
    with pytest.raises(InvalidInputError, match="BARx"):
        train(bulk[0].head(50), tmp_path / "x", architecture="1024BARx-1", progress=False)


def test_bad_training_rows_are_skipped_and_reported(bulk, tmp_path):
    from irnet_hub.training import train

    df = pd.concat([bulk[0].head(200), pd.DataFrame({"formula": ["Xx2O", "Fe2(O3"], "target": [1.0, 2.0]})])
    info = train(df, tmp_path / "m", architecture="32BARx2-1", epochs=2, batch_size=64,
                 patience=2, progress=False, seed=1)
    assert info["data"]["n_skipped"] == 2
    assert any("Xx2O" in s for s in info["data"]["skipped_rows"])
    assert info["data"]["n_train"] + info["data"]["n_val"] == 200


def test_resume_continues_from_checkpoint(bulk, tmp_path):
    """An interrupted run picks up from its last epoch instead of starting again."""
    import keras

    from irnet_hub.training import train

    out = tmp_path / "resumable"

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # the public callbacks hook, as a user's monitor would stop a run
        train(bulk[0].head(300), out, architecture="32BARx2-1", epochs=6, patience=50, progress=False,
              callbacks=[Interrupt()], backup_every_s=0)
    assert (out / "checkpoint" / "backup").is_dir()
    assert len(pd.read_csv(out / artifact.LOG_FILE)) == 3
    info = train(bulk[0].head(300), out, architecture="32BARx2-1", epochs=6, patience=50, progress=False, resume=True,
                 backup_every_s=0)
    log = pd.read_csv(out / artifact.LOG_FILE)
    assert list(log.epoch) == [0, 1, 2, 3, 4, 5]  # epochs 3..5 appended, not 0..5 again
    assert info["hyperparameters"]["epochs_run"] == 3


def test_a_fresh_run_does_not_pick_up_a_killed_runs_backup(bulk, tmp_path):
    """Without --resume, a backup left by a killed run in the same folder is discarded: Keras would
    otherwise restore it silently and the new run would start at the old run's epoch."""
    import keras

    from irnet_hub.training import train

    out = tmp_path / "again"

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(bulk[0].head(300), out, architecture="32BARx2-1", epochs=5, patience=50, progress=False,
              callbacks=[Interrupt()], backup_every_s=0)
    info = train(bulk[0].head(300), out, architecture="32BARx2-1", epochs=5, patience=50, progress=False)
    assert list(pd.read_csv(out / artifact.LOG_FILE).epoch) == [0, 1, 2, 3, 4]
    assert info["hyperparameters"]["epochs_run"] == 5


def test_baseline_random_forest(bulk):
    from irnet_hub.random_forest import baseline

    tr, va, te = bulk
    r = baseline(tr, val_data=va, test_data=te, grid={"n_estimators": [50], "max_features": [0.33, 1.0]}, seed=0)
    assert len(r["grid"]) == 2 and r["params"]["n_estimators"] == 50
    assert r["val"]["mae"] == min(g["val_mae"] for g in r["grid"])
    mean_mae = float(np.mean(np.abs(te.target - tr.target.mean())))
    assert r["test"]["mae"] < 0.6 * mean_mae and r["test"]["n"] == len(te)


def test_metrics_definition():
    from irnet_hub.metrics import regression_metrics

    m = regression_metrics([0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 2.0, 7.0])
    assert m["mae"] == 1.0 and m["rmse"] == 2.0 and m["n"] == 4
    assert m["r2"] == pytest.approx(1 - 16 / 5)
    assert m["p90_abs_error"] == pytest.approx(np.percentile([0, 0, 0, 4], 90))


def test_plots_written(tmp_path):
    from irnet_hub.metrics import plot_results

    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    paths = plot_results(y, y + rng.normal(scale=0.1, size=200), tmp_path, unit="eV")
    for p in paths.values():
        assert open(p, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("n", [300, 5000])
def test_plots_say_what_they_show_and_an_outlier_does_not_set_the_axes(tmp_path, monkeypatch, n):
    """Issue 19: MAE, R^2 and n on the parity plot, property and unit on its axes, a density plot
    for large sets, axes not stretched by one outlier; the error CDF on a log axis."""
    from matplotlib.collections import PolyCollection
    from matplotlib.figure import Figure

    from irnet_hub.metrics import HEXBIN_ABOVE, plot_results

    seen = []
    real = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda fig, *a, **k: seen.append(fig.axes[0]) or real(fig, *a, **k))
    rng = np.random.default_rng(0)
    y = rng.uniform(-3, 1, size=n)
    pred = y + rng.normal(scale=0.05, size=n)
    pred[0] = 40.0  # one wild prediction
    plot_results(y, pred, tmp_path, unit="eV/atom", title="m", property_name="formation enthalpy")
    parity, cdf = seen
    assert parity.get_xlim()[1] < 2 and parity.get_ylim()[1] < 2  # not stretched to 40
    text = " ".join(t.get_text() for t in parity.texts)
    mae = np.mean(np.abs(pred - y))
    assert f"MAE {mae:.4g} eV/atom" in text and f"n = {n:,}" in text and "R^2" in text and "1 outside the axes" in text
    assert parity.get_xlabel() == "reference formation enthalpy (eV/atom)"
    assert parity.get_ylabel() == "predicted formation enthalpy (eV/atom)"
    assert any(isinstance(c, PolyCollection) for c in parity.collections) == (n > HEXBIN_ABOVE)  # hexbin
    assert cdf.get_xscale() == "log" and "formation enthalpy" in cdf.get_xlabel()


def test_float16_weights_halve_size_and_stay_close(trained, bulk, tmp_path):
    import keras

    from irnet_hub.evaluation import evaluate

    out, _ = trained
    half = artifact.convert_weights(out, tmp_path / "half", "float16")
    # The weight data halves; HDF5's own structure (~0.19 MB for this network's 104 datasets) does not.
    assert (half / "model.weights.h5").stat().st_size < 0.5 * (out / "model.weights.h5").stat().st_size + 200_000
    net = keras.saving.load_model(str(half), safe_mode=True)
    assert {l.dtype for l in net.layers if l.name.startswith("fc")} == {"float16"}
    assert net.get_layer("standardize").dtype == "float32"
    assert artifact.read_info(half)["weights_dtype"] == "float16" and artifact.verify_manifest(half) == []
    m32, m16 = evaluate(out, bulk[2])["mae"], evaluate(half, bulk[2])["mae"]
    assert abs(m16 - m32) / m32 < 0.02


def test_ensemble_of_user_data_gives_calibrated_std_and_a_random_forest_reference(bulk, tmp_path):
    """train(members=3): three networks side by side, prediction_std calibrated on validation (issue 19)."""
    from irnet_hub.predictor import Predictor
    from irnet_hub.training import train

    tr, va, _ = bulk
    out = tmp_path / "ensemble"
    info = train(tr.head(1500), out, val_data=va, members=3, architecture="64BARx2-32BARx1-1", epochs=6,
                 batch_size=128, learning_rate=1e-3, patience=50, target_name="bulk modulus", unit="GPa",
                 progress=False)  # fmt: skip
    assert info["ensemble_size"] == 3 and info["std_scale"] > 0
    assert info["baseline"]["val"]["mae"] > 0 and info["baseline"]["train_rows"] == 1500
    df = Predictor.from_dir(out).predict(va["formula"])
    assert (df["prediction_std"] > 0).all()
    # The std scale was fitted so that 68.3 % of validation errors lie within one std.
    within = (df["prediction"] - va["target"].to_numpy()).abs().to_numpy() <= df["prediction_std"].to_numpy()
    assert abs(within.mean() - 0.683) < 0.03
    assert info["metrics"]["val"]["mae"] == pytest.approx(np.mean(np.abs(df["prediction"] - va["target"].to_numpy())),
                                                          rel=1e-3)  # fmt: skip


def test_an_ensemble_refuses_a_transfer_source_with_fewer_members(hub_model_dir, bulk, tmp_path):
    from irnet_hub.training import train

    with pytest.raises(InvalidInputError, match="at most 1 members"):
        train(bulk[0].head(50), tmp_path / "m", init_from=hub_model_dir, members=3, epochs=1, progress=False)
    assert not (tmp_path / "m").exists()  # refused before anything was written


def test_resume_is_refused_on_a_finished_model_or_other_data(bulk, tmp_path):
    """Issue 16: --resume on a finished model retrained it on other data and overwrote it."""
    import keras

    from irnet_hub.training import train

    kw = dict(architecture="32BARx2-1", epochs=4, patience=50, progress=False, backup_every_s=0)
    done = tmp_path / "done"
    train(bulk[0].head(200), done, **kw)
    assert not (done / "checkpoint").exists()  # resume state is not left in a finished model
    weights = (done / "model.weights.h5").read_bytes()
    with pytest.raises(InvalidInputError, match="nothing to resume"):
        train(bulk[0].iloc[200:400], done, resume=True, **kw)
    assert (done / "model.weights.h5").read_bytes() == weights  # untouched

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt

    cut = tmp_path / "cut"
    with pytest.raises(KeyboardInterrupt):
        train(bulk[0].head(200), cut, callbacks=[Interrupt()], **kw)
    with pytest.raises(InvalidInputError, match=r"train_data, target_name, config.epochs differ"):
        train(bulk[0].iloc[200:400], cut, resume=True, target_name="shear", **{**kw, "epochs": 5})
    info = train(bulk[0].head(200), cut, resume=True, **kw)  # the same data and settings: resumes
    assert info["hyperparameters"]["epochs_run"] == 3


def test_output_rules_are_explicit_and_checked_against_the_targets(bulk, tmp_path):
    """Issue 16: 'volume change' on all-negative targets recorded non_negative and clamped predictions to 0."""
    from irnet_hub.training import train

    df = bulk[0].head(150).assign(target=lambda d: -d["target"] / 100)  # all negative
    kw = dict(architecture="32BARx2-1", epochs=2, patience=5, progress=False)
    info = train(df, tmp_path / "suggested", target_name="volume change", **kw)
    assert not info["output_rules"]["non_negative"]  # the name suggested it; the targets refuse it
    assert "contradict" in info["output_rules"]["dropped"][0]
    with pytest.raises(InvalidInputError, match="output rule non_negative contradicts this training target"):
        train(df, tmp_path / "given", output_rules={"non_negative": True}, **kw)
    assert not (tmp_path / "given" / "irnet.json").exists()
    elements = pd.DataFrame({"formula": ["Fe", "NaCl", "MgO"] * 20, "target": [0.5, -2.0, -3.0] * 20})
    with pytest.raises(InvalidInputError, match="elements_are_zero contradicts"):
        train(elements, tmp_path / "el", output_rules={"elements_are_zero": True}, **kw)
    info = train(df.assign(target=-df["target"]), tmp_path / "explicit", target_name="anything",
                 output_rules={"non_negative": True}, **kw)
    assert info["output_rules"]["non_negative"] and info["output_rules"]["source"] == "given"
