"""The NumPy runtime on ensembles: one Keras functional model with output (n, 1 + k).

Column 0 is the members' ``Average``, columns 1..k each member
(``Concatenate``); members may end in ``Activation`` (linear, relu,
exponential, softplus). The model is built and saved with real Keras and the
NumPy forward pass must agree with Keras's on real Magpie features.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from tolerance import assert_f32_close, f32_scale

OQMD = "crabnet/benchmark_data/OQMD_Bandgap/train.csv"
ACTIVATIONS = ["exponential", "softplus", "relu", "linear"]


@pytest.fixture(scope="module")
def features(data_dir) -> np.ndarray:
    from irnet_hub.featurize.composition import featurize_compositions

    formulas = pd.read_csv(data_dir / OQMD, nrows=2000, keep_default_na=False)["formula"].tolist()
    X = featurize_compositions(formulas, errors="raise").features.astype(np.float32)
    return np.where(np.isnan(X), np.nanmean(X, axis=0), X).astype(np.float32)


def _ensemble(X: np.ndarray, activations: list[str], seed: int = 0):
    """k small members over a shared standardization, ending in the given activations."""
    import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input(shape=(X.shape[1],), name="features")
    norm = keras.layers.Normalization(mean=X.mean(0), variance=X.var(0) + 1e-3)(inp)
    members = []
    for i, act in enumerate(activations):
        h = keras.layers.Dense(32, activation="relu", name=f"m{i}_dense")(norm)
        h = keras.layers.BatchNormalization(name=f"m{i}_bn")(h)
        h = keras.layers.ReLU(name=f"m{i}_act")(h)
        h = keras.layers.Dense(1, name=f"m{i}_out")(h)
        h = keras.layers.Rescaling(0.5, offset=0.1, name=f"m{i}_scale")(h)
        members.append(keras.layers.Activation(act, name=f"m{i}_out_{act}")(h))
    mean = keras.layers.Average(name="mean")(members)
    out = keras.layers.Concatenate(name="ensemble")([mean, *members])
    return keras.Model(inp, out, name="ensemble")


@pytest.mark.float32_paths
def test_numpy_ensemble_equals_keras(tmp_path, features):
    from irnet_hub import artifact
    from irnet_hub.runtime import NumpyNetwork

    model = _ensemble(features, ACTIVATIONS)
    artifact.save_model_dir(model, tmp_path / "m", {"name": "ensemble"})
    net = NumpyNetwork.from_dir(tmp_path / "m")
    y_np = net(features)
    y_keras = artifact.load_keras_model(tmp_path / "m").predict(features, batch_size=4096, verbose=0)
    assert y_np.dtype == np.float32 and y_np.shape == y_keras.shape == (len(features), 5)
    assert net.n_outputs == 5 and net.ensemble_size == 4
    scale = max(1.0, float(np.max(np.abs(y_keras))))
    diff = float(np.max(np.abs(y_np - y_keras)))
    print(f"numpy vs keras, 4-member ensemble: max |diff| {diff:.3g} (largest output {scale:.4g})")
    assert diff <= 1e-5 * scale
    # column 0 is the members' mean, and the activations did what they say
    assert_f32_close(y_np[:, 0], y_np[:, 1:].mean(axis=1))  # float32 Average vs NumPy's mean
    assert (y_np[:, 1] > 0).all() and (y_np[:, 2] > 0).all() and (y_np[:, 3] >= 0).all()
    assert (y_np[:, 4] < 0).any()  # the linear member is not clipped


@pytest.mark.float32_paths
def test_predictor_reports_ensemble_mean_and_scaled_std(tmp_path, features, monkeypatch):
    from irnet_hub import artifact
    from irnet_hub.predictor import Predictor
    from irnet_hub.preprocessing import fit_scaler

    model = _ensemble(features, ["exponential", "exponential", "softplus"], seed=3)
    scaler = fit_scaler(features, np.zeros(len(features)))
    info = {"name": "ens3", "featurizer": {"name": "magpie145", "input_kind": "composition"},
            "target": {"name": "t", "unit": "eV"}, "scaler": scaler, "ensemble_size": 3, "std_scale": 2.0}
    artifact.save_model_dir(model, tmp_path / "m", info)
    pred = Predictor.from_dir(tmp_path / "m")
    df = pred.predict(["NaCl", "Fe2O3", "MgO"])
    from irnet_hub.featurize import get_featurizer

    features = get_featurizer(pred.featurizer).featurize(["NaCl", "Fe2O3", "MgO"]).features
    outputs = pred.predict_outputs(features)
    assert_f32_close(df["prediction"], outputs[:, 0])
    assert df["prediction_std"].dtype == np.float32
    assert_f32_close(df["prediction_std"], np.std(outputs[:, 1:], axis=1) * 2.0, scale=f32_scale(outputs))
    assert list(df.columns[:4]) == ["formula", "parsed_formula", "prediction", "prediction_std"]
    json.dumps(df["prediction_std"].tolist())  # JSON-ready

    # The DLHub entry point (the remote path) returns the same float32 std
    from irnet_hub.publish import dlhub_entry

    monkeypatch.setenv(dlhub_entry.SERVABLE_DIR_ENV, str(tmp_path / "m"))
    remote = dlhub_entry.predict(["NaCl", "Fe2O3", "MgO"])
    assert [r["prediction_std"] for r in remote] == df["prediction_std"].tolist()
    assert np.float32(remote[0]["prediction_std"]) == remote[0]["prediction_std"]  # exactly a float32 value


def test_two_member_ensemble_has_no_std_column(tmp_path, features):
    from irnet_hub import artifact
    from irnet_hub.predictor import Predictor
    from irnet_hub.preprocessing import fit_scaler

    model = _ensemble(features, ["linear", "relu"], seed=4)
    info = {"name": "ens2", "featurizer": {"name": "magpie145", "input_kind": "composition"},
            "target": {"name": "t", "unit": "eV"}, "scaler": fit_scaler(features, np.zeros(len(features)))}
    artifact.save_model_dir(model, tmp_path / "m", info)
    df = Predictor.from_dir(tmp_path / "m").predict(["NaCl"])
    assert "prediction_std" not in df.columns and len(df) == 1


def test_unsupported_activation_is_refused(tmp_path, features):
    import keras

    from irnet_hub import artifact
    from irnet_hub.errors import UnsupportedModelError
    from irnet_hub.runtime import NumpyNetwork

    inp = keras.Input(shape=(4,))
    out = keras.layers.Activation("tanh")(keras.layers.Dense(1)(inp))
    artifact.save_model_dir(keras.Model(inp, out), tmp_path / "m", {"name": "tanh"})
    with pytest.raises(UnsupportedModelError, match="Activation 'tanh' is not supported"):
        NumpyNetwork.from_dir(tmp_path / "m")


@pytest.mark.float32_paths
@pytest.mark.parametrize("transform", ["log1p", "none"])
def test_numpy_runs_the_zoo_ensemble_builder(tmp_path, features, transform):
    """The ensembles irnet_hub.networks.build_ensemble makes (shared layers with the training model)."""
    from irnet_hub import artifact
    from irnet_hub.networks import build_ensemble
    from irnet_hub.runtime import NumpyNetwork

    _, model = build_ensemble("64BARx2-32BARx1-1", features.shape[1], 3, feature_mean=features.mean(0),
                              feature_variance=features.var(0) + 1e-3, target_mean=1.0, target_scale=0.5,
                              target_transform=transform, seed=2)
    artifact.save_model_dir(model, tmp_path / "m", {"name": f"ens-{transform}", "ensemble_size": 3})
    net = NumpyNetwork.from_dir(tmp_path / "m")
    y_np = net(features)
    y_keras = artifact.load_keras_model(tmp_path / "m").predict(features, batch_size=4096, verbose=0)
    assert y_np.shape == y_keras.shape == (len(features), 4) and net.ensemble_size == 3
    assert float(np.max(np.abs(y_np - y_keras))) <= 1e-5 * max(1.0, float(np.max(np.abs(y_keras))))
    if transform == "log1p":
        assert (y_np[:, 1:] > -1).all()  # exp(.) - 1


@pytest.mark.float32_paths
def test_log_cap_keeps_far_off_inputs_finite(tmp_path, features):
    """Without the cap a log-target ensemble overflows to inf on an input far outside training."""
    from irnet_hub import artifact
    from irnet_hub.networks import build_ensemble
    from irnet_hub.runtime import NumpyNetwork

    kw = dict(feature_mean=features.mean(0), feature_variance=features.var(0) + 1e-3, target_mean=3.0,
              target_scale=40.0, target_transform="log", seed=2)
    far = features[:4] * 1e6
    near = {}
    for cap in (None, 5.0):
        _, model = build_ensemble("64BARx2-32BARx1-1", features.shape[1], 3, log_cap=cap, **kw)
        artifact.save_model_dir(model, tmp_path / str(cap), {"name": "capped", "ensemble_size": 3})
        net = NumpyNetwork.from_dir(tmp_path / str(cap))
        keras_out = artifact.load_keras_model(tmp_path / str(cap)).predict(far, verbose=0)
        with np.errstate(over="ignore"):
            np_out = net(far)
        if cap is None:
            assert not np.isfinite(keras_out).all() and not np.isfinite(np_out).all()
        else:
            assert np.isfinite(keras_out).all() and (keras_out <= np.exp(5.0) * (1 + 1e-6)).all()
            assert_f32_close(np_out, keras_out)
        near[cap] = net(features)[:, 1:]
    # Below the cap nothing changes (same seed, same weights): only the far-off values are bounded.
    below = near[None] < np.exp(5.0) * 0.999
    assert below.mean() > 0.2
    assert_f32_close(near[5.0][below], near[None][below])  # float32 round-off of cap - (cap - t)


@pytest.mark.float32_paths
def test_dense_batchnorm_relu_are_fused_only_where_safe(tmp_path, features):
    """Dense-BN-ReLU runs as one product; a Dense whose output is also used elsewhere stays as it is."""
    import keras

    from irnet_hub import artifact
    from irnet_hub.runtime import NumpyNetwork

    inp = keras.Input((features.shape[1],))
    x = keras.layers.Normalization(mean=features.mean(0), variance=features.var(0) + 1e-3)(inp)
    d1 = keras.layers.Dense(16)(x)
    fused = keras.layers.ReLU()(keras.layers.BatchNormalization()(d1))  # d1 also feeds the Add: not fused
    h = keras.layers.Add()([fused, d1])
    d2 = keras.layers.ReLU()(keras.layers.BatchNormalization()(keras.layers.Dense(16)(h)))  # fused
    out = keras.layers.Dense(1)(keras.layers.BatchNormalization()(keras.layers.Dense(8, use_bias=False)(d2)))
    model = keras.Model(inp, out)
    for layer in model.layers:  # non-trivial moving statistics, as after training
        if isinstance(layer, keras.layers.BatchNormalization):
            g, b, m, v = layer.get_weights()
            rng = np.random.default_rng(len(g))
            layer.set_weights([g * rng.uniform(0.5, 2, g.shape), b + rng.normal(0, 0.3, b.shape),
                               m + rng.normal(0, 0.5, m.shape), v * rng.uniform(0.5, 3, v.shape)])
    artifact.save_model_dir(model, tmp_path / "m", {"name": "fuse"})
    net = NumpyNetwork.from_dir(tmp_path / "m")
    kinds = [n.kind for n in net.nodes]
    assert kinds.count("BatchNormalization") == 1 and kinds.count("ReLU") == 1  # the first block's, kept
    want = model.predict(features, verbose=0)
    assert_f32_close(net(features), want)
