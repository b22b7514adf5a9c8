"""Constants shared across irnet-hub, each defined once.

The paper irnet-hub implements, the default model, the in-domain threshold
and the featurizer names. Modules import them from here instead of keeping
their own copies (they had drifted into four places before).
"""

from __future__ import annotations

PAPER_DOI = "10.1145/3292500.3330703"
PAPER_CITATION = (
    "Dipendra Jha, Logan Ward, Zijiang Yang, Christopher Wolverton, Ian Foster, Wei-keng Liao, "
    "Alok Choudhary and Ankit Agrawal. IRNet: A General Purpose Deep Residual Regression Framework "
    "for Materials Discovery. Proceedings of the 25th ACM SIGKDD International Conference on Knowledge "
    "Discovery & Data Mining (KDD '19), 2385-2393 (2019). https://doi.org/" + PAPER_DOI
)
PAPER_BIBTEX = """@inproceedings{jha2019irnet,
  title     = {{IRNet}: A General Purpose Deep Residual Regression Framework for Materials Discovery},
  author    = {Jha, Dipendra and Ward, Logan and Yang, Zijiang and Wolverton, Christopher and
               Foster, Ian and Liao, Wei-keng and Choudhary, Alok and Agrawal, Ankit},
  booktitle = {Proceedings of the 25th ACM SIGKDD International Conference on Knowledge Discovery \\& Data Mining},
  pages     = {2385--2393},
  year      = {2019},
  doi       = {%s}
}""" % PAPER_DOI

# The formation-enthalpy model: `irnet demo`, `make run` and `irnet screen` use it by default.
DEFAULT_MODEL = "oqmd-formation-enthalpy"
# The shipped structure model, named where a structure file is given to a composition model.
STRUCTURE_MODEL = "matbench-phonons-structure"
# An element seen in fewer training compositions than this makes a prediction out of domain.
MIN_ELEMENT_COUNT = 5
# Hydrate notation, as chemists write it: CuSO4.5H2O, CaCl2·2H2O, MgSO4*7H2O, CuSO4.H2O. Read as
# CuSO4(H2O)5, never as the decimal amount O4.5 (the featurizer and the in-domain rule both use it).
HYDRATE_PATTERN = r"^(?P<base>.+?)[.\u00b7*](?P<n>\d*)H2O$"
# Featurizer names (irnet_hub.featurize): 145 Magpie composition attributes, and the
# Ward-2017 Voronoi structure + composition attributes.
FEATURIZERS = ("magpie145", "magpie145+oliynyk", "ward2017")
DEFAULT_FEATURIZER = "magpie145"

__all__ = ["PAPER_DOI", "PAPER_CITATION", "PAPER_BIBTEX", "DEFAULT_MODEL", "MIN_ELEMENT_COUNT", "FEATURIZERS",
           "DEFAULT_FEATURIZER"]
