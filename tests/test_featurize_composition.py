"""The vectorized magpie145 featurizer against matminer, computed live, on real formulas.

Every expected value here comes from matminer itself (the featurizer we
replace) run on formulas read from the real data folder; nothing is
hard-coded. Formula files are read with ``keep_default_na=False`` because
"NaN" (sodium nitride) is a real formula there.
"""

from __future__ import annotations

import functools
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pymatgen.core import Composition, Element

from irnet_hub.errors import BatchInputError, InvalidInputError
from irnet_hub.featurize import FeatureResult, get_featurizer
from irnet_hub.featurize import composition as C

RTOL, ATOL = 1e-6, 1e-9  # the tolerance: 1e-6 relative, 1e-9 absolute near zero

# Random samples from several real files (file -> rows drawn).
SAMPLES = {
    "crabnet/benchmark_data/OQMD_Bandgap/train.csv": 350,
    "crabnet/benchmark_data/mp_e_hull/train.csv": 300,  # ~25% bracketed, e.g. Ga2(WO4)3
    "crabnet/benchmark_data/mp_bulk_modulus/train.csv": 150,
    "crabnet/matbench_cv/mp_e_form/train0.csv": 250,
    "crabnet/matbench_cv/expt_gap/train0.csv": 100,  # fractional amounts
}
# Many-element formulas: 6+ element OQMD / MP compounds and 11-14 element steels.
MANY_ELEMENTS = {
    "crabnet/benchmark_data/OQMD_Bandgap/train.csv": 40,
    "crabnet/matbench_cv/mp_e_form/train0.csv": 40,
    "crabnet/matbench_cv/steels_yield/train0.csv": 20,
}
# Files searched for formulas with elements matminer imputes data for.
IMPUTED_SOURCES = [
    "crabnet/benchmark_data/aflow__energy_atom/train.csv",
    "crabnet/benchmark_data/mp_e_hull/train.csv",
    "crabnet/benchmark_data/OQMD_Bandgap/train.csv",
]


def read_formulas(data_dir: Path, rel: str) -> list[str]:
    return pd.read_csv(data_dir / rel, keep_default_na=False)["formula"].astype(str).tolist()


def n_elements(formula: str) -> int:
    return len(set(re.findall(r"[A-Z][a-z]*", formula)))


def matminer_featurizer():
    from matminer.featurizers.base import MultipleFeaturizer
    from matminer.featurizers.composition import ElementProperty, IonProperty, Stoichiometry, ValenceOrbital

    return MultipleFeaturizer(
        [Stoichiometry(), ElementProperty.from_preset("magpie"), ValenceOrbital(props=["frac"]), IonProperty(fast=True)]
    )


def matminer_features(comps: list[Composition]) -> np.ndarray:
    mf = matminer_featurizer()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.array([mf.featurize(c) for c in comps], dtype=np.float64)


@functools.lru_cache(maxsize=None)
def imputed_elements() -> frozenset[str]:
    """Elements whose data matminer imputes or that have no common oxidation state."""
    from matminer.utils.data import MagpieData

    raw = MagpieData(impute_nan=False).all_elemental_props
    out = set()
    for z in range(1, C.MAX_Z + 1):
        el = Element.from_Z(z)
        if any(np.isnan(raw[p][el.symbol]) for p in C.MAGPIE_PROPERTIES) or not el.common_oxidation_states:
            out.add(el.symbol)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out |= {Element.from_Z(z).symbol for z in range(1, C.MAX_Z + 1) if not Element.from_Z(z).X > 0}
    return frozenset(out)


def assert_matches(ours: np.ndarray, ref: np.ndarray, formulas: list) -> float:
    """Assert the issue's tolerance element-wise (NaN where matminer has NaN); return max rel. error."""
    assert ours.shape == ref.shape
    assert ours.dtype == np.float64
    nan_ours, nan_ref = np.isnan(ours), np.isnan(ref)
    if not np.array_equal(nan_ours, nan_ref):
        r, c = np.argwhere(nan_ours != nan_ref)[0]
        pytest.fail(f"NaN mismatch for {formulas[r]!r}, {C.MAGPIE_LABELS[c]}: ours {ours[r, c]}, matminer {ref[r, c]}")
    ok = nan_ref | (np.abs(ours - ref) <= np.maximum(RTOL * np.abs(ref), ATOL))
    if not ok.all():
        bad = np.argwhere(~ok)
        lines = [f"{formulas[r]!r} {C.MAGPIE_LABELS[c]}: ours {ours[r, c]!r}, matminer {ref[r, c]!r}" for r, c in bad[:10]]
        pytest.fail(f"{len(bad)} values differ from matminer:\n" + "\n".join(lines))
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(ours - ref) / np.abs(ref)
    rel = rel[~nan_ref & (np.abs(ref) > ATOL)]
    return float(rel.max()) if rel.size else 0.0


@pytest.fixture(scope="module")
def parity_formulas(data_dir: Path) -> list[str]:
    rng = np.random.default_rng(20240607)
    picked: list[str] = []
    for rel, count in SAMPLES.items():
        formulas = read_formulas(data_dir, rel)
        picked += [formulas[i] for i in rng.choice(len(formulas), count, replace=False)]
    for rel, count in MANY_ELEMENTS.items():
        many = [f for f in read_formulas(data_dir, rel) if n_elements(f) >= 6]
        picked += [many[i] for i in rng.choice(len(many), min(count, len(many)), replace=False)]
    special = imputed_elements()
    for rel in IMPUTED_SOURCES:
        hits = [f for f in read_formulas(data_dir, rel) if special & set(re.findall(r"[A-Z][a-z]*", f))]
        picked += hits[:15]
    return picked


@pytest.fixture(scope="module")
def parity_reference(parity_formulas: list[str]) -> np.ndarray:
    return matminer_features([Composition(f) for f in parity_formulas])


def test_labels_match_matminer():
    assert C.MAGPIE_LABELS == matminer_featurizer().feature_labels()
    assert len(C.MAGPIE_LABELS) == C.SPEC.n_features == 145


def test_spec_and_registry():
    from irnet_hub.constants import FEATURIZERS

    feat = get_featurizer("magpie145")
    assert feat.spec is C.SPEC and feat.labels() == list(C.MAGPIE_LABELS)
    assert feat.spec.to_dict()["input_kind"] == "composition"
    assert feat.spec.phrase() == "the 145 Magpie composition attributes (magpie145)"
    # every featurizer a record may name has an object that cites it
    for name in FEATURIZERS:
        spec = get_featurizer(name).spec
        assert spec.name == name and spec.display_name and spec.citations and spec.dois
    with pytest.raises(InvalidInputError, match="unknown featurizer"):
        get_featurizer("magpie146")


def test_parity_with_matminer(parity_formulas, parity_reference):
    formulas = parity_formulas
    assert len(formulas) >= 1000
    # The sample must cover what the fast path does not: brackets, many elements,
    # imputed elements (noble gases etc.).
    assert any("(" in f for f in formulas)
    assert max(n_elements(f) for f in formulas) >= 11
    assert any(imputed_elements() & set(re.findall(r"[A-Z][a-z]*", f)) for f in formulas)

    result = C.featurize_compositions(formulas)
    assert result.failures == []
    assert result.rows.tolist() == list(range(len(formulas)))
    assert result.labels == C.MAGPIE_LABELS
    max_rel = assert_matches(result.features, parity_reference, formulas)
    print(f"\nmax relative error vs matminer over {len(formulas)} formulas x 145 features: {max_rel:.3g}")


def test_nan_handling_matches_matminer(parity_formulas, parity_reference):
    # matminer 0.10 imputes missing element data (impute_nan=True by default), so
    # it gives no NaN for any real formula, including noble gases (no
    # electronegativity / melting point in Magpie) and heavy actinides. Ours must
    # do the same, and produce NaN exactly where matminer does (nowhere).
    ours = C.featurize_compositions(parity_formulas).features
    assert np.array_equal(np.isnan(ours), np.isnan(parity_reference))
    assert np.isfinite(ours).all()


def test_imputed_elements_match_matminer(data_dir):
    special = imputed_elements()
    formulas = []
    for rel in IMPUTED_SOURCES:
        formulas += [f for f in read_formulas(data_dir, rel) if special & set(re.findall(r"[A-Z][a-z]*", f))]
    formulas = sorted(set(formulas))[:60]
    assert formulas, "no real formula with an imputed element found"
    ref = matminer_features([Composition(f) for f in formulas])
    assert_matches(C.featurize_compositions(formulas).features, ref, formulas)


@pytest.mark.parametrize(
    "rel",
    [
        "crabnet/benchmark_data/mp_e_hull/train.csv",
        "crabnet/benchmark_data/OQMD_Bandgap/val.csv",
        "crabnet/matbench_cv/steels_yield/train0.csv",
        "crabnet/matbench_cv/expt_gap/train0.csv",
    ],
)
def test_fast_parse_identical_to_pymatgen(data_dir, rel):
    """Every formula the fast path accepts parses exactly as pymatgen's Composition."""
    formulas = read_formulas(data_dir, rel)
    t = C._get_tables()
    ok, counts, z, amounts = C._fast_parse(formulas, t)
    assert ok.mean() > 0.5  # the fast path must do most of the work
    starts = np.cumsum(counts) - counts
    symbol = {v: k for k, v in t.symbol_to_z.items()}
    for i in np.flatnonzero(ok):
        s, k = starts[i], counts[i]
        ours = [(symbol[int(zz)], float(a)) for zz, a in zip(z[s : s + k], amounts[s : s + k])]
        theirs = list(Composition(formulas[i]).get_el_amt_dict().items())
        assert ours == theirs, formulas[i]  # same elements, order and bit-identical amounts
    # What the fast path leaves to pymatgen must be non-plain (brackets etc.).
    plain = re.compile(r"(?:[A-Z][a-z]?(?:\d+\.?\d*|\.\d+)?)+")
    for i in np.flatnonzero(~ok):
        f = formulas[i]
        assert not plain.fullmatch(f) or len(set(re.findall(r"[A-Z][a-z]*", f))) < len(re.findall(r"[A-Z][a-z]*", f)), f


def test_full_file_no_failures(data_dir):
    """A whole real file (plain and bracketed formulas) featurizes without failures."""
    formulas = read_formulas(data_dir, "crabnet/benchmark_data/mp_e_hull/train.csv")
    result = C.featurize_compositions(formulas)
    assert result.failures == []
    assert result.features.shape == (len(formulas), 145)
    assert np.isfinite(result.features).all()
    # Spot-check a random subset of the whole file against matminer.
    idx = np.random.default_rng(7).choice(len(formulas), 100, replace=False)
    ref = matminer_features([Composition(formulas[i]) for i in idx])
    assert_matches(result.features[idx], ref, [formulas[i] for i in idx])


# --------------------------------------------------------------------------
# Input types and batches
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def some_formulas(data_dir: Path) -> list[str]:
    formulas = read_formulas(data_dir, "crabnet/benchmark_data/mp_bulk_modulus/train.csv")
    return formulas[:40]


def test_series_and_compositions_and_duplicates(some_formulas):
    base = C.featurize_compositions(some_formulas).features
    series = pd.Series(some_formulas, index=np.arange(100, 100 + len(some_formulas)))
    from_series = C.featurize_compositions(series)
    np.testing.assert_array_equal(from_series.features, base)
    assert from_series.rows.tolist() == list(range(len(some_formulas)))  # positions, not the index
    frame = from_series.to_frame(series.index)
    assert list(frame.index) == list(series.index) and list(frame.columns) == C.MAGPIE_LABELS

    comps = C.featurize_compositions([Composition(f) for f in some_formulas])
    np.testing.assert_allclose(comps.features, base, rtol=1e-12, atol=0)

    doubled = some_formulas[::-1] + some_formulas
    both = C.featurize_compositions(doubled).features
    np.testing.assert_array_equal(both[len(some_formulas) :], base)
    np.testing.assert_array_equal(both[: len(some_formulas)], base[::-1])

    as_array = C.featurize_compositions(np.array(some_formulas))
    np.testing.assert_array_equal(as_array.features, base)


def test_oxidation_state_compositions_match_matminer(data_dir):
    # Compositions that carry oxidation states: matminer's IonProperty then
    # checks the given charges instead of searching oxidation states.
    formulas = read_formulas(data_dir, "crabnet/benchmark_data/mp_bulk_modulus/train.csv")
    comps = []
    for f in formulas:
        comp = Composition(f)
        if len(comp) in (2, 3):
            if comp.oxi_state_guesses():
                comps.append(comp.add_charges_from_oxi_state_guesses())
        if len(comps) >= 25:
            break
    assert comps
    # One decorated with charges that do not balance, to see "compound possible" = 0.
    first = comps[0]
    comps.append(Composition({sp: amt * (2 if i == 0 else 1) for i, (sp, amt) in enumerate(first.items())}))
    # Mixed valence (an element in two oxidation states) hits matminer's quirk
    # of weighting the ionic character by species amounts; it must be covered.
    assert any(len(c) > len(c.element_composition) for c in comps)
    ref = matminer_features(comps)
    ours = C.featurize_compositions(comps)
    assert ours.failures == []
    assert_matches(ours.features, ref, [str(c) for c in comps])
    assert 0.0 in ref[:, C.MAGPIE_LABELS.index("compound possible")]


def test_odd_but_valid_syntax_matches_pymatgen_parse():
    # Spellings the fast path must either parse exactly like pymatgen or hand
    # to pymatgen: same features as featurizing pymatgen's own Composition.
    odd = ["Fe2.O3", "Fe.5O", "FeOFe", " Fe2O3 ", "[Fe]2O3", "Y3N@C80", "D2O", "NaN", "Fe2O3", "Fe1e-3O"]
    from_str = C.featurize_compositions(odd, errors="raise").features
    from_comp = C.featurize_compositions([Composition(f) for f in odd], errors="raise").features
    np.testing.assert_array_equal(from_str, from_comp)
    ref = matminer_features([Composition(f) for f in odd])
    assert_matches(from_str, ref, odd)


def test_empty_batch_and_progress(some_formulas):
    empty = C.featurize_compositions([])
    assert isinstance(empty, FeatureResult)
    assert empty.features.shape == (0, 145) and empty.rows.shape == (0,) and empty.failures == []
    with_bar = C.featurize_compositions(some_formulas, progress=True)
    np.testing.assert_array_equal(with_bar.features, C.featurize_compositions(some_formulas).features)


# --------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------

BAD_INPUTS = [
    ("Xx", "Xx"),  # unknown element: the reason names the symbol
    ("", "empty"),
    ("   ", "empty"),
    ("Fe2(O3", "bracket"),
    ("Fe2O3)", "bracket"),
    ("Fe0O", "zero"),
    ("Fe-1O2", "negative"),
    ("fe2o3", "parse"),
    ("Fe2O3·NaCl", "parse"),  # a middle dot that is not hydrate notation (Fe2O3·H2O is: see below)
    ("Uue2", "Uue"),
    ("Og2Fe", "Magpie"),  # Z=118: no Magpie data at all
    (None, "missing"),
    (123, "int"),
    (float("nan"), "missing"),
    ({"Fe": 2}, "dict"),
]


@pytest.mark.parametrize("item, reason_part", BAD_INPUTS, ids=[repr(b[0]) for b in BAD_INPUTS])
def test_parse_composition_rejects(item, reason_part):
    with pytest.raises(InvalidInputError) as info:
        C.parse_composition(item)
    err = info.value
    assert err.input is item
    shown = repr(item) if isinstance(item, str) else str(item)
    assert shown in str(err)
    assert reason_part.lower() in err.reason.lower()


def test_bad_compositions_rejected():
    with pytest.raises(InvalidInputError, match="empty"):
        C.parse_composition(Composition())
    with pytest.raises(InvalidInputError, match="positive"):
        C.parse_composition(Composition({"Fe": -1, "O": 2}, allow_negative=True))


def test_batch_collects_and_raises(some_formulas):
    good = some_formulas[:6]
    bad = [item for item, _ in BAD_INPUTS]
    batch: list[object] = []
    for i, g in enumerate(good):
        batch.append(g)
        batch.extend(bad[i::6])
    bad_rows = [i for i, x in enumerate(batch) if x not in good]

    result = C.featurize_compositions(batch)
    assert result.rows.tolist() == [i for i in range(len(batch)) if i not in bad_rows]
    np.testing.assert_array_equal(result.features, C.featurize_compositions(good).features)
    assert [f.row for f in result.failures] == bad_rows
    for f in result.failures:
        assert f.input is batch[f.row] and f.reason
        assert f"row {f.row}" in str(f)

    with pytest.raises(BatchInputError) as info:
        C.featurize_compositions(batch, errors="raise")
    assert [f.row for f in info.value.failures] == bad_rows
    message = str(info.value)
    assert f"{len(bad_rows)} invalid input(s)" in message
    for f in info.value.failures:
        assert f"row {f.row} " in message


def test_bad_arguments(some_formulas):
    with pytest.raises(InvalidInputError):
        C.featurize_compositions(some_formulas, errors="ignore")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        C.featurize_compositions("Fe2O3")  # a single string is not a batch


def test_parsed_amounts_give_the_same_features_without_pymatgen(tmp_path):
    """The zoo's GPU path: parse here, pickle the tables, compute the features where pymatgen is absent."""
    import pickle
    import subprocess
    import sys

    from irnet_hub.featurize.composition import element_amount_arrays, element_tables, featurize_compositions

    formulas = ["NaCl", "Fe2O3", "Al1Sm1Tm1", "(NH4)2SO4", "Li0.5CoO2", "Fe", "Os", "Ba2YCu3O7"]
    count, z, a = element_amount_arrays(formulas)
    np.savez(tmp_path / "csr.npz", count=count, z=z, a=a)
    (tmp_path / "tables.pkl").write_bytes(pickle.dumps(element_tables()))
    code = (
        "import sys, pickle, numpy as np\n"
        "sys.modules['pymatgen'] = None  # any import of pymatgen now fails\n"
        "from irnet_hub.featurize.magpie import features_from_element_amounts\n"
        f"d = np.load({str(tmp_path / 'csr.npz')!r})\n"
        f"t = pickle.loads(open({str(tmp_path / 'tables.pkl')!r}, 'rb').read())\n"
        f"np.save({str(tmp_path / 'X.npy')!r}, features_from_element_amounts(d['count'], d['z'], d['a'], t))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    expected = featurize_compositions(formulas, errors="raise").features
    np.testing.assert_array_equal(np.load(tmp_path / "X.npy"), expected)  # same code, same inputs: bit-equal


def test_pymatgen_formula_strings_with_spaces_are_accepted():
    """Issue 19: Composition("Fe2O3").formula is "Fe2 O3"; two formulas joined by a space stay refused."""
    from irnet_hub.featurize.composition import featurize_compositions

    spaced = [Composition(f).formula for f in ("Fe2O3", "NaCl", "LiCoO2", "Li0.5CoO2")]
    assert spaced[0] == "Fe2 O3"
    a = featurize_compositions(spaced, errors="raise").features
    b = featurize_compositions(["Fe2O3", "NaCl", "LiCoO2", "Li0.5CoO2"], errors="raise").features
    np.testing.assert_array_equal(a, b)
    res = featurize_compositions(["NaCl MgO", "Fe O", "Fe2\tO3 NaCl"], errors="collect")
    assert len(res.rows) == 0 and all("whitespace" in f.reason for f in res.failures)


@pytest.mark.parametrize("hydrate,written_out", [("CuSO4.5H2O", "CuSO4(H2O)5"), ("CaCl2.2H2O", "CaCl2(H2O)2"),
                                                 ("CaCl2\u00b72H2O", "CaCl2(H2O)2"), ("MgSO4*7H2O", "MgH14SO11"),
                                                 ("CuSO4.H2O", "CuSO4H2O")])
def test_hydrate_notation_is_read_as_a_hydrate(hydrate, written_out):
    """Issue 16: CuSO4.5H2O was read as the decimal O4.5 (CuH2SO5.5)."""
    from irnet_hub.featurize.composition import featurize_compositions, parse_composition
    from irnet_hub.preprocessing import element_amounts

    assert parse_composition(hydrate).almost_equals(Composition(written_out))
    assert element_amounts(hydrate) == pytest.approx(element_amounts(written_out))  # the in-domain rule agrees
    X = featurize_compositions([hydrate, written_out], errors="raise").features
    np.testing.assert_allclose(X[0], X[1], rtol=1e-12)  # float64, elements summed in another order


def test_a_decimal_before_water_stays_a_decimal_when_no_hydrate_reading_exists():
    from irnet_hub.featurize.composition import parse_composition

    assert parse_composition("Fe0.5H2O").almost_equals(Composition({"Fe": 0.5, "H": 2, "O": 1}))
    assert parse_composition("Li0.5CoO2").almost_equals(Composition({"Li": 0.5, "Co": 1, "O": 2}))
