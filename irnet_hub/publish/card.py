"""Model cards: a Hugging Face ``README.md`` rendered from a model's ``irnet.json``.

The YAML front matter is written by :class:`huggingface_hub.ModelCardData`,
so ``library_name``, ``tags``, ``license``, ``datasets`` and the
``model-index`` (one ``EvalResult`` per metric and split) follow the Hub's
schema exactly. The body says what the model is for, what it was trained on
(data set, split, citation), its architecture, its metrics next to the
RandomForest baseline and published anchors, its limitations, and how to cite.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Mapping

from irnet_hub.constants import MIN_ELEMENT_COUNT, PAPER_BIBTEX, PAPER_CITATION, PAPER_DOI
from irnet_hub.errors import InvalidInputError
from irnet_hub.publish.card_sections import (
    _anchor_mae,
    _depth,
    _ensemble_and_rules,
    _family,
    _fmt,
    _or_unknown,
    _source,
    _status,
    _transform_text,
)
from irnet_hub.featurize.specs import SPECS
from irnet_hub.record import ModelRecord, as_record

# Hugging Face license identifiers for the licences named in irnet_hub.data.
_HF_LICENSES = {"CC BY 4.0": "cc-by-4.0", "MIT": "mit", "Apache-2.0": "apache-2.0"}
# Metrics reported in the model-index, with their display names.
# (key in irnet.json metrics, metric type as Hugging Face `evaluate` names it, display name)
_METRICS = (("mae", "mae", "MAE"), ("rmse", "rmse", "RMSE"), ("r2", "r_squared", "R²"))
RARE_ELEMENT_COUNT = MIN_ELEMENT_COUNT  # the in-domain threshold the Predictor uses by default


def slug(text: str) -> str:
    """``'bulk modulus'`` -> ``'bulk-modulus'`` (Hub tags are lower-case, dash-separated)."""
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "property"


def dataset_entry(info: ModelRecord | Mapping[str, Any]):
    """The :class:`irnet_hub.data.Dataset` named by the record's ``data.dataset``, or ``None``."""
    from irnet_hub.data import DATASETS

    name = as_record(info).data.dataset
    return DATASETS.get(name) if name else None


def card_license(info: ModelRecord | Mapping[str, Any], license: str | None = None) -> str:
    """The card's license: given, else the training data's licence (weights derive from the data), else MIT."""
    if license:
        return license
    ds = dataset_entry(info)
    return _HF_LICENSES.get(ds.license, "other") if ds else "mit"


def card_data(info: ModelRecord | Mapping[str, Any], *, license: str | None = None, repo_id: str | None = None):
    """The :class:`huggingface_hub.ModelCardData` (front matter) for a model's record."""
    from huggingface_hub import EvalResult, ModelCardData

    record = as_record(info)
    prop = record.target.name or "target"
    unit = record.target.unit
    ds = dataset_entry(record)
    # The card's dataset: a Hub dataset id where the splits are on the Hub, otherwise their URL.
    dataset_id = ds.source if ds else (record.data.dataset or "custom")
    dataset_name = f"{ds.database} {ds.property}" if ds else str(dataset_id)
    featurizer = record.featurizer.name
    # The test split if the model was scored on one, else the validation split.
    split, scores = record.score()
    split = "validation" if split == "val" else split
    results = []
    for key, metric_type, label in _METRICS:
        value = scores.get(key)
        if value is None or not math.isfinite(float(value)):
            continue
        results.append(
            EvalResult(
                task_type="tabular-regression",
                task_name=f"{prop} regression",
                dataset_type=str(dataset_id),
                dataset_name=dataset_name,
                dataset_split=split,
                metric_type=metric_type,
                metric_name=f"{label} ({unit})" if unit and key != "r2" else label,
                metric_value=round(float(value), 6),
            )
        )
    tags = ["materials-science", "irnet", "regression", slug(prop), featurizer, "tabular-regression"]
    if record.featurizer.input_kind == "composition":
        tags.append("composition")
    return ModelCardData(
        library_name="keras",
        pipeline_tag="tabular-regression",
        license=card_license(record, license),
        tags=tags,
        datasets=[str(dataset_id)] if ds else None,
        metrics=[t for _, t, _ in _METRICS],
        model_name=repo_id or record.name,
        eval_results=results or None,
        **({"base_model": base} if (base := _base_model(record.hyperparameters.extras.get("init_from")))
           and not _continues_itself(record) else {}),  # the Hub's base_model names another model
    )


def _continues_itself(record: ModelRecord) -> bool:
    """Whether the model was trained further from the weights of an earlier version of itself."""
    return bool(record.name) and str(record.hyperparameters.extras.get("init_from") or "") == record.name


def _start_text(record: ModelRecord) -> str:
    init_from = record.hyperparameters.extras.get("init_from")
    if not init_from:
        return ""
    if _continues_itself(record):
        return f"; continued from the weights of the previously shipped `{init_from}` (a second warm-up + cosine cycle)"
    return f"; started from `{init_from}` (transfer learning)"


def _base_model(init_from: Any) -> str | None:
    """The Hub repo id a transfer model started from (``base_model`` in the card's metadata): a registered
    model's repo, or an ``org/name`` id as given; None for a local folder or no transfer."""
    if not init_from:
        return None
    from irnet_hub.hub.registry import get_entry

    text = str(init_from).removeprefix("hf://")
    try:
        return get_entry(text).repo_id
    except InvalidInputError:
        pass
    parts = text.split("/")
    return text if len(parts) == 2 and all(parts) and not Path(text).exists() else None


def render_card(
    info: ModelRecord | Mapping[str, Any],
    *,
    anchors: Mapping[str, Any] | None = None,
    license: str | None = None,
    repo_id: str | None = None,
) -> str:
    """Render the model card (``README.md`` text with YAML front matter) for a model's record.

    ``info`` is a :class:`~irnet_hub.record.ModelRecord` or ``irnet.json``
    contents. ``anchors`` maps a published model to its test MAE on the same
    data (a number, or a dict with ``mae`` and optionally ``note``); the
    record's ``anchors`` are used when not given. ``repo_id`` is the Hub
    repository the card is for.
    """
    record = as_record(info)
    data = card_data(record, license=license, repo_id=repo_id)
    body = _body(record, anchors if anchors is not None else record.anchors, repo_id)
    return f"---\n{data.to_yaml()}\n---\n\n{body}"


# --------------------------------------------------------------------------- body


def _body(record: ModelRecord, anchors: Mapping[str, Any], repo_id: str | None) -> str:
    name = record.display_name
    prop = record.target.name or "target"
    unit = record.target.unit
    unit_txt = f" ({unit})" if unit else ""
    feat = record.featurizer
    featurizer = feat.name
    spec = SPECS.get(featurizer)  # None for a featurizer this irnet-hub does not know
    composition = feat.input_kind == "composition"
    data = record.data
    ds = dataset_entry(record)
    hp = record.hyperparameters
    metrics = record.metrics
    arch = record.architecture
    depth = _depth(arch)
    where = repo_id or "ORG/NAME"
    inputs = "chemical formulas" if composition else "crystal structures (pymatgen `Structure`)"

    out: list[str] = []
    add = out.append
    add(f"# {name}: IRNet model for {prop}{unit_txt}\n")
    add(
        f"A deep residual regression network ({_family(arch).split(' (')[0]}, Jha et al., KDD 2019) that predicts "
        f"**{prop}**{unit_txt} from {inputs}, via the {feat.n_features or ''} "
        f"{spec.display_name if spec else featurizer} "
        f"attributes (`{featurizer}` v{feat.version}). Trained with irnet-hub, an implementation "
        f"of [IRNet](https://doi.org/{PAPER_DOI}) on Keras 3.\n"
    )

    add("## How to use\n")
    add("```python\nimport irnet_hub\nfrom huggingface_hub import snapshot_download\n")
    add(f'model = irnet_hub.load(snapshot_download("{where}"))   # any local copy of this folder works too')
    example = '["Fe2O3", "NaCl", "SiC"]' if composition else "[structure1, structure2]"
    add(f"model.predict({example})   # DataFrame: formula, prediction, unit, model, in_domain\n```\n")
    add(f"If `{name}` is in irnet-hub's model registry, `irnet_hub.load(\"{name}\")` and "
        f"`irnet predict {name} ...` fetch and verify it by name.\n")
    add(
        "The network alone loads with stock Keras, no irnet-hub import (it maps raw features, NaN replaced by "
        "the training mean stored in `irnet.json`, to the property in its unit):\n"
    )
    add(f'```python\nimport keras\nnet = keras.saving.load_model("hf://{where}")\n```\n')
    add(
        "`saved_model/` holds the same network as a TensorFlow SavedModel (signature `serving_default`, "
        f"float32 input `[None, {feat.n_features or 'F'}]`) for TF Serving; `dlhub.json` describes the "
        "formula -> property function for DLHub.\n"
    )

    add("## Intended use\n")
    add(
        f"Fast screening estimates of {prop} for {'compositions' if composition else 'structures'} similar to "
        "the training data, e.g. to rank candidates before DFT or experiment. It is not a substitute for "
        "calculation or measurement, and its error (below) should be weighed against the property differences "
        "that matter to you. Predictions carry an `in_domain` flag: false when an input contains an element "
        f"seen in fewer than {RARE_ELEMENT_COUNT} training compositions.\n"
    )

    add("## Training data and split\n")
    if ds:
        add(
            f"- Data set: **{data.dataset}**: {ds.property} ({ds.unit or 'dimensionless'}) from "
            f"{ds.database}, files `{ds.folder}`; source: {ds.citation}. Licence: {ds.license}."
        )
    elif data.dataset:
        add(f"- Data set: **{data.dataset}**")
    else:
        add("- Data set: user-supplied")
    add(f"- Training rows: {_or_unknown(data.n_train)} ({_source(data.train)})")
    add(f"- Validation rows: {_or_unknown(data.n_val)} ({_source(data.val)}), used for early stopping")
    if data.test:
        test_n = (metrics.get("test") or {}).get("n")
        add(f"- Test rows: {_or_unknown(test_n)} ({_source(data.test)}), scored once after training")
    split = data.split or {}
    if isinstance(split, str):  # a zoo recipe's description of how the split was made
        add(f"- Split: {split}")
    elif split:
        add(f"- Split: {split.get('kind', '?')}" + (f" (seed {split['seed']})" if "seed" in split else ""))
    for source in (data.all, data.structures):
        if source:
            add(f"- Source file (split by us): {_source(source)}")
    if data.n_skipped:
        add(f"- {data.n_skipped} training rows could not be featurized and were skipped")
    add("")

    add("## Architecture and training\n")
    add(f"- Family: {_family(arch)}")
    add(f"- Architecture: `{arch}`" + (f" ({depth} layers)" if depth else ""))
    if record.n_parameters:
        add(f"- Parameters: {int(record.n_parameters):,}")
    add(
        "- Inputs are standardized inside the network (a `Normalization` layer holding the training mean and "
        "variance) and the output is rescaled to the property's unit (`Rescaling`)."
    )
    schedule = hp.extras.get("schedule") if hp else None
    if schedule:
        add(
            f"- Optimizer {hp.optimizer or 'Adam'}, peak learning rate {_fmt(hp.learning_rate)}, {schedule}; batch "
            f"{_or_unknown(hp.batch_size)}, loss {(hp.loss or 'mae').upper()} (on the standardized "
            f"{_transform_text(record)}target); {_or_unknown(hp.epochs_run)} of {_or_unknown(hp.epochs_max)} epochs run, "
            f"weights of the epoch with the best validation MAE (epoch {_or_unknown(hp.extras.get('best_epoch'))})"
            + _start_text(record)
        )
    elif hp.to_dict():
        add(
            f"- Optimizer {hp.optimizer or 'Adam'}, learning rate {_fmt(hp.learning_rate)}, batch "
            f"{_or_unknown(hp.batch_size)}, loss {(hp.loss or 'mae').upper()}, early stopping on validation MAE "
            f"(patience {_or_unknown(hp.early_stopping_patience)}), {_or_unknown(hp.epochs_run)} of at most "
            f"{_or_unknown(hp.epochs_max)} epochs"
        )
    if record.seed is not None:
        add(f"- Seed: {record.seed}")
    versions = record.versions
    if versions:
        add("- Trained with " + ", ".join(f"{k} {v}" for k, v in versions.items() if k != "keras_backend")
            + (f" (Keras backend {versions['keras_backend']})" if "keras_backend" in versions else ""))
    add("")

    add("## Metrics\n")
    scored = record.extras.get("metrics_scored") if isinstance(record.extras, dict) else None
    add(f"Errors in {unit or 'the property unit'}" + (f"; scored on {scored}." if scored else ".") + "\n")
    add("| model | split | MAE | RMSE | R² | n |")
    add("|---|---|---|---|---|---|")
    for split_key, label in (("test", "test"), ("val", "validation")):
        m = metrics.get(split_key)
        if m:
            add(f"| this model | {label} | {_fmt(m.get('mae'))} | {_fmt(m.get('rmse'))} | {_fmt(m.get('r2'))} | {_fmt(m.get('n'))} |")
    baseline = record.baseline
    for split_key, label in (("test", "test"), ("val", "validation")):
        m = getattr(baseline, split_key) if baseline else None
        if m:
            add(f"| RandomForest baseline (same features and split) | {label} | {_fmt(m.get('mae'))} | "
                f"{_fmt(m.get('rmse'))} | {_fmt(m.get('r2'))} | {_fmt(m.get('n'))} |")
    for anchor, value in anchors.items():
        mae, note = _anchor_mae(value)
        add(f"| {anchor} (published{'; ' + note if note else ''}) | test | {_fmt(mae)} | – | – | – |")
    if anchors:
        add("\nPublished anchors are test MAEs reported in the literature for the same data set; "
            "unless stated, they are on the same split.")
    add("")
    add(_status(record, unit))
    add(_ensemble_and_rules(record, unit))

    add("## Limitations\n")
    if composition:
        add("- **Composition only**: the model sees the formula, not the structure, so it cannot tell "
            "polymorphs apart (e.g. diamond and graphite, or rutile and anatase TiO2, get the same prediction); "
            "for a composition with several known phases it predicts something like the typical training value.")
    else:
        add("- Structure features come from a Voronoi tessellation of the relaxed structure; unrelaxed or "
            "disordered structures are out of scope.")
    add("- **Out-of-distribution chemistries**: accuracy holds only for materials like the training data "
        f"({ds.database if ds else 'the training set'}); other chemistries, element combinations or property "
        "ranges (extrapolation) can be far off without warning.")
    add(f"- **Rare elements**: elements present in fewer than {RARE_ELEMENT_COUNT} training compositions give "
        "unreliable predictions; `in_domain` is false for them. Elements never seen in training fall back on "
        "mean-imputed attributes.")
    add("- The training data are DFT (or experimental) values with their own systematic errors, which the model "
        "inherits.")
    add("")

    add("## How to cite\n")
    add("The IRNet paper:\n")
    add(f"> {PAPER_CITATION}\n")
    add(f"```bibtex\n{PAPER_BIBTEX}\n```\n")
    add("The features:\n")
    for citation in spec.citations if spec else ():
        add(f"> {citation}\n")
    for lib, requirement in (spec.libraries if spec else {}).items():
        add(f"Predicting needs the element table of `{lib}`: `pip install --no-deps '{requirement}'` (only its "
            "data is used).\n")
    if ds:
        add("The training data:\n")
        add(f"> {ds.database}: {ds.citation}\n")
    return "\n".join(out).rstrip() + "\n"


__all__ = ["render_card", "card_data", "card_license", "slug", "PAPER_DOI", "PAPER_CITATION", "PAPER_BIBTEX"]
