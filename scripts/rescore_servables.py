"""Score shipped servables anew through the one scoring path (the predictions `irnet predict` returns).

    python scripts/rescore_servables.py                 # every servable under servables/
    python scripts/rescore_servables.py oqmd-bandgap    # one

Rewrites each servable's irnet.json metrics, card, DLHub descriptions, manifest
and registry entry (irnet_hub.zoo.package.rescore); prints old and new test MAE.
With --cards-only, nothing is scored: the cards and descriptions are rendered anew from
irnet.json (irnet_hub.zoo.package.redescribe), after a change to how cards are written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from irnet_hub import zoo
from irnet_hub.zoo.package import redescribe, rescore

REPO = Path(__file__).resolve().parents[1]  # default folder: the checkout's servables/


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help="recipe names (default: every shipped servable)")
    ap.add_argument("--servables", type=Path, default=REPO / "servables")
    ap.add_argument("--cards-only", action="store_true", help="render cards and descriptions anew; score nothing")
    args = ap.parse_args()
    register = args.servables.resolve() == (REPO / "servables").resolve()
    for name in args.names or sorted(zoo.RECIPES):
        zoo.get_recipe(name)  # an unknown name fails with the known ones listed
        if args.cards_only:
            redescribe(args.servables / name, register=register)
            print(f"{name}: card and descriptions rendered anew", flush=True)
            continue
        r = rescore(args.servables / name, register=register)
        old, new = r["before"].get("test", {}).get("mae"), r["after"]["test"]["mae"]
        print(f"{name}: test MAE {old:.6g} -> {new:.6g} ({(new - old) / old * 100:+.3f} %); "
              f"val {r['before'].get('val', {}).get('mae'):.6g} -> {r['after']['val']['mae']:.6g}", flush=True)


if __name__ == "__main__":
    main()
