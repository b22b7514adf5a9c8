"""Physical rules on a model's outputs.

A network is a smooth function of 145 composition attributes; it knows
nothing of definitions. Two rules that hold by definition are applied after
the forward pass, as stated in each model's ``irnet.json`` (``output_rules``)
and card:

* ``elements_are_zero``: a formation energy/enthalpy is measured from the
  elements, so a pure element (one element, any amount) is exactly 0, with
  uncertainty 0. (The network said Fe -1.55 eV/atom before this rule.)
* ``non_negative``: a modulus, a phonon frequency, a band gap cannot be
  negative. A negative network output is clamped to 0 and the row's ``note``
  says so (the network said Cs -52.8 GPa before this rule).

Records written before the ``output_rules`` field existed get rules derived
from the property name (:func:`rules_for`). The in-domain rule is
:mod:`irnet_hub.domain`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from irnet_hub.errors import IntegrityError, InvalidInputError

# Property names whose values are >= 0 by definition (lower case, matched as substrings);
# "log" targets (log10 of a modulus) can be negative and are excluded.
_NON_NEGATIVE_WORDS = ("modulus", "phonon", "band gap", "bandgap", "volume", "debye temperature",
                       "thermal conductivity")
_FORMATION_WORDS = ("formation enthalpy", "formation energy")


@dataclass(frozen=True)
class AppliedRules:
    """What :func:`apply_rules` enforces; ``derived`` is True when inferred from the property name."""

    elements_are_zero: bool = False
    non_negative: bool = False
    derived: bool = False


def _section(info: Any, key: str) -> Any:
    """``info[key]`` of a ModelRecord (None when its irnet.json did not set it) or a plain dict."""
    from irnet_hub.record import record_section

    return record_section(info, key)


def rules_for(info: Any) -> AppliedRules:
    """The output rules of a model (a ModelRecord or ``irnet.json`` dict): its ``output_rules``,
    or, for records written before that field existed, derived from the property name."""
    rec = _section(info, "output_rules")
    if isinstance(rec, Mapping):
        return AppliedRules(bool(rec.get("elements_are_zero", False)), bool(rec.get("non_negative", False)))
    target = _section(info, "target") or {}
    name = str(target.get("name", "") if isinstance(target, Mapping) else "").lower()
    if "log" in name.split() or "log10" in name or "log(" in name:
        return AppliedRules(derived=True)
    return AppliedRules(
        elements_are_zero=any(w in name for w in _FORMATION_WORDS),
        non_negative=any(w in name for w in _NON_NEGATIVE_WORDS),
        derived=True,
    )


def apply_rules(
    prediction: np.ndarray,
    n_elements: np.ndarray,
    rules: AppliedRules,
    *,
    std: np.ndarray | None = None,
    property_name: str = "",
) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Apply ``rules`` to float predictions; returns (prediction, std, note per row).

    ``n_elements`` is the number of distinct elements of each row's composition.
    """
    pred = np.array(prediction, dtype=np.float64, copy=True)
    std = None if std is None else np.array(std, copy=True)
    notes = [""] * len(pred)
    if rules.elements_are_zero:
        for i in np.flatnonzero(np.asarray(n_elements) == 1):
            pred[i] = 0.0
            if std is not None:
                std[i] = 0
            notes[i] = f"element: {property_name or 'formation energy'} is 0 by definition"
    if rules.non_negative:
        for i in np.flatnonzero(pred < 0):
            notes[i] = f"network gave {pred[i]:.4g}, clamped to 0 ({property_name or 'this property'} cannot be negative)"
            pred[i] = 0.0
    return pred, std, notes


def checked_rules(given: Mapping[str, bool] | None, target_name: str, inputs: Sequence[Any],
                  targets: np.ndarray) -> dict[str, Any]:
    """The output rules of a new model, checked against its training ``inputs`` and ``targets``:
    ``given`` (an :class:`InvalidInputError` names a training row that contradicts one) or those
    the property name suggests, less any the targets contradict. Returns the record's
    ``output_rules`` dict, with where the rules came from (``source``) and what was ``dropped``."""
    from irnet_hub.preprocessing import element_amounts

    if given is not None:
        unknown = set(given) - {"non_negative", "elements_are_zero"}
        if unknown:
            raise InvalidInputError(sorted(unknown), "unknown output rule; the rules are non_negative and "
                                                     "elements_are_zero")  # fmt: skip
        rules = {"non_negative": bool(given.get("non_negative")), "elements_are_zero": bool(given.get("elements_are_zero"))}
    else:
        suggested = rules_for({"target": {"name": target_name}})
        rules = {"non_negative": suggested.non_negative, "elements_are_zero": suggested.elements_are_zero}
    y = np.asarray(targets, dtype=float)
    scale = float(np.max(np.abs(y))) if len(y) else 1.0
    single = [i for i, x in enumerate(inputs) if len(element_amounts(x) or {}) == 1]
    against = {
        "non_negative": [i for i in np.flatnonzero(y < 0)],
        "elements_are_zero": [i for i in single if abs(y[i]) > 1e-6 * max(scale, 1.0)],
    }
    dropped = []
    for rule, rows in against.items():
        if not (rules[rule] and rows):
            continue
        if given is not None:
            i = int(rows[0])
            shown = inputs[i] if isinstance(inputs[i], str) else getattr(inputs[i], "formula", "")
            raise InvalidInputError(f"{shown} (target {y[i]:g})", f"the output rule {rule} contradicts this training "
                                    f"target ({len(rows)} row(s) do); drop the rule or check the data")  # fmt: skip
        rules[rule] = False
        dropped.append(f"{rule} (suggested by the property name; {len(rows)} training target(s) contradict it)")
    source = "given" if given is not None else f"suggested by the property name {target_name!r}"
    return {**rules, "source": source, **({"dropped": dropped} if dropped else {})}


def check_finite(values: np.ndarray, source: str) -> None:
    """:class:`IntegrityError` when a model produced NaN or infinite outputs (never passed on as null)."""
    v = np.asarray(values)
    bad = ~np.isfinite(v)
    if bad.any():
        rows = np.flatnonzero(bad.reshape(len(v), -1).any(axis=1))
        shown = ", ".join(str(int(r)) for r in rows[:5]) + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")
        raise IntegrityError(f"{source}: the model produced non-finite outputs (NaN or infinite) for rows {shown}; "
                             "its weights are probably damaged")


__all__ = ["AppliedRules", "rules_for", "checked_rules", "apply_rules", "check_finite"]
