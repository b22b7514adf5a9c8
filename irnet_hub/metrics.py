"""Regression metrics, calibration metrics for ensemble uncertainties, and the paper's plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from irnet_hub.files import atomic_path


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


def calibrate_std_scale(members_pred: np.ndarray, y: np.ndarray) -> float:
    """The factor that makes std(members) x scale a calibrated 1-sigma error on ``y``.

    Chosen so that 68.3 % of |error| fall within one scaled std (the Gaussian
    fraction), i.e. the 68.3th percentile of |error| / std.
    """
    std = members_pred.std(axis=1)
    err = np.abs(members_pred.mean(axis=1) - y)
    ok = std > 0
    return float(np.quantile(err[ok] / std[ok], 0.683)) if ok.any() else 1.0


def calibration_metrics(y_true: np.ndarray, y_pred: np.ndarray, y_std: np.ndarray) -> dict[str, float]:
    """How well a predicted standard deviation describes the actual errors.

    ``coverage_1sigma``/``coverage_2sigma``: fraction of errors within 1 and 2
    predicted standard deviations (0.683 and 0.954 for Gaussian errors of
    exactly that spread); ``z_std``: standard deviation of ``error / std``
    (1 when calibrated; above 1 means the uncertainty is too small);
    ``nll``: mean Gaussian negative log-likelihood; ``miscalibration_area``:
    mean absolute gap between expected and observed coverage over 1 %..99 %
    central intervals; ``spearman_std_abs_error``: rank correlation between the
    std and the absolute error (does a larger std flag a larger error?).
    Rows with a zero or non-finite std are left out (``n``).
    """
    from scipy.stats import norm, spearmanr

    y_true = np.asarray(y_true, float).ravel()
    y_pred = np.asarray(y_pred, float).ravel()
    y_std = np.asarray(y_std, float).ravel()
    ok = np.isfinite(y_std) & (y_std > 0) & np.isfinite(y_true) & np.isfinite(y_pred)
    if not ok.any():
        return {"n": 0}
    err, std = (y_pred - y_true)[ok], y_std[ok]
    z = err / std
    levels = np.linspace(0.01, 0.99, 99)
    observed = np.array([np.mean(np.abs(z) <= norm.ppf(0.5 + p / 2)) for p in levels])
    return {
        "n": int(ok.sum()),
        "coverage_1sigma": float(np.mean(np.abs(z) <= 1.0)),
        "coverage_2sigma": float(np.mean(np.abs(z) <= 2.0)),
        "z_std": float(np.std(z)),
        "nll": float(np.mean(0.5 * np.log(2 * np.pi * std**2) + 0.5 * z**2)),
        "miscalibration_area": float(np.mean(np.abs(observed - levels))),
        "spearman_std_abs_error": float(spearmanr(std, np.abs(err)).statistic),
    }


# Above this many points the parity plot is a density plot (hexbin): a scatter of 50,000 points is a blot.
HEXBIN_ABOVE = 2000
# The parity axes span this central share of the values: one outlier must not squash the rest.
PARITY_RANGE_PERCENTILES = (0.5, 99.5)


def _parity_limits(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[float, float]:
    both = np.concatenate([y_true, y_pred])
    lo, hi = (float(v) for v in np.percentile(both, PARITY_RANGE_PERCENTILES))
    if hi <= lo:
        lo, hi = float(both.min()), float(both.max())
    pad = 0.05 * (hi - lo) if hi > lo else 1.0
    return lo - pad, hi + pad


def plot_results(y_true, y_pred, out_dir: str | Path, *, unit: str = "", title: str = "",
                 property_name: str = "") -> dict[str, str]:
    """Parity plot and cumulative distribution of absolute errors (the paper's Figure 5).

    ``y_pred`` should be what ``irnet predict`` returns (output rules applied), as
    :func:`irnet_hub.evaluation.score` passes it. The parity plot states MAE, R^2 and n, is a
    hexbin density above :data:`HEXBIN_ABOVE` points, and spans the 0.5-99.5 percentiles
    (points outside are counted on the plot). The error CDF has a log error axis.
    """
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    u = f" ({unit})" if unit else ""
    what = property_name or "value"
    m = regression_metrics(y_true, y_pred)

    fig, ax = plt.subplots(figsize=(5.2, 5), dpi=120)
    lo, hi = _parity_limits(y_true, y_pred)
    if len(y_true) > HEXBIN_ABOVE:
        inside = (y_true >= lo) & (y_true <= hi) & (y_pred >= lo) & (y_pred <= hi)
        hb = ax.hexbin(y_true[inside], y_pred[inside], gridsize=80, extent=(lo, hi, lo, hi), mincnt=1,
                       norm=LogNorm(), cmap="viridis", linewidths=0)  # fmt: skip
        fig.colorbar(hb, ax=ax, label="compounds per hexagon", shrink=0.8)
    else:
        ax.scatter(y_true, y_pred, s=6, alpha=0.5, edgecolors="none")
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    outside = int(np.sum((y_true < lo) | (y_true > hi) | (y_pred < lo) | (y_pred > hi)))
    text = f"MAE {m['mae']:.4g}{' ' + unit if unit else ''}\n$R^2$ {m['r2']:.3f}\nn = {m['n']:,}"
    if outside:
        text += f"\n{outside:,} outside the axes"
    ax.text(0.04, 0.96, text, transform=ax.transAxes, va="top", ha="left",
            bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85})  # fmt: skip
    ax.set(xlabel=f"reference {what}{u}", ylabel=f"predicted {what}{u}", title=f"{title} parity".strip(),
           xlim=(lo, hi), ylim=(lo, hi), aspect="equal")  # fmt: skip
    fig.tight_layout()
    parity = out / "parity.png"
    with atomic_path(parity) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)

    err = np.sort(np.abs(y_pred - y_true))
    fig, ax = plt.subplots(figsize=(5, 4), dpi=120)
    positive = err[err > 0]
    floor = float(positive.min()) if len(positive) else 1e-6
    ax.plot(np.maximum(err, floor), np.arange(1, len(err) + 1) / len(err) * 100)
    ax.axvline(m["mae"], color="k", ls="--", lw=1, label=f"MAE {m['mae']:.4g}{' ' + unit if unit else ''}")
    ax.set_xscale("log")
    if len(positive) > 1:  # from the 0.5th percentile: a few near-exact hits must not stretch the axis
        ax.set_xlim(left=float(np.percentile(positive, 0.5)))
    ax.set(xlabel=f"absolute error in {what}{u} (log scale)", ylabel="% of compounds with a smaller error",
           title=f"{title} error CDF".strip(), ylim=(0, 100))  # fmt: skip
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    cdf = out / "error_cdf.png"
    with atomic_path(cdf) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return {"parity": str(parity), "error_cdf": str(cdf)}


__all__ = ["regression_metrics", "calibrate_std_scale", "calibration_metrics", "plot_results"]
