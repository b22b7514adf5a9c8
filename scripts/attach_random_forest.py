"""Record a RandomForest reference, fitted on a shipped servable's own split, in that servable.

    python scripts/attach_random_forest.py oqmd-energy-per-atom     # reads runs/NAME/rf-f0.json

The RandomForest comes from `zoo.random_forest_reference` (scripts/train_zoo.py without --no-rf);
irnet.json, the card, the DLHub descriptions, the manifest and the registry entry are rewritten
(irnet_hub.zoo.package.attach_random_forest). Weights and metrics are untouched.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from irnet_hub import zoo
from irnet_hub.zoo.package import attach_random_forest

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name", choices=sorted(zoo.RECIPES))
    ap.add_argument("--runs", type=Path, default=REPO / "runs")
    ap.add_argument("--servables", type=Path, default=REPO / "servables")
    args = ap.parse_args()
    rf = attach_random_forest(args.servables / args.name, args.runs / args.name / "rf-f0.json",
                              register=args.servables.resolve() == (REPO / "servables").resolve())
    print(f"{args.name}: RandomForest val MAE {rf['val_mae']:.5g}, test MAE {rf['test_mae']:.5g} ({rf['params']})")


if __name__ == "__main__":
    main()
