"""Element-embedding statistics of a composition (mat2vec, Oliynyk), for the zoo's descriptor ablation.

The element vectors come from the ``elementembeddings`` package (Onwuli et al.,
Digital Discovery 2023; MIT licence), read from its data files, so only the
package's data is needed, not its plotting and dimension-reduction stack:
``pip install --no-deps elementembeddings``. A composition's descriptor is the
fraction-weighted mean and standard deviation of its elements' vectors (the
``avg`` and ``dev`` statistics of CBFV, Murdock et al. 2020). Elements the
embedding lacks give NaN, which training fills with the training mean as it
does for Magpie's missing values.

The ablation in scripts/descriptor_ablation.py measures whether they help the
zoo (model_cards/BENCHMARKS_notes.md has the result). Where they did, the
model uses the featurizer ``magpie145+oliynyk`` (:data:`SPEC`): the 145
Magpie attributes followed by the Oliynyk mean and standard deviation (88).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Sequence

import numpy as np

from irnet_hub.errors import InvalidInputError, MissingDependencyError
from irnet_hub.featurize.base import Errors, FeatureResult
from irnet_hub.featurize.specs import MAGPIE145_OLIYNYK


# name -> data file inside elementembeddings/data/element_representations/
EMBEDDINGS = {"mat2vec": "mat2vec.csv", "oliynyk": "oliynyk_preprocessed.csv"}


@lru_cache(maxsize=None)
def element_table(name: str) -> np.ndarray:
    """(max Z + 1, d) array of element vectors indexed by atomic number; NaN rows for missing elements."""
    import importlib.resources

    import pandas as pd
    from pymatgen.core import Element

    if name not in EMBEDDINGS:
        raise InvalidInputError(name, f"unknown element embedding; choose {', '.join(EMBEDDINGS)}")
    try:
        source = importlib.resources.files("elementembeddings") / "data" / "element_representations" / EMBEDDINGS[name]
    except ModuleNotFoundError:
        raise MissingDependencyError("elementembeddings", f"the {name} element vectors come from the "
                                     "elementembeddings package, which is not installed: pip install --no-deps "
                                     "'elementembeddings==0.8.0'") from None  # fmt: skip
    df = pd.read_csv(source)
    vectors = df.iloc[:, 1:].apply(pd.to_numeric, errors="coerce").to_numpy(float)
    table = np.full((119, vectors.shape[1]), np.nan)
    for symbol, row in zip(df.iloc[:, 0].astype(str), vectors):
        if Element.is_valid_symbol(symbol):
            table[Element(symbol).Z] = row
    return table


def embedding_stats(count: np.ndarray, z: np.ndarray, a: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Fraction-weighted mean and standard deviation of element vectors, from the CSR form of
    :func:`irnet_hub.featurize.composition.element_amount_arrays` (elements per formula, Z, amounts)."""
    start = np.cumsum(count) - count
    owner = np.repeat(np.arange(len(count)), count)
    frac = a / np.add.reduceat(a, start)[owner]
    v = table[z]
    mean = np.add.reduceat(frac[:, None] * v, start, axis=0)
    var = np.add.reduceat(frac[:, None] * (v - mean[owner]) ** 2, start, axis=0)
    return np.hstack([mean, np.sqrt(np.maximum(var, 0.0))])


def embedding_features(formulas: Sequence[str], name: str) -> np.ndarray:
    """(n, 2d) mean and std of the ``name`` element vectors of each formula."""
    from irnet_hub.featurize.composition import element_amount_arrays

    count, z, a = element_amount_arrays(formulas)
    return embedding_stats(count, z, a, element_table(name))


@lru_cache(maxsize=1)
def _oliynyk_columns() -> list[str]:
    import importlib.resources

    import pandas as pd

    source = importlib.resources.files("elementembeddings") / "data" / "element_representations" / EMBEDDINGS["oliynyk"]
    return [str(c) for c in pd.read_csv(source, nrows=0).columns[1:]]


SPEC = MAGPIE145_OLIYNYK


def labels() -> list[str]:
    """Feature names of ``magpie145+oliynyk``, in order."""
    from irnet_hub.featurize.composition import MAGPIE_LABELS

    cols = list(_oliynyk_columns())
    return list(MAGPIE_LABELS) + [f"Oliynyk mean {c}" for c in cols] + [f"Oliynyk std {c}" for c in cols]


def featurize_magpie_oliynyk(items: Sequence[Any], errors: Errors = "collect", progress: bool = False) -> FeatureResult:
    """Magpie attributes plus Oliynyk element-property statistics of each formula or Composition."""
    from irnet_hub.featurize.composition import featurize_compositions

    element_table("oliynyk")  # a missing package is reported before any work
    magpie = featurize_compositions(items, errors=errors, progress=progress)
    seq = items.tolist() if hasattr(items, "tolist") else list(items)
    valid = [seq[i] if isinstance(seq[i], str) else _formula(seq[i]) for i in magpie.rows]
    extra = embedding_features(valid, "oliynyk") if valid else np.zeros((0, 88))
    return FeatureResult(np.hstack([magpie.features, extra]), magpie.rows, labels(), magpie.failures)


def _formula(comp: Any) -> str:
    # A pymatgen Composition (possibly with oxidation states): its element amounts as a formula.
    comp = getattr(comp, "element_composition", comp)
    return "".join(f"{el}{amt:.12g}" for el, amt in comp.items())
