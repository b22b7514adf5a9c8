"""The zoo's own code path, end to end on real data: recipe -> split record -> train_zoo -> package_zoo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from irnet_hub import zoo
from irnet_hub.fitting import learning_rate_at
from irnet_hub.networks import count_layers, parse_architecture, resolve_architecture

REPO = Path(__file__).resolve().parents[1]


def test_width_factor_keeps_depth_and_shortcuts():
    assert resolve_architecture("irnet-17/4").startswith("256BARx4-128BARx3")
    assert count_layers("irnet-17/4") == count_layers("irnet-17") == 17
    assert [g.residual for g in parse_architecture("srnet-48/8")[0]] == [g.residual for g in parse_architecture("srnet-48")[0]]
    from irnet_hub.errors import InvalidInputError

    for bad in ("irnet-17/0", "irnet-17/x", "nonet-17/2"):
        with pytest.raises(InvalidInputError):
            resolve_architecture(bad)


def test_learning_rate_schedule_warms_up_then_decays_to_zero():
    lrs = [learning_rate_at(e, 20, 1e-3, 3) for e in range(21)]
    assert lrs[0] < lrs[1] < lrs[2] < lrs[3] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs[3:], lrs[4:])) and lrs[20] == pytest.approx(0.0)


def test_std_scale_calibrates_validation_errors():
    rng = np.random.default_rng(0)
    members = rng.normal(size=(5000, 3)) * 0.1
    y = members.mean(axis=1) + rng.normal(size=5000) * 0.5  # errors much larger than the spread
    scale = zoo.calibrate_std_scale(members, y)
    within = np.abs(members.mean(axis=1) - y) <= members.std(axis=1) * scale
    assert within.mean() == pytest.approx(0.683, abs=0.01)


@pytest.mark.slow
def test_split_record_rebuilds_the_same_rows(data_dir, monkeypatch):
    monkeypatch.setenv("IRNET_DATA_DIR", str(data_dir))
    for name in ("oqmd-formation-enthalpy", "mp-e-above-hull", "matbench-expt-gap"):
        a = zoo.build_split(name, 0)
        b = zoo.rebuild_split(json.loads(json.dumps(a.record)))  # through JSON, as in irnet.json
        for part in ("train", "val", "test"):
            assert getattr(a, part)["formula"].tolist() == getattr(b, part)["formula"].tolist()
        if a.record["kind"] == "given-no-test":  # validation: 10 % carved out of the training file
            train, val = set(a.train.index), set(a.val.index)
            assert val and not train & val and abs(len(train) - 9 * len(val)) <= 9


@pytest.mark.slow
def test_train_zoo_then_package_a_small_ensemble(tmp_path, data_dir, monkeypatch, capsys):
    """Two epochs of the bulk-modulus recipe at width /16; resumable run folder; a servable that verifies."""
    env = {"IRNET_DATA_DIR": str(data_dir), "PATH": str(Path(sys.executable).parent), "TF_CPP_MIN_LOG_LEVEL": "3"}
    runs = tmp_path / "runs"
    cmd = [sys.executable, str(REPO / "scripts" / "train_zoo.py"), "mp-bulk-modulus", "--width", "16",
           "--epochs", "2", "--no-rf", "--runs", str(runs)]
    subprocess.run(cmd, check=True, env=env, capture_output=True, text=True)
    run = runs / "mp-bulk-modulus" / "w16-f0"
    result = json.loads((run / "result.json").read_text())
    assert result["epochs_run"] == 2 and result["job"]["members"] == 3
    again = subprocess.run(cmd, check=True, env=env, capture_output=True, text=True)
    assert "done, skipped" in again.stdout  # finished steps are not redone

    # Issue 19's quality gate: a 2-epoch model does not replace the shipped one (11.98 GPa) unless forced.
    # package_zoo.py runs in this process (as `python scripts/package_zoo.py ...` would, argv and all):
    # TensorFlow is imported once, not once per call.
    import runpy
    import shutil

    out = tmp_path / "servables"
    shipped = shutil.copytree(REPO / "servables" / "mp-bulk-modulus", out / "mp-bulk-modulus")
    before = {p.name: p.read_bytes() for p in shipped.iterdir() if p.is_file()}
    monkeypatch.setenv("IRNET_DATA_DIR", str(data_dir))

    def package_zoo(*extra: str) -> None:
        monkeypatch.setattr(sys, "argv", ["package_zoo.py", "mp-bulk-modulus", "--runs", str(runs), "--out", str(out),
                                          *extra])  # fmt: skip
        runpy.run_path(str(REPO / "scripts" / "package_zoo.py"), run_name="__main__")

    with pytest.raises(SystemExit) as refused:  # the script's own exit with a message, not another exception
        package_zoo()
    message = str(refused.value.code)
    assert message.startswith("package_zoo.py: ")  # printed on stderr, exit status 1
    assert "worse than the" in message and "servable it would replace" in message
    assert "--force" in message and "w16-f0" in message  # names the run it refused
    assert {p.name: p.read_bytes() for p in shipped.iterdir() if p.is_file()} == before  # nothing written
    capsys.readouterr()
    package_zoo("--force")
    assert "packaged with --force although" in capsys.readouterr().out
    from irnet_hub import artifact
    from irnet_hub.predictor import Predictor

    folder = out / "mp-bulk-modulus"
    assert artifact.verify_manifest(folder) == []
    record = artifact.read_record(folder)
    assert record.ensemble_size == 3 and record.std_scale > 0 and record.output_rules.non_negative
    assert record.featurizer.name == "magpie145+oliynyk" and record.featurizer.n_features == 233  # the recipe's
    assert record.data.split["kind"] == "given" and record.metrics["test"]["n"] == 947
    assert record.metrics["test"]["mae"] == pytest.approx(result["test_mae"], rel=1e-4)
    df = Predictor.from_dir(folder).predict(["NaCl", "Fe2O3"])
    assert (df["prediction"] > 0).all() and (df["prediction_std"] > 0).all()  # log target: positive


def test_quality_gate_compares_on_validation_with_the_forest_and_the_replaced_model():
    from irnet_hub.zoo.package import quality_gate

    assert quality_gate(12.0, rf_val_mae=13.7, replaced_val_mae=12.5) == []
    assert quality_gate(12.0) == []  # nothing to compare with
    (reason,) = quality_gate(14.0, rf_val_mae=13.7, replaced_val_mae=None)
    assert "14 is worse than the RandomForest's 13.7" in reason
    (reason,) = quality_gate(12.6, rf_val_mae=13.7, replaced_val_mae=12.5)
    assert "servable it would replace" in reason
    assert len(quality_gate(float("nan"), rf_val_mae=1.0, replaced_val_mae=1.0)) == 3


def test_job_round_trips_through_its_result_json_form():
    job = zoo.Job.from_recipe("matbench-expt-gap", fold=2, width=8, epochs=5, device="CPU", extras={"id": "x"})
    assert (job.architecture, job.seed, job.init_from, job.epochs) == ("irnet-17/8", 2, "oqmd-bandgap", 5)
    flat = json.loads(json.dumps(job.to_dict()))
    assert flat["id"] == "x" and "extras" not in flat  # flat, as result.json has always been
    assert zoo.Job.from_dict(flat) == job
    config = job.config()  # the zoo's schedule on the one training loop
    assert (config.schedule, config.patience, config.learning_rate, config.warmup_epochs) == ("cosine", None, 5e-4, 3)
    from irnet_hub.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="members"):
        zoo.Job.from_recipe("mp-bulk-modulus", members=0).config()


def test_scripts_need_no_path_hacks_or_stubs():
    for script in sorted((REPO / "scripts").glob("*.py")):
        text = script.read_text()
        assert "sys.path" not in text and "_stub" not in text, f"{script.name} reaches around the installed package"


def test_a_random_forest_reference_is_refitted_when_the_recipe_changed_its_featurizer(tmp_path, monkeypatch):
    """run/rf-f0.json is reused only if it was fitted on the recipe's featurizer; a stale one is kept aside."""
    from irnet_hub import random_forest, zoo

    recipe = zoo.get_recipe("mp-bulk-modulus")  # magpie145+oliynyk
    current = {"job": {"kind": "rf", "recipe": recipe.name, "fold": 0, "featurizer": recipe.featurizer},
               "val_mae": 13.0, "test_mae": 13.5, "params": {}}  # fmt: skip
    (tmp_path / "rf-f0.json").write_text(json.dumps(current))
    assert zoo.random_forest_reference(recipe, 0, tmp_path) == current

    stale = {**current, "job": {**current["job"], "featurizer": "magpie145"}}
    (tmp_path / "rf-f0.json").write_text(json.dumps(stale))
    (tmp_path / "rf-f0-magpie145.json").write_text("set aside earlier")  # not overwritten

    def refit(*args, **kwargs):
        raise RuntimeError("refitted")

    monkeypatch.setattr(random_forest, "search_grid", refit)
    with pytest.raises(RuntimeError, match="refitted"):
        zoo.random_forest_reference(recipe, 0, tmp_path)
    assert json.loads((tmp_path / "rf-f0-magpie145-2.json").read_text()) == stale
    assert (tmp_path / "rf-f0-magpie145.json").read_text() == "set aside earlier"
    assert not (tmp_path / "rf-f0.json").exists()


def test_a_random_forest_reference_is_attached_to_its_own_servable_only(tmp_path):
    """scripts/attach_random_forest.py: the RF fitted on a servable's split goes into its record and card;
    one fitted for another recipe is refused, and nothing is written."""
    import shutil

    from irnet_hub import artifact
    from irnet_hub.errors import InvalidInputError
    from irnet_hub.zoo.package import attach_random_forest

    folder = shutil.copytree(REPO / "servables" / "mp-bulk-modulus", tmp_path / "mp-bulk-modulus")
    before = (folder / "irnet.json").read_bytes()
    wrong = tmp_path / "rf-other.json"
    wrong.write_text(json.dumps({"job": {"kind": "rf", "recipe": "mp-shear-modulus", "fold": 0}, "val_mae": 1.0,
                                 "test_mae": 2.0, "params": {"n_estimators": 100}}))
    with pytest.raises(InvalidInputError, match="not of mp-bulk-modulus"):
        attach_random_forest(folder, wrong)
    assert (folder / "irnet.json").read_bytes() == before
    rf = tmp_path / "rf-f0.json"
    rf.write_text(json.dumps({"job": {"kind": "rf", "recipe": "mp-bulk-modulus", "fold": 0}, "val_mae": 13.5,
                              "test_mae": 13.75, "params": {"n_estimators": 100, "max_features": 0.33}}))
    attach_random_forest(folder, rf)
    record = artifact.read_record(folder)
    assert record.baseline.test["mae"] == 13.75 and record.baseline.params["max_features"] == 0.33
    assert "13.75" in (folder / "README.md").read_text()
    assert artifact.verify_manifest(folder) == []  # the manifest follows the rewritten files
