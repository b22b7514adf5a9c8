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


def test_magpie_oliynyk_featurizer_is_magpie_then_oliynyk():
    from pymatgen.core import Composition

    from irnet_hub.featurize import get_featurizer

    spec, featurize = get_featurizer("magpie145+oliynyk").spec, get_featurizer("magpie145+oliynyk").featurize
    magpie = get_featurizer("magpie145").featurize
    items = ["NaCl", "Fe2O3", Composition("Fe2O3"), "Xx2", "LiFePO4"]
    res = featurize(items)
    assert spec.n_features == 233 == res.features.shape[1] == len(res.labels)
    assert list(res.rows) == [0, 1, 2, 4] and "Xx" in res.failures[0].reason
    np.testing.assert_array_equal(res.features[:, :145], magpie(items).features)
    np.testing.assert_allclose(res.features[:, 145:], embedding_features(["NaCl", "Fe2O3", "Fe2O3", "LiFePO4"], "oliynyk"))
    np.testing.assert_allclose(res.features[1], res.features[2])  # a Composition is its formula
    assert res.labels[145].startswith("Oliynyk mean") and res.labels[-1].startswith("Oliynyk std")


def test_missing_package_is_named(monkeypatch):
    import importlib.resources

    def gone(name):
        raise ModuleNotFoundError(name)

    element_table.cache_clear()
    monkeypatch.setattr(importlib.resources, "files", gone)
    try:
        from irnet_hub.cli import exit_code
        from irnet_hub.errors import MissingDependencyError

        with pytest.raises(MissingDependencyError, match="pip install --no-deps 'elementembeddings==0.8.0'") as err:
            element_table("oliynyk")
        assert exit_code(err.value) == 3  # a missing dependency (README's table), not bad input (issue 19)
    finally:
        monkeypatch.undo()
        element_table.cache_clear()
