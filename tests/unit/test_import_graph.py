"""The house rules on imports, checked on the source (shared/DESIGN.md, "Rules of the house").

Every module under ``shim/`` and every executor and connector package under ``executors/*/``
and ``connectors/*/`` is parsed with
:mod:`ast`; the import graph includes imports inside functions and methods (a cycle hidden in
a function is still a cycle: it only fails later, at the first call) and the names a
package's lazy ``_EXPORTS`` table resolves (``from shim import TaskTemplate`` imports
``shim.task.template``). Imports under ``if TYPE_CHECKING:`` are left out: they never run.

- no import cycles (the failure names each cycle, edge by edge, with file and line);
- ``shim/runtime/`` imports nothing from ``shim.task``, ``shim.local``, ``shim.connectors``,
  ``shim.commands`` or ``shim.cli`` (the container needs only what runs there);
- ``shim.task`` and ``shim.local`` import nothing from ``shim.connectors`` (the layer above);
- only ``shim/idl.py`` imports ``flyteidl``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

#: Edges allowed to close a cycle (none: task calls reach the local runners through the
#: controller registry, ``shim.runtime.controller``). An entry that no longer closes a cycle
#: fails ``test_known_exceptions_are_still_needed``.
KNOWN_EXCEPTIONS: set[tuple[str, str]] = set()

RUNTIME_FORBIDDEN = ("shim.task", "shim.local", "shim.connectors", "shim.commands", "shim.cli")


@dataclass
class Edge:
    src: str
    dst: str
    file: str
    line: int
    in_function: bool

    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class Graph:
    modules: dict[str, Path]  # module name -> file
    edges: list[Edge] = field(default_factory=list)  # between project modules
    external: list[Edge] = field(default_factory=list)  # everything imported, by full name


def project_files(repo: Path = REPO) -> dict[str, Path]:
    """Module name -> file for shim/ and each executor's and connector's import package."""
    roots = [repo / "shim"]
    for dist in sorted([*(repo / "executors").glob("*"), *(repo / "connectors").glob("*")]):
        roots += [p.parent for p in sorted(dist.glob("*/__init__.py"))]
    modules: dict[str, Path] = {}
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            rel = path.relative_to(root.parent).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _lazy_exports(tree: ast.Module) -> dict[str, str]:
    """A package's ``_EXPORTS = {"Name": "module", ...}`` table (see shim._lazy)."""
    for node in tree.body:
        target = None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        elif isinstance(node, ast.AnnAssign):
            target = node.target
        if isinstance(target, ast.Name) and target.id == "_EXPORTS":
            value = ast.literal_eval(node.value)
            return {str(k): str(v) for k, v in value.items()}
    return {}


class _Collector(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool) -> None:
        self.module = module
        self.package = module if is_package else module.rpartition(".")[0]
        self.depth = 0  # > 0 inside a function
        self.found: list[tuple[str, str | None, int, bool]] = []  # (module, name, line, in fn)

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def _function(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.found.append((alias.name, None, node.lineno, self.depth > 0))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.package.split(".")
            if node.level > 1:
                base = base[: len(base) - node.level + 1]
            module = ".".join(base + ([node.module] if node.module else []))
        else:
            module = node.module or ""
        for alias in node.names:
            self.found.append((module, alias.name, node.lineno, self.depth > 0))

    def visit_Call(self, node: ast.Call) -> None:
        # importlib.import_module("literal")
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if (
            name == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            self.found.append((node.args[0].value, None, node.lineno, self.depth > 0))
        self.generic_visit(node)


def build_graph(modules: dict[str, Path], repo: Path = REPO) -> Graph:
    trees = {m: ast.parse(p.read_text(), filename=str(p)) for m, p in modules.items()}
    exports = {m: _lazy_exports(t) for m, t in trees.items() if modules[m].name == "__init__.py"}
    graph = Graph(modules)
    for module, tree in trees.items():
        collector = _Collector(module, modules[module].name == "__init__.py")
        collector.visit(tree)
        path = modules[module]
        file = str(path.relative_to(repo)) if path.is_relative_to(repo) else str(path)
        for target, name, line, in_fn in collector.found:
            full = f"{target}.{name}" if name else target
            graph.external.append(Edge(module, full, file, line, in_fn))
            if name and full in modules:
                dst = full  # from package import submodule
            elif name and name in exports.get(target, {}):
                dst = exports[target][name]  # a lazy export: its module is what gets imported
            else:
                dst = target
            while dst and dst not in modules:  # `import a.b.c` of a non-module attribute
                dst = dst.rpartition(".")[0]
            if dst and dst != module:
                graph.edges.append(Edge(module, dst, file, line, in_fn))
    return graph


def find_cycles(graph: Graph, ignore: set[tuple[str, str]] = frozenset()) -> list[list[Edge]]:
    """One cycle (as its edges) per strongly connected component that has one."""
    adj: dict[str, list[Edge]] = {m: [] for m in graph.modules}
    for e in graph.edges:
        if (e.src, e.dst) not in ignore and all(x.dst != e.dst for x in adj[e.src]):
            adj[e.src].append(e)

    # Tarjan's strongly connected components (iterative)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in sorted(adj):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            recurse = False
            for j in range(i, len(adj[node])):
                nxt = adj[node][j].dst
                if nxt not in index:
                    work.append((node, j + 1))
                    work.append((nxt, 0))
                    recurse = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if recurse:
                continue
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                if len(comp) > 1:
                    components.append(sorted(comp))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])

    cycles = []
    for comp in components:
        members = set(comp)
        start = comp[0]
        # shortest path back to start inside the component (BFS)
        prev: dict[str, Edge] = {}
        queue = [start]
        found: Edge | None = None
        while queue and found is None:
            cur = queue.pop(0)
            for e in adj[cur]:
                if e.dst not in members:
                    continue
                if e.dst == start:
                    found = e
                    break
                if e.dst not in prev:
                    prev[e.dst] = e
                    queue.append(e.dst)
        path = [found]
        while path[0].src != start:
            path.insert(0, prev[path[0].src])
        cycles.append(path)
    return cycles


def describe(cycle: list[Edge]) -> str:
    chain = " -> ".join([cycle[0].src, *(e.dst for e in cycle)])
    steps = "; ".join(
        f"{e.src} imports {e.dst} at {e.where()}{' (in a function)' if e.in_function else ''}"
        for e in cycle
    )
    return f"{chain}  [{steps}]"


@pytest.fixture(scope="module")
def graph() -> Graph:
    return build_graph(project_files())


# --- the rules --------------------------------------------------------------------------------


def test_the_scan_sees_the_whole_project(graph: Graph) -> None:
    assert {"shim", "shim.idl", "shim.runtime.entrypoint", "shim_sqlite3.executor"} <= set(
        graph.modules
    )
    # imports inside functions are part of the graph (the lazy ones are most of them)
    assert any(e.in_function for e in graph.edges)
    assert any(
        e.src == "shim.cli" and e.dst == "shim.commands" and e.in_function for e in graph.edges
    )


def test_no_import_cycles(graph: Graph) -> None:
    cycles = find_cycles(graph, ignore=KNOWN_EXCEPTIONS)
    if cycles:
        pytest.fail(
            "import cycles (DESIGN.md: none, not even inside functions):\n"
            + "\n".join(describe(c) for c in cycles),
            pytrace=False,
        )


def test_known_exceptions_are_still_needed(graph: Graph) -> None:
    """An exception that no longer closes a cycle must be deleted from the list."""
    for edge in KNOWN_EXCEPTIONS:
        others = KNOWN_EXCEPTIONS - {edge}
        assert any((e.src, e.dst) == edge for c in find_cycles(graph, ignore=others) for e in c), (
            f"{edge} is no longer part of a cycle: remove it from KNOWN_EXCEPTIONS"
        )


def test_runtime_imports_nothing_from_the_layers_above(graph: Graph) -> None:
    bad = [
        f"{e.src} imports {e.dst} at {e.where()}"
        for e in graph.external
        if e.src.startswith("shim.runtime")
        and any(e.dst == f or e.dst.startswith(f + ".") for f in RUNTIME_FORBIDDEN)
    ]
    if bad:
        pytest.fail(
            f"shim/runtime/ must not import {', '.join(RUNTIME_FORBIDDEN)}:\n" + "\n".join(bad),
            pytrace=False,
        )


def test_task_and_local_import_nothing_from_connectors(graph: Graph) -> None:
    # connectors sit above the local runners: a connector task reaches them through the
    # duck-typed ``drive_locally`` hook, the runs store keeps a connector run through a hold
    bad = [
        f"{e.src} imports {e.dst} at {e.where()}"
        for e in graph.external
        if e.src.startswith(("shim.local", "shim.task"))
        and (e.dst == "shim.connectors" or e.dst.startswith("shim.connectors."))
    ]
    if bad:
        pytest.fail("shim.task and shim.local must not import shim.connectors:\n" + "\n".join(bad))


def test_only_idl_imports_flyteidl(graph: Graph) -> None:
    bad = [
        f"{e.src} imports {e.dst} at {e.where()}"
        for e in graph.external
        if (e.dst == "flyteidl" or e.dst.startswith("flyteidl.")) and e.src != "shim.idl"
    ]
    if bad:
        pytest.fail(
            "only shim/idl.py imports flyteidl (use shim.idl):\n" + "\n".join(bad), pytrace=False
        )


# --- the checker itself -------------------------------------------------------------------------


def _fake_project(tmp_path: Path, files: dict[str, str]) -> Graph:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return build_graph(project_files(tmp_path), repo=tmp_path)


def test_checker_finds_a_cycle_hidden_in_a_function(tmp_path: Path) -> None:
    g = _fake_project(
        tmp_path,
        {
            "shim/__init__.py": "",
            "shim/a.py": "def f():\n    from shim.b import g\n",
            "shim/b.py": "from . import c\n",
            "shim/c.py": "import shim.a\n",
        },
    )
    (cycle,) = find_cycles(g)
    text = describe(cycle)
    assert text.startswith("shim.a -> shim.b -> shim.c -> shim.a")
    assert "shim/a.py:2 (in a function)" in text


def test_checker_skips_type_checking_and_follows_lazy_exports(tmp_path: Path) -> None:
    g = _fake_project(
        tmp_path,
        {
            "shim/__init__.py": '_EXPORTS = {"Thing": "shim.deep.thing"}\n',
            "shim/deep/__init__.py": "",
            "shim/deep/thing.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from shim.user import User\nelse:\n    import json\n"
                "Thing = 1\n"
            ),
            "shim/user.py": "from shim import Thing\n",
            "executors/x/pkg_x/__init__.py": "import flyteidl.core\nfrom shim.user import *\n",
        },
    )
    assert not find_cycles(g)
    pairs = {(e.src, e.dst) for e in g.edges}
    assert ("shim.user", "shim.deep.thing") in pairs
    assert ("pkg_x", "shim.user") in pairs
    assert ("shim.deep.thing", "shim.user") not in pairs
    assert any(e.dst == "json" for e in g.external)
    assert any(e.src == "pkg_x" and e.dst == "flyteidl.core" for e in g.external)
