"""Featurizers: formulas or structures -> fixed-length attribute vectors.

Two featurizers, each named and versioned so a trained model can record which
one it needs:

* ``magpie145``  (:mod:`.composition`): the 145 composition attributes of
  Ward et al. 2016, computed vectorized over a batch.
* ``ward2017``   (:mod:`.structure`): the Voronoi structure attributes of
  Ward et al. 2017 plus the 145 composition attributes.

Both return a :class:`FeatureResult`: the features of the rows that worked,
their row indices, and a list of the rows that failed and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Sequence

import numpy as np

from irnet_hub.errors import BatchInputError, RowFailure

Errors = Literal["raise", "collect"]


@dataclass
class FeatureResult:
    """Features of a batch.

    ``features[i]`` belongs to input row ``rows[i]``; rows listed in
    ``failures`` have no features.
    """

    features: np.ndarray  # (n_ok, n_features) float64
    rows: np.ndarray  # (n_ok,) int, indices into the input batch
    labels: list[str]
    failures: list[RowFailure] = field(default_factory=list)

    def raise_if_failed(self) -> "FeatureResult":
        if self.failures:
            raise BatchInputError(self.failures)
        return self

    def to_frame(self, index: Sequence[Any] | None = None):
        """Features as a pandas DataFrame indexed by input row (or ``index``)."""
        import pandas as pd

        idx = self.rows if index is None else np.asarray(index, dtype=object)[self.rows]
        return pd.DataFrame(self.features, index=idx, columns=self.labels)


@dataclass(frozen=True)
class FeaturizerSpec:
    """What a model directory records about its featurizer."""

    name: str
    version: str
    input_kind: Literal["composition", "structure"]
    n_features: int
    description: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "input_kind": self.input_kind,
            "n_features": self.n_features,
            "description": self.description,
        }


def get_featurizer(name: str) -> tuple[FeaturizerSpec, Callable[..., FeatureResult]]:
    """Return ``(spec, featurize_function)`` for a featurizer name."""
    if name == "magpie145":
        from irnet_hub.featurize import composition

        return composition.SPEC, composition.featurize_compositions
    if name == "ward2017":
        from irnet_hub.featurize import structure

        return structure.SPEC, structure.featurize_structures
    from irnet_hub.errors import InvalidInputError

    raise InvalidInputError(name, "unknown featurizer; choose 'magpie145' or 'ward2017'")


__all__ = ["FeatureResult", "FeaturizerSpec", "get_featurizer", "Errors"]
