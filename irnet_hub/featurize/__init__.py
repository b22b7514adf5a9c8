"""Featurizers: formulas or structures -> fixed-length attribute vectors.

Three featurizers, each named and versioned so a trained model can record which
one it needs:

* ``magpie145``  (:mod:`.composition`): the 145 composition attributes of
  Ward et al. 2016, computed vectorized over a batch.
* ``magpie145+oliynyk`` (:mod:`.embeddings`): those 145 plus the mean and
  standard deviation of the Oliynyk element properties (88), for models
  where validation showed that they help (mp-shear-modulus).
* ``ward2017``   (:mod:`.structure`): the Voronoi structure attributes of
  Ward et al. 2017 plus the 145 composition attributes.

Both return a :class:`FeatureResult`: the features of the rows that worked,
their row indices, and a list of the rows that failed and why.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Sequence

from irnet_hub.constants import FEATURIZERS
from irnet_hub.errors import InvalidInputError
from irnet_hub.featurize.base import Errors, FeatureResult, FeaturizerSpec
from irnet_hub.featurize.specs import SPECS

# name -> (module, its featurize function, its labels: a list or a function returning one)
_IMPLEMENTATIONS = {
    "magpie145": ("irnet_hub.featurize.composition", "featurize_compositions", "MAGPIE_LABELS"),
    "magpie145+oliynyk": ("irnet_hub.featurize.embeddings", "featurize_magpie_oliynyk", "labels"),
    "ward2017": ("irnet_hub.featurize.structure", "featurize_structures", "STRUCTURE_LABELS"),
}


@dataclass(frozen=True)
class Featurizer:
    """One featurizer: its :class:`FeaturizerSpec` (name, version, input kind, how to name and cite it), its
    feature labels and ``featurize(items, errors=..., **options)``. Cards, DLHub descriptions, training,
    the predictor and screening ask this object instead of knowing featurizer names. The module that
    computes the features (pymatgen; matminer for structures) is imported on first use."""

    spec: FeaturizerSpec

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def input_kind(self) -> str:
        return self.spec.input_kind

    @property
    def n_features(self) -> int:
        return self.spec.n_features

    def _module(self):
        return importlib.import_module(_IMPLEMENTATIONS[self.spec.name][0])

    def labels(self) -> list[str]:
        """The feature names, in column order."""
        labels = getattr(self._module(), _IMPLEMENTATIONS[self.spec.name][2])
        return list(labels() if callable(labels) else labels)

    def featurize(self, items: Sequence[Any], errors: str = "skip", **options: Any) -> FeatureResult:
        """Features of ``items`` (formulas/Compositions, or structures); options go to the featurizer
        (``progress``; for structures ``n_jobs``, ``use_cache``, ``timeout``).

        ``errors``, as for ``Predictor.predict``: ``"skip"`` lists the rows that cannot be featurized in
        ``result.failures``; ``"raise"`` raises :class:`~irnet_hub.errors.BatchInputError` naming them.
        (The featurizer functions call ``"skip"`` ``"collect"``; both are accepted.)"""
        if errors not in ("skip", "collect", "raise"):
            raise InvalidInputError(errors, "errors must be 'skip' or 'raise'")
        fn = getattr(self._module(), _IMPLEMENTATIONS[self.spec.name][1])
        return fn(items, errors="raise" if errors == "raise" else "collect", **options)


def get_featurizer(name: str) -> Featurizer:
    """The :class:`Featurizer` of a featurizer name (as a model's ``irnet.json`` records it)."""
    if not isinstance(name, str) or name not in SPECS:
        raise InvalidInputError(name, "unknown featurizer; choose " + " or ".join(repr(f) for f in FEATURIZERS))
    return Featurizer(SPECS[name])


__all__ = ["FeatureResult", "Featurizer", "FeaturizerSpec", "get_featurizer", "Errors"]
