"""Servable folders: Keras HF layout, SavedModel export, manifest, model card."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from irnet_hub import artifact
from irnet_hub.errors import IntegrityError, InvalidInputError
from tolerance import assert_f32_close

# Real-data layer (`pytest -m "not slow"` leaves it out): trains a small model and exports a TensorFlow SavedModel.
pytestmark = pytest.mark.slow

FORMULAS = ["Fe2O3", "NaCl", "SiC", "Al2O3", "MgO", "TiO2", "Cu", "GaAs"]


def _features(formulas):
    from irnet_hub.featurize.composition import featurize_compositions

    return featurize_compositions(formulas).features


# --------------------------------------------------------------------------- layout


def test_layout_is_keras_hf_layout_plus_irnet_files(hub_servable_dir, hub_model_dir):
    from keras.src.saving import saving_lib

    from irnet_hub.publish.servable import KERAS_HF_FILES

    # The names keras.saving.save_model(model, "hf://...") uploads (_upload_model_to_hf:
    # _save_model_to_dir + README.md).
    keras_names = {saving_lib._CONFIG_FILENAME, saving_lib._METADATA_FILENAME, saving_lib._VARS_FNAME_H5, "README.md"}
    assert set(KERAS_HF_FILES) == keras_names
    files = {p.relative_to(hub_servable_dir).as_posix() for p in hub_servable_dir.rglob("*") if p.is_file()}
    assert keras_names <= files
    assert {"irnet.json", "training_log.csv", "dlhub.json", "manifest.json", "saved_model/saved_model.pb",
            "saved_model/dlhub.json", "saved_model/variables/variables.index"} <= files
    # The network, its metadata and its log are copied byte for byte.
    for name in ("config.json", "model.weights.h5", "irnet.json", "training_log.csv"):
        assert (hub_servable_dir / name).read_bytes() == (hub_model_dir / name).read_bytes(), name


def test_manifest_covers_every_file(hub_servable_dir):
    manifest = json.loads((hub_servable_dir / "manifest.json").read_text())["files"]
    files = {p.relative_to(hub_servable_dir).as_posix() for p in hub_servable_dir.rglob("*") if p.is_file()}
    assert set(manifest) == files - {"manifest.json"}
    assert artifact.verify_manifest(hub_servable_dir) == []
    for rel, entry in manifest.items():
        assert entry["sha256"] == artifact.sha256_file(hub_servable_dir / rel)


@pytest.mark.float32_paths
def test_stock_keras_loads_without_irnet_hub(hub_servable_dir, tmp_path):
    """A fresh interpreter loads the folder with keras.saving.load_model and never imports irnet_hub."""
    from irnet_hub.predictor import load_dir

    X = _features(FORMULAS).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    code = (
        "import sys, json, numpy as np, keras\n"
        "m = keras.saving.load_model(sys.argv[1])\n"
        "y = m.predict(np.load(sys.argv[2]), verbose=0).ravel().tolist()\n"
        "assert not any(k == 'irnet_hub' or k.startswith('irnet_hub.') for k in sys.modules), 'irnet_hub imported'\n"
        "print('RESULT', json.dumps(y))\n"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}
    r = subprocess.run([sys.executable, "-c", code, str(hub_servable_dir), str(tmp_path / "x.npy")],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    y = np.array(json.loads(r.stdout.split("RESULT", 1)[1]))
    # Same numbers as irnet-hub's own (NumPy) forward pass over the same folder.
    want = load_dir(hub_servable_dir).predict_features(X)
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-3)


@pytest.mark.float32_paths
def test_saved_model_signature_and_outputs(hub_servable_dir):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(hub_servable_dir / "saved_model"))
    assert "serving_default" in loaded.signatures
    fn = loaded.signatures["serving_default"]
    (spec,) = fn.structured_input_signature[1].values()
    assert spec.dtype == tf.float32
    assert spec.shape.as_list() == [None, 145]
    assert list(fn.structured_outputs) == ["output_0"]

    X = _features(FORMULAS).astype(np.float32)
    X = np.where(np.isnan(X), np.asarray(artifact.read_info(hub_servable_dir)["scaler"]["feature_mean"], np.float32), X)
    got = fn(tf.constant(X))["output_0"].numpy()
    assert got.shape == (len(FORMULAS), 1)
    want = artifact.load_keras_model(hub_servable_dir).predict(X, verbose=0)
    assert_f32_close(got, want)


def test_export_from_another_keras_backend_runs_in_a_tensorflow_subprocess(hub_model_dir, tmp_path, monkeypatch):
    """Under JAX/PyTorch backends the export runs in a subprocess with KERAS_BACKEND=tensorflow."""
    import keras

    from irnet_hub.publish import servable

    calls = []
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    monkeypatch.setattr(servable, "_export_here", lambda *a: calls.append(a))  # must not run in this process
    out = servable.export_saved_model(hub_model_dir, tmp_path / "sm")
    assert not calls
    assert (out / "saved_model.pb").is_file()
    # Serving signature checked and outputs equal to the Keras model's (relative 1e-5), else it raises.
    assert np.isfinite(servable.check_saved_model(hub_model_dir, out))


# --------------------------------------------------------------------------- model card


def test_model_card_parses_with_huggingface_hub(hub_servable_dir):
    from huggingface_hub import ModelCard, ModelCardData
    from huggingface_hub.repocard_data import model_index_to_eval_results

    from irnet_hub.data import DATASETS

    info = artifact.read_info(hub_servable_dir)
    card = ModelCard.load(hub_servable_dir / "README.md")
    data = card.data
    assert data.library_name == "keras"
    assert {"materials-science", "irnet", "regression", "bulk-modulus"} <= set(data.tags)
    assert data.license == "cc-by-4.0"  # Materials Project data are CC BY 4.0
    # None of our splits is on the Hub as a dataset (data.Dataset.hf_dataset), so the card names their URL.
    source = DATASETS["mp-bulk-modulus"].source
    assert source == "https://github.com/anthony-wang/CrabNet/tree/master/data/benchmark_data/mp_bulk_modulus"
    assert data.datasets == [source]

    # model-index in the Hub's schema: parses back into EvalResults with the recorded test metrics.
    meta = data.to_dict()
    name, results = model_index_to_eval_results(meta["model-index"])
    by_metric = {r.metric_type: r for r in results}
    assert set(by_metric) == {"mae", "rmse", "r_squared"}  # as Hugging Face `evaluate` names them
    for metric_type, r in by_metric.items():
        key = {"r_squared": "r2"}.get(metric_type, metric_type)
        assert r.task_type == "tabular-regression"
        assert r.dataset_type == source
        assert r.dataset_split == "test"
        assert r.metric_value == pytest.approx(info["metrics"]["test"][key], rel=1e-5)
    # And the whole front matter round-trips through ModelCardData.
    again = ModelCardData(**meta)
    assert again.eval_results == data.eval_results

    body = card.text
    for needle in ("## Intended use", "## Training data and split", "## Architecture and training", "## Metrics",
                   "## Limitations", "## How to cite", "polymorphs", "10.1145/3292500.3330703",
                   DATASETS["mp-bulk-modulus"].citation, "CrabNet (Wang et al. 2021)", "64BARx2-32BARx1-1",
                   "(4 layers)", f"{info['n_parameters']:,}", "Rare elements", "Out-of-distribution"):
        assert needle in body, needle


def test_card_baseline_and_anchor_rows_and_no_dataset():
    from huggingface_hub import ModelCard

    from irnet_hub.publish.card import render_card

    info = {
        "name": "demo", "architecture": "irnet-17", "n_parameters": 1000,
        "featurizer": {"name": "magpie145", "version": "1", "input_kind": "composition", "n_features": 145},
        "target": {"name": "band gap", "unit": "eV"},
        "data": {"dataset": None, "train": "my.csv", "val": "10% of train, random (seed 0)", "n_train": 10, "n_val": 2},
        "metrics": {"val": {"mae": 0.4, "rmse": 0.5, "r2": 0.7, "n": 2}},
        "baseline": {"val": {"mae": 0.55, "rmse": 0.6, "r2": 0.6, "n": 2}},
        "anchors": {"ElemNet": {"mae": 0.9, "note": "different split"}},
    }
    text = render_card(info)
    card = ModelCard(text)
    assert card.data.license == "mit"  # no known data set: the project's licence
    assert card.data.datasets is None
    assert card.data.eval_results[0].dataset_split == "validation"
    assert "| RandomForest baseline (same features and split) | validation | 0.55 |" in text
    assert "| ElemNet (published; different split) | test | 0.9 |" in text
    assert "(17 layers)" in text and "IRNet (a shortcut around every" in text
    assert "The training data:" not in text  # nothing to cite beyond the paper and features


# --------------------------------------------------------------------------- errors and CLI


def test_build_refuses_bad_inputs(hub_model_dir, hub_servable_dir, tmp_path):
    from irnet_hub.publish.servable import build_servable

    with pytest.raises(InvalidInputError, match="no such model directory"):
        build_servable(tmp_path / "missing", tmp_path / "out")
    with pytest.raises(InvalidInputError, match="not empty"):
        build_servable(hub_model_dir, hub_servable_dir)
    bad = artifact.copy_model_dir(hub_model_dir, tmp_path / "tampered")
    data = bytearray((bad / "model.weights.h5").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (bad / "model.weights.h5").write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="sha256 mismatch"):
        build_servable(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_cli_servable_build(hub_model_dir, tmp_path):
    from click.testing import CliRunner

    from irnet_hub.cli import main
    from irnet_hub.publish.servable import is_servable

    runner = CliRunner()
    out = tmp_path / "built"
    r = runner.invoke(main, ["servable", "build", str(hub_model_dir), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert is_servable(out) and artifact.verify_manifest(out) == []
    assert str(out) in r.output

    r = runner.invoke(main, ["servable", "build", str(tmp_path / "nope"), "--out", str(tmp_path / "x")])
    assert r.exit_code == 2
    assert "no such model directory" in r.output and "Traceback" not in r.output
    r = runner.invoke(main, ["servable", "build", str(hub_model_dir), "--out", str(out)])
    assert r.exit_code == 2 and "not empty" in r.output
    r = runner.invoke(main, ["servable", "build", str(hub_model_dir), "--out", str(out), "--overwrite"])
    assert r.exit_code == 0, r.output
    assert artifact.verify_manifest(out) == []


def test_a_transfer_models_card_names_its_base_model():
    """Issue 19: the card metadata says where a transfer model started (base_model, a Hub repo id)."""
    from irnet_hub.publish.card import card_data

    record = {"name": "expt-gap", "target": {"name": "band gap", "unit": "eV"},
              "metrics": {"val": {"mae": 0.3, "rmse": 0.4, "r2": 0.8, "n": 2}}}
    assert "base_model" not in card_data(record).to_dict()
    transfer = {**record, "hyperparameters": {"init_from": "oqmd-bandgap"}}
    assert card_data(transfer).to_dict()["base_model"] == "irnet-hub/oqmd-bandgap"  # the registered model's repo
    own = {**record, "hyperparameters": {"init_from": "my-lab/irnet-gap"}}
    assert card_data(own).to_dict()["base_model"] == "my-lab/irnet-gap"
    local = {**record, "hyperparameters": {"init_from": "/tmp/some/folder/model.keras"}}
    assert "base_model" not in card_data(local).to_dict()  # a local file is no Hub id


def test_a_model_trained_further_from_its_own_weights_is_no_transfer():
    """A zoo model continued from its previously shipped weights names no base_model (that would be
    itself) and its card says it was continued, not transferred."""
    from irnet_hub.publish.card import card_data, render_card

    record = {"name": "oqmd-bandgap", "target": {"name": "band gap", "unit": "eV"},
              "hyperparameters": {"init_from": "oqmd-bandgap", "learning_rate": 1e-3, "epochs_max": 90,
                                  "epochs_run": 90, "schedule": "linear warm-up 3 epochs, then cosine decay"},
              "metrics": {"val": {"mae": 0.05, "rmse": 0.1, "r2": 0.9, "n": 2}}}
    assert "base_model" not in card_data(record).to_dict()
    text = render_card(record)
    assert "continued from the weights of the previously shipped `oqmd-bandgap`" in text
    assert "transfer learning" not in text


def test_card_names_the_hub_dataset_id_where_the_split_is_on_the_hub(hub_servable_dir, monkeypatch):
    import dataclasses

    from irnet_hub import artifact
    from irnet_hub.data import DATASETS
    from irnet_hub.publish.card import card_data

    on_hub = dataclasses.replace(DATASETS["mp-bulk-modulus"], hf_dataset="some-lab/mp-bulk-modulus-splits")
    monkeypatch.setitem(DATASETS, "mp-bulk-modulus", on_hub)
    data = card_data(artifact.read_info(hub_servable_dir))
    assert data.datasets == ["some-lab/mp-bulk-modulus-splits"]
    assert {r.dataset_type for r in data.eval_results} == {"some-lab/mp-bulk-modulus-splits"}
