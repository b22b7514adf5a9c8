"""CPU training throughput of each zoo recipe, and the wall time of one full run on this machine.

    python benchmarks/bench_zoo_cpu.py [--epochs 3] [--only NAME]
    python benchmarks/bench_zoo_cpu.py --from-runs runs/     # summarize the CPU runs that made the zoo

For every recipe in irnet_hub.zoo and every width it tries, fits the
recipe's ensemble for a few epochs on its real training rows (TensorFlow
backend unless KERAS_BACKEND says otherwise), times the epochs after the
first (which compiles), and writes samples/s and the estimated wall time of
the full recipe (epochs x rows / samples/s) to benchmarks/RESULTS_zoo_cpu.md.
The zoo must stay under ~60 minutes per run on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import cpu_model  # noqa: E402

from irnet_hub import zoo  # noqa: E402


def features(df) -> np.ndarray:
    if "structure" in df.columns:
        from irnet_hub.featurize.structure import featurize_structures

        return featurize_structures(list(df["structure"]), errors="raise", progress=False).features
    from irnet_hub.featurize.composition import featurize_compositions

    return featurize_compositions(df["formula"].tolist(), errors="raise").features


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--rows", type=int, default=20000, help="rows timed per epoch (throughput does not depend on it)")
    ap.add_argument("--only")
    ap.add_argument("--from-runs", type=Path, help="summarize the CPU runs under this folder instead of timing anew")
    args = ap.parse_args()
    if args.from_runs:
        return from_runs(args.from_runs)
    import keras

    lines = []
    for r in zoo.RECIPES.values():
        if args.only and args.only != r.name:
            continue
        split = zoo.build_split(r, 0)
        tr = split.train.iloc[: args.rows]
        X, y = features(tr), tr["target"].to_numpy()
        for w in r.widths:
            arch = f"irnet-17/{w}"
            t0 = time.time()
            job = zoo.Job.from_recipe(r, 0, w, epochs=args.epochs, warmup_epochs=1)
            fit = zoo.fit_ensemble(X, y, X[:500], y[:500], job.config())
            sps = fit.samples_per_second
            full = r.epochs * len(split.train) / sps
            lines.append(f"| {r.name} | {arch} x{r.members} | {fit.model.count_params():,} | {len(split.train):,} | "
                         f"{r.epochs} | {r.batch_size} | {sps:,.0f} | {full / 60:.1f} |")  # fmt: skip
            print(lines[-1], f"({time.time() - t0:.0f} s)", flush=True)
    out = Path(__file__).with_name("RESULTS_zoo_cpu.md")
    load = os.getloadavg()
    text = (
        "# Zoo training on the CPU: throughput and the wall time of one run\n\n"
        f"Measured by `benchmarks/bench_zoo_cpu.py` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}), "
        f"Keras backend {keras.backend.backend()}, float32; {cpu_model()}, {os.cpu_count()} cores; load average at the end "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (other work was running: times are upper bounds).\n\n"
        "Samples/s counts training rows per second through the whole ensemble (all members in one pass), "
        "from the epochs after the first. Estimated run = recipe epochs x training rows / samples/s; "
        "validation passes add a few %. 5-fold recipes cost that per fold.\n\n"
        "| recipe | network | parameters | training rows | epochs | batch | samples/s | estimated run (min) |\n"
        "|---|---|---|---|---|---|---|---|\n" + "\n".join(lines) + "\n"
    )
    out.write_text(text)
    print(f"wrote {out}")


def from_runs(runs: Path) -> None:
    """Samples/s measured by the zoo's own CPU runs; recipes trained elsewhere are estimated from the same network."""
    import json

    measured: dict[tuple[str, int], float] = {}
    rows = []
    for p in sorted(runs.glob("*/w*-f*/result.json")):
        r = json.loads(p.read_text())
        job = r["job"]
        if not str(job.get("device", "")).startswith("CPU") or job.get("init_from"):
            continue
        key = (job["architecture"], job["batch_size"])
        measured[key] = max(measured.get(key, 0.0), r["samples_per_second"])
        rows.append((job["recipe"], p.parent.name, f"{job['architecture']} x{job['members']}", r["n_train"],
                     r["epochs_run"], job["batch_size"], r["samples_per_second"], r["train_seconds"]))  # fmt: skip
    stamp = time.strftime("%Y-%m-%d", time.gmtime())
    lines = [f"| {n} | {run} | {a} | {nt:,} | {e} | {b} | {sps:,.0f} | {sec / 60:.1f} | measured {stamp} |"
             for n, run, a, nt, e, b, sps, sec in rows]
    # Runs of earlier sessions (their folders are gone) stay in the table as they were measured.
    out_path = Path(__file__).with_name("RESULTS_zoo_cpu.md")
    new_keys = {(row[0], row[1]) for row in rows}
    if out_path.is_file():
        for line in out_path.read_text().splitlines():
            cells = [c.strip() for c in line.strip("|").split("|")]
            if len(cells) == 9 and cells[8].startswith("measured") and (cells[0], cells[1]) not in new_keys:
                lines.append(line if cells[8] != "measured" else line.replace("| measured |", "| measured earlier |"))
                key = (cells[2].split(" x")[0], int(cells[5]))
                measured[key] = max(measured.get(key, 0.0), float(cells[6].replace(",", "")))
    lines.sort()
    measured_recipes = {line.split("|")[1].strip() for line in lines}
    for r in zoo.RECIPES.values():
        if r.name in measured_recipes:
            continue
        arch = f"irnet-17/{r.widths[0]}"
        sps = measured.get((arch, r.batch_size))
        if not sps:
            continue
        n_train = len(zoo.build_split(r, 0).train)
        est = r.epochs * n_train / sps * r.folds
        lines.append(f"| {r.name} | (all {r.folds} folds) | {arch} x{r.members} | {n_train:,} | {r.epochs} | "
                     f"{r.batch_size} | {sps:,.0f} | {est / 60:.1f} | estimate: recipe epochs x rows / the "
                     "samples/s measured for the same network here |")  # fmt: skip
    load = os.getloadavg()
    text = (
        "# Zoo training on the CPU: throughput and wall time per run\n\n"
        f"From the zoo's own CPU runs (`benchmarks/bench_zoo_cpu.py --from-runs runs/`, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}), {cpu_model()}, {os.cpu_count()} cores, Keras on "
        "TensorFlow, float32. The runs shared the 2 cores with other training and the test suite "
        f"(load average now {load[0]:.1f}), so these are upper bounds for an idle machine. "
        "Samples/s: training rows per second through the whole ensemble, epochs after the first. "
        "Wall: training time of the run (validation passes included; RandomForest and featurizing not).\n\n"
        "| recipe | run | network | training rows | epochs | batch | samples/s | wall (min) | source |\n"
        "|---|---|---|---|---|---|---|---|---|\n" + "\n".join(lines) + "\n"
    )
    out_path.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
