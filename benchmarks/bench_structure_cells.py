"""Benchmark: Ward-2017 structure featurization time against cell size (issue 16: large cells).

    python benchmarks/bench_structure_cells.py             # writes RESULTS_structure_cells.md
    python benchmarks/bench_structure_cells.py --no-write  # print only

One real structure of the Matbench phonon set (the first, rock-salt BaTe, 2 sites) made into
supercells of 2, 16, 54, 128 and 250 sites, featurized one at a time (no cache) in the bounded worker
process the model server uses, with a limit of ``--limit`` seconds per cell: a slower cell is
reported as such, and the larger ones are not tried.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

from _machine import cpu_model, data_dir, report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--limit", type=float, default=300.0, help="seconds per cell before giving up")
    args = ap.parse_args()
    from irnet_hub.featurize.structure import featurize_structures, load_structures

    base = load_structures(data_dir() / "structures" / "matbench_phonons.json.gz")[0]
    # Start the worker (forkserver, imports, matminer tables: several seconds) before any cell is timed.
    featurize_structures([base], use_cache=False, progress=False, timeout=args.limit)
    rows = []
    for n in (1, 2, 3, 4, 5):
        cell = base.copy()
        cell.make_supercell([n, n, n])
        start = time.perf_counter()
        res = featurize_structures([cell], use_cache=False, progress=False, timeout=args.limit)
        seconds = time.perf_counter() - start
        done = len(res.rows) == 1
        rows.append((len(cell), seconds if done else None))
        print(f"{len(cell)} sites: {f'{seconds:.1f} s' if done else f'> {args.limit:g} s'}", flush=True)
        if not done:
            break
    lines = [
        "# Structure featurization time against cell size",
        "",
        f"`python benchmarks/bench_structure_cells.py`, {dt.date.today()}, {cpu_model()}, 2 cores "
        "(shared with a training run).",
        "",
        f"{base.composition.reduced_formula} (Matbench phonons, first structure) as supercells; Ward-2017 features "
        "(Voronoi tessellation + 145 composition attributes), one cell at a time in the bounded worker "
        f"(`timeout={args.limit:g}`), started before the first cell is timed (its start-up: forkserver, "
        "imports and matminer tables, several seconds, once per server or predict run).",
        "",
        "| sites | seconds |",
        "|---|---|",
        *[f"| {n} | {f'{s:.1f}' if s is not None else f'> {args.limit:g} (stopped)'} |" for n, s in rows],
        "",
        "Time grows faster than the number of sites (each site's Voronoi cell is computed against its "
        "neighbours' periodic images). `irnet predict --structure-timeout S` and `irnet serve "
        "--structure-timeout S` (default 60 s) bound it per structure; the server refuses cells over 500 sites.",
        "",
    ]
    report("\n".join(lines), "RESULTS_structure_cells.md", write=not args.no_write)


if __name__ == "__main__":
    main()
