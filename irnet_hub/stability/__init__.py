"""Stability screening: enumerate candidate compositions, predict their formation
enthalpy, build each chemical system's predicted convex hull, rank by energy above hull.

>>> import irnet_hub
>>> df = irnet_hub.screen(["Li-Fe-O"], max_atoms=8, model="my-model-dir", top=10)

* :mod:`.candidates`: stoichiometry grids and prototype templates, planned
  into partitions and generated lazily (charge-balance filter included).
* :mod:`.hull`: partition-local lower hulls and the final pymatgen
  ``PhaseDiagram`` per system; vectorized energy above hull; hull plots.
* :mod:`.run`: the two-pass execution, in-process or on a Dask cluster, and
  :func:`screen` itself. The ``irnet screen`` command is a thin layer over it.

See docs/screening.md.
"""

from __future__ import annotations

from irnet_hub.stability.candidates import BUILTIN_PROTOTYPES, charge_balanced, enumerate_candidates, plan
from irnet_hub.stability.hull import PredictedHull, lower_hull_vertices
from irnet_hub.stability.run import DEFAULT_MODEL, ScreenConfig, ScreenResult, screen

__all__ = [
    "screen",
    "ScreenResult",
    "ScreenConfig",
    "plan",
    "enumerate_candidates",
    "charge_balanced",
    "BUILTIN_PROTOTYPES",
    "PredictedHull",
    "lower_hull_vertices",
    "DEFAULT_MODEL",
]

