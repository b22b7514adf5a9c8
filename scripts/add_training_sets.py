"""Give shipped servables their training_set.npz (predict's in_training / training_value columns).

    python scripts/add_training_sets.py                 # every servable under servables/
    python scripts/add_training_sets.py oqmd-bandgap    # one

The training rows come from each servable's recorded split (zoo.rebuild_split); irnet.json,
the card, the DLHub descriptions, the manifest and the registry entry are rewritten
(irnet_hub.zoo.package.add_training_set). Weights and metrics are untouched.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from irnet_hub import zoo
from irnet_hub.zoo.package import add_training_set

REPO = Path(__file__).resolve().parents[1]  # default folder: the checkout's servables/


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help="recipe names (default: every shipped servable)")
    ap.add_argument("--servables", type=Path, default=REPO / "servables")
    args = ap.parse_args()
    for name in args.names or sorted(zoo.RECIPES):
        zoo.get_recipe(name)  # an unknown name fails with the known ones listed
        entry = add_training_set(args.servables / name,
                                 register=args.servables.resolve() == (REPO / "servables").resolve())
        print(f"{name}: {entry['compositions']:,} compositions of {entry['rows']:,} training rows, "
              f"{entry['bytes'] / 2**20:.2f} MiB", flush=True)


if __name__ == "__main__":
    main()
