"""The package is built in layers, and these tests keep it that way.

From the bottom up the layers are: core helpers (with the sample-shop simulator), SQL
backends, orders and model fitting, analyses, plots, the report, and the entry points (the
command line, ``python -m`` and the deprecated ``engines`` facade). A module imports only
from its own layer or lower ones; the analyses are also ranked, from the customer summary
up to segments, and import only lower-ranked analyses. The package root re-exports the
public API and may import anything, but nothing inside the package imports the root.

Every import counts, also the deferred ones inside functions, classes and ``if``/``try``
blocks. On top of the layering, the import graph has no cycles, private (underscore) names
stay inside their top-level subpackage, matplotlib and seaborn are used only from the plots
layer up, and only the fitting layer imports lifetimes. Files are read with ``ast``; the
package is never imported.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parents[1] / "crm_analytics"
PACKAGE = PACKAGE_ROOT.name

# Rank of each analysis package inside layer 3. An analysis may import its own package and
# analyses of a strictly lower rank. A new analysis package must be added here (that also
# puts it in layer 3); until it is, test_every_module_has_a_layer fails and the other tests
# treat it as an analysis of rank DEFAULT_ANALYSIS_RANK.
ANALYSIS_RANK: dict[str, int] = {
    "crm_analytics.summary": 0,
    "crm_analytics.cohorts": 1,
    "crm_analytics.churn": 1,
    "crm_analytics.campaigns": 1,
    "crm_analytics.sleeping": 2,
    "crm_analytics.ltv": 2,
    "crm_analytics.segments": 3,
    "crm_analytics.membership": 2,
    "crm_analytics.uplift": 3,
    "crm_analytics.reminders": 2,
}
DEFAULT_ANALYSIS_RANK = 1
ANALYSIS_LAYER = 3

# Layer of every top-level module or subpackage; a module gets the layer of its longest
# matching dotted prefix. Lower numbers are lower layers.
LAYERS: dict[str, int] = {
    "crm_analytics._core": 0,
    "crm_analytics.simulate": 0,
    "crm_analytics.simulate_uplift": 0,
    "crm_analytics.simulate_reminders": 0,
    "crm_analytics.backends": 1,
    "crm_analytics.orders": 2,
    "crm_analytics.fitting": 2,
    **dict.fromkeys(ANALYSIS_RANK, ANALYSIS_LAYER),
    "crm_analytics.plots": 4,
    "crm_analytics.report": 5,
    "crm_analytics.cli": 6,
    "crm_analytics.__main__": 6,
    "crm_analytics.engines": 6,
}
LAYER_NAMES = {
    0: "core",
    1: "backends",
    2: "orders/fitting",
    3: "analyses",
    4: "plots",
    5: "report",
    6: "entry points",
}

PLOTTING_LIBRARIES = frozenset({"matplotlib", "seaborn"})
PLOT_FREE_LAYERS = frozenset({0, 1, 2, 3})
LIFETIMES_OWNER = "crm_analytics.fitting"


@dataclass(frozen=True)
class Import:
    """One imported name, as written in one file."""

    importer: str  # module doing the import
    line: int
    target: str  # module imported (for ``from m import attr``: m)
    reference: str  # full dotted path named by the statement (``m.attr`` for from-imports)
    deferred: bool  # inside a function, class or if/try/with/loop block
    dynamic: bool = False  # importlib.import_module("...") / __import__("...")

    def where(self) -> str:
        return f"{self.importer}:{self.line}"


# --------------------------------------------------------------------------- collection


def module_name(path: Path, package_root: Path) -> str:
    """``<root>/a/b.py`` -> ``<pkg>.a.b``; ``<root>/a/__init__.py`` -> ``<pkg>.a``."""
    parts = path.relative_to(package_root.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def source_files(package_root: Path) -> list[Path]:
    return sorted(p for p in package_root.rglob("*.py") if "__pycache__" not in p.parts)


def known_modules(package_root: Path) -> frozenset[str]:
    """Every module and (regular or namespace) package in the tree."""
    names: set[str] = set()
    for path in source_files(package_root):
        parts = module_name(path, package_root).split(".")
        names.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return frozenset(names)


def _walk_nested(tree: ast.AST) -> Iterator[tuple[ast.AST, bool]]:
    """Every node, and whether it sits inside a def/class/if/try/with/loop block."""
    stack: list[tuple[ast.AST, bool]] = [(tree, False)]
    nested_kinds = (
        ast.FunctionDef,
        ast.AsyncFunctionDef,
        ast.Lambda,
        ast.ClassDef,
        ast.If,
        ast.Try,
        ast.TryStar,
        ast.With,
        ast.AsyncWith,
        ast.For,
        ast.AsyncFor,
        ast.While,
        ast.Match,
    )
    while stack:
        node, deferred = stack.pop()
        yield node, deferred
        inner = deferred or isinstance(node, nested_kinds)
        stack.extend((child, inner) for child in ast.iter_child_nodes(node))


def _resolve_relative(importer: str, is_package: bool, level: int, module: str | None) -> str:
    """Absolute name of ``from <level dots><module> import ...`` written in ``importer``."""
    parts = importer.split(".")
    if not is_package:
        parts = parts[:-1]
    if level - 1 >= len(parts):
        raise ValueError(f"{importer}: relative import goes above the top-level package")
    base = parts[: len(parts) - (level - 1)]
    return ".".join([*base, *([module] if module else [])])


def _dynamic_import_name(node: ast.Call) -> str | None:
    """The literal module name of ``importlib.import_module("x")`` or ``__import__("x")``."""
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if name not in {"import_module", "__import__"} or not node.args:
        return None
    first = node.args[0]
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value
    return None


def file_imports(path: Path, package_root: Path, modules: frozenset[str]) -> list[Import]:
    """Every import in one file, module level and deferred, internal and external."""
    importer = module_name(path, package_root)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[Import] = []
    for node, deferred in _walk_nested(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(Import(importer, alias.lineno, alias.name, alias.name, deferred))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _resolve_relative(importer, is_package, node.level, node.module)
            else:
                base = node.module or ""
            for alias in node.names:
                if alias.name == "*":
                    found.append(Import(importer, alias.lineno, base, base, deferred))
                    continue
                reference = f"{base}.{alias.name}"
                target = reference if reference in modules else base
                found.append(Import(importer, alias.lineno, target, reference, deferred))
        elif isinstance(node, ast.Call):
            name = _dynamic_import_name(node)
            if name is None:
                continue
            if name.startswith("."):
                stripped = name.lstrip(".")
                level = len(name) - len(stripped)
                name = _resolve_relative(importer, is_package, level, stripped or None)
            found.append(Import(importer, node.lineno, name, name, deferred, dynamic=True))
    return found


@functools.cache
def collect_imports(package_root: Path) -> tuple[Import, ...]:
    modules = known_modules(package_root)
    found: list[Import] = []
    for path in source_files(package_root):
        found.extend(file_imports(path, package_root, modules))
    return tuple(sorted(found, key=lambda i: (i.importer, i.line, i.target)))


def internal_imports(package_root: Path) -> list[Import]:
    package = package_root.name
    return [
        imp
        for imp in collect_imports(package_root)
        if imp.target == package or imp.target.startswith(package + ".")
    ]


# --------------------------------------------------------------------------- classification


def top_level(module: str) -> str:
    """``pkg.a.b.c`` -> ``pkg.a``; the root stays the root."""
    return ".".join(module.split(".")[:2])


def classify(module: str) -> tuple[int, str] | None:
    """(layer, matching prefix) by the longest matching dotted prefix, None if unclassified."""
    parts = module.split(".")
    for i in range(len(parts), 1, -1):
        prefix = ".".join(parts[:i])
        if prefix in LAYERS:
            return LAYERS[prefix], prefix
    return None


def layer_of(module: str) -> int:
    found = classify(module)
    return ANALYSIS_LAYER if found is None else found[0]


def analysis_rank(module: str) -> int:
    return ANALYSIS_RANK.get(top_level(module), DEFAULT_ANALYSIS_RANK)


def describe(module: str, package: str = PACKAGE) -> str:
    if module == package:
        return "the root facade"
    found = classify(module)
    if found is None:
        return (
            f"unclassified, treated as layer {ANALYSIS_LAYER} analysis of rank "
            f"{DEFAULT_ANALYSIS_RANK}"
        )
    layer, _ = found
    text = f"layer {layer} {LAYER_NAMES.get(layer, '?')}"
    if layer == ANALYSIS_LAYER:
        text += f", rank {analysis_rank(module)}"
    return text


def _fail(rows: Iterable[str], header: str) -> None:
    """Fail with every offending row listed (no assert-rewriting noise)."""
    rows = list(rows)
    if rows:
        pytest.fail(f"{header} ({len(rows)}):\n  " + "\n  ".join(rows), pytrace=False)


# --------------------------------------------------------------------------- rule checks


def upward_imports(package_root: Path) -> list[Import]:
    package = package_root.name
    bad = []
    for imp in internal_imports(package_root):
        if imp.importer == imp.target or imp.importer == package:
            continue  # a module may use itself; the root facade may import anything
        if imp.target == package:
            bad.append(imp)  # nothing inside the package imports the root facade
            continue
        mine, theirs = layer_of(imp.importer), layer_of(imp.target)
        if theirs > mine:
            bad.append(imp)
        elif (
            mine == theirs == ANALYSIS_LAYER
            and top_level(imp.importer) != top_level(imp.target)
            and analysis_rank(imp.target) >= analysis_rank(imp.importer)
        ):
            bad.append(imp)
    return bad


def ancestors(module: str) -> list[str]:
    """Parent packages of ``module``, nearest first, without the root."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(len(parts) - 1, 1, -1)]


def import_graph(package_root: Path) -> dict[str, dict[str, str]]:
    """module -> {imported module: how (``line N`` or an implicit-edge note)}.

    Importing ``pkg.a.b`` from outside ``pkg.a`` first runs ``pkg/a/__init__.py``, so the
    importer also gets an edge to each parent package of the target that it is not itself
    inside of (a module inside ``pkg.a`` is only ever run once ``pkg.a`` is being imported,
    and a package ``__init__`` that imports its own submodules is not a cycle). Edges to the
    root facade are left out; test_no_upward_imports forbids them.
    """
    package = package_root.name
    graph: dict[str, dict[str, str]] = {
        module_name(p, package_root): {} for p in source_files(package_root)
    }
    for imp in internal_imports(package_root):
        if imp.target == package:
            continue
        edges = graph.setdefault(imp.importer, {})
        how = f"line {imp.line}" + (", deferred" if imp.deferred else "")
        edges.setdefault(imp.target, how)
        graph.setdefault(imp.target, {})
        importer_chain = {imp.importer, *ancestors(imp.importer)}
        for parent in ancestors(imp.target):
            if parent not in importer_chain:
                note = f"{how}, implicit: importing {imp.target} runs {parent}"
                edges.setdefault(parent, note)
                graph.setdefault(parent, {})
    return graph


def strongly_connected_components(graph: dict[str, dict[str, str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, {})))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def import_cycles(package_root: Path) -> list[tuple[list[str], list[str]]]:
    """Each cycle (SCC of more than one module) with the edges inside it."""
    graph = import_graph(package_root)
    cycles = []
    for component in strongly_connected_components(graph):
        if len(component) < 2:
            continue
        members = set(component)
        edges = [
            f"{src} -> {dst} ({how})"
            for src in component
            for dst, how in sorted(graph[src].items())
            if dst in members
        ]
        cycles.append((component, edges))
    return sorted(cycles)


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_imports(package_root: Path) -> list[Import]:
    """Private names or modules imported from outside their own top-level subpackage.

    A private part below the top level (``pkg.plots._fonts``, ``pkg.summary._resolve``) is
    private to that top-level subpackage. A private top-level module (``pkg._core``) is
    private to the package as a whole, so any module inside the package may import it.
    """
    bad = []
    for imp in internal_imports(package_root):
        below_top = imp.reference.split(".")[2:]
        if not any(is_private(part) for part in below_top):
            continue
        if top_level(imp.importer) != top_level(imp.reference):
            bad.append(imp)
    return bad


def unclassified_modules(package_root: Path) -> list[str]:
    package = package_root.name
    tops = {top_level(module_name(p, package_root)) for p in source_files(package_root)}
    return sorted(t for t in tops if t != package and classify(t) is None)


def plotting_and_lifetimes_imports(package_root: Path) -> list[tuple[Import, str]]:
    package = package_root.name
    bad = []
    for imp in collect_imports(package_root):
        library = imp.target.split(".")[0]
        if imp.importer == package:
            continue  # the root facade's own imports are checked by the layer rules
        if library in PLOTTING_LIBRARIES and layer_of(imp.importer) in PLOT_FREE_LAYERS:
            bad.append((imp, f"{library} in {describe(imp.importer, package)}"))
        if library == "lifetimes" and not (
            imp.importer == LIFETIMES_OWNER or imp.importer.startswith(LIFETIMES_OWNER + ".")
        ):
            bad.append((imp, f"lifetimes outside {LIFETIMES_OWNER}"))
    return bad


def _row(imp: Import, note: str = "") -> str:
    flags = [f for f, on in (("deferred", imp.deferred), ("dynamic", imp.dynamic)) if on]
    extra = f" [{', '.join(flags)}]" if flags else ""
    shown = imp.target
    if imp.reference != imp.target:
        shown += f" (name {imp.reference[len(imp.target) + 1 :]})"
    return f"{imp.where()} imports {shown}{extra}" + (f"  ({note})" if note else "")


# --------------------------------------------------------------------------- tests


def test_every_module_has_a_layer():
    missing = unclassified_modules(PACKAGE_ROOT)
    _fail(
        missing,
        "Top-level modules without a layer; add each to LAYERS (or, for an analysis, to "
        "ANALYSIS_RANK) in tests/test_layers.py",
    )


def test_no_upward_imports():
    bad = upward_imports(PACKAGE_ROOT)
    rows = (_row(imp, f"{describe(imp.importer)} -> {describe(imp.target)}") for imp in bad)
    _fail(
        rows,
        "Imports of a higher layer, of an analysis of the same or a higher rank, or of the "
        "root facade",
    )


def test_no_import_cycles():
    cycles = import_cycles(PACKAGE_ROOT)
    blocks = []
    for members, edges in cycles:
        blocks.append("cycle through " + ", ".join(members) + "\n    " + "\n    ".join(edges))
    _fail(blocks, "Import cycles (deferred imports included)")


def test_no_private_names_across_modules():
    bad = private_imports(PACKAGE_ROOT)
    _fail(
        (_row(imp) for imp in bad),
        "Private names or modules imported from outside their top-level subpackage",
    )


def test_analysis_modules_do_not_import_matplotlib():
    bad = plotting_and_lifetimes_imports(PACKAGE_ROOT)
    _fail(
        (_row(imp, why) for imp, why in bad),
        "matplotlib/seaborn imported below the plots layer, or lifetimes outside fitting",
    )


def test_no_public_function_is_shadowed_by_a_subpackage() -> None:
    """``import crm_analytics.x`` sets the package attribute ``x`` to the module: no
    top-level export may share its name with a subpackage or module of the package."""
    import crm_analytics

    modules = {p.stem for p in PACKAGE_ROOT.iterdir()
               if (p.is_dir() and (p / "__init__.py").exists()) or p.suffix == ".py"}
    clashes = sorted(set(crm_analytics.__all__) & modules)
    assert not clashes, f"exports named like a subpackage or module: {clashes}"
