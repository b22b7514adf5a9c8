"""The one training loop: a :class:`TrainConfig` fitted by :func:`fit`.

``irnet train`` (:func:`irnet_hub.training.train`, the paper's recipe: constant learning
rate, early stopping) and the zoo (:mod:`irnet_hub.zoo`: ensembles side by side, warm-up +
cosine over the whole budget) both fit here: the same schedule code, best-epoch selection
on the validation MAE in the target's unit, resumable checkpoints, epoch log and progress
bar. Works under any Keras 3 backend.
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from irnet_hub.errors import InvalidInputError
from irnet_hub.preprocessing import fill_missing, fit_scaler


SCHEDULES = ("constant", "cosine")
# In a run's checkpoint folder: the best epoch so far (its validation MAE, number and weights).
BEST_EPOCH_FILE = "best_epoch.npz"
# A kill loses at most this much training (and the epoch in progress); fit(backup_every_s=0) backs up every epoch.
BACKUP_EVERY_S = 30.0
TRANSFORMS = ("none", "log", "log1p")


@dataclass(frozen=True)
class TrainConfig:
    """How a network (or an ensemble of ``members`` side by side) is fitted: one config, one loop.

    ``irnet train`` uses the paper's recipe (the defaults: Adam at a constant 1e-4, batch 64,
    early stopping after ``patience`` epochs without a better validation MAE); the zoo uses
    ``schedule="cosine"`` (linear warm-up for ``warmup_epochs``, cosine decay to 0 at the last
    epoch) with ``patience=None``. Either way the weights of the epoch with the best validation
    MAE (of the ensemble mean, in the target's own unit) are kept.
    """

    architecture: str = "irnet-17"
    members: int = 1
    transform: str = "none"  # "log"/"log1p": fitted to log(y)/log(1+y), mapped back by exp
    epochs: int = 1000
    batch_size: int = 64
    learning_rate: float = 1e-4
    schedule: str = "constant"
    warmup_epochs: int = 0
    patience: int | None = 200
    weight_decay: float = 0.0
    seed: int = 0

    def check(self) -> "TrainConfig":
        """This config, or an InvalidInputError naming the bad setting."""
        from irnet_hub.networks import parse_architecture

        parse_architecture(self.architecture)
        for label in ("members", "epochs", "batch_size") + (("patience",) if self.patience is not None else ()):
            value = getattr(self, label)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise InvalidInputError(value, f"{label} must be a positive integer")
        if not (isinstance(self.learning_rate, (int, float)) and self.learning_rate > 0):
            raise InvalidInputError(self.learning_rate, "learning_rate must be positive")
        if self.schedule not in SCHEDULES:
            raise InvalidInputError(self.schedule, f"unknown schedule; one of {', '.join(SCHEDULES)}")
        if self.transform not in TRANSFORMS:
            raise InvalidInputError(self.transform, f"unknown target transform; one of {', '.join(TRANSFORMS)}")
        return self

    def learning_rate_at(self, epoch: int, total: int | None = None) -> float:
        if self.schedule == "constant":
            return float(self.learning_rate)
        return learning_rate_at(epoch, total or self.epochs, self.learning_rate, self.warmup_epochs)


def learning_rate_at(epoch: int, total: int, peak: float, warmup: int) -> float:
    """Linear warm-up for ``warmup`` epochs, then cosine decay to 0 at ``total``."""
    if epoch < warmup:
        return peak * (epoch + 1) / (warmup + 1)
    progress = (epoch - warmup) / max(1, total - warmup)
    return 0.5 * peak * (1.0 + math.cos(math.pi * min(1.0, progress)))


def transform_target(y: np.ndarray, transform: str) -> np.ndarray:
    if transform == "log":
        return np.log(y)
    if transform == "log1p":
        return np.log1p(y)
    return np.asarray(y, dtype=float)


@dataclass
class FitResult:
    model: Any  # the prediction model in the target's unit: (n, 1), or (n, 1 + members) for an ensemble
    history: pd.DataFrame  # per epoch run: epoch (0-based), loss, val_mae (target unit), lr, seconds
    epochs_run: int
    best_epoch: int  # 1-based; 0 if no epoch ran
    seconds: float
    samples_per_second: float
    # What the network standardizes with (fill value of missing features, the input layer's std,
    # the target's mean/std in fitted units): the record's scaler, with no layer read by name.
    scaler: dict[str, Any] | None = None


def fit(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    config: TrainConfig,
    *,
    scaler: dict[str, Any] | None = None,
    normalization: tuple[np.ndarray, np.ndarray] | None = None,
    init: Callable[[Any], None] | None = None,
    checkpoint_dir: str | Path | None = None,
    log_path: str | Path | None = None,
    deadline: float | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
    callbacks: Sequence[Any] = (),
    backup_every_s: float = BACKUP_EVERY_S,
) -> FitResult:
    """The one training loop: fit ``config`` on (X, y) and keep its best epoch on (X_val, y_val).

    ``scaler`` (default :func:`~irnet_hub.preprocessing.fit_scaler` on the training rows and
    the transformed target) gives the fill value of missing features and the standardization;
    ``normalization`` = (mean, variance) overrides what the network's input layer uses (a
    transfer source's). ``init(model)`` may set weights of the built prediction model before
    fitting. ``checkpoint_dir`` makes the run resumable (Keras ``BackupAndRestore``, written at
    the end of an epoch once ``backup_every_s`` seconds have passed since the last backup, 0 for
    every epoch: a run cut off loses at most that much training and the epoch in progress);
    ``log_path`` appends one CSV row per epoch (a resumed run drops the rows after its backup).
    The best epoch so far is backed up there too (``best_epoch.npz``), so that a resumed run
    still returns it when it lies before the cut. ``deadline`` (a ``time.time()`` value) shortens the
    schedule after epoch 2 so that the run, the cosine tail included, ends in time. ``callbacks`` are extra Keras callbacks, run after
    the loop's own at every epoch.
    """
    from irnet_hub.extras import require

    require("train")

    import keras

    from irnet_hub.networks import build_ensemble, build_network

    config.check()
    keras.utils.set_random_seed(config.seed)
    t_train = transform_target(np.asarray(y_train, dtype=float), config.transform)
    if scaler is None:
        scaler = fit_scaler(X_train, t_train)
    fill = np.asarray(scaler["feature_mean"])
    Xtr, Xva = fill_missing(X_train, fill), fill_missing(X_val, fill)
    norm_mean, norm_var = normalization if normalization is not None else (fill, np.asarray(scaler["feature_std"]) ** 2)
    t_mean, t_std = float(scaler["target_mean"]), float(scaler["target_std"])
    y_val = np.asarray(y_val, dtype=float)
    if config.members == 1 and config.transform == "none":
        # One network in the paper's format: it outputs the target's unit and is fitted on it.
        model = build_network(config.architecture, Xtr.shape[1], feature_mean=norm_mean, feature_variance=norm_var,
                              target_mean=t_mean, target_scale=t_std, seed=config.seed)  # fmt: skip
        train_model, y_fit = model, t_train.astype(np.float32)
    else:
        # Members side by side, each fitted on the standardized (transformed) target.
        train_model, model = build_ensemble(
            config.architecture, Xtr.shape[1], config.members, feature_mean=norm_mean, feature_variance=norm_var,
            target_mean=t_mean, target_scale=t_std, target_transform=config.transform, seed=config.seed,
            # One log unit above the largest training target (e x its value): far-off inputs stay finite.
            log_cap=float(t_train.max()) + 1.0 if config.transform in ("log", "log1p") else None,
        )  # fmt: skip
        y_fit = np.repeat(((t_train - t_mean) / t_std).astype(np.float32)[:, None], config.members, axis=1)
    if init is not None:
        init(model)
    optimizer = (keras.optimizers.AdamW(config.learning_rate, weight_decay=config.weight_decay)
                 if config.weight_decay else keras.optimizers.Adam(config.learning_rate))  # fmt: skip
    train_model.compile(optimizer=optimizer, loss="mae")
    # Built here, not inside fit: a tf.function that creates the optimizer's variables is traced
    # twice. The first epoch of a 3 x irnet-17/16 zoo run went from 39 to 17 s (benchmarks/RESULTS_fit_startup.md).
    optimizer.build(train_model.trainable_variables)

    from tqdm.auto import tqdm

    state: dict[str, Any] = {"total": config.epochs, "best": math.inf, "best_epoch": -1, "weights": None,
                             "rows": [], "t0": time.time(), "best_saved": True, "bar": None}  # fmt: skip
    log_file = Path(log_path) if log_path is not None else None
    best_file = Path(checkpoint_dir) / BEST_EPOCH_FILE if checkpoint_dir is not None else None
    if best_file is not None and best_file.is_file():  # resuming: the best epoch may lie before the cut
        state.update(_read_best(best_file))

    class Loop(keras.callbacks.Callback):
        """Learning-rate schedule, best-epoch selection, patience, deadline, log and progress bar."""

        def on_epoch_begin(self, epoch, logs=None):
            if state["bar"] is None:  # the first epoch of this call: a resumed run starts after its backup
                if log_file is not None and log_file.is_file():
                    _drop_logged_epochs(log_file, first=epoch)
                state["bar"] = tqdm(total=config.epochs, initial=epoch, unit="epoch", desc="training",
                                    disable=not progress)  # fmt: skip
            lr = config.learning_rate_at(epoch, state["total"])
            self.model.optimizer.learning_rate.assign(lr)
            state["lr"], state["epoch_t0"] = lr, time.time()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            dt = time.time() - state["epoch_t0"]
            # predict_on_batch over 4096-row slices: predict's numbers, without its 60 ms per call of set-up
            pred = np.concatenate([np.asarray(model.predict_on_batch(Xva[i:i + 4096]))[:, 0]
                                   for i in range(0, len(Xva), 4096)])  # fmt: skip
            val_mae = float(np.mean(np.abs(pred - y_val)))
            if val_mae < state["best"]:
                state.update(best=val_mae, best_epoch=epoch, weights=model.get_weights(), best_saved=False)
            row = {"epoch": epoch, "loss": logs.get("loss"), "val_mae": val_mae, "lr": state["lr"], "seconds": dt}
            state["rows"].append(row)
            if log_file is not None:
                new = not log_file.is_file()
                with log_file.open("a", newline="") as fh:
                    writer = csv.DictWriter(fh, fieldnames=list(row))
                    if new:
                        writer.writeheader()
                    writer.writerow(row)
            if deadline is not None and len(state["rows"]) == 2:
                # Fit the whole schedule (cosine tail included) before the deadline;
                # the second epoch is timed because the first includes compilation.
                fits = epoch + 1 + int((deadline - time.time()) / max(dt, 1e-3))
                state["total"] = max(config.warmup_epochs + 2, min(config.epochs, fits))
            state["bar"].set_postfix({"loss": f"{logs.get('loss', math.nan):.4g}", "val_mae": f"{val_mae:.4g}"})
            state["bar"].update(1)
            if log and (epoch % 10 == 0 or epoch + 1 >= state["total"]):
                log(f"epoch {epoch + 1}/{state['total']} loss {logs.get('loss', math.nan):.4f} val_mae {val_mae:.5g} "
                    f"({dt:.1f} s)")  # fmt: skip
            patience_over = config.patience is not None and epoch - state["best_epoch"] >= config.patience
            if epoch + 1 >= state["total"] or patience_over:
                self.model.stop_training = True

        def on_train_end(self, logs=None):
            if state["bar"] is not None:
                state["bar"].close()

    class Backup(keras.callbacks.BackupAndRestore):
        """Keras' backup and the best epoch so far, written once ``backup_every_s`` seconds have passed.

        A backup (weights and Adam state: 67 MB for irnet-17) every epoch took 0.3 of the 0.5 s
        an epoch of 200 rows takes on 2 cores; on the large sets an epoch is longer than the
        interval, and every epoch is still backed up.
        """

        last = time.time()

        def on_epoch_end(self, epoch, logs=None):
            if time.time() - self.last < backup_every_s:
                return
            if best_file is not None and not state["best_saved"]:
                _write_best(best_file, state)
                state["best_saved"] = True
            super().on_epoch_end(epoch, logs)
            self.last = time.time()

    keras_callbacks: list[Any] = [Loop(), *callbacks]
    if checkpoint_dir is not None:
        # After the loop, which finds this epoch's validation MAE; before any other callback,
        # so that an epoch is backed up before a user's callback can interrupt the run.
        keras_callbacks.insert(1, Backup(str(checkpoint_dir), save_freq="epoch", delete_checkpoint=True))
    train_model.fit(Xtr, y_fit, epochs=config.epochs, batch_size=config.batch_size, shuffle=True, verbose=0,
                    callbacks=keras_callbacks)  # fmt: skip
    if state["weights"] is not None:
        model.set_weights(state["weights"])
    history = pd.DataFrame(state["rows"], columns=["epoch", "loss", "val_mae", "lr", "seconds"])
    n_epochs = len(history)
    steady = history["seconds"].iloc[1:] if n_epochs > 1 else history["seconds"]  # epoch 1 compiles
    used = {"feature_mean": fill.tolist(), "feature_std": np.sqrt(np.asarray(norm_var, dtype=float)).tolist(),
            "target_mean": t_mean, "target_std": t_std,
            **{k: scaler[k] for k in ("feature_min", "feature_max") if k in scaler}}  # fmt: skip
    return FitResult(model, history, n_epochs, state["best_epoch"] + 1, time.time() - state["t0"],
                     len(Xtr) / max(float(steady.mean()), 1e-9) if n_epochs else 0.0, used)


def _drop_logged_epochs(log_file: Path, first: int) -> None:
    """Remove the rows of epochs ``first`` and later: a resumed run trains them again."""
    from irnet_hub.files import atomic_path

    logged = pd.read_csv(log_file)
    if (logged["epoch"] >= first).any():
        with atomic_path(log_file) as tmp:
            logged[logged["epoch"] < first].to_csv(tmp, index=False)


def _write_best(path: Path, state: dict[str, Any]) -> None:
    """The best epoch so far, written whole or not at all (a kill mid-write keeps the previous one)."""
    from irnet_hub.files import atomic_path

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        np.savez(tmp, best=state["best"], best_epoch=state["best_epoch"],
                 **{f"w{i}": w for i, w in enumerate(state["weights"])})  # fmt: skip


def _read_best(path: Path) -> dict[str, Any]:
    with np.load(path) as saved:
        n = sum(1 for k in saved.files if k.startswith("w"))
        return {"best": float(saved["best"]), "best_epoch": int(saved["best_epoch"]),
                "weights": [saved[f"w{i}"] for i in range(n)]}
