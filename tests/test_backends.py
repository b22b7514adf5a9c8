"""The same training code runs under Keras's JAX backend (what the GPU machine has).

Each run is a subprocess because Keras fixes its backend at import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# Real-data layer (`pytest -m "not slow"` leaves it out): trains under the JAX backend and reloads with TensorFlow.
pytestmark = pytest.mark.slow

SCRIPT = r"""
import json, sys
import keras, pandas as pd
from irnet_hub.training import train
from irnet_hub import artifact
df = pd.read_csv(sys.argv[1], keep_default_na=False).head(600)
info = train(df.iloc[:500], sys.argv[2], val_data=df.iloc[500:], architecture="64BARx2-32BAx2R-1",
             epochs=4, batch_size=64, learning_rate=1e-3, patience=4, progress=False, seed=3)
print(json.dumps({"backend": keras.backend.backend(), "val_mae": info["metrics"]["val"]["mae"],
                  "epochs": info["hyperparameters"]["epochs_run"]}))
"""


@pytest.mark.parametrize("backend", ["jax"])
def test_train_under_other_backend_and_load_with_tensorflow(backend, data_dir, tmp_path):
    csv = data_dir / "crabnet/benchmark_data/mp_bulk_modulus/train.csv"
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3", "JAX_PLATFORMS": "cpu"}
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(csv), str(tmp_path / "m")], env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["backend"] == backend and out["epochs"] == 4 and out["val_mae"] > 0

    # The model trained under JAX loads and predicts under TensorFlow (this process's backend)
    # identically to the NumPy forward pass used for prediction.
    import numpy as np

    from irnet_hub import artifact
    from irnet_hub.featurize.composition import featurize_compositions
    from irnet_hub.predictor import Predictor
    from irnet_hub.preprocessing import fill_missing

    X = featurize_compositions(["NaCl", "Fe2O3", "SiC", "LiCoO2"], errors="raise").features
    X = fill_missing(X, np.asarray(artifact.read_record(tmp_path / "m").scaler.feature_mean))
    keras_pred = artifact.load_keras_model(tmp_path / "m").predict(X, verbose=0)[:, 0]
    numpy_pred = Predictor.from_dir(tmp_path / "m").predict(["NaCl", "Fe2O3", "SiC", "LiCoO2"])["prediction"].to_numpy()
    np.testing.assert_allclose(keras_pred, numpy_pred, rtol=1e-4, atol=1e-3)
