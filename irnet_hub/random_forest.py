"""The paper's reference model: a RandomForest on the same features and split."""

from __future__ import annotations

import functools
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from irnet_hub.tables import FeaturizedTable, featurize_table, load_table, split_rows
from irnet_hub.metrics import regression_metrics
from irnet_hub.preprocessing import fill_missing, fit_scaler

# Grid searched on the validation split. The IRNet paper tuned its RandomForest by
# grid search (Section 4.1.4); this grid covers the same knobs (forest size,
# features per split, leaf size) at a size that runs on a laptop.
DEFAULT_GRID: dict[str, list[Any]] = {
    "n_estimators": [100, 200],
    "max_features": [0.33, 1.0],
    "min_samples_leaf": [1, 3],
}


def baseline(
    train_data: str | Path | pd.DataFrame,
    *,
    val_data: str | Path | pd.DataFrame | None = None,
    val_fraction: float = 0.1,
    test_data: str | Path | pd.DataFrame | None = None,
    featurizer: str = "magpie145",
    grid: dict[str, list[Any]] | None = None,
    seed: int = 0,
    n_jobs: int = -1,
    progress: bool = False,
) -> dict[str, Any]:
    """Fit RandomForests over ``grid``, pick the best on validation MAE, report metrics.

    The split rules are those of :func:`irnet_hub.training.train` (same seed, same
    ``val_fraction``), so the two are comparable row for row.
    """
    from sklearn.ensemble import RandomForestRegressor
    from tqdm.auto import tqdm

    from irnet_hub.featurize import get_featurizer

    spec, _ = get_featurizer(featurizer)
    ftrain = featurize_table(load_table(train_data, spec.input_kind), featurizer)
    if val_data is not None:
        fval = featurize_table(load_table(val_data, spec.input_kind), featurizer)
    else:
        tr, va = split_rows(len(ftrain.X), val_fraction, seed)
        fval = FeaturizedTable(ftrain.X[va], ftrain.y[va], [], [])
        ftrain = FeaturizedTable(ftrain.X[tr], ftrain.y[tr], [], ftrain.failures)
    # Missing features get the same training-mean fill as the network's inputs.
    mean = np.asarray(fit_scaler(ftrain.X, ftrain.y)["feature_mean"])
    fill = functools.partial(fill_missing, feature_mean=mean)

    grid = grid or DEFAULT_GRID
    keys = list(grid)
    results, best = [], None
    for values in tqdm(list(itertools.product(*grid.values())), desc="RF grid", disable=not progress):
        params = dict(zip(keys, values))
        rf = RandomForestRegressor(random_state=seed, n_jobs=n_jobs, **params)
        rf.fit(fill(ftrain.X), ftrain.y)
        m = regression_metrics(fval.y, rf.predict(fill(fval.X)))
        results.append({**params, "val_mae": m["mae"]})
        if best is None or m["mae"] < best[1]["mae"]:
            best = (rf, m, params)
    rf, val_metrics, params = best
    out: dict[str, Any] = {"model": "RandomForestRegressor", "params": params, "val": val_metrics, "grid": results}
    if test_data is not None:
        ftest = featurize_table(load_table(test_data, spec.input_kind), featurizer)
        out["test"] = regression_metrics(ftest.y, rf.predict(fill(ftest.X)))
    return out
