"""Scoring a model directory on labelled data (metrics and plots are in :mod:`irnet_hub.metrics`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from irnet_hub.errors import InvalidInputError
from irnet_hub.metrics import plot_results, regression_metrics
from irnet_hub.tables import load_table


# The metrics a record keeps per split.
METRIC_KEYS = ("mae", "rmse", "r2", "n", "p90_abs_error", "max_abs_error")
# What a model's metrics score, stated in its record and card (issue 17: one scoring path).
SCORED_OUTPUTS = ("the predictions `irnet predict` returns: the network's output (an ensemble's mean) with the "
                  "model's output rules applied")


def evaluate(
    model_dir: str | Path,
    data: str | Path | pd.DataFrame,
    *,
    plots_dir: str | Path | None = None,
    verify: bool = True,
) -> dict[str, Any]:
    """Metrics of a model (a model directory, a registered name or a Hugging Face repo id) on a
    ``formula,target`` CSV (or structures file).

    The predictions scored are exactly those ``irnet predict`` returns (:data:`SCORED_OUTPUTS`):
    cards, ``irnet train`` and ``irnet evaluate`` all score through here. Rows that cannot be
    featurized are left out and counted in ``n_skipped``. With ``plots_dir``, writes
    ``parity.png`` and ``error_cdf.png`` there.
    """
    from irnet_hub.hub.cache import resolve
    from irnet_hub.predictor import Predictor

    # A registered name or Hub repo id resolves to its verified folder, as for `irnet predict`.
    folder, name = resolve(model_dir)
    # The integrity check comes first: a damaged folder must not produce metrics at all.
    predictor = Predictor.from_dir(folder, name=name, verify=verify or name is not None)
    return score(predictor, load_table(data, predictor.input_kind), plots_dir=plots_dir)


def score(predictor: Any, table: Any, *, plots_dir: str | Path | None = None) -> dict[str, Any]:
    """Metrics of ``predictor`` (a :class:`~irnet_hub.predictor.Predictor`) on a labelled table."""
    result = predictor.predict_result(table.inputs, errors="skip", progress=False)
    pred = result.predictions["prediction"].to_numpy(dtype=float)
    ok = np.isfinite(pred)
    if not ok.any():
        raise InvalidInputError(table.source, "no valid rows to evaluate")
    y = np.asarray(table.targets, dtype=float)[ok]
    out: dict[str, Any] = regression_metrics(y, pred[ok])
    record = predictor.record
    out.update(model=record.name, target=record.target.name, unit=record.target.unit, data=table.source,
               n_skipped=len(result.failures), scored=SCORED_OUTPUTS)  # fmt: skip
    if plots_dir is not None:
        out["plots"] = plot_results(y, pred[ok], plots_dir, unit=record.target.unit, title=record.name or "",
                                    property_name=record.target.name)  # fmt: skip
    return out


__all__ = ["evaluate", "score", "METRIC_KEYS", "SCORED_OUTPUTS"]
