"""Benchmark: `irnet evaluate` of the default model on the 51,255 OQMD formulas, end to end.

    python benchmarks/bench_evaluate.py [--runs 3]

Runs ``irnet evaluate servables/oqmd-formation-enthalpy --data
crabnet/benchmark_data/OQMD_Formation_Enthalpy/val.csv --json`` in a fresh
process each time (interpreter start, TensorFlow/Keras import, integrity
check, featurizing 51k formulas, the float32 forward pass, metrics) and
writes benchmarks/RESULTS_evaluate.md. Target (issue 8): under 30 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import REPO, cpu_model, data_dir  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    data = data_dir() / "crabnet/benchmark_data/OQMD_Formation_Enthalpy/val.csv"
    irnet = Path(sys.executable).with_name("irnet")
    cmd = [str(irnet), "evaluate", str(REPO / "servables" / "oqmd-formation-enthalpy"), "--data", str(data), "--json"]
    times, out = [], {}
    for _ in range(args.runs):
        t0 = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - t0)
        out = json.loads(res.stdout)
    load = os.getloadavg()
    text = (
        "# `irnet evaluate` of the default model on 51k formulas\n\n"
        f"Measured by `benchmarks/bench_evaluate.py` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}) on "
        f"{cpu_model()}, {os.cpu_count()} cores; load average after the runs {load[0]:.1f} / {load[1]:.1f} "
        f"(other work was running on the machine).\n\n"
        f"Command: `{' '.join(['irnet', *cmd[1:3]])} --data .../OQMD_Formation_Enthalpy/val.csv --json` "
        f"({out.get('n')} formulas, MAE {out.get('mae', float('nan')):.5g} {out.get('unit', '')}), a fresh process "
        "per run: interpreter start, imports (TensorFlow/Keras), integrity check, featurizing, float32 forward pass, "
        "metrics.\n\n"
        f"| runs | best (s) | median (s) | target |\n|---|---|---|---|\n"
        f"| {args.runs} | {min(times):.1f} | {statistics.median(times):.1f} | < 30 s on 2 cores |\n"
    )
    Path(__file__).with_name("RESULTS_evaluate.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
