"""The ``irnet`` command line: one command per user task, each a few lines over the Python API.

Every command turns an :class:`~irnet_hub.errors.InvalidInputError` into a
one-line (or one-per-input) message on stderr and exit code 2, never a
traceback. Heavy libraries are imported inside commands so ``irnet --help``
stays fast.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from irnet_hub.errors import BatchInputError, InvalidInputError

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's banner out of the output


class _Group(click.Group):
    """A click group that reports bad input cleanly instead of with a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except BatchInputError as e:
            click.echo(f"Error: {e}", err=True)
            sys.exit(2)
        except InvalidInputError as e:
            click.echo(f"Error: {e}", err=True)
            sys.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="irnet-hub")
def main() -> None:
    """irnet-hub: deep residual networks (IRNet, Jha et al. KDD 2019) for materials properties.

    \b
    Typical use:
      irnet featurize data.csv -o features.csv      # 145 Magpie attributes per formula
      irnet train train.csv -o my-model --val val.csv --target-name "band gap" --unit eV
      irnet evaluate my-model --data test.csv --json --plots plots/
      irnet baseline train.csv --val val.csv --test test.csv
    """


def _echo_json(obj) -> None:
    click.echo(json.dumps(obj, indent=None, default=str))


@main.command()
@click.argument("data", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="CSV (or .parquet) to write.")
@click.option("--featurizer", type=click.Choice(["magpie145", "ward2017"]), default="magpie145", show_default=True,
              help="magpie145: 145 composition attributes; ward2017: Voronoi structure + composition attributes.")
@click.option("--skip-invalid", is_flag=True, help="Featurize the valid rows and list the invalid ones, instead of stopping.")
def featurize(data: str, output: str, featurizer: str, skip_invalid: bool) -> None:
    """Compute features for DATA: a CSV with a 'formula' column, or a structures JSON.

    Output rows keep the input's row order and carry its 'formula' (and
    'target', if present) next to the features.
    """
    import pandas as pd

    from irnet_hub.featurize import get_featurizer
    from irnet_hub.tables import formula_of, load_table

    spec, fn = get_featurizer(featurizer)
    table = load_table(data, spec.input_kind, target=None)
    res = fn(table.inputs, errors="collect")
    if res.failures and not skip_invalid:
        raise BatchInputError(res.failures)
    df = res.to_frame()
    df.insert(0, "formula", [formula_of(table.inputs[i]) for i in res.rows])
    if table.targets is not None:
        df.insert(1, "target", table.targets[res.rows])
    _write_frame(df, output)
    for f in res.failures:
        click.echo(f"skipped {f}", err=True)
    click.echo(f"wrote {len(df)} rows x {len(res.labels)} features to {output}", err=True)


@main.command()
@click.argument("train_data", type=click.Path(dir_okay=False))
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), required=True, help="Model directory to write.")
@click.option("--val", "val_data", type=click.Path(dir_okay=False), help="Validation CSV (early stopping).")
@click.option("--val-fraction", default=0.1, show_default=True, help="Held-out fraction of TRAIN_DATA when --val is not given.")
@click.option("--test", "test_data", type=click.Path(dir_okay=False), help="Optional test CSV, scored once after training.")
@click.option("--target-name", default="target", show_default=True, help="Property name, e.g. 'band gap'.")
@click.option("--unit", default="", help="Unit of the target, e.g. eV or GPa.")
@click.option("--featurizer", type=click.Choice(["magpie145", "ward2017"]), default="magpie145", show_default=True)
@click.option("--architecture", "-a", default="irnet-17", show_default=True,
              help="plain-17/24/48, srnet-17/24/48, irnet-17/24/48 or a string such as '1024BARx4-512BARx3-1'.")
@click.option("--epochs", default=1000, show_default=True)
@click.option("--batch-size", default=64, show_default=True)
@click.option("--lr", "learning_rate", default=1e-4, show_default=True)
@click.option("--patience", default=200, show_default=True, help="Early-stopping patience on validation MAE.")
@click.option("--weight-decay", default=0.0, show_default=True, help="AdamW weight decay (0: plain Adam).")
@click.option("--seed", default=0, show_default=True)
@click.option("--resume", is_flag=True, help="Continue an interrupted run in OUT from its last checkpoint.")
@click.option("--json", "as_json", is_flag=True, help="Print the model's metadata as JSON.")
def train(train_data, out_dir, val_data, val_fraction, test_data, target_name, unit, featurizer, architecture,
          epochs, batch_size, learning_rate, patience, weight_decay, seed, resume, as_json) -> None:
    """Train a network on TRAIN_DATA (CSV 'formula,target') and write a model directory."""
    from irnet_hub.train import train as train_fn

    info = train_fn(
        train_data, out_dir, val_data=val_data, val_fraction=val_fraction, test_data=test_data,
        target_name=target_name, unit=unit, featurizer=featurizer, architecture=architecture,
        epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, patience=patience,
        weight_decay=weight_decay, seed=seed, resume=resume, progress=not as_json,
    )
    if as_json:
        _echo_json({k: info[k] for k in ("name", "architecture", "metrics", "hyperparameters", "data")})
    else:
        m = info["metrics"]
        line = f"validation MAE {m['val']['mae']:.4g} {unit}".rstrip()
        if "test" in m:
            line += f", test MAE {m['test']['mae']:.4g} {unit}".rstrip()
        click.echo(f"model written to {out_dir}: {line}")


@main.command()
@click.argument("model_dir", type=click.Path())
@click.option("--data", required=True, type=click.Path(dir_okay=False), help="CSV 'formula,target' to score.")
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object with the metrics.")
@click.option("--plots", "plots_dir", type=click.Path(file_okay=False), help="Write parity.png and error_cdf.png here.")
def evaluate(model_dir: str, data: str, as_json: bool, plots_dir: str | None) -> None:
    """Score MODEL_DIR on labelled DATA: MAE, RMSE, R^2, n, 90th-percentile error."""
    from irnet_hub.evaluate import evaluate as evaluate_fn

    m = evaluate_fn(model_dir, data, plots_dir=plots_dir)
    if as_json:
        _echo_json(m)
        return
    unit = m["unit"]
    click.echo(f"{m['model']} on {m['data']} ({m['n']} rows, {m['n_skipped']} skipped)")
    for key in ("mae", "rmse", "p90_abs_error"):
        click.echo(f"  {key:14s} {m[key]:.4g} {unit}")
    click.echo(f"  {'r2':14s} {m['r2']:.4f}")
    for name, path in m.get("plots", {}).items():
        click.echo(f"  {name} plot: {path}")


@main.command()
@click.argument("train_data", type=click.Path(dir_okay=False))
@click.option("--val", "val_data", type=click.Path(dir_okay=False), help="Validation CSV (model selection).")
@click.option("--val-fraction", default=0.1, show_default=True)
@click.option("--test", "test_data", type=click.Path(dir_okay=False), help="Test CSV, scored with the selected forest.")
@click.option("--featurizer", type=click.Choice(["magpie145", "ward2017"]), default="magpie145", show_default=True)
@click.option("--n-estimators", default="100,200", show_default=True, help="Comma-separated grid.")
@click.option("--max-features", default="0.33,1.0", show_default=True, help="Comma-separated grid (fractions).")
@click.option("--min-samples-leaf", default="1,3", show_default=True, help="Comma-separated grid.")
@click.option("--seed", default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object.")
def baseline(train_data, val_data, val_fraction, test_data, featurizer, n_estimators, max_features,
             min_samples_leaf, seed, as_json) -> None:
    """RandomForest reference model (the paper's baseline) on the same features and split."""
    from irnet_hub.baseline import baseline as baseline_fn

    grid = {
        "n_estimators": _parse_grid(n_estimators, int, "--n-estimators"),
        "max_features": _parse_grid(max_features, float, "--max-features"),
        "min_samples_leaf": _parse_grid(min_samples_leaf, int, "--min-samples-leaf"),
    }
    r = baseline_fn(train_data, val_data=val_data, val_fraction=val_fraction, test_data=test_data,
                    featurizer=featurizer, grid=grid, seed=seed, progress=not as_json)
    if as_json:
        _echo_json(r)
        return
    click.echo(f"best RandomForest {r['params']}: validation MAE {r['val']['mae']:.4g}")
    if "test" in r:
        t = r["test"]
        click.echo(f"test: MAE {t['mae']:.4g}, RMSE {t['rmse']:.4g}, R^2 {t['r2']:.4f}, n {t['n']}")


@main.command()
def demo() -> None:
    """The quick-start job: predict a few formulas with the default model.

    Until a pretrained default model ships, trains a small IRNet on the
    Materials Project bulk-modulus set (the data folder must be reachable:
    IRNET_DATA_DIR) and predicts with it.
    """
    from irnet_hub.demo import run_demo

    run_demo(echo=click.echo)


def _parse_grid(text: str, cast, option: str) -> list:
    try:
        values = [cast(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InvalidInputError(text, f"{option} takes comma-separated numbers") from None
    if not values:
        raise InvalidInputError(text, f"{option} needs at least one value")
    return values


def _write_frame(df, output: str) -> None:
    """Write atomically: a temporary file renamed into place, so no half file is left."""
    out = Path(output)
    tmp = out.with_name(f".{out.name}.tmp")
    if out.suffix == ".parquet":
        df.to_parquet(tmp)
    else:
        df.to_csv(tmp, index=False)
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
