"""Write the train/val/test CSVs a zoo model was trained and scored on.

    python scripts/zoo_split.py oqmd-formation-enthalpy --out splits/   [--fold K]

For recipes whose split we made (the 51k-row OQMD files, the structure folds),
this rebuilds it exactly (fixed seeds in scripts/train_zoo.py), so that
`irnet evaluate servables/NAME --data splits/NAME/test.csv --json` reproduces
the MAE in the model card.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_zoo import build_fold, build_split  # noqa: E402
from zoo_recipes import RECIPES  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name", choices=sorted(RECIPES))
    ap.add_argument("--out", default="splits")
    ap.add_argument("--fold", type=int, default=0)
    args = ap.parse_args()
    recipe = RECIPES[args.name]
    if recipe["split"] in ("matbench-5-fold", "kfold-5"):
        tr, va, te, _ = build_fold(recipe, args.fold)
    else:
        tr, va, te, _ = build_split(recipe)
    out = Path(args.out) / args.name
    out.mkdir(parents=True, exist_ok=True)
    for split, df in (("train", tr), ("val", va), ("test", te)):
        if df is None:
            continue
        if "structure" in df.columns:
            df.to_json(out / f"{split}.json.gz", orient="split")
        else:
            df.to_csv(out / f"{split}.csv", index=False)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
