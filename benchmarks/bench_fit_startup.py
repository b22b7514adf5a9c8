"""Benchmark: the first epoch of training, with the optimizer built before ``fit`` or inside it.

    python benchmarks/bench_fit_startup.py            # writes RESULTS_fit_startup.md
    python benchmarks/bench_fit_startup.py --no-write # print only

``irnet_hub.fitting.fit`` builds the optimizer's variables before calling Keras ``fit``. When
Keras creates them inside its first ``tf.function`` call instead, TensorFlow traces the train
step twice (once to create the variables, once more without creating them), and tracing a
3-member IRNet-17 ensemble (216 layers, about 650 variables) is most of the first epoch.
Each case runs in its own process (a fresh TensorFlow), 8,000 random rows of 145 features,
batch 32, 3 epochs; the steady epochs show the arithmetic is the same.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys

from _machine import REPO, cpu_model

CASE = r"""
import json, sys, time
import numpy as np, keras
from irnet_hub.networks import build_ensemble
prebuild = sys.argv[1] == "1"
keras.utils.set_random_seed(0)  # the same shuffles in both cases
rng = np.random.default_rng(0)
X = rng.random((8000, 145), dtype=np.float32); y = rng.random((8000, 3), dtype=np.float32)
train_model, _ = build_ensemble("irnet-17/16", 145, 3, feature_mean=X.mean(0), feature_variance=X.var(0) + 1e-3,
                                target_mean=0.0, target_scale=1.0, target_transform="none", seed=0)
train_model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mae")
if prebuild:
    train_model.optimizer.build(train_model.trainable_variables)
traces = []  # train_step runs in Python once per TensorFlow trace
step = train_model.train_step
train_model.train_step = lambda data: traces.append(1) or step(data)
times = []
class Timer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None): self.t = time.perf_counter()
    def on_epoch_end(self, epoch, logs=None): times.append(time.perf_counter() - self.t)
h = train_model.fit(X, y, epochs=3, batch_size=32, verbose=0, callbacks=[Timer()])
print(json.dumps({"epochs_s": times, "loss": h.history["loss"], "traces": len(traces)}))
"""


def run(prebuild: bool) -> dict:
    r = subprocess.run([sys.executable, "-c", CASE, "1" if prebuild else "0"], capture_output=True, text=True,
                       check=True, env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"})
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--note", default="", help="conditions worth writing down (e.g. 'a training run shared the cores')")
    args = ap.parse_args()
    inside, before = run(False), run(True)
    lines = [
        "# First-epoch cost of training: the optimizer built before `fit` or inside it",
        "",
        f"`python benchmarks/bench_fit_startup.py`, {dt.date.today()}, {cpu_model()}, 2 cores. {args.note}".rstrip(),
        "",
        "3 x irnet-17/16 side by side (216 layers), 8,000 random rows, batch 32, Adam; each case in a fresh process.",
        "",
        "| optimizer built | train-step traces | epoch 1 (s) | epoch 2 (s) | epoch 3 (s) | losses |",
        "|---|---|---|---|---|---|",
    ]
    for label, res in (("inside `fit` (Keras default)", inside), ("before `fit` (irnet_hub.fitting)", before)):
        e = res["epochs_s"]
        lines.append(f"| {label} | {res['traces']} | {e[0]:.1f} | {e[1]:.1f} | {e[2]:.1f} | {', '.join(f'{v:.6f}' for v in res['loss'])} |")
    saved = inside["epochs_s"][0] - before["epochs_s"][0]
    same = inside["loss"] == before["loss"]
    lines += ["", f"Building the optimizer first saves {saved:.1f} s of the first epoch; the losses are "
                  f"{'identical' if same else 'not identical'} (same seed: the same arithmetic, traced once instead of twice).", ""]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        (REPO / "benchmarks" / "RESULTS_fit_startup.md").write_text(text)


if __name__ == "__main__":
    main()
