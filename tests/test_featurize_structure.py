"""Tests of the ward2017 structure featurizer on real matbench_phonons structures."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Lattice, Structure

from irnet_hub.errors import BatchInputError, InvalidInputError
from irnet_hub.featurize import get_featurizer
from irnet_hub.featurize import structure as S

# Real-data layer (`pytest -m "not slow"` leaves it out): Voronoi tessellation of real structures (tens of seconds).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def all_structures(data_dir: Path) -> list[Structure]:
    return S.load_structures(data_dir / "structures" / "matbench_phonons.json.gz")


@pytest.fixture(scope="module")
def sample(all_structures: list[Structure]) -> list[Structure]:
    """Nine small structures, plus one with a fractional coordinate just below 0.

    The last one (e.g. a wurtzite with c = -3e-5) made pymatgen's all-sites
    tessellation fail before structure.py started wrapping coordinates.
    """
    small = [s for s in all_structures if len(s) <= 8][:9]
    outside = next(s for s in all_structures if len(s) <= 8 and (s.frac_coords < 0).any())
    return [*small, outside]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("feature-cache")


@pytest.fixture(scope="module")
def featurized(sample: list[Structure], cache_dir: Path) -> S.FeatureResult:
    # Through the process pool (2 workers), filling the cache.
    return S.featurize_structures(sample, n_jobs=2, cache_dir=cache_dir, progress=False)


def _cache_files(cache_dir: Path) -> list[Path]:
    return sorted(cache_dir.rglob("*.npy"))


def _mark_cache_entry(cache_dir: Path, structure: Structure) -> np.ndarray:
    """Replace a structure's cached row by a recognizable one (its features + 1), and return it: a result
    holding it was read from the cache, not computed (no private function is patched)."""
    path = S._cache_path(cache_dir, S.structure_key(structure))
    marked = np.load(path) + 1.0
    np.save(path, marked)
    return marked


# -- features --------------------------------------------------------------


def test_spec_and_labels() -> None:
    assert S.SPEC.name == "ward2017" and S.SPEC.input_kind == "structure"
    assert S.SPEC.n_features == 273
    assert len(S.STRUCTURE_LABELS) == S.SPEC.n_features
    assert len(set(S.STRUCTURE_LABELS)) == len(S.STRUCTURE_LABELS)
    assert sum(n for _, n in S.STRUCTURE_GROUPS) == S.SPEC.n_features
    assert dict(S.STRUCTURE_GROUPS)["local property difference"] == 110
    assert len(S.COMPOSITION_LABELS) == 145
    feat = get_featurizer("ward2017")
    assert feat.spec is S.SPEC and feat.labels() == S.STRUCTURE_LABELS and feat.input_kind == "structure"


def test_composition_labels_match_magpie145() -> None:
    from irnet_hub.featurize.composition import MAGPIE_LABELS

    assert S.COMPOSITION_LABELS == list(MAGPIE_LABELS)


def test_shape_rows_and_finiteness(featurized: S.FeatureResult, sample: list[Structure]) -> None:
    assert featurized.failures == []
    assert featurized.features.shape == (len(sample), S.SPEC.n_features)
    assert featurized.features.dtype == np.float64
    assert featurized.rows.tolist() == list(range(len(sample)))
    assert featurized.labels == S.STRUCTURE_LABELS
    assert np.isfinite(featurized.features).all()
    # Different structures, different rows (a broken featurizer returning
    # constants would pass the checks above).
    assert len({r.tobytes() for r in featurized.features}) == len(sample)


def test_packing_efficiency_equals_matminers_per_site_tessellation(all_structures: list[Structure]) -> None:
    """structure.py computes matminer's MaximumPackingEfficiency from nearest-neighbor distances (40x faster):
    same numbers on real structures of every size and on a sparse cell that needs a wider neighbor search."""
    from matminer.featurizers.structure import MaximumPackingEfficiency

    ours, theirs = dict(S._groups())["maximum packing efficiency"], MaximumPackingEfficiency()
    assert ours.feature_labels() == theirs.feature_labels()
    by_size = sorted(all_structures, key=len)
    picked = by_size[:: max(1, len(by_size) // 8)]  # from 1 site to the 7/8 quantile of cell size
    sparse = Structure(Lattice.cubic(11.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])  # nearest: 9.5 Å
    for structure in [*picked, sparse]:
        structure = S._wrapped(structure)
        np.testing.assert_allclose(ours.featurize(structure), theirs.featurize(structure), rtol=1e-12)


def test_composition_columns_equal_matminer(featurized: S.FeatureResult, sample: list[Structure]) -> None:
    from matminer.featurizers.composition import ElementProperty, IonProperty, Stoichiometry, ValenceOrbital

    fs = [
        Stoichiometry(),
        ElementProperty.from_preset("magpie"),
        ValenceOrbital(props=["frac"]),
        IonProperty(fast=True),
    ]
    labels = [lab for f in fs for lab in f.feature_labels()]
    assert labels == S.COMPOSITION_LABELS
    expected = np.array([[v for f in fs for v in f.featurize(s.composition)] for s in sample], dtype=float)
    got = featurized.to_frame()[S.COMPOSITION_LABELS].to_numpy()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)


def test_all_columns_equal_matminer_ward_example(featurized: S.FeatureResult, sample: list[Structure]) -> None:
    """Same values and order as matminer's voronoi-ward-prb-2017 MultipleFeaturizer."""
    from matminer.featurizers.base import MultipleFeaturizer
    from matminer.featurizers.composition import ElementProperty, IonProperty, Stoichiometry, ValenceOrbital
    from matminer.featurizers.structure import (
        ChemicalOrdering,
        MaximumPackingEfficiency,
        SiteStatsFingerprint,
        StructuralHeterogeneity,
        StructureComposition,
    )

    mf = MultipleFeaturizer(
        [
            SiteStatsFingerprint.from_preset("CoordinationNumber_ward-prb-2017"),
            StructuralHeterogeneity(),
            ChemicalOrdering(),
            MaximumPackingEfficiency(),
            SiteStatsFingerprint.from_preset("LocalPropertyDifference_ward-prb-2017"),
            StructureComposition(Stoichiometry()),
            StructureComposition(ElementProperty.from_preset("magpie")),
            StructureComposition(ValenceOrbital(props=["frac"])),
            StructureComposition(IonProperty(fast=True)),
        ]
    )
    assert mf.feature_labels() == S.STRUCTURE_LABELS
    for k in (0, 3):  # two structures keep it quick
        np.testing.assert_allclose(featurized.features[k], mf.featurize(sample[k]), rtol=1e-12, atol=1e-12)


def test_serial_equals_pool(featurized: S.FeatureResult, sample: list[Structure]) -> None:
    serial = S.featurize_structures(sample[:3], n_jobs=1, use_cache=False, progress=False)
    np.testing.assert_array_equal(serial.features, featurized.features[:3])


# -- cache -----------------------------------------------------------------


def test_cache_is_hit_on_second_call(
    featurized: S.FeatureResult, sample: list[Structure], cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _cache_files(cache_dir)
    assert len(files) == len(sample)
    assert not list(cache_dir.rglob("*.tmp"))  # atomic writes leave no temp files
    again = S.featurize_structures(sample, n_jobs=1, cache_dir=cache_dir, progress=False)
    np.testing.assert_array_equal(again.features, featurized.features)
    assert _cache_files(cache_dir) == files
    marked = _mark_cache_entry(cache_dir, sample[2])
    try:
        res = S.featurize_structures(sample[2:3], n_jobs=1, cache_dir=cache_dir, progress=False)
        np.testing.assert_array_equal(res.features[0], marked)  # read from the cache, not computed
    finally:
        np.save(S._cache_path(cache_dir, S.structure_key(sample[2])), featurized.features[2])


def test_same_structure_shifted_by_lattice_vector_hits_cache(
    featurized: S.FeatureResult, sample: list[Structure], cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    moved = sample[1].copy()
    moved.translate_sites([0], [1.0, 0.0, -1.0], frac_coords=True, to_unit_cell=False)
    assert S.structure_key(moved) == S.structure_key(sample[1])
    marked = _mark_cache_entry(cache_dir, sample[1])
    try:
        res = S.featurize_structures([moved], n_jobs=1, cache_dir=cache_dir, progress=False)
        np.testing.assert_array_equal(res.features[0], marked)  # the original's cache entry was read
    finally:
        np.save(S._cache_path(cache_dir, S.structure_key(sample[1])), featurized.features[1])


def test_key_changes_with_species_and_version(sample: list[Structure], monkeypatch: pytest.MonkeyPatch) -> None:
    s = sample[0]
    other = s.copy()
    other.replace(0, "Li" if str(s[0].specie) != "Li" else "Na")
    assert S.structure_key(other) != S.structure_key(s)
    key = S.structure_key(s)
    import dataclasses

    monkeypatch.setattr(S, "SPEC", dataclasses.replace(S.SPEC, version="2"))
    assert S.structure_key(s) != key


def test_corrupt_cache_entries_are_recomputed(
    sample: list[Structure], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    subset = sample[:3]
    first = S.featurize_structures(subset, n_jobs=1, cache_dir=tmp_path, progress=False)
    paths = [S._cache_path(tmp_path, S.structure_key(s)) for s in subset]
    assert all(p.is_file() for p in paths)
    paths[0].write_bytes(b"\x93NUMPY garbage, not an array")
    paths[1].write_bytes(paths[1].read_bytes()[:60])  # truncated mid-header/data
    np.save(paths[2], np.zeros(5))  # valid .npy, wrong shape
    again = S.featurize_structures(subset, n_jobs=1, cache_dir=tmp_path, progress=False)
    assert again.failures == []  # recomputed: the damaged entries were not read as features
    np.testing.assert_array_equal(again.features, first.features)
    for p, row in zip(paths, first.features):  # and the entries are repaired
        np.testing.assert_array_equal(np.load(p), row)


def test_interrupted_cache_write_leaves_no_entry(
    sample: list[Structure], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def dying_save(fh, arr, allow_pickle=False):
        fh.write(b"\x93NUMPY\x01\x00partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(S.np, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        S.featurize_structures(sample[:1], n_jobs=1, cache_dir=tmp_path, progress=False)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


# -- failures --------------------------------------------------------------


def test_broken_structures_become_row_failures(sample: list[Structure], tmp_path: Path) -> None:
    overlapping = Structure(Lattice.cubic(4.0), ["Na", "Cl", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]])
    empty = Structure(Lattice.cubic(4.0), [], [])
    items = [sample[0], overlapping, sample[1], empty, {"not": "a structure"}, tmp_path / "missing.cif"]
    res = S.featurize_structures(items, n_jobs=1, use_cache=False, progress=False)
    assert res.rows.tolist() == [0, 2]
    assert res.features.shape == (2, S.SPEC.n_features)
    by_row = {f.row: f for f in res.failures}
    assert sorted(by_row) == [1, 3, 4, 5]
    # refused before any tessellation (issue 16: such cells once hung the server)
    assert "sites 1 and 2 are 0.000 A apart (below 0.5 A): not a physical crystal" in by_row[1].reason
    assert by_row[1].input is overlapping
    assert "no sites" in by_row[3].reason
    assert "Structure dict" in by_row[4].reason
    assert "no such file" in by_row[5].reason and "missing.cif" in str(by_row[5])
    assert str(by_row[1]).startswith("row 1 ")

    with pytest.raises(BatchInputError) as info:
        S.featurize_structures(items[:2], errors="raise", n_jobs=1, use_cache=False, progress=False)
    assert [f.row for f in info.value.failures] == [1]


def test_unphysical_cells_are_refused_with_the_rule_stated(sample: list[Structure]) -> None:
    """Issue 16: a 0.5 A Fe cell and atoms far closer than any bond are not crystals: named, not featurized."""
    tiny = Structure(Lattice.cubic(0.5), ["Fe"], [[0, 0, 0]])
    close = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.02, 0, 0]])
    thin = Structure(Lattice.from_parameters(0.3, 12, 12, 90, 90, 90), ["C"], [[0, 0, 0]])  # its own image
    res = S.featurize_structures([tiny, close, thin, sample[0]], n_jobs=1, use_cache=False, progress=False)
    assert res.rows.tolist() == [3]
    reasons = [f.reason for f in res.failures]
    assert "0.125 A^3 per atom, below 1" in reasons[0]
    assert "sites 0 and 1 are 0.080 A apart (below 0.5 A)" in reasons[1]
    assert "0.300 A from its own periodic image" in reasons[2]
    assert all(S.unphysical_reason(x) is None for x in sample)  # real crystals pass


def test_a_time_limit_fails_only_the_slow_structure(sample: list[Structure]) -> None:
    """Issue 16: one slow structure held the server; with timeout= it fails its own row and the rest go on,
    with the same features as in process."""
    big = sample[0].copy()
    big.make_supercell([4, 4, 4])  # 128+ sites: tens of seconds of tessellation
    res = S.featurize_structures([sample[1], big, sample[2]], use_cache=False, progress=False, timeout=3)
    assert res.rows.tolist() == [0, 2]
    (failure,) = res.failures
    assert failure.row == 1 and "took longer than 3 s (the limit per structure)" in failure.reason
    serial = S.featurize_structures([sample[1], sample[2]], n_jobs=1, use_cache=False, progress=False)
    np.testing.assert_array_equal(res.features, serial.features)
    with pytest.raises(InvalidInputError, match="timeout must be a positive number"):
        S.featurize_structures([sample[1]], timeout=0)


def test_bad_arguments() -> None:
    with pytest.raises(InvalidInputError, match="errors must be"):
        S.featurize_structures([], errors="ignore")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="n_jobs"):
        S.featurize_structures([Structure(Lattice.cubic(3), ["Cu"], [[0, 0, 0]])], n_jobs=0, use_cache=False)
    with pytest.raises(InvalidInputError, match="sequence of structures"):
        S.featurize_structures("POSCAR")  # type: ignore[arg-type]
    empty = S.featurize_structures([], progress=False)
    assert empty.features.shape == (0, S.SPEC.n_features) and empty.rows.shape == (0,)


# -- reading ---------------------------------------------------------------


def test_load_structures_round_trips(sample: list[Structure], tmp_path: Path) -> None:
    matcher = StructureMatcher(primitive_cell=False, scale=False, attempt_supercell=False)
    s = sample[5]
    cases = {
        "x.cif": lambda p: s.to(filename=str(p)),
        "POSCAR": lambda p: s.to(filename=str(p), fmt="poscar"),
        "CONTCAR.relax": lambda p: s.to(filename=str(p), fmt="poscar"),
        "x.vasp": lambda p: s.to(filename=str(p), fmt="poscar"),
        "one.json": lambda p: p.write_text(json.dumps(s.as_dict())),
        "many.json": lambda p: p.write_text(json.dumps([t.as_dict() for t in sample[:3]])),
    }
    for name, write in cases.items():
        path = tmp_path / name
        write(path)
        got = S.load_structures(path)
        assert got and all(isinstance(g, Structure) for g in got), name
        assert matcher.fit(got[0], s if name != "many.json" else sample[0]), name
        assert len(got[0]) == len(s if name != "many.json" else sample[0]), name
    assert len(S.load_structures(tmp_path / "many.json")) == 3
    # to_structure: the same from a Structure, a dict and a path
    assert S.to_structure(s) is s
    assert matcher.fit(S.to_structure(s.as_dict()), s)
    assert matcher.fit(S.to_structure(tmp_path / "POSCAR"), s)
    with pytest.raises(InvalidInputError, match="holds 3 structures"):
        S.to_structure(tmp_path / "many.json")
    with pytest.raises(InvalidInputError, match="expected a pymatgen Structure"):
        S.to_structure(42)  # type: ignore[arg-type]


def test_load_matbench_frame(all_structures: list[Structure], tmp_path: Path) -> None:
    assert len(all_structures) == 1265
    # A small split frame of the same shape, gzipped, as written by pandas.
    import pandas as pd

    frame = pd.DataFrame({"structure": [s.as_dict() for s in all_structures[:4]], "last phdos peak": range(4)})
    path = tmp_path / "frame.json.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(frame.to_json(orient="split"))
    got = S.load_structures(path)
    assert [g.composition for g in got] == [s.composition for s in all_structures[:4]]


def test_load_structures_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "POSCAR"
    with pytest.raises(InvalidInputError, match="no such file") as info:
        S.load_structures(missing)
    assert str(missing) in str(info.value)
    with pytest.raises(InvalidInputError, match="is a directory"):
        S.load_structures(tmp_path)
    bad_cif = tmp_path / "bad.cif"
    bad_cif.write_text("data_x\n_this is not a cif\n")
    with pytest.raises(InvalidInputError) as info:
        S.load_structures(bad_cif)
    assert "bad.cif" in str(info.value)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"columns": ["formula"], "index": [0], "data": [["NaCl"]]}')
    with pytest.raises(InvalidInputError, match="no 'structure' column"):
        S.load_structures(bad_json)
    (tmp_path / "trunc.json").write_text('{"lattice": ')
    with pytest.raises(InvalidInputError, match="could not be read as JSON"):
        S.load_structures(tmp_path / "trunc.json")
    (tmp_path / "POSCAR_bad").write_text("garbage\n")
    with pytest.raises(InvalidInputError, match="POSCAR_bad"):
        S.load_structures(tmp_path / "POSCAR_bad")


def test_pool_start_method(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setattr(sys, "platform", "linux")  # the policy under test is Linux's
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    for name in ("torch", "jax", "keras"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    assert S._mp_context().get_start_method() == "fork"
    # Forking a process with TensorFlow's threads can deadlock.
    monkeypatch.setitem(sys.modules, "tensorflow", object())
    assert S._mp_context().get_start_method() == "forkserver"
    # Small batches stay in-process; forkserver workers cost more to start.
    assert S._resolve_jobs(None, 3, "fork") == 1
    assert S._resolve_jobs(None, 20, "forkserver") == 1
    assert S._resolve_jobs(1, 100, "fork") == 1


def test_a_poscar_without_its_species_line_is_refused(tmp_path):
    """Issue 16: pymatgen names the sites H, He, ... when the species line is missing (its warning was silenced)."""
    from irnet_hub.errors import InvalidInputError
    from irnet_hub.featurize.structure import load_structure_columns

    lattice = "1.0\n5.64 0 0\n0 5.64 0\n0 0 5.64\n"
    sites = "Direct\n0 0 0\n0.5 0.5 0.5\n"
    (tmp_path / "POSCAR").write_text("NaCl\n" + lattice + "1 1\n" + sites)
    with pytest.raises(InvalidInputError, match="POSCAR.*has no species line"):
        load_structure_columns(tmp_path / "POSCAR")
    (tmp_path / "ok.vasp").write_text("NaCl\n" + lattice + "Na Cl\n1 1\n" + sites)
    structures, _ = load_structure_columns(tmp_path / "ok.vasp")
    assert structures[0].composition.reduced_formula == "NaCl"
