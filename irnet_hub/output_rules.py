"""Physical rules on a model's outputs, and the stoichiometry part of the in-domain rule.

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

The in-domain flag also looks at stoichiometry (``composition_ranges``,
recorded from the training compositions): a formula with more atoms per
formula unit, or a smaller smallest element fraction, than any training
composition is outside what the model saw (Li1000000O, for one).

Records written before these fields existed get rules derived from the
property name (:func:`rules_for`) and stoichiometry ranges measured on the
training sets of the shipped models (:data:`SHIPPED_COMPOSITION_RANGES`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np

from irnet_hub.errors import IntegrityError

# Measured with composition_ranges() on the training compositions of each shipped model (the
# recipe's split from scripts/train_zoo.py; for the structure model, all 1,265 Matbench phonon
# structures, a superset of its training folds). Used only while a model's irnet.json predates the
# composition_ranges field; the lead repackages the zoo with it.
SHIPPED_COMPOSITION_RANGES: dict[str, dict[str, float]] = {
    "mp-bulk-modulus": {"max_atoms_per_formula_unit": 108.0, "min_fraction": 0.025},
    "mp-shear-modulus": {"max_atoms_per_formula_unit": 108.0, "min_fraction": 0.025},
    "oqmd-formation-enthalpy": {"max_atoms_per_formula_unit": 150.0, "min_fraction": 1 / 150},
    "matbench-phonons-structure": {"max_atoms_per_formula_unit": 15.0, "min_fraction": 1 / 15},
}

# Property names whose values are >= 0 by definition (lower case, matched as substrings);
# "log" targets (log10 of a modulus) can be negative and are excluded.
_NON_NEGATIVE_WORDS = ("modulus", "phonon", "band gap", "bandgap", "volume", "debye temperature",
                       "thermal conductivity")
_FORMATION_WORDS = ("formation enthalpy", "formation energy")


@dataclass(frozen=True)
class OutputRules:
    """What :func:`apply_rules` enforces; ``derived`` is True when inferred from the property name."""

    elements_are_zero: bool = False
    non_negative: bool = False
    derived: bool = False


def rules_for(info: Mapping[str, Any]) -> OutputRules:
    """The output rules of a model: its ``output_rules`` record, or derived from the property name."""
    rec = info.get("output_rules")
    if isinstance(rec, Mapping):
        return OutputRules(bool(rec.get("elements_are_zero", False)), bool(rec.get("non_negative", False)))
    name = str((info.get("target") or {}).get("name", "")).lower()
    if "log" in name.split() or "log10" in name or "log(" in name:
        return OutputRules(derived=True)
    return OutputRules(
        elements_are_zero=any(w in name for w in _FORMATION_WORDS),
        non_negative=any(w in name for w in _NON_NEGATIVE_WORDS),
        derived=True,
    )


def composition_ranges_for(info: Mapping[str, Any]) -> dict[str, float] | None:
    """``{"max_atoms_per_formula_unit", "min_fraction"}`` the model was trained on, if known."""
    rec = info.get("composition_ranges")
    if isinstance(rec, Mapping) and "max_atoms_per_formula_unit" in rec and "min_fraction" in rec:
        return {"max_atoms_per_formula_unit": float(rec["max_atoms_per_formula_unit"]),
                "min_fraction": float(rec["min_fraction"])}
    return SHIPPED_COMPOSITION_RANGES.get(str(info.get("name", "")))


def stoichiometry(amounts: Iterable[float]) -> tuple[float, float]:
    """(atoms per formula unit, smallest element fraction) of one composition's element amounts.

    Integer amounts are reduced by their common divisor (Li2O2 is 2 atoms per
    formula unit, like LiO); fractional amounts (Fe0.62C0.00095) are taken as written.
    """
    a = [float(x) for x in amounts if float(x) > 0]
    if not a:
        return math.nan, math.nan
    total = sum(a)
    if all(abs(x - round(x)) < 1e-9 for x in a):
        g = 0
        for x in a:
            g = math.gcd(g, int(round(x)))
        total = total / max(g, 1)
    return total, min(a) / sum(a)


def composition_ranges(compositions: Iterable[Any]) -> dict[str, float]:
    """Stoichiometry seen in training: the largest atoms per formula unit and the smallest element fraction.

    ``compositions``: formulas, pymatgen Compositions or Structures (unreadable ones are ignored).
    """
    max_atoms, min_frac = 0.0, 1.0
    for item in compositions:
        amounts = element_amounts(item)
        if amounts is None:
            continue
        atoms, frac = stoichiometry(amounts.values())
        if math.isfinite(atoms):
            max_atoms, min_frac = max(max_atoms, atoms), min(min_frac, frac)
    return {"max_atoms_per_formula_unit": max_atoms, "min_fraction": min_frac}


_PLAIN = re.compile(r"^(?:[A-Z][a-z]?(?:\d+(?:\.\d*)?|\.\d+)?)+$")
_TOKEN = re.compile(r"([A-Z][a-z]?)(\d+(?:\.\d*)?|\.\d+)?")


def element_amounts(item: Any) -> dict[str, float] | None:
    """Element -> amount of a formula, Composition or Structure (None when it cannot be read)."""
    if isinstance(item, str):
        text = item.strip()
        if _PLAIN.match(text):  # the common case, ~50x faster than a full parse
            out: dict[str, float] = {}
            for sym, amt in _TOKEN.findall(text):
                out[sym] = out.get(sym, 0.0) + (float(amt) if amt else 1.0)
            return out
        from irnet_hub.featurize.composition import parse_composition

        try:
            item = parse_composition(text)
        except (ValueError, KeyError, TypeError):
            return None
    comp = getattr(item, "composition", item)
    comp = getattr(comp, "element_composition", None)  # pymatgen Composition (species -> elements)
    if comp is None:
        return None
    return {e.symbol: float(v) for e, v in comp.items()}


def out_of_range(atoms: np.ndarray, min_fraction: np.ndarray, ranges: Mapping[str, float] | None) -> np.ndarray:
    """True where a composition's stoichiometry lies outside the training ``ranges`` (never with no ranges)."""
    atoms, min_fraction = np.asarray(atoms, float), np.asarray(min_fraction, float)
    if not ranges:
        return np.zeros(atoms.shape, dtype=bool)
    # A little slack: a training set's extreme itself is in range.
    return (atoms > ranges["max_atoms_per_formula_unit"] * (1 + 1e-9)) | (
        min_fraction < ranges["min_fraction"] * (1 - 1e-9)
    )


def apply_rules(
    prediction: np.ndarray,
    n_elements: np.ndarray,
    rules: OutputRules,
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


def check_finite(values: np.ndarray, source: str) -> None:
    """:class:`IntegrityError` when a model produced NaN or infinite outputs (never passed on as null)."""
    v = np.asarray(values)
    bad = ~np.isfinite(v)
    if bad.any():
        rows = np.flatnonzero(bad.reshape(len(v), -1).any(axis=1))
        shown = ", ".join(str(int(r)) for r in rows[:5]) + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")
        raise IntegrityError(f"{source}: the model produced non-finite outputs (NaN or infinite) for rows {shown}; "
                             "its weights are probably damaged")


def describe_rules(info: Mapping[str, Any]) -> str:
    """Markdown for a model card: which output rules apply and what in-domain means for this model."""
    rules = rules_for(info)
    prop = str((info.get("target") or {}).get("name", "the property"))
    lines = []
    if rules.elements_are_zero:
        lines.append(f"- **Elements are zero.** A pure element has {prop} exactly 0 (by definition), "
                     "with uncertainty 0; the network is not asked.")
    if rules.non_negative:
        lines.append(f"- **Non-negative.** {prop[:1].upper() + prop[1:]} cannot be negative: a negative network "
                     "output is reported as 0 and the row's `note` says so.")
    if not lines:
        lines.append("- No output rule applies: predictions are the network's output as is.")
    ranges = composition_ranges_for(info)
    dom = ("- **In domain** (`in_domain`) is false when a formula has an element seen in fewer than 5 training "
           "compositions")
    if ranges:
        dom += (f", more than {ranges['max_atoms_per_formula_unit']:g} atoms per formula unit, or an element "
                f"fraction below {ranges['min_fraction']:.3g} (the extremes of the training compositions)")
    lines.append(dom + ".")
    return "\n".join(lines)


__all__ = ["OutputRules", "rules_for", "composition_ranges_for", "composition_ranges", "stoichiometry",
           "element_amounts", "out_of_range", "apply_rules", "check_finite", "describe_rules",
           "SHIPPED_COMPOSITION_RANGES"]
