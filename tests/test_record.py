"""The typed model record (irnet.json): schema check, migration, extras, and the card reading it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from irnet_hub.errors import InvalidInputError, UnsupportedModelError
from irnet_hub.record import SCHEMA_VERSION, ModelRecord

REPO = Path(__file__).resolve().parents[1]
SERVABLES = sorted(p.parent for p in (REPO / "servables").glob("*/irnet.json"))


@pytest.mark.parametrize("folder", SERVABLES, ids=lambda p: p.name)
def test_shipped_records_load_and_round_trip_without_loss(folder):
    raw = json.loads((folder / "irnet.json").read_text())
    record = ModelRecord.read(folder)
    assert record.name == raw["name"] and record.target.unit == raw["target"]["unit"]
    assert record.scaler is not None and len(record.scaler.feature_mean) == record.featurizer.n_features
    assert record.ensemble_size == raw.get("ensemble_size", 1) >= 1 and record.std_scale > 0
    out = record.to_dict()
    assert out["schema_version"] == SCHEMA_VERSION
    for key, value in raw.items():
        if key != "schema_version":
            assert out[key] == value, key  # nothing lost or changed, only new fields added


def test_unknown_keys_are_kept_in_extras_and_written_back(tmp_path):
    record = ModelRecord.from_dict({"schema_version": 1, "name": "m", "lab_id": 7,
                                    "data": {"n_train": 3, "robot": "r2"}, "featurizer": {"name": "magpie145"}})
    assert record.extras == {"lab_id": 7} and record.data.extras == {"robot": "r2"}
    record.write(tmp_path)
    again = ModelRecord.read(tmp_path)
    assert again.extras == {"lab_id": 7} and again.data.extras == {"robot": "r2"} and again.data.n_train == 3
    assert json.loads((tmp_path / "irnet.json").read_text())["schema_version"] == SCHEMA_VERSION


def test_newer_schema_is_refused_with_the_version_and_what_to_do(tmp_path):
    (tmp_path / "irnet.json").write_text(json.dumps({"schema_version": SCHEMA_VERSION + 1, "name": "future"}))
    with pytest.raises(UnsupportedModelError, match=rf"schema_version {SCHEMA_VERSION + 1}.*upgrade irnet-hub"):
        ModelRecord.read(tmp_path)


@pytest.mark.parametrize("bad", ["0", '"2"', "true"])
def test_invalid_schema_version_is_refused(tmp_path, bad):
    (tmp_path / "irnet.json").write_text('{"schema_version": %s}' % bad)
    with pytest.raises(UnsupportedModelError, match="invalid schema_version"):
        ModelRecord.read(tmp_path)


def test_corrupt_or_missing_record_names_the_file(tmp_path):
    with pytest.raises(InvalidInputError, match="no irnet.json"):
        ModelRecord.read(tmp_path)
    (tmp_path / "irnet.json").write_text("{not json")
    with pytest.raises(InvalidInputError, match="corrupt model metadata") as e:
        ModelRecord.read(tmp_path)
    assert str(tmp_path / "irnet.json") in str(e.value)


def test_ensemble_fields_are_typed():
    record = ModelRecord.from_dict({"ensemble_size": 5, "std_scale": 1.7,
                                    "output_rules": {"elements_are_zero": True, "non_negative": False},
                                    "composition_ranges": {"max_atoms_per_formula_unit": 20.0, "min_fraction": 0.01}})
    assert record.ensemble_size == 5 and record.std_scale == 1.7
    assert record.output_rules.elements_are_zero is True and record.output_rules.non_negative is False
    assert record.composition_ranges.max_atoms_per_formula_unit == 20.0
    with pytest.raises(InvalidInputError, match="ensemble_size must be at least 1"):
        ModelRecord.from_dict({"ensemble_size": 0})


def test_schema1_text_rule_migrates_to_a_number_and_the_card_uses_the_number():
    from irnet_hub.publish.card import _status

    folder = REPO / "servables" / "oqmd-formation-enthalpy"
    record = ModelRecord.read(folder)
    assert record.target_rf_ratio == pytest.approx(0.55)  # the canonical-split recipe (issue 18)
    shipped = (folder / "README.md").read_text()
    line = next(x for x in _status(record, record.unit).splitlines() if "x RandomForest" in x)
    assert line in shipped  # the card says what it said when the rule was parsed as text
    # a record with only the number (schema 2) states the rule from it
    record.target_rule = None
    record.target_rf_ratio = 0.9
    line = next(x for x in _status(record, record.unit).splitlines() if "x RandomForest" in x)
    assert "MAE <= 0.90 x RandomForest on the same split: met" in line


def test_record_of_the_structure_model_names_its_data_file():
    record = ModelRecord.read(REPO / "servables" / "matbench-phonons-structure")
    assert record.data.train != "<DataFrame>" and record.data.structures == "structures/matbench_phonons.json.gz"
    assert record.data.source == "structures/matbench_phonons.json.gz"
    assert record.data.split["kind"] == "kfold-5" and record.data.split["fold"] == 0  # rebuildable


def test_registry_names_the_real_training_data_of_every_shipped_model():
    """`irnet list` showed "<DataFrame>" for the structure model: the registry now names its data file."""
    import irnet_hub
    from irnet_hub.hub.registry import entry_from_model_dir

    entries = {n: irnet_hub.model_info(n) for n in irnet_hub.list_models()}
    assert entries["matbench-phonons-structure"].training_data == "structures/matbench_phonons.json.gz"
    assert not [m.name for m in entries.values() if m.training_data.startswith("<")]
    rebuilt = entry_from_model_dir(REPO / "servables" / "matbench-phonons-structure", repo_id="x/y", revision="main")
    assert rebuilt.training_data == "structures/matbench_phonons.json.gz"
