"""The engine's import graph has no circle, function-level imports included: every `import` and
`from ... import` anywhere in a module (ast.walk) is an edge, `from engine.pkg import mod` counts
as an edge to the package and to the submodule. Tarjan's strongly connected components, as in the
house's before-stop hook; a failure names every module of each circle and the imports that close it."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def engine_modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under engine/ (a package by its folder name)."""
    mods = {}
    for f in sorted((root / "engine").rglob("*.py")):
        name = ".".join(f.relative_to(root).with_suffix("").parts)
        mods[name.removesuffix(".__init__")] = f
    return mods


def import_edges(mods: dict[str, Path]) -> dict[str, dict[str, int]]:
    """module -> {imported engine module: line of the first such import}."""
    edges: dict[str, dict[str, int]] = {m: {} for m in mods}
    for m, f in mods.items():
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for t in targets:
                if t in mods and t != m:
                    edges[m].setdefault(t, node.lineno)
    return edges


def cycles(edges: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
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

    for v in edges:
        if v not in index:
            visit(v)
    return out


def describe(comp: list[str], edges: dict[str, dict[str, int]]) -> str:
    inside = [f"{a} -> {b} (line {line})" for a in comp for b, line in sorted(edges[a].items()) if b in comp]
    return f"import circle of {len(comp)} modules: {', '.join(comp)}; edges: {'; '.join(inside)}"


def test_engine_has_no_import_circle():
    edges = import_edges(engine_modules())
    found = [describe(c, edges) for c in cycles(edges)]
    assert not found, "\n".join(found)


def test_the_walk_finds_a_circle_hidden_in_a_function(tmp_path):
    """The check itself: a circle closed by a function-level import is found and named."""
    pkg = tmp_path / "engine"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from engine import b\n")
    (pkg / "b.py").write_text("def f():\n    from engine.a import x\n")
    (pkg / "c.py").write_text("import engine.a\n")
    edges = import_edges(engine_modules(tmp_path))
    assert cycles(edges) == [["engine.a", "engine.b"]]
    assert "engine.b -> engine.a (line 2)" in describe(["engine.a", "engine.b"], edges)


def test_algorithm_modules_import_no_executor():
    """House rule: an algorithm module never imports the registry, an executor or the CLI."""
    edges = import_edges(engine_modules())
    upper = {"engine.stages", "engine.pipeline", "engine.cli", "engine.executor", "engine.stage_runners",
             "engine.ray_backend"}
    algorithms = ["engine.clusters", "engine.density", "engine.distill", "engine.ensemble", "engine.ranks",
                  "engine.embed", "engine.askllm", "engine.perplexity", "engine.project", "engine.coverage"]
    reaching = {m: sorted(set(edges[m]) & upper) for m in algorithms if set(edges[m]) & upper}
    assert not reaching, reaching
