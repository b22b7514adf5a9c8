"""Benchmark: cold ``irnet predict`` and batch throughput of the NumPy prediction path.

    python benchmarks/bench_predict.py                 # builds an IRNet-17 model, writes RESULTS_predict.md
    python benchmarks/bench_predict.py --model DIR     # an existing model directory
    python benchmarks/bench_predict.py --no-write      # print only

What is measured (wall clock, this machine, no GPU):

1. Cold CLI: ``python -m irnet_hub.cli predict NAME NaCl`` in a fresh
   process, NAME a registered model found in the local Hugging Face cache
   (a snapshot in the standard ``models--org--name/snapshots/<commit>``
   layout under a temporary ``HF_HUB_CACHE``, registered through
   ``IRNET_HUB_REGISTRY``), so the run includes interpreter start, imports,
   registry lookup, sha256 verification of every file, loading the weights,
   featurizing and the forward pass. Also the same with the model directory
   given as a path, and whether TensorFlow/Keras were imported.
2. Throughput: ``python -m irnet_hub.cli predict NAME --input 100k.csv
   --output out.csv`` on 100,000 real formulas (the first 100,000 rows of
   ``crabnet/benchmark_data/OQMD_Bandgap/train.csv``), end to end, and an
   in-process breakdown (featurize / network / the rest).

The model is IRNet-17 (the architecture the shipped models use), trained for
one epoch on 5,000 OQMD formulas: timing does not depend on how well trained
it is. With ``--float16`` its weights are converted as the zoo does.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import data_dir, cpu_model  # noqa: E402
sys.path.insert(0, str(REPO))

DATA_FILE = "crabnet/benchmark_data/OQMD_Bandgap/train.csv"
COMMIT = "feedc0de" * 5
NAME = "bench-irnet17"




def build_model(out: Path, float16: bool) -> Path:
    """IRNet-17 trained one epoch on 5,000 OQMD band gaps (in a subprocess: keeps TF out of this one)."""
    code = f"""
import pandas as pd
from irnet_hub.training import train
from irnet_hub import artifact
df = pd.read_csv({str(data_dir() / DATA_FILE)!r}, nrows=5500, keep_default_na=False)
train(df.iloc[:5000], {str(out / 'f32')!r}, val_data=df.iloc[5000:], target_name="band gap", unit="eV",
      architecture="irnet-17", epochs=1, batch_size=128, progress=False, name={NAME!r}, dataset="oqmd-bandgap")
if {float16!r}:
    artifact.convert_weights({str(out / 'f32')!r}, {str(out / 'f16')!r}, "float16")
"""
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    model = out / ("f16" if float16 else "f32")
    shutil.rmtree(model / "checkpoint", ignore_errors=True)
    return model


def fake_cache(model: Path, root: Path) -> dict[str, str]:
    """Put ``model`` in an HF-cache snapshot and register it; returns the environment to use."""
    from irnet_hub.hub.registry import add_entry, entry_from_model_dir

    snap = root / "hf" / "models--bench--irnet17" / "snapshots" / COMMIT
    shutil.copytree(model, snap, ignore=shutil.ignore_patterns("checkpoint"))
    add_entry(entry_from_model_dir(model, repo_id="bench/irnet17", revision=COMMIT, name=NAME), root / "registry.json")
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "HF_HUB_CACHE": str(root / "hf"),
        "IRNET_HUB_REGISTRY": str(root / "registry.json"),
        "IRNET_HUB_SERVABLES": str(root / "no-servables"),
    }


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess]:
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    dt_ = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr}")
    return dt_, r


def cpu_timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, user+sys CPU) seconds of a child process."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, _ = timed(cmd, env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def cold_cli(env: dict[str, str], target: str, repeats: int) -> list[float]:
    cmd = [sys.executable, "-m", "irnet_hub.cli", "predict", target, "NaCl"]
    timed(cmd, env)  # warm the OS file cache once: "cold" is a new process, not a cold disk
    return [timed(cmd, env)[0] for _ in range(repeats)]


def imports_tensorflow(env: dict[str, str]) -> list[str]:
    code = (
        "import sys\nfrom irnet_hub.cli import main\n"
        f"try:\n    main(['predict', {NAME!r}, 'NaCl'])\nexcept SystemExit:\n    pass\n"
        "print([m for m in ('tensorflow', 'keras', 'huggingface_hub') if m in sys.modules])"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    return json.loads(r.stdout.strip().splitlines()[-1].replace("'", '"'))


def breakdown(model: Path, formulas: list[str]) -> dict[str, float]:
    """In-process seconds per stage for 100k formulas (warm process)."""
    import numpy as np

    from irnet_hub.featurize.composition import featurize_compositions
    from irnet_hub.predictor import Predictor

    pred = Predictor.from_dir(model)
    pred.predict(formulas[:100])  # warm-up: element tables, BLAS threads
    t0 = time.perf_counter()
    res = featurize_compositions(formulas, errors="collect")
    t1 = time.perf_counter()
    pred.predict_features(res.features)
    t2 = time.perf_counter()
    df = pred.predict(formulas, progress=False)
    t3 = time.perf_counter()
    assert len(df) == len(formulas) and np.isfinite(df["prediction"]).all()
    return {"featurize": t1 - t0, "network": t2 - t1, "predict_total": t3 - t2}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="model directory to benchmark (default: build an IRNet-17)")
    ap.add_argument("--float16", action="store_true", help="convert the built model's weights to float16")
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()

    import pandas as pd

    load_before = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="irnet-bench-"))
    try:
        model = Path(args.model) if args.model else build_model(tmp / "model", args.float16)
        env = fake_cache(model, tmp)
        info = json.loads((model / "irnet.json").read_text())

        cold_name = cold_cli(env, NAME, args.repeats)
        cold_dir = cold_cli(env, str(model), args.repeats)
        heavy = imports_tensorflow(env)

        formulas = pd.read_csv(data_dir() / DATA_FILE, nrows=args.rows, keep_default_na=False)["formula"]
        csv_in = tmp / "in.csv"
        formulas.to_frame().to_csv(csv_in, index=False)
        runs = []
        for _ in range(3):
            out = tmp / "out.csv"
            sec, _ = timed([sys.executable, "-m", "irnet_hub.cli", "predict", NAME, "--input", str(csv_in),
                            "--output", str(out)], env)
            n_out = sum(1 for _ in out.open()) - 1
            assert n_out == len(formulas), n_out
            runs.append(sec)
        # One BLAS thread: its CPU time does not depend on other jobs on the machine (no threads
        # waiting for each other), and on an idle machine its wall time equals its CPU time. So
        # rows per CPU-second is a load-independent lower bound for idle-machine throughput.
        one = {**env, "OPENBLAS_NUM_THREADS": "1"}
        single = [cpu_timed([sys.executable, "-m", "irnet_hub.cli", "predict", NAME, "--input", str(csv_in),
                             "--output", str(tmp / "out1.csv")], one) for _ in range(2)]
        stages = breakdown(model, formulas.tolist())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    load_after = os.getloadavg()[0]
    n = len(formulas)
    best = min(runs)
    lines = [
        "# Prediction benchmark (`benchmarks/bench_predict.py`)",
        "",
        f"Measured {dt.date.today().isoformat()} on {cpu_model()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, no GPU; `OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(auto)')}`; "
        f"process niceness {os.nice(0)}. "
        f"The machine was shared with other jobs (1-minute load average {load_before:.1f} before, "
        f"{load_after:.1f} after, on 2 cores); figures are best of the repeats, medians alongside.",
        "",
        f"Model: `{info.get('architecture')}` ({info.get('n_parameters', '?')} parameters"
        f"{', float16 weights' if info.get('weights_dtype') == 'float16' else ''}), featurizer magpie145.",
        "",
        "| measurement | result |",
        "|---|---|",
        f"| cold `irnet predict {NAME} NaCl` (registered, in HF cache; new process) | "
        f"{min(cold_name):.2f} s best, {statistics.median(cold_name):.2f} s median of {len(cold_name)} |",
        f"| cold `irnet predict MODEL_DIR NaCl` | {min(cold_dir):.2f} s best, {statistics.median(cold_dir):.2f} s median |",
        f"| modules imported by the predict path among tensorflow/keras/huggingface_hub | {heavy or 'none'} |",
        f"| `irnet predict {NAME} --input {n:,}.csv --output out.csv`, end to end | {best:.2f} s = "
        f"**{n / best:,.0f} formulas/s** (median {n / statistics.median(runs):,.0f}) |",
        f"| same, one BLAS thread: CPU time (user+sys), load-independent | {min(c for _, c in single):.2f} CPU-s = "
        f"**{n / min(c for _, c in single):,.0f} formulas per CPU-second** (wall {min(w for w, _ in single):.2f} s) |",
        f"| in process: featurize {n:,} formulas | {stages['featurize']:.2f} s ({n / stages['featurize']:,.0f}/s) |",
        f"| in process: network forward pass (NumPy, float32) | {stages['network']:.2f} s ({n / stages['network']:,.0f}/s) |",
        f"| in process: `Predictor.predict` total (featurize + network + domain + frame) | "
        f"{stages['predict_total']:.2f} s ({n / stages['predict_total']:,.0f}/s) |",
        "",
        "The network's forward pass dominates, not the featurizer: a network of P parameters costs about",
        "P multiply-adds per formula (full-width IRNet-17: 5.5 M; the default 3 x irnet-17/4 ensemble:",
        "1.2 M). Which OpenBLAS kernel runs matters: where the environment pins `OPENBLAS_CORETYPE=Haswell`",
        "(AVX2), the AVX-512 (SkylakeX) kernels ran the same float32 products 1.8x faster on these cores",
        "(144 vs 80 GFLOP/s, two threads, side by side; session 3). The header names this run's setting.",
        "",
        "Since session 4 the NumPy runtime folds each BatchNormalization (and the ReLU after it) into the",
        "Dense before it, and the in-domain check parses plain formulas in one vectorized pass; with the",
        "same model, session 3 measured 15,643 formulas/s end to end and 21,278/s in process (under load,",
        "OPENBLAS_CORETYPE=Haswell, so not the same conditions).",
        "",
        "With other jobs on the machine, wall-clock figures mostly measure contention: OpenBLAS's two",
        "threads wait for each other whenever one is descheduled. The one-thread CPU-time row is the",
        "figure that transfers: on an idle 2-core machine a single-threaded run takes that long in wall",
        "time, and the default two threads only go faster.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        (REPO / "benchmarks" / "RESULTS_predict.md").write_text(text)


if __name__ == "__main__":
    main()
