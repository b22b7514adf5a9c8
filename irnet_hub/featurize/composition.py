"""The 145 Magpie composition attributes (Ward et al. 2016), vectorized.

The attributes are exactly those of matminer's

    MultipleFeaturizer([Stoichiometry(), ElementProperty.from_preset("magpie"),
                        ValenceOrbital(props=["frac"]), IonProperty(fast=True)])

(matminer 0.10, default ``impute_nan=True``) but computed for a whole batch at
once with numpy instead of one composition at a time in Python: matminer takes
1-2.5 ms per composition, this module 3-9 microseconds, parsing included (see
``benchmarks/RESULTS_featurize.md``). ``tests/test_featurize_composition.py``
checks every attribute against matminer, computed live, on real formulas.

How it works:

* Element tables (22 Magpie properties, Pauling electronegativity and common
  oxidation states, indexed by atomic number) are built once, lazily, from the
  data files matminer ships and from pymatgen, with matminer's NaN imputation.
* Formulas are parsed in one vectorized pass for plain formulas (``Fe2O3``,
  ``Al1Sm1Tm1``, ``Fe0.62C0.00095``); anything else (brackets, hydrates,
  unknown symbols, ...) goes through pymatgen's ``Composition``. Repeated
  formulas are parsed and featurized once.
* A batch is stored sparsely (CSR: atomic numbers and amounts per
  composition) and featurized in blocks of compositions with the same number
  of elements ``k``: a block is a ``(k, m)`` array of atomic numbers and one
  of amounts, so every statistic is a reduction over the k elements with no
  padding and no masks. (A dense ``(n, n_elements)`` fraction matrix was
  measured ~8x slower for the element statistics alone: min/max/mode must
  then scan ~90 columns to find 3-5 non-zero entries; see the benchmark.)
* Nothing loops in Python per composition except pymatgen's parse of
  non-plain formulas; IonProperty's oxidation-state search enumerates all
  (composition, combination) pairs as arrays.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import threading
import warnings
from typing import Sequence

import numpy as np
from pymatgen.core import Composition, Element
from pymatgen.core.periodic_table import DummySpecies, Species, get_el_sp

from irnet_hub.constants import HYDRATE_PATTERN
from irnet_hub.errors import BatchInputError, InvalidInputError, RowFailure
from irnet_hub.featurize.base import Errors, FeatureResult
from irnet_hub.featurize.specs import MAGPIE145
from irnet_hub.featurize.magpie import MAGPIE_LABELS, MAGPIE_PROPERTIES, MAX_Z, ElementTables, features_of_rows
from irnet_hub.featurize.magpie import features_from_element_amounts as _features_from_csr

SPEC = MAGPIE145

# pymatgen drops amounts below this (Composition.amount_tolerance); we reject
# them as zero rather than silently dropping the element.
_AMOUNT_TOL = 1e-8
# Larger amounts are not a formula unit (the features' weighted sums would overflow near 1e306,
# failing a whole batch); they are refused as bad input, row by row.
MAX_AMOUNT = 1e12

# --------------------------------------------------------------------------
# Element tables
# --------------------------------------------------------------------------


_tables: ElementTables | None = None
_tables_lock = threading.Lock()


def _magpie_dir() -> str:
    # Read matminer's data files directly: importing matminer.utils.data (for
    # MagpieData) pulls in scipy.stats and costs ~0.5 s per process.
    import matminer

    return os.path.join(os.path.dirname(matminer.__file__), "utils", "data_files", "magpie_elementdata")


def _read_magpie_property(name: str) -> np.ndarray:
    """One Magpie property for Z = 1..118, NaN-imputed exactly as MagpieData does."""
    with open(os.path.join(_magpie_dir(), f"{name}.table")) as f:
        lines = f.readlines()
    values = np.full(118, np.nan)
    for z in range(1, 119):
        try:  # MagpieData: unparsable ("Missing") or absent lines are NaN
            values[z - 1] = float(lines[z - 1])
        except (ValueError, IndexError):
            pass
    # MagpieData(impute_nan=True): NaN -> mean over the elements that have data.
    values[np.isnan(values)] = np.nanmean(values)
    return values


def _build_tables() -> ElementTables:
    magpie = np.full((MAX_Z + 1, len(MAGPIE_PROPERTIES)), np.nan)
    for j, prop in enumerate(MAGPIE_PROPERTIES):
        magpie[1:, j] = _read_magpie_property(prop)[:MAX_Z]

    # IonProperty's default data source is PymatgenData(impute_nan=True), not
    # Magpie: electronegativity is pymatgen's Element.X, and a missing (NaN or
    # 0) value becomes the mean over all elements (noble gases get ~1.7).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen warns about each missing X
        all_x = [e.X for e in Element]
    all_x = [v if v and not math.isnan(v) else math.nan for v in all_x]
    mean_x = float(np.nanmean(all_x))
    x = np.full(MAX_Z + 1, np.nan)
    states: list[tuple[int, ...]] = [()]
    for z in range(1, MAX_Z + 1):
        el = Element.from_Z(z)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            v = el.X
        x[z] = v if v and not math.isnan(v) else mean_x
        states.append(tuple(el.common_oxidation_states))  # PymatgenData.get_oxidation_states
    n_ox = np.array([len(s) for s in states])
    ox = np.zeros((MAX_Z + 1, max(n_ox)))
    for z, s in enumerate(states):
        ox[z, : len(s)] = s
    symbol_to_z = {Element.from_Z(z).symbol: z for z in range(1, MAX_Z + 1)}
    return ElementTables(symbol_to_z=symbol_to_z, magpie=magpie, x=x, n_ox=n_ox, ox=ox)


def _get_tables() -> ElementTables:
    global _tables
    if _tables is None:
        with _tables_lock:
            if _tables is None:
                _tables = _build_tables()
    return _tables


# --------------------------------------------------------------------------
# Parsing and validation
# --------------------------------------------------------------------------

_OPEN, _CLOSE = "([{", ")]}"


_MAX_NESTING = 10  # deeper nesting is not chemistry; pymatgen's recursive parser fails with an unhelpful message


def _parse_reason(exc: Exception) -> str:
    """pymatgen's parse error in words a user can act on."""
    text = str(exc)
    if "could not convert string to float" in text:
        bad = text.rsplit(":", 1)[-1].strip()
        return f"malformed amount {bad} (amounts are numbers such as 2, 0.5 or 1e-3, after an element or a bracket)"
    return f"cannot parse formula ({text})"


def _nesting_depth(text: str) -> int:
    depth = deepest = 0
    for ch in text:
        if ch in _OPEN:
            depth += 1
            deepest = max(deepest, depth)
        elif ch in _CLOSE:
            depth -= 1
    return deepest


def _check_brackets(text: str) -> str | None:
    """Reason why the brackets of ``text`` do not balance, or None."""
    stack: list[str] = []
    for ch in text:
        if ch in _OPEN:
            stack.append(ch)
        elif ch in _CLOSE:
            if not stack or _OPEN.index(stack.pop()) != _CLOSE.index(ch):
                return f"unbalanced brackets: unexpected {ch!r}"
    if stack:
        return f"unbalanced brackets: {stack[-1]!r} is never closed"
    return None


def _check_elements(comp: Composition, item: object) -> None:
    for sp in comp.elements:
        if isinstance(sp, DummySpecies):
            raise InvalidInputError(item, f"unknown element symbol {sp.symbol!r}")
        el = sp.element if isinstance(sp, Species) else sp
        if el.Z > MAX_Z:
            raise InvalidInputError(
                item, f"element {el.symbol} (Z={el.Z}) has no Magpie element data (only Z <= {MAX_Z})"
            )


_HYDRATE = re.compile(HYDRATE_PATTERN)
_ELEMENT_TOKEN = re.compile(r"[A-Z][a-z]?\d+(?:\.\d+)?")  # "Fe2", "O3", "Li0.5": one element, one amount


_NUMBER = re.compile(r"\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?")


def _float_or_zero(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


def _parse_string(item: str) -> Composition:
    text = item.strip()
    if not text:
        raise InvalidInputError(item, "empty formula")
    hydrate = _HYDRATE.match(text)
    if hydrate:  # CuSO4.5H2O: the base formula with n waters (see constants.HYDRATE_PATTERN)
        try:
            return _parse_string(f"{hydrate['base']}(H2O){hydrate['n'] or 1}")
        except InvalidInputError:
            pass  # no valid base (Fe0.5H2O is Fe0 + 5 H2O only in error): read the dot as a decimal
    # pymatgen's own Composition.formula separates elements by spaces ("Fe2 O3", "Na1 Cl1"): when
    # every token is one element with its amount, the spaces only separate elements.
    if any(ch.isspace() for ch in text) and all(_ELEMENT_TOKEN.fullmatch(t) for t in text.split()):
        text = "".join(text.split())
    # pymatgen ignores whitespace, so "Fe2O3\tNaCl" (two formulas pasted into one cell) would be
    # predicted as one compound: any other whitespace inside a formula is refused instead.
    if any(ch.isspace() for ch in text):
        ws = next(ch for ch in text if ch.isspace())
        raise InvalidInputError(item, f"whitespace ({ws!r}) inside a formula; give one formula per row "
                                      "(several formulas pasted together?)")
    if _nesting_depth(text) > _MAX_NESTING:
        raise InvalidInputError(item, f"brackets nested more than {_MAX_NESTING} deep")
    reason = _check_brackets(text)
    if reason:
        raise InvalidInputError(item, reason)
    huge = next((m for m in _NUMBER.findall(text) if _float_or_zero(m) > MAX_AMOUNT), None)
    if huge is not None:  # pymatgen would multiply a bracket out to "Fe1e+308" and report "malformed amount '1e'"
        raise InvalidInputError(item, f"amount {huge} is above {MAX_AMOUNT:g}: not a formula unit")
    # pymatgen's own tokenizer gives the amount of each symbol *before*
    # Composition drops amounts below 1e-8, so "Fe0O" can be refused instead
    # of silently becoming "O".
    # (_parse_formula is private; should a pymatgen release drop it, only the
    # zero/negative checks below are skipped, not parsing itself.)
    tokenize = getattr(Composition, "_parse_formula", None)
    try:
        raw = tokenize(text) if tokenize is not None else {}
    except (ValueError, TypeError) as exc:
        if re.search(r"convert string to float: '\d+(\.\d*)?e'", str(exc)):
            # brackets multiplied out past 1e16 are written "1e+20" and misread by pymatgen's tokenizer
            raise InvalidInputError(item, f"amounts above {MAX_AMOUNT:g} once brackets are multiplied out: "
                                          "not a formula unit") from None
        raise InvalidInputError(item, _parse_reason(exc)) from None
    for sym, amt in raw.items():
        if not math.isfinite(amt):
            raise InvalidInputError(item, f"amount of {sym} is not a finite number")
        if amt < -_AMOUNT_TOL:
            raise InvalidInputError(item, f"negative amount {amt:g} of {sym}")
        if amt < _AMOUNT_TOL:
            raise InvalidInputError(item, f"amount of {sym} is zero ({amt:g})")
        if amt > MAX_AMOUNT:
            raise InvalidInputError(item, f"amount of {sym} ({amt:g}) is above {MAX_AMOUNT:g}: not a formula unit")
        try:
            get_el_sp(sym)
        except ValueError:
            raise InvalidInputError(item, f"unknown element symbol {sym!r}") from None
    try:
        comp = Composition(text)
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidInputError(item, _parse_reason(exc)) from None
    _check_elements(comp, item)
    return comp


def parse_composition(item: str | Composition) -> Composition:
    """Parse a formula (or check a Composition) for featurization.

    Raises :class:`InvalidInputError` for an empty formula, an unknown element,
    unbalanced brackets, a zero, negative or non-finite amount, anything that
    is neither a string nor a Composition, and elements without Magpie data.
    """
    if isinstance(item, str):
        return _parse_string(item)
    if isinstance(item, Composition):
        if len(item) == 0:
            raise InvalidInputError(item, "empty composition")
        for sp, amt in item.items():
            if not math.isfinite(amt):
                raise InvalidInputError(item, f"amount of {sp} is not a finite number")
            if amt <= 0:
                raise InvalidInputError(item, f"amount of {sp} is not positive ({amt:g})")
            if amt > MAX_AMOUNT:
                raise InvalidInputError(item, f"amount of {sp} ({amt:g}) is above {MAX_AMOUNT:g}: not a formula unit")
        _check_elements(item, item)
        return item
    if item is None or (isinstance(item, float) and math.isnan(item)):
        # pandas reads an empty cell -- or the formula "NaN" (sodium nitride)
        # unless keep_default_na=False -- as a missing value.
        raise InvalidInputError(item, "missing value (None/NaN) instead of a formula")
    raise InvalidInputError(
        item, f"expected a formula string or pymatgen Composition, got {type(item).__name__}"
    )


def _oxidation_overrides(comp: Composition, t: ElementTables) -> tuple[float, float] | None:
    """IonProperty's (compound possible, avg ionic char) for a Composition with oxidation states.

    When every species carries an oxidation state (``has_oxidation_states``),
    matminer checks the given charges, ``isclose(dot(charges, amounts), 0)``,
    instead of searching common oxidation states. It also (a matminer quirk
    we reproduce for parity) then weights the average ionic character with the
    *species* amounts taken by position, so an element in two valences (Fe3O4
    as Fe2+ + 2 Fe3+) shifts the weights. None when there is nothing to override.
    """
    charges = []
    for sp in comp:
        oxi = getattr(sp, "oxi_state", None)
        if oxi is None:
            return None
        charges.append(oxi)
    elements = list(comp.element_composition)
    if len(elements) < 2:  # matminer's single-element branch ignores charges
        return None
    amounts = list(comp.values())
    cpd = float(np.isclose(np.dot(charges, amounts), 0))
    x = [t.x[el.Z] for el in elements]
    frac = np.true_divide(amounts, sum(amounts))
    avg = 0.0
    for i, j in itertools.combinations(range(len(elements)), 2):
        avg += frac[i] * frac[j] * (1.0 - np.exp(-0.25 * (x[i] - x[j]) ** 2))
    return cpd, float(avg)


# Fast path for plain formulas: element symbols, each followed by an optional
# unsigned decimal amount (Fe2O3, Al1Sm1Tm1, Fe0.62C0.00095). All distinct
# formulas are joined with "\n" into one string and split at element symbols
# in one regex pass; the text after each symbol (its amount, then the "\n"s
# that end formulas) is checked and converted with numpy string functions.
# Anything else (brackets, spaces, signs, exponents, unknown symbols, ...)
# marks the formula for pymatgen's parser.
_SYMBOL_SPLIT_RE = re.compile(r"([A-Z][a-z]*)")
_SEP = "\n"


def _fast_parse(strings: list[str], t: ElementTables) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Vectorized parse of plain formulas.

    Returns ``(ok, counts, z, amounts)``: ``ok[i]`` whether string i was parsed
    here; for those, ``counts[i]`` elements whose atomic numbers and amounts
    follow each other (in input order) in ``z`` and ``amounts``. The result
    is identical to pymatgen's Composition (checked by a test over real files).
    """
    n = len(strings)
    empty = (np.zeros(n, dtype=bool), np.zeros(n, np.int64), np.zeros(0, np.int64), np.zeros(0))
    if n == 0:
        return empty
    # Keep only ASCII strings without "\n" ("" is never ok -> pymatgen path):
    # numpy's isdigit and float() also accept non-ASCII digits such as "²".
    # Hydrates (CuSO4.5H2O) take the slow path, where the dot is read as the hydrate separator.
    strings = [s if s.isascii() and _SEP not in s and ("H2O" not in s or not _HYDRATE.match(s)) else ""
               for s in strings]  # fmt: skip
    parts = _SYMBOL_SPLIT_RE.split(_SEP.join(strings))
    # parts = [lead, sym_1, tail_1, sym_2, tail_2, ...]; a plain formula's
    # tails are "<amount>" or "<amount>\n..." (end of that formula).
    if len(parts) == 1:
        return empty
    lead = parts[0]
    syms = np.array(parts[1::2])
    tails = np.array(parts[2::2])
    bad = np.zeros(n + 1, dtype=bool)  # +1: the slot after the last formula, never used
    n_lead = lead.count(_SEP)
    if lead.replace(_SEP, ""):
        bad[n_lead] = True  # junk before the first symbol of that formula
    n_sep = np.char.count(tails, _SEP)
    row = n_lead + np.cumsum(n_sep) - n_sep  # formula of each symbol
    # A tail is "<amount><\n...>": its text before the first "\n" is this
    # symbol's amount (digits with at most one "."), its text after the last
    # "\n" starts the next formula that has symbols (must be empty), and text
    # in between belongs to formulas without symbols (never ok anyway).
    amount_text = np.char.rstrip(tails, _SEP)
    # Rare: text after a "\n" (a formula without symbols, or junk opening the
    # next formula, as in "(Fe)"): split those few tails exactly in Python.
    for i in np.flatnonzero(np.char.count(amount_text, _SEP) > 0):
        head, _, rest = str(tails[i]).partition(_SEP)
        amount_text[i] = head
        if rest.rpartition(_SEP)[2]:
            bad[row[i] + n_sep[i]] = True
    digits = np.char.replace(amount_text, ".", "")
    valid = (
        (np.char.isdigit(digits) | (amount_text == ""))
        & (np.char.count(amount_text, ".") <= 1)
        & ((amount_text == "") | (digits != ""))
    )
    bad[row[~valid]] = True
    # Symbols: known elements (Z <= MAX_Z) only, looked up by binary search.
    vocab = np.array(sorted(t.symbol_to_z))
    vocab_z = np.array([t.symbol_to_z[v] for v in vocab])
    pos = np.minimum(np.searchsorted(vocab, syms), len(vocab) - 1)
    known = vocab[pos] == syms
    z = np.where(known, vocab_z[pos], 0)
    bad[row[~known]] = True
    amount = np.ones(len(syms))
    given = valid & (amount_text != "")
    # Python's float() (as pymatgen uses), ~1.5x faster than numpy's astype.
    amount[given] = list(map(float, amount_text[given].tolist()))
    # Zero/tiny or overflowing amounts need pymatgen's path (which rejects them).
    bad[row[~(np.isfinite(amount) & (amount >= _AMOUNT_TOL) & (amount <= MAX_AMOUNT))]] = True
    # A repeated element ("FeOFe") is summed by pymatgen; leave it to pymatgen.
    key = np.sort(row * (MAX_Z + 1) + z)
    bad[key[1:][key[1:] == key[:-1]] // (MAX_Z + 1)] = True
    counts = np.bincount(row, minlength=n)[:n]
    ok = ~bad[:n] & (counts > 0)
    keep = ok[row]
    return ok, np.where(ok, counts, 0), z[keep], amount[keep]


# --------------------------------------------------------------------------
# Public batch API
# --------------------------------------------------------------------------


def featurize_compositions(
    items: Sequence[str | Composition],
    errors: Errors = "collect",
    progress: bool = False,
) -> FeatureResult:
    """Compute the 145 Magpie attributes of each formula or Composition.

    ``items`` may be any sequence (list, tuple, numpy array, pandas Series;
    row numbers are positions, not a Series' index). Invalid rows are listed
    in ``result.failures``; with ``errors="raise"`` a :class:`BatchInputError`
    naming every invalid row is raised instead (after checking all rows).
    """
    if errors not in ("raise", "collect"):
        raise InvalidInputError(errors, "errors must be 'raise' or 'collect'")
    if isinstance(items, (str, Composition)):
        raise InvalidInputError(items, "expected a sequence of formulas; wrap a single formula in a list")
    items = items.tolist() if hasattr(items, "tolist") else list(items)
    t = _get_tables()

    # Distinct inputs: strings by value (hashed in C by pandas); anything else
    # by position (two Compositions that compare equal may still differ below
    # 1e-8, and only strings repeat in practice). Slots 0..n_str-1 hold the
    # distinct strings, then one slot per non-string row.
    import pandas as pd

    n = len(items)
    is_str = np.array([isinstance(x, str) for x in items], dtype=bool)
    str_rows, other_rows = np.flatnonzero(is_str), np.flatnonzero(~is_str)
    # fromiter(dtype=object) never unpacks an item into a nested array.
    as_obj = np.fromiter(items, dtype=object, count=n)
    codes, uniques = pd.factorize(as_obj[str_rows])
    slot_of_row = np.empty(n, dtype=np.int64)
    slot_of_row[str_rows] = codes
    slot_of_row[other_rows] = len(uniques) + np.arange(len(other_rows))
    distinct: list[object] = list(uniques) + list(as_obj[other_rows])
    u = len(distinct)

    str_slots = np.arange(len(uniques))
    ok, counts, z_fast, a_fast = _fast_parse(list(uniques), t)
    count = np.zeros(u, dtype=np.int64)
    start = np.zeros(u, dtype=np.int64)
    count[str_slots[ok]] = counts[ok]
    start[str_slots[ok]] = (np.cumsum(counts) - counts)[ok]

    # Everything else goes through pymatgen, one at a time (validated there).
    fast = np.zeros(u, dtype=bool)
    fast[str_slots[ok]] = True
    reason: dict[int, str] = {}
    oxi_override: dict[int, tuple[float, float]] = {}
    z_slow: list[int] = []
    a_slow: list[float] = []
    offset = len(z_fast)
    for s in np.flatnonzero(~fast):
        item = distinct[s]
        try:
            comp = parse_composition(item)  # type: ignore[arg-type]
        except InvalidInputError as exc:
            reason[s] = exc.reason
            continue
        if not isinstance(item, str):
            override = _oxidation_overrides(comp, t)
            if override is not None:
                oxi_override[s] = override
        el_amt = comp.element_composition
        start[s] = offset + len(z_slow)
        count[s] = len(el_amt)
        z_slow.extend(el.Z for el in el_amt)
        a_slow.extend(el_amt.values())
    z_all = np.concatenate([z_fast, np.array(z_slow, dtype=np.int64)])
    a_all = np.concatenate([a_fast, np.array(a_slow, dtype=np.float64)])

    # Features per distinct composition, in blocks of equal element count.
    valid = count > 0
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=int(valid.sum()), unit="formula", desc="magpie145")
    feats = features_of_rows(z_all, a_all, start, count, t, on_block=bar.update if bar is not None else None)
    if bar is not None:
        bar.close()
    cpd = MAGPIE_LABELS.index("compound possible")
    for s, (possible, avg_ionic) in oxi_override.items():
        feats[s, cpd] = possible
        feats[s, cpd + 2] = avg_ionic

    row_ok = valid[slot_of_row]
    failures = [
        RowFailure(int(r), items[r], reason[int(slot_of_row[r])]) for r in np.flatnonzero(~row_ok)
    ]
    if failures and errors == "raise":
        raise BatchInputError(failures)
    rows = np.flatnonzero(row_ok)
    if len(rows) == u and np.array_equal(slot_of_row, rows):
        features = feats  # all rows distinct and valid: no gather copy
    else:
        features = feats[slot_of_row[rows]]
    return FeatureResult(
        features=features,
        rows=rows,
        labels=list(MAGPIE_LABELS),
        failures=failures,
    )


def element_amount_arrays(formulas: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse formulas into a compact CSR form: (elements per formula, atomic numbers, amounts).

    With :func:`features_from_element_amounts` this splits featurization in
    two: parsing needs pymatgen for unusual formulas, the features need only
    numpy and the element tables (:func:`element_tables`). That is how the
    zoo is trained on a machine without pymatgen (scripts/zoo_device.py).
    Invalid formulas raise :class:`BatchInputError` naming every one.
    """
    t = _get_tables()
    strings = [str(f) for f in formulas]
    ok, counts, z_fast, a_fast = _fast_parse(strings, t)
    starts = np.cumsum(counts) - counts
    count = np.zeros(len(strings), dtype=np.int64)
    zs: list[np.ndarray] = []
    amounts: list[np.ndarray] = []
    failures: list[RowFailure] = []
    for i, text in enumerate(strings):
        if ok[i]:
            sl = slice(starts[i], starts[i] + counts[i])
            zs.append(z_fast[sl])
            amounts.append(a_fast[sl])
            count[i] = counts[i]
            continue
        try:
            el_amt = parse_composition(text).element_composition
        except InvalidInputError as exc:
            failures.append(RowFailure(i, text, exc.reason))
            continue
        zs.append(np.array([el.Z for el in el_amt], dtype=np.int64))
        amounts.append(np.array(list(el_amt.values()), dtype=np.float64))
        count[i] = len(el_amt)
    if failures:
        raise BatchInputError(failures)
    return count, np.concatenate(zs).astype(np.int64), np.concatenate(amounts).astype(np.float64)


def element_tables() -> ElementTables:
    """The element tables the features are computed from (picklable)."""
    return _get_tables()


def features_from_element_amounts(
    count: np.ndarray, z: np.ndarray, a: np.ndarray, tables: ElementTables | None = None
) -> np.ndarray:
    """The 145 features of compositions given in :func:`element_amount_arrays` form (numpy only)."""
    return _features_from_csr(count, z, a, tables if tables is not None else _get_tables())


__all__ = [
    "SPEC", "MAGPIE_LABELS", "parse_composition", "featurize_compositions",
    "element_amount_arrays", "element_tables", "features_from_element_amounts",
]  # fmt: skip
