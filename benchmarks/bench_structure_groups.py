"""Benchmark: where the time of a Ward-2017 structure feature row goes, per feature group.

    python benchmarks/bench_structure_groups.py             # writes RESULTS_structure_groups.md
    python benchmarks/bench_structure_groups.py --no-write  # print only

Real structures of the Matbench phonon set (a seeded sample of ``--n``), each featurized one group
at a time in this process (no cache), with the groups irnet_hub uses. The maximum packing
efficiency is also computed with matminer's own ``MaximumPackingEfficiency`` (a Voronoi
tessellation of each site on its own), which irnet_hub used before 2026-12-07, and the largest
relative difference between the two is reported.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import random
import time
import warnings

from _machine import cpu_model, data_dir, report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--n", type=int, default=100, help="structures to time")
    ap.add_argument("--note", default="", help="conditions worth writing down (e.g. 'a training run shared the cores')")
    args = ap.parse_args()
    from matminer.featurizers.structure import MaximumPackingEfficiency

    from irnet_hub.featurize import structure as S

    everything = S.load_structures(data_dir() / "structures" / "matbench_phonons.json.gz")
    sample = [S._wrapped(s) for s in random.Random(0).sample(everything, args.n)]
    seconds: collections.Counter[str] = collections.Counter()
    matminer_mpe, worst = MaximumPackingEfficiency(), 0.0
    warnings.simplefilter("ignore")  # matminer/pymatgen warn per structure
    for structure in sample:
        for name, featurizer in S._groups():
            start = time.perf_counter()
            values = featurizer.featurize(structure)
            seconds[name] += time.perf_counter() - start
            if name == "maximum packing efficiency":
                start = time.perf_counter()
                theirs = matminer_mpe.featurize(structure)[0]
                seconds["maximum packing efficiency (matminer, before)"] += time.perf_counter() - start
                worst = max(worst, abs(values[0] - theirs) / abs(theirs))
    total = sum(v for k, v in seconds.items() if "before" not in k)
    before = total - seconds["maximum packing efficiency"] + seconds["maximum packing efficiency (matminer, before)"]
    sites = sum(len(s) for s in sample) / len(sample)
    lines = [
        "# Structure featurization time per feature group",
        "",
        f"`python benchmarks/bench_structure_groups.py --n {args.n}`, {dt.date.today()}, {cpu_model()}, 2 cores. "
        f"{args.note}".rstrip(),
        "",
        f"{args.n} Matbench phonons structures (seeded sample, {sites:.1f} sites on average), one group at a time, no cache.",
        "",
        "| group | seconds |",
        "|---|---|",
        *[f"| {k} | {v:.2f} |" for k, v in seconds.most_common()],
        "",
        f"A row now takes {total:.1f} s for the {args.n} structures; with matminer's packing efficiency it took "
        f"{before:.1f} s ({before / total:.1f}x). The packing efficiency from nearest-neighbor distances differs "
        f"from matminer's by at most {worst:.2g} (relative).",
        "",
    ]
    report("\n".join(lines), "RESULTS_structure_groups.md", write=not args.no_write)


if __name__ == "__main__":
    main()
