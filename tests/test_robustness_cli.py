"""Table-driven CLI robustness test over the bad inputs of issue 11.

Each case runs one ``irnet`` command on a prepared bad input and asserts the
exit code (2 input, 4 remote, 5 integrity), that no traceback (nor the CLI's
"internal error" fallback) is printed, and that the message names the input.
"""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

REPO = Path(__file__).resolve().parents[1]
MODEL = "oqmd-formation-enthalpy"
SERVABLE = REPO / "servables" / MODEL


@dataclass
class Case:
    id: str
    args: Callable[[Path], list[str]]  # built from the case's temporary folder
    code: int
    names: Callable[[Path], list[str]]  # texts the output must contain (the named input, the reason)
    setup: Callable[[Path], None] = lambda d: None
    check: Callable[[Path], None] = lambda d: None
    env: dict[str, str] = field(default_factory=dict)


def _write(name: str, text: str) -> Callable[[Path], None]:
    return lambda d: (d / name).write_text(text)


def _readonly_file(d: Path) -> None:
    p = d / "out.csv"
    p.write_text("keep me\n")
    p.chmod(0o444)


def _unchanged(name: str, text: str | None) -> Callable[[Path], None]:
    def check(d: Path) -> None:
        p = d / name
        if text is None:
            assert not p.exists(), f"{p} was written"
        else:
            assert p.read_text() == text
    return check


MANY_BAD = "formula\n" + "".join(f"Qq{i}\n" for i in range(25)) + "NaCl\n"

CASES = [
    # --- -o targets (predict, featurize, screen)
    Case("predict -o missing folder", lambda d: ["predict", MODEL, "NaCl", "-o", str(d / "no" / "p.csv")], 2,
         lambda d: [str(d / "no" / "p.csv"), "does not exist"]),
    Case("featurize -o missing folder", lambda d: ["featurize", str(d / "in.csv"), "-o", str(d / "no" / "f.csv")], 2,
         lambda d: ["f.csv", "does not exist"], setup=_write("in.csv", "formula\nNaCl\n")),
    Case("screen -o missing folder", lambda d: ["screen", "--system", "Li-O", "--max-atoms", "2", "-o",
                                                str(d / "no" / "s.csv")], 2, lambda d: ["s.csv", "does not exist"]),
    Case("predict -o read-only file", lambda d: ["predict", MODEL, "NaCl", "-o", str(d / "out.csv")], 2,
         lambda d: ["out.csv", "read-only"], setup=_readonly_file, check=_unchanged("out.csv", "keep me\n")),
    Case("predict -o /dev/full", lambda d: ["predict", MODEL, "NaCl", "-o", "/dev/full"], 2,
         lambda d: ["/dev/full", "not a regular file"]),
    Case("predict -o a folder", lambda d: ["predict", MODEL, "NaCl", "-o", str(d)], 2, lambda d: ["is a directory"]),
    # --- formulas
    Case("whitespace-joined formulas", lambda d: ["predict", MODEL, "Fe2O3\tNaCl"], 2,
         lambda d: ["Fe2O3\\tNaCl", "whitespace"]),
    Case("newline-joined formulas", lambda d: ["predict", MODEL, "NaCl\nFe2O3"], 2, lambda d: ["whitespace"]),
    Case("deeply nested brackets", lambda d: ["predict", MODEL, "(" * 30 + "Fe" + ")" * 30], 2,
         lambda d: ["nested more than"]),
    Case("more than 20 bad rows are counted", lambda d: ["predict", MODEL, "--input", str(d / "bad.csv")], 2,
         lambda d: ["25 invalid input(s)", "5 more invalid row(s) not shown", "Qq0"],
         setup=_write("bad.csv", MANY_BAD)),
    Case("--skip-invalid with every row invalid (predict)",
         lambda d: ["predict", MODEL, "--input", str(d / "bad.csv"), "--skip-invalid", "-o", str(d / "p.csv")], 2,
         lambda d: ["Xx", "unknown element"], setup=_write("bad.csv", "formula\nXx\nQq2\n"),
         check=_unchanged("p.csv", None)),
    Case("--skip-invalid with every row invalid (featurize)",
         lambda d: ["featurize", str(d / "bad.csv"), "--skip-invalid", "-o", str(d / "f.csv")], 2,
         lambda d: ["Xx"], setup=_write("bad.csv", "formula\nXx\nQq2\n"), check=_unchanged("f.csv", None)),
    Case("formula to a structure model", lambda d: ["predict", "matbench-phonons-structure", "NaCl"], 2,
         lambda d: ["'NaCl'", "structure model"]),
    # issue 16
    Case("huge bracket multiplier", lambda d: ["predict", MODEL, "(Fe)1e308O"], 2,
         lambda d: ["(Fe)1e308O", "amount 1e308 is above 1e+12"]),
    Case("huge amount", lambda d: ["predict", MODEL, "NaCl", "Fe1e308O"], 2,
         lambda d: ["Fe1e308O", "above 1e+12"]),
    Case("unphysical cell", lambda d: ["predict", "matbench-phonons-structure", "--input", str(d / "fe.json")], 2,
         lambda d: ["0.125 A^3 per atom", "not a physical crystal"],
         setup=_write("fe.json", '{"@module": "pymatgen.core.structure", "@class": "Structure", "lattice": '
                                 '{"matrix": [[0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5]]}, "sites": [{"species": '
                                 '[{"element": "Fe", "occu": 1}], "abc": [0, 0, 0], "label": "Fe"}]}')),
    Case("NUL byte in a CSV field", lambda d: ["predict", MODEL, "--input", str(d / "nul.csv")], 2,
         lambda d: ["nul.csv", "NUL"], setup=_write("nul.csv", "formula\nNa\x00Cl\n")),
    Case("--structure-timeout on a composition model", lambda d: ["predict", MODEL, "NaCl", "--structure-timeout",
                                                                    "5"], 2, lambda d: ["structure models only"]),
    # --- targets and tables
    Case("inf target (evaluate)", lambda d: ["evaluate", str(SERVABLE), "--data", str(d / "inf.csv"), "--json"], 2,
         lambda d: ["inf.csv", "infinite target in lines 3"], setup=_write("inf.csv", "formula,target\nNaCl,-2\nMgO,inf\n")),
    Case("-inf target (baseline)", lambda d: ["baseline", str(d / "inf.csv"), "--json"], 2,
         lambda d: ["inf.csv", "infinite target in lines 2"], setup=_write("inf.csv", "formula,target\nNaCl,-inf\nMgO,1\n")),
    Case("non-numeric target lines printed as ints", lambda d: ["featurize", str(d / "t.csv"), "-o", str(d / "f.csv")],
         2, lambda d: ["lines 2"], setup=_write("t.csv", "formula,target\nNaCl,abc\n")),
    Case("baseline with 1 row", lambda d: ["baseline", str(d / "one.csv")], 2,
         lambda d: ["one.csv", "at least 2 valid rows"], setup=_write("one.csv", "formula,target\nNaCl,1\n")),
    Case("baseline with only bad rows", lambda d: ["baseline", str(d / "bad.csv")], 2,
         lambda d: ["bad.csv", "Xx"], setup=_write("bad.csv", "formula,target\nXx,1\nQq,2\n")),
    Case("baseline header only", lambda d: ["baseline", str(d / "h.csv")], 2,
         lambda d: ["h.csv", "no data rows"], setup=_write("h.csv", "formula,target\n")),
    Case("baseline --n-estimators 0", lambda d: ["baseline", str(d / "t.csv"), "--n-estimators", "0"], 2,
         lambda d: ["--n-estimators 0", "integer >= 1"], setup=_write("t.csv", "formula,target\nNaCl,1\nKCl,2\n")),
    Case("baseline --max-features 2.0", lambda d: ["baseline", str(d / "t.csv"), "--max-features", "2.0"], 2,
         lambda d: ["--max-features 2.0", "fraction"], setup=_write("t.csv", "formula,target\nNaCl,1\nKCl,2\n")),
    Case("baseline --min-samples-leaf 0", lambda d: ["baseline", str(d / "t.csv"), "--min-samples-leaf", "0"], 2,
         lambda d: ["--min-samples-leaf 0"], setup=_write("t.csv", "formula,target\nNaCl,1\nKCl,2\n")),
    # --- screen
    Case("screen too many candidates", lambda d: ["screen", "--system", "Li-Fe-P-O", "--max-atoms", "1000"], 2,
         lambda d: ["candidates", "--max-candidates"]),
    Case("screen with D", lambda d: ["screen", "--system", "D-O"], 2, lambda d: ["'D-O'", "hydrogen isotope"]),
    # --- models and remotes
    Case("publish without a network", lambda d: ["publish", str(SERVABLE), "--hf-repo", "irnet-test/x"], 4,
         lambda d: ["unreachable", "127.0.0.1:9"], env={"HF_ENDPOINT": "http://127.0.0.1:9"}),
    Case("unknown model path", lambda d: ["predict", str(d / "nope"), "NaCl"], 2, lambda d: ["nope"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_named_with_its_exit_code(case, tmp_path, monkeypatch):
    from irnet_hub.cli import main

    for k, v in case.env.items():
        monkeypatch.setenv(k, v)
    case.setup(tmp_path)
    r = CliRunner().invoke(main, case.args(tmp_path))
    out = r.output
    assert "Traceback" not in out and "internal error" not in out, out
    assert r.exit_code == case.code, out
    for text in case.names(tmp_path):
        assert text in out, (text, out)
    assert "np.int64" not in out
    case.check(tmp_path)


def test_force_replaces_a_read_only_file_and_symlinks_are_followed(tmp_path):
    from irnet_hub.cli import main

    _readonly_file(tmp_path)
    r = CliRunner().invoke(main, ["predict", MODEL, "NaCl", "-o", str(tmp_path / "out.csv"), "--force"])
    assert r.exit_code == 0, r.output
    assert "NaCl" in (tmp_path / "out.csv").read_text()

    target = tmp_path / "real.json"
    (tmp_path / "link.json").symlink_to(target)
    r = CliRunner().invoke(main, ["predict", MODEL, "NaCl", "-o", str(tmp_path / "link.json")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "link.json").is_symlink() and "NaCl" in target.read_text()


def test_output_honours_the_umask(tmp_path):
    from irnet_hub.cli import main

    old = os.umask(0o027)
    try:
        r = CliRunner().invoke(main, ["predict", MODEL, "NaCl", "-o", str(tmp_path / "p.csv")])
    finally:
        os.umask(old)
    assert r.exit_code == 0, r.output
    assert stat.S_IMODE((tmp_path / "p.csv").stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["p.csv"]  # no temporary file left behind


def test_json_output_is_strict(tmp_path):
    """A single-row evaluation has an undefined R^2: JSON says null, never the NaN token."""
    import json

    from irnet_hub.cli import main

    (tmp_path / "one.csv").write_text("formula,target\nNaCl,-2.0\n")
    r = CliRunner().invoke(main, ["evaluate", str(SERVABLE), "--data", str(tmp_path / "one.csv"), "--json"])
    assert r.exit_code == 0, r.output
    line = [ln for ln in r.output.splitlines() if ln.startswith("{")][0]
    assert "NaN" not in line and "Infinity" not in line
    assert json.loads(line, parse_constant=lambda c: pytest.fail(f"non-standard token {c}"))["r2"] is None


def test_tsv_and_semicolon_tables_are_read(tmp_path):
    from irnet_hub.cli import main

    (tmp_path / "t.tsv").write_text("formula\ttarget\nNaCl\t-2\nMgO\t-3\n")
    (tmp_path / "s.csv").write_text("formula;note\nNaCl;a\nMgO;b\n")
    r = CliRunner().invoke(main, ["featurize", str(tmp_path / "t.tsv"), "-o", str(tmp_path / "f.csv")])
    assert r.exit_code == 0, r.output
    assert pd.read_csv(tmp_path / "f.csv")["target"].tolist() == [-2, -3]
    r = CliRunner().invoke(main, ["predict", MODEL, "--input", str(tmp_path / "s.csv"), "--json"])
    assert r.exit_code == 0 and '"formula": "MgO"' in r.output, r.output


def test_pull_says_which_copy_is_used_when_the_cache_is_damaged(tmp_path, monkeypatch):
    """A damaged file in a read-only cache, offline: no PermissionError; the repository copy is used, and why."""
    from irnet_hub.cli import main
    from irnet_hub.hub.registry import get_entry

    entry = get_entry(MODEL)
    cache = tmp_path / "cache"
    snap = cache / f"models--{entry.repo_id.replace('/', '--')}" / "snapshots" / ("0" * 40)
    shutil.copytree(SERVABLE, snap, ignore=shutil.ignore_patterns("saved_model"))
    (snap.parents[1] / "refs").mkdir()
    (snap.parents[1] / "refs" / entry.revision).write_text("0" * 40)
    data = bytearray((snap / "model.weights.h5").read_bytes())
    data[100] ^= 0xFF
    (snap / "model.weights.h5").write_bytes(bytes(data))
    for p in [snap, *snap.iterdir()]:
        p.chmod(p.stat().st_mode & ~0o222)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    try:
        r = CliRunner().invoke(main, ["pull", MODEL])
    finally:
        for p in [snap, *snap.iterdir()]:
            p.chmod(p.stat().st_mode | 0o200)
    assert r.exit_code == 0, r.output
    assert "Traceback" not in r.output and "PermissionError" not in r.output
    assert "using the repository copy" in r.output and "sha256 mismatch" in r.output
    assert r.output.strip().splitlines()[-1] == str(SERVABLE)


def test_cache_purge_never_deletes_outside_the_cache(tmp_path, monkeypatch):
    """A snapshot folder that is a symlink to a user's folder: the user's damaged-looking file survives."""
    from irnet_hub.hub.registry import get_entry

    entry = get_entry(MODEL)
    user = tmp_path / "my-results"
    shutil.copytree(SERVABLE, user, ignore=shutil.ignore_patterns("saved_model"))
    (user / "model.weights.h5").write_bytes(b"my own file, not a model")
    cache = tmp_path / "cache"
    snaps = cache / f"models--{entry.repo_id.replace('/', '--')}" / "snapshots"
    snaps.mkdir(parents=True)
    (snaps / ("1" * 40)).symlink_to(user, target_is_directory=True)
    (snaps.parent / "refs").mkdir()
    (snaps.parent / "refs" / entry.revision).write_text("1" * 40)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import irnet_hub

    with pytest.warns(UserWarning, match="outside the cache"):
        assert irnet_hub.pull(MODEL) == SERVABLE
    assert (user / "model.weights.h5").read_bytes() == b"my own file, not a model"


def test_api_bad_arguments_are_named():
    import irnet_hub
    from irnet_hub.errors import InvalidInputError

    for bad in (None, 123, 1.5, ["a"]):
        with pytest.raises(InvalidInputError, match="model name or the path"):
            irnet_hub.load(bad)
    model = irnet_hub.load(MODEL)
    df = model.predict(np.array("NaCl"))  # a 0-d array is one formula
    assert df["formula"].tolist() == ["NaCl"]
    with pytest.raises(InvalidInputError, match="1-d array"):
        model.predict(np.array([["NaCl"]]))
    with pytest.raises(InvalidInputError, match="expected formulas"):
        model.predict(42)


def test_results_keep_the_input_labels():
    import irnet_hub

    model = irnet_hub.load(MODEL)
    df = pd.DataFrame({"formula": ["NaCl", "W", "MgO", "Cs2O"]}, index=[3, 0, 1, 2])
    df["pred"] = model.predict(df)["prediction"]
    alone = {f: model.predict([f])["prediction"].iloc[0] for f in df["formula"]}
    assert all(np.isclose(df.loc[i, "pred"], alone[df.loc[i, "formula"]]) for i in df.index)

    s = pd.Series(["NaCl", "Xx", "MgO"], index=[5, 6, 7])
    out = model.predict(s, errors="skip")
    assert out.index.tolist() == [5, 6, 7]
    assert np.isnan(out.loc[6, "prediction"]) and "unknown element" in out.loc[6, "note"]
    assert np.isfinite(out.loc[[5, 7], "prediction"]).all()
    frame = pd.DataFrame({"formula": s})
    frame["p"] = out["prediction"]
    assert frame["p"].notna().sum() == 2  # not every value NaN, as before


def test_structure_timeout_fails_only_the_slow_structure(tmp_path, data_dir, monkeypatch):
    """Issue 16: large cells ran for minutes with no way to bound them; --structure-timeout fails the slow
    row (named), predicts the rest, and a composition model refuses the option."""
    import json

    from irnet_hub.cli import main
    from irnet_hub.featurize.structure import load_structures

    monkeypatch.setenv("IRNET_CACHE_DIR", str(tmp_path / "features"))  # a cached row needs no time at all
    small = load_structures(data_dir / "structures" / "matbench_phonons.json.gz")[:2]
    big = small[0].copy()
    big.make_supercell([4, 4, 4])
    path = tmp_path / "cells.json"
    path.write_text(json.dumps([s.as_dict() for s in (small[0], big, small[1])]))
    r = CliRunner().invoke(main, ["predict", "matbench-phonons-structure", "--input", str(path), "--json",
                                  "--skip-invalid", "--structure-timeout", "3"])
    assert r.exit_code == 0, r.output
    assert [x["row"] for x in json.loads(r.stdout)] == [0, 2]
    assert "skipped row 1" in r.stderr and "took longer than 3 s" in r.stderr
    r = CliRunner().invoke(main, ["predict", MODEL, "NaCl", "--structure-timeout", "3"])
    assert r.exit_code == 2 and "applies to local structure models only" in r.output


def test_formulas_from_standard_input_and_structure_files_named(tmp_path):
    """Issue 19: `--input -` reads formulas (one per line, or a CSV with a formula column); a CIF or POSCAR
    given to a composition model is named as a structure file, with the model that takes it."""
    import json

    from pymatgen.core import Lattice, Structure

    from irnet_hub.cli import main

    r = CliRunner().invoke(main, ["predict", MODEL, "--input", "-", "--json"], input="NaCl\nFe2O3\n\nMgO\n")
    assert r.exit_code == 0, r.output
    assert [x["formula"] for x in json.loads(r.stdout)] == ["NaCl", "Fe2O3", "MgO"]
    r = CliRunner().invoke(main, ["predict", MODEL, "--input", "-", "--json"], input="id;formula_pretty\n1;SiC\n")
    assert r.exit_code == 0 and [x["formula"] for x in json.loads(r.stdout)] == ["SiC"]
    r = CliRunner().invoke(main, ["predict", MODEL, "--input", "-"], input="\n\n")
    assert r.exit_code == 2 and "no formulas on standard input" in r.output
    nacl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    for name in ("NaCl.cif", "POSCAR"):
        nacl.to(filename=str(tmp_path / name))
        r = CliRunner().invoke(main, ["predict", MODEL, "--input", str(tmp_path / name)])
        assert r.exit_code == 2 and "is a crystal structure file" in r.output, r.output
        assert f"irnet predict matbench-phonons-structure --input {name}" in r.output
        assert "Traceback" not in r.output and "tokenizing" not in r.output
