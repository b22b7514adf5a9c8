"""in_training / training_value: which compositions a model was trained on (issue 18, part 6)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from irnet_hub.errors import IntegrityError
from irnet_hub.training_set import TRAINING_SET_FILE, TrainingSet, composition_key

REPO = Path(__file__).resolve().parents[1]


def test_one_key_per_composition_however_written():
    from pymatgen.core import Composition, Lattice, Structure

    fe2o3 = composition_key("Fe2O3")
    assert fe2o3 is not None
    assert composition_key("Fe4O6") == composition_key("Fe0.4O0.6") == composition_key("O3Fe2") == fe2o3
    assert composition_key(Composition("Fe2O3")) == fe2o3
    assert composition_key("Fe3O4") != fe2o3 and composition_key("FeO") != fe2o3
    nacl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert composition_key(nacl) == composition_key("NaCl")  # a structure counts by its composition
    assert composition_key("Xx2") is None or isinstance(composition_key("Xx2"), int)
    assert composition_key("") is None and composition_key("Fe0O") is None


def test_lookup_save_and_load(tmp_path):
    ts = TrainingSet.from_rows(["NaCl", "Fe2O3", "Fe4O6", "MgO"], [1.0, 2.0, 4.0, 3.0])
    assert len(ts) == 3  # Fe2O3 and Fe4O6 are one composition: their mean is kept
    flags, values = ts.lookup(["Fe0.4O0.6", "NaCl", "KCl", "(", "MgO"])
    assert flags == [True, True, False, None, True]
    assert values[0] == 3.0 and values[1] == 1.0 and np.isnan(values[2]) and np.isnan(values[3])
    ts.save(tmp_path)
    back = TrainingSet.load(tmp_path)
    assert back.keys.tolist() == ts.keys.tolist() and back.values.tolist() == ts.values.tolist()
    assert TrainingSet.load(tmp_path / "nowhere") is None  # a model without one: no columns, no error
    (tmp_path / TRAINING_SET_FILE).write_bytes(b"not an npz")
    with pytest.raises(IntegrityError, match="not a readable training set"):
        TrainingSet.load(tmp_path)
    TrainingSet(ts.keys[::-1], ts.values).save(tmp_path)
    with pytest.raises(IntegrityError, match="sorted"):
        TrainingSet.load(tmp_path)
    np.save(tmp_path / TRAINING_SET_FILE, np.arange(3.0))
    with pytest.raises(IntegrityError, match="not a training set"):
        TrainingSet.load(tmp_path)
    # The same rows give the same bytes (a servable rebuilt from the same split keeps its sha256).
    first = ts.save(tmp_path).read_bytes()
    assert TrainingSet.from_rows(["MgO", "Fe4O6", "NaCl", "Fe2O3"], [3.0, 4.0, 1.0, 2.0]).save(tmp_path).read_bytes() == first


def test_shipped_default_model_knows_its_training_rows(data_dir, monkeypatch):
    """A training formula is in_training with its OQMD value; a published-validation formula is not."""
    from irnet_hub import artifact
    from irnet_hub.predictor import load_dir
    from irnet_hub.zoo import rebuild_split

    monkeypatch.setenv("IRNET_DATA_DIR", str(data_dir))
    folder = REPO / "servables" / "oqmd-formation-enthalpy"
    split = rebuild_split(artifact.read_record(folder).data.split)
    train, held_out = split.train.iloc[:200], split.test.iloc[:200]
    model = load_dir(folder)
    df = model.predict(pd.concat([train, held_out])["formula"].tolist())
    assert list(df.columns[-2:]) == ["in_training", "training_value"]
    assert df["in_training"].iloc[:200].all() and not df["in_training"].iloc[200:].any()
    np.testing.assert_allclose(df["training_value"].iloc[:200], train["target"], rtol=1e-6)  # float32 storage
    assert df["training_value"].iloc[200:].isna().all()
    # The select rows (10 % of train.csv that chose the epoch) were not fitted: not in training either.
    assert not model.predict(split.val["formula"].iloc[:100].tolist())["in_training"].any()
