"""Datasets: where each file comes from, and reading it from a local folder.

Files are addressed by their path relative to the data folder, e.g.
``crabnet/benchmark_data/mp_bulk_modulus/train.csv``. The folder is
``$IRNET_DATA_DIR`` (tests and CI point it at ``../shared/data``), otherwise
``~/.cache/irnet-hub/data``; a file missing there is downloaded from its public
source (the CrabNet repository's copy of the published splits) and checked
against its sha256 before use.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import pandas as pd

from irnet_hub.errors import IntegrityError, InvalidInputError, RemoteError
from irnet_hub.files import atomic_write

CRABNET_RAW = "https://raw.githubusercontent.com/anthony-wang/CrabNet/master/data/"
CRABNET_TREE = "https://github.com/anthony-wang/CrabNet/tree/master/data/"
AVIARY_RAW = "https://raw.githubusercontent.com/CompRhys/aviary/main/tests/data/"

# Folder names that differ between ../shared/data and the CrabNet repository.
_UPSTREAM_RENAMES = {
    "matbench_cv/elasticity_log10_G_VRH": "matbench_cv/elasticity_log10(G_VRH)",
    "matbench_cv/elasticity_log10_K_VRH": "matbench_cv/elasticity_log10(K_VRH)",
}


@dataclass(frozen=True)
class Dataset:
    """A property data set: its folder, property, unit and provenance."""

    name: str
    folder: str  # relative to the data dir
    property: str
    unit: str
    database: str
    citation: str
    license: str = "CC BY 4.0"
    # The Hugging Face Hub dataset id of these very splits, where one exists. None so far: the
    # Hub copies of Matbench (e.g. StructureCloud/matbench) and of CrabNet's data (n0w0f/MatText)
    # are other versions or other splits, so naming them would point at different data.
    hf_dataset: str | None = None

    @property
    def source(self) -> str:
        """Where the splits are published: the Hub dataset id if there is one, else the folder's URL."""
        return self.hf_dataset or CRABNET_TREE + _upstream_path(self.folder)


_OQMD = ("OQMD", "Kirklin et al., npj Comput. Mater. 1, 15010 (2015); split: Wang et al., npj Comput. Mater. 7, 77 (2021)")
_MP = ("Materials Project", "Jain et al., APL Mater. 1, 011002 (2013); split: Wang et al., npj Comput. Mater. 7, 77 (2021)")
_MB = ("Matbench", "Dunn et al., npj Comput. Mater. 6, 138 (2020); folds: Wang et al., npj Comput. Mater. 7, 77 (2021)")

DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in [
        Dataset("oqmd-formation-enthalpy", "crabnet/benchmark_data/OQMD_Formation_Enthalpy", "formation enthalpy", "eV/atom", *_OQMD),
        Dataset("oqmd-bandgap", "crabnet/benchmark_data/OQMD_Bandgap", "band gap", "eV", *_OQMD),
        Dataset("oqmd-energy-per-atom", "crabnet/benchmark_data/OQMD_Energy_per_atom", "total energy", "eV/atom", *_OQMD),
        Dataset("oqmd-volume-per-atom", "crabnet/benchmark_data/OQMD_Volume_per_atom", "volume", "A^3/atom", *_OQMD),
        Dataset("mp-e-above-hull", "crabnet/benchmark_data/mp_e_hull", "energy above hull", "eV/atom", *_MP),
        Dataset("mp-magnetization", "crabnet/benchmark_data/mp_mu_b", "total magnetization", "Bohr magneton", *_MP),
        Dataset("mp-bulk-modulus", "crabnet/benchmark_data/mp_bulk_modulus", "bulk modulus", "GPa", *_MP),
        Dataset("mp-shear-modulus", "crabnet/benchmark_data/mp_shear_modulus", "shear modulus", "GPa", *_MP),
        Dataset("mp-elastic-anisotropy", "crabnet/benchmark_data/mp_elastic_anisotropy", "elastic anisotropy", "", *_MP),
        Dataset("matbench-mp-e-form", "crabnet/matbench_cv/mp_e_form", "formation energy", "eV/atom", *_MB),
        Dataset("matbench-mp-gap", "crabnet/matbench_cv/mp_gap", "band gap", "eV", *_MB),
        Dataset("matbench-expt-gap", "crabnet/matbench_cv/expt_gap", "experimental band gap", "eV", *_MB),
        Dataset("matbench-phonons", "crabnet/matbench_cv/phonons", "last phonon DOS peak", "cm^-1", *_MB),
        Dataset("aflow-bandgap", "crabnet/benchmark_data/aflow__Egap", "band gap", "eV", "AFLOW", "Curtarolo et al., Comput. Mater. Sci. 58, 218 (2012)"),
        Dataset("aflow-energy-per-atom", "crabnet/benchmark_data/aflow__energy_atom", "energy", "eV/atom", "AFLOW", "Curtarolo et al., Comput. Mater. Sci. 58, 218 (2012)"),
    ]
}

PHONON_STRUCTURES = "structures/matbench_phonons.json.gz"


def data_dir() -> Path:
    """The local data folder: ``$IRNET_DATA_DIR`` or ``~/.cache/irnet-hub/data``."""
    env = os.environ.get("IRNET_DATA_DIR")
    return Path(env) if env else Path.home() / ".cache" / "irnet-hub" / "data"


def source_url(relpath: str) -> str:
    """Public URL of a data file given its path relative to the data folder."""
    rel = relpath.replace("\\", "/")
    if rel == PHONON_STRUCTURES:
        return AVIARY_RAW + "matbench_phonons.json.gz"
    if not rel.startswith("crabnet/"):
        raise InvalidInputError(relpath, "no public source is known for this file")
    return CRABNET_RAW + _upstream_path(rel)


def _upstream_path(rel: str) -> str:
    """A ``crabnet/...`` path of the data folder as the CrabNet repository's ``data/`` names it."""
    rel = rel.removeprefix("crabnet/")
    for ours, theirs in _UPSTREAM_RENAMES.items():
        rel = rel.replace(ours, theirs)
    return rel


@lru_cache(maxsize=1)
def _checksums() -> dict[str, str]:
    return json.loads(resources.files("irnet_hub").joinpath("data_checksums.json").read_text())


def fetch(relpath: str, *, download: bool = True, timeout: float = 60.0) -> Path:
    """Local path of a data file, downloading it from its public source if missing."""
    path = data_dir() / relpath
    if path.is_file():
        return path
    if not download:
        raise InvalidInputError(relpath, f"not found under {data_dir()} (set IRNET_DATA_DIR)")
    url = source_url(relpath)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            payload = r.read()
    except OSError as e:
        raise RemoteError(f"{relpath}: not under {data_dir()} and download from {url} failed: {e}") from None
    expected = _checksums().get(relpath)
    if expected and hashlib.sha256(payload).hexdigest() != expected:
        raise IntegrityError(f"{relpath}: downloaded file from {url} does not match its sha256 {expected}")
    return atomic_write(path, payload)


def read_table(path: str | Path, *, target: bool = True) -> pd.DataFrame:
    """Read a ``formula,target`` CSV (the one reader: :func:`irnet_hub.tables.read_table`)."""
    from irnet_hub.tables import read_table as _read

    return _read(path, target=target)


def load_split(name: str, split: str, fold: int | None = None) -> pd.DataFrame:
    """Read one split (``train``/``val``/``test``) of a named data set."""
    if name not in DATASETS:
        raise InvalidInputError(name, f"unknown data set; known: {sorted(DATASETS)}")
    fname = f"{split}{'' if fold is None else fold}.csv"
    return read_table(fetch(f"{DATASETS[name].folder}/{fname}"))
