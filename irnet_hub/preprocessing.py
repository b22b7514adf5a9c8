"""Shared preprocessing: the scaler, the NaN fill, training element counts and the in-domain rule.

One copy of each, used by training, evaluation, the RandomForest baseline,
the :class:`~irnet_hub.predictor.Predictor` and stability screening, so that
a model is fed exactly the same numbers wherever it runs.

The in-domain rule: an input is *in domain* when every element in it was
seen in at least ``min_count`` (default
:data:`~irnet_hub.constants.MIN_ELEMENT_COUNT`) training compositions.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from irnet_hub.constants import MIN_ELEMENT_COUNT

MISSING_VALUES_RULE = "replaced by feature_mean before the network"


def fit_scaler(X: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Feature and target standardization fitted on training rows only."""
    mean = np.nanmean(X, axis=0)
    mean = np.where(np.isnan(mean), 0.0, mean)  # a feature missing in every row
    std = np.nanstd(X, axis=0)
    std = np.where(~np.isfinite(std) | (std < 1e-12), 1.0, std)  # constant features pass through
    t_std = float(np.std(y)) or 1.0
    return {
        "feature_mean": mean.tolist(),
        "feature_std": std.tolist(),
        "target_mean": float(np.mean(y)),
        "target_std": t_std,
        "missing_values": MISSING_VALUES_RULE,
    }


def fill_missing(X: np.ndarray, feature_mean: np.ndarray | Sequence[float]) -> np.ndarray:
    """A float32 copy of ``X`` with NaN features (elements without Magpie data) set to the training mean."""
    X = np.array(X, dtype=np.float32, copy=True)
    bad = np.isnan(X)
    if bad.any():
        X[bad] = np.broadcast_to(np.asarray(feature_mean, np.float32), X.shape)[bad]
    return X


def _composition(item: Any):
    from pymatgen.core import Composition

    return getattr(item, "composition", None) or Composition(item)


def element_counts(inputs: Iterable[Any]) -> dict[str, int]:
    """How many training compositions contain each element (for in-domain checks)."""
    counts: Counter[str] = Counter()
    for item in inputs:
        counts.update(el.symbol for el in _composition(item).elements)
    return dict(sorted(counts.items()))


def composition_ranges(inputs: Iterable[Any]) -> dict[str, float] | None:
    """The largest number of atoms per formula unit and the smallest element fraction in training."""
    max_atoms, min_fraction = 0.0, 1.0
    n = 0
    for item in inputs:
        comp = _composition(item)
        total = comp.num_atoms
        if total <= 0:
            continue
        n += 1
        max_atoms = max(max_atoms, float(comp.get_reduced_composition_and_factor()[0].num_atoms))
        min_fraction = min(min_fraction, min(float(v) / total for v in comp.values()))
    if not n:
        return None
    return {"max_atoms_per_formula_unit": max_atoms, "min_fraction": min_fraction}


# --------------------------------------------------------------------------- in-domain rule


def _rare(count: Any, min_count: int) -> Any:
    """The in-domain rule itself, for one count or an array of counts: rare = seen fewer than ``min_count`` times."""
    return count < min_count


def rare_elements(elements: Iterable[str], counts: Mapping[str, int], min_count: int = MIN_ELEMENT_COUNT) -> list[str]:
    """The elements seen in fewer than ``min_count`` training compositions (the in-domain rule)."""
    return [e for e in elements if _rare(counts.get(e, 0), min_count)]


def in_domain_by_z(z: np.ndarray, amounts: np.ndarray, counts: Mapping[str, int],
                   min_count: int = MIN_ELEMENT_COUNT) -> np.ndarray:
    """The in-domain rule for rows of atomic numbers ``z`` with ``amounts`` (0 = element absent), vectorized."""
    from pymatgen.core import Element

    top = int(z.max()) if z.size else 0
    by_z = np.zeros(max(top, 1) + 1, np.int64)
    for symbol, c in counts.items():
        if Element.is_valid_symbol(symbol) and Element(symbol).Z <= top:
            by_z[Element(symbol).Z] = c
    rare = (amounts > 0) & _rare(by_z[z], min_count)
    return ~rare.any(axis=1)


def formula_of(item: Any) -> str:
    """A printable formula for a formula string, Composition or Structure (its reduced formula)."""
    if isinstance(item, str):
        return item
    comp = getattr(item, "composition", item)
    return getattr(comp, "reduced_formula", None) or str(item)


# Plain formulas (Fe2O3, Al1Sm1Tm1, Fe0.62C0.00095): elements read by a regex, ~50x faster
# than a full parse; anything else (brackets, hydrates, ...) goes through the featurizer's parser.
_PLAIN_FORMULA = re.compile(r"^(?:[A-Z][a-z]?(?:\d+(?:\.\d*)?|\.\d+)?)+$")
_SYMBOL = re.compile(r"[A-Z][a-z]?")


def elements_of(item: Any) -> list[str] | None:
    """Element symbols of a formula/Composition/Structure (None if unreadable)."""
    if isinstance(item, str):
        text = item.strip()
        if _PLAIN_FORMULA.match(text):
            return list(dict.fromkeys(_SYMBOL.findall(text)))
        from irnet_hub.featurize.composition import parse_composition

        try:
            item = parse_composition(text)
        except (ValueError, KeyError, TypeError):
            return None
    comp = getattr(item, "composition", item)
    if hasattr(comp, "element_composition"):
        comp = comp.element_composition  # species with oxidation states -> elements
    if hasattr(comp, "elements"):
        return [getattr(e, "symbol", str(e)) for e in comp.elements]
    return None


def domain_flags(items: Sequence[Any], counts: Mapping[str, int],
                 min_count: int = MIN_ELEMENT_COUNT) -> tuple[list[bool | None], list[str]]:
    """``in_domain`` (None when unknown) and the comma-joined rare elements of each input."""
    if not counts:  # the model did not record them (e.g. structure models): unknown
        return [None] * len(items), [""] * len(items)
    flags: list[bool | None] = []
    rare_all: list[str] = []
    cache: dict[str, tuple[bool | None, str]] = {}
    for item in items:
        key = item if isinstance(item, str) else None
        if key is not None and key in cache:
            flag, rare = cache[key]
        else:
            elements = elements_of(item)
            if elements is None:
                flag, rare = None, ""
            else:
                low = rare_elements(elements, counts, min_count)
                flag, rare = (not low), ",".join(low)
            if key is not None:
                cache[key] = (flag, rare)
        flags.append(flag)
        rare_all.append(rare)
    return flags, rare_all


__all__ = [
    "fit_scaler", "fill_missing", "element_counts", "composition_ranges", "rare_elements", "in_domain_by_z",
    "elements_of", "domain_flags", "formula_of", "MISSING_VALUES_RULE",
]
