"""Which ``ilsim`` sources a pipeline step runs, from the package's import graph (issue 26):
each Snakemake rule depends on those files only, so a plotting edit reruns the steps that
draw and a docstring edit in a module no step imports reruns nothing.

The graph is read from the code (``ast``), imports inside functions included, and importing
``ilsim.a.b`` also runs the ``__init__`` of ``ilsim`` and ``ilsim.a``: a rule's sources are
everything reachable from its entry points (its step module, the modules its notebook
imports, and the top of ``ilsim.cli``, which runs every step). ``tests/test_deps.py`` checks the
graph against what Python actually loads.
"""

from __future__ import annotations

import ast
import json
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
# What every rule runs besides its step: the command line (only its module-level imports —
# the commands import their own step lazily) and the error printer of a failed step.
CLI = "ilsim.cli"
COMMON = (CLI, "ilsim.errors")
NOTEBOOK = "ilsim.notebook"  # what runs a notebook step's notebook


def module_name(path: Path) -> str:
    """``ilsim/steps/s01_segment.py`` -> ``ilsim.steps.s01_segment``."""
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    return ".".join(rel.parts).removesuffix(".__init__")


def _imported(tree: ast.AST, modules: dict[str, Path], top_level_only: bool = False) -> set[str]:
    """The ilsim modules a parsed file imports (``from ilsim import x`` counts module
    ``ilsim.x`` when there is one)."""
    nodes = tree.body if top_level_only and isinstance(tree, ast.Module) else ast.walk(tree)
    out: set[str] = set()
    for node in nodes:
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        out.update(t for t in targets if t in modules)
    return out


@cache
def _modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def source_file(module: str) -> Path:
    """The file of an ilsim module (``ilsim.steps.training`` -> ``…/ilsim/steps/training.py``)."""
    return _modules()[module]


@cache
def import_graph() -> dict[str, frozenset[str]]:
    """ilsim module -> the ilsim modules it imports anywhere in its code."""
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        found = _imported(ast.parse(path.read_text()), modules)
        graph[name] = frozenset(found - {name})
    return graph


def _parents(module: str) -> list[str]:
    """The packages whose ``__init__`` runs when ``module`` is imported."""
    parts = module.split(".")
    return [".".join(parts[:k]) for k in range(1, len(parts))]


def closure(entries: set[str], graph: dict[str, frozenset[str]] | None = None) -> set[str]:
    """Every ilsim module that importing ``entries`` can run (imports, transitively, with the
    packages' ``__init__`` modules)."""
    graph = import_graph() if graph is None else graph
    seen: set[str] = set()
    todo = [m for e in entries for m in (*_parents(e), e) if m in graph]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        todo.extend(n for n in (*graph[m], *_parents(m)) if n in graph and n not in seen)
    return seen


def notebook_imports(path: str | Path) -> set[str]:
    """The ilsim modules a notebook's code cells import."""
    cells = json.loads(Path(path).read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    lines = [ln for ln in code.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    return _imported(ast.parse("\n".join(lines)), _modules())


def step_modules(module: str, notebook: str | Path | None = None) -> set[str]:
    """The modules a step runs: its module ``ilsim.steps.<module>``, its notebook's imports,
    :data:`COMMON` and everything they import (of ``ilsim.cli`` only its module-level imports:
    each command imports its own step inside the function that runs it)."""
    modules = _modules()
    cli = CLI
    graph = dict(import_graph())
    graph[cli] = frozenset(
        _imported(ast.parse(modules[cli].read_text()), modules, top_level_only=True) - {cli}
    )
    entries = {f"ilsim.steps.{module}", *COMMON}
    if notebook is not None:  # run by `ilsim notebook` (ilsim.notebook) on a kernel
        entries |= {NOTEBOOK, *notebook_imports(notebook)}
    return closure(entries, graph)


def step_sources(
    module: str, notebook: str | Path | None = None, root: str | Path = "."
) -> list[str]:
    """The source files a step runs: a rule's code inputs. Relative to ``root`` (the project
    folder) when the package lives there, else absolute (an installed ilsim serving a
    workflow elsewhere: its files are still the code the steps run)."""
    modules = _modules()
    base = Path(root).resolve()
    files = [modules[m] for m in step_modules(module, notebook) if m in modules]
    if PACKAGE.is_relative_to(base):
        return sorted(str(f.relative_to(base)) for f in files)
    return sorted(str(f) for f in files)
