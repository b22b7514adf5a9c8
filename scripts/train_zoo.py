"""Train one model of the pretrained zoo on this machine's CPU (the documented path).

    python scripts/train_zoo.py mp-bulk-modulus                 # every width of the recipe, fold 0, + RandomForest
    python scripts/train_zoo.py matbench-expt-gap --fold 3 --width 8
    python scripts/train_zoo.py matbench-expt-gap               # transfer from the shipped oqmd-bandgap (its recipe says so)
    python scripts/train_zoo.py mp-shear-modulus --init-from runs-aux/mp-bulk-modulus/w8-f0/model.keras

Recipes, splits and the fitting procedure are in irnet_hub/zoo/ (this script
only parses arguments for `zoo.run_recipe`); wall times
per recipe on 2 cores are in benchmarks/RESULTS_zoo_cpu.md (each run < ~60
min). Each (width, fold) goes to runs/NAME/wW-fK/ (model.keras, history.csv,
result.json). Runs are resumable: rerun the same command and a run that was
cut off continues from its last backed-up epoch (Keras BackupAndRestore, at most every 30 s);
finished steps are skipped. Then `python scripts/package_zoo.py NAME` picks
the width with the best validation MAE and writes servables/NAME.

Backend-agnostic: KERAS_BACKEND=jax runs the same recipe (e.g. on a GPU).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from irnet_hub import zoo

REPO = Path(__file__).resolve().parents[1]  # default folder: the checkout's runs/


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
    overrides = {"epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size, "members": args.members,
                 "transform": args.transform}  # fmt: skip
    zoo.run_recipe(args.name, args.runs, folds=None if args.fold is None else [args.fold], widths=args.width,
                   overrides=overrides, init_from=args.init_from, exclude_split_of_recipe=args.exclude_split_of,
                   tag=args.tag, random_forest=not args.no_rf, log=lambda m: print(m, flush=True))  # fmt: skip


if __name__ == "__main__":
    main()
