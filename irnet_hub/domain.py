"""The in-domain rule, in one place: is an input inside what the model was trained on?

An input is *in domain* (``in_domain`` True) when

* every element in it was seen in at least ``min_count`` (default
  :data:`~irnet_hub.constants.MIN_ELEMENT_COUNT`) training compositions;
* its stoichiometry lies within the training compositions' extremes
  (``composition_ranges``: atoms per reduced formula unit, smallest element fraction);
* (models that record their features' training range) every raw feature lies
  within that range widened by :data:`FEATURE_RANGE_MARGIN` x the range.

``in_domain`` is None (unknown) when the model recorded none of these.
:class:`DomainRule` is one model's rule: ``report(items)`` judges formulas,
Compositions or Structures, ``by_arrays(z, amounts)`` rows of atomic numbers and
amounts (screening), ``feature_notes(X)`` raw feature rows, and ``describe()`` is
what the model card says. The predictor, screening and the model server ask a
model's ``DomainRule``; no other module computes the flags (``tests/test_package.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from irnet_hub.constants import MIN_ELEMENT_COUNT
from irnet_hub.preprocessing import element_amounts, is_plain_formula, stoichiometry
from irnet_hub.record import record_section as _section


@dataclass(frozen=True, eq=False)
class DomainRule:
    """The in-domain rule of one model: what its record says about the training data."""

    element_counts: Mapping[str, int]
    min_count: int = MIN_ELEMENT_COUNT
    composition_ranges: Mapping[str, float] | None = None
    feature_min: np.ndarray | None = None
    feature_max: np.ndarray | None = None
    feature_labels: Sequence[str] = ()

    @classmethod
    def for_record(cls, record: Any, min_count: int = MIN_ELEMENT_COUNT) -> "DomainRule":
        """The rule a :class:`~irnet_hub.record.ModelRecord` (or an ``irnet.json`` dict) records."""
        counts = _section(record, "element_counts") or {}
        scaler = _section(record, "scaler") or {}
        lo, hi = scaler.get("feature_min"), scaler.get("feature_max")
        featurizer = _section(record, "featurizer") or {}
        return cls(dict(counts), int(min_count), composition_ranges_for(record),
                   None if lo is None or hi is None else np.asarray(lo, dtype=float),
                   None if lo is None or hi is None else np.asarray(hi, dtype=float),
                   tuple(featurizer.get("labels") or ()))

    @property
    def known(self) -> bool:
        """Whether the model records anything to judge an input by (else ``in_domain`` is None)."""
        return bool(self.element_counts) or self.composition_ranges is not None

    def report(self, items: Sequence[Any]) -> dict[str, list[Any]]:
        """Per item: ``in_domain`` (None when unknown), ``rare``, ``n_elements`` and ``note``
        (:func:`domain_report`, by elements and stoichiometry)."""
        return domain_report(items, self.element_counts, self.min_count, self.composition_ranges)

    def feature_notes(self, X: np.ndarray) -> list[str]:
        """Per raw feature row: '' or why a feature lies far outside its training range."""
        if self.feature_min is None or self.feature_max is None:
            return [""] * len(X)
        labels = self.feature_labels or [f"feature {j}" for j in range(len(self.feature_min))]
        return features_out_of_range(X, self.feature_min, self.feature_max, labels)

    def by_arrays(self, z: np.ndarray, amounts: np.ndarray) -> np.ndarray | None:
        """``in_domain`` for rows of atomic numbers ``z`` and integer ``amounts`` (0 = element absent), by
        elements and stoichiometry, vectorized; None when the model records neither."""
        stoich_bad = stoichiometry_out_of_range(amounts, self.composition_ranges) if self.composition_ranges else None
        if not self.element_counts:
            return None if stoich_bad is None else ~stoich_bad
        ok = in_domain_by_z(z, amounts, self.element_counts, self.min_count)
        return ok if stoich_bad is None else ok & ~stoich_bad

    def network_checks(self, report: dict[str, list[Any]], feature_notes: Sequence[str], std: np.ndarray | None,
                       exact: np.ndarray) -> np.ndarray | None:
        """Mark rows of a :meth:`report` out of domain (in place, reason in ``note``) where a feature lies far
        outside its training range, or where an ensemble's members agree exactly (a saturated network, not
        a certain one: its std becomes NaN, never 0). Rows ``exact`` hold an output rule's exact value (an
        element's 0) and are left alone. Returns the std."""
        def flag(j: int, why: str) -> None:
            report["in_domain"][j] = False
            report["note"][j] = "; ".join(t for t in (report["note"][j], why) if t)

        for j, why in enumerate(feature_notes):
            if why and not exact[j]:
                flag(j, why)
        if std is not None:
            std = np.array(std, copy=True)
            for j in np.flatnonzero((std == 0) & ~exact):
                std[j] = np.nan
                flag(j, "the ensemble's members agree exactly (a saturated network), so no uncertainty is given")
        return std

    def describe(self, ensemble_size: int = 1) -> list[str]:
        """Markdown bullets for a model card: what makes ``in_domain`` false for this model."""
        lines = [f"- `in_domain` is false when a formula has an element seen in fewer than {self.min_count} "
                 "training compositions (`rare_elements` names it)."]
        r = self.composition_ranges
        if r:
            lines.append(f"- `in_domain` is also false for a formula with more than "
                         f"{r['max_atoms_per_formula_unit']:g} atoms per (reduced) formula unit or an element "
                         f"fraction below {r['min_fraction']:.3g}: the extremes of the training compositions.")
        if self.feature_min is not None:
            lines.append(f"- `in_domain` is also false when a feature lies more than {FEATURE_RANGE_MARGIN:g} x its "
                         "training range outside that range; `note` names the feature.")
            if ensemble_size >= 3:
                lines.append("- Where the members agree exactly (a saturated network), no `prediction_std` is "
                             "given and the row is out of domain.")
        return lines


def composition_ranges_for(info: Any) -> dict[str, float] | None:
    """``{"max_atoms_per_formula_unit", "min_fraction"}`` the model was trained on, if recorded."""
    rec = _section(info, "composition_ranges")
    if isinstance(rec, Mapping) and rec.get("max_atoms_per_formula_unit") is not None \
            and rec.get("min_fraction") is not None:
        return {"max_atoms_per_formula_unit": float(rec["max_atoms_per_formula_unit"]),
                "min_fraction": float(rec["min_fraction"])}
    return None


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
    plain = [(i, t) for i, t in stripped if is_plain_formula(t) and not _ISOTOPE.search(t)]
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


__all__ = [
    "DomainRule", "composition_ranges_for", "domain_report", "features_out_of_range", "in_domain_by_z",
    "out_of_range", "rare_elements", "stoichiometry_out_of_range", "FEATURE_RANGE_MARGIN",
]
