"""The types every featurizer shares: its spec (name, version, input kind) and its result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

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


__all__ = ["FeatureResult", "FeaturizerSpec", "Errors"]
