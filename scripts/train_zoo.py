"""Train one model of the pretrained zoo and package it under servables/<name>.

    python scripts/train_zoo.py mp-bulk-modulus [--runs runs] [--epochs N] [--batch-size B] [--lr LR]

Steps: build the split of the recipe (scripts/zoo_recipes.py), train the IRNet
network (early stopping on validation only), fit the RandomForest baseline on
the same split, score both on the test split once, try float16 weights (kept
when the test MAE moves by < 0.5 %), write the model directory to
runs/<name>/model and the servable to servables/<name>.

Backend-agnostic: on the GPU machine run it with KERAS_BACKEND=jax.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from zoo_recipes import CPU_SETTINGS, RECIPES  # noqa: E402

from irnet_hub import artifact  # noqa: E402
from irnet_hub.data import fetch, read_table  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SPLIT_SEED = 20190804  # KDD 2019; fixed so the 90/10 split can be rebuilt by anyone


def build_split(recipe: dict) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    files = recipe["files"]
    if recipe["split"] == "given":
        tr, va = read_table(fetch(files["train"])), read_table(fetch(files["val"]))
        if "test" in files:
            te = read_table(fetch(files["test"]))
            desc = {"train": files["train"], "val": files["val"], "test": files["test"]}
        else:
            # Test split held out on purpose (checked independently): score on nothing we tuned on.
            te = None
            desc = {"train": files["train"], "val": files["val"], "test": "held out (not available offline)"}
        return tr, va, te, desc
    if recipe["split"] == "random-90-10":
        df = read_table(fetch(files["all"]))
        perm = np.random.default_rng(SPLIT_SEED).permutation(len(df))
        n_test = len(df) // 10
        test_idx, rest = perm[:n_test], perm[n_test:]
        n_val = len(rest) // 10
        val_idx, train_idx = rest[:n_val], rest[n_val:]
        desc = {"all": files["all"], "split": f"random 90/10 train+val/test, then 90/10 train/val (numpy seed {SPLIT_SEED})",
                "n_test": int(n_test)}
        return df.iloc[train_idx], df.iloc[val_idx], df.iloc[test_idx], desc
    raise SystemExit(f"split {recipe['split']!r} needs a fold: use build_fold")


MATBENCH_SEED = 18012019  # the KFold seed Matbench uses for its 5 folds


def build_fold(recipe: dict, fold: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """Train/val/test of one of 5 folds; val is 10 % of the training folds (early stopping only)."""
    files = recipe["files"]
    if recipe["split"] == "matbench-5-fold":
        folder = files["folder"]
        tr = read_table(fetch(f"{folder}/train{fold}.csv"))
        va = read_table(fetch(f"{folder}/val{fold}.csv"))
        te = read_table(fetch(f"{folder}/test{fold}.csv"))
        return tr, va, te, {"folder": folder, "fold": fold, "split": "CrabNet's matbench_cv folds"}
    if recipe["split"] == "kfold-5":
        from sklearn.model_selection import KFold

        df = pd.read_json(fetch(files["structures"]), orient="split")
        target_col = [c for c in df.columns if c != "structure"][-1]
        df = pd.DataFrame({"structure": df["structure"], "target": df[target_col].astype(float)})
        train_idx, test_idx = list(KFold(5, shuffle=True, random_state=MATBENCH_SEED).split(df))[fold]
        perm = np.random.default_rng(SPLIT_SEED + fold).permutation(train_idx)
        n_val = len(perm) // 10
        desc = {"structures": files["structures"], "fold": fold,
                "split": f"KFold(5, shuffle=True, random_state={MATBENCH_SEED}) as Matbench; val = 10 % of train folds"}
        return df.iloc[perm[n_val:]], df.iloc[perm[:n_val]], df.iloc[test_idx], desc
    raise SystemExit(f"split {recipe['split']!r} has no folds")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name", choices=sorted(RECIPES))
    ap.add_argument("--runs", default=str(REPO / "runs"))
    ap.add_argument("--architecture", default=CPU_SETTINGS["architecture"])
    ap.add_argument("--epochs", type=int, default=CPU_SETTINGS["epochs"])
    ap.add_argument("--batch-size", type=int, default=CPU_SETTINGS["batch_size"])
    ap.add_argument("--lr", type=float, default=CPU_SETTINGS["learning_rate"])
    ap.add_argument("--patience", type=int, default=CPU_SETTINGS["patience"])
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tag", default="", help="suffix of the run folder, for tuning runs")
    ap.add_argument("--rf-grid", default="full", choices=["full", "reduced", "none"],
                    help="full: irnet_hub.random_forest.DEFAULT_GRID; reduced: 100 trees, max_features 0.33/1.0 (large sets on CPU)")
    ap.add_argument("--no-servable", action="store_true")
    ap.add_argument("--reuse", action="store_true", help="keep an already trained runs/.../model; redo the steps after training")
    ap.add_argument("--fold", type=int, choices=range(5), help="k-fold recipes: train only this fold")
    args = ap.parse_args()

    recipe = RECIPES[args.name]
    run = Path(args.runs) / (args.name + (f"-{args.tag}" if args.tag else ""))
    if recipe["split"] in ("matbench-5-fold", "kfold-5"):
        folds = [args.fold] if args.fold is not None else list(range(5))
        infos = []
        for k in folds:
            tr, va, te, desc = build_fold(recipe, k)
            infos.append(train_one(args, recipe, tr, va, te, desc, run / f"fold{k}"))
        final = run / "fold0" / "final"
        if 0 in folds and len(folds) == 5:
            maes = [i["metrics"]["test"]["mae"] for i in infos]
            rf_maes = [i.get("baseline", {}).get("test", {}).get("mae") for i in infos]
            info = artifact.read_info(final)
            info["cv"] = {"folds": 5, "test_mae_per_fold": maes, "test_mae_mean": float(np.mean(maes)),
                          "test_mae_std": float(np.std(maes)), "rf_test_mae_per_fold": rf_maes,
                          "rf_test_mae_mean": None if None in rf_maes else float(np.mean(rf_maes)),
                          "shipped": "fold 0"}
            artifact.write_info(final, info)
            artifact.write_manifest(final)
            print(f"5-fold mean test MAE {np.mean(maes):.5g} (RF {info['cv']['rf_test_mae_mean']})")
    else:
        tr, va, te, desc = build_split(recipe)
        train_one(args, recipe, tr, va, te, desc, run)
        final = run / "final"

    if not args.no_servable:
        from irnet_hub.hub.servable import build_servable

        out = REPO / "servables" / args.name
        build_servable(final, out, overwrite=True)
        print(f"servable written to {out}")


def _device() -> str:
    """Where Keras trained: the accelerator's name, or the CPU core count."""
    import os

    import keras

    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            d = jax.devices()[0]
            if d.platform == "gpu":
                return f"{d.device_kind} (jax)"
        elif backend == "torch":
            import torch

            if torch.cuda.is_available():
                return f"{torch.cuda.get_device_name(0)} (torch)"
        elif backend == "tensorflow":
            import tensorflow as tf

            if tf.config.list_physical_devices("GPU"):
                return "GPU (tensorflow)"
    except Exception:  # device lookup is informative only
        pass
    return f"CPU ({os.cpu_count()} cores, {backend})"


def train_one(args, recipe: dict, tr, va, te, split_desc: dict, run: Path) -> dict:
    """Train, baseline, float16 check; the chosen model ends up in run/final."""
    import shutil

    from irnet_hub.random_forest import baseline
    from irnet_hub.evaluation import evaluate
    from irnet_hub.training import train

    model_dir = run / "model"
    reuse = args.reuse and artifact.is_model_dir(model_dir)
    for d in ([] if reuse else [model_dir]) + [run / "final"]:
        if d.exists():
            shutil.rmtree(d)
    t0 = time.perf_counter()
    info = artifact.read_info(model_dir) if reuse else train(
        tr, model_dir, val_data=va, test_data=te, target_name=recipe["target_name"], unit=recipe["unit"],
        featurizer=recipe.get("featurizer", "magpie145"), architecture=args.architecture, epochs=args.epochs,
        batch_size=args.batch_size, learning_rate=args.lr, patience=args.patience, seed=args.seed, weight_decay=args.weight_decay,
        name=args.name, dataset=recipe["dataset"],
    )
    seconds = info["training_seconds"] if reuse else time.perf_counter() - t0
    n_epochs = info["hyperparameters"]["epochs_run"]
    info["data"].update(split_desc)
    info["training"] = {
        "device": _device(),
        "wall_seconds": round(seconds, 1),
        "samples_per_second": round(n_epochs * len(tr) / seconds, 1),
    }
    print(f"{args.name}: trained {n_epochs} epochs in {seconds:.0f} s; metrics {json.dumps(info['metrics'])}")

    if args.rf_grid != "none":
        grid = None if args.rf_grid == "full" else {"n_estimators": [100], "max_features": [0.33, 1.0], "min_samples_leaf": [1]}
        rf = baseline(tr, val_data=va, test_data=te, seed=args.seed, grid=grid,
                      featurizer=recipe.get("featurizer", "magpie145"))
        info["baseline"] = {k: rf[k] for k in ("model", "params", "val") if k in rf} | ({"test": rf["test"]} if "test" in rf else {})
        print(f"RandomForest: {json.dumps(info['baseline'])}")
    info["anchors"] = recipe.get("anchors", {})
    for key in ("target_mae", "target_rule"):
        if key in recipe:
            info[key] = recipe[key]

    # float16 weights halve the files (IRNet-17 at float32 is 22 MB > the 16 MiB limit);
    # kept only when the score we report moves by less than 0.5 %.
    score_split = "test" if te is not None else "val"
    score_df = te if te is not None else va
    half_dir = run / "model-float16"
    artifact.convert_weights(model_dir, half_dir, "float16")
    mae32 = info["metrics"][score_split]["mae"]
    mae16 = evaluate(half_dir, score_df)["mae"]
    change = abs(mae16 - mae32) / mae32
    info["float16"] = {"split": score_split, "mae_float32": mae32, "mae_float16": mae16, "relative_change": change,
                       "kept": bool(change < 0.005)}
    print(f"float16: {score_split} MAE {mae32:.5g} -> {mae16:.5g} ({change:.3%})")
    final = run / "final"
    shutil.copytree(half_dir if change < 0.005 else model_dir, final)
    shutil.rmtree(final / "checkpoint", ignore_errors=True)
    if info["float16"]["kept"]:
        info["metrics"][score_split + "_float32"] = info["metrics"][score_split]
        info["metrics"][score_split] = evaluate(half_dir, score_df)
        info["metrics"][score_split] = {k: info["metrics"][score_split][k] for k in ("mae", "rmse", "r2", "n", "p90_abs_error", "max_abs_error")}
    artifact.write_info(final, info)
    artifact.write_manifest(final)

    return info


if __name__ == "__main__":
    main()
