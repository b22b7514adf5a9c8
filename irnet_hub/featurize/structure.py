"""Ward et al. 2017 structure attributes (``ward2017``).

The representation of Ward et al., Phys. Rev. B 96, 024104 (2017) that the
IRNet paper used for its structure-based design problem: attributes of the
Voronoi tessellation of a crystal (coordination numbers, structural
heterogeneity, chemical ordering, packing efficiency, local property
differences) followed by the 145 Magpie composition attributes. The features
are computed with matminer's own Ward-PRB-2017 presets, in the order of
matminer's ``voronoi-ward-prb-2017`` example; see ``docs/structure_features.md``
for the feature count and why it is 273 rather than the paper's 271.

Tessellating a structure is slow (tenths of a second per structure on one
core), so :func:`featurize_structures` runs in a process pool and caches each
structure's feature row on disk, keyed by a hash of the structure.
"""

from __future__ import annotations

import re

import gzip
import hashlib
import json
import multiprocessing
import os
import sys
import warnings
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
from pymatgen.core import Structure

from irnet_hub.errors import BatchInputError, InvalidInputError, RowFailure
from irnet_hub.featurize.base import Errors, FeatureResult
from irnet_hub.featurize.specs import WARD2017


__all__ = [
    "SPEC",
    "STRUCTURE_LABELS",
    "STRUCTURE_GROUPS",
    "COMPOSITION_LABELS",
    "load_structures",
    "load_structure_columns",
    "to_structure",
    "featurize_structures",
    "structure_key",
    "default_cache_dir",
]

N_FEATURES = 273

SPEC = WARD2017

# Groups whose featurizers tessellate the structure; a failure there is a
# tessellation failure, which is worth saying in the error message.
_VORONOI_GROUPS = {
    "coordination number",
    "structural heterogeneity",
    "chemical ordering",
    "maximum packing efficiency",
    "local property difference",
}


def _nearest_neighbor_distances(structure: Structure, start: float = 4.0, limit: float = 13.0) -> np.ndarray | None:
    """Each site's distance to its nearest neighbor (periodic images included), or None beyond ``limit`` Å."""
    radius = start
    while True:
        centers, _, _, distances = structure.get_neighbor_list(radius)
        nearest = np.full(len(structure), np.inf)
        np.minimum.at(nearest, centers, distances)
        if np.isfinite(nearest).all():
            return nearest
        if radius >= limit:
            return None
        radius = min(2 * radius, limit)


def _max_packing_efficiency():
    """matminer's MaximumPackingEfficiency, computed without a tessellation per site.

    matminer tessellates each site on its own (``get_voronoi_polyhedra(strc, i)``),
    which was 55 % of the time to featurize a Matbench phonons structure
    (7.1 of 13.1 s for 25 structures). The largest atom at a site reaches the
    nearest face of its Voronoi cell, and pymatgen defines a face's distance
    as half the distance to the neighbor across it, so the radius is half the
    nearest-neighbor distance. Same formula, same numbers (at most 1.7e-15
    relative difference on 300 phonons structures; tests/test_featurize_structure.py
    checks it against matminer), 79.3 s -> 0.09 s for this group on those 300.
    """
    from matminer.featurizers.structure import MaximumPackingEfficiency

    class NearestNeighborPackingEfficiency(MaximumPackingEfficiency):
        def featurize(self, strc):
            nearest = _nearest_neighbor_distances(strc)
            if nearest is None:  # nothing within VoronoiNN's 13 Å cutoff: let matminer decide
                return super().featurize(strc)
            return [4.0 / 3.0 * np.pi * np.power(nearest / 2, 3).sum() / strc.volume]

    return NearestNeighborPackingEfficiency()


@lru_cache(maxsize=1)
def _groups() -> tuple[tuple[str, Any], ...]:
    """The matminer featurizers, one per feature group, in output order.

    Built lazily and once per process: each pool worker builds its own copy
    (they hold element-data tables that are cheap to load but not worth
    pickling to every task).
    """
    from matminer.featurizers.composition import (
        ElementProperty,
        IonProperty,
        Stoichiometry,
        ValenceOrbital,
    )
    from matminer.featurizers.structure import (
        ChemicalOrdering,
        SiteStatsFingerprint,
        StructuralHeterogeneity,
        StructureComposition,
    )

    return (
        ("coordination number", SiteStatsFingerprint.from_preset("CoordinationNumber_ward-prb-2017")),
        ("structural heterogeneity", StructuralHeterogeneity()),
        ("chemical ordering", ChemicalOrdering()),
        ("maximum packing efficiency", _max_packing_efficiency()),
        (
            "local property difference",
            SiteStatsFingerprint.from_preset("LocalPropertyDifference_ward-prb-2017"),
        ),
        # The 145 Magpie composition attributes (same featurizers and labels as
        # irnet_hub.featurize.composition's MAGPIE_LABELS).
        ("stoichiometry", StructureComposition(Stoichiometry())),
        ("elemental property", StructureComposition(ElementProperty.from_preset("magpie"))),
        ("valence orbital", StructureComposition(ValenceOrbital(props=["frac"]))),
        ("ion property", StructureComposition(IonProperty(fast=True))),
    )


#: ``(group name, number of features)`` in output order.
STRUCTURE_GROUPS: list[tuple[str, int]] = [(name, len(f.feature_labels())) for name, f in _groups()]
#: The feature labels, in column order (matminer's labels).
STRUCTURE_LABELS: list[str] = [label for _, f in _groups() for label in f.feature_labels()]
#: The last 145 labels: the Magpie composition attributes.
COMPOSITION_LABELS: list[str] = STRUCTURE_LABELS[-145:]

if len(STRUCTURE_LABELS) != SPEC.n_features:  # a matminer change must not pass silently
    raise RuntimeError(
        f"matminer's Ward-2017 presets give {len(STRUCTURE_LABELS)} features, "
        f"but {SPEC.name} v{SPEC.version} is defined with {SPEC.n_features}"
    )


# --------------------------------------------------------------------------
# Reading structures
# --------------------------------------------------------------------------


def load_structures(path: str | os.PathLike[str]) -> list[Structure]:
    """Read every structure in a file (see :func:`load_structure_columns` for the formats)."""
    return load_structure_columns(path)[0]


def load_structure_columns(path: str | os.PathLike[str]) -> tuple[list[Structure], dict[str, list[Any]]]:
    """Read every structure in a file, and the frame's other columns (targets) when it has them.

    Understands CIF (``*.cif``, one structure per data block), VASP
    POSCAR/CONTCAR (``POSCAR*``, ``CONTCAR*``, ``*.vasp``, ``*.poscar``),
    pymatgen JSON (one ``Structure.as_dict()``, or a list of them, optionally
    gzipped) and a pandas ``to_json(orient="split")`` frame with a
    ``structure`` column, such as Matbench's ``matbench_phonons.json.gz``.
    Other names are handed to ``Structure.from_file``.

    Returns ``(structures, columns)``: ``columns`` maps each other column of a
    frame to its values (row order of the structures), and is empty for the
    other formats. Raises :class:`InvalidInputError` naming the path and the
    reason when the file is missing or cannot be read.
    """
    p = Path(path).expanduser()
    shown = str(path)
    if not p.exists():
        if _FORMULA_LIKE.match(shown.strip()):
            raise InvalidInputError(shown, "looks like a formula, but this is a structure model: give a crystal "
                                           "structure (CIF, POSCAR or pymatgen JSON file, or a pymatgen Structure)")
        raise InvalidInputError(shown, "no such file")
    if p.is_dir():
        raise InvalidInputError(shown, "is a directory; pass a structure file")
    name = p.name.lower()
    base = name[:-3] if name.endswith(".gz") else name
    columns: dict[str, list[Any]] = {}
    try:
        if base.endswith(".json"):
            structures, columns = _read_json(p, shown)
        elif base.endswith((".cif", ".mcif")):
            structures = _read_cif(p)
        else:
            # POSCAR/CONTCAR/*.vasp and anything else pymatgen recognises by name.
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                structures = [Structure.from_file(p)]
            if any("cannot be determined" in str(w.message) or "false names" in str(w.message) for w in caught):
                # Without the species line pymatgen names the sites H, He, Li, ... (a wrong structure).
                raise InvalidInputError(shown, "has no species line (the element symbols, line 6 of a VASP 5 "
                                               "POSCAR); add it, the elements cannot be guessed")  # fmt: skip
    except InvalidInputError:
        raise
    except Exception as exc:  # pymatgen raises many types for malformed files
        kind = "JSON" if base.endswith(".json") else "CIF" if base.endswith(".cif") else "a structure file"
        raise InvalidInputError(shown, f"could not be read as {kind}: {_describe(exc)}") from exc
    if not structures:
        raise InvalidInputError(shown, "contains no structures")
    return structures, columns


def _read_cif(p: Path) -> list[Structure]:
    from pymatgen.io.cif import CifParser

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        parser = CifParser(p)
        try:
            structures = parser.parse_structures(primitive=False)
        except ValueError as exc:
            # pymatgen says only "Invalid CIF file with no structures!"; its
            # warnings hold the actual reason.
            why = "; ".join(dict.fromkeys(str(w.message).splitlines()[0] for w in caught))
            raise ValueError(f"{exc} {why}".strip()) from exc
    return structures


_FORMULA_LIKE = re.compile(r"^(?:[A-Z][a-z]?[0-9.]*|[()\[\]][0-9.]*)+$")


def _read_json(p: Path, shown: str) -> tuple[list[Structure], dict[str, list[Any]]]:
    opener = gzip.open if p.name.lower().endswith(".gz") else open
    with opener(p, "rt", encoding="utf-8") as fh:
        data = json.load(fh)
    if isinstance(data, dict) and "columns" in data and "data" in data:
        # pandas to_json(orient="split"): read directly, no pandas needed.
        columns = list(data["columns"])
        if "structure" not in columns:
            raise InvalidInputError(shown, f"frame has no 'structure' column (columns: {columns})")
        col = columns.index("structure")
        rows = data["data"]
        others = {c: [row[j] for row in rows] for j, c in enumerate(columns) if j != col}
        return [_structure_from_dict(row[col], f"{shown} row {i}") for i, row in enumerate(rows)], others
    if isinstance(data, dict):
        return [_structure_from_dict(data, shown)], {}
    if isinstance(data, list):
        return [_structure_from_dict(d, f"{shown} item {i}") for i, d in enumerate(data)], {}
    raise InvalidInputError(
        shown,
        "JSON is not a pymatgen Structure, a list of them, or a split-oriented frame with a 'structure' column",
    )


def _structure_from_dict(d: Any, where: str) -> Structure:
    if isinstance(d, str):  # some frames store each structure as a JSON string
        d = json.loads(d)
    if not isinstance(d, dict) or "lattice" not in d or "sites" not in d:
        raise InvalidInputError(where, "not a pymatgen Structure dict (needs 'lattice' and 'sites')")
    try:
        return Structure.from_dict(d)
    except Exception as exc:
        raise InvalidInputError(where, f"invalid Structure dict: {_describe(exc)}") from exc


def to_structure(item: Structure | dict | str | os.PathLike[str]) -> Structure:
    """Turn a Structure, a ``Structure.as_dict()`` dict or a file path into a Structure.

    A file must hold exactly one structure (use :func:`load_structures` for
    files with several).
    """
    if isinstance(item, Structure):
        return item
    if isinstance(item, dict):
        return _structure_from_dict(item, "structure dict")
    if isinstance(item, (str, os.PathLike)):
        structures = load_structures(item)
        if len(structures) != 1:
            raise InvalidInputError(
                str(item), f"holds {len(structures)} structures; use load_structures() to read them all"
            )
        return structures[0]
    try:  # pymatgen IStructure and other Structure-like objects
        from pymatgen.core import IStructure

        if isinstance(item, IStructure):
            return Structure.from_sites(item)
    except ImportError:  # pragma: no cover
        pass
    raise InvalidInputError(
        item, f"expected a pymatgen Structure, a Structure dict or a file path, not {type(item).__name__}"
    )


# --------------------------------------------------------------------------
# Cache
# --------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """``$IRNET_CACHE_DIR`` if set, else ``~/.cache/irnet-hub/features``."""
    env = os.environ.get("IRNET_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "irnet-hub" / "features"


def structure_key(structure: Structure) -> str:
    """sha256 of a canonical form of the structure plus the featurizer version.

    Lattice and fractional coordinates are rounded to 1e-6 (and coordinates
    wrapped into [0, 1)) so that the same structure read from different files
    hits the same entry. The matminer version is part of the key because the
    features are matminer's and could change with it.
    """
    import matminer

    def canon(a: np.ndarray) -> list:
        # "+ 0.0" turns -0.0 into 0.0 so both serialise alike.
        return (np.round(np.asarray(a, dtype=float), 6) + 0.0).tolist()

    payload = {
        "featurizer": SPEC.name,
        "version": SPEC.version,
        "matminer": getattr(matminer, "__version__", "unknown"),
        "lattice": canon(structure.lattice.matrix),
        "species": [
            sorted((str(sp), round(float(occ), 6)) for sp, occ in site.species.items()) for site in structure
        ],
        "frac_coords": canon(np.round(structure.frac_coords, 6) % 1.0),
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _cache_path(cache_dir: Path, key: str) -> Path:
    # Two-character shards keep directories small for 10^5-10^6 entries.
    return cache_dir / SPEC.name / key[:2] / f"{key}.npy"


def _cache_read(path: Path) -> np.ndarray | None:
    """The cached row, or None when absent or unusable (then it is recomputed)."""
    try:
        row = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        return None
    except Exception:  # truncated / garbage file: treat as a miss
        return None
    if row.dtype != np.float64 or row.shape != (SPEC.n_features,) or not np.isfinite(row).all():
        return None
    return row


def _cache_write(path: Path, row: np.ndarray) -> None:
    """Write atomically: a temp file in the same directory, then os.replace.

    A run killed mid-write leaves at most a stray ``*.tmp`` file, never a
    half-written entry under the real name.
    """
    import io

    from irnet_hub.files import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.save(buf, np.asarray(row, dtype=np.float64), allow_pickle=False)
    atomic_write(path, buf.getvalue())


# --------------------------------------------------------------------------
# Featurizing
# --------------------------------------------------------------------------


def _describe(exc: BaseException) -> str:
    """``Type: first line of message``, kept short (Qhull messages run to pages)."""
    msg = str(exc).strip().splitlines()
    first = msg[0] if msg else ""
    if len(first) > 200:
        first = first[:197] + "..."
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _overlap_hint(structure: Structure) -> str:
    """Name the closest pair of sites when they (nearly) coincide, the usual tessellation killer."""
    if len(structure) < 2 or len(structure) > 2000:
        return ""
    try:
        d = structure.distance_matrix.copy()
    except Exception:
        return ""
    np.fill_diagonal(d, np.inf)
    i, j = np.unravel_index(np.argmin(d), d.shape)
    if d[i, j] < 0.5:
        return f" (sites {min(i, j)} and {max(i, j)} are {d[i, j]:.3f} Å apart)"
    return ""


def _wrapped(structure: Structure) -> Structure:
    """The structure with every fractional coordinate in [0, 1).

    pymatgen's ``VoronoiNN.get_all_voronoi_polyhedra`` (through which
    matminer tessellates for every Ward group but packing efficiency) moves the central atoms into
    the cell but not their periodic images, so an atom at, say, c = -3e-5
    lands on top of its own image and the tessellation fails with "No Voronoi
    neighbors found" (51 of the 1,265 matbench_phonons structures, e.g. a
    wurtzite CdSe). Wrapping is the same crystal, so the features are
    unchanged for every structure that worked before.
    """
    frac = np.mod(structure.frac_coords, 1.0)
    frac[frac >= 1.0 - 1e-9] = 0.0  # np.mod(-1e-17, 1) == 1.0
    if np.array_equal(frac, structure.frac_coords):
        return structure
    return Structure(
        structure.lattice,
        [site.species for site in structure],
        frac,
        site_properties=structure.site_properties or None,
    )


# Structures with atoms closer than this, or less volume per atom, are refused before any tessellation:
# the shortest distance in the 1,265 Matbench phonon structures is 0.97 A (H2's bond: 0.74 A) and their
# volume per atom 5.7 to 60.7 A^3; one 8-site cell with far closer atoms once hung the model server.
MIN_INTERATOMIC_DISTANCE = 0.5  # A
MIN_VOLUME_PER_ATOM = 1.0  # A^3


def unphysical_reason(structure: Structure) -> str | None:
    """Why ``structure`` is not a physical crystal (atoms closer than :data:`MIN_INTERATOMIC_DISTANCE`,
    counting each atom's own periodic images, or under :data:`MIN_VOLUME_PER_ATOM`), or None."""
    vpa = structure.volume / len(structure)
    if not np.isfinite(vpa) or vpa < MIN_VOLUME_PER_ATOM:
        return f"{vpa:.3g} A^3 per atom, below {MIN_VOLUME_PER_ATOM:g}: not a physical crystal"
    shortest = min(structure.lattice.get_lll_reduced_lattice().abc)  # an atom and its own image
    if len(structure) > 1:
        d = structure.distance_matrix.copy()
        np.fill_diagonal(d, np.inf)
        i, j = np.unravel_index(np.argmin(d), d.shape)
        if d[i, j] < min(MIN_INTERATOMIC_DISTANCE, shortest):
            return (f"sites {min(i, j)} and {max(i, j)} are {d[i, j]:.3f} A apart (below "
                    f"{MIN_INTERATOMIC_DISTANCE:g} A): not a physical crystal")
    if shortest < MIN_INTERATOMIC_DISTANCE:
        return (f"an atom is {shortest:.3f} A from its own periodic image (below {MIN_INTERATOMIC_DISTANCE:g} A): "
                "not a physical crystal")
    return None


def _compute_row(structure: Structure) -> tuple[np.ndarray | None, str | None]:
    """All features of one structure, or ``(None, reason)``."""
    structure = _wrapped(structure)
    parts: list[float] = []
    for name, featurizer in _groups():
        try:
            with warnings.catch_warnings():
                # matminer/pymatgen warn per structure (e.g. about oxidation
                # states); thousands of repeats bury the progress bar.
                warnings.simplefilter("ignore")
                values = featurizer.featurize(structure)
        except Exception as exc:
            if name in _VORONOI_GROUPS:
                why = f"Voronoi tessellation failed ({name}): {_describe(exc)}{_overlap_hint(structure)}"
            else:
                why = f"composition featurizer failed ({name}): {_describe(exc)}"
            return None, why
        parts.extend(values)
    row = np.array(parts, dtype=np.float64)  # None -> nan
    bad = ~np.isfinite(row)
    if bad.any():
        # Models cannot take NaN/inf, so a partial row is a failed row.
        labels = [STRUCTURE_LABELS[k] for k in np.flatnonzero(bad)[:3]]
        what = "all" if bad.all() else f"{int(bad.sum())} of {row.size}"
        return None, f"featurizer returned NaN/inf for {what} features (e.g. {labels}){_overlap_hint(structure)}"
    return row, None


def _pool_task(row: int, structure: Structure) -> tuple[int, np.ndarray | None, str | None]:
    features, reason = _compute_row(structure)
    return row, features, reason


def _mp_context() -> multiprocessing.context.BaseContext:
    """The start method for the pool.

    ``fork`` is cheapest (workers inherit the already-imported matminer), but
    forking a process that runs other threads (TensorFlow, BLAS pools) can
    deadlock; so fork only while nothing like that is loaded, else
    ``forkserver`` (Python 3.14's default on Linux). Not POSIX: ``spawn``.
    """
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and sys.platform.startswith("linux"):
        risky = ("tensorflow", "torch", "jax", "keras")
        if not any(m in sys.modules for m in risky):
            return multiprocessing.get_context("fork")
        if "forkserver" in methods:
            return multiprocessing.get_context("forkserver")
    return multiprocessing.get_context("spawn")


def _check_jobs(n_jobs: int | None) -> None:
    if n_jobs is None or n_jobs == -1:
        return
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise InvalidInputError(n_jobs, "n_jobs must be a positive integer, -1 (all cores) or None")


def _resolve_jobs(n_jobs: int | None, n_todo: int, start_method: str) -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    if n_jobs is None:
        # A forked pool starts in ~0.1 s, but forkserver/spawn workers must
        # re-import matminer (several seconds each on a busy machine; see
        # docs/structure_features.md), so only large batches pay for it.
        min_batch = 8 if start_method == "fork" else 64
        return 1 if n_todo < min_batch else max(1, min(cpus, n_todo))
    if n_jobs == -1:
        return max(1, min(cpus, n_todo))
    return max(1, min(n_jobs, n_todo))


def featurize_structures(
    items: Iterable[Structure | dict | str | os.PathLike[str]],
    errors: Errors = "collect",
    n_jobs: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    *,
    use_cache: bool = True,
    timeout: float | None = None,
) -> FeatureResult:
    """Ward-2017 features (``SPEC.n_features`` columns) of a batch of structures.

    ``items`` are Structures, Structure dicts or single-structure file paths.
    Rows that cannot be read or featurized (e.g. a failed Voronoi
    tessellation) are reported in ``result.failures`` with ``errors="collect"``
    (the rest are still returned), or raised together as a
    :class:`BatchInputError` with ``errors="raise"``.

    ``n_jobs``: worker processes (``None``: all cores, but in-process for
    small batches, where starting a pool costs more than it saves; ``1``:
    in-process; ``-1``: all cores).
    Each computed row is cached under ``cache_dir`` (default
    :func:`default_cache_dir`) keyed by :func:`structure_key`; pass
    ``use_cache=False`` to neither read nor write the cache.

    Structures with atoms closer than :data:`MIN_INTERATOMIC_DISTANCE` or under
    :data:`MIN_VOLUME_PER_ATOM` are refused (their row names why). ``timeout``
    (seconds per structure; the model server sets it): each structure is
    featurized in a worker process (:mod:`irnet_hub.featurize.bounded`) and one
    that takes longer fails its row instead of holding up the rest. Cost: about
    1 s for a 16-site cell, growing faster than the number of sites (128 sites:
    45-61 s on a busy 2-core machine): ``benchmarks/RESULTS_structure_cells.md``.
    """
    if errors not in ("collect", "raise"):
        raise InvalidInputError(errors, "errors must be 'collect' or 'raise'")
    _check_jobs(n_jobs)
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0):
        raise InvalidInputError(timeout, "timeout must be a positive number of seconds per structure")
    if isinstance(items, (str, os.PathLike, dict, Structure)):
        raise InvalidInputError(
            items if not isinstance(items, Structure) else items.composition.reduced_formula,
            "expected a sequence of structures; wrap a single one in a list, or read a file with load_structures()",
        )
    items = list(items)

    # 1. Read every input first (cheap), so bad inputs fail before hours of work.
    failures: dict[int, RowFailure] = {}
    structures: dict[int, Structure] = {}
    for i, item in enumerate(items):
        try:
            s = to_structure(item)
        except InvalidInputError as exc:
            failures[i] = RowFailure(i, item, exc.reason)
            continue
        if len(s) == 0:
            failures[i] = RowFailure(i, item, "structure has no sites")
            continue
        if not s.is_ordered:
            failures[i] = RowFailure(
                i, item, f"{s.composition.reduced_formula}: partially occupied sites are not supported"
            )
            continue
        why = unphysical_reason(s)
        if why:
            failures[i] = RowFailure(i, item, f"{s.composition.reduced_formula} ({len(s)} sites): {why}")
            continue
        structures[i] = s
    if failures and errors == "raise":
        raise BatchInputError([failures[i] for i in sorted(failures)])

    # 2. Cache look-up.
    results: dict[int, np.ndarray] = {}
    keys: dict[int, Path] = {}
    cache_root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    if use_cache:
        for i, s in structures.items():
            keys[i] = _cache_path(cache_root, structure_key(s))
            row = _cache_read(keys[i])
            if row is not None:
                results[i] = row
    todo = [i for i in structures if i not in results]

    # 3. Compute the rest.
    from tqdm.auto import tqdm

    cache_ok = True

    def record(i: int, row: np.ndarray | None, reason: str | None) -> None:
        nonlocal cache_ok
        if row is None:
            s = structures[i]
            failures[i] = RowFailure(i, items[i], f"{s.composition.reduced_formula} ({len(s)} sites): {reason}")
            return
        results[i] = row
        if use_cache and cache_ok:
            try:
                _cache_write(keys[i], row)
            except OSError as exc:  # a read-only cache must not lose the features
                cache_ok = False
                warnings.warn(f"feature cache {cache_root} not writable ({exc}); not caching", stacklevel=3)

    ctx = _mp_context()
    workers = _resolve_jobs(n_jobs, len(todo), ctx.get_start_method())
    with tqdm(
        total=len(structures),
        initial=len(structures) - len(todo),
        desc=f"{SPEC.name} features",
        unit="structure",
        disable=not progress,
    ) as bar:
        if timeout is not None:
            for k, row, why in _bounded_runner().run([structures[i] for i in todo], float(timeout)):
                record(todo[k], *(row if row is not None else (None, why)))
                bar.update()
        elif workers <= 1:
            for i in todo:
                record(i, *_compute_row(structures[i]))
                bar.update()
        else:
            _run_pool(todo, structures, workers, ctx, record, bar)

    ok = sorted(results)
    features = np.vstack([results[i] for i in ok]) if ok else np.empty((0, SPEC.n_features))
    result = FeatureResult(
        features=features,
        rows=np.asarray(ok, dtype=int),
        labels=list(STRUCTURE_LABELS),
        failures=[failures[i] for i in sorted(failures)],
    )
    if errors == "raise":
        result.raise_if_failed()
    return result


_RUNNER: list[Any] = []  # the worker process of timeout= runs, started on first use and kept


def _bounded_runner():
    from irnet_hub.featurize.bounded import BoundedRunner

    if not _RUNNER:
        _RUNNER.append(BoundedRunner(_compute_row, warm_up=_groups))
    return _RUNNER[0]


def _run_pool(
    todo: Sequence[int],
    structures: dict[int, Structure],
    workers: int,
    ctx: multiprocessing.context.BaseContext,
    record: Callable[[int, np.ndarray | None, str | None], None],
    bar: Any,
) -> None:
    """Featurize ``todo`` in a process pool, recording rows as they finish.

    Results are recorded (and cached) as they arrive, so an interrupted run
    keeps everything finished so far for the next call.
    """
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
    try:
        pending = {pool.submit(_pool_task, i, structures[i]): i for i in todo}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                i = pending.pop(fut)
                try:
                    _, row, reason = fut.result()
                except BrokenProcessPool:
                    # A worker died (a crash inside Qhull, out of memory, or
                    # a spawn/forkserver worker re-running a script that
                    # lacks a __main__ guard); every unfinished row goes with it.
                    reason = (
                        "a featurizer worker process died (crash, out of memory, or a script without an "
                        "`if __name__ == '__main__':` guard); rerun with n_jobs=1 to find the cause"
                    )
                    row = None
                record(i, row, reason)
                bar.update()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
