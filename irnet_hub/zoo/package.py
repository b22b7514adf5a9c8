"""Packaging a trained zoo model: the best run on validation -> model directory -> servable.

``python scripts/package_zoo.py NAME`` calls :func:`package`.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from irnet_hub.errors import InvalidInputError
from irnet_hub.networks import STANDARDIZE_LAYER, unstandardize_layer
from irnet_hub.training_set import write_training_set
from irnet_hub.zoo.jobs import Job, calibrate_std_scale
from irnet_hub.zoo.recipes import Recipe, get_recipe
from irnet_hub.zoo.splits import build_split

HF_ORG = "irnet-hub"


def _results(run: Path) -> list[tuple[Path, dict]]:
    out = []
    for p in sorted(run.glob("w*-f*/result.json")):
        out.append((p.parent, json.loads(p.read_text())))
    return out


def _rf(run: Path, fold: int) -> dict | None:
    p = run / f"rf-f{fold}.json"
    return json.loads(p.read_text()) if p.is_file() else None


def cv_summary(recipe: Recipe, results: list[tuple[Path, dict]], run: Path) -> dict | None:
    """Per fold: the run with the best validation MAE (as for fold 0), its test MAE, and the RF's."""
    if recipe.folds == 1:
        return None
    ours, rf, done, overflow = [], [], [], []
    for k in range(recipe.folds):
        runs_k = [r for _, r in results if r["job"]["fold"] == k and r["job"].get("featurizer", recipe.featurizer) == recipe.featurizer]
        if not runs_k:
            continue
        best = min(runs_k, key=lambda r: r["val_mae"])
        if not np.isfinite(best["test_mae"]):
            overflow.append(k)  # the exponential of a log-target network overflowed on a test input
            continue
        done.append(k)
        ours.append(best["test_mae"])
        r = _rf(run, k)
        rf.append(r["test_mae"] if r else None)
    have_rf = [x for x in rf if x is not None]
    return {
        "folds": recipe.folds, "folds_done": done, "test_mae_per_fold": ours,
        "test_mae_mean": float(np.mean(ours)), "test_mae_std": float(np.std(ours)),
        "rf_test_mae_per_fold": rf,
        "rf_test_mae_mean": float(np.mean(have_rf)) if have_rf and len(have_rf) == len(done) else None,
        "shipped": "fold 0",
        **({"overflow_folds": overflow, "overflow_note": "left out of the mean: the network's output was not "
            "finite (exp overflow) on at least one test input of these folds"} if overflow else {}),
    }  # fmt: skip


def quality_gate(val_mae: float, *, rf_val_mae: float | None = None,
                 replaced_val_mae: float | None = None) -> list[str]:
    """Why a newly trained zoo model must not be shipped: each reason one sentence; empty if none.

    Both comparisons are on the new model's validation rows (selection data; the test split
    is never used to choose): the RandomForest fitted on the same split, and the servable it
    would replace, scored anew on those rows (its own recorded split may differ).
    """
    reasons = []
    if not np.isfinite(val_mae):
        reasons.append(f"its validation MAE is {val_mae}")
    if rf_val_mae is not None and not val_mae <= rf_val_mae:
        reasons.append(f"its validation MAE {val_mae:.5g} is worse than the RandomForest's {rf_val_mae:.5g} "
                       "on the same split")
    if replaced_val_mae is not None and not val_mae <= replaced_val_mae:
        reasons.append(f"its validation MAE {val_mae:.5g} is worse than the {replaced_val_mae:.5g} of the servable "
                       "it would replace, scored on the same rows")
    return reasons


def _replaced_val_mae(out: Path, val_df: Any, log: Callable[[str], None]) -> float | None:
    """The MAE of the servable at ``out`` (if any) on the new model's validation rows."""
    from irnet_hub.errors import IrnetError
    from irnet_hub.evaluation import evaluate

    if not (out / "irnet.json").is_file():
        return None
    try:
        return float(evaluate(out, val_df)["mae"])
    except IrnetError as e:  # a damaged or foreign folder is replaced, and the log says why
        log(f"{out}: the servable there could not be scored ({e}); it is not compared")
        return None


def package(name: str, runs: Path, servables: Path, *, register: bool = False, force: bool = False,
            log: Callable[[str], None] = print) -> Path:
    """Package the best fold-0 run of ``runs/NAME`` (by validation MAE) as ``servables/NAME``.

    Reads runs/NAME/ as written by :func:`irnet_hub.zoo.run_recipe`: picks, among the fold-0
    runs that kept their network and used the recipe's featurizer, the one with the best
    *validation* MAE, rebuilds its split from the recipe, and writes the model directory
    through :func:`irnet_hub.training.make_record`: scaler, split record, element counts and
    composition ranges of the training rows, ensemble size and the std scale fitted on
    validation, calibration on test, output rules, the RandomForest reference, k-fold
    summary, timings and what was tried. The metrics are computed by ``irnet evaluate``'s
    own code on the rebuilt split. ``register`` adds the servable to the shipped registry.

    A model that :func:`quality_gate` finds worse than its RandomForest or than the servable it
    would replace is refused (nothing written) unless ``force``.
    """
    import keras

    from irnet_hub import artifact
    from irnet_hub.evaluation import METRIC_KEYS, SCORED_OUTPUTS, evaluate
    from irnet_hub.featurize import get_featurizer
    from irnet_hub.hub.registry import add_entry, entry_from_model_dir
    from irnet_hub.publish.servable import build_servable
    from irnet_hub.preprocessing import feature_fill_mean
    from irnet_hub.record import Baseline, CrossValidation, DataInfo, OutputRules, Target, TrainingRun
    from irnet_hub.training import make_record

    recipe = get_recipe(name)
    run = runs / name
    results = _results(run)
    # Runs made with another featurizer (tried before the recipe changed) are listed, never shipped.
    candidates = [(d, r) for d, r in results if r["job"]["fold"] == 0 and (d / "model.keras").is_file()
                  and r["job"].get("featurizer", recipe.featurizer) == recipe.featurizer]  # fmt: skip
    if not candidates:
        raise InvalidInputError(str(run), f"no fold-0 run with a model.keras and featurizer {recipe.featurizer}; "
                                          f"train it with scripts/train_zoo.py {name}")
    chosen_dir, chosen = min(candidates, key=lambda dr: dr[1]["val_mae"])
    tried = [{"run": d.name, "architecture": r["job"]["architecture"], "members": r["job"]["members"],
              "featurizer": r["job"].get("featurizer", recipe.featurizer),
              "init_from": r["job"].get("init_from"), "val_mae": r["val_mae"], "epochs_run": r["epochs_run"],
              "device": r["job"].get("device")} for d, r in results if r["job"]["fold"] == 0]  # fmt: skip
    model = keras.saving.load_model(chosen_dir / "model.keras")
    split = build_split(recipe, 0)
    featurize = get_featurizer(recipe.featurizer).featurize
    col = "formula" if get_featurizer(recipe.featurizer).input_kind == "composition" else "structure"

    def feats(df):
        return featurize(list(df[col]), errors="raise").features

    job = Job.from_dict(chosen["job"])
    config = job.config()
    members = config.members
    scaler = chosen.get("scaler")  # what fit() standardized with (runs made before it was recorded: read the layers)
    if scaler is None:
        norm, rescale = model.get_layer(STANDARDIZE_LAYER), model.get_layer(unstandardize_layer(0))
        scaler = {"feature_mean": feature_fill_mean(featurize(list(split.train[col]), errors="raise").features).tolist(),
                  "feature_std": np.sqrt(np.asarray(norm.input_variance).ravel()).tolist(),
                  "target_mean": float(rescale.offset), "target_std": float(rescale.scale)}  # fmt: skip
    if "feature_min" not in scaler:  # runs made before fit() recorded the features' training range
        from irnet_hub.preprocessing import feature_range

        lo, hi = feature_range(feats(split.train))
        scaler = {**scaler, "feature_min": lo.tolist(), "feature_max": hi.tolist()}
    scaler = {**scaler, "target_transform": config.transform,
              "note": "target_mean/std standardize the transformed target (log or log1p when target_transform says "
                      "so); missing features take feature_mean"}  # fmt: skip
    files = split.record["files"]
    record = make_record(
        model, config, name=name, featurizer=recipe.featurizer, scaler=scaler,
        target=Target(name=recipe.target_name, unit=recipe.unit),
        data=DataInfo(
            dataset=name if col == "formula" else None, train=files.get("train"), val=files.get("val"),
            test=files.get("test"), all=files.get("all"), structures=files.get("structures"),
            split=split.record, n_train=len(split.train), n_val=len(split.val), n_test=len(split.test),
            fold=split.record.get("fold"),
        ),
        train_inputs=list(split.train[col]), metrics={},
        output_rules=OutputRules(**recipe.output_rules), epochs_run=chosen["epochs_run"],
        training_seconds=float(chosen["train_seconds"]),
        hyperparameter_extras={"best_epoch": chosen["best_epoch"], "init_from": job.init_from,
                               "selection": "weights of the epoch with the best validation MAE",
                               "members_trained": "side by side, each on its own MAE"},
    )  # fmt: skip
    record.training = TrainingRun(device=job.device, wall_seconds=round(float(chosen["train_seconds"]), 1),
                                  samples_per_second=round(float(chosen["samples_per_second"]), 1))  # fmt: skip
    record.anchors = dict(recipe.anchors)
    record.target_mae = recipe.target_mae
    record.target_rf_ratio = recipe.rf_ratio_target
    if recipe.rf_ratio_target:
        record.target_rule = f"MAE <= {recipe.rf_ratio_target:.2f} x RandomForest on the same split"
    rf = _rf(run, 0)
    if rf:
        record.baseline = Baseline(params=rf["params"], val={"mae": rf["val_mae"]}, test={"mae": rf["test_mae"]},
                                   extras={"grid": rf.get("grid")})  # fmt: skip
    cv = cv_summary(recipe, results, run)
    if cv:
        record.cv = CrossValidation.from_dict(cv)
    record.extras["candidates_tried"] = tried

    with tempfile.TemporaryDirectory() as tmp:
        mdir = Path(tmp) / name
        mdir.mkdir()
        record.extras["training_set"] = write_training_set(mdir, list(split.train[col]), split.train["target"])
        artifact.save_model_dir(model, mdir, record)
        (chosen_dir / "history.csv").is_file() and (mdir / artifact.LOG_FILE).write_bytes(
            (chosen_dir / "history.csv").read_bytes())
        # Std scale on validation and calibration on test, from the outputs `irnet predict` computes.
        from irnet_hub.metrics import calibration_metrics
        from irnet_hub.predictor import Predictor

        outputs = Predictor.from_dir(mdir).predict_outputs
        val_out, test_out = outputs(feats(split.val)), outputs(feats(split.test))
        yva, yte = split.val["target"].to_numpy(float), split.test["target"].to_numpy(float)
        if members >= 3:
            record.std_scale = calibrate_std_scale(val_out[:, 1:], yva)
            std = test_out[:, 1:].std(axis=1) * record.std_scale
            record.extras["calibration_test"] = calibration_metrics(yte, test_out[:, 0], std)
            record.extras["member_test_mae"] = [float(np.mean(np.abs(test_out[:, j] - yte)))
                                                for j in range(1, test_out.shape[1])]  # fmt: skip
        test_df = split.test if col == "formula" else split.test[["structure", "target"]]
        val_df = split.val if col == "formula" else split.val[["structure", "target"]]
        record.metrics = {"val": {k: v for k, v in evaluate(mdir, val_df).items() if k in METRIC_KEYS},
                          "test": {k: v for k, v in evaluate(mdir, test_df).items() if k in METRIC_KEYS}}  # fmt: skip
        record.extras["metrics_scored"] = SCORED_OUTPUTS
        out = Path(servables) / name
        reasons = quality_gate(record.metrics["val"]["mae"], rf_val_mae=rf["val_mae"] if rf else None,
                               replaced_val_mae=_replaced_val_mae(out, val_df, log))  # fmt: skip
        if reasons and not force:
            raise InvalidInputError(str(chosen_dir), f"not packaged as {out}: " + "; ".join(reasons)
                                    + " (pass --force to replace it anyway)")  # fmt: skip
        for reason in reasons:
            log(f"{name}: packaged with --force although {reason}")
        artifact.write_info(mdir, record)
        artifact.write_manifest(mdir)
        build_servable(mdir, out, overwrite=True, repo_id=f"{HF_ORG}/{name}", anchors=record.anchors)
    if register:  # the shipped zoo
        add_entry(entry_from_model_dir(out, repo_id=f"{HF_ORG}/{name}", revision="main",
                                       description=recipe.target_name))
    sizes = sorted(((p.stat().st_size, p.relative_to(out).as_posix()) for p in out.rglob("*") if p.is_file()), reverse=True)
    log(f"{out}: {sum(s for s, _ in sizes) / 2**20:.2f} MiB (largest {sizes[0][1]} {sizes[0][0] / 2**20:.2f} MiB); "
          f"test MAE {record.metrics['test']['mae']:.5g} (run {chosen_dir.name}: {chosen['test_mae']:.5g}); "
          f"RF {rf['test_mae'] if rf else None}")  # fmt: skip
    return out


def rescore(folder: Path, *, register: bool = False) -> dict[str, Any]:
    """Score a built servable anew on its own recorded split, through the one scoring path
    (:func:`irnet_hub.evaluation.evaluate`, output rules applied), and rewrite what states the
    metrics: ``irnet.json``, the card, the DLHub descriptions, the manifest (and, with
    ``register``, its registry entry). Weights and the SavedModel are untouched.

    Returns {"before": old metrics, "after": new metrics}.
    """
    from irnet_hub import artifact
    from irnet_hub.evaluation import METRIC_KEYS, SCORED_OUTPUTS, evaluate
    from irnet_hub.zoo.splits import rebuild_split

    folder = Path(folder)
    record = artifact.read_record(folder)
    split = rebuild_split(record.data.split)
    cols = ["formula", "target"] if "formula" in split.test.columns else ["structure", "target"]
    before = record.metrics
    if record.scaler is not None and "feature_min" not in record.scaler.extras:
        # The features' training range (the in-domain rule), from the recorded training rows.
        from irnet_hub.featurize import get_featurizer
        from irnet_hub.preprocessing import feature_range

        featurize = get_featurizer(record.featurizer.name).featurize
        lo, hi = feature_range(featurize(list(split.train[cols[0]]), errors="raise").features)
        record.scaler.extras.update(feature_min=lo.tolist(), feature_max=hi.tolist())
    if not record.element_counts and cols[0] == "structure":
        # A structure model gets the element and stoichiometry rules of composition models (issue 16).
        from irnet_hub.preprocessing import composition_ranges, element_counts
        from irnet_hub.record import CompositionRanges

        record.element_counts = element_counts(list(split.train["structure"]))
        record.composition_ranges = CompositionRanges.from_dict(composition_ranges(list(split.train["structure"])))
    after = {part: {k: v for k, v in evaluate(folder, getattr(split, part)[cols]).items() if k in METRIC_KEYS}
             for part in ("val", "test")}  # fmt: skip
    record.metrics = after
    record.extras["metrics_scored"] = SCORED_OUTPUTS
    _rewrite_descriptions(folder, record, register)
    return {"before": before, "after": after}


def add_training_set(folder: Path, *, register: bool = False) -> dict[str, Any]:
    """Give a built servable its ``training_set.npz`` (the training rows of its recorded split) and rewrite
    what describes it (``irnet.json``, card, DLHub descriptions, manifest, registry entry with
    ``register``). Weights and metrics are untouched. Returns the record's ``training_set`` entry."""
    from irnet_hub import artifact
    from irnet_hub.zoo.splits import rebuild_split

    folder = Path(folder)
    record = artifact.read_record(folder)
    train = rebuild_split(record.data.split).train
    column = "formula" if "formula" in train.columns else "structure"
    record.extras["training_set"] = write_training_set(folder, list(train[column]), train["target"])
    _rewrite_descriptions(folder, record, register)
    return record.extras["training_set"]


def attach_random_forest(folder: Path, rf_result: Path, *, register: bool = False) -> dict[str, Any]:
    """Record in a built servable the RandomForest reference fitted on its own split (``rf-fK.json`` of
    :func:`irnet_hub.zoo.random_forest_reference`), and rewrite what states it (``irnet.json``, card,
    DLHub descriptions, manifest, registry entry with ``register``). Weights are untouched."""
    from irnet_hub import artifact
    from irnet_hub.record import Baseline

    folder = Path(folder)
    record = artifact.read_record(folder)
    rf = json.loads(Path(rf_result).read_text())
    job = rf.get("job", {})
    if job.get("recipe") != record.name or job.get("fold", 0) != (record.data.fold or 0):
        raise InvalidInputError(str(rf_result), f"is the RandomForest of {job.get('recipe')} fold {job.get('fold')}, "
                                                f"not of {record.name} fold {record.data.fold or 0}")
    record.baseline = Baseline(params=rf["params"], val={"mae": rf["val_mae"]}, test={"mae": rf["test_mae"]},
                               extras={"grid": rf.get("grid"), "seconds": rf.get("seconds")})
    _rewrite_descriptions(folder, record, register)
    return {"val_mae": rf["val_mae"], "test_mae": rf["test_mae"], "params": rf["params"]}


def redescribe(folder: Path, *, register: bool = False) -> None:
    """Render a built servable's card and DLHub descriptions anew from its ``irnet.json`` (after a change
    to how cards are written), with its manifest and registry entry. Weights and metrics are untouched."""
    from irnet_hub import artifact

    _rewrite_descriptions(Path(folder), artifact.read_record(folder), register)


def _rewrite_descriptions(folder: Path, record: Any, register: bool) -> None:
    """irnet.json, the card, the DLHub descriptions and the manifest of a servable from ``record``."""
    from irnet_hub import artifact
    from irnet_hub.publish import card, dlhub_meta
    from irnet_hub.hub.registry import add_entry, entry_from_model_dir, get_entry

    entry = get_entry(record.name) if register else None
    repo_id = entry.repo_id if entry else f"{HF_ORG}/{record.name}"
    artifact.write_info(folder, record)
    (folder / artifact.CARD_FILE).write_text(card.render_card(record, anchors=record.anchors, repo_id=repo_id),
                                             encoding="utf-8")  # fmt: skip
    if (folder / "dlhub.json").is_file():
        dlhub_meta.write_descriptions(folder, record)
    artifact.write_manifest(folder)
    if entry is not None:
        add_entry(entry_from_model_dir(folder, repo_id=entry.repo_id, revision=entry.revision,
                                       description=entry.description))  # fmt: skip
