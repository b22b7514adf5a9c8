"""Element-embedding statistics (the zoo's descriptor ablation), from the elementembeddings package's data."""

from __future__ import annotations

import numpy as np
import pytest

from irnet_hub.errors import InvalidInputError
from irnet_hub.featurize.embeddings import element_table, embedding_features


@pytest.mark.parametrize("name,dim", [("mat2vec", 200), ("oliynyk", 44)])
def test_mean_and_std_of_element_vectors(name, dim):
    t = element_table(name)
    assert t.shape == (119, dim) and np.isfinite(t[8]).all()  # O is in both
    E = embedding_features(["NaCl", "Fe2O3", "Na2Cl2"], name)
    assert E.shape == (3, 2 * dim)
    np.testing.assert_allclose(E[0, :dim], (t[11] + t[17]) / 2)  # equal fractions: the plain mean
    np.testing.assert_allclose(E[0, dim:], np.abs(t[11] - t[17]) / 2)  # and half the distance
    np.testing.assert_allclose(E[1, :dim], 0.4 * t[26] + 0.6 * t[8])  # Fe2O3: weighted by fraction
    np.testing.assert_allclose(E[2], E[0])  # only fractions matter


def test_missing_elements_are_nan_and_bad_names_are_refused():
    assert np.isnan(embedding_features(["Cn"], "oliynyk")).all()  # Oliynyk lists 85 elements, Cn not among them
    with pytest.raises(InvalidInputError, match="unknown element embedding"):
        element_table("word2vec")
