"""Shared preprocessing: the scaler, the NaN fill, training element counts and the in-domain rule.

One copy of each, used by training, evaluation, the RandomForest baseline,
the :class:`~irnet_hub.predictor.Predictor` and stability screening, so that
a model is fed exactly the same numbers wherever it runs.

The in-domain rule: an input is *in domain* when every element in it was
seen in at least ``min_count`` (default
:data:`~irnet_hub.constants.MIN_ELEMENT_COUNT`) training compositions.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from irnet_hub.constants import HYDRATE_PATTERN, MIN_ELEMENT_COUNT

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
    range (the in-domain rule :func:`features_out_of_range` reads it)."""
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


def out_of_range(atoms: np.ndarray, min_fraction: np.ndarray, ranges: Mapping[str, float] | None) -> np.ndarray:
    """True where a composition's stoichiometry lies outside the training ``ranges`` (never with no ranges)."""
    atoms, min_fraction = np.asarray(atoms, float), np.asarray(min_fraction, float)
    if not ranges:
        return np.zeros(atoms.shape, dtype=bool)
    # A little slack: a training set's extreme itself is in range.
    return (atoms > ranges["max_atoms_per_formula_unit"] * (1 + 1e-9)) | (
        min_fraction < ranges["min_fraction"] * (1 - 1e-9)
    )


# A feature further than this fraction of its training range outside that range makes a row
# out of domain: 0 % of the validation rows of mp-bulk-modulus and oqmd-bandgap, but the
# lanthanides for the moduli (whose training rows all have minimum NfUnfilled 0).
FEATURE_RANGE_MARGIN = 0.5


def features_out_of_range(X: np.ndarray, feature_min: Sequence[float], feature_max: Sequence[float],
                          labels: Sequence[str], margin: float = FEATURE_RANGE_MARGIN) -> list[str]:
    """Per row of raw features X: '' when every feature lies within its training range widened by
    ``margin`` x the range on both sides, else a note naming the feature furthest outside.

    Missing (NaN) features are never out of range: they are replaced by the training mean.
    """
    lo, hi = np.asarray(feature_min, dtype=float), np.asarray(feature_max, dtype=float)
    span = hi - lo
    with np.errstate(invalid="ignore"):
        outside = np.fmax(lo - margin * span - X, X - hi - margin * span)  # > 0 outside, NaN for NaN features
        excess = np.nan_to_num(outside / np.where(span > 0, span, 1.0), nan=-np.inf)
    notes = [""] * len(X)
    for i in np.flatnonzero((excess > 0).any(axis=1)):
        j = int(np.argmax(excess[i]))
        notes[i] = (f"feature '{labels[j]}' = {X[i, j]:.4g} is outside its training range "
                    f"[{lo[j]:.4g}, {hi[j]:.4g}]")  # fmt: skip
    return notes


def domain_report(items: Sequence[Any], counts: Mapping[str, int], min_count: int = MIN_ELEMENT_COUNT,
                  ranges: Mapping[str, float] | None = None) -> dict[str, list[Any]]:
    """The in-domain rule with its reasons, per item: ``in_domain`` (None when unknown), ``rare``
    (comma-joined rare elements), ``n_elements`` and ``note``.

    Out of domain: an element seen in fewer than ``min_count`` training
    compositions, or a stoichiometry outside the training ``ranges``
    (more atoms per formula unit, or a smaller element fraction, than any
    training composition). D and T are noted: the features treat them as H.

    Plain formula strings (the bulk of any large input) are checked in one
    vectorized pass; the rest item by item, by the same rule.
    """
    n = len(items)
    in_domain = np.full(n, None, dtype=object)
    rare = np.full(n, "", dtype=object)
    n_elements = np.zeros(n, dtype=np.int64)
    note = np.full(n, "", dtype=object)
    decided = np.zeros(n, dtype=bool)
    stripped = [(i, item.strip()) for i, item in enumerate(items) if isinstance(item, str)]
    plain = [(i, t) for i, t in stripped if _PLAIN.match(t) and not _ISOTOPE.search(t) and not _HYDRATE.match(t)]
    if len(plain) >= _VECTORIZE_MIN_ROWS:
        ok, *columns = _plain_rows([t for _, t in plain], counts, min_count, ranges)
        plain = [i for i, _ in plain]
        rows = np.asarray(plain)[ok]
        for out, col in zip((in_domain, rare, n_elements, note), columns):
            out[rows] = col[ok]
        decided[rows] = True
    cache: dict[Any, tuple[Any, str, int, str]] = {}
    for i in np.flatnonzero(~decided):
        item = items[i]
        key = item if isinstance(item, str) else None
        row = cache.get(key) if key is not None else None
        if row is None:
            row = _item_row(item, counts, min_count, ranges)
            if key is not None:
                cache[key] = row
        in_domain[i], rare[i], n_elements[i], note[i] = row
    return {"in_domain": in_domain.tolist(), "rare": rare.tolist(), "n_elements": n_elements.tolist(),
            "note": note.tolist()}


_ISOTOPE = re.compile(r"[DT](?![a-z])")
_TOKEN_OR_END = re.compile(r"([A-Z][a-z]?)(\d+(?:\.\d*)?|\.\d+)?|(\|)")
_VECTORIZE_MIN_ROWS = 64  # below this the per-item loop is as fast


def _row(low: list[str], iso: list[str], n_elements: int, atoms: float, frac: float, known: bool,
         ranges: Mapping[str, float] | None) -> tuple[Any, str, int, str]:
    """One item's (in_domain, rare, n_elements, note) from its rare elements, isotopes and stoichiometry."""
    notes = []
    if low:
        notes.append(f"rare in training: {','.join(low)}")
    if iso:
        notes.append(f"{'/'.join(iso)} (hydrogen isotope) has the features of H: predicted as H")
    bad = False
    if ranges:
        if out_of_range(np.array([atoms]), np.array([1.0]), ranges)[0]:
            bad = True
            notes.append(f"{atoms:,.0f} atoms per formula unit, training had at most "
                         f"{ranges['max_atoms_per_formula_unit']:g}")
        if out_of_range(np.array([0.0]), np.array([frac]), ranges)[0]:
            bad = True
            notes.append(f"element fraction {frac:.3g}, training had none below {ranges['min_fraction']:.3g}")
    return ((not low and not bad) if known else None, ",".join(low), n_elements, "; ".join(notes))


def _item_row(item: Any, counts: Mapping[str, int], min_count: int,
              ranges: Mapping[str, float] | None) -> tuple[Any, str, int, str]:
    amounts = element_amounts(item)
    if amounts is None:
        return (None, "", 0, "")
    low = rare_elements(amounts, counts, min_count) if counts else []
    iso = [e for e in amounts if e in ("D", "T")]
    atoms, frac = stoichiometry(amounts.values())
    return _row(low, iso, len(amounts), atoms, frac, bool(counts) or bool(ranges), ranges)


def _plain_rows(texts: list[str], counts: Mapping[str, int], min_count: int, ranges: Mapping[str, float] | None):
    """:func:`_item_row` for plain formula strings at once, as columns ``(decided, in_domain, rare,
    n_elements, note)``; rows not ``decided`` (a repeated element, a zero amount) go item by item."""
    import pandas as pd

    # One regex pass over all texts joined by "|": each match is an element token or a separator.
    tokens = _TOKEN_OR_END.findall("|".join(texts) + "|")
    is_end = np.fromiter((t[2] == "|" for t in tokens), bool, len(tokens))
    owner_a = np.cumsum(is_end)[~is_end]  # the number of separators before a token is its item
    element = [t for t in tokens if not t[2]]
    a = np.array([float(t[1]) if t[1] else 1.0 for t in element], dtype=np.float64)
    sym_id, unique_syms = pd.factorize(np.array([t[0] for t in element], dtype=object))
    sym_id, unique_syms = np.asarray(sym_id, np.int64), [str(x) for x in unique_syms]
    n = len(texts)
    # Per item: a repeated element (FeOFe), a zero or huge amount goes to the per-item path.
    pair = owner_a * (len(unique_syms) + 1) + sym_id
    dup = np.zeros(n, bool)
    sorted_pair = np.sort(pair)
    dup[(sorted_pair[1:][sorted_pair[1:] == sorted_pair[:-1]]) // (len(unique_syms) + 1)] = True
    dup[owner_a[(a <= 0) | (a > 2.0**53)]] = True  # and amounts past exact integers (int64 gcd)
    n_el = np.bincount(owner_a, minlength=n)
    total = np.bincount(owner_a, weights=a, minlength=n)
    min_a = np.full(n, np.inf)
    np.minimum.at(min_a, owner_a, a)
    integral = np.ones(n, bool)
    integral[owner_a[np.abs(a - np.round(a)) >= 1e-9]] = False
    g = np.zeros(n, np.int64)
    np.gcd.at(g, owner_a, np.where(integral[owner_a], np.round(a), 1).astype(np.int64))
    atoms = np.where(integral, total / np.maximum(g, 1), total)
    frac = min_a / total
    rare_sym = np.zeros(len(unique_syms), bool)
    if counts:
        rare_sym = np.array([_rare(counts.get(sym, 0), min_count) for sym in unique_syms], bool)
    rare_entry = rare_sym[sym_id]
    any_rare = np.zeros(n, bool)
    any_rare[owner_a[rare_entry]] = True
    bad = out_of_range(atoms, np.ones(n), ranges) | out_of_range(np.zeros(n), frac, ranges)
    known = bool(counts) or bool(ranges)
    # Columns: in_domain, rare, n_elements, note; rows with a repeat or zero amount are None (decided item by item).
    in_domain = np.full(n, True if known else None, dtype=object)
    rare = np.full(n, "", dtype=object)
    note = np.full(n, "", dtype=object)
    starts = np.concatenate([[0], np.cumsum(n_el)[:-1]])
    for i in np.flatnonzero((any_rare | bad) & ~dup):
        sl = slice(starts[i], starts[i] + n_el[i])
        low = [unique_syms[k] for k, r in zip(sym_id[sl], rare_entry[sl]) if r]
        in_domain[i], rare[i], _, note[i] = _row(low, [], int(n_el[i]), float(atoms[i]), float(frac[i]), known, ranges)
    return ~dup, in_domain, rare, n_el, note


def stoichiometry_out_of_range(amounts: np.ndarray, ranges: Mapping[str, float] | None) -> np.ndarray:
    """Vectorized stoichiometry rule for integer amount rows (0 = element absent), as in screening."""
    a = np.asarray(amounts, np.int64)
    if not ranges:
        return np.zeros(len(a), dtype=bool)
    g = np.gcd.reduce(a, axis=1)
    total = a.sum(axis=1)
    atoms = total / np.maximum(g, 1)
    smallest = np.where(a > 0, a, np.iinfo(np.int64).max).min(axis=1)
    return out_of_range(atoms, smallest / np.maximum(total, 1), ranges)


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
    "elements_of", "domain_flags", "domain_report", "element_amounts", "stoichiometry", "out_of_range",
    "stoichiometry_out_of_range", "formula_of", "MISSING_VALUES_RULE",
]
