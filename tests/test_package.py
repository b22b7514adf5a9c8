"""The package's structure: no import cycles, no oversized modules.

The import graph is read from the source with ``ast`` (no import side
effects): an edge A -> B for every ``import`` of an irnet_hub module B inside
A, at module level or inside a function (a lazy import is still a dependency;
imports under ``if TYPE_CHECKING:`` are not). ``from P import name`` counts
as an import of ``P.name`` when that is a module, else of ``P``. As in grimp,
the implicit import of a parent package is not an edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "irnet_hub"
MAX_LINES = 450
# Modules allowed over MAX_LINES, each with its reason.
LONG_MODULES = {
    "irnet_hub.runtime": "one interpreter of Keras 3 functional configs: reading the config and weights, the "
                         "per-layer parameters, the Dense-BN-ReLU fusion and the forward pass must agree on the "
                         "same node representation",
    "irnet_hub.featurize.structure": "the Ward-2017 structure featurizer: 273 feature definitions, file formats, "
                                     "a crash-tolerant process pool and an on-disk cache that must stay together "
                                     "to keep featurizing identical to the training run",
    "irnet_hub.featurize.composition": "the formula parser (a vectorized fast path and pymatgen's, which must "
                                       "agree on every formula), the element-table builder and the batch API "
                                       "with its oxidation-state overrides; the numpy statistics are in "
                                       "featurize.magpie",
    "irnet_hub.stability.candidates": "stoichiometry grids, prototype templates, charge balance and the partition "
                                      "planner share the element tables and the partition layout",
    "irnet_hub.stability.run": "the two-pass screen (in-process and Dask) with its streaming writer: one "
                               "algorithm whose passes share private state",
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, module: str, is_package: bool, known: set[str]) -> set[str]:
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    found.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in known:
                    found.add(sub)
                elif base in known:
                    found.add(base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    found.discard(module)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(ast.parse(path.read_text()), name, path.name == "__init__.py", known)
            for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def test_the_import_graph_is_read_correctly():
    graph = import_graph()
    assert "irnet_hub.preprocessing" in graph["irnet_hub.training"]
    assert "irnet_hub.publish.dlhub_meta" in graph["irnet_hub.publish.servable"]  # a lazy import inside a function
    assert "irnet_hub.training" not in graph["irnet_hub"]  # TYPE_CHECKING imports are not edges
    # and the checker finds a cycle when there is one
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_package_import_graph_has_no_cycles():
    cycles = _cycles(import_graph())
    assert cycles == [], "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_layers_point_one_way():
    graph = import_graph()
    # training never knows about publishing; it reaches the hub's cache only to resolve
    # a transfer source by name (train(init_from="oqmd-bandgap")); the servable builder is below publishing
    assert {m for m in graph["irnet_hub.training"] if m.startswith("irnet_hub.hub")} <= {"irnet_hub.hub.cache"}
    assert "irnet_hub.publish.dlhub" not in graph["irnet_hub.publish.servable"]
    assert "irnet_hub.publish.servable" in graph["irnet_hub.publish.dlhub"]
    assert "irnet_hub.stability.candidates" in graph["irnet_hub.stability.run"]
    # One direction between the hub and the model server: serving loads models through the hub;
    # the hub never imports serving (irnet_hub.loading dispatches remote=URL above both).
    hub_to_serving = {(m, d) for m, deps in graph.items() if m.startswith("irnet_hub.hub")
                      for d in deps if d.startswith("irnet_hub.serving")}  # fmt: skip
    assert hub_to_serving == set(), hub_to_serving
    assert "irnet_hub.hub" in graph["irnet_hub.serving.server"]
    # The hub (registry, cache, load) and publishing (servables, cards, HF, DLHub) are apart: publish
    # builds on the hub, never the reverse (but for the entry point old DLHub servables name).
    hub_to_publish = {(m, d) for m, deps in graph.items() if m.startswith("irnet_hub.hub")
                      and m != "irnet_hub.hub.dlhub_entry" for d in deps if d.startswith("irnet_hub.publish")}
    assert hub_to_publish == set(), hub_to_publish


@pytest.mark.parametrize("name,path", sorted(_modules().items()))
def test_module_size(name, path):
    n = len(path.read_text().splitlines())
    if name in LONG_MODULES:
        return
    assert n <= MAX_LINES, f"{name} has {n} lines (limit {MAX_LINES}); split it or list it in LONG_MODULES with a reason"


def test_long_module_exceptions_are_still_needed():
    modules = _modules()
    stale = [m for m in LONG_MODULES if m not in modules or len(modules[m].read_text().splitlines()) <= MAX_LINES]
    assert stale == [], f"no longer over {MAX_LINES} lines (remove from LONG_MODULES): {stale}"


def test_only_the_domain_module_computes_in_domain_flags():
    """One in-domain rule: irnet_hub.domain. Every other module asks a model's DomainRule (report, by_arrays,
    feature_notes, network_checks, describe) and defines no rule of its own."""
    import re

    modules = _modules()
    rule_like = re.compile(r"domain|rare_element|out_of_range|stoichiometry_out")
    offenders = []
    for name, path in modules.items():
        if name == "irnet_hub.domain":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "irnet_hub.domain":
                offenders += [f"{name} imports {a.name}" for a in node.names if a.name != "DomainRule"]
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and rule_like.search(node.name):
                if node.name != "has_domain":  # the server's "does this model state a domain" (DomainRule.known)
                    offenders.append(f"{name} defines {node.name}()")
    assert offenders == [], offenders
    # and the rule's functions exist there, so the check above looks for the right names
    domain_defs = {n.name for n in ast.walk(ast.parse(modules["irnet_hub.domain"].read_text()))
                   if isinstance(n, ast.FunctionDef)}
    assert {"domain_report", "in_domain_by_z", "features_out_of_range", "rare_elements"} <= domain_defs


def test_featurizer_knowledge_lives_with_the_featurizers():
    """Each featurizer is named, described and cited by its spec (irnet_hub.featurize.specs); other modules
    ask get_featurizer(name) / SPECS and hold no featurizer name of their own, except the constants that
    list them and the zoo recipes, which choose one."""
    from irnet_hub.constants import FEATURIZERS
    from irnet_hub.featurize.specs import SPECS

    assert tuple(SPECS) == FEATURIZERS
    allowed = {"irnet_hub.constants", "irnet_hub.zoo.recipes"}
    offenders = []
    for name, path in _modules().items():
        if name.startswith("irnet_hub.featurize") or name in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in SPECS:
                offenders.append(f"{name}:{node.lineno} {node.value!r}")
    assert offenders == [], offenders


def test_integrity_checks_live_in_one_module():
    """One integrity module (issue 17, move 4): hashing model files, manifests and the load check are defined
    in irnet_hub.integrity only; the hub's pins and the loaders call it."""
    names = {"sha256_file", "compare_files", "verify_manifest", "read_manifest", "write_manifest", "check_model_dir",
             "check_finite_weights", "verify_files"}
    defined = {}
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name.lstrip("_") in names:
                defined.setdefault(node.name.lstrip("_"), []).append(name)
    assert all(mods == ["irnet_hub.integrity"] for mods in defined.values()), defined
    assert set(defined) == names - {"verify_files"}


def test_every_subpackage_is_a_regular_package():
    """setuptools' find (pyproject: include irnet_hub*) leaves out folders without __init__.py from the
    wheel: a module that imports in the checkout would be missing from an install."""
    missing = sorted(str(d.relative_to(PACKAGE.parent)) for d in PACKAGE.rglob("*")
                     if d.is_dir() and any(d.glob("*.py")) and not (d / "__init__.py").is_file())
    assert missing == []
