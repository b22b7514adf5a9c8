"""Load benchmark of ``irnet serve`` (V2 protocol over HTTP, 127.0.0.1 only), against local prediction.

    .venv-serve/bin/python benchmarks/bench_serve.py              # writes benchmarks/RESULTS_serve.md
    .venv-serve/bin/python benchmarks/bench_serve.py --quick      # fewer requests, print only

What is measured, all in one run on this machine (server and load generator share its cores):

1. Local ``Predictor.predict`` on the same 1-formula and 1,000-formula batches, with the default
   BLAS threads and with one (what the server uses), before and after the server runs.
2. Served throughput (formulas/s) and latency (p50/p99 per request) with 1, 8 and 32 concurrent
   clients (threads, one keep-alive connection each), at 1 and at 1,000 formulas per request;
   plus server CPU seconds per formula (from /proc, independent of how busy the machine is).
3. Server RSS after warm-up and after 10,000 one-formula requests (8 clients).
4. A fuzz run: seeded random malformed requests; the count of each status class, the number of
   5xx answers and of crashes (the process gone or a connection refused), and a good request
   answered correctly afterwards.

Every request goes to 127.0.0.1; each phase is bounded in requests and in time.
The model is the shipped default, ``servables/oqmd-formation-enthalpy`` (IRNet-17).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import cpu_model, data_dir  # noqa: E402

MODEL_DIR = REPO / "servables" / "oqmd-formation-enthalpy"
NAME = MODEL_DIR.name
PATH = f"/v2/models/{NAME}/infer"
TOKEN = "bench-token-" + "0123456789abcdef" * 2
PHASE_SECONDS = 60  # no phase runs longer


def loadavg() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def body(rows: list, name: str = "formula") -> bytes:
    return json.dumps({"inputs": [{"name": name, "datatype": "BYTES", "shape": [len(rows)], "data": rows}]}).encode()


class Client:
    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}

    def post(self, data: bytes, headers: dict | None = None) -> tuple[int, bytes]:
        self.conn.request("POST", PATH, body=data, headers=headers or self.headers)
        r = self.conn.getresponse()
        return r.status, r.read()


def server_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def load_run(port: int, pid: int, clients: int, rows: list[str], requests: int) -> dict:
    """``requests`` requests of ``rows`` from ``clients`` threads; stops early at PHASE_SECONDS."""
    data = body(rows)
    latencies: list[float] = []
    errors: list[str] = []
    per = max(1, requests // clients)
    deadline = time.monotonic() + PHASE_SECONDS
    barrier = threading.Barrier(clients + 1)

    def worker():
        c = Client(port)
        barrier.wait()
        for _ in range(per):
            if time.monotonic() > deadline:
                break
            t = time.perf_counter()
            status, raw = c.post(data)
            latencies.append(time.perf_counter() - t)
            if status != 200:
                errors.append(f"{status}: {raw[:200]!r}")
        c.conn.close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    cpu0 = server_cpu(pid)
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    cpu = server_cpu(pid) - cpu0
    n = len(latencies)
    lat = np.asarray(latencies) * 1000
    return {"clients": clients, "rows": len(rows), "requests": n, "errors": len(errors), "wall_s": wall,
            "formulas_per_s": n * len(rows) / wall, "p50_ms": float(np.percentile(lat, 50)),
            "p99_ms": float(np.percentile(lat, 99)), "server_cpu_s": cpu,
            "formulas_per_server_cpu_s": n * len(rows) / cpu if cpu > 0 else float("nan"),
            "first_error": errors[0] if errors else ""}


def local_runs(formulas: list[str], reps_1000: int, reps_1: int) -> dict:
    """Local Predictor.predict on the same batches: default BLAS threads, then one thread."""
    from threadpoolctl import threadpool_limits

    import irnet_hub

    p = irnet_hub.load(MODEL_DIR)
    batch = formulas[:1000]
    p.predict(batch, errors="skip", progress=False)
    out = {}
    for label, limit in (("default BLAS threads", None), ("1 BLAS thread", 1)):
        with threadpool_limits(limits=limit, user_api="blas"):
            t, c = time.perf_counter(), time.process_time()
            for _ in range(reps_1000):
                p.predict(batch, errors="skip", progress=False)
            wall, cpu = time.perf_counter() - t, time.process_time() - c
            lat = []
            for _ in range(reps_1):
                t1 = time.perf_counter()
                p.predict(["NaCl"], errors="skip", progress=False)
                lat.append(time.perf_counter() - t1)
        out[label] = {"formulas_per_s_1000": reps_1000 * 1000 / wall, "formulas_per_cpu_s_1000": reps_1000 * 1000 / cpu,
                      "p50_ms_1": float(np.percentile(np.asarray(lat) * 1000, 50))}
    return out


def fuzz_bodies(rng: random.Random, formulas: list[str], n: int) -> list[tuple[bytes, dict]]:
    """``n`` malformed requests: (body, extra headers)."""
    good = json.dumps({"inputs": [{"name": "formula", "datatype": "BYTES", "shape": [3], "data": formulas[:3]}]})
    junk_strings = ["", " ", "Xx2O", "\x00", "\ud800", "\U0001f9ea", "\u202eNaCl", "Fe" * 5000, "(((", "Na-1Cl",
                    "1e400", "NaN", "H" + "9" * 400, "Na\nCl", "[]", "{}", "null"]
    out = []
    for _ in range(n):
        kind = rng.randrange(8)
        if kind == 0:  # truncated JSON
            text = good[: rng.randrange(len(good))]
        elif kind == 1:  # random bytes
            out.append((bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))), {}))
            continue
        elif kind == 2:  # a byte flipped in a valid request
            b = bytearray(good.encode())
            b[rng.randrange(len(b))] = rng.randrange(256)
            out.append((bytes(b), {}))
            continue
        elif kind == 3:  # junk formulas
            rows = [rng.choice(junk_strings) for _ in range(rng.randrange(1, 6))]
            text = json.dumps({"inputs": [{"name": "formula", "datatype": "BYTES", "shape": [len(rows)],
                                           "data": rows}]})
        elif kind == 4:  # wrong types / shapes / names
            tensor = {"name": rng.choice(["formula", "x", "", "structure", 5]),
                      "datatype": rng.choice(["BYTES", "FP32", "INT64", "BOOL", "", None]),
                      "shape": rng.choice([[1], [2], [-1], [1, 1], [2, 2], [], "1", [10 ** 12], None]),
                      "data": rng.choice([["NaCl"], [1.5], [None], [[["NaCl"]]], "NaCl", {}, [True], []])}
            text = json.dumps({"inputs": [tensor], "parameters": rng.choice([None, {"errors": "x"}, {"errors": "skip"},
                                                                              [], "skip"])})
        elif kind == 5:  # binary extension with a bad header or bad tensor bytes
            head = b'{"inputs": [{"name": "formula", "datatype": "BYTES", "shape": [1], ' \
                   b'"parameters": {"binary_data_size": %d}}]}' % rng.randrange(0, 64)
            tail = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 64)))
            length = rng.choice([str(len(head)), str(rng.randrange(0, 400)), "-1", "x"])
            out.append((head + tail, {"Inference-Header-Content-Length": length,
                                      "Content-Type": "application/octet-stream"}))
            continue
        elif kind == 6:  # deep nesting
            depth = rng.randrange(10, 3000)
            text = '{"inputs": ' + "[" * depth + "]" * depth + "}"
        else:  # valid JSON, not a V2 request
            text = json.dumps(rng.choice([[1, 2], "x", 3, None, {"instances": [["NaCl"]]}, {"inputs": {}}]))
        out.append((text.encode("utf-8", "surrogatepass"), {}))
    return out


def fuzz(port: int, pid: int, proc: subprocess.Popen, formulas: list[str], n: int) -> dict:
    rng = random.Random(20261127)
    classes: dict[str, int] = {}
    five_xx: list[str] = []
    connection_failures = 0
    c = Client(port)
    for data, extra in fuzz_bodies(rng, formulas, n):
        headers = {**c.headers, **extra}
        try:
            status, raw = c.post(data, headers)
        except (OSError, http.client.HTTPException):
            connection_failures += 1
            c.conn.close()
            c = Client(port)
            continue
        key = f"{status // 100}xx"
        classes[key] = classes.get(key, 0) + 1
        if status >= 500:
            five_xx.append(f"{status} {raw[:150]!r} for {data[:80]!r}")
    alive = proc.poll() is None
    status, raw = Client(port).post(body(["NaCl"]))
    return {"requests": n, "classes": classes, "five_xx": five_xx, "connection_failures": connection_failures,
            "alive": alive, "good_after": status == 200}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer requests (a smoke run); implies --no-write")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    quick = args.quick
    import pandas as pd

    formulas = list(pd.read_csv(data_dir() / "crabnet" / "benchmark_data" / "OQMD_Formation_Enthalpy" / "val.csv")
                    ["formula"].head(1000))
    load_before = loadavg()
    started = dt.datetime.now(dt.timezone.utc)
    print(f"load average before: {load_before}", flush=True)
    local_before = local_runs(formulas, 3 if quick else 10, 20 if quick else 100)
    print("local:", json.dumps(local_before), flush=True)

    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-serve-{os.getpid()}"
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "token").write_text(TOKEN)
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    t0 = time.perf_counter()
    log = open(tmp / "server.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "irnet_hub.cli", "serve", str(MODEL_DIR), "--port", str(port),
                             "--token-file", str(tmp / "token")], stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/v2/health/ready")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.perf_counter() - t0 > 120:
                raise SystemExit(f"server did not start:\n{(tmp / 'server.log').read_text()[-2000:]}")
            time.sleep(0.1)
        startup = time.perf_counter() - t0
        print(f"server ready in {startup:.2f} s", flush=True)
        c = Client(port)
        for _ in range(20):
            c.post(body(["NaCl"]))
        c.post(body(formulas))
        rss_warm = server_rss_mb(proc.pid)

        runs = []
        for rows, total in (([formulas[0]], 300 if quick else 1600), (formulas, 16 if quick else 64)):
            for clients in (1, 8, 32):
                r = load_run(port, proc.pid, clients, rows, max(total, clients))
                runs.append(r)
                print(json.dumps(r), flush=True)

        n_rss = 1000 if quick else 10_000
        # Measured right before the 10,000 requests: the 1,000-formula runs above merge into batches
        # of up to 10,000 rows, which raise the allocator's high-water mark once.
        rss_before = server_rss_mb(proc.pid)
        # The 60 s phase cap can stop a run early: go on until n_rss requests really were sent.
        sent = load_run(port, proc.pid, 8, ["NaCl"], n_rss)["requests"]
        while sent < n_rss:
            sent += load_run(port, proc.pid, 8, ["NaCl"], min(n_rss - sent, 4000))["requests"]
        rss_after = server_rss_mb(proc.pid)
        print(f"RSS {rss_warm:.1f} (warm) / {rss_before:.1f} -> {rss_after:.1f} MB after {sent} requests", flush=True)

        fz = fuzz(port, proc.pid, proc, formulas, 300 if quick else 3000)
        print(json.dumps(fz)[:2000], flush=True)
        rss_end = server_rss_mb(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()

    local_after = local_runs(formulas, 3 if quick else 10, 20 if quick else 100)
    print("local after:", json.dumps(local_after), flush=True)
    load_after = loadavg()
    if quick or args.no_write:
        return
    write_results(started, load_before, load_after, startup, local_before, local_after, runs, rss_warm, rss_before,
                  rss_after, sent, fz, rss_end)


def write_results(started, load_before, load_after, startup, local_before, local_after, runs, rss_warm, rss_before,
                  rss_after, sent, fz, rss_end) -> None:
    def local_mean(key, label):
        return (local_before[label][key] + local_after[label][key]) / 2

    loc_default = local_mean("formulas_per_s_1000", "default BLAS threads")
    loc_one = local_mean("formulas_per_s_1000", "1 BLAS thread")
    loc_cpu = local_mean("formulas_per_cpu_s_1000", "1 BLAS thread")
    # The served figure is compared with the single best local measurement (before or after,
    # either thread setting): the conservative choice when the load drifts during the run.
    best_local = max(d[k]["formulas_per_s_1000"] for d in (local_before, local_after) for k in d)
    lines = [
        "# Model server benchmark (`benchmarks/bench_serve.py`)",
        "",
        f"Measured {started:%Y-%m-%d %H:%M} UTC on {cpu_model()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, no GPU, process niceness {os.nice(0)}. The machine was **shared** with other agents' jobs: 1/5/15-minute "
        f"load average {load_before} before and {load_after} after, on {os.cpu_count()} cores. The load generator "
        "(client threads) runs on the same cores as the server. Wall-clock figures therefore measure contention "
        "as much as the server; the CPU-seconds columns and the served/local ratios (measured in the same run) "
        "are the figures that transfer.",
        "",
        f"Model `{NAME}` (IRNet-17), KServe 0.21 `ModelServer`, one prediction thread, one BLAS thread, "
        f"bearer-token auth on. Server start to ready: {startup:.2f} s.",
        "",
        "## Local prediction in the same run (`Predictor.predict`, same batches)",
        "",
        "| BLAS threads | 1,000 formulas/call: formulas/s (before / after) | per CPU-second | 1 formula: p50 ms |",
        "|---|---|---|---|",
    ]
    for label in ("default BLAS threads", "1 BLAS thread"):
        b, a = local_before[label], local_after[label]
        lines.append(f"| {label} | {b['formulas_per_s_1000']:,.0f} / {a['formulas_per_s_1000']:,.0f} | "
                     f"{(b['formulas_per_cpu_s_1000'] + a['formulas_per_cpu_s_1000']) / 2:,.0f} | "
                     f"{b['p50_ms_1']:.1f} / {a['p50_ms_1']:.1f} |")
    lines += [
        "",
        "## Served (V2 JSON over HTTP, keep-alive, 127.0.0.1)",
        "",
        "| formulas/request | clients | requests | formulas/s | p50 ms | p99 ms | formulas per server CPU-s | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        lines.append(f"| {r['rows']:,} | {r['clients']} | {r['requests']} | {r['formulas_per_s']:,.0f} | "
                     f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['formulas_per_server_cpu_s']:,.0f} | {r['errors']} |")
    served_1000 = max(r["formulas_per_s"] for r in runs if r["rows"] == 1000)
    r1 = next(r for r in runs if r["rows"] == 1 and r["clients"] == 1)
    r8 = next(r for r in runs if r["rows"] == 1 and r["clients"] == 8)
    p99_8 = r8["p99_ms"]
    cpu_1000 = max(r["formulas_per_server_cpu_s"] for r in runs if r["rows"] == 1000)
    lines += [
        "",
        "## Against the goals",
        "",
        f"* 1,000 formulas/request: best served {served_1000:,.0f} formulas/s = **{served_1000 / best_local:.0%}** of the "
        f"best local measurement ({best_local:,.0f}/s; mean of before and after: {loc_one:,.0f}/s with one BLAS "
        f"thread, {loc_default:,.0f}/s with the default) in the same run (goal >= 50 %); per CPU-second the server does "
        f"{cpu_1000:,.0f} formulas against local {loc_cpu:,.0f} = {cpu_1000 / loc_cpu:.0%}.",
        f"* 1 formula/request, 8 clients: p99 **{p99_8:.1f} ms** (goal < 50 ms) at the load average above. "
        f"The server spent {1000 / r8['formulas_per_server_cpu_s']:.1f} ms of CPU per request there "
        f"({1000 / r1['formulas_per_server_cpu_s']:.1f} ms with one client: concurrent requests share one network "
        f"pass); local `predict` of one formula takes {local_mean('p50_ms_1', '1 BLAS thread'):.1f} ms. With the "
        "cores oversubscribed, the tail is set by when the scheduler runs the server, not by its work.",
        "",
        "## Memory and robustness",
        "",
        f"* Server RSS after warm-up {rss_warm:.1f} MB; after the load runs (batches of up to 10,000 rows) "
        f"{rss_before:.1f} MB; after {sent:,} more one-formula requests (8 clients) {rss_after:.1f} MB "
        f"(**{rss_after - rss_before:+.1f} MB**); after the fuzz run {rss_end:.1f} MB.",
        f"* Fuzz: {fz['requests']:,} malformed requests (seeded: truncated and byte-flipped JSON, random bytes, junk "
        "formulas and unicode, wrong types/shapes/names, bad binary-extension headers and tensors, deep nesting, "
        f"JSON that is not a V2 request). Answers by class: {fz['classes']} (a 2xx is a mutation that happened to "
        "be valid, e.g. `NaN`, sodium nitride, sent with `errors: skip`); 5xx: "
        f"{len(fz['five_xx'])}; "
        f"connection failures: {fz['connection_failures']}; server alive afterwards: {fz['alive']}; "
        f"next good request answered: {fz['good_after']}. **Crashes: "
        f"{0 if fz['alive'] and fz['good_after'] and not fz['connection_failures'] else 'see above'}.**",
    ]
    if fz["five_xx"]:
        lines += ["", "5xx answers seen:", ""] + [f"    {x}" for x in fz["five_xx"][:10]]
    lines += ["", "Reproduce: `make bench` (or `.venv-serve/bin/python benchmarks/bench_serve.py`).", ""]
    out = REPO / "benchmarks" / "RESULTS_serve.md"
    out.write_text("\n".join(lines))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
