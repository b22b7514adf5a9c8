"""Train the whole zoo (and the design-claims study) in one go on a borrowed GPU machine.

The zoo is designed for the 2-core CPU (``scripts/train_zoo.py NAME`` runs one
recipe there); this script runs the very same recipes (:mod:`irnet_hub.zoo`)
many at a time on a machine that has a GPU, JAX and 16 cores but no
TensorFlow, pymatgen or network. Two steps:

    python scripts/zoo_device.py bundle .zoo-bundle          # here: data, parsed formulas, element tables
    PYTHONPATH=. python scripts/zoo_device.py run .zoo-bundle OUT --seconds 460   # there (KERAS_BACKEND=jax)

``bundle`` parses every formula of the zoo's data files once (pymatgen is
needed for unusual formulas) and stores the compact element/amount form, the
element tables and the structure features of the phonon set, so the GPU
machine computes the 145 Magpie features with numpy alone
(irnet_hub.featurize.magpie, which does not import pymatgen; irnet_hub is not
installed there, so PYTHONPATH=. makes the checkout importable). ``run`` trains
every (model, fold, width) of the recipes and the design-claims networks in a
pool of processes sharing the GPU, fits the RandomForest references on the
spare cores, keeps per model the width with the best validation MAE, and
writes the chosen models (``.keras``), every history and every metric under
OUT. Nothing is selected on test data.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import tarfile
import time
import traceback
from pathlib import Path

import numpy as np

DESIGN_NETWORKS = ["plain-17/4", "srnet-17/4", "irnet-17/4", "plain-48/4", "srnet-48/4", "irnet-48/4"]
DESIGN_EPOCHS = {"oqmd-formation-enthalpy": 100, "oqmd-bandgap": 30}


# --------------------------------------------------------------------------
# bundle (on a machine with the full install)
# --------------------------------------------------------------------------


def bundle(out: Path) -> None:
    from irnet_hub import zoo
    from irnet_hub.data import data_dir, fetch, read_table
    from irnet_hub.featurize.composition import element_amounts, element_tables

    out.mkdir(parents=True, exist_ok=True)
    relpaths: set[str] = set()
    for r in zoo.RECIPES.values():
        if r.split == "matbench-5-fold":
            relpaths.update(f"{r.files['folder']}/{s}{k}.csv" for s in ("train", "val", "test") for k in range(5))
        else:
            relpaths.update(r.files.values())
    formulas: set[str] = set()
    with tarfile.open(out / "data.tar.xz", "w:xz", preset=1) as tar:
        for rel in sorted(relpaths):
            path = fetch(rel)
            tar.add(path, arcname=rel)
            if rel.endswith(".csv"):
                formulas.update(read_table(path)["formula"])
    names = np.array(sorted(formulas))
    count, z, a = element_amounts(list(names))
    np.savez_compressed(out / "formulas.npz", names=names, count=count, z=z.astype(np.uint8), a=a)
    tables = element_tables()
    with open(out / "tables.pkl", "wb") as f:
        pickle.dump(tables, f)
    _bundle_embeddings(out, tables.symbol_to_z)

    # The phonon structures: Ward-2017 features computed here (Voronoi needs pymatgen).
    from irnet_hub.featurize.structure import featurize_structures

    split = zoo.build_split("matbench-phonons-structure", 0)
    import pandas as pd

    frame = pd.concat([split.train, split.val, split.test]).sort_index()
    res = featurize_structures(list(frame["structure"]), errors="raise", progress=True)
    np.savez_compressed(out / "phonons.npz", X=res.features, y=frame["target"].to_numpy(), index=frame.index.to_numpy())
    print(f"bundle: {len(relpaths)} files, {len(names)} formulas, {len(frame)} structures from {data_dir()}")


EMBEDDINGS = {"mat2vec": "mat2vec.csv", "oliynyk": "oliynyk_preprocessed.csv"}


def _bundle_embeddings(out: Path, symbol_to_z: dict[str, int]) -> None:
    """Element vectors of the elementembeddings package (for the descriptor ablation), indexed by Z.

    Read straight from its wheel's data files (ELEMENT_EMBEDDINGS_WHEEL), since
    the package pulls in umap/openTSNE that the ablation does not need.
    """
    import io
    import zipfile

    import pandas as pd

    wheel = os.environ.get("ELEMENT_EMBEDDINGS_WHEEL")
    if not wheel:
        print("no ELEMENT_EMBEDDINGS_WHEEL: descriptor ablation skipped")
        return
    arrays = {}
    with zipfile.ZipFile(wheel) as zf:
        for key, fname in EMBEDDINGS.items():
            df = pd.read_csv(io.BytesIO(zf.read(f"elementembeddings/data/element_representations/{fname}")))
            sym = df.iloc[:, 0].astype(str)
            vals = df.iloc[:, 1:].apply(pd.to_numeric, errors="coerce").to_numpy(float)
            table = np.full((max(symbol_to_z.values()) + 1, vals.shape[1]), np.nan)
            for s_, row in zip(sym, vals):
                if s_ in symbol_to_z:
                    table[symbol_to_z[s_]] = row
            arrays[key] = table
    np.savez_compressed(out / "embeddings.npz", **arrays)


# --------------------------------------------------------------------------
# run (on the GPU machine)
# --------------------------------------------------------------------------


_FEATS: dict = {}


def _features(bundle_dir: Path, work: Path):
    """(formula -> row, feature matrix) shared by all workers through a memory-mapped file."""
    if not _FEATS:
        index = pickle.loads((work / "index.pkl").read_bytes())
        _FEATS.update(index=index, X=np.load(work / "magpie.npy", mmap_mode="r"),
                      ph=np.load(bundle_dir / "phonons.npz"))  # fmt: skip
    return _FEATS


def _xy(job: dict, bundle_dir: Path, work: Path):
    from irnet_hub import zoo

    feats = _features(bundle_dir, work)
    split = zoo.build_split(job["recipe"], job["fold"])
    out = {}
    for part in ("train", "val", "test"):
        df = getattr(split, part)
        if "structure" in df.columns:
            pos = np.searchsorted(feats["ph"]["index"], df.index.to_numpy())
            out[part] = (feats["ph"]["X"][pos], df["target"].to_numpy())
        else:
            rows = np.array([feats["index"][f] for f in df["formula"]])
            X = np.asarray(feats["X"][rows])
            if job.get("extra"):  # descriptor ablation: Magpie + element-embedding statistics
                X = np.hstack([X, np.load(work / f"{job['extra']}.npy", mmap_mode="r")[rows]])
            out[part] = (X, df["target"].to_numpy())
    return out, split.record


def _train_job(job: dict, bundle_dir: Path, work: Path, deadline: float) -> dict:
    import keras

    from irnet_hub import zoo

    t0 = time.time()
    data, record = _xy(job, bundle_dir, work)
    init_model = None
    if job.get("init_from"):
        src = work / "jobs" / job["init_from"] / "model.keras"
        while not src.exists() and time.time() < deadline - 20:
            time.sleep(2)
        if not src.exists():
            return {"job": job, "error": f"transfer source {job['init_from']} did not finish"}
        init_model = keras.saving.load_model(src)
    result = zoo.train_and_score(data, zoo.Job.from_dict(job), work / "jobs" / job["id"], deadline=deadline,
                                 init_model=init_model)  # fmt: skip
    result.update(split=record, wall_seconds=time.time() - t0)
    return result


def _rf_job(job: dict, bundle_dir: Path, work: Path, deadline: float) -> dict:
    from irnet_hub import zoo
    from irnet_hub.random_forest import grid_for, search_grid

    t0 = time.time()
    data, record = _xy(job, bundle_dir, work)
    (Xtr, ytr), (Xva, yva), (Xte, yte) = data["train"], data["val"], data["test"]
    Xva, Xte, Xtr = (zoo.fill_like_training(Xtr, X) for X in (Xva, Xte, Xtr))
    grid = grid_for(len(ytr))  # the library's grid (irnet baseline); one setting for large sets
    rf, params, tried, _ = search_grid(Xtr, ytr, Xva, yva, grid=grid, n_jobs=job["n_jobs"])
    best = (min(r["val_mae"] for r in tried), params, float(np.mean(np.abs(rf.predict(Xte) - yte))))
    del rf
    result = {"job": job, "split": record, "val_mae": best[0], "params": best[1], "test_mae": best[2],
              "grid": grid, "seconds": time.time() - t0}  # fmt: skip
    d = work / "rf"
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{job['id']}.json").write_text(json.dumps(result, indent=1))
    return result


def _worker(args):
    job, bundle_dir, work, deadline = args
    if time.time() > deadline - (15 if job["kind"] == "rf" or job["cost"] < 2e6 else 45):
        return {"job": job, "error": "no time left"}
    try:
        fn = _rf_job if job["kind"] == "rf" else _train_job
        return fn(job, Path(bundle_dir), Path(work), deadline)
    except Exception:  # keep the pool going; the error comes back in the summary
        return {"job": job, "error": traceback.format_exc()[-2000:]}


def _jobs() -> tuple[list[dict], list[dict]]:
    from irnet_hub import zoo

    train, rf = [], []
    sizes = {"oqmd-bandgap": 215000, "matbench-mp-e-form": 85000, "matbench-mp-gap": 68000,
             "matbench-expt-gap": 3300, "mp-bulk-modulus": 4400, "mp-shear-modulus": 4300,
             "matbench-phonons-structure": 900}  # rows, only to order the queue  # fmt: skip
    for r in zoo.RECIPES.values():
        for fold in range(r.folds):
            for w in r.widths:
                base = dict(kind="zoo", recipe=r.name, fold=fold, members=r.members, transform=r.transform,
                            featurizer=r.featurizer, warmup_epochs=r.warmup_epochs,
                            epochs=r.epochs, batch_size=r.batch_size, lr=r.learning_rate, seed=fold)  # fmt: skip
                train.append(dict(base, id=f"{r.name}-w{w}-f{fold}", architecture=f"irnet-17/{w}", width=w,
                                  cost=sizes.get(r.name, 40000) * r.epochs))  # fmt: skip
            if r.init_from:
                src = zoo.get_recipe(r.init_from)
                w = src.widths[0]
                train.append(dict(base, id=f"{r.name}-w{w}-transfer-f{fold}", architecture=f"irnet-17/{w}",
                                  width=w, init_from=f"{src.name}-w{w}-f0", lr=r.learning_rate / 2,
                                  cost=0))  # fmt: skip
            n = sizes.get(r.name, 40000)
            rf.append(dict(kind="rf", id=f"{r.name}-f{fold}", recipe=r.name, fold=fold,
                           n_jobs=4 if n > 100000 else 1, cost=n * (4 if fold == 0 else 1)))  # fmt: skip
    for name, w in (("oqmd-formation-enthalpy", 4), ("mp-bulk-modulus", 8), ("matbench-expt-gap", 8)):
        r = zoo.get_recipe(name)
        for extra in EMBEDDINGS:
            train.append(dict(kind="ablation", id=f"ablation-{name}-w{w}-{extra}", recipe=name, fold=0, extra=extra,
                              featurizer=f"magpie145+{extra}",
                              architecture=f"irnet-17/{w}", width=w, members=r.members, transform=r.transform,
                              epochs=r.epochs, batch_size=r.batch_size, lr=r.learning_rate, seed=0,
                              cost=sizes.get(name, 40000) * r.epochs))  # fmt: skip
    for name, epochs in DESIGN_EPOCHS.items():
        r = zoo.get_recipe(name)
        for arch in DESIGN_NETWORKS:
            train.append(dict(kind="design", id=f"design-{name}-{arch.replace('/', '_')}", recipe=name, fold=0,
                              featurizer="magpie145",
                              architecture=arch, members=1, transform="none", epochs=epochs, batch_size=256,
                              lr=1e-3, seed=0, cost=sizes.get(name, 40000) * epochs * 0.8))  # fmt: skip
    train.sort(key=lambda j: -j["cost"])
    rf.sort(key=lambda j: -j["cost"])
    return train, rf


def run(bundle_dir: Path, out: Path, seconds: float, workers: int, rf_workers: int, only: str | None) -> None:
    import multiprocessing as mp

    t_start = time.time()
    deadline = t_start + seconds
    from irnet_hub.featurize.magpie import features_from_element_amounts

    work = Path("/tmp/zoo-work")
    shutil.rmtree(work, ignore_errors=True)
    (work / "data").mkdir(parents=True)
    with tarfile.open(bundle_dir / "data.tar.xz") as tar:
        tar.extractall(work / "data", filter="data")
    os.environ["IRNET_DATA_DIR"] = str(work / "data")
    f = np.load(bundle_dir / "formulas.npz")
    tables = pickle.loads((bundle_dir / "tables.pkl").read_bytes())
    X = features_from_element_amounts(f["count"], f["z"].astype(np.int64), f["a"], tables)
    np.save(work / "magpie.npy", X.astype(np.float32))
    if (bundle_dir / "embeddings.npz").exists():
        emb = np.load(bundle_dir / "embeddings.npz")
        for key in emb.files:
            from irnet_hub.featurize.embeddings import embedding_stats

            E = embedding_stats(f["count"], f["z"].astype(np.int64), f["a"], emb[key])
            np.save(work / f"{key}.npy", E.astype(np.float32))
    (work / "index.pkl").write_bytes(pickle.dumps({n: i for i, n in enumerate(f["names"].tolist())}))
    print(f"features {X.shape} in {time.time() - t_start:.1f} s", flush=True)

    train, rf = _jobs()
    if only:
        train = [j for j in train if only in j["id"]]
        rf = [j for j in rf if only in j["id"]]
    ctx = mp.get_context("spawn")
    results = []
    with ctx.Pool(workers) as pool, ctx.Pool(rf_workers) as rf_pool:
        rf_async = rf_pool.map_async(_worker, [(j, str(bundle_dir), str(work), deadline) for j in rf], chunksize=1)
        for res in pool.imap_unordered(_worker, [(j, str(bundle_dir), str(work), deadline) for j in train]):
            results.append(res)
            j = res["job"]
            msg = res.get("error", "").strip().splitlines()[-1:] or [f"val {res['val_mae']:.4g} test {res['test_mae']:.4g} "
                                                                      f"epochs {res['epochs_run']} {res['train_seconds']:.0f} s"]
            print(f"[{time.time() - t_start:5.0f} s] {j['id']}: {msg[0]}", flush=True)
        try:
            results += rf_async.get(timeout=max(1.0, deadline + 20 - time.time()))
        except mp.TimeoutError:
            print("RF: some jobs did not finish in time", flush=True)
            rf_pool.terminate()
    for p in sorted((work / "rf").glob("*.json")) if (work / "rf").exists() else []:
        if not any(r.get("job", {}).get("id") == p.stem and r["job"]["kind"] == "rf" for r in results):
            results.append(json.loads(p.read_text()))
    _collect(results, work, out, t_start)


def _collect(results: list[dict], work: Path, out: Path, t_start: float) -> None:
    """Choose each model's width on validation (fold 0), pack chosen models + all metrics under OUT."""
    out.mkdir(parents=True, exist_ok=True)
    ok = [r for r in results if "error" not in r]
    chosen = {}
    for r in ok:
        j = r["job"]
        if j["kind"] != "zoo" or j["fold"] != 0:
            continue
        if j["recipe"] not in chosen or r["val_mae"] < chosen[j["recipe"]]["val_mae"]:
            chosen[j["recipe"]] = r
    pack = work / "pack"
    shutil.rmtree(pack, ignore_errors=True)
    (pack / "models").mkdir(parents=True)
    for name, r in chosen.items():
        shutil.copy(work / "jobs" / r["job"]["id"] / "model.keras", pack / "models" / f"{name}.keras")
    hist = pack / "histories"
    hist.mkdir()
    for r in ok:
        if r["job"]["kind"] != "rf":
            shutil.copy(work / "jobs" / r["job"]["id"] / "history.csv", hist / f"{r['job']['id']}.csv")
    summary = {"results": results, "chosen": {k: v["job"]["id"] for k, v in chosen.items()},
               "seconds": time.time() - t_start, "device": _device()}  # fmt: skip
    (pack / "summary.json").write_text(json.dumps(summary, indent=1, default=float))
    with tarfile.open(work / "zoo.tar", "w") as tar:
        tar.add(pack, arcname="zoo")
    # $OUT returns at most 8 files of 16 MiB: split the archive.
    data, part = (work / "zoo.tar").read_bytes(), 0
    for i in range(0, len(data), 15 * 2**20):
        (out / f"zoo.tar.{part:02d}").write_bytes(data[i : i + 15 * 2**20])
        part += 1
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=float))
    errors = [r for r in results if "error" in r]
    print(f"done in {time.time() - t_start:.0f} s: {len(ok)} ok, {len(errors)} failed; chosen {summary['chosen']}; "
          f"archive {len(data) / 2**20:.1f} MiB in {part} parts", flush=True)


def _device() -> str:
    try:
        import jax

        return f"{jax.devices()[0].device_kind} (jax {jax.__version__})"
    except Exception as e:  # pragma: no cover
        return f"unknown ({e})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bundle")
    b.add_argument("out", type=Path)
    r = sub.add_parser("run")
    r.add_argument("bundle", type=Path)
    r.add_argument("out", type=Path)
    r.add_argument("--seconds", type=float, default=460)
    r.add_argument("--workers", type=int, default=11)
    r.add_argument("--rf-workers", type=int, default=4)
    r.add_argument("--only", help="run only jobs whose id contains this text (smoke tests)")
    args = ap.parse_args()
    if args.cmd == "bundle":
        bundle(args.out)
    else:
        run(args.bundle, args.out, args.seconds, args.workers, args.rf_workers, args.only)


if __name__ == "__main__":
    main()
