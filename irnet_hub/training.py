"""Training: featurize, standardize, fit a plain/SRNet/IRNet network, write a model directory.

The paper's recipe is the default (Adam, MAE loss, learning rate 1e-4, batch
64, early stopping with patience 200 on validation MAE, best weights restored);
every part is a keyword argument. Works under any Keras 3 backend
(TensorFlow, JAX, PyTorch).
"""

from __future__ import annotations

import datetime as _dt
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from irnet_hub import artifact
from irnet_hub.errors import InvalidInputError
from irnet_hub.featurize import get_featurizer
from irnet_hub.fitting import TrainConfig, fit
from irnet_hub.networks import STANDARDIZE_LAYER, unstandardize_layer
from irnet_hub.preprocessing import composition_ranges, element_counts, fill_missing, fit_scaler
from irnet_hub.record import (
    CompositionRanges,
    DataInfo,
    FeaturizerInfo,
    Hyperparameters,
    ModelRecord,
    OutputRules,
    Scaler,
    Target,
)
from irnet_hub.tables import FeaturizedTable, featurize_table, load_table, split_rows


def train(
    train_data: str | Path | pd.DataFrame,
    out_dir: str | Path,
    *,
    val_data: str | Path | pd.DataFrame | None = None,
    val_fraction: float = 0.1,
    test_data: str | Path | pd.DataFrame | None = None,
    target_name: str = "target",
    unit: str = "",
    featurizer: str = "magpie145",
    architecture: str | None = None,
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

    The fit itself is :func:`fit` with a :class:`TrainConfig` of these settings; ``callbacks``
    are extra Keras callbacks run at every epoch (a hook for monitoring or stopping a run).
    """
    from irnet_hub.metrics import regression_metrics
    from irnet_hub.networks import build_network

    source = load_transfer_source(init_from, featurizer) if init_from is not None else None
    if architecture is None:
        architecture = source.architecture if source else "irnet-17"
    # Fail fast on a bad setting (architecture string first), before featurizing ...
    config = TrainConfig(architecture=architecture, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                         patience=patience, weight_decay=weight_decay, seed=seed).check()  # fmt: skip
    if source is not None:  # ... and on a source whose network does not fit
        source.copy_trunk_into(build_network(architecture, len(source.feature_mean)), architecture)
    out = Path(out_dir)
    if artifact.is_model_dir(out) and not resume:
        raise InvalidInputError(str(out), "already holds a trained model; choose another directory or pass resume")

    spec, _ = get_featurizer(featurizer)
    kw = {"n_jobs": n_jobs} if spec.input_kind == "structure" else {}
    started = time.perf_counter()

    train_table = load_table(train_data, spec.input_kind)
    ftrain = featurize_table(train_table, featurizer, **kw)
    if val_data is not None:
        fval = featurize_table(load_table(val_data, spec.input_kind), featurizer, **kw)
        split = {"kind": "given", "val": _describe(val_data)}
    else:
        tr, va = split_rows(len(ftrain.X), val_fraction, seed)
        fval = FeaturizedTable(ftrain.X[va], ftrain.y[va], [ftrain.inputs[i] for i in va], [])
        ftrain = FeaturizedTable(ftrain.X[tr], ftrain.y[tr], [ftrain.inputs[i] for i in tr], ftrain.failures)
        split = {"kind": "random", "val_fraction": val_fraction, "seed": seed}
    if len(ftrain.X) < 2 or len(fval.X) < 1:
        raise InvalidInputError(_describe(train_data), "too few valid rows to train on")

    scaler = fit_scaler(ftrain.X, ftrain.y)
    mean = np.asarray(scaler["feature_mean"])
    normalization = None
    if source is not None:  # the trunk sees the features standardized as it learnt them
        scaler["feature_std"] = np.sqrt(source.feature_variance).tolist()
        normalization = (source.feature_mean, source.feature_variance)
    log_path = out / artifact.LOG_FILE
    if not resume and log_path.is_file():  # a fresh run's log starts empty (fit appends to it)
        log_path.unlink()
    (out / "checkpoint").mkdir(parents=True, exist_ok=True)
    fitted = fit(
        ftrain.X, ftrain.y, fval.X, fval.y, config, scaler=scaler, normalization=normalization,
        init=(lambda model: source.copy_trunk_into(model, architecture)) if source is not None else None,
        checkpoint_dir=out / "checkpoint" / "backup", log_path=log_path, progress=progress,
        initial_epoch_shown=_logged_epochs(log_path) if resume else 0, callbacks=callbacks,
    )  # fmt: skip
    model = fitted.model
    Xva, yva = fill_missing(fval.X, mean), fval.y.astype(np.float32)
    train_seconds = time.perf_counter() - started
    n_epochs_run = fitted.epochs_run

    metrics = {"val": regression_metrics(yva, model.predict(Xva, batch_size=4096, verbose=0).ravel())}
    test_info = None
    if test_data is not None:
        ftest = featurize_table(load_table(test_data, spec.input_kind), featurizer, **kw)
        pred = model.predict(fill_missing(ftest.X, mean), batch_size=4096, verbose=0).ravel()
        metrics["test"] = regression_metrics(ftest.y, pred)
        test_info = _describe(test_data)

    record = make_record(
        model, config, name=name or out.name, featurizer=featurizer, scaler=scaler,
        target=Target(name=target_name, unit=unit),
        data=DataInfo(
            dataset=dataset,
            train=_describe(train_data),
            val=split.get("val", f"{val_fraction:.0%} of train, random (seed {seed})"),
            test=test_info,
            split=split,
            n_train=int(len(ftrain.X)),
            n_val=int(len(Xva)),
            skipped_rows=[str(f) for f in ftrain.failures[:50]],
            n_skipped=len(ftrain.failures),
        ),
        train_inputs=ftrain.inputs, metrics=metrics, output_rules=OutputRules.from_dict(_output_rules(target_name)),
        epochs_run=n_epochs_run, training_seconds=train_seconds,
        hyperparameter_extras={"init_from": source.name} if source is not None else None,
    )  # fmt: skip
    artifact.save_model_dir(model, out, record)
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
    spec, _ = get_featurizer(featurizer)
    extras = dict(hyperparameter_extras or {})
    if config.schedule == "cosine":
        extras.setdefault("schedule", f"linear warm-up {config.warmup_epochs} epochs, then cosine decay to 0 "
                                      "at the last epoch")  # fmt: skip
    ranges = composition_ranges(train_inputs) if train_inputs is not None else None
    return ModelRecord(
        name=name,
        architecture=config.architecture,
        n_parameters=int(model.count_params()),
        featurizer=FeaturizerInfo.from_dict({**spec.to_dict(), "labels": _labels(featurizer)}),
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
        element_counts=element_counts(train_inputs) if train_inputs is not None and spec.input_kind == "composition"
        else {},
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

    def copy_trunk_into(self, model: Any, architecture: str) -> None:
        """Copy every trained layer of ``model`` from the source (its first member if an ensemble)."""
        have = {layer.name for layer in self.network.layers}
        for layer in model.layers:
            if not layer.weights or layer.name in (STANDARDIZE_LAYER, unstandardize_layer()):
                continue
            src = layer.name if layer.name in have else f"m0_{layer.name}"
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
    )  # fmt: skip


def _output_rules(target_name: str) -> dict[str, bool]:
    from irnet_hub.output_rules import rules_for

    r = rules_for({"target": {"name": target_name}})
    return {"elements_are_zero": r.elements_are_zero, "non_negative": r.non_negative}


def _labels(featurizer: str) -> list[str]:
    if featurizer == "magpie145":
        from irnet_hub.featurize.composition import MAGPIE_LABELS

        return list(MAGPIE_LABELS)
    if featurizer == "magpie145+oliynyk":
        from irnet_hub.featurize.embeddings import labels

        return labels()
    from irnet_hub.featurize.structure import STRUCTURE_LABELS

    return list(STRUCTURE_LABELS)


def _describe(data: Any) -> str:
    return "<DataFrame>" if isinstance(data, pd.DataFrame) else str(data)


def _logged_epochs(log_path: Path) -> int:
    if not log_path.is_file():
        return 0
    return max(0, sum(1 for _ in log_path.open()) - 1)
