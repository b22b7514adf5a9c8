"""Scoring a model directory on labelled data (metrics and plots are in :mod:`irnet_hub.metrics`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from irnet_hub import artifact
from irnet_hub.errors import InvalidInputError
from irnet_hub.metrics import plot_results, regression_metrics
from irnet_hub.preprocessing import fill_missing
from irnet_hub.tables import featurize_table, load_table


def predict_outputs(model_dir: str | Path, X: np.ndarray) -> np.ndarray:
    """All outputs of a model directory's network on raw features (stock Keras), shape (n, 1) or (n, 1 + k).

    Column 0 is the prediction (an ensemble's mean); the other columns of an ensemble are its members.
    """
    record = artifact.read_record(model_dir).require("scaler", source=str(model_dir))
    model = artifact.load_keras_model(model_dir)
    Xf = fill_missing(X, np.asarray(record.scaler.feature_mean))
    return model.predict(Xf, batch_size=4096, verbose=0)


def predict_features(model_dir: str | Path, X: np.ndarray) -> np.ndarray:
    """Predictions of a model directory's network on raw features (stock Keras)."""
    return predict_outputs(model_dir, X)[:, 0]


def evaluate(
    model_dir: str | Path,
    data: str | Path | pd.DataFrame,
    *,
    plots_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Metrics of a model directory on a ``formula,target`` CSV (or structures file).

    Rows that cannot be featurized are left out and counted in ``n_skipped``.
    With ``plots_dir``, writes ``parity.png`` and ``error_cdf.png`` there.
    """
    record = artifact.read_record(model_dir)
    table = load_table(data, record.featurizer.input_kind)
    ft = featurize_table(table, record.featurizer.name)
    if len(ft.X) == 0:
        raise InvalidInputError(table.source, "no valid rows to evaluate")
    pred = predict_features(model_dir, ft.X)
    out: dict[str, Any] = regression_metrics(ft.y, pred)
    out.update(
        model=record.name,
        target=record.target.name,
        unit=record.target.unit,
        data=table.source,
        n_skipped=len(ft.failures),
    )
    if plots_dir is not None:
        out["plots"] = plot_results(ft.y, pred, plots_dir, unit=record.target.unit, title=record.name or "")
    return out


__all__ = ["evaluate", "predict_features", "predict_outputs"]
