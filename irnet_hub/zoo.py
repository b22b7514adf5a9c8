"""The pretrained model zoo: one recipe per shipped model, its split, and how it is fitted.

A recipe names the data files (paths under ``$IRNET_DATA_DIR``, see
:mod:`irnet_hub.data`), how they are split, the unit and target transform,
the network widths tried on validation and the training budget. Everything is
sized for the 2-core CPU every machine has (docs/zoo.md): a run of
``python scripts/train_zoo.py NAME`` stays under about 60 minutes there, and a
GPU (Keras with the JAX backend) only runs the same recipe faster.

The split of a trained model is recorded as a plain dict (``Split.record``) in
its model directory, and :func:`rebuild_split` turns that record back into the
same train/val/test rows, so anyone can re-score a shipped model.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from irnet_hub.preprocessing import feature_fill_mean, fill_missing, fit_scaler
from irnet_hub.fitting import FitResult, TrainConfig, fit, learning_rate_at, transform_target  # noqa: F401 (re-exported)

CB = "crabnet/benchmark_data"
MB = "crabnet/matbench_cv"
SPLIT_SEED = 20190804  # KDD 2019; fixed so every split we make can be rebuilt by anyone
MATBENCH_SEED = 18012019  # the KFold seed Matbench uses for its 5 folds


@dataclass(frozen=True)
class Recipe:
    """How one zoo model is made. Budgets are per run on 2 CPU cores (docs/zoo.md)."""

    name: str
    target_name: str
    unit: str
    files: dict[str, str]
    split: str  # "given", "given-no-test", "random-90-10", "matbench-5-fold", "kfold-5"
    featurizer: str = "magpie145"
    transform: str = "none"  # "log" / "log1p" for positive, skewed properties
    widths: tuple[int, ...] = (4, 8)  # width factors of irnet-17 tried on validation
    members: int = 3
    epochs: int = 150
    batch_size: int = 256
    learning_rate: float = 2e-3
    warmup_epochs: int = 3
    output_rules: dict[str, bool] = field(default_factory=dict)
    init_from: str | None = None  # transfer: another zoo model whose trunk starts this one
    anchors: dict[str, float] = field(default_factory=dict)  # published test MAEs, same split
    target_mae: float | None = None  # what the zoo issue aims at
    rf_ratio_target: float | None = None  # e.g. 0.70: MAE <= 0.70 x RF (the paper's ratio)

    @property
    def folds(self) -> int:
        return 5 if self.split in ("matbench-5-fold", "kfold-5") else 1


_POSITIVE = {"non_negative": True}
RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in [
        Recipe("oqmd-formation-enthalpy", "formation enthalpy", "eV/atom",
               {"all": f"{CB}/OQMD_Formation_Enthalpy/val.csv"}, "random-90-10", widths=(4,), epochs=100,
               output_rules={"elements_are_zero": True},
               anchors={"IRNet paper (OQMD-C, 48 layers, own split)": 0.054, "RF (IRNet paper, OQMD-C)": 0.077},
               rf_ratio_target=0.70),
        Recipe("oqmd-bandgap", "band gap", "eV",
               {"train": f"{CB}/OQMD_Bandgap/train.csv", "test": f"{CB}/OQMD_Bandgap/val.csv"}, "given-no-test",
               # 215k rows: batch 512 (256: 5,822 and 1024: 14,586 samples/s on 2 cores; docs/zoo.md)
               widths=(4,), epochs=60, batch_size=512, learning_rate=3e-3, output_rules=_POSITIVE,
               anchors={"CrabNet": 0.049, "Roost": 0.088, "ElemNet": 0.148, "RF (CrabNet paper)": 0.060,
                        "IRNet paper (48 layers, own split)": 0.047},
               target_mae=0.049),
        Recipe("oqmd-energy-per-atom", "total energy", "eV/atom",
               {"all": f"{CB}/OQMD_Energy_per_atom/val.csv"}, "random-90-10", widths=(8,), epochs=40),
        Recipe("oqmd-volume-per-atom", "volume", "A^3/atom",
               {"all": f"{CB}/OQMD_Volume_per_atom/val.csv"}, "random-90-10", transform="log", widths=(8,), epochs=40,
               output_rules=_POSITIVE),
        Recipe("mp-e-above-hull", "energy above hull", "eV/atom",
               {"train": f"{CB}/mp_e_hull/train.csv", "test": f"{CB}/mp_e_hull/val.csv"}, "given-no-test",
               widths=(8,), epochs=40, output_rules=_POSITIVE,
               anchors={"CrabNet": 0.089, "Roost": 0.094, "ElemNet": 0.110, "RF (CrabNet paper)": 0.126},
               target_mae=0.089),
        Recipe("mp-magnetization", "total magnetization", "Bohr magneton/formula unit",
               {"train": f"{CB}/mp_mu_b/train.csv", "test": f"{CB}/mp_mu_b/val.csv"}, "given-no-test", widths=(8,), epochs=40,
               # signed: 0.3 % of the training targets are negative (down to -84), so no sign rule
               anchors={"CrabNet": 2.105, "Roost": 2.507, "RF (CrabNet paper)": 2.732}, target_mae=2.105),
        Recipe("mp-bulk-modulus", "bulk modulus", "GPa",
               {"train": f"{CB}/mp_bulk_modulus/train.csv", "val": f"{CB}/mp_bulk_modulus/val.csv",
                "test": f"{CB}/mp_bulk_modulus/test.csv"}, "given", transform="log",
               # Oliynyk element statistics next to Magpie: val 13.12 vs 13.96 (descriptor ablation)
               featurizer="magpie145+oliynyk", widths=(8,), epochs=300, output_rules=_POSITIVE,
               anchors={"CrabNet": 11.21}, target_mae=11.21),
        Recipe("mp-shear-modulus", "shear modulus", "GPa",
               {"train": f"{CB}/mp_shear_modulus/train.csv", "val": f"{CB}/mp_shear_modulus/val.csv",
                "test": f"{CB}/mp_shear_modulus/test.csv"}, "given", transform="log1p",
               # Oliynyk element statistics next to Magpie: val 12.71 vs 13.38 (descriptor ablation)
               featurizer="magpie145+oliynyk", widths=(8,), epochs=300, output_rules=_POSITIVE,
               anchors={"CrabNet": 12.79}, target_mae=12.79),
        Recipe("matbench-mp-e-form", "formation energy", "eV/atom", {"folder": f"{MB}/mp_e_form"},
               "matbench-5-fold", widths=(4,), epochs=100, output_rules={"elements_are_zero": True},
               anchors={"CrabNet": 0.077, "Roost": 0.078, "RF (CrabNet paper)": 0.131}, target_mae=0.077),
        Recipe("matbench-mp-gap", "band gap", "eV", {"folder": f"{MB}/mp_gap"}, "matbench-5-fold",
               widths=(4,), epochs=100, output_rules=_POSITIVE,
               anchors={"CrabNet": 0.263, "Roost": 0.260}, target_mae=0.263),
        Recipe("matbench-expt-gap", "experimental band gap", "eV", {"folder": f"{MB}/expt_gap"},
               "matbench-5-fold", widths=(4,), epochs=150, learning_rate=5e-4, output_rules=_POSITIVE,
               # transfer: the shipped oqmd-bandgap's width and member count (fold-0 val 0.296 vs 0.392 from scratch)
               init_from="oqmd-bandgap", anchors={"CrabNet": 0.346, "Roost": 0.401}, target_mae=0.346),
        Recipe("matbench-phonons-structure", "last phonon DOS peak", "cm^-1",
               {"structures": "structures/matbench_phonons.json.gz"}, "kfold-5", featurizer="ward2017",
               transform="log", widths=(8,), epochs=150, batch_size=64, learning_rate=1e-3,
               # 911 training structures: 8 members (fold-0 val 36.5 vs 38.4 with 3; raw target: 45.6)
               members=8, output_rules=_POSITIVE, anchors={"CrabNet (composition only)": 55.1}),
    ]
}  # fmt: skip


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        from irnet_hub.errors import InvalidInputError

        raise InvalidInputError(name, f"no zoo recipe of that name; known: {', '.join(sorted(RECIPES))}")
    return RECIPES[name]


# --------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------


@dataclass
class Split:
    """Train/val/test rows of one model (columns ``formula`` or ``structure``, and ``target``)."""

    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    record: dict[str, Any]  # JSON-able; rebuild_split(record) gives the same rows


def _read(relpath: str) -> pd.DataFrame:
    from irnet_hub.data import fetch, read_table

    return read_table(fetch(relpath))


def _carve(df: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    perm = np.random.default_rng(seed).permutation(len(df))
    n = int(len(df) * fraction)
    return df.iloc[perm[n:]], df.iloc[perm[:n]]


def rebuild_split(record: dict[str, Any]) -> Split:
    """The train/val/test rows that a model's recorded split names (see :class:`Split`)."""
    kind, files, fold = record["kind"], record["files"], int(record.get("fold", 0))
    seed = int(record.get("seed", SPLIT_SEED))
    if kind == "given":
        tr, va, te = (_read(files[k]) for k in ("train", "val", "test"))
    elif kind == "given-no-test":
        # The published test split is held out on purpose: the published val
        # split is our test, and 10 % of train (seeded) is our validation.
        tr, va = _carve(_read(files["train"]), 0.10, seed)
        te = _read(files["test"])
    elif kind == "random-90-10":
        # The 51k-row OQMD files: 10 % test, then 10 % of the rest for validation.
        df = _read(files["all"])
        perm = np.random.default_rng(seed).permutation(len(df))
        n_test = len(df) // 10
        test_idx, rest = perm[:n_test], perm[n_test:]
        n_val = len(rest) // 10
        tr, va, te = df.iloc[rest[n_val:]], df.iloc[rest[:n_val]], df.iloc[test_idx]
    elif kind == "matbench-5-fold":
        folder = files["folder"]
        tr, va, te = (_read(f"{folder}/{s}{fold}.csv") for s in ("train", "val", "test"))
    elif kind == "kfold-5":
        from sklearn.model_selection import KFold

        from irnet_hub.data import fetch

        raw = pd.read_json(fetch(files["structures"]), orient="split")
        target_col = [c for c in raw.columns if c != "structure"][-1]
        df = pd.DataFrame({"structure": raw["structure"], "target": raw[target_col].astype(float)})
        train_idx, test_idx = list(KFold(5, shuffle=True, random_state=MATBENCH_SEED).split(df))[fold]
        perm = np.random.default_rng(seed + fold).permutation(train_idx)
        n_val = len(perm) // 10
        tr, va, te = df.iloc[perm[n_val:]], df.iloc[perm[:n_val]], df.iloc[test_idx]
    else:
        from irnet_hub.errors import InvalidInputError

        raise InvalidInputError(kind, "unknown split kind in the model's record")
    return Split(tr, va, te, dict(record))


def split_record(recipe: Recipe, fold: int = 0) -> dict[str, Any]:
    """The JSON record of a recipe's split (fold ``fold`` for 5-fold recipes)."""
    text = {
        "given": "the published train/val/test files",
        "given-no-test": "test = the published val file (the published test file is held out); "
        f"val = 10 % of the published train file (numpy seed {SPLIT_SEED})",
        "random-90-10": f"random 10 % test, then 10 % of the rest as val (numpy seed {SPLIT_SEED})",
        "matbench-5-fold": f"CrabNet's matbench_cv fold {fold} (train/val/test files)",
        "kfold-5": f"KFold(5, shuffle=True, random_state={MATBENCH_SEED}) fold {fold}, as Matbench; "
        f"val = 10 % of the training folds (numpy seed {SPLIT_SEED} + fold)",
    }[recipe.split]
    record: dict[str, Any] = {"kind": recipe.split, "files": dict(recipe.files), "seed": SPLIT_SEED, "text": text}
    if recipe.folds > 1:
        record["fold"] = fold
    return record


def build_split(recipe: Recipe | str, fold: int = 0) -> Split:
    recipe = get_recipe(recipe) if isinstance(recipe, str) else recipe
    return rebuild_split(split_record(recipe, fold))


# --------------------------------------------------------------------------
# Fitting
# --------------------------------------------------------------------------


def fit_ensemble(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    *,
    architecture: str,
    members: int,
    transform: str = "none",
    epochs: int = 150,
    batch_size: int = 256,
    learning_rate: float = 2e-3,
    warmup_epochs: int = 3,
    seed: int = 0,
    deadline: float | None = None,
    checkpoint_dir: str | None = None,
    init_model: Any = None,
    log: Callable[[str], None] | None = None,
) -> FitResult:
    """The zoo's schedule on the one training loop (:func:`irnet_hub.training.fit`).

    ``members`` IRNets side by side, MAE, Adam, linear warm-up then cosine decay over the
    whole budget, no early stopping, the epoch with the best validation MAE of the ensemble
    mean kept. ``init_model``: a fitted prediction model of the same architecture and member
    count (transfer learning): its weights start this fit, and its feature and target scaling
    are kept so the trunk sees what it learnt on. X may hold NaN (features missing for some
    elements): they are filled with the training mean, the rule the runtime applies too.
    """
    config = TrainConfig(architecture=architecture, members=members, transform=transform, epochs=epochs,
                         batch_size=batch_size, learning_rate=learning_rate, schedule="cosine",
                         warmup_epochs=warmup_epochs, patience=None, seed=seed)  # fmt: skip
    scaler, normalization, init_weights = None, None, None  # fit() standardizes on the training rows
    if init_model is not None:
        scaler = fit_scaler(X_train, transform_target(np.asarray(y_train, dtype=float), transform))
        norm, rescale = init_model.get_layer("standardize"), init_model.get_layer("m0_unstandardize")
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


def calibrate_std_scale(members_pred: np.ndarray, y: np.ndarray) -> float:
    """The factor that makes std(members) x scale a calibrated 1-sigma error on ``y``.

    Chosen so that 68.3 % of |error| fall within one scaled std (the Gaussian
    fraction), i.e. the 68.3th percentile of |error| / std.
    """
    std = members_pred.std(axis=1)
    err = np.abs(members_pred.mean(axis=1) - y)
    ok = std > 0
    return float(np.quantile(err[ok] / std[ok], 0.683)) if ok.any() else 1.0


def fill_like_training(X_train: np.ndarray, X: np.ndarray) -> np.ndarray:
    """X with missing features replaced by the training mean, as float32 (what the model was fitted on)."""
    return fill_missing(X, feature_fill_mean(X_train))


def train_and_score(
    data: dict[str, tuple[np.ndarray, np.ndarray]],
    job: dict[str, Any],
    out_dir: str | os.PathLike[str],
    *,
    deadline: float | None = None,
    checkpoint_dir: str | None = None,
    init_model: Any = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Fit one job (recipe settings + architecture) on ``data`` = {train, val, test: (X, y)}; save and score it.

    Writes ``model.keras``, ``history.csv`` and ``result.json`` (MAE on val and
    test, epochs, timing, std scale fitted on val and calibration on test for
    ensembles) to ``out_dir``; returns the result.
    """
    import json
    from pathlib import Path

    (Xtr, ytr), (Xva, yva), (Xte, yte) = data["train"], data["val"], data["test"]
    fit = fit_ensemble(
        Xtr, ytr, Xva, yva, architecture=job["architecture"], members=job["members"], transform=job["transform"],
        epochs=job["epochs"], batch_size=job["batch_size"], learning_rate=job["lr"], seed=job.get("seed", 0),
        deadline=deadline, checkpoint_dir=checkpoint_dir, init_model=init_model, log=log,
    )  # fmt: skip
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fit.history.to_csv(out / "history.csv", index=False)
    pv = fit.model.predict(fill_like_training(Xtr, Xva), batch_size=4096, verbose=0)
    pt = fit.model.predict(fill_like_training(Xtr, Xte), batch_size=4096, verbose=0)
    result: dict[str, Any] = {
        "job": job, "n_train": len(ytr), "n_val": len(yva), "n_test": len(yte),
        "epochs_run": fit.epochs_run, "best_epoch": fit.best_epoch, "train_seconds": fit.seconds,
        "samples_per_second": fit.samples_per_second,
        "val_mae": float(np.mean(np.abs(pv[:, 0] - yva))), "test_mae": float(np.mean(np.abs(pt[:, 0] - yte))),
        "params": int(fit.model.count_params()), "scaler": fit.scaler,
    }  # fmt: skip
    if pv.shape[1] > 1:
        scale = calibrate_std_scale(pv[:, 1:], yva)
        result["std_scale"] = scale
        from irnet_hub.metrics import calibration_metrics

        result["calibration_test"] = calibration_metrics(yte, pt[:, 0], pt[:, 1:].std(axis=1) * scale)
        result["member_test_mae"] = [float(np.mean(np.abs(pt[:, j] - yte))) for j in range(1, pt.shape[1])]
    fit.model.save(out / "model.keras")
    (out / "result.json").write_text(json.dumps(result, indent=1, default=float))
    return result
