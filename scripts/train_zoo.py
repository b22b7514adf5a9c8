"""Train one model of the pretrained zoo on this machine's CPU (the documented path).

    python scripts/train_zoo.py mp-bulk-modulus                 # every width of the recipe, fold 0, + RandomForest
    python scripts/train_zoo.py matbench-expt-gap --fold 3 --width 8
    python scripts/train_zoo.py matbench-expt-gap               # transfer from the shipped oqmd-bandgap (its recipe says so)
    python scripts/train_zoo.py mp-shear-modulus --init-from runs-aux/mp-bulk-modulus/w8-f0/model.keras

Recipes, splits and the fitting procedure are in irnet_hub/zoo.py; wall times
per recipe on 2 cores are in benchmarks/RESULTS_zoo_cpu.md (each run < ~60
min). Each (width, fold) goes to runs/NAME/wW-fK/ (model.keras, history.csv,
result.json). Runs are resumable: rerun the same command and a run that was
cut off continues from its last finished epoch (Keras BackupAndRestore);
finished steps are skipped. Then `python scripts/package_zoo.py NAME` picks
the width with the best validation MAE and writes servables/NAME.

Backend-agnostic: KERAS_BACKEND=jax runs the same recipe (e.g. on a GPU).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from irnet_hub import zoo  # noqa: E402


def split_features(split: zoo.Split, featurizer: str = "magpie145") -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(X, y) of train/val/test with the recipe's featurizer (structures: Ward 2017, cached on disk)."""
    from irnet_hub.featurize import get_featurizer

    _, featurize = get_featurizer(featurizer)
    out = {}
    for part in ("train", "val", "test"):
        df = getattr(split, part)
        items = list(df["structure"]) if "structure" in df.columns else df["formula"].tolist()
        kw = {"progress": False} if "structure" in df.columns else {}
        X = featurize(items, errors="raise", **kw).features
        out[part] = (X, df["target"].to_numpy(dtype=float))
    return out


def random_forest(recipe: zoo.Recipe, fold: int, run: Path) -> dict:
    """The RandomForest reference on the same split and features (grid searched on validation)."""
    path = run / f"rf-f{fold}.json"
    if path.is_file():
        return json.loads(path.read_text())
    from irnet_hub.random_forest import grid_for, search_grid

    t0 = time.time()
    data = split_features(zoo.build_split(recipe, fold), recipe.featurizer)
    (Xtr, ytr), (Xva, yva), (Xte, yte) = data["train"], data["val"], data["test"]
    Xva, Xte, Xtr = (zoo.fill_like_training(Xtr, X) for X in (Xva, Xte, Xtr))
    grid = grid_for(len(ytr))
    rf, params, tried, _ = search_grid(Xtr, ytr, Xva, yva, grid=grid)
    best = (min(r["val_mae"] for r in tried), params, float(np.mean(np.abs(rf.predict(Xte) - yte))))
    result = {"job": {"kind": "rf", "recipe": recipe.name, "fold": fold}, "val_mae": best[0], "params": best[1],
              "test_mae": best[2], "grid": grid, "seconds": time.time() - t0}  # fmt: skip
    run.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name", choices=sorted(zoo.RECIPES))
    ap.add_argument("--fold", type=int, choices=range(5), help="5-fold recipes: this fold only (default: all 5)")
    ap.add_argument("--width", type=int, action="append", help="width factor(s) of irnet-17 (default: the recipe's)")
    ap.add_argument("--epochs", type=int, help="override the recipe's epochs")
    ap.add_argument("--lr", type=float, help="override the recipe's peak learning rate")
    ap.add_argument("--batch-size", type=int, help="override the recipe's batch size")
    ap.add_argument("--members", type=int, help="override the recipe's ensemble size")
    ap.add_argument("--transform", choices=("none", "log", "log1p"), help="override the recipe's target transform")
    ap.add_argument("--init-from", help="a zoo model.keras, a model directory or a registered model name, of the same "
                                        "architecture and ensemble size, to start from (transfer; default: the "
                                        "recipe's init_from)")
    ap.add_argument("--tag", default="", help="suffix of the run folder (e.g. 'transfer')")
    ap.add_argument("--runs", type=Path, default=REPO / "runs")
    ap.add_argument("--no-rf", action="store_true", help="skip the RandomForest reference")
    ap.add_argument("--exclude-split-of", metavar="NAME",
                    help="drop from train/val every formula in NAME's val or test split (a transfer source that "
                         "must not have seen the target recipe's held-out compositions)")
    args = ap.parse_args()

    recipe = zoo.get_recipe(args.name)
    run = args.runs / recipe.name
    folds = [args.fold] if args.fold is not None else list(range(recipe.folds))
    init_model = None
    init_from = args.init_from or recipe.init_from
    if init_from:
        init_model = _load_source(init_from)
    for fold in folds:
        split = zoo.build_split(recipe, fold)
        if args.exclude_split_of:
            other = zoo.build_split(args.exclude_split_of, fold)
            held = set(other.val["formula"]) | set(other.test["formula"])
            split.train = split.train[~split.train["formula"].isin(held)]
            split.val = split.val[~split.val["formula"].isin(held)]
            split.record["excluded"] = f"formulas of {args.exclude_split_of}'s val and test splits"
        data = None
        for w in args.width or recipe.widths:
            out = run / f"w{w}-f{fold}{'-' + args.tag if args.tag else ''}"
            if (out / "result.json").is_file():
                print(f"{out}: done, skipped")
                continue
            data = data or split_features(split, recipe.featurizer)
            job = {"kind": "zoo", "recipe": recipe.name, "fold": fold, "width": w, "architecture": f"irnet-17/{w}",
                   "members": args.members or recipe.members, "featurizer": recipe.featurizer, "transform": args.transform or recipe.transform, "epochs": args.epochs or recipe.epochs,
                   "batch_size": args.batch_size or recipe.batch_size, "lr": args.lr or recipe.learning_rate, "seed": fold,
                   "init_from": init_from, "device": _device()}  # fmt: skip
            t0 = time.time()
            res = zoo.train_and_score(data, job, out, checkpoint_dir=str(out / "checkpoint"), init_model=init_model,
                                      log=lambda m: print(f"{out.name}: {m}", flush=True))  # fmt: skip
            res.update(split=split.record, wall_seconds=time.time() - t0)
            (out / "result.json").write_text(json.dumps(res, indent=1, default=float))
            print(f"{out}: val MAE {res['val_mae']:.5g}, test MAE {res['test_mae']:.5g}, "
                  f"{res['epochs_run']} epochs in {res['train_seconds']:.0f} s", flush=True)  # fmt: skip
        if not args.no_rf:
            rf = random_forest(recipe, fold, run)
            print(f"RandomForest fold {fold}: val MAE {rf['val_mae']:.5g}, test MAE {rf['test_mae']:.5g}")


def _load_source(init_from: str):
    """A transfer source: a .keras file, or a model directory / registered name (e.g. oqmd-bandgap)."""
    import keras

    if init_from.endswith(".keras"):
        return keras.saving.load_model(init_from)
    from irnet_hub.artifact import load_keras_model
    from irnet_hub.hub.cache import resolve

    return load_keras_model(resolve(init_from)[0])


def _device() -> str:
    import os

    import keras

    return f"CPU ({os.cpu_count()} cores, Keras {keras.backend.backend()})"


if __name__ == "__main__":
    main()
