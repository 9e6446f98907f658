"""Packages stay in their lanes: a static check over the SDK's source (``workers/sedna``).

* The worker SDK never imports the model market (``sedna_market``), neither with an import
  statement nor by naming it to ``importlib``: the market plugs in through the
  ``sedna.knowledge_bases`` entry point group (see
  :mod:`sedna.algorithms.knowledge_management.backends`).
* There is no import cycle between the SDK's modules.

The graph is read from the source with :mod:`ast`, not from ``sys.modules``, so that imports inside
functions (the lazy ones that hide a cycle or a market dependency until a code path runs) count
as well.  Imports under ``if TYPE_CHECKING:`` do not run and are left out.  An edge goes from a
module to the module it names (``from pkg import sub`` names ``pkg.sub`` when ``sub`` is a
submodule); the parent packages that Python also initialises are not edges, as in import-linter.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

SDK_ROOT = Path(__file__).resolve().parents[2] / "workers"
PACKAGE = "sedna"
FORBIDDEN = "sedna_market"
# a string that names a market module or object (``importlib.import_module("sedna_market.x")``,
# ``"sedna_market.kb_backend:MarketBackend"``); prose that mentions the package does not match
_NAMES_FORBIDDEN = re.compile(rf"^\s*{FORBIDDEN}(\.[\w.]+)?(:[\w.]+)?\s*$")


def module_name(path: Path, root: Path) -> str:
    """Dotted module name of a source file under ``root`` (a package's ``__init__`` is the package)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sdk_modules(root: Path = SDK_ROOT) -> dict[str, Path]:
    """Every module of the SDK package, by dotted name."""
    return {module_name(p, root): p for p in sorted((root / PACKAGE).rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements that can run (anywhere in the module, functions included), skipping the
    bodies of ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield from _runtime_imports(other)
            continue
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        yield from _runtime_imports(child)


def imported_names(name: str, path: Path, known: set[str]) -> set[str]:
    """Absolute names of the modules that module ``name`` (at ``path``) imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    out: set[str] = set()
    for stmt in _runtime_imports(tree):
        if isinstance(stmt, ast.Import):
            out.update(alias.name for alias in stmt.names)
            continue
        if stmt.level:  # relative: resolve against the importing module's package
            base = name.split(".")
            if not is_package:
                base = base[:-1]
            base = base[: len(base) - (stmt.level - 1)]
            target = ".".join(base + ([stmt.module] if stmt.module else []))
        else:
            target = stmt.module or ""
        for alias in stmt.names:
            sub = f"{target}.{alias.name}"
            out.add(sub if sub in known else target)
    return out


def _docstrings(tree: ast.AST) -> set[int]:
    """``id()`` of the docstring constants of a module and its classes and functions."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def strings_naming(path: Path, pattern: re.Pattern[str]) -> list[str]:
    """String constants of a source file (docstrings left out) that match ``pattern``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    docs = _docstrings(tree)
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
            and pattern.match(node.value)]


def import_graph(root: Path = SDK_ROOT) -> dict[str, set[str]]:
    """``module -> modules it imports`` for every SDK module (edges to other packages included)."""
    modules = sdk_modules(root)
    known = set(modules)
    return {name: imported_names(name, path, known) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (or a module importing itself),
    each sorted: every one of them is an import cycle (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start] & graph.keys())))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child] & graph.keys()))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
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
                if len(component) > 1 or node in graph[node]:
                    found.append(sorted(component))
    return sorted(found)


# -- the checker itself ----------------------------------------------------------------------------
def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_checker_sees_lazy_relative_and_submodule_imports(tmp_path: Path) -> None:
    root = _write(tmp_path, {
        "sedna/__init__.py": "",
        "sedna/a.py": "def f():\n    from sedna import b\n",
        "sedna/b.py": "from . import c\nimport sedna_market.lifelong\n",
        "sedna/c.py": "from .a import f\n",
        "sedna/d.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from sedna import e\n",
        "sedna/e.py": "from sedna.d import x\n",
    })
    graph = import_graph(root)
    assert graph["sedna.a"] == {"sedna.b"}
    assert graph["sedna.b"] == {"sedna.c", "sedna_market.lifelong"}
    assert graph["sedna.d"] == {"typing"}
    assert graph["sedna.e"] == {"sedna.d"}
    # a -> b -> c -> a is a cycle; d <-> e is not (d's import never runs)
    assert cycles(graph) == [["sedna.a", "sedna.b", "sedna.c"]]


def test_checker_sees_a_market_module_named_in_a_string(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text('"""Uses sedna_market.lifelong."""\nimport importlib\n'
                    'def f():\n    """sedna_market"""\n    return importlib.import_module("sedna_market.lifelong")\n'
                    'X = "sedna_market.kb_backend:MarketBackend"\nY = "install sedna_market first"\n')
    assert sorted(strings_naming(path, _NAMES_FORBIDDEN)) == [
        "sedna_market.kb_backend:MarketBackend", "sedna_market.lifelong"]


def test_checker_finds_a_self_import_and_two_separate_cycles(tmp_path: Path) -> None:
    graph = {"x": {"x"}, "p": {"q"}, "q": {"p", "r"}, "r": set(), "s": {"t"}, "t": {"s", "os"}}
    assert cycles(graph) == [["p", "q"], ["s", "t"], ["x"]]


# -- the SDK's lanes -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    got = import_graph()
    # the real SDK, not an empty folder
    assert len(got) > 50 and {"sedna", "sedna.core.joint_inference.joint_inference"} <= got.keys()
    return got


def test_sdk_does_not_import_the_market(graph: dict[str, set[str]]) -> None:
    offenders = sorted(
        f"{mod} -> {dep}" for mod, deps in graph.items() for dep in deps
        if dep == FORBIDDEN or dep.startswith(FORBIDDEN + ".")
    )
    assert offenders == []


def test_sdk_does_not_name_the_market_to_importlib() -> None:
    offenders = {mod: found for mod, path in sdk_modules().items()
                 if (found := strings_naming(path, _NAMES_FORBIDDEN))}
    assert offenders == {}


def test_sdk_has_no_import_cycle(graph: dict[str, set[str]]) -> None:
    assert cycles(graph) == []
