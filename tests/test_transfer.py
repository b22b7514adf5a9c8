"""`irnet train --init-from MODEL`: transfer learning from a shipped model's trunk."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from irnet_hub import artifact
from irnet_hub.errors import InvalidInputError

# Real-data layer: four short trainings on 4,328 shear moduli (about 1 minute on 2 cores).
pytestmark = pytest.mark.slow

SHEAR = "crabnet/benchmark_data/mp_shear_modulus"
BULK_FEATURES = "magpie145+oliynyk"  # the featurizer of the shipped mp-bulk-modulus, the source below


@pytest.fixture(scope="module")
def shear(data_dir):
    read = lambda s: pd.read_csv(data_dir / SHEAR / f"{s}.csv")  # noqa: E731
    return read("train"), read("val")


def _train(shear, out, **kw):
    from irnet_hub.training import train

    tr, va = shear
    kw.setdefault("featurizer", BULK_FEATURES)
    return train(tr, out, val_data=va, batch_size=256, patience=50, target_name="shear modulus", unit="GPa",
                 seed=0, progress=False, compare_random_forest=False, **kw)  # no forest: not what is tested


def test_init_from_starts_at_the_source_weights(shear, tmp_path):
    # A learning rate of 1e-12 leaves the kernels where the source put them.
    info = _train(shear, tmp_path / "m", init_from="mp-bulk-modulus", epochs=1, learning_rate=1e-12)
    assert info["architecture"] == "irnet-17/8"  # the source's, since none was given
    assert info["hyperparameters"]["init_from"] == "mp-bulk-modulus"
    new = artifact.load_keras_model(tmp_path / "m")
    src = artifact.load_keras_model("servables/mp-bulk-modulus")
    for layer in ("fc1", "fc9", "proj1", "output"):
        np.testing.assert_allclose(new.get_layer(layer).get_weights()[0],
                                   src.get_layer(f"m0_{layer}").get_weights()[0], atol=1e-7)
    # The trunk keeps the feature standardization it learnt on.
    np.testing.assert_allclose(np.ravel(new.get_layer("standardize").input_mean),
                               np.ravel(src.get_layer("standardize").input_mean), rtol=1e-6)
    assert not np.allclose(new.get_layer("unstandardize").scale, src.get_layer("m0_unstandardize").scale)


def test_transfer_from_bulk_beats_scratch_at_the_same_short_budget(shear, tmp_path):
    kw = dict(architecture="irnet-17/8", epochs=4, learning_rate=5e-4)
    scratch = _train(shear, tmp_path / "scratch", **kw)["metrics"]["val"]["mae"]
    transfer = _train(shear, tmp_path / "transfer", init_from="mp-bulk-modulus", **kw)["metrics"]["val"]["mae"]
    assert transfer < 0.9 * scratch, (transfer, scratch)


def test_init_from_refuses_a_mismatch(shear, tmp_path):
    with pytest.raises(InvalidInputError, match="architecture 'irnet-17/4' at layer"):
        _train(shear, tmp_path / "a", init_from="mp-bulk-modulus", architecture="irnet-17/4", epochs=1)
    with pytest.raises(InvalidInputError, match="ward2017 features"):
        _train(shear, tmp_path / "b", init_from="matbench-phonons-structure", epochs=1)
    with pytest.raises(InvalidInputError, match="magpie145\\+oliynyk features, not magpie145; pass --featurizer"):
        _train(shear, tmp_path / "c", init_from="mp-bulk-modulus", featurizer="magpie145", epochs=1)
    assert not any((tmp_path / d).exists() for d in "abc")  # refused before anything is written


def test_cli_init_from(shear, tmp_path, data_dir):
    from irnet_hub.cli import main

    train_csv = str(data_dir / SHEAR / "train.csv")
    runner = CliRunner()
    bad = runner.invoke(main, ["train", train_csv, "-o", str(tmp_path / "x"), "--init-from", "no-such-model"])
    assert bad.exit_code != 0 and "no-such-model" in bad.output and "Traceback" not in bad.output
    ok = runner.invoke(main, ["train", train_csv, "-o", str(tmp_path / "y"), "--init-from", "servables/mp-bulk-modulus",
                              "--featurizer", BULK_FEATURES, "--epochs", "1", "--batch-size", "512", "--json"])
    assert ok.exit_code == 0, ok.output
    out = json.loads(ok.output[ok.output.index("{"):])
    assert out["architecture"] == "irnet-17/8" and out["hyperparameters"]["init_from"] == "servables/mp-bulk-modulus"
