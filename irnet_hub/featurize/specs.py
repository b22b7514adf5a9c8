"""The specs of the three featurizers: name, version, input kind, size, and how to cite them.

Kept apart from the featurizers themselves (which import pymatgen and matminer) so that cards,
DLHub descriptions and ``irnet info`` can name and cite a featurizer without importing it.
"""

from __future__ import annotations

from irnet_hub.featurize.base import FeaturizerSpec

MAGPIE_CITATION = (
    "Ward, Agrawal, Choudhary and Wolverton, A general-purpose machine learning framework for predicting "
    "properties of inorganic materials, npj Comput. Mater. 2, 16028 (2016)"
)
MAGPIE_DOI = "10.1038/npjcompumats.2016.28"

OLIYNYK_CITATION = (
    "Oliynyk, Antono, Sparks, Ghadbeigi, Gaultois, Meredig and Mar, High-throughput machine-learning-driven "
    "synthesis of full-Heusler compounds, Chem. Mater. 28, 7324 (2016); element table as distributed by "
    "elementembeddings (Onwuli, Hegde, Nguyen, Butler and Walsh, Digital Discovery 2023)"
)

WARD2017_CITATION = (
    "Ward, Liu, Krishna, Hegde, Agrawal, Choudhary and Wolverton, Including crystal structure attributes in "
    "machine learning models of formation energies via Voronoi tessellations, Phys. Rev. B 96, 024104 (2017)"
)


MAGPIE145 = FeaturizerSpec(
    name="magpie145",
    version="1",
    input_kind="composition",
    n_features=145,
    description=(
        "Magpie composition attributes of Ward et al. (npj Comput. Mater. 2, 16028, 2016) as "
        "matminer 0.10 computes them: Stoichiometry p-norms (6), ElementProperty 'magpie' "
        "preset (22 properties x min/max/range/mean/avg_dev/mode = 132), ValenceOrbital "
        "fractions (4), IonProperty(fast=True) (3); missing element data imputed with the "
        "mean over elements, as matminer does."
    ),
    display_name="Magpie composition",
    citations=(MAGPIE_CITATION,),
    dois=(MAGPIE_DOI,),
)


MAGPIE145_OLIYNYK = FeaturizerSpec(
    name="magpie145+oliynyk",
    version="1",
    input_kind="composition",
    n_features=145 + 2 * 44,
    description=(
        "The 145 Magpie attributes (magpie145), then the fraction-weighted mean (44) and standard deviation (44) "
        "of the Oliynyk element properties (the preprocessed table of the elementembeddings package 0.8, "
        "Onwuli et al. 2023; Oliynyk et al., Chem. Mater. 28, 7324, 2016); elements without an Oliynyk "
        "entry give missing values, filled with the training mean."
    ),
    display_name="Magpie composition + Oliynyk element-property",
    citations=(MAGPIE_CITATION, OLIYNYK_CITATION),
    dois=(MAGPIE_DOI, "10.1021/acs.chemmater.6b02724"),
    # only its element table is used; its own dependencies are not needed
    libraries={"elementembeddings": "elementembeddings==0.8.0"},
)


WARD2017 = FeaturizerSpec(
    name="ward2017",
    version="1",
    input_kind="structure",
    n_features=128 + 145,
    description=(
        "Ward et al. 2017 (PRB 96, 024104) Voronoi-tessellation structure attributes "
        "(128) followed by the 145 Magpie composition attributes, computed with "
        "matminer's Ward-PRB-2017 presets"
    ),
    display_name="Ward-2017 structure + composition",
    citations=(WARD2017_CITATION,),
    dois=("10.1103/PhysRevB.96.024104", MAGPIE_DOI),
)


SPECS = {spec.name: spec for spec in (MAGPIE145, MAGPIE145_OLIYNYK, WARD2017)}

__all__ = ["SPECS", "MAGPIE145", "MAGPIE145_OLIYNYK", "WARD2017", "MAGPIE_CITATION", "OLIYNYK_CITATION",
           "WARD2017_CITATION"]
