"""Property-based robustness tests (hypothesis) over formula parsing and featurization (issue 11).

* random valid formulas round-trip: the parsed amounts are the ones written,
  and featurizing them gives finite features for every row;
* random junk never crashes: every input comes back either featurized or
  named in ``failures`` with a reason, never an exception other than
  :class:`InvalidInputError`, and the row numbers line up with the input.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from irnet_hub.errors import InvalidInputError
from irnet_hub.featurize.composition import featurize_compositions, parse_composition
from irnet_hub.preprocessing import element_amounts

# Elements with Magpie data that pymatgen also knows (Z 1..86 without the noble gases' oddities is
# not needed: all of these have element data in the Magpie tables).
SYMBOLS = ["H", "Li", "Be", "B", "C", "N", "O", "F", "Na", "Mg", "Al", "Si", "P", "S", "Cl", "K", "Ca", "Ti", "V",
           "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Ga", "Ge", "As", "Se", "Br", "Rb", "Sr", "Y", "Zr", "Nb",
           "Mo", "Ag", "Cd", "In", "Sn", "Sb", "Te", "I", "Cs", "Ba", "La", "Ce", "Nd", "Gd", "Hf", "Ta", "W",
           "Pt", "Au", "Pb", "Bi"]

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

amount = st.one_of(st.integers(min_value=1, max_value=60),
                   st.decimals(min_value="0.01", max_value="40", places=2).map(lambda d: float(d)))


@st.composite
def formulas(draw) -> tuple[str, dict[str, float]]:
    """A valid formula and the amount of each element it states."""
    elements = draw(st.lists(st.sampled_from(SYMBOLS), min_size=1, max_size=5, unique=True))
    parts, amounts = [], {}
    for el in elements:
        a = draw(amount)
        written = "" if a == 1 else (str(int(a)) if float(a).is_integer() else f"{a:g}")
        parts.append(el + written)
        amounts[el] = float(written) if written else 1.0
    return "".join(parts), amounts


@SETTINGS
@given(formulas())
def test_valid_formulas_round_trip(case):
    text, amounts = case
    comp = parse_composition(text)
    got = {el.symbol: amt for el, amt in comp.element_composition.items()}
    assert set(got) == set(amounts)
    for el, a in amounts.items():
        assert math.isclose(got[el], a, rel_tol=1e-9)
    # The fast path used by prediction reads the same amounts.
    assert {k: pytest.approx(v) for k, v in element_amounts(text).items()} == amounts


@SETTINGS
@given(st.lists(formulas(), min_size=1, max_size=12))
def test_valid_formulas_featurize_finitely_in_any_batch(cases):
    texts = [t for t, _ in cases]
    res = featurize_compositions(texts, errors="collect")
    assert res.failures == []
    assert res.rows.tolist() == list(range(len(texts)))
    assert res.features.shape == (len(texts), 145)
    # NaN is allowed where Magpie lacks element data, never inf.
    assert not np.isinf(res.features).any()
    # Each row's features do not depend on the batch it is in.
    alone = featurize_compositions([texts[-1]]).features[0]
    np.testing.assert_allclose(res.features[-1], alone, rtol=1e-12, equal_nan=True)


@SETTINGS
@given(formulas(), st.sampled_from([" ", "\t", "\n", "\r\n", "\u00a0\u2009"]), formulas())
def test_two_formulas_joined_by_whitespace_are_refused(a, ws, b):
    text = a[0] + ws + b[0]
    # pymatgen's own "Fe2 O3" (every token one element with its amount) is one formula, accepted.
    assume(not all(re.fullmatch(r"[A-Z][a-z]?\d+(?:\.\d+)?", t) for t in text.split()))
    res = featurize_compositions([text])
    assert len(res.rows) == 0 and len(res.failures) == 1
    assert "whitespace" in res.failures[0].reason and res.failures[0].input == text


junk = st.one_of(
    st.text(max_size=30),
    st.text(alphabet="()[]{}0123456789.-+*/ ·HeOFeXxQq", max_size=30),
    st.builds(lambda n: "(" * n + "Fe" + ")" * n, st.integers(0, 40)),
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(),
    st.binary(max_size=10),
)


@SETTINGS
@given(st.lists(junk, min_size=1, max_size=15))
def test_junk_never_crashes_and_every_bad_row_is_named(items):
    try:
        res = featurize_compositions(items, errors="collect")
    except InvalidInputError:
        return  # e.g. the whole batch is not a sequence of formulas: named, not a crash
    failed = {f.row: f for f in res.failures}
    # Every row is accounted for exactly once, featurized or named with a reason.
    assert sorted(list(res.rows) + list(failed)) == list(range(len(items)))
    for r, f in failed.items():
        assert f.input is items[r] or f.input == items[r] or (isinstance(f.input, float) and math.isnan(f.input))
        assert isinstance(f.reason, str) and f.reason
        assert str(f).startswith(f"row {r} ")
    assert not np.isinf(res.features).any()


@SETTINGS
@given(st.text(max_size=40))
def test_parse_composition_raises_only_invalid_input(text):
    assume(text.strip())
    try:
        comp = parse_composition(text)
    except InvalidInputError as e:
        assert e.input == text and e.reason
        return
    # Whatever parses has positive, finite amounts of known elements and no whitespace inside.
    assert not any(ch.isspace() for ch in text.strip())
    assert all(math.isfinite(v) and v > 0 for v in comp.values())
