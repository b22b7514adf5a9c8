"""The server's request batcher: merged requests never fail each other (issue 16)."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("kserve", reason="the serving tests run in .venv-serve (`make test` runs them there)")


def test_a_bad_request_merged_with_a_good_one_fails_alone():
    """A valid ["NaCl", "MgO"] got HTTP 500 naming "rows 2" when merged with another client's bad row."""
    from irnet_hub.prediction_table import PredictionTable
    from irnet_hub.serving.model import _Batcher

    started, release, calls = threading.Event(), threading.Event(), []

    def predict_rows(values):
        calls.append(list(values))
        if values == ["slow"]:
            started.set()
            release.wait(10)
        bad = [i for i, v in enumerate(values) if v == "BAD"]
        if bad:
            raise ValueError(f"non-finite output for rows {bad}")
        n = len(values)
        return PredictionTable(list(values), [len(v) for v in values], [None] * n, [""] * n, [""] * n, "", "m")

    batcher = _Batcher(predict_rows, max_rows=100, name="test-batcher")
    first = batcher.submit(["slow"])
    assert started.wait(10)  # the thread is busy: the next two requests wait and are merged
    good, bad = batcher.submit(["NaCl", "MgO"]), batcher.submit(["BAD"])
    release.set()
    assert first.result(10).prediction.tolist() == [4]
    assert good.result(10).formula == ["NaCl", "MgO"]  # answered, with its own rows only
    assert good.result(10).prediction.tolist() == [4, 3]
    with pytest.raises(ValueError, match=r"rows \[0\]"):  # the bad request's own row numbers
        bad.result(10)
    assert calls[1] == ["NaCl", "MgO", "BAD"]  # they were merged, then predicted apart
