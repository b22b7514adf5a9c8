"""Shared preprocessing: the scaler, the NaN fill, what a training set records about its compositions
(element counts, stoichiometry ranges) and fast reading of element amounts.

One copy of each, used by training, evaluation, the RandomForest baseline,
the :class:`~irnet_hub.predictor.Predictor` and stability screening, so that
a model is fed exactly the same numbers wherever it runs. The in-domain rule
that reads these records is :mod:`irnet_hub.domain`.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any, Iterable, Sequence

import numpy as np

from irnet_hub.constants import HYDRATE_PATTERN

MISSING_VALUES_RULE = "replaced by feature_mean before the network"


def feature_fill_mean(X: np.ndarray) -> np.ndarray:
    """Per-feature training mean over the rows that have the feature: what a missing value becomes."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a feature missing in every row
        mean = np.nanmean(X, axis=0)
    return np.where(np.isfinite(mean), mean, 0.0)


def feature_range(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature (min, max) over the training rows that have the feature (the fill mean where none has)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a feature missing in every row
        lo, hi = np.nanmin(X, axis=0), np.nanmax(X, axis=0)
    fill = feature_fill_mean(X)
    return np.where(np.isfinite(lo), lo, fill), np.where(np.isfinite(hi), hi, fill)


def fit_scaler(X: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Feature and target standardization fitted on training rows only, and the features' training
    range (the range rule of :mod:`irnet_hub.domain` reads it)."""
    mean = feature_fill_mean(X)
    std = np.nanstd(X, axis=0)
    std = np.where(~np.isfinite(std) | (std < 1e-12), 1.0, std)  # constant features pass through
    t_std = float(np.std(y)) or 1.0
    lo, hi = feature_range(X)
    return {
        "feature_mean": mean.tolist(),
        "feature_std": std.tolist(),
        "feature_min": lo.tolist(),
        "feature_max": hi.tolist(),
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

    if isinstance(item, dict) and "lattice" in item:  # a Structure as pymatgen's dict (Matbench's JSON frames)
        from pymatgen.core import Structure

        item = Structure.from_dict(item)
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


# --------------------------------------------------------------------------- stoichiometry (issue 11)


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


_HYDRATE = re.compile(HYDRATE_PATTERN)  # CuSO4.5H2O is a hydrate, not O4.5: parsed in full
_PLAIN = re.compile(r"^(?:[A-Z][a-z]?(?:\d+(?:\.\d*)?|\.\d+)?)+$")
_TOKEN = re.compile(r"([A-Z][a-z]?)(\d+(?:\.\d*)?|\.\d+)?")


def parsed_formula(item: Any) -> str:
    """The composition as it was read, for users to check a misreading: elements with their amounts
    (1 left out), e.g. ``CuSO4.5H2O`` -> ``CuSO9H10``, ``FeOFe`` -> ``Fe2O``; '' when unreadable."""
    amounts = element_amounts(item)
    if not amounts:
        return ""
    return "".join(el + ("" if a == 1 else f"{a:.6g}") for el, a in amounts.items())


def is_plain_formula(text: str) -> bool:
    """Whether ``text`` (stripped) is a plain formula (Fe2O3, Fe0.62C0.00095): elements and amounts only,
    no brackets and no hydrate dot, so that a regex reads it exactly."""
    return bool(_PLAIN.match(text)) and not _HYDRATE.match(text)


def element_amounts(item: Any) -> dict[str, float] | None:
    """Element -> amount of a formula, Composition or Structure (None when it cannot be read)."""
    if isinstance(item, str):
        text = item.strip()
        if _PLAIN.match(text) and not _HYDRATE.match(text):  # the common case, ~50x faster than a full parse
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


__all__ = [
    "fit_scaler", "fill_missing", "feature_fill_mean", "feature_range", "element_counts", "composition_ranges",
    "elements_of", "element_amounts", "is_plain_formula", "parsed_formula", "stoichiometry", "formula_of",
    "MISSING_VALUES_RULE",
]
