"""Every module of nclab imports, and no two modules of nclab import each other (no cycles).

The import graph is read with ``ast`` from src/nclab: an edge A -> B for every ``import
nclab.B`` / ``from nclab.B import x`` / ``from nclab import B`` in A, also inside functions
(a lazy import hides a cycle from the interpreter, not from the design). A strongly connected
component of more than one module is a cycle.
"""
from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import nclab

ROOT = Path(nclab.__file__).resolve().parent


def module_names() -> dict[str, Path]:
    """``{dotted name: file}`` of every module and package of nclab."""
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _target(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of the dotted ``name`` that is a module of nclab."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def import_graph() -> dict[str, set[str]]:
    """``{module: modules of nclab it imports}`` (self-imports left out)."""
    modules = module_names()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: resolve against this module's package
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                # "from pkg import sub" imports the submodule pkg.sub when it is one
                targets = [f"{base}.{alias.name}" for alias in node.names] if base else []
            else:
                continue
            for target in targets:
                if target.split(".")[0] != "nclab":
                    continue
                found = _target(target, modules)
                if found and found != name:
                    edges.add(found)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
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
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_cycle_finder_finds_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a", "e"}, "e": set(), "f": {"f"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"x": {"y"}, "y": set()}) == []


def test_graph_resolves_absolute_lazy_and_package_imports():
    graph = import_graph()
    assert "nclab.cli" in graph and "nclab.experiments.registry" in graph["nclab.report.reproduce"]
    assert "nclab._json" in graph["nclab.experiments.registry"]
    # a function-level import counts: `nclab report STORE` imports the sweep page lazily
    assert "nclab.report.sweep_page" in graph["nclab.report._cli"]
    assert "nclab.metrics.collapse" in graph["nclab.metrics._cli"]


def test_no_import_cycles_inside_nclab():
    found = cycles(import_graph())
    assert not found, "import cycles inside nclab: " + "; ".join(" <-> ".join(c) for c in found)


@pytest.mark.parametrize("name", sorted(set(module_names()) - {"nclab.__main__"}))  # __main__ runs the CLI
def test_every_module_imports(name):
    assert importlib.import_module(name).__name__ == name


def test_import_nclab_and_every_subpackage_in_a_fresh_interpreter():
    packages = sorted(n for n, p in module_names().items() if p.name == "__init__.py")
    assert {"nclab", "nclab.metrics", "nclab.ufm", "nclab.sweep", "nclab.report", "nclab.nets"} <= set(packages)
    code = ("import importlib, nclab; "
            f"[importlib.import_module(n) for n in {packages!r}]; "
            "[getattr(nclab, n) for n in nclab.__all__]; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
