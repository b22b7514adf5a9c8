"""Write the train/val/test files a shipped model was trained and scored on.

    python scripts/zoo_split.py servables/oqmd-formation-enthalpy --out splits/

The split is rebuilt from the model's own record (``data.split`` in
irnet.json, see irnet_hub.zoo.rebuild_split), so that
`irnet evaluate servables/NAME --data splits/NAME/test.csv --json` reproduces
the test MAE in the model card.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from irnet_hub import artifact, zoo


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir", type=Path)
    ap.add_argument("--out", type=Path, default=Path("splits"))
    args = ap.parse_args()
    record = artifact.read_record(args.model_dir)
    split = zoo.rebuild_split(record.data.split)
    out = args.out / (record.name or args.model_dir.name)
    out.mkdir(parents=True, exist_ok=True)
    for part in ("train", "val", "test"):
        df = getattr(split, part)
        if "structure" in df.columns:
            df[["structure", "target"]].to_json(out / f"{part}.json.gz", orient="split")
        else:
            df[["formula", "target"]].to_csv(out / f"{part}.csv", index=False)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
