"""No import cycle between scrcl's own modules.

The imports are read with ``ast`` from the source files (nothing is imported). Two graphs
are checked:

* module level: the imports a module runs when it is imported (its top-level statements,
  ``try``/``if`` blocks included, ``if TYPE_CHECKING:`` blocks left out). A cycle here can
  break ``import`` outright, so it must not exist.
* every import: the module-level ones plus those inside functions and methods (run only
  when called). A cycle here does not break an import, but it means two modules depend on
  each other, which the layout should not have.

An edge goes from a module to the module it names: ``from . import graphs`` and
``from .nn import ScrclModule`` point at ``scrcl.graphs`` and ``scrcl.nn`` (the package's
``__init__``). The parent packages that Python imports first are not counted as edges
(every module would otherwise depend on ``scrcl/__init__.py``).
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator


REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "scrcl"


def module_names(package: Path) -> dict[str, Path]:
    """Dotted name -> source file, for every ``.py`` file under ``package``."""
    root = package.parent
    names = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return ((isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
            or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def import_nodes(tree: ast.Module, function_level: bool) -> Iterator[ast.stmt]:
    """The ``import`` / ``from ... import`` statements of a module: those run at import
    time, and with ``function_level`` also those inside function and method bodies."""
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            if function_level:
                stack.extend(ast.iter_child_nodes(node))
        else:
            stack.extend(ast.iter_child_nodes(node))


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute name ``from <...> import`` refers to, inside ``module``."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imported_modules(module: str, path: Path, known: set[str],
                     function_level: bool) -> set[str]:
    """The modules of ``known`` that ``module`` (source ``path``) imports."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    found = set()
    for node in import_nodes(tree, function_level):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = _absolute(module, is_package, node)
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                       for alias in node.names]
        for target in targets:
            while target and target not in known:  # `import scrcl.a.b as x` etc.
                target = target.rpartition(".")[0]
            if target and target != module:
                found.add(target)
    return found


def import_graph(package: Path, function_level: bool) -> dict[str, set[str]]:
    """Module -> the package's modules it imports."""
    names = module_names(package)
    known = set(names)
    return {m: imported_modules(m, p, known, function_level) for m, p in names.items()}


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan), each a set
    of modules that import each other round a circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _describe(found: list[frozenset[str]]) -> str:
    return "; ".join(" <-> ".join(sorted(c)) for c in found)


# ------------------------------------------------------------------ the checker itself


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root / "pkg"


def test_the_checker_finds_a_cycle_and_tells_the_levels_apart(tmp_path):
    pkg = _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from . import b\n",
        "pkg/b.py": "from .sub.c import f\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/c.py": "def f():\n    from ..a import x\n",
        "pkg/d.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                     "    from .e import y\nimport pkg.sub.c\n"),
        "pkg/e.py": "try:\n    from .d import z\nexcept ImportError:\n    pass\n",
    })
    module_level = import_graph(pkg, function_level=False)
    assert module_level["pkg.a"] == {"pkg.b"}
    assert module_level["pkg.b"] == {"pkg.sub.c"}
    assert module_level["pkg.sub.c"] == set()
    assert module_level["pkg.d"] == {"pkg.sub.c"}  # TYPE_CHECKING import left out
    assert module_level["pkg.e"] == {"pkg.d"}  # inside try: still run at import time
    assert cycles(module_level) == []
    every = import_graph(pkg, function_level=True)
    assert every["pkg.sub.c"] == {"pkg.a"}
    assert cycles(every) == [frozenset({"pkg.a", "pkg.b", "pkg.sub.c"})]


def test_the_checker_sees_scrcl_as_it_is():
    graph = import_graph(PACKAGE, function_level=False)
    assert "scrcl.tl" in graph and "scrcl.config" in graph["scrcl.tl"]
    assert "scrcl.clustering.kmeans" in graph["scrcl.clustering"]


# ----------------------------------------------------------------------------- scrcl


def test_no_import_cycle_at_module_level():
    found = cycles(import_graph(PACKAGE, function_level=False))
    assert not found, f"modules of scrcl import each other at import time: {_describe(found)}"


def test_no_import_cycle_including_function_level_imports():
    found = cycles(import_graph(PACKAGE, function_level=True))
    assert not found, f"modules of scrcl import each other: {_describe(found)}"
