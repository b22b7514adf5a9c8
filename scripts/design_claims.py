"""The paper's design claims (Tables 2 and 4): plain vs SRNet vs IRNet, 17 vs 48 layers, same budget.

    python scripts/design_claims.py oqmd-formation-enthalpy --width 8 --epochs 40 [--out model_cards/design_claims]

Trains the six networks (at width factor --width, a size the 2-core CPU
allows) on the zoo split of the data set with identical settings: Adam,
warm-up + cosine decay to 0 over --epochs (so each run ends converged for its
budget), batch 256, seed 0, one network each (no ensemble). Writes a Markdown
table and a PNG of the validation-MAE curves. Each finished network is kept
in runs/design_claims/ and skipped on a rerun (resumable per network).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from irnet_hub import zoo

REPO = Path(__file__).resolve().parents[1]

NETWORKS = ["plain-17", "srnet-17", "irnet-17", "plain-48", "srnet-48", "irnet-48"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name", choices=["oqmd-formation-enthalpy", "oqmd-bandgap"])
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--width", type=int, default=8, help="width factor of every network (irnet-17/8, ...)")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--train-rows", type=int, help="a random subset of the training split (seeded), to fit the CPU")
    ap.add_argument("--out", default=str(REPO / "model_cards" / "design_claims"))
    ap.add_argument("--runs", default=str(REPO / "runs" / "design_claims"))
    args = ap.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from irnet_hub.featurize.composition import featurize_compositions

    recipe = zoo.get_recipe(args.name)
    split = zoo.build_split(recipe)
    if args.train_rows and args.train_rows < len(split.train):
        split.train = split.train.sample(n=args.train_rows, random_state=zoo.SPLIT_SEED)
    data = {p: (featurize_compositions(getattr(split, p)["formula"].tolist(), errors="raise").features,
                getattr(split, p)["target"].to_numpy(float)) for p in ("train", "val", "test")}  # fmt: skip
    rows, curves = [], {}
    for base in NETWORKS:
        net = f"{base}/{args.width}"
        run = Path(args.runs) / args.name / net.replace("/", "_")
        if not (run / "result.json").is_file():
            job = zoo.Job(recipe=args.name, fold=0, architecture=net, members=1, featurizer="magpie145",
                          transform="none", epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=0,
                          kind="design")  # fmt: skip
            zoo.train_and_score(data, job, run)
        res = json.loads((run / "result.json").read_text())
        log = pd.read_csv(run / "history.csv")
        curves[net] = log["val_mae"].to_numpy()
        rows.append({"network": net, "parameters": res["params"], "val_mae_best": float(log["val_mae"].min()),
                     "val_mae_last": float(log["val_mae"].iloc[-1]), "train_loss_last": float(log["loss"].iloc[-1]),
                     "test_mae": res["test_mae"], "seconds": round(res["train_seconds"], 1)})
        print(json.dumps(rows[-1]), flush=True)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for net, c in curves.items():
        ax.plot(range(1, len(c) + 1), c, label=net, ls="-" if "irnet" in net else ("--" if "srnet" in net else ":"))
    ax.set(xlabel="epoch", ylabel=f"validation MAE ({recipe.unit})", title=f"{args.name}: same budget", yscale="log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / f"{args.name}_curves.png")
    unit = recipe.unit
    subset = f", {len(split.train):,} training rows (a seeded random subset of the split's)" if args.train_rows else ""
    lines = [f"## {args.name}: width /{args.width}, {args.epochs} epochs each (warm-up + cosine to 0), batch "
             f"{args.batch_size}, Adam peak lr {args.lr}, seed 0, one network each{subset}", "",
             f"| network | parameters | best val MAE ({unit}) | last val MAE | last train loss (standardized) | "
             "test MAE (best-val weights) | train s |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['network']} | {r['parameters']:,} | {r['val_mae_best']:.4f} | {r['val_mae_last']:.4f} | "
                     f"{r['train_loss_last']:.4f} | {r['test_mae']:.4f} | {r['seconds']} |")
    lines.append(f"\n![validation curves]({args.name}_curves.png)\n")
    (out / f"{args.name}.md").write_text("\n".join(lines))
    print(f"wrote {out / (args.name + '.md')}")


if __name__ == "__main__":
    main()
