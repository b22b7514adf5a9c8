"""Stability screening (irnet_hub.screen, `irnet screen`): candidates, charge balance, hulls, Dask, CLI."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
from pymatgen.core import Composition

import irnet_hub
from irnet_hub.domain import DomainRule
from irnet_hub.errors import InvalidInputError
from irnet_hub.record import ModelRecord
from irnet_hub.stability import PredictedHull, charge_balanced, enumerate_candidates, plan
from irnet_hub.stability.candidates import parse_system
from tolerance import assert_f32_close, assert_f32_frame_equal

OQMD_HF = "crabnet/benchmark_data/OQMD_Formation_Enthalpy/val.csv"


@pytest.fixture(scope="session")
def screen_model_dir(tmp_path_factory, data_dir) -> Path:
    """A tiny real formation-enthalpy model: 3 epochs on 2,000 OQMD rows (~20 s on 2 cores)."""
    from irnet_hub.training import train

    out = tmp_path_factory.mktemp("screen") / "oqmd-hf-tiny"
    df = pd.read_csv(data_dir / OQMD_HF, keep_default_na=False).sample(2000, random_state=0)
    train(df, out, architecture="64BARx2-32BARx1-1", epochs=3, batch_size=256, learning_rate=1e-3, patience=2,
          target_name="formation enthalpy", unit="eV/atom", progress=False)
    return out


class FakeModel:
    """A deterministic stand-in 'formation enthalpy' model (a smooth function of the 145 features).

    Exercises the hull code on realistic-looking energy landscapes without
    training; only for in-process runs (Dask workers could not import it).
    """

    featurizer = "magpie145"
    input_kind = "composition"
    unit = "eV/atom"
    property = "formation enthalpy"
    name = "fake"
    record = ModelRecord(name="fake")  # no training element counts: in_domain unknown
    domain = DomainRule({})

    def predict_features(self, X):
        X = np.asarray(X, dtype=np.float64)
        return -0.6 + 0.5 * np.sin(0.37 * X[:, :40].sum(axis=1))

    def predict_features_with_rules(self, X, n_elements):  # no output rules: as predict_features
        return self.predict_features(X)


def reduced(formulas) -> set[str]:
    return {Composition(f).reduced_formula for f in formulas}


def brute_force(system: str, max_atoms: int) -> set[str]:
    """Every integer composition of the system and its subsystems (>= 2 elements), by reduced formula."""
    els = system.split("-")
    out = set()
    for amounts in itertools.product(range(max_atoms + 1), repeat=len(els)):
        if sum(amounts) <= max_atoms and sum(a > 0 for a in amounts) >= 2:
            out.add(Composition(dict(zip(els, amounts))).reduced_formula)
    return out


# --------------------------------------------------------------------------- candidates


@pytest.mark.parametrize("system,max_atoms", [("Li-O", 12), ("Li-Fe-O", 8), ("Li-Fe-P-O", 6)])
def test_grid_matches_brute_force(system, max_atoms):
    df = enumerate_candidates([system], max_atoms=max_atoms)
    assert not df["formula"].duplicated().any()
    assert reduced(df["formula"]) == brute_force(system, max_atoms)
    assert len(df) == len(brute_force(system, max_atoms))
    assert (df["n_atoms"] <= max_atoms).all() and (df["n_elements"] >= 2).all()


def test_overlapping_systems_share_subsystems_once():
    df = enumerate_candidates(["Li-Fe-O", "Li-Mn-O", "Li-O"], max_atoms=6)
    assert not df["formula"].duplicated().any()  # Li-O compositions appear once
    assert reduced(df["formula"]) == brute_force("Li-Fe-O", 6) | brute_force("Li-Mn-O", 6)
    p = plan(["Li-Fe-O", "Li-Mn-O", "Li-O"], max_atoms=6)
    assert [set(s) for s in p.hull_systems] == [{"Li", "Fe", "O"}, {"Li", "Mn", "O"}]  # Li-O is inside both
    assert p.containing["Li-O"] == [0, 1]


def test_partitioning_does_not_change_the_candidates():
    whole = enumerate_candidates(["Li-Fe-P-O"], max_atoms=9, partition_size=10**6)
    parts = enumerate_candidates(["Li-Fe-P-O"], max_atoms=9, partition_size=40)
    assert len(plan(["Li-Fe-P-O"], max_atoms=9, partition_size=40).partitions) > 10
    pd.testing.assert_frame_equal(whole, parts)


def test_charge_balance_known_cases():
    cases = {"Li2O": True, "LiO3": False, "Fe3O4": True, "FeO": True, "NaCl": True, "NaCl2": False,
             "LiFePO4": True, "Li2Fe3P4O9": True, "NeO": False, "CaF": False}
    from irnet_hub.stability.candidates import _tables

    comps = [Composition(f) for f in cases]

    zt = _tables().z_of
    z = np.zeros((len(comps), 4), np.int64)
    a = np.zeros((len(comps), 4), np.int64)
    for i, c in enumerate(comps):
        for j, (el, n) in enumerate(c.items()):
            z[i, j], a[i, j] = zt[el.symbol], int(n)
    assert dict(zip(cases, charge_balanced(z, a).tolist())) == cases


def test_charge_balance_filter_equals_pymatgen():
    every = enumerate_candidates(["Li-Fe-O"], max_atoms=8)
    kept = set(enumerate_candidates(["Li-Fe-O"], max_atoms=8, charge_balanced=True)["formula"])
    expected = {f for f in every["formula"] if Composition(f).oxi_state_guesses()}
    assert kept == expected
    assert "Li2O" in kept and "LiO3" not in kept and "Fe3O4" in kept


def test_prototypes_and_templates():
    df = enumerate_candidates(prototypes=["A2BX4"], sites=["A=Li,Na,K", "B=Fe,Mn", "X=O,S"], complete_hulls=False)
    assert len(df) == 12 and set(df["prototype"]) == {"A2BX4"}
    assert {"Li2FeO4", "K2MnS4"} <= set(df["formula"]) and (df["n_atoms"] == 7).all()

    # B2 and L1_0 share the formula AB: same compositions, one row per prototype.
    df = enumerate_candidates(prototypes=["B2", "L1_0"], sites={"A": ["Fe", "Ni"], "B": ["Fe", "Ni", "Al"]},
                              complete_hulls=False)
    for proto in ("B2", "L1_0"):
        rows = df[df["prototype"] == proto]
        assert reduced(rows["formula"]) == {"FeNi", "AlFe", "AlNi"}  # FeNi/NiFe once, no FeFe
        assert len(rows) == 3

    df = enumerate_candidates(prototypes=["perovskite", "spinel=AB2X4"],
                              sites={"A": ["Sr", "Mg"], "B": ["Ti", "Al"], "X": ["O"]}, complete_hulls=False)
    assert reduced(df.loc[df["prototype"] == "perovskite", "formula"]) == {"SrTiO3", "SrAlO3", "MgTiO3", "MgAlO3"}
    assert reduced(df.loc[df["prototype"] == "spinel", "formula"]) >= {"MgAl2O4"}

    # complete_hulls adds each prototype system's grid (the competing phases).
    full = enumerate_candidates(prototypes=["perovskite"], sites={"A": ["Sr"], "B": ["Ti"]}, max_atoms=5)
    assert reduced(full.loc[full["prototype"] == "", "formula"]) == brute_force("O-Sr-Ti", 5)


@pytest.mark.parametrize("kwargs,fragment", [
    (dict(systems=["Li-Xx"]), "unknown element 'Xx'"),
    (dict(systems=["Li"]), "at least two elements"),
    (dict(systems=["Li-Li-O"]), "listed twice"),
    (dict(systems=["Li-O"], max_atoms=0), "max_atoms"),
    (dict(prototypes=["A2BX4"], sites=["A=", "B=Fe", "X=O"]), "site A is empty"),
    (dict(prototypes=["A2BQ4"], sites=["A=Li", "B=Fe"]), "'Q' is neither a site"),
    (dict(prototypes=["A2B(X4"], sites=["A=Li", "B=Fe", "X=O"]), "cannot parse the template"),
    (dict(prototypes=["B2"], sites=["A=Li,Qq", "B=Fe"]), "unknown element 'Qq'"),
    (dict(), "nothing to screen"),
])
def test_bad_input_names_the_problem(kwargs, fragment):
    with pytest.raises(InvalidInputError, match=fragment.replace("(", r"\(")):
        plan(**kwargs)


# --------------------------------------------------------------------------- hulls


def test_hull_known_by_construction():
    # Binary A-B (Li-Ni): Li at 0, LiNi at -1.0 eV/atom. Li3Ni (x_Ni = 0.25) at -0.4 lies
    # 0.1 above the Li--LiNi tie line (-0.5); LiNi3 (0.75) at -0.6 is 0.1 below the
    # LiNi--Ni line (-0.5): stable, decomposition energy -0.1. LiNi: the hull of the others
    # at 0.5 is the Li3Ni--LiNi3 line, -0.5 -> decomposition energy -0.5.
    els = parse_system("Li-Ni")
    hull = PredictedHull.build(els, [("LiNi", -1.0), ("Li3Ni", -0.4), ("LiNi3", -0.6)])
    x = np.array([[0.5], [0.25], [0.75]])
    eah = hull.e_above_hull(x, np.array([-1.0, -0.4, -0.6]))
    np.testing.assert_allclose(eah, [0.0, 0.1, 0.0], atol=1e-12)
    assert set(hull.stable) == {"LiNi", "LiNi3"}
    assert hull.decomposition == pytest.approx({"LiNi": -0.5, "LiNi3": -0.1})
    # A known phase below LiNi3 takes its place on the hull.
    hull = PredictedHull.build(els, [("LiNi", -1.0), ("LiNi3", -0.6)], known=[("LiNi3", -0.7)])
    assert set(hull.stable) == {"LiNi"} and hull.known_stable == ["LiNi3"]
    np.testing.assert_allclose(hull.e_above_hull(x[2:], np.array([-0.6])), [0.1], atol=1e-12)


def test_large_hull_point_location_is_exact():
    """Hulls with thousands of facets locate points by walking; it must equal the max over all planes."""
    from irnet_hub.stability.hull import _max_plane, fractions, lower_hull_vertices

    els = parse_system("Li-Fe-O")
    df = enumerate_candidates(["Li-Fe-O"], max_atoms=40)
    comp = [Composition(f) for f in df["formula"]]
    x = fractions(np.array([[c[e] for e in els] for c in comp]))
    # A convex bowl plus noise: most points sit near the hull, so it has many facets.
    energy = -1 + 2 * ((x - x.mean(axis=0)) ** 2).sum(axis=1) + np.random.default_rng(0).normal(0, 0.002, len(x))
    v = lower_hull_vertices(x, energy)
    hull = PredictedHull.build(els, [(df["formula"][i], energy[i]) for i in v])
    assert len(hull.planes) > 1000
    np.testing.assert_allclose(hull.hull_energy(x), _max_plane(hull.planes, x), atol=1e-12)
    assert hull.e_above_hull(x, energy).min() >= 0


@pytest.mark.parametrize("systems,max_atoms,partition_size", [
    (["Li-Fe-O"], 10, 37), (["Al-Ni", "Ni-Zr"], 12, 7), (["Li-Fe-P-O"], 6, 50),
])
def test_hull_matches_phase_diagram(systems, max_atoms, partition_size):
    """The two-pass hull (partition-local layers, then one PhaseDiagram) equals pymatgen's on all candidates."""
    result = irnet_hub.screen(systems, max_atoms=max_atoms, model=FakeModel(), partition_size=partition_size)
    assert isinstance(result, irnet_hub.ScreenResult) and result.model == "fake"
    df = result.candidates
    assert (df["e_above_hull"] >= 0).all()
    assert len(df) == result.n_candidates == len(enumerate_candidates(systems, max_atoms=max_atoms))
    assert result.n_stable == int(df["is_stable"].sum()) and not df.attrs
    for system in systems:
        els = system.split("-")
        c = df[[set(s.split("-")) <= set(els) for s in df["system"]]]
        entries = [PDEntry(Composition(e), 0.0, name=e) for e in els]
        cands = [PDEntry(Composition(f), e * Composition(f).num_atoms, name=f)
                 for f, e in zip(c["formula"], c["formation_enthalpy"])]
        pd_ = PhaseDiagram(entries + cands)
        expected = np.array([pd_.get_e_above_hull(e) for e in cands])
        np.testing.assert_allclose(c["e_above_hull"], expected, atol=1e-9)
        stable = {e.name for e in pd_.stable_entries if not e.composition.is_element}
        assert set(c.loc[c["is_stable"], "formula"]) == stable
        for e in cands:
            if e.name in stable:  # pymatgen's is an SLSQP optimum (1e-8 tolerance): a few meV at worst
                got = c.loc[c["formula"] == e.name, "decomposition_energy"].iloc[0]
                assert got == pytest.approx(pd_.get_phase_separation_energy(e), abs=1e-4)
                assert got <= 0
    # Ranked: stable first, most negative decomposition energy first.
    assert df["decomposition_energy"].is_monotonic_increasing
    assert df["is_stable"].iloc[0]


def test_model_must_predict_formation_enthalpy():
    class BandGap(FakeModel):
        unit = "eV"
        property = "band gap"

    with pytest.raises(InvalidInputError, match="formation enthalpy in eV/atom"):
        irnet_hub.screen(["Li-O"], max_atoms=4, model=BandGap())


# --------------------------------------------------------------------------- real model, Dask, CLI


@pytest.mark.float32_paths
@pytest.mark.slow
def test_screen_with_real_model_also_known_and_csv(screen_model_dir, tmp_path):
    known = pd.DataFrame({"formula": ["Li2O", "NiO"], "formation_enthalpy": [-50.0, -50.0]})
    out = tmp_path / "screen.csv"
    result = irnet_hub.screen(["Li-Ni-O"], max_atoms=6, model=screen_model_dir, also=[screen_model_dir],
                              known=known, output=out, top=5)
    assert len(result) == len(result.candidates) == 5
    assert result.known_on_hull == {"Li-Ni-O": ["Li2O", "NiO"]}
    # Known phases at -50 eV/atom dominate: no Li-O or Ni-O candidate can be stable.
    full = pd.read_csv(out)
    assert len(full) == result.n_candidates == len(enumerate_candidates(["Li-Ni-O"], max_atoms=6))
    assert not full.loc[full["system"].isin(["Li-O", "Ni-O"]), "is_stable"].any()
    also = irnet_hub.load(screen_model_dir).name
    assert also in full.columns  # a column named after the --also model
    assert_f32_close(full[also], full["formation_enthalpy"])


@pytest.mark.float32_paths
@pytest.mark.slow
def test_dask_two_workers_identical_to_in_process(screen_model_dir, tmp_path):
    kwargs = dict(max_atoms=9, model=str(screen_model_dir), partition_size=60, plot_dir=None)
    # Dask workers run BLAS single-threaded, this process multi-threaded: float32 products sum in
    # another order, so energies agree within float32 rounding (tests/tolerance.py), not bit for bit.
    local = irnet_hub.screen(["Li-Fe-O", "Al-Ni"], output=tmp_path / "local.parquet", **kwargs)
    dask = irnet_hub.screen(["Li-Fe-O", "Al-Ni"], output=tmp_path / "dask.parquet", workers=2, **kwargs)
    assert len(plan(["Li-Fe-O", "Al-Ni"], max_atoms=9, partition_size=60).partitions) >= 4
    assert_same_screen(local.candidates, dask.candidates, ranked=True)
    assert local.hulls == dask.hulls and local.n_candidates == dask.n_candidates
    assert_same_screen(pd.read_parquet(tmp_path / "local.parquet"), pd.read_parquet(tmp_path / "dask.parquet"))


def assert_same_screen(a: pd.DataFrame, b: pd.DataFrame, ranked: bool = False) -> None:
    """Same rows and values within float32 rounding (``ranked``: both by decomposition energy).

    Rows are matched by (formula, prototype): two candidates whose energies differ by less than
    the rounding may swap places in a ranking, and nothing else may differ."""
    for df in (a, b) if ranked else ():
        assert df["decomposition_energy"].dropna().is_monotonic_increasing
    key = [c for c in ("formula", "prototype") if c in a.columns]
    assert_f32_frame_equal(a.sort_values(key).reset_index(drop=True), b.sort_values(key).reset_index(drop=True),
                           scale_columns=("formation_enthalpy",))


def irnet(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "irnet_hub.cli", *args], capture_output=True, text=True,
                          env=env, timeout=300)


@pytest.mark.slow
def test_cli_end_to_end(screen_model_dir, tmp_path):
    out, plots = tmp_path / "screen.parquet", tmp_path / "plots"
    r = irnet("screen", "--system", "Al-Ni", "--max-atoms", "8", "--model", str(screen_model_dir),
              "-o", str(out), "--plot-dir", str(plots), "--top", "5", "--quiet")
    assert r.returncode == 0, r.stderr
    df = pd.read_parquet(out)
    assert list(df.columns)[:10] == ["formula", "system", "n_elements", "n_atoms", "prototype", "formation_enthalpy",
                                     "e_above_hull", "decomposition_energy", "is_stable", "in_domain"]
    assert len(df) == len(brute_force("Al-Ni", 8)) and df["is_stable"].any()
    assert (plots / "hull_Al-Ni.png").stat().st_size > 1000
    assert "rank" in r.stdout and len([l for l in r.stdout.splitlines() if l.strip()]) == 2 + 5
    # Bad input from a real process: exit 2, the message, no traceback.
    r = irnet("screen", "--prototype", "A2BX4", "--sites", "A=Li,Xx", "--sites", "B=Fe", "--sites", "X=O",
              "--model", str(screen_model_dir))
    assert r.returncode == 2 and "unknown element 'Xx'" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
@pytest.mark.parametrize("args,fragment", [
    (["--system", "Li-Fe-Qq"], "unknown element 'Qq'"),
    (["--system", "Fe"], "at least two elements"),
    (["--prototype", "A2BX4", "--sites", "A=", "--sites", "B=Fe", "--sites", "X=O"], "site A is empty"),
    (["--prototype", "A2B)X4", "--sites", "A=Li", "--sites", "B=Fe", "--sites", "X=O"], "cannot parse"),
    (["--system", "Li-O", "--max-atoms", "0"], "max_atoms"),
    (["--system", "Li-O", "-o", "out.txt"], "must end in .parquet or .csv"),
    (["--system", "Li-O", "--workers", "0"], "workers must be a positive integer"),
])
def test_cli_bad_input_exit_2(screen_model_dir, args, fragment):
    from click.testing import CliRunner

    from irnet_hub.cli import main

    result = CliRunner().invoke(main, ["screen", *args, "--model", str(screen_model_dir), "--quiet"])
    assert result.exit_code == 2, result.output
    assert fragment in result.output and "Traceback" not in result.output


def test_hull_plots_name_the_system_as_the_file_does_have_a_legend_and_draw_quaternary_faces(tmp_path, monkeypatch):
    """Issue 19: title and file name agree (elements sorted), a legend, labels that do not overlap, and a
    quaternary system drawn as its four ternary faces (it used to draw nothing and say nothing)."""
    from matplotlib.figure import Figure

    from irnet_hub.stability.hull import PredictedHull, plot_hull, plot_hull_faces

    seen = []
    real = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda fig, *a, **k: seen.append(fig) or real(fig, *a, **k))
    phases = [("Li2O", -2.0), ("Fe2O3", -1.7), ("P2O5", -1.6), ("Li3PO4", -2.6), ("FePO4", -2.5), ("LiFePO4", -2.7),
              ("Li3P", -0.9), ("FeP", -0.4), ("LiFeO2", -2.2), ("Li2O2", -1.9), ("Li5FeO4", -2.1)]
    ternary = PredictedHull.build(("Zr", "Al", "Ni"), [("ZrAl", -0.5), ("AlNi", -0.6), ("ZrNi", -0.4), ("ZrAlNi", -0.7)])
    path = plot_hull(ternary, tmp_path / "hull_Al-Ni-Zr.png", near=[("Zr2AlNi", -0.5)])
    fig = seen.pop()
    ax = fig.axes[0]
    assert path.stat().st_size > 1000 and ax.get_title() == "predicted hull: Al-Ni-Zr"  # as the file name
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "on the predicted hull (stable)", "hull tie lines", "candidate above the hull (<= 0.2 eV/atom)"]
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()  # the figure was closed after saving
    boxes = [t.get_window_extent(renderer) for t in ax.texts if t.get_visible()]
    assert len(boxes) >= 6 and not any(a.overlaps(b) for a, b in itertools.combinations(boxes, 2))

    quaternary = PredictedHull.build(("Li", "Fe", "P", "O"), phases)
    faces = plot_hull_faces(quaternary, tmp_path, near=[("Li2FeO3", -1.9)])
    assert sorted(faces) == ["Fe-Li-O", "Fe-Li-P", "Fe-O-P", "Li-O-P"]
    for face, p in faces.items():
        assert p == tmp_path / f"hull_Fe-Li-O-P_face_{face}.png" and p.stat().st_size > 1000
    assert [f.axes[0].get_title() for f in seen] == [f"predicted hull: Fe-Li-O-P, face {f}" for f in sorted(faces)]
    labels = {t.get_text() for t in seen[3].axes[0].texts}  # Li-O-P face: its phases only
    assert any("PO" in t for t in labels) and not any("Fe" in t for t in labels)
    with pytest.raises(ValueError, match="plot_hull_faces"):
        plot_hull(quaternary, tmp_path / "x.png")
