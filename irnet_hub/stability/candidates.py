"""Candidate compositions for screening: stoichiometry grids and prototype templates.

Two sources, both generated lazily, partition by partition:

* **Grid** over a chemical system (``Li-Fe-P-O``): every composition with
  integer amounts and at most ``max_atoms`` atoms per formula unit, over the
  system *and all its subsystems* with two or more elements (``Li2O``,
  ``FePO4``, ``LiFePO4``, ...), so that the system's convex hull is complete.
  Each composition appears once, in reduced form (amounts with gcd 1: ``LiO``
  stands for Li2O2 too: a composition model predicts the same energy per atom
  for both). Pure elements are not candidates: they are the hull's references
  at zero formation enthalpy.
* **Prototypes**: a formula template whose site names are filled from element
  lists, ``A2BX4`` with ``A=Li,Na,K``, ``B=Fe,Mn``, ``X=O,S``. Built in:
  ``B2`` and ``L1_0`` (both ``AB``) and ``perovskite`` (``ABO3``). Each site
  gets a different element, different from the template's fixed elements;
  assignments that give the same composition (``AB`` with ``A=Fe,Ni`` and
  ``B=Fe,Ni``: FeNi and NiFe) are kept once.

A screen is planned (:func:`plan`) into small picklable :class:`Partition`
descriptors; :func:`generate` turns one into arrays (atomic numbers and
amounts per candidate) on whichever process runs it, so the client never
holds all formula strings.

``charge_balanced=True`` keeps only compositions that pymatgen's
``Composition.oxi_state_guesses()`` calls charge balanced, computed
vectorized (:func:`charge_balanced`; a test checks it against pymatgen).
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

import numpy as np

from irnet_hub.errors import InvalidInputError

if TYPE_CHECKING:  # for the annotation only: pandas is imported where a frame is built
    import pandas as pd

# Built-in prototypes: name -> (template, site names). The composition model
# sees only the composition, so B2 (CsCl) and L1_0 (CuAu) get the same
# prediction; they are listed separately so the output names the structure
# the user had in mind.
BUILTIN_PROTOTYPES: dict[str, tuple[str, tuple[str, ...]]] = {
    "B2": ("AB", ("A", "B")),
    "L1_0": ("AB", ("A", "B")),
    "perovskite": ("ABO3", ("A", "B")),
}
MAX_SYSTEM_ELEMENTS = 10  # subsystems are tracked as bitmasks: 2**10 per system
_TOKEN_RE = re.compile(r"([A-Z][a-z]*)(\d*)")
_SITE_NAME_RE = re.compile(r"^[A-Z][a-z]*$")


# --------------------------------------------------------------------------- elements


@dataclass(frozen=True)
class _ElementTables:
    symbol: np.ndarray  # (MAX_Z + 1,) object: symbol of Z
    z_of: dict[str, int]
    formula_rank: np.ndarray  # order of elements in formulas (electronegativity, as pymatgen)
    alpha_rank: np.ndarray  # alphabetical order (chemical system strings "Fe-Li-O")


@lru_cache(maxsize=1)
def _tables() -> _ElementTables:
    import warnings

    from pymatgen.core import Element

    from irnet_hub.featurize.composition import MAX_Z

    symbols = [""] + [Element.from_Z(z).symbol for z in range(1, MAX_Z + 1)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen warns for elements without an electronegativity
        x = [math.inf] + [Element.from_Z(z).X for z in range(1, MAX_Z + 1)]
    # pymatgen's reduced_formula orders by (X, symbol); NaN (noble gases) goes last here.
    key = [(v if v == v else 99.0, s) for v, s in zip(x, symbols)]
    formula_rank = np.empty(MAX_Z + 1, np.int64)
    formula_rank[sorted(range(MAX_Z + 1), key=lambda z: (z == 0, key[z]))] = np.arange(MAX_Z + 1)
    alpha_rank = np.empty(MAX_Z + 1, np.int64)
    alpha_rank[sorted(range(MAX_Z + 1), key=lambda z: (z == 0, symbols[z]))] = np.arange(MAX_Z + 1)
    return _ElementTables(np.array(symbols, dtype=object), {s: z for z, s in enumerate(symbols) if s},
                          formula_rank, alpha_rank)


def atomic_numbers(symbols: Sequence[str]) -> np.ndarray:
    """Atomic numbers of element symbols, as int64 (the symbols must be known elements)."""
    z_of = _tables().z_of
    return np.array([z_of[s] for s in symbols], np.int64)


def check_element(symbol: str, where: object) -> int:
    """Atomic number of an element symbol; :class:`InvalidInputError` naming ``where`` if unknown."""
    t = _tables()
    s = str(symbol).strip()
    if s not in t.z_of:
        from pymatgen.core import Element

        if s in ("D", "T"):
            raise InvalidInputError(where, f"{s} is a hydrogen isotope: composition features cannot tell it from H, "
                                           "so screen H instead (predict accepts D/T and says it predicts them as H)")
        if Element.is_valid_symbol(s):
            raise InvalidInputError(where, f"element {s} has no Magpie element data (only Z <= {len(t.symbol) - 1})")
        raise InvalidInputError(where, f"unknown element {s!r}")
    return t.z_of[s]


def _formula_order(symbols: Iterable[str]) -> tuple[str, ...]:
    t = _tables()
    return tuple(sorted(symbols, key=lambda s: t.formula_rank[t.z_of[s]]))


def system_key(symbols: Iterable[str]) -> str:
    """A chemical system as pymatgen writes it: alphabetical symbols joined by '-' ("Fe-Li-O")."""
    return "-".join(sorted(symbols))


# --------------------------------------------------------------------------- validation


def parse_system(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"Li-Fe-P-O"`` (or a list of symbols) -> element symbols in formula order; checks them."""
    parts = [p.strip() for p in (text.split("-") if isinstance(text, str) else text)]
    if any(not p for p in parts):
        raise InvalidInputError(text, "a chemical system is element symbols joined by '-', e.g. Li-Fe-P-O")
    for p in parts:
        check_element(p, text)
    if len(set(parts)) != len(parts):
        raise InvalidInputError(text, "an element is listed twice")
    if len(parts) < 2:
        raise InvalidInputError(text, "a chemical system needs at least two elements (one element has no compounds)")
    if len(parts) > MAX_SYSTEM_ELEMENTS:
        raise InvalidInputError(text, f"at most {MAX_SYSTEM_ELEMENTS} elements per chemical system")
    return _formula_order(parts)


def parse_sites(sites: Mapping[str, Sequence[str] | str] | Sequence[str] | None) -> dict[str, tuple[str, ...]]:
    """Site lists: ``{"A": ["Li", "Na"]}``, ``{"A": "Li,Na"}`` or CLI-style ``["A=Li,Na", ...]``."""
    if not sites:
        return {}
    if not isinstance(sites, Mapping):
        pairs = {}
        for item in sites:
            name, sep, values = str(item).partition("=")
            if not sep:
                raise InvalidInputError(item, "a site is given as NAME=El1,El2 (e.g. A=Li,Na,K)")
            if name.strip() in pairs:
                raise InvalidInputError(item, f"site {name.strip()} is given twice")
            pairs[name.strip()] = values
        sites = pairs
    out: dict[str, tuple[str, ...]] = {}
    for name, values in sites.items():
        if not _SITE_NAME_RE.match(str(name)):
            raise InvalidInputError(name, "a site name is a capital letter, optionally followed by lowercase ones (A, X, Ab)")
        items = values.split(",") if isinstance(values, str) else list(values)
        items = [str(v).strip() for v in items if str(v).strip()]
        if not items:
            raise InvalidInputError(f"{name}=", f"the element list of site {name} is empty")
        for v in items:
            check_element(v, f"{name}={','.join(items)}")
        out[str(name)] = tuple(dict.fromkeys(items))  # drop repeats, keep order
    return out


@dataclass(frozen=True)
class Prototype:
    """A parsed template: tokens (site names or element symbols) with amounts, gcd-reduced."""

    name: str
    template: str
    tokens: tuple[str, ...]
    amounts: tuple[int, ...]
    is_site: tuple[bool, ...]

    @property
    def sites(self) -> tuple[str, ...]:
        return tuple(t for t, s in zip(self.tokens, self.is_site) if s)


def parse_prototype(spec: str, sites: Mapping[str, Sequence[str]]) -> Prototype:
    """A built-in name (``B2``, ``L1_0``, ``perovskite``), a template (``A2BX4``) or ``NAME=TEMPLATE``.

    In a user template, tokens named in ``sites`` are sites and every other
    token must be an element symbol (``ABO3``: O is oxygen unless a site O is
    given). Built-in prototypes always use their own site names.
    """
    spec = str(spec).strip()
    if spec in BUILTIN_PROTOTYPES:
        name, (template, site_names) = spec, BUILTIN_PROTOTYPES[spec]
    else:
        name, sep, template = spec.partition("=")
        if not sep:
            name, template = spec, spec
        name, template = name.strip(), template.strip()
        site_names = tuple(sites)
    if not template or _TOKEN_RE.sub("", template) or not name:
        raise InvalidInputError(spec, "cannot parse the template: expected site names and element symbols with "
                                      "optional integer amounts, e.g. A2BX4 or ABO3")
    counts: dict[str, int] = {}
    for tok, amt in _TOKEN_RE.findall(template):
        n = int(amt) if amt else 1
        if n < 1:
            raise InvalidInputError(spec, f"amount of {tok} must be a positive integer")
        counts[tok] = counts.get(tok, 0) + n
    is_site = []
    for tok in counts:
        if tok in site_names:
            if tok not in sites:
                raise InvalidInputError(spec, f"site {tok} needs an element list (--sites {tok}=El1,El2)")
            is_site.append(True)
        else:
            try:
                check_element(tok, spec)
            except InvalidInputError:
                raise InvalidInputError(
                    spec, f"{tok!r} is neither a site with an element list (--sites {tok}=...) nor an element"
                ) from None
            is_site.append(False)
    if not any(is_site):
        raise InvalidInputError(spec, "the template has no sites to fill (give them with --sites NAME=El1,El2)")
    g = math.gcd(*counts.values())
    return Prototype(name, template, tuple(counts), tuple(v // g for v in counts.values()), tuple(is_site))


# --------------------------------------------------------------------------- formulas


def formula_strings(z: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Formulas ("LiFePO4") of rows of atomic numbers ``z`` and integer amounts ``a`` (0 = absent).

    Elements are written in pymatgen's order (electronegativity), amount 1 is
    omitted. Returns an object array of str. Vectorized through a (Z, amount)
    lookup table: ~0.6 microseconds per formula.
    """
    t = _tables()
    if len(z) == 0:
        return np.zeros(0, dtype=object)
    rank = np.where(a > 0, t.formula_rank[z], np.iinfo(np.int64).max)
    order = np.argsort(rank, axis=1, kind="stable")
    z = np.take_along_axis(z, order, axis=1)
    a = np.take_along_axis(a, order, axis=1)
    amax = int(a.max())
    amount_text = np.array(["", ""] + [str(i) for i in range(2, amax + 1)], dtype=object)
    table = t.symbol[:, None] + amount_text[None, :]  # (Z, amount) -> "Fe2"
    table[:, 0] = ""
    out = table[z[:, 0], a[:, 0]]
    for j in range(1, z.shape[1]):
        out = out + table[z[:, j], a[:, j]]
    return out


def system_strings(z: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Chemical systems ("Fe-Li-O") of rows of atomic numbers and amounts (0 = absent)."""
    t = _tables()
    if len(z) == 0:
        return np.zeros(0, dtype=object)
    rank = np.where(a > 0, t.alpha_rank[z], np.iinfo(np.int64).max)
    order = np.argsort(rank, axis=1, kind="stable")
    z = np.take_along_axis(z, order, axis=1)
    present = np.take_along_axis(a, order, axis=1) > 0
    dash = np.where(t.symbol == "", "", "-" + t.symbol)
    out = t.symbol[z[:, 0]].copy()
    for j in range(1, z.shape[1]):
        out = out + np.where(present[:, j], dash[z[:, j]], "")
    return out


# --------------------------------------------------------------------------- charge balance


@lru_cache(maxsize=None)
def _oxidation_states(z: int) -> tuple[int, ...]:
    from pymatgen.core import Element

    el = Element.from_Z(z)
    # What oxi_state_guesses(all_oxi_states=False) uses.
    return tuple(int(s) for s in (el.icsd_oxidation_states or el.common_oxidation_states))


@lru_cache(maxsize=None)
def _charge_sums(z: int, n: int) -> tuple[int, ...]:
    """Total charges that n atoms of element z can carry, each in one of its states (mixed valence allowed)."""
    if n == 0:
        return (0,)
    states = _oxidation_states(z)
    prev = _charge_sums(z, n - 1)
    return tuple(sorted({p + s for p in prev for s in states}))


def charge_balanced(z: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Whether each row (atomic numbers ``z``, integer amounts ``a``) can be charge balanced.

    Exactly pymatgen's criterion for ``Composition(...).oxi_state_guesses()``
    being non-empty on that composition as written: every atom takes one of
    its element's ICSD oxidation states (common ones when ICSD lists none),
    atoms of one element may differ (Fe3O4 = Fe2+ + 2 Fe3+), and the total
    charge must be zero. Elements without any states (noble gases) never
    balance. ~100x faster than calling pymatgen row by row.

    How: for each (element, amount) the set of reachable total charges is
    computed once; a row balances when the sum of one charge per element can
    be zero. The element with the largest set is looked up in a table, the
    others are enumerated (mixed-radix, all rows at once, in chunks).
    """
    m, k = z.shape
    out = np.zeros(m, dtype=bool)
    if m == 0:
        return out
    key = z.astype(np.int64) * 100_000 + a.astype(np.int64)
    key = np.where(a > 0, key, 0)  # absent -> the set {0}
    uniq, inv = np.unique(key, return_inverse=True)
    inv = inv.reshape(m, k)
    sets = [_charge_sums(int(u // 100_000), int(u % 100_000)) if u else (0,) for u in uniq]
    size = np.array([len(s) for s in sets])
    width = max(len(s) for s in sets)
    vals = np.zeros((len(sets), max(width, 1)), np.int64)
    for i, s in enumerate(sets):
        vals[i, : len(s)] = s
    off = int(max((max(abs(v) for v in s) for s in sets if s), default=0))
    member = np.zeros((len(sets), 2 * off + 1), dtype=bool)
    for i, s in enumerate(sets):
        member[i, np.asarray(s, dtype=np.int64) + off] = True

    sz = size[inv]  # (m, k)
    ok_rows = np.flatnonzero(sz.min(axis=1) > 0)
    if len(ok_rows) == 0:
        return out
    sz, ids = sz[ok_rows], inv[ok_rows]
    look = np.argmax(sz, axis=1)  # looked-up column per row
    look_id = ids[np.arange(len(ok_rows)), look]
    enum_sz = sz.copy()
    enum_sz[np.arange(len(ok_rows)), look] = 1
    radix = np.cumprod(np.concatenate([np.ones((len(ok_rows), 1), np.int64), enum_sz[:, :-1]], axis=1), axis=1)
    n_combo = radix[:, -1] * enum_sz[:, -1]
    offsets = np.cumsum(n_combo) - n_combo
    total = int(n_combo.sum())
    hit = np.zeros(len(ok_rows), dtype=bool)
    step = 1 << 20
    for c0 in range(0, total, step):
        e = np.arange(c0, min(c0 + step, total))
        r = np.searchsorted(offsets, e, side="right") - 1
        combo = e - offsets[r]
        charge = np.zeros(len(e), np.int64)
        for j in range(k):
            idx = (combo // radix[r, j]) % enum_sz[r, j]
            contrib = vals[ids[r, j], idx]
            charge += np.where(look[r] == j, 0, contrib)
        need = -charge + off
        inside = (need >= 0) & (need <= 2 * off)
        good = inside & member[look_id[r], np.clip(need, 0, 2 * off)]
        hit[r[good]] = True
    out[ok_rows] = hit
    return out


# --------------------------------------------------------------------------- partitions


@dataclass(frozen=True)
class GridSlice:
    """Grid compositions of one system whose leading amounts equal one of ``prefixes``."""

    elements: tuple[str, ...]  # formula order; amounts are per element in this order
    max_atoms: int
    prefixes: tuple[tuple[int, ...], ...]
    owned_masks: tuple[int, ...]  # element subsets (bitmask over ``elements``) this grid emits
    raw_count: int


@dataclass(frozen=True)
class PrototypeSlice:
    """Site assignments ``start <= i < stop`` (mixed-radix index over the site lists) of one prototype."""

    prototype: Prototype
    choices: tuple[tuple[str, ...], ...]  # per token: its element list (a fixed element: one entry)
    start: int
    stop: int

    @property
    def raw_count(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class Partition:
    """One unit of work: a few slices, generated and predicted together."""

    index: int
    slices: tuple[GridSlice | PrototypeSlice, ...]
    charge_balanced: bool

    @property
    def raw_count(self) -> int:
        return sum(s.raw_count for s in self.slices)


@dataclass
class Block:
    """Generated candidates: row i has elements ``z[i]`` with amounts ``a[i]`` (0 = absent)."""

    z: np.ndarray  # (m, K) int64 atomic numbers
    a: np.ndarray  # (m, K) int64 amounts
    prototype: np.ndarray  # (m,) object: prototype name, "" for grid rows

    def __len__(self) -> int:
        return len(self.z)


def _grid_block(s: GridSlice) -> tuple[np.ndarray, np.ndarray]:
    t = _tables()
    k = len(s.elements)
    parts = []
    for prefix in s.prefixes:
        r = k - len(prefix)
        rest = s.max_atoms - sum(prefix)
        if r == 0:
            tail = np.zeros((1, 0), np.int64)
        else:
            # Vectors of r amounts >= 0 summing to <= rest <-> r increasing "bars" in range(rest + r).
            n = math.comb(rest + r, r)
            bars = np.fromiter(itertools.chain.from_iterable(itertools.combinations(range(rest + r), r)),
                               dtype=np.int64, count=n * r).reshape(n, r)
            tail = np.diff(bars, axis=1, prepend=-1) - 1
        head = np.broadcast_to(np.array(prefix, np.int64), (len(tail), len(prefix)))
        parts.append(np.concatenate([head, tail], axis=1))
    a = np.concatenate(parts) if parts else np.zeros((0, k), np.int64)
    mask = ((a > 0) * (1 << np.arange(k))).sum(axis=1)
    owned = np.zeros(1 << k, dtype=bool)
    owned[list(s.owned_masks)] = True
    keep = owned[mask] & (np.gcd.reduce(a, axis=1) == 1)  # owned masks all have >= 2 elements
    a = a[keep]
    z = np.broadcast_to(np.array([t.z_of[e] for e in s.elements], np.int64), a.shape).copy()
    return z, a


def _prototype_block(s: PrototypeSlice) -> tuple[np.ndarray, np.ndarray]:
    t = _tables()
    p = s.prototype
    sizes = np.array([len(c) for c in s.choices], np.int64)
    idx = np.arange(s.start, s.stop, dtype=np.int64)
    pick = np.empty((len(idx), len(sizes)), np.int64)
    rem = idx
    for j in range(len(sizes) - 1, -1, -1):  # last token varies fastest
        pick[:, j] = rem % sizes[j]
        rem = rem // sizes[j]
    zlists = [np.array([t.z_of[e] for e in c], np.int64) for c in s.choices]
    z = np.stack([zlists[j][pick[:, j]] for j in range(len(sizes))], axis=1) if len(sizes) else pick
    zs = np.sort(z, axis=1)
    keep = ~(zs[:, 1:] == zs[:, :-1]).any(axis=1)  # every site a different element
    # The same composition from permuting equal-amount sites: keep only the
    # assignment with the smallest pick tuple among its valid permutations.
    pos = np.full((len(sizes), len(t.symbol)), -1, np.int64)  # pos[j, Z] = index of Z in token j's list
    for j, zl in enumerate(zlists):
        pos[j, zl] = np.arange(len(zl))
    groups: dict[int, list[int]] = {}
    for j, (amt, site) in enumerate(zip(p.amounts, p.is_site)):
        if site:
            groups.setdefault(amt, []).append(j)
    perm_groups = [g for g in groups.values() if len(g) > 1]
    if perm_groups:
        for perms in itertools.product(*[list(itertools.permutations(g)) for g in perm_groups]):
            mapping = list(range(len(sizes)))
            for g, perm in zip(perm_groups, perms):
                for src, dst in zip(g, perm):
                    mapping[dst] = src
            if mapping == list(range(len(sizes))):
                continue
            other = np.stack([pos[j, z[:, mapping[j]]] for j in range(len(sizes))], axis=1)
            valid = (other >= 0).all(axis=1)
            diff = other != pick
            first = np.argmax(diff, axis=1)
            rows = np.arange(len(pick))
            smaller = diff.any(axis=1) & (other[rows, first] < pick[rows, first])
            keep &= ~(valid & smaller)
    a = np.broadcast_to(np.array(p.amounts, np.int64), z.shape)
    return z[keep], a[keep].copy()


def generate(part: Partition) -> Block:
    """The candidates of one partition (runs wherever the partition is processed)."""
    zs, as_, protos = [], [], []
    for s in part.slices:
        if isinstance(s, GridSlice):
            z, a = _grid_block(s)
            name = ""
        else:
            z, a = _prototype_block(s)
            name = s.prototype.name
        if part.charge_balanced and len(z):
            ok = charge_balanced(z, a)
            z, a = z[ok], a[ok]
        zs.append(z)
        as_.append(a)
        protos.append(np.full(len(z), name, dtype=object))
    width = max((z.shape[1] for z in zs), default=0)
    pad = lambda x: np.pad(x, ((0, 0), (0, width - x.shape[1])))  # noqa: E731
    if not zs:
        return Block(np.zeros((0, 0), np.int64), np.zeros((0, 0), np.int64), np.zeros(0, dtype=object))
    return Block(np.concatenate([pad(z) for z in zs]), np.concatenate([pad(a) for a in as_]), np.concatenate(protos))


# --------------------------------------------------------------------------- planning


@dataclass
class Plan:
    """A screen split into partitions, and the chemical systems whose hulls are built.

    ``hull_systems`` are the maximal systems (no one is a subset of another);
    ``containing[key]`` lists the hull systems (indices) that contain the
    chemical system ``key`` ("Fe-O"); the first one is where that system's
    candidates get their energy above hull (any containing hull gives the
    same value: a hull restricted to a face of the composition simplex is the
    hull of the points on that face).
    """

    partitions: list[Partition]
    hull_systems: list[tuple[str, ...]]  # formula order
    containing: dict[str, list[int]] = field(default_factory=dict)
    grid_systems: list[tuple[str, ...]] = field(default_factory=list)

    @property
    def raw_count(self) -> int:
        """Upper bound on the candidate count (before the gcd, ownership and charge filters)."""
        return sum(p.raw_count for p in self.partitions)


def _subsets(elements: Sequence[str], min_size: int = 2) -> Iterable[tuple[int, str]]:
    """(bitmask over ``elements``, system key) of every subset with at least ``min_size`` elements."""
    k = len(elements)
    for mask in range(1, 1 << k):
        members = [elements[i] for i in range(k) if mask >> i & 1]
        if len(members) >= min_size:
            yield mask, system_key(members)


def _grid_prefixes(k: int, max_atoms: int, limit: int) -> Iterable[tuple[tuple[int, ...], int]]:
    """Fix leading amounts until each (prefix -> remaining vectors) holds at most ``limit`` raw vectors."""

    def count(prefix: tuple[int, ...]) -> int:
        r = k - len(prefix)
        return math.comb(max_atoms - sum(prefix) + r, r)

    stack = [()]
    while stack:
        prefix = stack.pop()
        n = count(prefix)
        if n <= limit or len(prefix) >= k - 1:
            yield prefix, n
        else:
            stack.extend(prefix + (v,) for v in range(max_atoms - sum(prefix), -1, -1))


def _prototype_systems(p: Prototype, choices: tuple[tuple[str, ...], ...], chunk: int) -> set[str]:
    total = math.prod(len(c) for c in choices)
    out: set[str] = set()
    for start in range(0, total, chunk):
        z, a = _prototype_block(PrototypeSlice(p, choices, start, min(start + chunk, total)))
        out.update(system_strings(z, a).tolist())
    return out


# Above this many (estimated) candidates a screen is refused unless max_candidates is raised:
# at ~100k candidates/s per core, 50 million is about 10 core-minutes.
DEFAULT_MAX_CANDIDATES = 50_000_000


def estimate_candidates(systems: Sequence[tuple[str, ...]], max_atoms: int, protos: Sequence["Prototype"],
                        site_lists: Mapping[str, Sequence[str]], complete_hulls: bool) -> float:
    """Upper bound on the raw candidates of a screen, in closed form (nothing enumerated).

    A k-element grid has at most C(max_atoms + k, k) amount vectors; a prototype
    the product of its site list lengths; with ``complete_hulls`` each
    prototype system adds a grid of its own (bounded by its element count).
    """
    total = float(sum(math.comb(max_atoms + len(s), len(s)) for s in systems))
    for p in protos:
        n = math.prod(len(site_lists[t]) for t in p.sites) if p.sites else 1
        total += n
        if complete_hulls:
            k = len(p.tokens)
            total += n * math.comb(max_atoms + k, k)
    return total


def plan(
    systems: Sequence[str | Sequence[str]] = (),
    *,
    max_atoms: int = 10,
    prototypes: Sequence[str] = (),
    sites: Mapping[str, Sequence[str] | str] | Sequence[str] | None = None,
    charge_balanced: bool = False,
    complete_hulls: bool = True,
    partition_size: int = 100_000,
    max_candidates: int | None = None,
) -> Plan:
    """Validate a screen and split it into partitions of about ``partition_size`` raw candidates.

    ``complete_hulls``: also enumerate the grid of each prototype's chemical
    system (so its hull has the competing phases), not only of ``systems``.
    """
    if isinstance(systems, str):
        systems = [systems]
    if isinstance(prototypes, str):
        prototypes = [prototypes]
    if not isinstance(max_atoms, (int, np.integer)) or isinstance(max_atoms, bool) or max_atoms < 1:
        raise InvalidInputError(max_atoms, "max_atoms (atoms per formula unit) must be an integer >= 1")
    if int(partition_size) < 1:
        raise InvalidInputError(partition_size, "partition_size must be a positive integer")
    if not systems and not prototypes:
        raise InvalidInputError("screen", "nothing to screen: give chemical systems (--system) and/or prototypes (--prototype)")
    site_lists = parse_sites(sites)
    protos = [parse_prototype(p, site_lists) for p in prototypes]
    used = {s for p in protos for s in p.sites}
    if site_lists and not protos:
        raise InvalidInputError(sorted(site_lists), "--sites are given but no --prototype uses them")
    unused = sorted(set(site_lists) - used)
    if unused and protos:
        raise InvalidInputError(unused, "these sites appear in no prototype template")
    user_systems = list(dict.fromkeys(parse_system(s) for s in systems))
    # Estimate before enumerating anything (even the partition list of a huge grid takes GBs).
    limit = DEFAULT_MAX_CANDIDATES if max_candidates is None else int(max_candidates)
    estimate = estimate_candidates(user_systems, max_atoms, protos, site_lists, complete_hulls)
    if estimate > limit:
        raise InvalidInputError(
            f"{estimate:,.0f} candidates",
            f"this screen would enumerate about {estimate:,.0f} candidates, above the limit of {limit:,}; "
            "lower --max-atoms, use fewer elements, or raise the limit with --max-candidates N")

    proto_choices = [
        tuple(site_lists[tok] if site else (tok,) for tok, site in zip(p.tokens, p.is_site)) for p in protos
    ]
    proto_systems: list[tuple[str, ...]] = []
    for p, ch in zip(protos, proto_choices):
        for key in sorted(_prototype_systems(p, ch, max(int(partition_size), 1024))):
            proto_systems.append(_formula_order(key.split("-")))
    proto_systems = list(dict.fromkeys(proto_systems))

    def maximal(cands: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
        covered = set()
        for s in cands:
            for _, key in _subsets(s):
                if key != system_key(s):
                    covered.add(key)
        return [s for s in cands if system_key(s) not in covered]

    grid_systems = maximal(list(dict.fromkeys(user_systems + (proto_systems if complete_hulls else []))))
    hull_systems = maximal(list(dict.fromkeys(grid_systems + proto_systems)))
    containing: dict[str, list[int]] = {}
    for h, s in enumerate(hull_systems):
        for _, key in _subsets(s):
            containing.setdefault(key, []).append(h)

    # Each composition is emitted by the first grid system that contains its element set.
    owner: dict[str, int] = {}
    for g, s in enumerate(grid_systems):
        for _, key in _subsets(s):
            owner.setdefault(key, g)
    limit = int(partition_size)
    slices: list[GridSlice | PrototypeSlice] = []
    for g, s in enumerate(grid_systems):
        owned = tuple(mask for mask, key in _subsets(s) if owner[key] == g)
        for prefix, n in _grid_prefixes(len(s), int(max_atoms), limit):
            slices.append(GridSlice(s, int(max_atoms), (prefix,), owned, n))
    for p, ch in zip(protos, proto_choices):
        total = math.prod(len(c) for c in ch)
        for start in range(0, total, limit):
            slices.append(PrototypeSlice(p, ch, start, min(start + limit, total)))

    # Group consecutive slices into partitions of about ``limit`` raw candidates;
    # neighbouring prefixes of the same grid merge into one slice.
    partitions: list[Partition] = []
    current: list[GridSlice | PrototypeSlice] = []
    size = 0
    for s in slices:
        if current and size + s.raw_count > limit:
            partitions.append(Partition(len(partitions), tuple(current), charge_balanced))
            current, size = [], 0
        last = current[-1] if current else None
        if isinstance(s, GridSlice) and isinstance(last, GridSlice) and last.elements == s.elements:
            current[-1] = GridSlice(s.elements, s.max_atoms, last.prefixes + s.prefixes, s.owned_masks,
                                    last.raw_count + s.raw_count)
        else:
            current.append(s)
        size += s.raw_count
    if current:
        partitions.append(Partition(len(partitions), tuple(current), charge_balanced))
    return Plan(partitions, hull_systems, containing, grid_systems)


def enumerate_candidates(systems: Sequence[str] = (), **kwargs) -> pd.DataFrame:
    """All candidates of a (small) screen as a DataFrame: formula, system, n_elements, n_atoms, prototype.

    Takes :func:`plan`'s arguments. Materializes everything: for inspection
    and tests; :func:`irnet_hub.screen` streams partitions instead.
    """
    import pandas as pd

    p = plan(systems, **kwargs)
    frames = []
    for part in p.partitions:
        b = generate(part)
        frames.append(pd.DataFrame({
            "formula": formula_strings(b.z, b.a),
            "system": system_strings(b.z, b.a),
            "n_elements": (b.a > 0).sum(axis=1),
            "n_atoms": b.a.sum(axis=1),
            "prototype": b.prototype,
        }))
    cols = ["formula", "system", "n_elements", "n_atoms", "prototype"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)
