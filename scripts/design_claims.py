"""The paper's design claims (Tables 2 and 4): plain vs SRNet vs IRNet, 17 vs 48 layers, same budget.

    python scripts/design_claims.py oqmd-formation-enthalpy --epochs 10 [--out model_cards/design_claims]

Trains the six networks on the zoo split of the data set with identical
settings and epochs (no early stopping: every network gets the same budget),
writes a Markdown table and a PNG of the validation-MAE curves.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_zoo import build_split  # noqa: E402
from zoo_recipes import RECIPES  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
NETWORKS = ["plain-17", "srnet-17", "irnet-17", "plain-48", "srnet-48", "irnet-48"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name", choices=["oqmd-formation-enthalpy", "oqmd-bandgap"])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--out", default=str(REPO / "model_cards" / "design_claims"))
    ap.add_argument("--runs", default=str(REPO / "runs" / "design_claims"))
    args = ap.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from irnet_hub.training import train

    recipe = RECIPES[args.name]
    tr, va, te, _ = build_split(recipe)
    rows, curves = [], {}
    for net in NETWORKS:
        run = Path(args.runs) / args.name / net
        if run.exists():
            import shutil

            shutil.rmtree(run)
        t0 = time.perf_counter()
        info = train(tr, run, val_data=va, test_data=te, architecture=net, epochs=args.epochs,
                     batch_size=args.batch_size, learning_rate=args.lr, patience=args.epochs, seed=0,
                     progress=False, unit=recipe["unit"], target_name=recipe["target_name"])
        log = pd.read_csv(run / "training_log.csv")
        curves[net] = log["val_mae"].to_numpy()
        rows.append({"network": net, "parameters": info["n_parameters"], "val_mae_best": float(log["val_mae"].min()),
                     "val_mae_last": float(log["val_mae"].iloc[-1]), "train_mae_last": float(log["loss"].iloc[-1]),
                     "test_mae": info["metrics"].get("test", {}).get("mae"), "seconds": round(time.perf_counter() - t0, 1)})
        print(json.dumps(rows[-1]), flush=True)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for net, c in curves.items():
        ax.plot(range(1, len(c) + 1), c, label=net, ls="-" if "irnet" in net else ("--" if "srnet" in net else ":"))
    ax.set(xlabel="epoch", ylabel=f"validation MAE ({recipe['unit']})", title=f"{args.name}: same budget", yscale="log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / f"{args.name}_curves.png")
    unit = recipe["unit"]
    lines = [f"## {args.name}: {args.epochs} epochs each, batch {args.batch_size}, Adam lr {args.lr}, seed 0", "",
             f"| network | parameters | best val MAE ({unit}) | last val MAE | last train MAE | test MAE (best-val weights) | wall s |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['network']} | {r['parameters']:,} | {r['val_mae_best']:.4f} | {r['val_mae_last']:.4f} | "
                     f"{r['train_mae_last']:.4f} | {r['test_mae']:.4f} | {r['seconds']} |")
    lines.append(f"\n![validation curves]({args.name}_curves.png)\n")
    (out / f"{args.name}.md").write_text("\n".join(lines))
    print(f"wrote {out / (args.name + '.md')}")


if __name__ == "__main__":
    main()
