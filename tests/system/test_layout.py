"""The package layout: no import cycle among formcoach's modules, and every package installed.

Every ``import`` counts, wherever it is written (module top, inside a function, under
``TYPE_CHECKING``): a lazy import only hides a cycle until the function runs. Importing
``a.b.c`` also runs ``a.b``'s ``__init__``, so a module depends on every package above what it
imports (but not implicitly on its own parents, which Python has already started; a module that
names its parent package, ``from a.b import X`` inside ``a.b.c``, does depend on it).
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "formcoach"


def module_files(root: Path) -> dict[str, Path]:
    """``{dotted module name: file}`` for every ``.py`` under the package ``root``."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The module ``name`` refers to: itself, or the longest known prefix (``pkg.mod.Class``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``module`` imports, plus the packages above them."""
    top = module.split(".")[0]
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                src = ".".join([*base, *([node.module] if node.module else [])])
            else:
                src = node.module or ""
            # "from pkg import mod" imports the submodule pkg.mod when there is one.
            targets = [f"{src}.{a.name}" if f"{src}.{a.name}" in modules else src
                       for a in node.names]
        else:
            continue
        for target in targets:
            if target.split(".")[0] != top:
                continue
            resolved = _resolve(target, modules)
            if resolved is None:
                continue
            if resolved != module:
                found.add(resolved)
            parts = resolved.split(".")
            for i in range(1, len(parts)):  # the packages above it, run first
                above = ".".join(parts[:i])
                if above in modules and not module.startswith(above + "."):
                    found.add(above)
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    modules = module_files(root)
    return {m: imports_of(m, p, modules) for m, p in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def _chain(graph: dict[str, set[str]], comp: list[str]) -> str:
    """One concrete cycle inside ``comp``, as ``a -> b -> a`` (for the failure message)."""
    members = set(comp)
    path, seen = [comp[0]], {comp[0]}
    while True:
        nxt = sorted(graph[path[-1]] & members)
        back = [n for n in nxt if n == comp[0]]
        if back and len(path) > 1:
            return " -> ".join([*path, comp[0]])
        fresh = [n for n in nxt if n not in seen]
        if not fresh:
            return " -> ".join([*path, nxt[0]])
        path.append(fresh[0])
        seen.add(fresh[0])


def test_no_import_cycle() -> None:
    graph = import_graph(PACKAGE)
    assert len(graph) > 50  # the walk found the package
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(_chain(graph, c) for c in found)


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
        ({"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}}, [["a", "b"], ["c", "d"]]),
    ],
)
def test_cycle_finder(graph: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert sorted(cycles(graph)) == expected


def test_graph_sees_lazy_relative_and_parent_imports(tmp_path: Path) -> None:
    """A cycle through a function-level import, a relative import and a package __init__."""
    pkg = tmp_path / "toypkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from toypkg.low import helper\n")
    (pkg / "sub" / "leaf.py").write_text("X = 1\n")
    (pkg / "low.py").write_text("def helper():\n    from .sub.leaf import X\n    return X\n")
    (pkg / "alone.py").write_text("import os\nimport toypkg.low\n")
    graph = import_graph(pkg)
    assert graph["toypkg.low"] == {"toypkg.sub", "toypkg.sub.leaf"}
    assert graph["toypkg.alone"] == {"toypkg.low"}
    assert cycles(graph) == [["toypkg.low", "toypkg.sub"]]
    assert _chain(graph, ["toypkg.low", "toypkg.sub"]) == "toypkg.low -> toypkg.sub -> toypkg.low"


def test_graph_sees_a_backend_importing_its_factory_package(tmp_path: Path) -> None:
    """The shape ``formcoach.pose`` had: the package's factory imports a backend lazily, and the
    backend imports a name from the package."""
    pkg = tmp_path / "toy"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("Mode = str\n\ndef make():\n    from toy.impl import Impl\n"
                                     "    return Impl()\n")
    (pkg / "impl.py").write_text("from toy import Mode\n\nclass Impl:\n    mode: Mode\n")
    graph = import_graph(pkg)
    assert cycles(graph) == [["toy", "toy.impl"]]
    (pkg / "base.py").write_text("Mode = str\n")
    (pkg / "impl.py").write_text("from toy.base import Mode\n\nclass Impl:\n    mode: Mode\n")
    assert cycles(import_graph(pkg)) == []


def test_every_package_is_in_pyproject() -> None:
    """pyproject.toml lists packages explicitly: a folder missing there is left out of a wheel."""
    setup = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    listed = set(setup["packages"])
    mapped = setup.get("package-dir", {})
    folders = {".".join(p.parent.relative_to(REPO).parts) for p in PACKAGE.rglob("__init__.py")}
    assert folders - listed == set(), "add these to [tool.setuptools] packages"
    for name in listed:
        where = REPO / mapped[name] if name in mapped else REPO.joinpath(*name.split("."))
        assert where.is_dir(), f"{name} is listed in pyproject.toml but {where} does not exist"


#: The stages in pipeline order, then the tools and the CLI: a module may import only from its
#: own layer or one below. (``formcoach`` itself, ``errors``, ``types`` ... are the foundation.)
LAYERS: list[tuple[str, ...]] = [
    ("formcoach", "formcoach.errors", "formcoach.text", "formcoach.types", "formcoach.skeleton",
     "formcoach.clock", "formcoach.io_utils"),
    ("formcoach.sources",),
    ("formcoach.pose",),
    ("formcoach.kinematics",),
    ("formcoach.exercises",),  # config of the stages above; checks feature names
    ("formcoach.reps",),
    ("formcoach.rules",),
    ("formcoach.cues",),
    ("formcoach.metrics", "formcoach.fatigue", "formcoach.rir", "formcoach.overlay"),
    ("formcoach.coach",),
    ("formcoach.store",),
    ("formcoach.report",),
    ("formcoach.calibration", "formcoach.evaluation", "formcoach.synth", "formcoach.bench",
     "formcoach.demo", "formcoach.analysis", "formcoach.batch", "formcoach.planning",
     "formcoach.transfer", "formcoach.serve"),
    ("formcoach.cli", "formcoach.__main__"),
]


def layer_of(module: str) -> int:
    """Index in :data:`LAYERS` of the longest prefix naming ``module``."""
    best, depth = -1, -1
    for k, names in enumerate(LAYERS):
        for n in names:
            if (module == n or module.startswith(n + ".")) and n.count(".") > depth:
                best, depth = k, n.count(".")
    if best < 0:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS")
    return best


def test_every_module_has_a_layer() -> None:
    for m in module_files(PACKAGE):
        layer_of(m)


def test_no_upward_import() -> None:
    graph = import_graph(PACKAGE)
    up = sorted(f"{m} -> {t}" for m, ts in graph.items() for t in ts
                if layer_of(t) > layer_of(m))
    assert not up, "imports against the pipeline order:\n" + "\n".join(up)


def test_only_kinematics_imports_the_kernels() -> None:
    graph = import_graph(PACKAGE)
    # The kernel benchmark times the private kernels against their numpy reference on purpose.
    allowed = {"formcoach.bench.suite"}
    users = sorted(m for m, ts in graph.items() if "formcoach.kinematics._kernels" in ts
                   and not m.startswith("formcoach.kinematics") and m not in allowed)
    assert not users, users


def test_architecture_doc_lists_every_module() -> None:
    """docs/architecture.md has one row per file of the package, and none for a missing file."""
    import re

    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `([\w/]+\.py)` \|", text, flags=re.M))
    files = {str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")}
    assert listed == files, (f"missing: {sorted(files - listed)}; "
                             f"stale: {sorted(listed - files)}")
