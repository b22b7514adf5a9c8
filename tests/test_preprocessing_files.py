"""Fast unit tests: the shared preprocessing (one copy of each rule) and the one atomic writer."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from irnet_hub.files import atomic_path, atomic_write, atomic_write_json
from irnet_hub.domain import DomainRule, in_domain_by_z
from irnet_hub.preprocessing import composition_ranges, element_counts, fill_missing, fit_scaler


def test_scaler_and_fill():
    X = np.array([[1.0, np.nan, 5.0], [3.0, np.nan, 5.0]])
    s = fit_scaler(X, np.array([1.0, 3.0]))
    assert s["feature_mean"] == [2.0, 0.0, 5.0]  # all-NaN column -> 0, constant column passes through
    assert s["feature_std"] == [1.0, 1.0, 1.0] and s["target_std"] == 1.0
    filled = fill_missing(X, s["feature_mean"])
    assert filled.dtype == np.float32 and not np.isnan(filled).any() and np.isnan(X).sum() == 2  # a copy


def test_counts_and_ranges():
    counts = element_counts(["Fe2O3", "FeO", "NaCl"])
    assert counts == {"Cl": 1, "Fe": 2, "Na": 1, "O": 2}
    r = composition_ranges(["Fe2O3", "Li0.1Fe0.9O"])
    assert r["max_atoms_per_formula_unit"] == 5.0 and r["min_fraction"] == pytest.approx(0.05)


def test_vectorized_and_per_formula_in_domain_rule_agree():
    from irnet_hub.stability.candidates import enumerate_candidates

    counts = {"Li": 10, "Fe": 4, "O": 100}  # Fe is rare (4 < 5), P unseen
    df = enumerate_candidates(["Li-Fe-P-O"], max_atoms=5)
    formulas = df["formula"].tolist()
    report = DomainRule(counts).report(formulas)
    flags, rare = report["in_domain"], report["rare"]
    from pymatgen.core import Composition, Element

    z = np.zeros((len(formulas), 4), np.int64)
    a = np.zeros((len(formulas), 4), np.int64)
    for i, f in enumerate(formulas):
        for j, (el, amt) in enumerate(Composition(f).items()):
            z[i, j], a[i, j] = Element(str(el)).Z, int(amt)
    assert in_domain_by_z(z, a, counts).tolist() == flags
    assert flags[formulas.index("Li2O")] is True and "Fe" in rare[formulas.index("FeO")]
    ranges = {"max_atoms_per_formula_unit": 4.0, "min_fraction": 0.25}  # stoichiometry too: one rule, both forms
    report = DomainRule(counts, composition_ranges=ranges).report(formulas)
    assert DomainRule(counts, composition_ranges=ranges).by_arrays(z, a).tolist() == report["in_domain"]
    assert report["in_domain"][formulas.index("Li2O")] is True and report["in_domain"][formulas.index("Li4O")] is False

def test_atomic_write_replaces_whole_or_not_at_all(tmp_path, monkeypatch):
    target = tmp_path / "out.json"
    atomic_write_json(target, {"a": 1})
    assert target.read_text() == '{\n  "a": 1\n}\n'
    mode = stat.S_IMODE(target.stat().st_mode)
    assert mode & 0o044  # readable by others like a plain open() under the usual umask, not mkstemp's 0600

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, "new text")
    monkeypatch.undo()
    assert target.read_text() == '{\n  "a": 1\n}\n'  # the old file, untouched
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temporary file left


def test_atomic_path_for_writers_that_need_a_file_name(tmp_path):
    import pandas as pd

    out = tmp_path / "t.parquet"
    with atomic_path(out) as tmp:
        assert tmp.suffix == ".parquet" and tmp.parent == tmp_path
        pd.DataFrame({"x": [1, 2]}).to_parquet(tmp)
    assert pd.read_parquet(out)["x"].tolist() == [1, 2]
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "u.csv") as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.parquet"]


@pytest.mark.parametrize("with_counts,with_ranges", [(True, True), (True, False), (False, True), (False, False)])
def test_domain_report_vectorized_pass_equals_the_per_item_rule(data_dir, with_counts, with_ranges):
    """domain_report checks plain formulas in one vectorized pass: same answers as item by item."""
    import json

    import pandas as pd

    from irnet_hub import domain as P

    rec = json.loads(open("servables/oqmd-formation-enthalpy/irnet.json").read())
    counts = rec["element_counts"] if with_counts else {}
    ranges = rec["composition_ranges"] if with_ranges else None
    real = pd.read_csv(data_dir / "crabnet/benchmark_data/OQMD_Bandgap/val.csv", nrows=3000,
                       keep_default_na=False)["formula"].tolist()
    odd = ["FeOFe", "D2O", "HT", "Fe0O", "Fe0.62C0.00095", "C60", "Li2O2", "Og1H2", "Kr", "H200O100", " NaCl ",
           "Ca(OH)2", "Xx2", "Na1000Cl1", "Pu2O3", "Tc2", "Ti0.5O", "", "Na99999999999999999999Cl3"]
    items = real + odd * 5
    got = P.domain_report(items, counts, 10, ranges)
    for i, item in enumerate(items):
        assert tuple(got[k][i] for k in ("in_domain", "rare", "n_elements", "note")) == \
            P._item_row(item, counts, 10, ranges), item
    if with_counts or with_ranges:
        assert False in got["in_domain"] and True in got["in_domain"]


def test_csv_misreads_are_refused_with_the_line(tmp_path):
    """Issue 16: a NUL byte truncated a formula; a first row with an extra field shifted every value."""
    from irnet_hub.errors import InvalidInputError
    from irnet_hub.tables import read_csv

    nul = tmp_path / "nul.csv"
    nul.write_bytes(b"formula,target\nNaCl,1\nMg\x00O,2\n")
    with pytest.raises(InvalidInputError, match="line 3 holds a NUL byte"):
        read_csv(nul)
    shifted = tmp_path / "shifted.csv"
    shifted.write_text("formula,target\nNaCl,1,5\nMgO,2\n")
    with pytest.raises(InvalidInputError, match="line 2 has more fields than the header"):
        read_csv(shifted)
    later = tmp_path / "later.csv"
    later.write_text("formula,target\nNaCl,1\nMgO,2,3\n")
    with pytest.raises(InvalidInputError, match="line 3, saw 3"):
        read_csv(later)


@pytest.mark.parametrize("value", [1e308, -1e308, 3e30])
def test_huge_targets_are_refused_up_front(value):
    import pandas as pd

    from irnet_hub.errors import InvalidInputError
    from irnet_hub.tables import load_table

    with pytest.raises(InvalidInputError, match=r"target beyond \+-1e\+15 in rows 1"):
        load_table(pd.DataFrame({"formula": ["NaCl", "MgO"], "target": [1.0, value]}))
    assert load_table(pd.DataFrame({"formula": ["NaCl"], "target": [4.2e11]})).targets[0] == 4.2e11  # Pa passes


def test_sigterm_during_a_write_leaves_no_temporary_file(tmp_path):
    """Issue 16: a kill during `predict -o` left hidden temporaries of ~25 MB behind."""
    import signal
    import subprocess
    import sys

    code = ("import time\n"
            "from irnet_hub.cli import install_sigterm_exit\n"
            "from irnet_hub.files import atomic_path\n"
            "install_sigterm_exit()\n"
            f"with atomic_path({str(tmp_path / 'out.csv')!r}) as tmp:\n"
            "    tmp.write_bytes(b'x' * 1000000)\n"
            "    print('writing', flush=True)\n"
            "    time.sleep(60)\n")  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    assert len(list(tmp_path.iterdir())) == 1  # the temporary, beside the destination
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 128 + signal.SIGTERM
    assert list(tmp_path.iterdir()) == []  # removed; and no half-written out.csv


def test_a_stale_temporary_of_a_killed_run_is_removed_by_the_next_write(tmp_path):
    from irnet_hub.files import STALE_SECONDS, atomic_write

    stale = tmp_path / ".out.csv.abc123.tmp.csv"
    stale.write_bytes(b"x" * 100)
    os.utime(stale, (0, 0))  # written long ago (SIGKILL gives no chance to clean up)
    fresh = tmp_path / ".out.csv.def456.tmp.csv"
    fresh.write_bytes(b"y")  # a write that may still be running
    atomic_write(tmp_path / "out.csv", "formula\nNaCl\n")
    assert not stale.exists() and fresh.exists() and (tmp_path / "out.csv").read_text() == "formula\nNaCl\n"
    assert STALE_SECONDS >= 600


def test_a_ragged_target_file_names_the_lines_as_the_file_has_them(tmp_path):
    """Issue 16: a ragged file's bad targets were named by 0-based data rows, not by where they are."""
    from irnet_hub.errors import InvalidInputError
    from irnet_hub.tables import load_table

    path = tmp_path / "ragged.csv"
    path.write_text("formula,target\nNaCl,1\nMgO\nFe2O3,4\nAl2O3,\n")  # MgO on line 3, Al2O3 on line 5
    with pytest.raises(InvalidInputError, match="missing or infinite target in lines 3, 5$"):
        load_table(path)
