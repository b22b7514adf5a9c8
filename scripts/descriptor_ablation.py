"""Descriptor ablation: Magpie alone vs Magpie + element-embedding statistics (mat2vec, Oliynyk).

    python scripts/descriptor_ablation.py mp-shear-modulus --extra mat2vec --extra oliynyk

Same recipe, split, network and seed as `scripts/train_zoo.py NAME` (fold 0);
only the features differ: the 145 Magpie attributes, plus the fraction-weighted
mean and standard deviation of each element's vector from the elementembeddings
package (irnet_hub/featurize/embeddings.py). Runs go to runs-ablation/NAME/
(kept apart from runs/, so package_zoo never ships a model whose featurizer the
runtime lacks); a Magpie-only run is trained too unless it is already there.
Selection is on validation MAE; test MAE is printed for the record.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from irnet_hub import zoo

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name", choices=sorted(n for n, r in zoo.RECIPES.items() if r.featurizer != "ward2017"))
    ap.add_argument("--extra", action="append", choices=("mat2vec", "oliynyk"), required=True)
    ap.add_argument("--width", type=int, help="width factor (default: the recipe's first)")
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--runs", type=Path, default=REPO / "runs-ablation")
    ap.add_argument("--no-baseline", action="store_true",
                    help="skip the Magpie-only run (its numbers are the shipped model's, same recipe and seed)")
    args = ap.parse_args()

    from irnet_hub.featurize.embeddings import embedding_features

    recipe = zoo.get_recipe(args.name)
    width = args.width or recipe.widths[0]
    split = zoo.build_split(recipe, 0)
    magpie = zoo.split_features(split, "magpie145")
    rows = []
    for extra in ([] if args.no_baseline else ["magpie-only"]) + args.extra:
        out = args.runs / recipe.name / f"w{width}-f0-{extra}"
        if (out / "result.json").is_file():
            res = json.loads((out / "result.json").read_text())
        else:
            data = dict(magpie)
            if extra != "magpie-only":
                data = {part: (np.hstack([X, embedding_features(getattr(split, part)["formula"].tolist(), extra)]), y)
                        for part, (X, y) in magpie.items()}
            job = zoo.Job.from_recipe(recipe, 0, width, epochs=args.epochs, kind="ablation", device=zoo.device_name(),
                                      featurizer="magpie145" if extra == "magpie-only" else f"magpie145+{extra}",
                                      extras={"extra": extra, "n_features": int(data["train"][0].shape[1])})  # fmt: skip
            t0 = time.time()
            res = zoo.train_and_score(data, job, out, checkpoint_dir=str(out / "checkpoint"),
                                      log=lambda m: print(f"{out.name}: {m}", flush=True))  # fmt: skip
            res["wall_seconds"] = time.time() - t0
            (out / "result.json").write_text(json.dumps(res, indent=1, default=float))
        rows.append((extra, res["job"]["n_features"] if "n_features" in res["job"] else 145, res["val_mae"], res["test_mae"]))
    print(f"\n{recipe.name}, irnet-17/{width} x{recipe.members}, fold 0")
    print("| features | n | val MAE | test MAE |\n|---|---|---|---|")
    for extra, n, val, test in rows:
        print(f"| {extra} | {n} | {val:.4g} | {test:.4g} |")


if __name__ == "__main__":
    main()
