"""The parts of a model card's body that state numbers: formatting, the status against the
accuracy targets, and the ensemble/uncertainty and output-rule paragraphs.

Split from :mod:`irnet_hub.publish.card` (which assembles the card) so that each
stays one readable job; everything here reads typed fields of a
:class:`~irnet_hub.record.ModelRecord`, never parses strings.
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping

from irnet_hub.record import ModelRecord


def _fmt(x: Any) -> str:
    if x is None:
        return "–"
    if isinstance(x, (int,)) and not isinstance(x, bool):
        return str(x)
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    return "–" if not math.isfinite(v) else f"{v:.4g}"


def _source(text: Any) -> str:
    """A data file as the card shows it: a path in backticks, an in-memory table in words."""
    if not text:
        return "unknown source"
    text = str(text)
    if text.startswith("<"):
        return "an in-memory table"
    return f"`{text}`" if re.search(r"[/\\]|\.(csv|json|gz|parquet)$", text) else text


def _depth(architecture: str) -> int | None:
    from irnet_hub.errors import InvalidInputError
    from irnet_hub.networks import count_layers

    try:
        return count_layers(architecture)
    except InvalidInputError:
        return None


def _family(architecture: str) -> str:
    from irnet_hub.errors import InvalidInputError
    from irnet_hub.networks import resolve_architecture

    try:
        text = resolve_architecture(architecture)
    except InvalidInputError:
        text = architecture
    if "BAR" in text:
        return "IRNet (a shortcut around every Dense-BatchNorm-ReLU sequence)"
    if re.search(r"BAx\d+R", text):
        return "SRNet (a shortcut around each stack of equal-width sequences)"
    return "plain deep network (no shortcuts; the paper's baseline)"


def _or_unknown(value: Any) -> str:
    return "?" if value is None else str(value)


def _anchor_mae(value: Any) -> tuple[float | None, str]:
    if isinstance(value, Mapping):
        return value.get("mae"), str(value.get("note", ""))
    return value, ""


def _status(record: ModelRecord, unit: str) -> str:
    """Where the model stands against its targets, stated with the numbers (zoo runs record these)."""
    split = "test" if "test" in record.metrics else "val"
    ours = (record.metrics.get(split) or {}).get("mae")
    lines: list[str] = []
    cv = record.cv
    if cv:
        done = cv.folds_done or list(range(cv.folds))
        partial = "" if len(done) == cv.folds else f" (mean over folds {done} of {cv.folds})"
        if cv.extras.get("overflow_note"):
            partial += f"; folds {cv.extras.get('overflow_folds')} {cv.extras['overflow_note']}"
        lines.append(f"- {cv.folds}-fold cross-validation{partial}: mean test MAE {_fmt(cv.test_mae_mean)} {unit} "
                     f"(folds: {', '.join(_fmt(x) for x in cv.test_mae_per_fold)}); "
                     f"RandomForest mean over the same folds {_fmt(cv.rf_test_mae_mean)}. This folder is the fold-0 model.")
        ours = cv.test_mae_mean if cv.test_mae_mean is not None else ours
    rf = ((record.baseline.test if split == "test" else record.baseline.val) or {}).get("mae") if record.baseline else None
    if cv and cv.rf_test_mae_mean is not None:
        rf = cv.rf_test_mae_mean
    ours_vs_rf = ours
    if cv and cv.rf_test_mae_mean is None and rf is not None:
        # The RandomForest was fitted on fold 0 only: compare fold 0 with fold 0.
        ours_vs_rf = (record.metrics.get(split) or {}).get("mae")
        lines.append("- The RandomForest reference was fitted on fold 0 only; the next line compares fold 0.")
    if ours_vs_rf is not None and rf is not None:
        verdict = "beats" if ours_vs_rf < rf else "**does not beat**"
        lines.append(f"- Against our RandomForest on the same split: {_fmt(ours_vs_rf)} vs {_fmt(rf)} {unit}: "
                     f"this model {verdict} it.")
    if ours is not None and record.target_mae is not None:
        verdict = "met" if ours <= record.target_mae else "**missed**"
        lines.append(f"- Accuracy target MAE <= {record.target_mae} {unit}: {verdict} ({_fmt(ours)}).")
    ratio = record.target_rf_ratio
    if ratio is not None and ours is not None and rf is not None:
        verdict = "met" if ours <= ratio * rf else "**missed**"
        rule = record.target_rule or f"MAE <= {ratio:.2f} x RandomForest on the same split"
        lines.append(f"- Accuracy target {rule}: {verdict} (ratio {_fmt(ours / rf)}).")
    half = record.float16
    if half:
        lines.append(f"- Weights stored as float16: {half.split} MAE {_fmt(half.mae_float32)} (float32) -> "
                     f"{_fmt(half.mae_float16)} (float16), a {(half.relative_change or 0.0):.2%} change "
                     f"({'kept' if half.kept else 'not kept: float32 shipped'}; limit 0.5 %).")
    if record.training:
        t = record.training
        lines.append(f"- Trained on {t.device}: {_fmt(t.wall_seconds)} s wall, "
                     f"{_fmt(t.samples_per_second)} training samples/s.")
    if record.notes:
        lines.append(f"- {record.notes}")
    if not lines:
        return ""
    return "## Status against targets\n\n" + "\n".join(lines) + "\n"


def _transform_text(record: ModelRecord) -> str:
    transform = record.scaler.extras.get("target_transform", "none") if record.scaler else "none"
    return {"log": "log(y) ", "log1p": "log(1 + y) "}.get(transform, "")


def _ensemble_and_rules(record: ModelRecord, unit: str) -> str:
    """Uncertainty, output rules, the domain recorded from training, and how the network was chosen."""
    lines: list[str] = []
    if record.ensemble_size >= 3:
        cal = record.extras.get("calibration_test") or {}
        lines.append("## Uncertainty\n")
        lines.append(
            f"The network is an ensemble of {record.ensemble_size} IRNets trained side by side from different "
            "initial weights; `prediction` is their mean and `prediction_std` is their standard deviation times "
            f"{_fmt(record.std_scale)}, a factor fitted on the validation split so that 68.3 % of validation "
            "errors fall within one `prediction_std`."
        )
        if cal.get("n"):
            lines.append(
                f"On the test split ({cal['n']} rows): {cal.get('coverage_1sigma', 0):.1%} of errors fall within "
                f"1 std and {cal.get('coverage_2sigma', 0):.1%} within 2 std (Gaussian: 68.3 % and 95.4 %); "
                f"Spearman correlation between std and |error|: {_fmt(cal.get('spearman_std_abs_error'))}."
            )
        members = record.extras.get("member_test_mae")
        if members:
            lines.append(f"Test MAE of the members alone: {', '.join(_fmt(m) for m in members)} {unit}.")
        lines.append("")
    # The rules Predictor applies: the record's output rules (records older than the field: derived from
    # the property) and its in-domain rule, in the words of irnet_hub.domain.
    from irnet_hub.domain import DomainRule
    from irnet_hub.output_rules import rules_for

    rules = rules_for(record)
    domain = DomainRule.for_record(record)
    lines.append("## Output rules and domain\n")
    if rules.elements_are_zero:
        lines.append("- A pure element gets exactly 0 (a formation energy is zero for an element by "
                     "definition), with std 0.")
    if rules.non_negative:
        lines.append("- The property cannot be negative: a negative network output is clamped to 0 and "
                     "flagged.")
    given = record.output_rules.extras if record.output_rules is not None else {}
    if given.get("source"):
        lines.append(f"- These output rules were {given['source']} and checked against the training targets"
                     + ("; dropped: " + "; ".join(given["dropped"]) if given.get("dropped") else "") + ".")
    if domain.known:
        lines.extend(domain.describe(record.ensemble_size))
    else:
        lines.append("- `in_domain` is unknown (empty): this model records nothing about its training "
                     "compositions.")
    ts = record.extras.get("training_set")
    if ts:
        lines.append(f"- `in_training` is true when the exact composition (its element fractions) is one of the "
                     f"{ts['compositions']:,} training compositions (`{ts['file']}`, {ts['bytes'] / 1024:,.0f} KiB); "
                     "`training_value` is then its training target: a value the model was fitted to, not a "
                     "prediction for an unseen material.")
    lines.append("")
    tried = record.extras.get("candidates_tried") or []
    if len(tried) > 1:
        lines.append("## How this network was chosen\n")
        lines.append("Candidates trained on the same split (fold 0); the best validation MAE was kept:\n")
        lines.append("| run | network | members | started from | epochs | validation MAE |")
        lines.append("|---|---|---|---|---|---|")
        for t in sorted(tried, key=lambda t: t["val_mae"]):
            lines.append(f"| {t['run']} | `{t['architecture']}` | {t['members']} | {t.get('init_from') or 'scratch'} | "
                         f"{t['epochs_run']} | {_fmt(t['val_mae'])} |")
        lines.append("")
    return "\n".join(lines) + ("\n" if lines else "")
