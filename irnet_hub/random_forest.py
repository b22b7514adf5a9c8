"""The paper's reference model: a RandomForest on the same features and split."""

from __future__ import annotations

import functools
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from irnet_hub.constants import DEFAULT_FEATURIZER
from irnet_hub.errors import InvalidInputError
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
# Over this many training rows one standard setting (100 trees, a third of the features per
# split) is fitted instead of the grid, so that the zoo's large sets fit the 2-core budget.
LARGE_SET_ROWS = 20_000
LARGE_SET_GRID: dict[str, list[Any]] = {"n_estimators": [100], "max_features": [0.33], "min_samples_leaf": [1]}


def grid_for(n_train: int) -> dict[str, list[Any]]:
    """The grid searched for a training set of ``n_train`` rows (the zoo's rule)."""
    return DEFAULT_GRID if n_train <= LARGE_SET_ROWS else LARGE_SET_GRID


def search_grid(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    *,
    grid: dict[str, list[Any]] | None = None,
    seed: int = 0,
    n_jobs: int = -1,
    progress: bool = False,
) -> tuple[Any, dict[str, Any], list[dict[str, Any]], np.ndarray]:
    """The one grid search: fit a RandomForest per grid point on filled features, keep the best
    validation MAE. Returns (fitted forest, its params, one row per grid point with val_mae, the
    best forest's validation predictions: a multi-threaded forest may sum its trees in another
    order on a second ``predict``, so its validation metrics are taken from these)."""
    from sklearn.ensemble import RandomForestRegressor
    from tqdm.auto import tqdm

    grid = check_grid(dict(grid or DEFAULT_GRID))
    results, best = [], None
    for values in tqdm(list(itertools.product(*grid.values())), desc="RF grid", disable=not progress):
        params = dict(zip(grid, values))
        rf = RandomForestRegressor(random_state=seed, n_jobs=n_jobs, **params).fit(X_train, y_train)
        pred = rf.predict(X_val)
        val_mae = regression_metrics(y_val, pred)["mae"]  # the metric every report uses
        results.append({**params, "val_mae": val_mae})
        if best is None or val_mae < best[2]:
            best = (rf, params, val_mae, pred)
    return best[0], best[1], results, best[3]


QUICK_MAX_ROWS = 20_000


def quick_reference(
    X_train: np.ndarray, y_train: np.ndarray, X_val: np.ndarray, y_val: np.ndarray, *, seed: int = 0, n_jobs: int = -1
) -> dict[str, Any]:
    """A quick RandomForest on the same features (the large-set setting on at most
    :data:`QUICK_MAX_ROWS` training rows, seeded): what ``irnet train`` compares a network with.

    Returns its params, validation metrics and the number of training rows it saw.
    """
    rows = np.arange(len(X_train))
    if len(rows) > QUICK_MAX_ROWS:
        rows = np.sort(np.random.default_rng(seed).choice(rows, QUICK_MAX_ROWS, replace=False))
    mean = np.asarray(fit_scaler(X_train[rows], y_train[rows])["feature_mean"])
    _, params, _, pred = search_grid(fill_missing(X_train[rows], mean), y_train[rows], fill_missing(X_val, mean), y_val,
                                     grid=LARGE_SET_GRID, seed=seed, n_jobs=n_jobs)  # fmt: skip
    return {"params": params, "val": regression_metrics(y_val, pred), "train_rows": int(len(rows))}


def baseline(
    train_data: str | Path | pd.DataFrame,
    *,
    val_data: str | Path | pd.DataFrame | None = None,
    val_fraction: float = 0.1,
    test_data: str | Path | pd.DataFrame | None = None,
    featurizer: str = DEFAULT_FEATURIZER,
    grid: dict[str, list[Any]] | None = None,
    seed: int = 0,
    n_jobs: int = -1,
    progress: bool = False,
) -> dict[str, Any]:
    """Fit RandomForests over ``grid``, pick the best on validation MAE, report metrics.

    The split rules are those of :func:`irnet_hub.training.train` (same seed, same
    ``val_fraction``), so the two are comparable row for row.
    """
    from irnet_hub.featurize import get_featurizer

    grid = check_grid(grid or DEFAULT_GRID)
    spec = get_featurizer(featurizer).spec
    train_table = load_table(train_data, spec.input_kind)
    ftrain = _usable(featurize_table(train_table, featurizer), train_table.source, "training",
                     minimum=1 if val_data is not None else 2)
    if val_data is not None:
        val_table = load_table(val_data, spec.input_kind)
        fval = _usable(featurize_table(val_table, featurizer), val_table.source, "validation")
    else:
        tr, va = split_rows(len(ftrain.X), val_fraction, seed)
        fval = FeaturizedTable(ftrain.X[va], ftrain.y[va], [], [])
        ftrain = FeaturizedTable(ftrain.X[tr], ftrain.y[tr], [], ftrain.failures)
    # Missing features get the same training-mean fill as the network's inputs.
    mean = np.asarray(fit_scaler(ftrain.X, ftrain.y)["feature_mean"])
    fill = functools.partial(fill_missing, feature_mean=mean)

    rf, params, results, val_pred = search_grid(fill(ftrain.X), ftrain.y, fill(fval.X), fval.y, grid=grid,
                                                seed=seed, n_jobs=n_jobs, progress=progress)  # fmt: skip
    val_metrics = regression_metrics(fval.y, val_pred)
    out: dict[str, Any] = {"model": "RandomForestRegressor", "params": params, "val": val_metrics, "grid": results}
    if test_data is not None:
        test_table = load_table(test_data, spec.input_kind)
        ftest = _usable(featurize_table(test_table, featurizer), test_table.source, "test")
        out["test"] = regression_metrics(ftest.y, rf.predict(fill(ftest.X)))
    return out


def _usable(ft: FeaturizedTable, source: str, role: str, minimum: int = 1) -> FeaturizedTable:
    """The featurized table, or an InvalidInputError when too few rows are left to fit or score."""
    if len(ft.X) < minimum:
        why = (f" ({len(ft.failures)} invalid row(s), e.g. {ft.failures[0]})" if ft.failures
               else " (the file has no data rows)" if len(ft.X) == 0 else "")
        need = f"at least {minimum} valid rows" if minimum > 1 else "at least one valid row"
        extra = " (one for training, one held out for validation; or give --val)" if minimum > 1 else ""
        raise InvalidInputError(source, f"the {role} data need {need}{extra}; found {len(ft.X)}{why}")
    return ft


def parse_grid(text: str, cast, option: str) -> list:
    """A comma-separated grid option (``--n-estimators 100,200``) as a list of ``cast`` values."""
    try:
        values = [cast(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InvalidInputError(text, f"{option} takes comma-separated numbers") from None
    if not values:
        raise InvalidInputError(text, f"{option} needs at least one value")
    return values


def check_grid(grid: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """Refuse grid values a RandomForest cannot take, naming the option (before any featurization)."""
    import numbers

    rules = {
        "n_estimators": (lambda v: isinstance(v, numbers.Integral) and v >= 1, "an integer >= 1"),
        "min_samples_leaf": (lambda v: isinstance(v, numbers.Integral) and v >= 1, "an integer >= 1"),
        "max_features": (lambda v: isinstance(v, numbers.Real) and 0.0 < v <= 1.0, "a fraction in (0, 1]"),
    }
    for key, values in grid.items():
        if key not in rules:
            continue
        ok, what = rules[key]
        bad = [v for v in values if isinstance(v, bool) or not ok(v)]
        if bad:
            raise InvalidInputError(f"--{key.replace('_', '-')} {','.join(map(str, values))}",
                                    f"each value must be {what}; got {bad[0]!r}")
    return grid
