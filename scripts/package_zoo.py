"""Package a trained zoo run as servables/<name> and register it.

    python scripts/package_zoo.py NAME RUN_MODEL_DIR [--baseline-from IRNET_JSON]

Copies the model directory, optionally takes the RandomForest result from
another run on the same split (a tuning run that skipped the baseline), builds
the servable (Keras HF layout, SavedModel, card, dlhub.json, manifest) and adds
or replaces the registry entry. The Hub repo id is where the model is to be
published; until it is uploaded, `irnet_hub.load(NAME)` resolves to the copy in
servables/ (see irnet_hub/hub/cache.py).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from zoo_recipes import RECIPES  # noqa: E402

from irnet_hub import artifact  # noqa: E402
from irnet_hub.hub.registry import add_entry, entry_from_model_dir  # noqa: E402
from irnet_hub.hub.servable import build_servable  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
HF_ORG = "irnet-hub"


def cv_summary(run: Path) -> dict:
    """Per-fold test MAEs of a k-fold run (folds that finished), ours and the RandomForest's."""
    import numpy as np

    ours, rf, done = [], [], []
    for k in range(5):
        p = run / f"fold{k}" / "final" / "irnet.json"
        if p.is_file():
            i = json.loads(p.read_text())
            done.append(k)
            ours.append(i["metrics"]["test"]["mae"])
            rf.append(i.get("baseline", {}).get("test", {}).get("mae"))
    return {"folds": 5, "folds_done": done, "test_mae_per_fold": ours, "test_mae_mean": float(np.mean(ours)),
            "test_mae_std": float(np.std(ours)), "rf_test_mae_per_fold": rf,
            "rf_test_mae_mean": None if None in rf else float(np.mean(rf)), "shipped": "fold 0"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name", choices=sorted(RECIPES))
    ap.add_argument("model_dir")
    ap.add_argument("--baseline-from", help="irnet.json of a run on the same split whose 'baseline' to use")
    ap.add_argument("--cv-from", help="run folder with fold0..fold4/final: record the k-fold test MAEs (ship fold 0)")
    ap.add_argument("--note", default="", help="free text added to irnet.json 'notes' (e.g. how the recipe was chosen)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        final = artifact.copy_model_dir(args.model_dir, Path(tmp) / args.name)
        info = artifact.read_info(final)
        info["name"] = args.name
        if args.baseline_from:
            other = json.loads(Path(args.baseline_from).read_text())
            info["baseline"] = other["baseline"]
        if args.cv_from:
            info["cv"] = cv_summary(Path(args.cv_from))
        if args.note:
            info["notes"] = args.note
        info.setdefault("anchors", RECIPES[args.name].get("anchors", {}))
        artifact.write_info(final, info)
        artifact.write_manifest(final)
        out = REPO / "servables" / args.name
        build_servable(final, out, overwrite=True, repo_id=f"{HF_ORG}/{args.name}", anchors=info.get("anchors"))
    shutil.rmtree(out / "checkpoint", ignore_errors=True)
    add_entry(entry_from_model_dir(out, repo_id=f"{HF_ORG}/{args.name}", revision="main",
                                   description=RECIPES[args.name]["target_name"]))
    sizes = sorted(((p.stat().st_size, p.relative_to(out).as_posix()) for p in out.rglob("*") if p.is_file()), reverse=True)
    print(f"{out}: {sum(s for s, _ in sizes) / 2**20:.1f} MiB; largest {sizes[0][1]} {sizes[0][0] / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
