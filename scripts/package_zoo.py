"""Package a trained zoo model as servables/NAME and register it.

    python scripts/package_zoo.py NAME [--runs runs]

Reads runs/NAME/ as written by scripts/train_zoo.py and picks the run with the
best *validation* MAE; what is written, and how it is scored, is described in
irnet_hub.zoo.package (this script only parses arguments). A model worse on
validation than its RandomForest or than the servable it replaces is refused
unless --force is given.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from irnet_hub import zoo
from irnet_hub.errors import IrnetError

REPO = Path(__file__).resolve().parents[1]  # default folders: the checkout's runs/ and servables/


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="+", choices=sorted(zoo.RECIPES))
    ap.add_argument("--runs", type=Path, default=REPO / "runs")
    ap.add_argument("--out", type=Path, help="write NAME/ here instead of servables/ (and do not register it)")
    ap.add_argument("--force", action="store_true",
                    help="package even a model worse (on validation) than its RandomForest or than the servable "
                         "it replaces")
    args = ap.parse_args()
    for name in args.names:
        try:
            zoo.package(name, args.runs, args.out or REPO / "servables", register=args.out is None, force=args.force)
        except IrnetError as e:
            sys.exit(f"package_zoo.py: {e}")


if __name__ == "__main__":
    main()
