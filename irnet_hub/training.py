"""Training: featurize, standardize, fit a plain/SRNet/IRNet network, write a model directory.

The paper's recipe is the default (Adam, MAE loss, learning rate 1e-4, batch
64, early stopping with patience 200 on validation MAE, best weights restored);
every part is a keyword argument. Works under any Keras 3 backend
(TensorFlow, JAX, PyTorch).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from irnet_hub import artifact
from irnet_hub.constants import DEFAULT_FEATURIZER
from irnet_hub.errors import InvalidInputError
from irnet_hub.files import atomic_write_json
from irnet_hub.featurize import get_featurizer
from irnet_hub.fitting import BACKUP_EVERY_S, TrainConfig, fit, transform_target
from irnet_hub.training_set import write_training_set
from irnet_hub.networks import STANDARDIZE_LAYER, unstandardize_layer
from irnet_hub.output_rules import checked_rules
from irnet_hub.preprocessing import composition_ranges, element_counts, fill_missing, fit_scaler
from irnet_hub.record import (
    Baseline,
    CompositionRanges,
    DataInfo,
    FeaturizerInfo,
    Hyperparameters,
    ModelRecord,
    OutputRules,
    Scaler,
    Target,
)
from irnet_hub.tables import FeaturizedTable, Table, featurize_table, load_table, split_rows


def train(
    train_data: str | Path | pd.DataFrame,
    out_dir: str | Path,
    *,
    val_data: str | Path | pd.DataFrame | None = None,
    val_fraction: float = 0.1,
    test_data: str | Path | pd.DataFrame | None = None,
    target_name: str = "target",
    unit: str = "",
    featurizer: str = DEFAULT_FEATURIZER,
    architecture: str | None = None,
    members: int = 1,
    init_from: str | Path | None = None,
    epochs: int = 1000,
    batch_size: int = 64,
    learning_rate: float = 1e-4,
    patience: int = 200,
    weight_decay: float = 0.0,
    seed: int = 0,
    resume: bool = False,
    progress: bool = True,
    name: str | None = None,
    dataset: str | None = None,
    n_jobs: int | None = None,
    callbacks: Sequence[Any] = (),
    config: TrainConfig | None = None,
    compare_random_forest: bool | None = None,
    output_rules: Mapping[str, bool] | None = None,
    backup_every_s: float = BACKUP_EVERY_S,
) -> dict[str, Any]:
    """Train a network and write a self-describing model directory to ``out_dir``.

    ``train_data``/``val_data``/``test_data`` are ``formula,target`` CSV paths
    or DataFrames (or structure files for ``featurizer="ward2017"``). Without
    ``val_data``, ``val_fraction`` of the training rows (random, ``seed``) are
    held out for early stopping. Returns the model's ``irnet.json`` contents.

    ``architecture`` defaults to the paper's ``irnet-17``. ``init_from``, a
    registered model name (e.g. ``"oqmd-bandgap"``) or a model directory,
    starts the network from that model's trained weights (transfer learning,
    the paper's future work): its architecture is the default, its feature
    standardization is kept so the trunk sees what it learnt on, and the
    target is standardized anew for the new property. From an ensemble, the
    first member is the starting point.

    ``members`` > 1 trains that many networks side by side (an ensemble, as the zoo's): the
    prediction is their mean, and with 3 or more members ``prediction_std`` is their spread
    times a factor calibrated on the validation rows (68.3 % of validation errors within 1 std).

    The fit itself is :func:`fit` with a :class:`TrainConfig` of these settings, or ``config``
    when given (e.g. a zoo recipe's: ``irnet_hub.zoo.Job.from_recipe(name).config()``), which
    then replaces ``architecture``, ``members``, ``epochs``, ``batch_size``, ``learning_rate``,
    ``patience``, ``weight_decay`` and ``seed``. ``callbacks`` are extra Keras callbacks run at
    every epoch (a hook for monitoring or stopping a run).

    While it runs, ``out_dir/checkpoint/`` holds a backup, written at the end of an epoch once
    ``backup_every_s`` seconds have passed since the last (0: every epoch); ``resume=True``
    continues a run that was cut off from there, refusing other data or settings.

    ``output_rules`` ({"non_negative": ..., "elements_are_zero": ...}) are the rules predictions
    obey; each is checked against the training targets first (a negative target refuses
    non_negative, an element whose target is not 0 refuses elements_are_zero, naming the row).
    Without it, rules are suggested from the property name and a suggestion the training
    targets contradict is dropped; the record says which rules hold and where they came from.

    ``compare_random_forest`` (default: when ``val_data`` is given) also fits a quick
    RandomForest (100 trees, a third of the features per split, on at most 20,000 training
    rows) on the same features and records its validation MAE as the model's baseline.
    """
    from irnet_hub.extras import require

    require("train")  # a core install predicts only: say which extra training needs, before reading any data

    from irnet_hub.evaluation import METRIC_KEYS, SCORED_OUTPUTS, score
    from irnet_hub.predictor import Predictor
    from irnet_hub.networks import build_network

    from irnet_hub.metrics import calibrate_std_scale, calibration_metrics

    source = load_transfer_source(init_from, featurizer) if init_from is not None else None
    if config is not None:
        architecture = config.architecture
    elif architecture is None:
        architecture = source.architecture if source else "irnet-17"
    # Fail fast on a bad setting (architecture string first), before featurizing ...
    config = (config or TrainConfig(architecture=architecture, members=members, epochs=epochs, batch_size=batch_size,
                                    learning_rate=learning_rate, patience=patience, weight_decay=weight_decay,
                                    seed=seed)).check()  # fmt: skip
    seed = config.seed
    if source is not None:  # ... and on a source whose network does not fit
        if config.members > 1 and source.members < config.members:
            raise InvalidInputError(str(init_from), f"has {source.members} network(s); an ensemble of {config.members} "
                                                    "members starts each member from its own source member, so "
                                                    f"choose at most {source.members} members")  # fmt: skip
        source.copy_trunk_into(build_network(architecture, len(source.feature_mean)), architecture)
    out = Path(out_dir)
    if artifact.is_model_dir(out):
        raise InvalidInputError(str(out), "already holds a trained model" + (
            ": the run finished, so there is nothing to resume; train into another directory" if resume
            else "; choose another directory"))  # fmt: skip

    spec = get_featurizer(featurizer).spec
    kw = {"n_jobs": n_jobs} if spec.input_kind == "structure" else {}
    started = time.perf_counter()

    train_table = load_table(train_data, spec.input_kind)
    val_table = load_table(val_data, spec.input_kind) if val_data is not None else None
    # What a checkpoint was made with: a resume on other data or settings is refused, naming what differs.
    run = {"train_data": _fingerprint(train_table), "val_data": _fingerprint(val_table) if val_table else None,
           "val_fraction": val_fraction, "target_name": target_name, "unit": unit, "featurizer": featurizer,
           "init_from": None if init_from is None else str(init_from),
           **{f"config.{k}": v for k, v in dataclasses.asdict(config).items()}}  # fmt: skip
    _check_resume(out, run, resume)
    ftrain = featurize_table(train_table, featurizer, **kw)
    if val_table is not None:
        fval = featurize_table(val_table, featurizer, **kw)
        split = {"kind": "given", "val": _describe(val_data)}
    else:
        tr, va = split_rows(len(ftrain.X), val_fraction, seed)
        fval = FeaturizedTable(ftrain.X[va], ftrain.y[va], [ftrain.inputs[i] for i in va], [])
        ftrain = FeaturizedTable(ftrain.X[tr], ftrain.y[tr], [ftrain.inputs[i] for i in tr], ftrain.failures)
        split = {"kind": "random", "val_fraction": val_fraction, "seed": seed}
    if len(ftrain.X) < 2 or len(fval.X) < 1:
        raise InvalidInputError(_describe(train_data), "too few valid rows to train on")

    floor = {"log": 0.0, "log1p": -1.0}.get(config.transform)
    for part, ft in (("training", ftrain), ("validation", fval)):
        if floor is not None and (ft.y <= floor).any():
            i = int(np.flatnonzero(ft.y <= floor)[0])
            shown = ft.inputs[i] if isinstance(ft.inputs[i], str) else getattr(ft.inputs[i], "formula", "a structure")
            raise InvalidInputError(f"{shown} (target {ft.y[i]:g}, {part} data)",
                                    f"the target transform {config.transform!r} needs targets above {floor:g}")
    rules = OutputRules.from_dict(checked_rules(output_rules, target_name, ftrain.inputs, ftrain.y))
    scaler = fit_scaler(ftrain.X, transform_target(ftrain.y, config.transform))  # the target as it is fitted
    mean = np.asarray(scaler["feature_mean"])
    normalization = None
    if source is not None:  # the trunk sees the features standardized as it learnt them
        scaler["feature_std"] = np.sqrt(source.feature_variance).tolist()
        normalization = (source.feature_mean, source.feature_variance)
    log_path = out / artifact.LOG_FILE
    if not resume:  # a fresh run starts empty: its log (fit appends to it) and no backup of a killed run,
        log_path.unlink(missing_ok=True)  # which Keras would otherwise restore without being asked
        shutil.rmtree(out / "checkpoint" / "backup", ignore_errors=True)
    (out / "checkpoint").mkdir(parents=True, exist_ok=True)
    fitted = fit(
        ftrain.X, ftrain.y, fval.X, fval.y, config, scaler=scaler, normalization=normalization,
        init=(lambda model: source.copy_trunk_into(model, architecture)) if source is not None else None,
        checkpoint_dir=out / "checkpoint" / "backup", log_path=log_path, progress=progress,
        callbacks=callbacks, backup_every_s=backup_every_s,
    )  # fmt: skip
    model = fitted.model
    Xva, yva = fill_missing(fval.X, mean), fval.y.astype(np.float32)
    train_seconds = time.perf_counter() - started
    n_epochs_run = fitted.epochs_run

    def outputs(X: np.ndarray) -> np.ndarray:  # (n, 1), or (n, 1 + members): the mean, then each member
        return np.asarray(model.predict(fill_missing(X, mean), batch_size=4096, verbose=0)).reshape(len(X), -1)

    # The members' spread, calibrated on validation (raw network outputs; metrics come after saving).
    std_scale = calibrate_std_scale(outputs(fval.X)[:, 1:], yva) if config.members >= 3 else None
    calibration = {}
    test_table = None
    if test_data is not None:
        test_table = load_table(test_data, spec.input_kind)
        if std_scale is not None:
            ftest = featurize_table(test_table, featurizer, **kw)
            test_out = outputs(ftest.X)
            calibration["calibration_test"] = calibration_metrics(ftest.y, test_out[:, 0],
                                                                  test_out[:, 1:].std(axis=1) * std_scale)  # fmt: skip
    if compare_random_forest is None:
        compare_random_forest = val_data is not None
    baseline = None
    if compare_random_forest:
        from irnet_hub.random_forest import quick_reference

        rf = quick_reference(ftrain.X, ftrain.y, fval.X, fval.y, seed=seed)
        baseline = Baseline(params=rf["params"], val={"mae": rf["val"]["mae"]},
                            extras={"train_rows": rf["train_rows"], "kind": "quick reference of irnet train"})  # fmt: skip

    record = make_record(
        model, config, name=name or out.name, featurizer=featurizer,
        scaler={**scaler, **({"target_transform": config.transform} if config.transform != "none" else {})},
        target=Target(name=target_name, unit=unit),
        data=DataInfo(
            dataset=dataset,
            train=_describe(train_data),
            val=split.get("val", f"{val_fraction:.0%} of train, random (seed {seed})"),
            test=_describe(test_data) if test_data is not None else None,
            split=split,
            n_train=int(len(ftrain.X)),
            n_val=int(len(Xva)),
            skipped_rows=[str(f) for f in ftrain.failures[:50]],
            n_skipped=len(ftrain.failures),
        ),
        train_inputs=ftrain.inputs, metrics={}, output_rules=rules,
        epochs_run=n_epochs_run, training_seconds=train_seconds,
        hyperparameter_extras={"init_from": source.name} if source is not None else None,
    )  # fmt: skip
    if std_scale is not None:
        record.std_scale = std_scale
        record.extras.update(calibration)
    record.baseline = baseline
    # The training compositions and values, for predict's in_training / training_value columns.
    record.extras["training_set"] = write_training_set(out, ftrain.inputs, ftrain.y)
    artifact.save_model_dir(model, out, record)
    # Scored as `irnet predict` and `irnet evaluate` score it (output rules applied): one scoring path.
    predictor = Predictor.from_dir(out)  # written just above; checked, as any load is (a 22 MB hash: 0.05 s)
    tables = {"val": Table(list(fval.inputs), np.asarray(fval.y, dtype=float), _describe(val_data) if val_data is not None
                           else "validation rows of the training data")}  # fmt: skip
    if test_table is not None:
        tables["test"] = test_table
    record.metrics = {part: {k: v for k, v in score(predictor, table).items() if k in METRIC_KEYS}
                      for part, table in tables.items()}  # fmt: skip
    record.extras["metrics_scored"] = SCORED_OUTPUTS
    artifact.write_info(out, record)
    artifact.write_manifest(out)
    shutil.rmtree(out / "checkpoint", ignore_errors=True)  # resume state is not part of the model
    return record.to_dict()


def make_record(
    model: Any,
    config: TrainConfig,
    *,
    name: str,
    featurizer: str,
    scaler: dict[str, Any],
    target: Target,
    data: DataInfo,
    train_inputs: Sequence[Any] | None,
    metrics: dict[str, dict[str, Any]],
    output_rules: OutputRules,
    epochs_run: int,
    training_seconds: float,
    hyperparameter_extras: dict[str, Any] | None = None,
) -> ModelRecord:
    """The record of a network fitted by :func:`irnet_hub.fitting.fit` with ``config``.

    ``irnet train`` and the zoo's packaging (scripts/package_zoo.py) both write this one;
    they add only what is theirs (the zoo: baseline, anchors, calibration, k-fold summary).
    ``train_inputs`` (the training formulas or structures) give the element counts (for
    compositions) and the stoichiometry ranges of the in-domain rule.
    """
    feat = get_featurizer(featurizer)
    extras = dict(hyperparameter_extras or {})
    if config.schedule == "cosine":
        extras.setdefault("schedule", f"linear warm-up {config.warmup_epochs} epochs, then cosine decay to 0 "
                                      "at the last epoch")  # fmt: skip
    ranges = composition_ranges(train_inputs) if train_inputs is not None else None
    return ModelRecord(
        name=name,
        architecture=config.architecture,
        n_parameters=int(model.count_params()),
        featurizer=FeaturizerInfo.from_dict({**feat.spec.to_dict(), "labels": feat.labels()}),
        scaler=Scaler.from_dict(scaler),
        target=target,
        data=data,
        hyperparameters=Hyperparameters(
            optimizer="AdamW" if config.weight_decay else "Adam",
            loss="mae",
            learning_rate=config.learning_rate,
            batch_size=config.batch_size,
            epochs_max=config.epochs,
            epochs_run=epochs_run,
            early_stopping_patience=config.patience,
            restore_best_weights=True,  # fit() keeps the best validation epoch's weights
            weight_decay=config.weight_decay,
            extras=extras,
        ),
        seed=config.seed,
        training_seconds=round(float(training_seconds), 1),
        versions=artifact.library_versions(),
        metrics=metrics,
        # Structures too (their compositions): a structure model gets the same element rule (issue 16).
        element_counts=element_counts(train_inputs) if train_inputs is not None else {},
        # Stoichiometry seen in training (in-domain rule) and the physical output rules, stated (issue 11).
        composition_ranges=CompositionRanges.from_dict(ranges) if ranges is not None else None,
        output_rules=output_rules,
        ensemble_size=config.members,
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    )


@dataclass
class TransferSource:
    """A trained model whose weights start a new training run (``train(init_from=...)``)."""

    name: str  # the registered name or the directory, as recorded in the new model
    architecture: str
    network: Any  # the Keras model
    feature_mean: np.ndarray
    feature_variance: np.ndarray
    members: int = 1  # networks side by side in the source

    def copy_trunk_into(self, model: Any, architecture: str) -> None:
        """Copy every trained layer of ``model`` from the source: a single network from the source's
        (first member's) layers, member j of an ensemble from the source's member j."""
        have = {layer.name for layer in self.network.layers}
        for layer in model.layers:
            if not layer.weights or layer.name == STANDARDIZE_LAYER or layer.name.endswith(unstandardize_layer()):
                continue
            # Member j of a new ensemble starts from member j of the source (member 0 for one network).
            prefixed = re.match(r"^m(\d+)_(.*)$", layer.name)
            member, base = (int(prefixed[1]), prefixed[2]) if prefixed else (0, layer.name)
            src = f"m{member}_{base}" if f"m{member}_{base}" in have else base
            shapes = [tuple(w.shape) for w in layer.get_weights()]
            if src not in have or [tuple(w.shape) for w in self.network.get_layer(src).get_weights()] != shapes:
                raise InvalidInputError(self.name, f"its network ({self.architecture}) does not match architecture "
                                                   f"{architecture!r} at layer {layer.name}; leave the architecture "
                                                   f"unset to train the source's own")
            layer.set_weights(self.network.get_layer(src).get_weights())


def load_transfer_source(init_from: str | Path, featurizer: str) -> TransferSource:
    """Resolve ``init_from`` (a registered name or a model directory) and check it fits ``featurizer``."""
    from irnet_hub.hub.cache import resolve

    folder, name = resolve(init_from)
    record = artifact.read_record(folder).require("featurizer", source=str(folder))
    if record.featurizer.name != featurizer:
        raise InvalidInputError(str(init_from), f"was trained on {record.featurizer.name} features, not {featurizer}; "
                                                f"pass --featurizer {record.featurizer.name}")
    network = artifact.load_keras_model(folder)
    norm = network.get_layer(STANDARDIZE_LAYER)
    return TransferSource(
        name=name or str(folder), architecture=record.architecture or "irnet-17", network=network,
        feature_mean=np.asarray(norm.input_mean).ravel(), feature_variance=np.asarray(norm.input_variance).ravel(),
        members=int(record.ensemble_size or 1),
    )  # fmt: skip


RUN_FILE = "run.json"  # in OUT/checkpoint/: the settings and data fingerprints of a run in progress


def _fingerprint(table: Table) -> str:
    """sha256 of a table's inputs and targets (what a resumed run must train on again)."""
    h = hashlib.sha256()
    for x in table.inputs:
        h.update(str(x).encode("utf-8", "replace") + b"\0")
    if table.targets is not None:
        h.update(np.ascontiguousarray(table.targets, dtype=np.float64).tobytes())
    return h.hexdigest()


def _check_resume(out: Path, run: dict[str, Any], resume: bool) -> None:
    """Refuse to resume a checkpoint made with other data or settings; record this run's otherwise."""
    path = out / "checkpoint" / RUN_FILE
    if resume and path.is_file():
        before = json.loads(path.read_text())
        differ = [k for k in run if before.get(k) != run[k]]
        if differ:
            raise InvalidInputError(str(out), "its checkpoint was made with other data or settings ("
                                    + ", ".join(differ) + " differ); resume with the same ones, or train into "
                                    "another directory")  # fmt: skip
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, run)


def _describe(data: Any) -> str:
    return "<DataFrame>" if isinstance(data, pd.DataFrame) else str(data)
