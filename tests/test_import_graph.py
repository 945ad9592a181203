"""The import graph of src/daftrl, read with `ast` from every import in a file (lazy ones inside functions count: a
cycle through a lazy import is still a tangle), has no cycle, and no core module imports the command layer."""

from __future__ import annotations

import ast
import functools
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = "daftrl"


@dataclass(frozen=True)
class Import:
    module: str  # the imported module, absolute: `daftrl.envs` in `from daftrl.envs import make_env`
    name: str | None  # the imported name (`make_env`); None for `import daftrl.x` and `from daftrl.x import *`
    line: int
    alias: str | None = None  # `as alias`

    def __str__(self) -> str:
        text = f"import {self.module}" if self.name is None else f"from {self.module} import {self.name}"
        return f"{text} (line {self.line})"


@dataclass
class Graph:
    paths: dict[str, str]  # module name -> its file, as shown: `daftrl/envs/__init__.py`
    edges: dict[str, dict[str, list[Import]]] = field(default_factory=dict)  # src -> dst -> the imports that make it

    def adjacency(self) -> dict[str, set[str]]:
        return {m: set(self.edges.get(m, {})) for m in self.paths}

    def edge_count(self) -> int:
        return sum(len(targets) for targets in self.edges.values())


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_in(tree: ast.Module, module: str, is_package: bool, top_level_only: bool = False) -> list[Import]:
    """Every import into daftrl in a file, at any depth (functions, methods, try/if bodies), `if TYPE_CHECKING:`
    bodies left out, relative imports made absolute. `top_level_only`: what a package re-exports, the imports run
    when the module loads (not those inside functions or classes) plus those in a module `__getattr__` (lazy)."""
    found: list[Import] = []
    todo: deque[ast.AST] = deque(tree.body)
    while todo:
        node = todo.popleft()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            todo.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            found += [Import(a.name, None, node.lineno, a.asname) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[: len(package) - node.level + 1]
                base = ".".join(package + ([base] if base else []))
            found += [Import(base, None if a.name == "*" else a.name, node.lineno, a.asname) for a in node.names]
        if not top_level_only:
            todo.extend(ast.iter_child_nodes(node))
        elif isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
            todo.extend(node.body)
        elif isinstance(node, ast.If | ast.Try):
            todo.extend(ast.iter_child_nodes(node))
    return [i for i in found if i.module == PKG or i.module.startswith(PKG + ".")]


def graph_of(sources: dict[str, tuple[str, str]]) -> Graph:
    """The import graph of files given as module name -> (path as shown, source text)."""
    trees = {m: ast.parse(text, path) for m, (path, text) in sources.items()}
    is_package = {m: path.endswith("__init__.py") for m, (path, _) in sources.items()}
    # A package's face: the names its __init__.py re-exports from its own submodules (`from pkg.sub import name`).
    # A module inside the package that imports such a name from the face depends on the submodule that has it, not
    # on the face (pkg/a.py -> pkg/__init__.py -> pkg/a.py would be a false cycle). A module outside the package
    # depends on the face, and so on all that the face loads: offline.py -> datasets/__init__.py -> datasets/build.py
    # -> zoo/build.py -> offline.py was a true cycle, whichever name offline.py took from the face.
    faces = {m: {i.alias or i.name: i for i in imports_in(trees[m], m, True, top_level_only=True)
                 if i.name is not None and i.module.startswith(m + ".")}
             for m in sources if is_package[m]}

    def resolve(imp: Import, importer: str, depth: int = 0) -> str:
        """The file (module name) that `importer` depends on through `imp` (see `faces` above)."""
        if imp.name is not None and f"{imp.module}.{imp.name}" in sources:  # a submodule
            return f"{imp.module}.{imp.name}"
        assert imp.module in sources, f"{imp}: no module {imp.module}"
        if (imp.name is not None and imp.name in faces.get(imp.module, {}) and importer.startswith(imp.module + ".")
                and depth < 20):
            return resolve(faces[imp.module][imp.name], importer, depth + 1)
        return imp.module

    graph = Graph({m: path for m, (path, _) in sources.items()})
    for m, tree in trees.items():
        for imp in imports_in(tree, m, is_package[m]):
            dst = resolve(imp, m)
            if dst != m:  # a module importing a name of its own package's face that it defines itself
                graph.edges.setdefault(m, {}).setdefault(dst, []).append(imp)
    return graph


@functools.cache
def daftrl_graph() -> Graph:
    sources = {}
    for path in sorted((SRC / PKG).rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        sources[".".join(parts)] = (path.relative_to(SRC).as_posix(), path.read_text())
    return graph_of(sources)


def strongly_connected(adjacency: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components (iterative), those of more than one node: each holds a cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in sorted(adjacency):
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(sorted(adjacency.get(root, ()))))]
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(adjacency.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def shortest_cycle(adjacency: dict[str, set[str]], component: list[str]) -> list[str]:
    """A shortest cycle through the component's first node, inside the component: [a, b, ..., a]."""
    start, inside = component[0], set(component)
    parent: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(adjacency.get(node, ())):
            if child == start:
                cycle = [node]
                while cycle[-1] != start:
                    cycle.append(parent[cycle[-1]])
                return [*reversed(cycle), start]
            if child in inside and child not in parent:
                parent[child] = node
                queue.append(child)
    raise AssertionError(f"no cycle through {start} in {component}")


def describe_cycles(graph: Graph) -> str:
    """Per cycle: `a.py -> b.py -> a.py`, then the imports that make each step."""
    adjacency = graph.adjacency()
    lines = []
    for component in strongly_connected(adjacency):
        cycle = shortest_cycle(adjacency, component)
        line = " -> ".join(graph.paths[m] for m in cycle)
        if len(component) > len(cycle) - 1:
            line += f"   (one of the cycles among {', '.join(graph.paths[m] for m in component)})"
        lines.append(line)
        for a, b in zip(cycle, cycle[1:], strict=False):
            lines += [f"    {graph.paths[a]}: {imp}" for imp in graph.edges[a][b]]
    return "\n".join(lines)


# Imports left out of the cycle check on purpose, as (importing module, imported module, name). Each one is a known
# cycle still to be broken; test_cycle_exemptions_are_still_needed fails once it is gone, so the entry goes too.
CYCLE_EXEMPTIONS: set[tuple[str, str, str]] = set()
"""(importer, module, name) imports left out of the cycle check, each with a comment saying why and how to break it;
`test_cycle_exemptions_are_still_needed` fails once one no longer closes a cycle. None today."""


def without(graph: Graph, exemptions: set[tuple[str, str, str | None]]) -> Graph:
    """The graph with the exempted imports (and edges left with no import) taken out."""
    edges: dict[str, dict[str, list[Import]]] = {}
    for src, targets in graph.edges.items():
        for dst, imports in targets.items():
            kept = [i for i in imports if (src, i.module, i.name) not in exemptions]
            if kept:
                edges.setdefault(src, {})[dst] = kept
    return Graph(graph.paths, edges)


def test_no_import_cycle():
    cycles = describe_cycles(without(daftrl_graph(), CYCLE_EXEMPTIONS))
    assert not cycles, ("import cycles in src/daftrl (imports inside functions count too); break it by moving the "
                        "shared code to the lower module or the import to its consumer:\n" + cycles)


def test_cycle_exemptions_are_still_needed():
    graph = daftrl_graph()
    for src, module, name in sorted(CYCLE_EXEMPTIONS):
        assert any((i.module, i.name) == (module, name) for imports in graph.edges.get(src, {}).values()
                   for i in imports), f"{src} no longer imports {name} from {module}: delete it from CYCLE_EXEMPTIONS"
        assert describe_cycles(without(graph, CYCLE_EXEMPTIONS - {(src, module, name)})), (
            f"{src}: from {module} import {name} closes no cycle any more: delete it from CYCLE_EXEMPTIONS")


def is_command_layer(module: str) -> bool:
    """`daftrl.cli`, `daftrl.demo`, everything in `daftrl/experiments/` and the `*command*.py` files."""
    return (module in ("daftrl.cli", "daftrl.demo") or _in(module, "daftrl.experiments")
            or "command" in module.rsplit(".", 1)[-1])


def _in(module: str, area: str) -> bool:
    return module == area or module.startswith(area + ".")


def test_core_modules_do_not_import_the_command_layer():
    graph = daftrl_graph()
    wrong = []
    for src, targets in sorted(graph.edges.items()):
        if is_command_layer(src):
            continue
        for dst, imports in sorted(targets.items()):
            for imp in imports:
                if any(_in(dst, area) or _in(imp.module, area) for area in ("daftrl.cli", "daftrl.experiments")):
                    wrong.append(f"{graph.paths[src]}: {imp} -> {graph.paths[dst]}")
    assert not wrong, ("core modules import the command layer (daftrl.cli, daftrl.experiments); move the code they "
                       "need down into the core, or the import up into a command module:\n" + "\n".join(wrong))


RUN_PIECES = ("daftrl.provenance", "daftrl.configs", "daftrl.rundir", "daftrl.monitor")
"""What the run skeleton (`daftrl.runs`) is built from, each a module of its own (docs/code.md, "Layers")."""


def test_the_pieces_of_the_run_skeleton_sit_below_it():
    """provenance, configs, rundir and monitor use only each other, checkpoint.py and trackers.py: not the skeleton
    they serve (`runs`), nor a loop, so a builder or command can take one (a progress bar, `RunDir`) alone."""
    graph = daftrl_graph()
    below = {*RUN_PIECES, "daftrl.checkpoint", "daftrl.trackers"}
    for module in RUN_PIECES:
        assert module in graph.paths, module
        wrong = [f"{graph.paths[module]}: {imp}" for dst, imports in graph.edges.get(module, {}).items()
                 if dst not in below for imp in imports]
        assert not wrong, "\n".join(wrong)
    assert set(RUN_PIECES) - {"daftrl.provenance"} <= set(graph.edges["daftrl.runs"])


def test_the_graph_is_read():
    graph = daftrl_graph()
    assert len(graph.paths) > 50 and graph.edge_count() > 50, (len(graph.paths), graph.edge_count())
    assert "daftrl.runs" in graph.edges["daftrl.loops"]
    assert "daftrl.envs.make" in graph.edges["daftrl.envs"]  # a package's own edges to its submodules remain
    assert is_command_layer("daftrl.experiments.grid_command") and is_command_layer("daftrl.eval_command")
    assert is_command_layer("daftrl.datasets.command") and is_command_layer("daftrl.cli")
    assert not is_command_layer("daftrl.evaluate") and not is_command_layer("daftrl.datasets.build")


def test_the_cycle_finder_finds_cycles():
    adjacency = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"a", "f"}, "f": {"e"}}
    assert sorted(strongly_connected(adjacency)) == [["a", "b", "c"], ["e", "f"]]
    assert shortest_cycle(adjacency, ["a", "b", "c"]) == ["a", "b", "c", "a"]
    assert strongly_connected({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_the_graph_builder_on_a_small_package():
    def source(module: str, text: str) -> tuple[str, tuple[str, str]]:
        path = module.replace(".", "/") + ("/__init__.py" if module in ("daftrl", "daftrl.pkg") else ".py")
        return module, (path, text)

    sources = dict([
        source("daftrl", ""),
        # a face: re-exports `x` from pkg/a.py and `y` from pkg/b.py
        source("daftrl.pkg", "from daftrl.pkg.a import x\nfrom daftrl.pkg.b import y as y\n"),
        source("daftrl.pkg.a", "x = 1\n"),
        source("daftrl.pkg.b", "def y():\n    from daftrl.pkg import x\n    from .c import z\n"),  # -> a.py, c.py
        source("daftrl.pkg.c", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from daftrl.pkg import y\n"
                               "def z():\n    from daftrl.d import w\n"),
        source("daftrl.d", "import daftrl.pkg.b\n"),  # lazy cycle: pkg/b.py -> pkg/c.py -> d.py -> pkg/b.py
        source("daftrl.e", "from daftrl.pkg import y\n"),  # from outside the package: depends on the face
    ])
    graph = graph_of(sources)
    assert graph.adjacency() == {"daftrl": set(), "daftrl.pkg": {"daftrl.pkg.a", "daftrl.pkg.b"}, "daftrl.pkg.a": set(),
                                 "daftrl.pkg.b": {"daftrl.pkg.a", "daftrl.pkg.c"}, "daftrl.pkg.c": {"daftrl.d"},
                                 "daftrl.d": {"daftrl.pkg.b"}, "daftrl.e": {"daftrl.pkg"}}
    assert describe_cycles(graph).splitlines() == [
        "daftrl/d.py -> daftrl/pkg/b.py -> daftrl/pkg/c.py -> daftrl/d.py",
        "    daftrl/d.py: import daftrl.pkg.b (line 1)",
        "    daftrl/pkg/b.py: from daftrl.pkg.c import z (line 3)",
        "    daftrl/pkg/c.py: from daftrl.d import w (line 5)",
    ]
