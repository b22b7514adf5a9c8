"""Predicted convex hulls: which candidates are stable, and how far above the hull the others lie.

Energies are formation enthalpies per atom, so every element sits at zero.
The hull of a chemical system is built in two steps, so that it never needs
all of a system's candidates in one place:

1. :func:`lower_hull_vertices` on each partition's candidates (the same
   construction as pymatgen's ``PhaseDiagram``: qhull on (fractions, energy)
   with the elements at zero and one point far above). A point that is not a
   vertex of its own partition's lower hull is above a facet of points of that
   partition, hence above the full hull too: the union of the partitions'
   vertices contains every vertex of the full hull, and has the same hull.
2. :class:`PredictedHull`: pymatgen's ``PhaseDiagram`` of those vertices (plus
   the elements and any known phases). Its facets become planes, and a
   candidate's energy above the hull is its energy minus the highest plane at
   its composition (the lower hull is convex: it is the maximum of its facets'
   planes), vectorized over any number of candidates; for hulls with many
   facets each point instead walks to the facet that contains it.

Stable candidates also get a *decomposition energy* (<= 0): how far below
the hull of all other compositions they lie (Bartel et al., npj Comput.
Mater. 6, 97 (2020); pymatgen's ``get_phase_separation_energy``). It ranks
stable candidates by how robustly stable they are. It needs the second layer
of the hull too, so partitions report two layers (:func:`hull_layers`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

# pymatgen's PhaseDiagram.formation_energy_tol: only entries below this enter qhull.
FORMATION_ENERGY_TOL = 1e-11
# A candidate counts as a hull vertex when its energy is this close to the hull (eV/atom).
STABLE_TOL = 1e-8


def fractions(a: np.ndarray) -> np.ndarray:
    """Hull coordinates: atomic fractions of all but the first element (columns of ``a``)."""
    a = np.asarray(a, dtype=np.float64)
    return (a / a.sum(axis=1, keepdims=True))[:, 1:]


def _lower_hull(coords: np.ndarray, energy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(vertex indices into the rows, facet planes, facets) of the lower hull, elements at zero added.

    Planes are rows (c0, c1..cd) with energy = c0 + sum c_i x_i on that facet.
    Facets are rows of d+1 point indices: a row index, or -1-k for element k.
    """
    from scipy.spatial import ConvexHull, QhullError

    coords = np.asarray(coords, dtype=np.float64)
    coords = coords.reshape(len(coords), -1) if coords.ndim == 1 else coords  # binary: (m,) -> (m, 1)
    energy = np.asarray(energy, dtype=np.float64)
    d = coords.shape[1]
    below = np.flatnonzero(energy < -FORMATION_ENERGY_TOL)
    if len(below) == 0:  # the elements' facet: zero everywhere
        return below, np.zeros((1, d + 1)), -1 - np.arange(d + 1)[None, :]
    elements = np.concatenate([np.zeros((1, d)), np.eye(d)])
    pts = np.concatenate([
        np.column_stack([coords[below], energy[below]]),
        np.column_stack([elements, np.zeros(d + 1)]),
    ])
    extra = np.full(d + 1, 1.0 / (d + 1))
    extra[-1] = pts.max() + 1
    pts = np.concatenate([pts, extra[None]])
    try:
        simplices = ConvexHull(pts, qhull_options="Qt i").simplices
    except QhullError:
        simplices = ConvexHull(pts, qhull_options="QJ i").simplices
    lower = simplices[simplices.max(axis=1) < len(pts) - 1]
    design = np.concatenate([np.ones((len(lower), d + 1, 1)), pts[lower][:, :, :-1]], axis=2)
    keep = np.abs(np.linalg.det(design)) > 1e-14
    lower, design = lower[keep], design[keep]
    planes = np.linalg.solve(design, pts[lower][:, :, -1:])[:, :, 0]
    vertices = np.unique(lower)
    point_id = np.concatenate([below, -1 - np.arange(d + 1)])
    return below[vertices[vertices < len(below)]], planes, point_id[lower]


def _decomposition_energies(x: np.ndarray, energy: np.ndarray, groups: np.ndarray,
                            targets: Sequence[int]) -> dict[int, float]:
    """Energy of each target row relative to the hull of all rows of other compositions (<= 0 if stable).

    ``groups`` labels rows of the same composition. Removing a hull vertex v only
    changes the hull over its *star* (the facets through v): the new hull there
    is made of the points inside that region, so each target needs a small
    hull, not one over every point.
    """
    from scipy.spatial import cKDTree

    _, _, facets = _lower_hull(x, energy)
    d = x.shape[1]
    corner = np.concatenate([np.zeros((1, d)), np.eye(d)])  # element k at -1-k
    ids = np.maximum(facets, 0)
    pts = np.where((facets >= 0)[..., None], x[ids], corner[np.maximum(-1 - facets, 0)])  # (F, d+1, d)
    # Barycentric coordinates in facet f: inverse[f] @ [1, x].
    inverse = np.linalg.inv(np.concatenate([np.ones((len(facets), 1, d + 1)), np.transpose(pts, (0, 2, 1))], axis=1))
    flat = facets.ravel()
    order = np.argsort(flat, kind="stable")
    tree = cKDTree(x)

    out: dict[int, float] = {}
    for v in targets:
        lo, hi = np.searchsorted(flat[order], [v, v + 1])
        star = order[lo:hi] // (d + 1)  # facets through v
        if len(star):
            # Only points inside the star can form the hull that replaces it.
            radius = np.sqrt(((pts[star].reshape(-1, d) - x[v]) ** 2).sum(axis=1).max()) + 1e-9
            near = np.asarray(tree.query_ball_point(x[v], radius), dtype=np.int64)
            near = near[groups[near] != groups[v]]
            lam = np.einsum("fij,cj->cfi", inverse[star], np.column_stack([np.ones(len(near)), x[near]]))
            rest = near[(lam >= -1e-9).all(axis=2).any(axis=1)]
        else:  # v is not a vertex of this hull: use every other composition
            rest = np.flatnonzero(groups != groups[v])
        _, planes, _ = _lower_hull(x[rest], energy[rest])
        out[v] = float(energy[v] - (planes @ np.concatenate([[1.0], x[v]])).max())
    return out


def lower_hull_vertices(coords: np.ndarray, energy: np.ndarray) -> np.ndarray:
    """Indices of the points on the lower convex hull (elements at zero energy added implicitly).

    ``coords`` (m, d) are atomic fractions of elements 1..d of a (d+1)-element
    system, ``energy`` (m,) formation energies per atom. Mirrors pymatgen's
    ``PhaseDiagram``: only points below zero can be vertices; facets through
    the extra point above everything, and vertical facets (zero volume in
    composition space), are not part of the lower hull.
    """
    return _lower_hull(coords, energy)[0]


def hull_layers(coords: np.ndarray, energy: np.ndarray, layers: int = 2) -> np.ndarray:
    """Indices of the vertices of the lower hull and of the hulls left after peeling it ``layers - 1`` times.

    Two layers are what the decomposition energy of a stable candidate needs:
    the hull without that candidate has only vertices of the first two layers
    (a plane supporting the rest at a point also supports the rest minus all
    first-layer vertices). Used per partition, so the client only merges these.
    """
    rest = np.arange(len(energy))
    found = []
    for _ in range(layers):
        if len(rest) == 0:
            break
        v = rest[lower_hull_vertices(np.asarray(coords)[rest], np.asarray(energy)[rest])]
        if len(v) == 0:
            break
        found.append(v)
        rest = np.setdiff1d(rest, v)
    return np.sort(np.concatenate(found)) if found else np.zeros(0, np.int64)


@dataclass
class PredictedHull:
    """The predicted hull of one chemical system, from pymatgen's ``PhaseDiagram``.

    ``elements`` fixes the coordinate order (:func:`fractions` of amounts in
    that order). ``stable`` maps the formula of each candidate that is a hull
    vertex to its energy per atom.
    """

    elements: tuple[str, ...]
    phase_diagram: object  # pymatgen.analysis.phase_diagram.PhaseDiagram
    planes: np.ndarray  # (F, d+1): energy = planes @ [1, x_1..x_d]
    stable: dict[str, float] = field(default_factory=dict)
    known_stable: list[str] = field(default_factory=list)
    # Stable candidate formula -> energy relative to the hull of all *other* compositions
    # (<= 0: the decomposition enthalpy of Bartel et al. 2020, pymatgen's phase separation energy).
    decomposition: dict[str, float] = field(default_factory=dict)
    _walk: "_FacetWalk | None" = field(default=None, repr=False)

    @classmethod
    def build(
        cls,
        elements: Sequence[str],
        candidates: Sequence[tuple[str, float]] = (),
        known: Sequence[tuple[str, float]] = (),
    ) -> "PredictedHull":
        """Hull of the elements (at zero), candidates and known phases: (formula, energy per atom) pairs."""
        from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
        from pymatgen.core import Composition, Element

        entries = [PDEntry(Composition(e), 0.0, name=e, attribute="element") for e in elements]
        for kind, rows in (("candidate", candidates), ("known", known)):
            for formula, e in rows:
                comp = Composition(formula)
                entries.append(PDEntry(comp, float(e) * comp.num_atoms, name=formula, attribute=kind))
        pd_ = PhaseDiagram(entries, elements=[Element(e) for e in elements])
        stable = {
            e.name: e.energy_per_atom for e in pd_.stable_entries if e.attribute == "candidate"
        }
        known_stable = sorted(e.name for e in pd_.stable_entries if e.attribute == "known")
        # Decomposition energy of each stable candidate: the hull without its composition, at it.
        others = [e for e in entries if e.attribute != "element"]
        x = np.array([[e.composition.get_atomic_fraction(Element(el)) for el in elements[1:]] for e in others])
        x = x.reshape(len(others), len(elements) - 1)
        energy = np.array([e.energy_per_atom for e in others])
        groups = np.unique([e.composition.reduced_formula for e in others], return_inverse=True)[1]
        targets = {e.name: i for i, e in enumerate(others) if e.attribute == "candidate" and e.name in stable}
        dec = _decomposition_energies(x, energy, groups.reshape(-1), list(targets.values())) if targets else {}
        decomposition = {name: dec[i] for name, i in targets.items()}
        return cls(tuple(elements), pd_, _facet_planes(pd_), stable, known_stable, decomposition)

    def hull_energy(self, coords: np.ndarray) -> np.ndarray:
        """Hull energy per atom at each composition (rows of :func:`fractions`).

        Small hulls: the maximum over all facet planes. Large hulls (thousands
        of facets, dense grids): each point walks from a nearby facet to the
        one containing it (:class:`_FacetWalk`), so the cost per point stays
        nearly independent of the hull size.
        """
        coords = np.asarray(coords, dtype=np.float64)
        if len(self.planes) <= _WALK_MIN_FACETS:
            return _max_plane(self.planes, coords)
        if self._walk is None:
            self._walk = _FacetWalk(self.phase_diagram, self.planes)
        return self._walk.hull_energy(coords)

    def e_above_hull(self, coords: np.ndarray, energy: np.ndarray) -> np.ndarray:
        """Energy above the hull (eV/atom, >= 0) of points (fractions, energy per atom)."""
        return np.maximum(np.asarray(energy, dtype=np.float64) - self.hull_energy(coords), 0.0)

    def is_stable(self, formulas: Sequence[str], e_above_hull: np.ndarray) -> np.ndarray:
        """A candidate is stable when it is a vertex of the predicted hull (not merely on a facet)."""
        vertex = np.fromiter((f in self.stable for f in formulas), dtype=bool, count=len(formulas))
        return vertex & (np.asarray(e_above_hull) <= STABLE_TOL)

    def decomposition_energy(self, formulas: Sequence[str], e_above_hull: np.ndarray,
                             stable: np.ndarray) -> np.ndarray:
        """``e_above_hull`` for unstable candidates, the (negative) decomposition energy for stable ones."""
        out = np.array(e_above_hull, dtype=np.float64, copy=True)
        for i in np.flatnonzero(stable):
            out[i] = self.decomposition[formulas[i]]
        return out


# Above this many facets, hull energies are found by walking to the containing facet.
_WALK_MIN_FACETS = 256


def _max_plane(planes: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """max over planes of c0 + c.x, in row chunks that keep the (rows x planes) product near 16 MB."""
    out = np.empty(len(coords))
    step = max(256, 2_000_000 // max(len(planes), 1))
    for i in range(0, len(coords), step):
        x = coords[i : i + step]
        out[i : i + step] = (np.column_stack([np.ones(len(x)), x]) @ planes.T).max(axis=1)
    return out


class _FacetWalk:
    """Point location in the lower hull's triangulation by a visibility walk.

    Rebuilds qhull's triangulation of the PhaseDiagram's data (same input and
    options, so the same facets) to get facet neighbours. A point starts at
    the facet whose centroid is nearest and repeatedly steps across the edge
    opposite its most negative barycentric coordinate until all are >= 0.
    Points that leave the lower hull (numerical corner cases) or do not settle
    fall back to the maximum over all planes.
    """

    def __init__(self, pd_, planes: np.ndarray):
        from scipy.spatial import ConvexHull, cKDTree

        data = np.asarray(pd_.qhull_data, dtype=np.float64)
        hull = ConvexHull(data, qhull_options="Qt i")
        simplices, n = hull.simplices, len(data)
        d = data.shape[1] - 1
        lower = simplices.max(axis=1) < n - 1
        design = np.concatenate([np.ones((len(simplices), d + 1, 1)), data[simplices][:, :, :-1]], axis=2)
        det = np.abs(np.linalg.det(design))
        lower &= det > 1e-14
        self.planes = planes
        self.lower = lower
        self.neighbors = hull.neighbors
        # Barycentric coordinates of x in simplex s: inv(M_s) @ [1, x], M_s = columns [1, vertex].
        self.inverse = np.zeros((len(simplices), d + 1, d + 1))
        self.inverse[lower] = np.linalg.inv(np.transpose(design[lower], (0, 2, 1)))
        self.vertex_energy = data[simplices][:, :, -1]
        ids = np.flatnonzero(lower)
        self.tree = cKDTree(data[simplices[ids]][:, :, :-1].mean(axis=1))
        self.tree_ids = ids

    def hull_energy(self, coords: np.ndarray, max_steps: int = 500) -> np.ndarray:
        m = len(coords)
        out = np.empty(m)
        if m == 0:
            return out
        design = np.column_stack([np.ones(m), coords])
        cur = self.tree_ids[self.tree.query(coords)[1]]
        todo = np.arange(m)
        for _ in range(max_steps):
            lam = np.einsum("kij,kj->ki", self.inverse[cur[todo]], design[todo])
            j = np.argmin(lam, axis=1)
            done = lam[np.arange(len(todo)), j] >= -1e-12
            rows = todo[done]
            out[rows] = (lam[done] * self.vertex_energy[cur[rows]]).sum(axis=1)
            todo, j = todo[~done], j[~done]
            if len(todo) == 0:
                return out
            nxt = self.neighbors[cur[todo], j]
            stuck = ~self.lower[nxt]
            if stuck.any():  # walked off the lower hull: exact fallback below
                out[todo[stuck]] = _max_plane(self.planes, coords[todo[stuck]])
                todo, nxt = todo[~stuck], nxt[~stuck]
            cur[todo] = nxt
            if len(todo) == 0:
                return out
        out[todo] = _max_plane(self.planes, coords[todo])
        return out


def _facet_planes(pd_) -> np.ndarray:
    """Planes (c0, c1..cd) through each lower facet of a PhaseDiagram: E = c0 + sum c_i x_i."""
    data = np.asarray(pd_.qhull_data, dtype=np.float64)
    planes = []
    for facet in pd_.facets:
        pts = data[list(facet)]
        design = np.column_stack([np.ones(len(pts)), pts[:, :-1]])
        planes.append(np.linalg.solve(design, pts[:, -1]))
    return np.array(planes).reshape(len(planes), data.shape[1])


HULL_LABEL_FONTSIZE = 9  # pymatgen's default (24 pt) overlaps in any system with more than a few phases


def plot_hull(hull: PredictedHull, path: str | Path, near: Sequence[tuple[str, float]] = (),
              title: str | None = None) -> Path:
    """PNG of a binary or ternary predicted hull (pymatgen's PDPlotter, matplotlib backend).

    ``near``: extra (formula, energy per atom) candidates drawn as unstable points (they do not
    change the hull). Labels that would overlap another are left out (the plot says how many);
    a legend says what the markers are; the title names the system as the file name does
    (elements sorted). A quaternary system: :func:`plot_hull_faces`.
    """
    from pymatgen.analysis.phase_diagram import PhaseDiagram

    if len(hull.elements) > 3:
        raise ValueError(f"{'-'.join(sorted(hull.elements))}: a hull plot is binary or ternary; use plot_hull_faces")
    pd_ = hull.phase_diagram
    if near:
        pd_ = PhaseDiagram(list(pd_.all_entries) + _near_entries(near), elements=pd_.elements)
    system = "-".join(sorted(hull.elements))
    return _draw(pd_, Path(path), title or f"predicted hull: {system}", bool(near))


def plot_hull_faces(hull: PredictedHull, plot_dir: str | Path, near: Sequence[tuple[str, float]] = ()) -> dict[str, Path]:
    """The ternary faces of a quaternary predicted hull, one PNG each (``hull_A-B-C-D_face_A-B-C.png``).

    Each face is the hull of the phases whose elements all lie on it, so a face shows exactly the
    part of the four-element hull that a ternary plot can. Returns {face: path}.
    """
    from itertools import combinations

    from pymatgen.analysis.phase_diagram import PhaseDiagram
    from pymatgen.core import Element

    system = "-".join(sorted(hull.elements))
    entries = list(hull.phase_diagram.all_entries) + _near_entries(near)
    out = {}
    for face in combinations(sorted(hull.elements), 3):
        on_face = [e for e in entries if {el.symbol for el in e.composition.elements} <= set(face)]
        pd_ = PhaseDiagram(on_face, elements=[Element(x) for x in face])
        name = "-".join(face)
        out[name] = _draw(pd_, Path(plot_dir) / f"hull_{system}_face_{name}.png",
                          f"predicted hull: {system}, face {name}", bool(near))  # fmt: skip
    return out


def _near_entries(near: Sequence[tuple[str, float]]) -> list:
    from pymatgen.analysis.phase_diagram import PDEntry
    from pymatgen.core import Composition

    out = []
    for formula, e in near:
        comp = Composition(formula)
        out.append(PDEntry(comp, float(e) * comp.num_atoms, name=formula, attribute="candidate"))
    return out


def _declutter(ax) -> int:
    """Shrink the labels and hide each one that overlaps a label already kept; returns how many were hidden."""
    ax.figure.canvas.draw()
    renderer = ax.figure.canvas.get_renderer()
    kept, hidden = [], 0
    # Element corners (one capital letter, maybe a lower-case one) first: they are always kept.
    texts = sorted(ax.texts, key=lambda t: not t.get_text().isalpha() or len(t.get_text()) > 2)
    for text in texts:
        text.set_fontsize(HULL_LABEL_FONTSIZE + 2 if text.get_text().isalpha() and len(text.get_text()) <= 2
                          else HULL_LABEL_FONTSIZE)  # fmt: skip
        box = text.get_window_extent(renderer).expanded(1.05, 1.1)
        if any(box.overlaps(other) for other in kept):
            text.set_visible(False)
            hidden += 1
        else:
            kept.append(box)
    return hidden


def _draw(pd_: object, path: Path, title: str, with_near: bool) -> Path:
    import logging

    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from pymatgen.analysis.phase_diagram import PDPlotter

    path.parent.mkdir(parents=True, exist_ok=True)
    plotter = PDPlotter(pd_, show_unstable=0.2 if with_near else 0, backend="matplotlib")
    # PDPlotter's ternary axes make matplotlib log "Ignoring fixed y limits ..."; not useful here.
    mpl_log = logging.getLogger("matplotlib")
    level = mpl_log.level
    mpl_log.setLevel(logging.ERROR)
    try:
        ax = plotter.get_plot(label_unstable=False)
        ax = ax if hasattr(ax, "figure") else plt.gca()
        fig = ax.figure
        fig.set_size_inches(7, 6)
        ax.set_title(title, fontsize=12)
        handles = [Line2D([], [], marker="o", ls="", markerfacecolor="#4daf4a", markeredgecolor="k", markersize=8,
                          label="on the predicted hull (stable)"),
                   Line2D([], [], color="k", lw=2, label="hull tie lines")]  # fmt: skip
        if with_near:
            handles.append(Line2D([], [], marker="s", ls="", markerfacecolor="r", markeredgecolor="k", markersize=7,
                                  label="candidate above the hull (<= 0.2 eV/atom)"))  # fmt: skip
        ax.legend(handles=handles, loc="upper right", fontsize=8, framealpha=0.9)
        hidden = _declutter(ax)
        if hidden:
            fig.text(0.01, 0.01, f"{hidden} overlapping label(s) not drawn; every phase is in the screening output",
                     fontsize=7, color="0.3")  # fmt: skip
        fig.savefig(path, dpi=120, bbox_inches="tight")
        plt.close(fig)
    finally:
        mpl_log.setLevel(level)
    return path
