"""The 145 Magpie attributes from parsed compositions, with numpy alone.

Parsing formulas (pymatgen for the unusual ones) and building the element
tables live in :mod:`irnet_hub.featurize.composition`; this module only turns
(atomic numbers, amounts) into features, so that a machine without pymatgen can
compute them from parsed input (scripts/zoo_device.py on a borrowed GPU).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from irnet_hub.errors import InvalidInputError

# The 22 element properties of ElementProperty.from_preset("magpie"), in order.
MAGPIE_PROPERTIES: list[str] = [
    "Number", "MendeleevNumber", "AtomicWeight", "MeltingT", "Column", "Row",
    "CovalentRadius", "Electronegativity", "NsValence", "NpValence", "NdValence",
    "NfValence", "NValence", "NsUnfilled", "NpUnfilled", "NdUnfilled", "NfUnfilled",
    "NUnfilled", "GSvolume_pa", "GSbandgap", "GSmagmom", "SpaceGroupNumber",
]  # fmt: skip
MAGPIE_STATS: list[str] = ["minimum", "maximum", "range", "mean", "avg_dev", "mode"]
P_NORMS: tuple[int, ...] = (0, 2, 3, 5, 7, 10)
ORBITALS: tuple[str, ...] = ("s", "p", "d", "f")

MAGPIE_LABELS: list[str] = (
    [f"{p}-norm" for p in P_NORMS]
    + [f"MagpieData {stat} {prop}" for prop in MAGPIE_PROPERTIES for stat in MAGPIE_STATS]
    + [f"frac {orb} valence electrons" for orb in ORBITALS]
    + ["compound possible", "max ionic char", "avg ionic char"]
)

# Magpie's tables stop at Z=112: Nh..Og (113-118) have no value for any of the
# 22 properties, so matminer would silently give them the all-element average
# (an "atomic number" of ~57 for element 118). We refuse them instead.
MAX_Z = 112

# Compositions per block in the feature computation: keeps the temporary
# (k, block, 22) arrays at a few MB, so they are reused from the heap instead of
# being freshly mapped (and page-faulted) per block -- a first call on 100k
# formulas took ~1.5x longer with 16k blocks -- and gives the progress bar steps.
_BLOCK = 4096



@dataclass(frozen=True)
class ElementTables:
    """The element data the 145 features are computed from (picklable; built by the composition module)."""

    symbol_to_z: dict[str, int]  # the symbols the fast parser accepts (Z 1..MAX_Z)
    magpie: np.ndarray  # (MAX_Z + 1, 22), row Z; row 0 unused
    x: np.ndarray  # (MAX_Z + 1,) electronegativity as IonProperty uses it
    n_ox: np.ndarray  # (MAX_Z + 1,) number of common oxidation states
    ox: np.ndarray  # (MAX_Z + 1, max n_ox) common oxidation states, zero padded


def compound_possible(z: np.ndarray, a: np.ndarray, t: ElementTables) -> np.ndarray:
    """IonProperty(fast=True)'s "compound possible" for (m, k) blocks, k >= 2.

    True when some choice of one common oxidation state per element makes
    ``dot(states, amounts)`` zero within 1e-8 (``np.isclose(x, 0)``, on the
    raw amounts as matminer does). An element without common oxidation states
    (noble gases, Rn, Db..Cn) makes it False, as matminer's empty product does.
    Summation order differs from matminer's only in the last bits, far below
    the 1e-8 tolerance.

    Vectorized over all (composition, state combination) pairs at once: row r
    has ``P_r = prod(n_states)`` combinations (a few for typical compounds);
    the concatenated combination space is walked in chunks of ~1M entries,
    each entry's states found by mixed-radix decoding of its combination index.
    """
    m, k = z.shape
    out = np.zeros(m, dtype=bool)
    cnt = t.n_ox[z]  # (m, k) states per element
    if float(np.prod(cnt, axis=1, dtype=np.float64).max(initial=0)) > 2.0**62:
        raise InvalidInputError(
            "batch", "a composition has too many multi-valent elements to enumerate oxidation states"
        )
    radix = np.cumprod(np.concatenate([np.ones((m, 1), np.int64), cnt[:, :-1]], axis=1), axis=1)
    n_combo = radix[:, -1] * cnt[:, -1]  # 0 when an element has no state
    offsets = np.cumsum(n_combo) - n_combo
    total = int(n_combo.sum())
    step = 1 << 20
    for c0 in range(0, total, step):
        e = np.arange(c0, min(c0 + step, total))
        # Owning row of each entry ("right" skips rows without combinations).
        r = np.searchsorted(offsets, e, side="right") - 1
        combo = e - offsets[r]
        charge = np.zeros(len(e))
        for i in range(k):
            state = t.ox[z[r, i], (combo // radix[r, i]) % cnt[r, i]]
            charge += a[r, i] * state
        out[r[np.abs(charge) <= 1e-8]] = True
    return out


def block_features(z: np.ndarray, a: np.ndarray, t: ElementTables) -> np.ndarray:
    """The 145 features of m compositions of k elements each: z, a are (m, k)."""
    m, k = z.shape
    out = np.empty((m, len(MAGPIE_LABELS)))
    # Work element-major, (k, m, ...): reductions over the k elements of each
    # composition are then a few whole-array operations on contiguous
    # (m, ...) slices, ~5x faster than reducing over a short inner axis.
    zt, at = z.T, a.T
    total = at.sum(axis=0)

    # Stoichiometry: p=0 counts the elements; others are p-norms of fractions.
    frac = at / total
    out[:, 0] = k
    # Integer powers by multiplication (pow() is ~10x slower); differs from
    # matminer's x**p in the last bit at most.
    f2 = frac * frac
    f3 = f2 * frac
    f5 = f3 * f2
    powers = {2: f2, 3: f3, 5: f5, 7: f5 * f2, 10: f5 * f5}
    for j, p in enumerate(P_NORMS[1:], start=1):
        out[:, j] = powers[p].sum(axis=0) ** (1.0 / p)

    # ElementProperty: weighted statistics use the raw amounts as weights,
    # exactly like matminer (np.average normalizes them).
    v = t.magpie[zt]  # (k, m, 22)
    w = at[:, :, None]
    ep = np.empty((m, len(MAGPIE_PROPERTIES), len(MAGPIE_STATS)))
    vmin, vmax = v.min(axis=0), v.max(axis=0)
    mean = (w * v).sum(axis=0) / total[:, None]
    ep[:, :, 0] = vmin
    ep[:, :, 1] = vmax
    ep[:, :, 2] = vmax - vmin
    ep[:, :, 3] = mean
    ep[:, :, 4] = (w * np.abs(v - mean)).sum(axis=0) / total[:, None]  # avg_dev
    # mode: the smallest value among the elements whose amount is "close" to
    # the largest amount (np.isclose, rtol 1e-5 / atol 1e-8, on raw amounts).
    most = np.isclose(at, at.max(axis=0))
    ep[:, :, 5] = (v + np.where(most, 0.0, np.inf)[:, :, None]).min(axis=0)  # others -> +inf
    n_ep = ep.shape[1] * ep.shape[2]
    out[:, 6 : 6 + n_ep] = ep.reshape(m, n_ep)

    # ValenceOrbital(props=["frac"]): mean N{orb}Valence / mean NValence.
    c = 6 + n_ep
    n_val = mean[:, MAGPIE_PROPERTIES.index("NValence")]
    for j, orb in enumerate(ORBITALS):
        out[:, c + j] = mean[:, MAGPIE_PROPERTIES.index(f"N{orb}Valence")] / n_val

    # IonProperty(fast=True).
    c += len(ORBITALS)
    if k == 1:  # matminer: a single element is "possible" with no ionic character
        out[:, c : c + 3] = (1.0, 0.0, 0.0)
        return out
    x = t.x[zt]
    i, j = np.triu_indices(k, 1)  # itertools.combinations order
    ionic = 1.0 - np.exp(-0.25 * (x[i] - x[j]) ** 2)  # (pairs, m)
    out[:, c] = compound_possible(z, a, t)
    out[:, c + 1] = ionic.max(axis=0)
    out[:, c + 2] = (frac[i] * frac[j] * ionic).sum(axis=0)
    return out


def features_of_rows(
    z: np.ndarray,
    a: np.ndarray,
    start: np.ndarray,
    count: np.ndarray,
    tables: ElementTables,
    on_block=None,
) -> np.ndarray:
    """The (n, 145) features of n compositions whose elements are ``z[start[i]:start[i] + count[i]]``
    with amounts ``a[...]``; a row with ``count`` 0 is NaN. ``on_block(n_rows)`` follows progress."""
    feats = np.empty((len(count), len(MAGPIE_LABELS)))
    feats[count == 0] = np.nan
    for k in np.unique(count[count > 0]):
        slots = np.flatnonzero(count == k)
        for b0 in range(0, len(slots), _BLOCK):
            blk = slots[b0 : b0 + _BLOCK]
            idx = start[blk, None] + np.arange(k)
            feats[blk] = block_features(z[idx], a[idx], tables)
            if on_block is not None:
                on_block(len(blk))
    return feats


def features_from_element_amounts(count: np.ndarray, z: np.ndarray, a: np.ndarray, tables: ElementTables) -> np.ndarray:
    """The 145 features of compositions in CSR form: elements per composition, Z and amounts, in order."""
    return features_of_rows(z, a, np.cumsum(count) - count, count, tables)
