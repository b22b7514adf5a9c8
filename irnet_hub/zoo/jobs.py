"""Training the zoo: a typed :class:`Job` (recipe settings + one architecture and fold),
fitted on the one training loop (:func:`irnet_hub.fitting.fit`), saved and scored.

:func:`run_recipe` is what ``python scripts/train_zoo.py NAME`` does: every width and
fold of a recipe into ``runs/NAME/wW-fK/`` (``model.keras``, ``history.csv``,
``result.json``), resumable, then the RandomForest reference on the same split.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from irnet_hub.fitting import FitResult, TrainConfig, fit, transform_target
from irnet_hub.metrics import calibrate_std_scale
from irnet_hub.preprocessing import feature_fill_mean, fill_missing, fit_scaler
from irnet_hub.zoo.recipes import Recipe, get_recipe
from irnet_hub.zoo.splits import build_split, exclude_split_of, split_features

Data = dict[str, tuple[np.ndarray, np.ndarray]]  # {"train"/"val"/"test": (X, y)}


@dataclass(frozen=True)
class Job:
    """One training run of the zoo: what ``result.json`` records under ``"job"``.

    ``kind`` is "zoo" for a recipe's own runs ("design" and "ablation" for the studies);
    ``extras`` holds what only a study or a device script needs (an id, a cost, a descriptor).
    """

    recipe: str
    fold: int
    architecture: str
    members: int
    featurizer: str
    transform: str
    epochs: int
    batch_size: int
    lr: float
    seed: int = 0
    warmup_epochs: int = 3
    width: int | None = None
    init_from: str | None = None
    device: str | None = None
    kind: str = "zoo"
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_recipe(cls, recipe: Recipe | str, fold: int = 0, width: int | None = None, **overrides: Any) -> "Job":
        """The recipe's job at ``width`` (default: its first) and ``fold``; ``overrides`` that are None are ignored."""
        r = get_recipe(recipe) if isinstance(recipe, str) else recipe
        width = width or r.widths[0]
        job = cls(recipe=r.name, fold=fold, architecture=f"irnet-17/{width}", members=r.members,
                  featurizer=r.featurizer, transform=r.transform, epochs=r.epochs, batch_size=r.batch_size,
                  lr=r.learning_rate, seed=fold, warmup_epochs=r.warmup_epochs, width=width,
                  init_from=r.init_from)  # fmt: skip
        return replace(job, **{k: v for k, v in overrides.items() if v is not None})

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Job":
        """A job from its ``result.json`` form (keys that are not fields go to ``extras``)."""
        names = {f.name for f in fields(cls)} - {"extras"}
        extras = {**d.get("extras", {}), **{k: v for k, v in d.items() if k not in names and k != "extras"}}
        return cls(**{k: v for k, v in d.items() if k in names}, extras=extras)

    def to_dict(self) -> dict[str, Any]:
        """The flat JSON form written to ``result.json`` (``extras`` merged in)."""
        d = asdict(self)
        return {**{k: v for k, v in d.items() if k != "extras"}, **d["extras"]}

    def config(self) -> TrainConfig:
        """The zoo's schedule for this job: warm-up then cosine over the whole budget, no early stopping."""
        return TrainConfig(architecture=self.architecture, members=self.members, transform=self.transform,
                           epochs=self.epochs, batch_size=self.batch_size, learning_rate=self.lr,
                           schedule="cosine", warmup_epochs=self.warmup_epochs, patience=None,
                           seed=self.seed).check()  # fmt: skip


def fit_ensemble(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    config: TrainConfig,
    *,
    deadline: float | None = None,
    checkpoint_dir: str | None = None,
    init_model: Any = None,
    log: Callable[[str], None] | None = None,
) -> FitResult:
    """``config`` on the one training loop, from scratch or from ``init_model``.

    ``init_model``: a fitted prediction model of the same architecture and member count
    (transfer learning): its weights start this fit, and its feature and target scaling
    are kept so the trunk sees what it learnt on. X may hold NaN (features missing for some
    elements): they are filled with the training mean, the rule the runtime applies too.
    """
    scaler, normalization, init_weights = None, None, None  # fit() standardizes on the training rows
    if init_model is not None:
        from irnet_hub.networks import STANDARDIZE_LAYER, unstandardize_layer

        scaler = fit_scaler(X_train, transform_target(np.asarray(y_train, dtype=float), config.transform))
        norm, rescale = init_model.get_layer(STANDARDIZE_LAYER), init_model.get_layer(unstandardize_layer(0))
        normalization = (np.asarray(norm.input_mean).ravel(), np.asarray(norm.input_variance).ravel())
        scaler.update(target_mean=float(rescale.offset), target_std=float(rescale.scale))
        init_weights = functools.partial(_copy_weights, init_model)
    return fit(X_train, y_train, X_val, y_val, config, scaler=scaler, normalization=normalization, init=init_weights,
               checkpoint_dir=checkpoint_dir, deadline=deadline, log=log)  # fmt: skip


def _copy_weights(source: Any, model: Any) -> None:
    """Every layer with weights takes those of the same-named layer of ``source`` (same architecture)."""
    for layer in model.layers:
        if layer.weights:
            layer.set_weights(source.get_layer(layer.name).get_weights())


def fill_like_training(X_train: np.ndarray, X: np.ndarray) -> np.ndarray:
    """X with missing features replaced by the training mean, as float32 (what the model was fitted on)."""
    return fill_missing(X, feature_fill_mean(X_train))


def train_and_score(
    data: Data,
    job: Job,
    out_dir: str | os.PathLike[str],
    *,
    deadline: float | None = None,
    checkpoint_dir: str | None = None,
    init_model: Any = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Fit ``job`` on ``data`` = {train, val, test: (X, y)}; save and score it.

    Writes ``model.keras``, ``history.csv`` and ``result.json`` (MAE on val and
    test, epochs, timing, the scaler fitted with, std scale fitted on val and
    calibration on test for ensembles) to ``out_dir``; returns the result.
    """
    (Xtr, ytr), (Xva, yva), (Xte, yte) = data["train"], data["val"], data["test"]
    fitted = fit_ensemble(Xtr, ytr, Xva, yva, job.config(), deadline=deadline, checkpoint_dir=checkpoint_dir,
                          init_model=init_model, log=log)  # fmt: skip
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fitted.history.to_csv(out / "history.csv", index=False)
    pv = fitted.model.predict(fill_like_training(Xtr, Xva), batch_size=4096, verbose=0)
    pt = fitted.model.predict(fill_like_training(Xtr, Xte), batch_size=4096, verbose=0)
    result: dict[str, Any] = {
        "job": job.to_dict(), "n_train": len(ytr), "n_val": len(yva), "n_test": len(yte),
        "epochs_run": fitted.epochs_run, "best_epoch": fitted.best_epoch, "train_seconds": fitted.seconds,
        "samples_per_second": fitted.samples_per_second,
        "val_mae": float(np.mean(np.abs(pv[:, 0] - yva))), "test_mae": float(np.mean(np.abs(pt[:, 0] - yte))),
        "params": int(fitted.model.count_params()), "scaler": fitted.scaler,
    }  # fmt: skip
    if pv.shape[1] > 1:
        from irnet_hub.metrics import calibration_metrics

        scale = calibrate_std_scale(pv[:, 1:], yva)
        result["std_scale"] = scale
        result["calibration_test"] = calibration_metrics(yte, pt[:, 0], pt[:, 1:].std(axis=1) * scale)
        result["member_test_mae"] = [float(np.mean(np.abs(pt[:, j] - yte))) for j in range(1, pt.shape[1])]
    fitted.model.save(out / "model.keras")
    (out / "result.json").write_text(json.dumps(result, indent=1, default=float))
    return result


def random_forest_reference(recipe: Recipe, fold: int, run: Path) -> dict[str, Any]:
    """The RandomForest reference on the same split and features (``run/rf-fK.json``, computed once).

    A file is reused only if it names the recipe's current featurizer: a recipe that changed its
    descriptors since (e.g. Magpie -> Magpie + Oliynyk) gets a new forest, and the old file is kept
    as ``rf-fK-<featurizer>.json``. Files from before the field was recorded count as stale.
    """
    path = run / f"rf-f{fold}.json"
    if path.is_file():
        earlier = json.loads(path.read_text())
        fitted_on = earlier.get("job", {}).get("featurizer")
        if fitted_on == recipe.featurizer:
            return earlier
        stem = run / f"rf-f{fold}-{fitted_on or 'unrecorded'}"
        names = (Path(f"{stem}{'' if n == 1 else f'-{n}'}.json") for n in itertools.count(1))
        path.rename(next(p for p in names if not p.exists()))  # never over an earlier file set aside
    from irnet_hub.random_forest import grid_for, search_grid

    t0 = time.time()
    data = split_features(build_split(recipe, fold), recipe.featurizer)
    (Xtr, ytr), (Xva, yva), (Xte, yte) = data["train"], data["val"], data["test"]
    Xva, Xte, Xtr = (fill_like_training(Xtr, X) for X in (Xva, Xte, Xtr))
    grid = grid_for(len(ytr))
    rf, params, tried, _ = search_grid(Xtr, ytr, Xva, yva, grid=grid)
    result = {"job": {"kind": "rf", "recipe": recipe.name, "fold": fold, "featurizer": recipe.featurizer},
              "val_mae": min(r["val_mae"] for r in tried),
              "params": params, "test_mae": float(np.mean(np.abs(rf.predict(Xte) - yte))), "grid": grid,
              "seconds": time.time() - t0}  # fmt: skip
    run.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    return result


def load_transfer_model(init_from: str) -> Any:
    """A transfer source's prediction model: a ``.keras`` file, a model directory or a registered name."""
    import keras

    if str(init_from).endswith(".keras"):
        return keras.saving.load_model(init_from)
    from irnet_hub.artifact import load_keras_model
    from irnet_hub.hub.cache import resolve

    return load_keras_model(resolve(init_from)[0])


def run_recipe(
    name: str,
    runs: Path,
    *,
    folds: list[int] | None = None,
    widths: list[int] | None = None,
    overrides: dict[str, Any] | None = None,
    init_from: str | None = None,
    exclude_split_of_recipe: str | None = None,
    tag: str = "",
    random_forest: bool = True,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Train every (width, fold) of recipe ``name`` into ``runs/NAME/wW-fK[-tag]/``; finished runs are skipped.

    ``overrides`` replace Job settings (epochs, lr, batch_size, members, transform); None
    values are ignored. ``init_from`` (default: the recipe's) starts each run from a
    transfer source. A run cut off resumes from its last backup (at most 30 s old) when called again.
    """
    recipe = get_recipe(name)
    run = Path(runs) / recipe.name
    init_from = init_from or recipe.init_from
    init_model = load_transfer_model(init_from) if init_from else None
    results = []
    for fold in folds if folds is not None else list(range(recipe.folds)):
        split = build_split(recipe, fold)
        if exclude_split_of_recipe:
            split = exclude_split_of(split, exclude_split_of_recipe, fold)
        data = None
        for w in widths or recipe.widths:
            out = run / f"w{w}-f{fold}{'-' + tag if tag else ''}"
            if (out / "result.json").is_file():
                log(f"{out}: done, skipped")
                continue
            data = data or split_features(split, recipe.featurizer)
            job = Job.from_recipe(recipe, fold, w, init_from=init_from, device=device_name(), **(overrides or {}))
            t0 = time.time()
            res = train_and_score(data, job, out, checkpoint_dir=str(out / "checkpoint"), init_model=init_model,
                                  log=lambda m, o=out: log(f"{o.name}: {m}"))  # fmt: skip
            res.update(split=split.record, wall_seconds=time.time() - t0)
            (out / "result.json").write_text(json.dumps(res, indent=1, default=float))
            results.append(res)
            log(f"{out}: val MAE {res['val_mae']:.5g}, test MAE {res['test_mae']:.5g}, "
                f"{res['epochs_run']} epochs in {res['train_seconds']:.0f} s")  # fmt: skip
        if random_forest:
            rf = random_forest_reference(recipe, fold, run)
            log(f"RandomForest fold {fold}: val MAE {rf['val_mae']:.5g}, test MAE {rf['test_mae']:.5g}")
    return results


def device_name() -> str:
    """What a zoo job records as its device: this machine's CPU cores and the Keras backend."""
    import keras

    return f"CPU ({os.cpu_count()} cores, Keras {keras.backend.backend()})"
