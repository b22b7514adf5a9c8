"""The types every featurizer shares: its spec (name, version, input kind, how to cite it) and its result."""

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
    """A featurizer's identity (what a model directory records: :meth:`to_dict`) and how cards and
    DLHub descriptions name and cite it (``display_name``, ``citations``, ``dois``)."""

    name: str
    version: str
    input_kind: Literal["composition", "structure"]
    n_features: int
    description: str
    display_name: str = ""  # "Magpie composition": "the 145 <display_name> attributes"
    citations: tuple[str, ...] = ()  # references in words, for the card's citation section
    dois: tuple[str, ...] = ()  # the same as DOIs, for DataCite "References"
    libraries: dict[str, str] = field(default_factory=dict)  # extra run-time packages: name -> pip requirement

    def phrase(self) -> str:
        """``the 145 Magpie composition attributes (magpie145)``, as cards and descriptions write it."""
        return f"the {self.n_features} {self.display_name or self.name} attributes ({self.name})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "input_kind": self.input_kind,
            "n_features": self.n_features,
            "description": self.description,
        }


__all__ = ["FeatureResult", "FeaturizerSpec", "Errors"]
