"""The ``irnet`` command line: one command per user task, each a few lines over the Python API.

Every irnet-hub error becomes a one-line (or one-per-input) message on stderr
and the exit code of its kind in :data:`EXIT_CODES`, never a traceback. Heavy
libraries are imported inside commands so ``irnet --help`` stays fast.
"""

from __future__ import annotations

import os
import re
import sys

import click

from irnet_hub.featurize.specs import SPECS
from irnet_hub.constants import DEFAULT_FEATURIZER, FEATURIZERS
from irnet_hub.errors import (
    BatchInputError,
    IntegrityError,
    InvalidInputError,
    IrnetError,
    MissingDependencyError,
    RemoteError,
    UnsupportedModelError,
)
from irnet_hub.files import resolve_output

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's banner out of the output

# The one exit-code table (documented in README.md). Looked up in this order, so the more
# specific kinds (which also derive from InvalidInputError) win over plain bad input.
EXIT_CODES: tuple[tuple[type[IrnetError], int], ...] = (
    (MissingDependencyError, 3),  # an optional dependency is not installed
    (RemoteError, 4),  # Hugging Face Hub, DLHub or Globus failed or could not be reached
    (IntegrityError, 5),  # a file does not match the sha256 it is pinned to
    (UnsupportedModelError, 6),  # a model format (layer, irnet.json schema) this version cannot read
    (InvalidInputError, 2),  # bad user input: formula, file, option (BatchInputError names every row)
    (IrnetError, 1),  # any other irnet-hub error
)


def exit_code(error: IrnetError) -> int:
    """The CLI exit code of an irnet-hub error (see :data:`EXIT_CODES`)."""
    return next(code for kind, code in EXIT_CODES if isinstance(error, kind))


def install_sigterm_exit() -> None:
    """SIGTERM ends the command like Ctrl-C does: ``finally`` blocks run, so temporary files and
    folders (an output being written, a model being saved) are removed, never left behind."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


class _Group(click.Group):
    """A click group that reports irnet-hub errors as one message and an exit code, not a traceback."""

    def invoke(self, ctx: click.Context):
        import warnings

        # Warnings for the user (irnet's own or a library's) as one line, without source locations.
        warnings.showwarning = lambda message, *args, **kwargs: click.echo(f"Warning: {message}", err=True)
        install_sigterm_exit()
        try:
            return super().invoke(ctx)
        except IrnetError as e:  # BatchInputError lists every bad row
            click.echo(f"Error: {e}", err=True)
            sys.exit(exit_code(e))
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except ImportError as e:  # a core install without the extra this command needs: say which
            from irnet_hub.extras import as_missing_dependency

            missing = as_missing_dependency(e)
            if missing is None:
                raise
            click.echo(f"Error: {missing}", err=True)
            sys.exit(exit_code(missing))
        except Exception as e:  # a bug: one line and exit 1 (IRNET_DEBUG=1 re-raises it for a report)
            if os.environ.get("IRNET_DEBUG"):
                raise
            click.echo(f"Error: internal error {type(e).__name__}: {e} (please report it)", err=True)
            sys.exit(1)


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


from irnet_hub.cli_options import echo_json as _echo_json  # noqa: E402

from irnet_hub.cli_options import force_option as _force  # noqa: E402
from irnet_hub.cli_options import no_verify_option as _no_verify  # noqa: E402


@main.command()
@click.argument("data", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="CSV (or .parquet) to write.")
@click.option("--featurizer", type=click.Choice(FEATURIZERS), default=DEFAULT_FEATURIZER, show_default=True,
              help="; ".join(f"{s.name}: {s.phrase().removeprefix('the ')}" for s in SPECS.values()) + ".")
@click.option("--skip-invalid", is_flag=True, help="Featurize the valid rows and list the invalid ones, instead of stopping.")
@_force
def featurize(data: str, output: str, featurizer: str, skip_invalid: bool, force: bool) -> None:
    """Compute features for DATA: a CSV with a 'formula' column, or a structures JSON.

    Output rows keep the input's row order and carry its 'formula' (and
    'target', if present) next to the features.
    """
    from irnet_hub.featurize import get_featurizer
    from irnet_hub.preprocessing import formula_of
    from irnet_hub.tables import load_table

    resolve_output(output, force=force)  # a bad -o is reported before any work
    feat = get_featurizer(featurizer)
    table = load_table(data, feat.input_kind, target=None)
    res = feat.featurize(table.inputs, errors="skip")
    if res.failures and (not skip_invalid or len(res.rows) == 0):
        # --skip-invalid with no valid row left is a failure too: nothing is written.
        raise BatchInputError(res.failures)
    df = res.to_frame()
    df.insert(0, "formula", [formula_of(table.inputs[i]) for i in res.rows])
    if table.targets is not None:
        df.insert(1, "target", table.targets[res.rows])
    from irnet_hub.prediction_io import write_frame

    write_frame(df, output, force=force)
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
@click.option("--featurizer", type=click.Choice(FEATURIZERS), default=DEFAULT_FEATURIZER, show_default=True)
@click.option("--architecture", "-a", default=None,
              help="plain-17/24/48, srnet-17/24/48, irnet-17/24/48, a width factor such as irnet-17/4, or a string "
                   "such as '1024BARx4-512BARx3-1'. Default: irnet-17, or the --init-from model's.")
@click.option("--members", default=1, show_default=True,
              help="Networks trained side by side (an ensemble): the prediction is their mean, and 3 or more also "
                   "give prediction_std (their spread, calibrated on the validation rows).")
@click.option("--recipe", metavar="NAME",
              help="Train with a zoo recipe's settings (e.g. mp-bulk-modulus): its network width, members, target "
                   "transform, warm-up + cosine schedule (no early stopping), epochs, batch size, learning rate and "
                   "featurizer. --architecture, --members, --epochs, --batch-size, --lr, --seed and --featurizer "
                   "given on the command line override the recipe's.")
@click.option("--rule", "rules", multiple=True, type=click.Choice(["non-negative", "elements-are-zero", "none"]),
              help="Output rule predictions obey (repeatable): non-negative clamps at 0, elements-are-zero gives a "
                   "pure element exactly 0 (a formation energy); 'none' for neither. Each is checked against the "
                   "training targets first. Default: suggested by --target-name, dropped where a training target "
                   "contradicts it; the card states the rules.")
@click.option("--init-from", "init_from", metavar="MODEL",
              help="Start from a trained model's weights (a registered name such as oqmd-bandgap, or a model "
                   "directory): transfer learning from a larger data set.")
@click.option("--epochs", default=1000, show_default=True)
@click.option("--batch-size", default=64, show_default=True)
@click.option("--lr", "learning_rate", default=1e-4, show_default=True)
@click.option("--patience", default=200, show_default=True, help="Early-stopping patience on validation MAE.")
@click.option("--weight-decay", default=0.0, show_default=True, help="AdamW weight decay (0: plain Adam).")
@click.option("--seed", default=0, show_default=True)
@click.option("--resume", is_flag=True, help="Continue an interrupted run in OUT from its last checkpoint.")
@click.option("--json", "as_json", is_flag=True, help="Print the model's metadata as JSON.")
def train(train_data, out_dir, val_data, val_fraction, test_data, target_name, unit, featurizer, architecture,
          members, recipe, rules, init_from, epochs, batch_size, learning_rate, patience, weight_decay, seed, resume,
          as_json) -> None:
    """Train a network on TRAIN_DATA (CSV 'formula,target') and write a model directory.

    With --val, a quick RandomForest on the same features is fitted too, and its validation
    MAE is printed next to the network's (and recorded as the model's baseline).
    """
    from irnet_hub.training import train as train_fn

    config = None
    if recipe is not None:
        from irnet_hub.zoo import Job, get_recipe

        ctx = click.get_current_context()
        given = {p for p in ("architecture", "members", "epochs", "batch_size", "learning_rate", "seed", "featurizer")
                 if ctx.get_parameter_source(p).name == "COMMANDLINE"}  # fmt: skip
        job = Job.from_recipe(get_recipe(recipe), seed=seed if "seed" in given else 0)
        mine = {"architecture": architecture, "members": members, "epochs": epochs, "batch_size": batch_size,
                "lr": learning_rate}  # fmt: skip
        config = Job.from_dict({**job.to_dict(), **{k: v for k, v in mine.items()
                                                   if (k if k != "lr" else "learning_rate") in given}}).config()
        if "featurizer" not in given:
            featurizer = job.featurizer
    info = train_fn(
        train_data, out_dir, val_data=val_data, val_fraction=val_fraction, test_data=test_data,
        target_name=target_name, unit=unit, featurizer=featurizer, architecture=architecture, members=members,
        init_from=init_from, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, patience=patience,
        weight_decay=weight_decay, seed=seed, resume=resume, progress=not as_json, config=config,
        output_rules={"non_negative": "non-negative" in rules, "elements_are_zero": "elements-are-zero" in rules}
        if rules else None,
    )
    if as_json:
        _echo_json({k: info[k] for k in ("name", "architecture", "metrics", "hyperparameters", "data")})
    else:
        m = info["metrics"]
        line = f"validation MAE {m['val']['mae']:.4g} {unit}".rstrip()
        if "test" in m:
            line += f", test MAE {m['test']['mae']:.4g} {unit}".rstrip()
        click.echo(f"model written to {out_dir}: {line}")
        rf = (info.get("baseline") or {}).get("val")
        if rf:
            ours, theirs = m["val"]["mae"], rf["mae"]
            verdict = f"{(1 - ours / theirs) * 100:.0f} % below" if ours < theirs else f"{(ours / theirs - 1) * 100:.0f} % above"
            click.echo(f"RandomForest on the same features (quick: 100 trees, "
                       f"{info['baseline']['train_rows']:,} training rows): validation MAE "
                       f"{theirs:.4g} {unit}; the network is {verdict} it".replace("  ", " "))  # fmt: skip


@main.command()
@click.argument("model_dir", type=click.Path())
@click.option("--data", required=True, type=click.Path(dir_okay=False), help="CSV 'formula,target' to score.")
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object with the metrics.")
@click.option("--plots", "plots_dir", type=click.Path(file_okay=False), help="Write parity.png and error_cdf.png here.")
@_no_verify
def evaluate(model_dir: str, data: str, as_json: bool, plots_dir: str | None, no_verify: bool) -> None:
    """Score MODEL_DIR on labelled DATA: MAE, RMSE, R^2, n, 90th-percentile error."""
    from irnet_hub.evaluation import evaluate as evaluate_fn

    m = evaluate_fn(model_dir, data, plots_dir=plots_dir, verify=not no_verify)
    if as_json:
        _echo_json(m)
        return
    unit = m["unit"]
    click.echo(f"{m['model']} on {m['data']} ({m['n']} rows, {m['n_skipped']} skipped)")
    for key in ("mae", "rmse", "p90_abs_error"):
        click.echo(f"  {key:14s} {m[key]:.4g} {unit}")
    click.echo(f"  {'r2':14s} {m['r2']:.4f}" if m["r2"] == m["r2"] else f"  {'r2':14s} undefined (constant targets)")
    for name, path in m.get("plots", {}).items():
        click.echo(f"  {name} plot: {path}")


@main.command()
@click.argument("train_data", type=click.Path(dir_okay=False))
@click.option("--val", "val_data", type=click.Path(dir_okay=False), help="Validation CSV (model selection).")
@click.option("--val-fraction", default=0.1, show_default=True)
@click.option("--test", "test_data", type=click.Path(dir_okay=False), help="Test CSV, scored with the selected forest.")
@click.option("--featurizer", type=click.Choice(FEATURIZERS), default=DEFAULT_FEATURIZER, show_default=True)
@click.option("--n-estimators", default="100,200", show_default=True, help="Comma-separated grid.")
@click.option("--max-features", default="0.33,1.0", show_default=True, help="Comma-separated grid (fractions).")
@click.option("--min-samples-leaf", default="1,3", show_default=True, help="Comma-separated grid.")
@click.option("--seed", default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object.")
def baseline(train_data, val_data, val_fraction, test_data, featurizer, n_estimators, max_features,
             min_samples_leaf, seed, as_json) -> None:
    """RandomForest reference model (the paper's baseline) on the same features and split."""
    from irnet_hub.random_forest import baseline as baseline_fn, parse_grid

    grid = {
        "n_estimators": parse_grid(n_estimators, int, "--n-estimators"),
        "max_features": parse_grid(max_features, float, "--max-features"),
        "min_samples_leaf": parse_grid(min_samples_leaf, int, "--min-samples-leaf"),
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
    """The quick-start job: predict a few formulas with the default model (oqmd-formation-enthalpy)."""
    from irnet_hub.demo import run_demo

    run_demo(echo=click.echo)


@main.group()
def servable() -> None:
    """Build the folder that gets published (Keras HF layout, SavedModel, model card, DLHub description)."""


@servable.command("build")
@click.argument("model_dir", type=click.Path())
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Servable folder to write.")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it already holds files.")
@_no_verify
def servable_build(model_dir: str, out_dir: str, overwrite: bool, no_verify: bool) -> None:
    """Build the servable of MODEL_DIR in OUT: what `irnet publish` uploads."""
    from irnet_hub.publish.servable import build_servable

    path = build_servable(model_dir, out_dir, overwrite=overwrite, verify=not no_verify)
    click.echo(f"servable written to {path}")


@main.command()
@click.argument("model_dir", type=click.Path())
@click.option("--hf-repo", metavar="ORG/NAME", help="Upload to this Hugging Face Hub model repository.")
@click.option("--private", is_flag=True, help="Create the Hub repository as private (if it does not exist yet).")
@click.option("--revision", help="Hub branch to upload to (created from main if missing).")
@click.option("--dlhub", is_flag=True, help="Publish to DLHub instead (Globus login).")
def publish(model_dir: str, hf_repo: str | None, private: bool, revision: str | None, dlhub: bool) -> None:
    """Publish MODEL_DIR to the Hugging Face Hub (--hf-repo) or to DLHub (--dlhub).

    \b
    The Hub token comes from HF_TOKEN or `hf auth login`; it is never printed.
      irnet publish my-model --hf-repo my-lab/irnet-bulk-modulus
      irnet publish my-model --dlhub
    """
    if bool(hf_repo) == dlhub:
        raise InvalidInputError(model_dir, "choose one destination: --hf-repo ORG/NAME or --dlhub")
    if dlhub and (private or revision):
        raise InvalidInputError(model_dir, "--private and --revision apply to --hf-repo only")
    if hf_repo:
        from irnet_hub.publish.hf import publish_hf

        url = publish_hf(model_dir, hf_repo, private=private, revision=revision)
        click.echo(f"published to {url}")
        commit = url.rstrip("/").rsplit("/", 1)[-1]
        if re.fullmatch(r"[0-9a-f]{40}", commit):  # pin it: a branch moves, a commit does not
            click.echo(f"commit {commit}: load exactly this version with irnet_hub.load({hf_repo!r}, "
                       f"revision={commit!r}) or --revision {commit}")
    else:
        from irnet_hub.publish.dlhub import publish_dlhub

        task = publish_dlhub(model_dir)
        click.echo(f"submitted to DLHub: {task}")


# --- prediction (NumPy inference: no TensorFlow import); list / info / pull are in hub.commands ---


@main.command()
@click.argument("model")
@click.argument("formulas", nargs=-1)
@click.option("-i", "--input", "input_files", multiple=True, type=click.Path(dir_okay=False),
              help="CSV with a 'formula' column, or - for standard input (one formula per line, or a CSV); for "
                   "structure models CIF/POSCAR/pymatgen JSON files (repeatable).")
@click.option("--column", metavar="NAME",
              help="The --input CSV column holding the formulas (default: the first of formula, composition, "
                   "formula_pretty).")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write predictions here (JSON for *.json, else CSV) instead of printing them.")
@click.option("--json", "fmt", flag_value="json", help="JSON list of {row, formula, prediction, unit, model, in_domain, ...}.")
@click.option("--csv", "fmt", flag_value="csv", help="CSV with the same columns.")
@click.option("--skip-invalid", is_flag=True, help="Predict the valid inputs and list the invalid ones on stderr.")
@click.option("--structure-timeout", type=click.FloatRange(0.1), metavar="SECONDS",
              help="Structure models: give up on a structure after this long (its row fails; see --skip-invalid).")
@click.option("--revision", help="Hub revision of a registered model.")
@click.option("--remote", metavar="URL|dlhub",
              help="Predict on a model server (http://HOST:PORT, started with `irnet serve`) or on DLHub.")
@click.option("--token-file", type=click.Path(dir_okay=False), help="File holding the bearer token for --remote URL.")
@click.option("--timeout", default=30.0, show_default=True, help="Seconds per request to --remote URL.")
@click.option("--retries", default=2, show_default=True, help="Retries of a failed connection to --remote URL.")
@_no_verify
@_force
def predict(model, formulas, input_files, column, output, fmt, skip_invalid, structure_timeout, revision, remote,
            token_file, timeout, retries, no_verify, force) -> None:
    """Predict with MODEL (a registered name or a model directory) for FORMULA... or --input files.

    Invalid inputs stop the command (exit code 2, each one named on stderr,
    nothing written) unless --skip-invalid is given. With --remote URL, MODEL
    is the name the server serves it under; the same table comes back, and an
    unreachable server exits with code 4.

    Structure models tessellate each cell (Voronoi): about 1 s for 16 sites,
    about a minute for 128, more for 250 (benchmarks/RESULTS_structure_cells.md);
    a progress bar shows for 10+ structures or any cell of 64+ sites, and
    --structure-timeout bounds the time per structure.
    """
    from irnet_hub.loading import load
    from irnet_hub.prediction_io import format_predictions, read_inputs, write_predictions

    if bool(formulas) == bool(input_files):
        raise InvalidInputError(list(formulas) + list(input_files), "give formulas as arguments or --input files (one of the two)")
    if output:
        resolve_output(output, force=force)  # a bad -o is reported before any work
    if remote == "dlhub":
        # MODEL is a published DLHub servable, OWNER/NAME; the same table comes back.
        from irnet_hub.publish.dlhub import run_remote

        if revision:
            raise InvalidInputError(revision, "--revision applies to local models, not to --remote dlhub")
        items = read_inputs(input_files, "composition", column) if input_files else list(formulas)
        from irnet_hub.predictor import PredictionResult

        table = run_remote(model, items, errors="skip" if skip_invalid else "raise")
        result = PredictionResult(table, table.attrs.get("failures", []))
        df, failures = result.predicted, result.failures  # as below: the predicted rows; skipped ones on stderr
    else:  # a local model, or one on a model server (--remote URL): the same table either way
        from irnet_hub.serving.client import read_token_file

        token = read_token_file(token_file) if token_file else None
        remote_args = {"remote": remote, "token": token, "timeout": timeout, "retries": retries} if remote else {}
        predictor = load(model, revision, verify=not no_verify, **remote_args)
        if structure_timeout is not None:
            if remote or predictor.input_kind != "structure":
                raise InvalidInputError(model, "--structure-timeout applies to local structure models only "
                                               "(a server sets its own: irnet serve --structure-timeout)")
            predictor.featurize_options["timeout"] = structure_timeout
        items = read_inputs(input_files, predictor.input_kind, column) if input_files else list(formulas)
        result = predictor.predict_result(items, errors="skip" if skip_invalid else "raise")
        # The CLI writes the predicted rows (with their input row numbers); skipped ones go to stderr.
        df, failures = result.predicted, result.failures
    if failures and len(df) == 0:
        # --skip-invalid with every row invalid: a failure (exit 2), and nothing is written.
        raise BatchInputError(failures)
    for failure in failures:
        click.echo(f"skipped {failure}", err=True)
    if output:
        write_predictions(df, output, fmt, force=force)
        click.echo(f"wrote {len(df)} predictions to {output}", err=True)
    else:
        click.echo(format_predictions(df, fmt or "table").rstrip("\n"))


from irnet_hub.hub.commands import cache as _cache, info as _info, list_cmd as _list, pull as _pull  # noqa: E402
from irnet_hub.hub.commands import register as _register  # noqa: E402
for _command in (_list, _info, _pull, _register, _cache):  # irnet list/info/pull/register/cache
    main.add_command(_command)

from irnet_hub.serving.commands import serve as _serve  # noqa: E402  (irnet serve: the V2 model server)
main.add_command(_serve)


from irnet_hub.stability.commands import screen as _screen  # noqa: E402  (irnet screen)
main.add_command(_screen)


if __name__ == "__main__":
    main()
