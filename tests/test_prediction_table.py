"""The one prediction table: local, served (V2) and DLHub forms give the same frame, labels kept."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from irnet_hub.errors import RowFailure
from irnet_hub.prediction_table import FRAME_COLUMNS, PredictionTable

REPO = Path(__file__).resolve().parents[1]


def _wire(columns: dict) -> dict:
    """What a V2 JSON response carries: lists, NaN as null (KServe's encoder), numbers as JSON numbers."""
    out = {}
    for name, values in columns.items():
        values = np.asarray(values).tolist()
        out[name] = [None if isinstance(v, float) and not np.isfinite(v) else v for v in values]
    return json.loads(json.dumps(out))


@pytest.fixture(scope="module")
def table():
    """A real model's table: an ensemble (std), a rare element, an element (output rule), a bad row."""
    from irnet_hub.predictor import load_dir

    model = load_dir(REPO / "servables" / "oqmd-formation-enthalpy")
    inputs = pd.Series(["NaCl", "Xx2O", "Fe", "KrF2", "Fe2O3"], index=pd.Index(list("abcde"), name="id"))
    return inputs, model.predict_table(inputs, errors="skip")


def test_the_table_is_what_predict_returns(table):
    inputs, t = table
    from irnet_hub.predictor import load_dir

    frame = load_dir(REPO / "servables" / "oqmd-formation-enthalpy").predict(inputs, errors="skip")
    pd.testing.assert_frame_equal(t.to_frame(), frame)
    assert list(frame.columns) == list(FRAME_COLUMNS)
    assert frame.index.tolist() == list("abcde") and frame.index.name == "id"
    assert [f.row for f in t.failures] == [1] and t.note[1].startswith("skipped: ") and np.isnan(t.prediction[1])
    assert t.error == ["", t.failures[0].reason, "", "", ""]
    assert t.prediction[2] == 0.0 and t.std[2] == 0 and t.note[2].startswith("element")  # the output rule
    assert t.in_domain[3] is False and "Kr" in t.rare_elements[3]


def test_v2_round_trip_gives_the_same_frame(table):
    inputs, t = table
    back = PredictionTable.from_v2(_wire(t.to_v2()), list(inputs), list(inputs), unit=t.unit, model=t.model,
                                   with_std=True, with_domain=True, with_training=True, labels=inputs.index)
    got, want = back.to_frame(), t.to_frame()
    # float32 on the wire: the std is float32 already; predictions agree to float32's 2^-24 relative step
    np.testing.assert_allclose(got["prediction"], want["prediction"], rtol=2**-23, equal_nan=True)
    pd.testing.assert_frame_equal(got.drop(columns="prediction"), want.drop(columns="prediction"))
    assert [(f.row, f.input, f.reason) for f in back.failures] == [(f.row, f.input, f.reason) for f in t.failures]


def test_v2_refuses_what_a_broken_server_sends(table):
    inputs, t = table
    wire = _wire(t.to_v2())
    kw = dict(unit="eV", model="m", with_std=True, with_domain=True)
    short = {**wire, "prediction": wire["prediction"][:-1]}
    with pytest.raises(ValueError, match="returned 4 values of 'prediction' for 5 inputs"):
        PredictionTable.from_v2(short, list(inputs), list(inputs), **kw)
    nan = {**wire, "prediction": [None] * 5}
    with pytest.raises(ValueError, match="non-finite 'prediction'.*rows 0, 2, 3, 4"):
        PredictionTable.from_v2(nan, list(inputs), list(inputs), **kw)
    text = {**wire, "prediction_std": ["0.1"] * 5}
    with pytest.raises(ValueError, match="non-number for 'prediction_std'"):
        PredictionTable.from_v2(text, list(inputs), list(inputs), **kw)
    no_domain = {k: v for k, v in wire.items() if k != "in_domain"}
    with pytest.raises(ValueError, match="'in_domain'"):
        PredictionTable.from_v2(no_domain, list(inputs), list(inputs), **kw)


def test_dlhub_round_trip_and_assembly(table):
    inputs, t = table
    predicted = [i for i in range(len(t)) if not t.error[i]]
    records = json.loads(json.dumps(t.rows(0, 1).to_dlhub() + t.rows(2, 5).to_dlhub()))  # what DLHub returns
    part = PredictionTable.from_dlhub(records, model=t.model)
    whole = PredictionTable.assemble(list(inputs), predicted, part, t.failures, unit=part.unit, model=t.model,
                                     with_std=True, with_training=True, labels=inputs.index)
    got, want = whole.to_frame(), t.to_frame()
    np.testing.assert_allclose(got["prediction"], want["prediction"], rtol=1e-15, equal_nan=True)  # JSON float64
    pd.testing.assert_frame_equal(got.drop(columns="prediction"), want.drop(columns="prediction"))
    with pytest.raises(ValueError, match="non-number for 'prediction'"):
        PredictionTable.from_dlhub([{"formula": "NaCl", "prediction": "1.0"}], model="m")


def test_rows_renumber_failures_and_lengths_are_checked():
    t = PredictionTable(["A", "B", "C"], [1.0, np.nan, 3.0], [True, None, False], ["", "", "Kr"],
                        ["", "skipped: bad", ""], "eV", "m", failures=[RowFailure(1, "B", "bad")])
    tail = t.rows(1, 3)
    assert tail.formula == ["B", "C"] and [(f.row, f.reason) for f in tail.failures] == [(0, "bad")]
    assert tail.to_v2()["in_domain"].tolist() == [False, False]  # unknown goes out as "not known to be in domain"
    assert tail.to_frame()["in_domain"].isna().tolist() == [True, False]
    with pytest.raises(ValueError, match="other lengths"):
        PredictionTable(["A"], [1.0, 2.0], [None], [""], [""], "eV", "m")


def test_parsed_formula_shows_how_each_input_was_read():
    """Issue 16: CuSO4.5H2O was read as CuH2SO5.5 and nothing showed it; the parsed composition is echoed."""
    from pymatgen.core import Composition

    from irnet_hub.predictor import load_dir

    model = load_dir(REPO / "servables" / "oqmd-formation-enthalpy")
    df = model.predict(["CuSO4.5H2O", "Fe2 O3", "FeOFe", "Xx", Composition("Li2O")], errors="skip")
    assert df["parsed_formula"].tolist() == ["CuSO9H10", "Fe2O3", "Fe2O", "", "Li2O"]
    assert list(df.columns[:3]) == ["formula", "parsed_formula", "prediction"]
