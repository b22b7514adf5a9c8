"""Running a screen: candidates -> predictions -> hulls -> ranked table, in-process or on a Dask cluster.

The flow (see docs/screening.md for the memory argument):

1. :func:`~irnet_hub.stability.candidates.plan` splits the screen into small
   partition descriptors; nothing is enumerated yet.
2. **Pass 1**, one task per partition (in this process, or on Dask workers):
   generate the partition's candidates, featurize and predict them in chunks,
   write the rows to a Parquet file in the work directory, and return only
   the partition's lower-hull points per chemical system, two layers deep
   (about 1% of its candidates).
3. The client merges those points into one pymatgen ``PhaseDiagram`` per
   system (:class:`~irnet_hub.stability.hull.PredictedHull`, exact: see hull.py).
4. **Pass 2**, streamed by the client one partition file at a time: energy
   above hull, decomposition energy and stability, appended to the output
   file; a running top-N gives the ranked summary.

Peak memory of the client is therefore one partition plus the hulls, and of a
worker one partition, whatever the number of candidates.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from irnet_hub.constants import DEFAULT_MODEL
from irnet_hub.errors import InvalidInputError
from irnet_hub.featurize.specs import MAGPIE145
from irnet_hub.stability.candidates import (
    atomic_numbers,
    Partition,
    Plan,
    formula_strings,
    generate,
    plan,
    system_key,
    system_strings,
)
from irnet_hub.stability.hull import (FORMATION_ENERGY_TOL, PredictedHull, fractions, hull_layers, plot_hull,
                                      plot_hull_faces)

if TYPE_CHECKING:
    import pandas as pd

    from irnet_hub.predictor import Predictor

DEFAULT_PARTITION_SIZE = 100_000
SCREEN_FEATURIZER = MAGPIE145  # computed once per chunk of candidates and fed to every model
CHUNK = 8192  # rows featurized and predicted at once inside a partition (bounds worker memory)
BASE_COLUMNS = ["formula", "system", "n_elements", "n_atoms", "prototype", "formation_enthalpy",
                "e_above_hull", "decomposition_energy", "is_stable", "in_domain"]
NEAR_HULL = 0.2  # eV/atom: candidates this close to the hull are drawn in the hull plots
NEAR_HULL_MAX = 100  # ... at most this many per plot


@dataclass
class ScreenResult:
    """What :func:`screen` returns.

    ``candidates``: the ranked candidates (all, or the ``top`` ones), columns
    :data:`BASE_COLUMNS` plus one per ``also`` model. ``n_candidates``: how
    many were screened (all of them, also when ``top`` keeps fewer).
    ``hulls``: system -> formulas on its predicted hull. ``known_on_hull``:
    system -> known phases on it. ``plots``: system -> hull plot path.
    ``model``: the formation-enthalpy model's name.
    """

    candidates: "pd.DataFrame"
    n_candidates: int
    hulls: dict[str, list[str]]
    known_on_hull: dict[str, list[str]]
    plots: dict[str, str]
    model: str

    def __len__(self) -> int:
        return len(self.candidates)

    @property
    def n_stable(self) -> int:
        """Formulas on a predicted hull, over all systems."""
        return sum(len(v) for v in self.hulls.values())


@dataclass(frozen=True)
class ScreenConfig:
    """How a screen runs and what it writes (the options of :func:`screen` past the candidates and
    models): the ``output`` file (CSV/Parquet, streamed), hull plots in ``plot_dir``, the ``top``
    candidates kept in memory (None: all), Dask ``workers``/``scheduler``, ``progress`` and ``force``
    (replace a read-only ``output``)."""

    output: "str | Path | None" = None
    plot_dir: "str | Path | None" = None
    top: int | None = None
    workers: int | None = None
    scheduler: str | None = None
    progress: bool = False
    force: bool = False


# --------------------------------------------------------------------------- models


@dataclass
class _Models:
    """The predictors a partition task needs (scattered once to each Dask worker)."""

    formation: "Predictor"
    also: list[tuple[str, "Predictor"]]


def _load(model: "str | Path | Predictor", role: str, verify: bool = True) -> "Predictor":
    if hasattr(model, "predict_features"):
        predictor = model
    else:
        from irnet_hub.hub import load

        predictor = load(model, verify=verify)
    # The screen computes one featurizer's features per chunk and feeds them to every model.
    if getattr(predictor, "featurizer", SCREEN_FEATURIZER.name) != SCREEN_FEATURIZER.name:
        raise InvalidInputError(str(model), f"{role} must take {SCREEN_FEATURIZER.phrase()}, the features the screen "
                                            f"computes; it takes {predictor.featurizer}")
    return predictor  # type: ignore[return-value]


def _load_models(model: Any, also: Sequence[Any], verify: bool = True) -> _Models:
    formation = _load(model, "--model", verify)
    unit = formation.unit.replace(" ", "").lower()
    if unit != "ev/atom":
        raise InvalidInputError(
            str(model), f"the hull needs a formation enthalpy in eV/atom; this model predicts "
                        f"{formation.property!r} in {formation.unit!r}")
    others: list[tuple[str, Predictor]] = []
    taken = set(BASE_COLUMNS)
    for m in also:
        p = _load(m, "--also", verify)
        name = p.name
        i = 2
        while name in taken:
            name, i = f"{p.name}_{i}", i + 1
        taken.add(name)
        others.append((name, p))
    return _Models(formation, others)


# --------------------------------------------------------------------------- pass 1


@dataclass
class _Config:
    """Everything a partition task needs besides the models."""

    hull_elements: list[tuple[str, ...]]
    containing: dict[str, list[int]]
    max_hull_size: int
    work_dir: str
    also_columns: list[str]


@dataclass
class _PartResult:
    index: int
    path: str | None  # Parquet file of the partition's rows (None: no candidates)
    n_rows: int
    vertices: list[tuple[int, str, float]]  # (hull index, formula, formation enthalpy per atom), two hull layers


def _amounts_in(z: np.ndarray, a: np.ndarray, elements_z: np.ndarray) -> np.ndarray:
    """Amounts of rows (z, a) in the column order ``elements_z`` (every present element must be listed)."""
    eq = (z[:, :, None] == elements_z[None, None, :]) & (a[:, :, None] > 0)
    return (a[:, :, None] * eq).sum(axis=1)


def _groups(labels: np.ndarray):
    """(label, row indices) for each distinct label; one sort, not one scan per label."""
    order = np.argsort(labels, kind="stable")
    uniq, starts = np.unique(labels[order], return_index=True)
    bounds = np.append(starts, len(order))
    for k, label in enumerate(uniq):
        yield label, order[bounds[k] : bounds[k + 1]]


def _z_of(elements: Sequence[str]) -> np.ndarray:
    return atomic_numbers(elements)


def _predict(formulas: np.ndarray, n_elements: np.ndarray, models: _Models) -> tuple[np.ndarray, list[np.ndarray]]:
    """Formation enthalpy and the other models' predictions, with each model's output rules (as
    ``predict`` gives them); features computed once per chunk."""
    from irnet_hub.featurize import get_featurizer

    featurize = get_featurizer(SCREEN_FEATURIZER.name).featurize

    n = len(formulas)
    main = np.empty(n)
    others = [np.empty(n) for _ in models.also]
    for i in range(0, n, CHUNK):
        res = featurize(formulas[i : i + CHUNK].tolist(), errors="raise")
        n_el = n_elements[i : i + CHUNK]
        main[i : i + CHUNK] = models.formation.predict_features_with_rules(res.features, n_el)
        for out, (_, p) in zip(others, models.also):
            out[i : i + CHUNK] = p.predict_features_with_rules(res.features, n_el)
    return main, others


def process_partition(part: Partition, cfg: _Config, models: _Models) -> _PartResult:
    """Pass 1 for one partition: generate, predict, write its rows, return its two hull layers."""
    import pandas as pd

    block = generate(part)
    n = len(block)
    if n == 0:
        return _PartResult(part.index, None, 0, [])
    formulas = formula_strings(block.z, block.a)
    systems = system_strings(block.z, block.a)
    energy, others = _predict(formulas, (block.a > 0).sum(axis=1), models)
    in_domain = models.formation.domain.by_arrays(block.z, block.a)

    codes, uniq = pd.factorize(systems)
    hulls_of = [cfg.containing[s] for s in uniq]
    owner = np.array([h[0] for h in hulls_of], np.int64)[codes]
    # Amounts in the owning hull's element order, for pass 2 (hull coordinates).
    amounts = np.zeros((n, cfg.max_hull_size), np.int64)
    for h, rows in _groups(owner):
        hz = _z_of(cfg.hull_elements[h])
        amounts[rows, : len(hz)] = _amounts_in(block.z[rows], block.a[rows], hz)

    # Local lower-hull vertices (two layers) of every hull these candidates belong
    # to (a binary Li-O candidate counts for Li-Fe-O and Li-Mn-O alike). A formula
    # can repeat (grid and prototype rows): same features, same energy; hull it once.
    vertices: list[tuple[int, str, float]] = []
    first = np.zeros(n, dtype=bool)
    first[np.unique(formulas.astype(str), return_index=True)[1]] = True
    below = np.flatnonzero((energy < -FORMATION_ENERGY_TOL) & first)
    if len(below):
        order = below[np.argsort(codes[below], kind="stable")]
        starts = np.searchsorted(codes[order], np.arange(len(uniq) + 1))
        rows_of_hull: dict[int, list[np.ndarray]] = {}
        for c, hs in enumerate(hulls_of):
            rows = order[starts[c] : starts[c + 1]]
            if len(rows):
                for h in hs:
                    rows_of_hull.setdefault(h, []).append(rows)
        for h in sorted(rows_of_hull):
            rows = np.concatenate(rows_of_hull[h])
            x = fractions(_amounts_in(block.z[rows], block.a[rows], _z_of(cfg.hull_elements[h])))
            for i in rows[hull_layers(x, energy[rows])]:
                vertices.append((int(h), str(formulas[i]), float(energy[i])))

    df = pd.DataFrame({
        "formula": formulas.astype(str),
        "system": systems.astype(str),
        "n_elements": (block.a > 0).sum(axis=1),
        "n_atoms": block.a.sum(axis=1),
        "prototype": block.prototype.astype(str),
        "formation_enthalpy": energy,
    })
    for name, values in zip(cfg.also_columns, others):
        df[name] = values
    df["in_domain"] = pd.array(in_domain if in_domain is not None else [None] * n, dtype="boolean")
    df["_hull"] = owner
    for j in range(cfg.max_hull_size):
        df[f"_a{j}"] = amounts[:, j]
    path = os.path.join(cfg.work_dir, f"part-{part.index:06d}.parquet")
    df.to_parquet(path, index=False)
    return _PartResult(part.index, path, n, vertices)


# --------------------------------------------------------------------------- execution


def _open_client(workers: int | None, scheduler: str | None):
    """A Dask client: a new LocalCluster of ``workers`` processes, or an existing scheduler."""
    import logging

    from distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler), None
    # Workers' log records stay quiet below CRITICAL: a task's own error still reaches this process
    # as an exception from ``future.result()``, while distributed's shutdown races (a heartbeat on a
    # comm that is closing) would otherwise print a traceback on stderr after a successful run.
    cluster = LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=logging.CRITICAL)
    return Client(cluster), cluster


def _shut_down(client, cluster) -> None:
    """Close Dask in the documented order: this client first, then the cluster we started, whose
    ``close`` retires the workers, waits for their processes to exit and only then stops the
    scheduler (an external scheduler and its workers are left running)."""
    client.close(timeout=30)
    if cluster is not None:
        cluster.close(timeout=60)


def _run_pass1(partitions: list[Partition], cfg: _Config, models: _Models, workers: int | None,
               scheduler: str | None, progress: bool):
    """Yield each partition's result (any order), in-process or through Dask."""
    from tqdm.auto import tqdm

    bar = tqdm(total=len(partitions), unit="partition", desc="screening", disable=not progress)
    n_rows = 0
    if workers is None and scheduler is None:
        for part in partitions:
            res = process_partition(part, cfg, models)
            n_rows += res.n_rows
            bar.set_postfix(candidates=n_rows)
            bar.update(1)
            yield res
        bar.close()
        return
    from distributed import as_completed

    client, cluster = _open_client(workers, scheduler)
    try:
        # The models (MBs of weights) and the config go to each worker once.
        models_f = client.scatter(models, broadcast=True)
        cfg_f = client.scatter(cfg, broadcast=True)
        futures = client.map(process_partition, partitions, cfg=cfg_f, models=models_f, pure=False)
        for fut in as_completed(futures):
            res = fut.result()
            fut.release()
            n_rows += res.n_rows
            bar.set_postfix(candidates=n_rows)
            bar.update(1)
            yield res
    finally:
        bar.close()
        _shut_down(client, cluster)


# --------------------------------------------------------------------------- output


class _Writer:
    """Streams result frames to one .parquet or .csv file (a temporary file renamed at the end)."""

    def __init__(self, path: str | Path, columns: list[str], also: list[str], force: bool = False):
        from irnet_hub.files import new_temp_beside, resolve_output

        self.kind = _output_kind(path)
        # The real file (symlinks followed), written through a temporary file beside it.
        self.path = resolve_output(path, force=force)
        self.tmp = new_temp_beside(self.path)
        self.columns = columns
        self.first = True
        self.writer = None
        if self.kind == "parquet":
            import pyarrow as pa

            types = {"formula": pa.string(), "system": pa.string(), "n_elements": pa.int64(),
                     "n_atoms": pa.int64(), "prototype": pa.string(), "formation_enthalpy": pa.float64(),
                     "e_above_hull": pa.float64(), "decomposition_energy": pa.float64(),
                     "is_stable": pa.bool_(), "in_domain": pa.bool_()}
            types.update({c: pa.float64() for c in also})
            self.schema = pa.schema([(c, types[c]) for c in columns])

    def write(self, df: "pd.DataFrame") -> None:
        if self.kind == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(df[self.columns], schema=self.schema, preserve_index=False)
            if self.writer is None:
                self.writer = pq.ParquetWriter(self.tmp, self.schema)
            self.writer.write_table(table)
        else:
            df[self.columns].to_csv(self.tmp, mode="w" if self.first else "a", header=self.first, index=False)
        self.first = False

    def close(self) -> None:
        if self.kind == "parquet":
            if self.writer is None:
                import pyarrow.parquet as pq

                pq.ParquetWriter(self.tmp, self.schema).close()
            else:
                self.writer.close()
        elif self.first:
            import pandas as pd

            pd.DataFrame(columns=self.columns).to_csv(self.tmp, index=False)
        from irnet_hub.files import commit_temp

        commit_temp(self.tmp, self.path)


def _output_kind(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise InvalidInputError(str(path), "the output file must end in .parquet or .csv")
    return suffix[1:]


def _rank(df: "pd.DataFrame") -> "pd.DataFrame":
    """Most stable first: lowest decomposition energy (stable candidates, most negative first, then
    the others by energy above hull), then lowest formation enthalpy."""
    return df.sort_values(["decomposition_energy", "formation_enthalpy", "formula", "prototype"], kind="mergesort")


# --------------------------------------------------------------------------- known phases


def _read_known(known: Any) -> list[tuple[str, str, float]]:
    """(system key, formula, formation enthalpy per atom) of each compound in a known-phases table."""
    import pandas as pd

    from irnet_hub.featurize.composition import parse_composition

    if isinstance(known, pd.DataFrame):
        df = known
    else:
        from irnet_hub.tables import read_csv

        df = read_csv(known)  # the one CSV reader: text cells, converted below
    missing = {"formula", "formation_enthalpy"} - set(df.columns)
    if missing:
        raise InvalidInputError(str(known), f"the known-phases table needs columns formula, formation_enthalpy "
                                            f"(eV/atom); missing {sorted(missing)}")
    out = []
    for i, (formula, e) in enumerate(zip(df["formula"], df["formation_enthalpy"])):
        comp = parse_composition(formula if isinstance(formula, str) else str(formula))
        try:
            value = float(e)
        except (TypeError, ValueError):
            value = math.nan
        if not math.isfinite(value):
            raise InvalidInputError(f"row {i} {formula!r}", f"formation_enthalpy {e!r} is not a number")
        if len(comp.elements) < 2:
            continue  # elements are the references at zero by definition
        out.append((system_key(el.symbol for el in comp.elements), str(formula), value))
    return out


# --------------------------------------------------------------------------- the API


def screen(
    systems: Sequence[str] | str = (),
    *,
    max_atoms: int = 10,
    charge_balanced: bool = False,
    prototypes: Sequence[str] | str = (),
    sites: Mapping[str, Sequence[str] | str] | Sequence[str] | None = None,
    complete_hulls: bool = True,
    model: "str | Path | Predictor" = DEFAULT_MODEL,
    also: Sequence["str | Path | Predictor"] = (),
    known: "str | Path | pd.DataFrame | None" = None,
    output: str | Path | None = None,
    plot_dir: str | Path | None = None,
    top: int | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    partition_size: int = DEFAULT_PARTITION_SIZE,
    work_dir: str | Path | None = None,
    progress: bool = False,
    max_candidates: int | None = None,
    verify: bool = True,
    force: bool = False,
) -> ScreenResult:
    """Screen candidate compositions for stability with a formation-enthalpy model.

    Candidates: the stoichiometry grid (``max_atoms`` atoms per formula unit)
    of each chemical system in ``systems`` ("Li-Fe-P-O", subsystems included)
    and the ``prototypes`` ("B2", "L1_0", "perovskite", or templates such as
    "A2BX4") filled from ``sites`` ({"A": ["Li", "Na"], ...}); with
    ``charge_balanced`` only those pymatgen can charge-balance.
    ``complete_hulls`` adds the grid of each prototype's chemical system, so
    its hull has the competing phases.

    Each chemical system's hull is built from the predictions (elements at
    zero) and the ``known`` phases (CSV or DataFrame: formula,
    formation_enthalpy in eV/atom). ``model`` is a registered name or a model
    directory (or a loaded Predictor); ``also`` adds other models' predictions
    as columns named after them.

    Returns the candidates ranked most stable first: the stable ones (on the
    predicted hull, ``is_stable``) by ``decomposition_energy`` (how far below
    the hull of all other compositions, <= 0), then the others by
    ``e_above_hull``: all of them, or the ``top`` ones. With
    ``output`` (.parquet or .csv) every candidate is also written there, in
    enumeration order; ``plot_dir`` gets a hull PNG per binary/ternary system and one per ternary face of a quaternary one.
    ``workers`` starts a local Dask cluster of that many processes,
    ``scheduler`` connects to a running one (``work_dir`` must then be on a
    filesystem the workers share); neither: everything runs in this process.
    Returns a :class:`ScreenResult`: the ranked table is ``result.candidates``;
    ``n_candidates``, ``hulls`` (stable formulas per system),
    ``known_on_hull``, ``plots`` and ``model`` are its other fields.

    The candidate count is estimated before anything is enumerated; above
    ``max_candidates`` (default :data:`~irnet_hub.stability.candidates.DEFAULT_MAX_CANDIDATES`)
    the screen is refused with the estimate. ``verify=False`` skips the
    model integrity check (own models only); ``force`` lets ``output`` replace
    a read-only or non-regular file. The temporary work folder is removed
    on success, error, Ctrl-C and SIGTERM (a batch scheduler's time limit).
    """
    from irnet_hub.extras import require

    require("screen")

    if workers is not None and scheduler is not None:
        raise InvalidInputError(scheduler, "give either workers (a new local cluster) or scheduler (an existing one)")
    if workers is not None and (isinstance(workers, bool) or int(workers) < 1):
        raise InvalidInputError(workers, "workers must be a positive integer")
    if top is not None and int(top) < 0:
        raise InvalidInputError(top, "top must be >= 0")
    if output is not None:
        from irnet_hub.files import resolve_output

        _output_kind(output)
        resolve_output(output, force=force)  # a bad -o is reported before any work
    the_plan = plan(systems, max_atoms=max_atoms, prototypes=prototypes, sites=sites,
                    charge_balanced=charge_balanced, complete_hulls=complete_hulls, partition_size=partition_size,
                    max_candidates=max_candidates)
    if progress:
        import sys

        print(f"screening up to {the_plan.raw_count:,} candidates in {len(the_plan.partitions):,} partition(s)",
              file=sys.stderr, flush=True)
    known_rows = _read_known(known) if known is not None else []
    models = _load_models(model, list(also) if not isinstance(also, (str, Path)) else [also], verify=verify)

    own_dir = work_dir is None
    base = Path(output).resolve().parent if output is not None else None
    wd = Path(tempfile.mkdtemp(prefix="irnet-screen-", dir=base)) if own_dir else Path(work_dir)
    wd.mkdir(parents=True, exist_ok=True)
    with _sigterm_as_exit():
        try:
            run = ScreenConfig(output=output, plot_dir=plot_dir, top=top, workers=workers, scheduler=scheduler,
                               progress=progress, force=force)
            return _screen(the_plan, models, known_rows, wd, run)
        finally:
            if own_dir:
                shutil.rmtree(wd, ignore_errors=True)


@contextmanager
def _sigterm_as_exit():
    """Turn SIGTERM into SystemExit while screening, so ``finally`` blocks clean up as on Ctrl-C.

    Batch schedulers (Slurm, PBS) end a job at its time limit with SIGTERM;
    the default action kills the process without running any cleanup, leaving
    the partition files behind. Only the main thread can install handlers.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum, frame):  # noqa: ARG001
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _screen(the_plan: Plan, models: _Models, known_rows: list[tuple[str, str, float]], wd: Path,
            run: ScreenConfig) -> "ScreenResult":
    import pandas as pd

    also_columns = [name for name, _ in models.also]
    output, plot_dir, top = run.output, run.plot_dir, run.top
    hulls_el = the_plan.hull_systems
    cfg = _Config(hulls_el, the_plan.containing, max((len(h) for h in hulls_el), default=0), str(wd), also_columns)

    # Pass 1: predictions to the work directory, hull vertices back to here.
    results: dict[int, _PartResult] = {}
    pending: dict[int, list[tuple[str, float]]] = {}
    for res in _run_pass1(the_plan.partitions, cfg, models, run.workers, run.scheduler, run.progress):
        results[res.index] = res
        for h, formula, e in res.vertices:
            pending.setdefault(h, []).append((formula, e))
            if len(pending[h]) > 4096:
                pending[h] = _compact(hulls_el[h], pending[h])

    known_by_hull: dict[int, list[tuple[str, float]]] = {}
    for key, formula, e in known_rows:
        for h in the_plan.containing.get(key, []):
            known_by_hull.setdefault(h, []).append((formula, e))
    hulls = [PredictedHull.build(el, _dedupe(pending.get(h, [])), known_by_hull.get(h, []))
             for h, el in enumerate(hulls_el)]

    # Pass 2: energy above hull, streamed partition by partition.
    columns = BASE_COLUMNS + also_columns
    writer = _Writer(output, columns, also_columns, run.force) if output is not None else None
    keep_all = top is None
    kept: list[pd.DataFrame] = []
    plotted = {h for h, el in enumerate(hulls_el) if plot_dir is not None and len(el) in (2, 3, 4)}
    near: dict[int, pd.DataFrame] = {}
    n_total = 0
    try:
        for i in sorted(results):
            res = results[i]
            if res.path is None:
                continue
            df = pd.read_parquet(res.path)
            _add_hull_columns(df, hulls, cfg.max_hull_size)
            n_total += len(df)
            if writer is not None:
                writer.write(df)
            out = df[columns]
            if keep_all:
                kept.append(out)
            elif top:
                kept = [_rank(pd.concat(kept + [_rank(out).head(top)], ignore_index=True)).head(top)]
            for h in plotted & set(np.unique(df["_hull"]).tolist()):
                sel = df[(df["_hull"] == h) & (df["e_above_hull"] > 0) & (df["e_above_hull"] <= NEAR_HULL)]
                if len(sel):
                    both = pd.concat([near.get(h), sel[["formula", "formation_enthalpy", "e_above_hull"]]])
                    near[h] = both.sort_values("e_above_hull", kind="mergesort").head(NEAR_HULL_MAX)
            os.remove(res.path)
        if writer is not None:
            writer.close()
            writer = None
    finally:
        if writer is not None and writer.tmp.exists():
            writer.tmp.unlink()

    plots = {}
    for h in sorted(plotted):
        name = "-".join(sorted(hulls_el[h]))
        pts = list(zip(near[h]["formula"], near[h]["formation_enthalpy"])) if h in near else []
        if len(hulls_el[h]) == 4:  # a quaternary hull is drawn as its four ternary faces
            for face, path in plot_hull_faces(hulls[h], plot_dir, near=pts).items():
                plots[f"{name} face {face}"] = str(path)
        else:
            plots[name] = str(plot_hull(hulls[h], Path(plot_dir) / f"hull_{name}.png", near=pts))
    for el in hulls_el:
        if plot_dir is not None and len(el) > 4:
            plots["-".join(sorted(el))] = "not drawn: a hull of 5 or more elements has no 2-D picture"

    table = _rank(pd.concat(kept, ignore_index=True)) if kept else pd.DataFrame(columns=columns)
    return ScreenResult(
        candidates=table.reset_index(drop=True),
        n_candidates=n_total,
        hulls={"-".join(sorted(el)): sorted(h.stable) for el, h in zip(hulls_el, hulls)},
        known_on_hull={"-".join(sorted(el)): h.known_stable for el, h in zip(hulls_el, hulls) if h.known_stable},
        plots=plots,
        model=models.formation.name,
    )


def _dedupe(rows: list[tuple[str, float]]) -> list[tuple[str, float]]:
    best: dict[str, float] = {}
    for f, e in rows:
        if f not in best or e < best[f]:
            best[f] = e
    return sorted(best.items())


def _compact(elements: tuple[str, ...], rows: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """Keep only the two hull layers of ``rows``: the client's memory stays at hull size."""
    from irnet_hub.featurize.composition import parse_composition

    rows = _dedupe(rows)
    a = np.array([[parse_composition(f)[e] for e in elements] for f, _ in rows])
    idx = hull_layers(fractions(a), np.array([e for _, e in rows]))
    return [rows[i] for i in sorted(idx)]


def _add_hull_columns(df: "pd.DataFrame", hulls: list[PredictedHull], width: int) -> None:
    """Fill ``e_above_hull``, ``decomposition_energy`` and ``is_stable`` of a pass-1 partition frame."""
    amounts = df[[f"_a{j}" for j in range(width)]].to_numpy()
    energy = df["formation_enthalpy"].to_numpy()
    formulas = df["formula"].to_numpy()
    owner = df["_hull"].to_numpy()
    eah = np.empty(len(df))
    stable = np.zeros(len(df), dtype=bool)
    decomposition = np.empty(len(df))
    for h, rows in _groups(owner):
        k = len(hulls[h].elements)
        eah[rows] = hulls[h].e_above_hull(fractions(amounts[rows, :k]), energy[rows])
        stable[rows] = hulls[h].is_stable(formulas[rows], eah[rows])
        decomposition[rows] = hulls[h].decomposition_energy(formulas[rows], eah[rows], stable[rows])
    df["e_above_hull"] = eah
    df["decomposition_energy"] = decomposition
    df["is_stable"] = stable
