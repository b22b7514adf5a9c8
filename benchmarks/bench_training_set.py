"""Benchmark: what the in_training / training_value columns cost (issue 18, part 6).

    python benchmarks/bench_training_set.py            # writes RESULTS_training_set.md
    python benchmarks/bench_training_set.py --no-write # print only

Measured on the shipped servables (the files under servables/*/training_set.npy):

1. Size: bytes per servable and in all (the servable budget is 200 MiB, tests/test_shipped_models.py).
2. Time: loading the file, and ``Predictor.predict`` on 20,000 real formulas (10,000 training
   rows and 10,000 of the published validation split) of oqmd-formation-enthalpy with and
   without the lookup (the lookup alone, and its share of the whole prediction).
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

from _machine import REPO, cpu_model, data_dir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    import os

    os.environ.setdefault("IRNET_DATA_DIR", str(data_dir()))
    from irnet_hub import artifact
    from irnet_hub.predictor import load_dir
    from irnet_hub.training_set import TRAINING_SET_FILE, TrainingSet
    from irnet_hub.zoo import rebuild_split

    rows = []
    total = 0
    for folder in sorted((REPO / "servables").iterdir()):
        f = folder / TRAINING_SET_FILE
        if f.is_file():
            size = f.stat().st_size
            total += size
            t = time.perf_counter()
            n = len(TrainingSet.load(folder))
            rows.append((folder.name, n, size, time.perf_counter() - t))
    all_bytes = sum(p.stat().st_size for p in (REPO / "servables").rglob("*") if p.is_file())

    folder = REPO / "servables" / "oqmd-formation-enthalpy"
    split = rebuild_split(artifact.read_record(folder).data.split)
    formulas = list(split.train["formula"].iloc[:10_000]) + list(split.test["formula"].iloc[:10_000])
    model = load_dir(folder)
    model.predict(formulas[:100])  # warm: imports, element tables
    timings = {}
    for label in ("with the lookup", "without (training_set = None)"):
        if label.startswith("without"):
            model.__dict__["training_set"] = None  # the cached property, as for a model without the file
        best = min(_timed(lambda: model.predict(formulas)) for _ in range(3))
        timings[label] = best
    ts = TrainingSet.load(folder)
    lookup = min(_timed(lambda: ts.lookup(formulas)) for _ in range(3))
    with_, without = timings["with the lookup"], timings["without (training_set = None)"]

    lines = [
        "# in_training / training_value: what they cost",
        "",
        f"`python benchmarks/bench_training_set.py`, {dt.date.today()}, {cpu_model()}, 2 cores.",
        "",
        "## Size (servables/*/training_set.npy: 8-byte key + float32 value per training composition)",
        "",
        "| servable | compositions | bytes | load (ms) |",
        "|---|---|---|---|",
        *[f"| {name} | {n:,} | {size:,} | {sec * 1000:.1f} |" for name, n, size, sec in rows],
        f"| **all {len(rows)}** | {sum(r[1] for r in rows):,} | {total:,} ({total / 2**20:.1f} MiB) | |",
        "",
        f"servables/ in all: {all_bytes / 2**20:.1f} MiB of the 200 MiB budget; the training sets are "
        f"{total / all_bytes:.1%} of it.",
        "",
        "## Time (oqmd-formation-enthalpy, 20,000 formulas: 10,000 training rows + 10,000 published-validation rows)",
        "",
        "| | seconds (best of 3) | rows/s |",
        "|---|---|---|",
        f"| `predict`, with the lookup | {with_:.2f} | {len(formulas) / with_:,.0f} |",
        f"| `predict`, without | {without:.2f} | {len(formulas) / without:,.0f} |",
        f"| the lookup alone (`TrainingSet.lookup`) | {lookup:.3f} | {len(formulas) / lookup:,.0f} |",
        "",
        f"The lookup adds {(with_ - without) / without:+.1%} to a prediction ({lookup / with_:.1%} of its time "
        "measured alone): formulas are parsed by the fast path of `preprocessing.element_amounts` and hashed "
        "once each.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        (Path(__file__).with_name("RESULTS_training_set.md")).write_text(text, encoding="utf-8")


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
