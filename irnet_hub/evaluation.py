"""Metrics and plots for a trained model on labelled data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from irnet_hub import artifact


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, R^2, n and the 90th percentile of the absolute error."""
    y_true = np.asarray(y_true, float).ravel()
    y_pred = np.asarray(y_pred, float).ravel()
    err = y_pred - y_true
    ss_tot = float(np.sum((y_true - y_true.mean()) ** 2))
    return {
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "r2": float(1.0 - np.sum(err**2) / ss_tot) if ss_tot > 0 else float("nan"),
        "n": int(len(y_true)),
        "p90_abs_error": float(np.percentile(np.abs(err), 90)),
        "max_abs_error": float(np.max(np.abs(err))),
    }


def predict_features(model_dir: str | Path, X: np.ndarray) -> np.ndarray:
    """Predictions of a model directory's network on raw features (stock Keras)."""
    from irnet_hub.training import fill_missing

    info = artifact.read_info(model_dir)
    model = artifact.load_keras_model(model_dir)
    Xf = fill_missing(X, np.asarray(info["scaler"]["feature_mean"]))
    return model.predict(Xf, batch_size=4096, verbose=0).ravel()


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
    from irnet_hub.tables import featurize_table, load_table

    info = artifact.read_info(model_dir)
    feat = info["featurizer"]
    table = load_table(data, feat["input_kind"])
    ft = featurize_table(table, feat["name"])
    if len(ft.X) == 0:
        from irnet_hub.errors import InvalidInputError

        raise InvalidInputError(table.source, "no valid rows to evaluate")
    pred = predict_features(model_dir, ft.X)
    out: dict[str, Any] = regression_metrics(ft.y, pred)
    out.update(
        model=info.get("name"),
        target=info["target"]["name"],
        unit=info["target"]["unit"],
        data=table.source,
        n_skipped=len(ft.failures),
    )
    if plots_dir is not None:
        out["plots"] = plot_results(ft.y, pred, plots_dir, unit=info["target"]["unit"], title=str(info.get("name", "")))
    return out


def plot_results(y_true, y_pred, out_dir: str | Path, *, unit: str = "", title: str = "") -> dict[str, str]:
    """Parity plot and cumulative distribution of absolute errors (the paper's Figure 5)."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    u = f" ({unit})" if unit else ""

    fig, ax = plt.subplots(figsize=(5, 5), dpi=120)
    lo, hi = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
    ax.scatter(y_true, y_pred, s=4, alpha=0.4, edgecolors="none")
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set(xlabel=f"DFT / reference{u}", ylabel=f"predicted{u}", title=f"{title} parity".strip(), xlim=(lo, hi), ylim=(lo, hi))
    fig.tight_layout()
    parity = out / "parity.png"
    fig.savefig(parity)
    plt.close(fig)

    err = np.sort(np.abs(y_pred - y_true))
    fig, ax = plt.subplots(figsize=(5, 4), dpi=120)
    ax.plot(err, np.arange(1, len(err) + 1) / len(err) * 100)
    ax.set(xlabel=f"absolute error{u}", ylabel="% of compounds", title=f"{title} error CDF".strip(), ylim=(0, 100))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    cdf = out / "error_cdf.png"
    fig.savefig(cdf)
    plt.close(fig)
    return {"parity": str(parity), "error_cdf": str(cdf)}
