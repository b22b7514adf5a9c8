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

from typing import Callable

from irnet_hub.constants import FEATURIZERS
from irnet_hub.errors import InvalidInputError
from irnet_hub.featurize.base import Errors, FeatureResult, FeaturizerSpec


def get_featurizer(name: str) -> tuple[FeaturizerSpec, Callable[..., FeatureResult]]:
    """Return ``(spec, featurize_function)`` for a featurizer name."""
    if name == "magpie145":
        from irnet_hub.featurize import composition

        return composition.SPEC, composition.featurize_compositions
    if name == "magpie145+oliynyk":
        from irnet_hub.featurize import embeddings

        return embeddings.SPEC, embeddings.featurize_magpie_oliynyk
    if name == "ward2017":
        from irnet_hub.featurize import structure

        return structure.SPEC, structure.featurize_structures
    raise InvalidInputError(name, "unknown featurizer; choose " + " or ".join(repr(f) for f in FEATURIZERS))


__all__ = ["FeatureResult", "FeaturizerSpec", "get_featurizer", "Errors"]
