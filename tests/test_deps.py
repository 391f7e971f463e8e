"""``ilsim.deps``: the sources each pipeline step runs, from the import graph (issue 26)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ilsim import deps
from ilsim.artifacts import STEPS

ROOT = Path(__file__).resolve().parents[1]


def _notebook(step) -> str | None:
    return str(ROOT / "notebooks" / f"{step.notebook}.ipynb") if step.notebook else None


def test_plotting_modules_belong_to_the_steps_that_draw_with_them():
    uses = {
        s.rule: {m for m in deps.step_modules(s.module, _notebook(s)) if m.startswith("ilsim.")}
        for s in STEPS
    }
    drawn = {r for r, ms in uses.items() if "ilsim.plots.rl" in ms}
    assert drawn == {"train_rl", "planted_edge", "backtest"}
    assert not any("ilsim.bybit" in ms for ms in uses.values())  # no step imports it
    assert not any(m.startswith("ilsim.plots") for m in uses["train_policy"])  # no retraining
    for ms in uses.values():  # what every step runs: the command line and the params
        assert {"ilsim.cli", "ilsim.errors", "ilsim.params.sections"} <= ms


def test_the_closure_follows_imports_and_package_inits():
    graph = {
        "ilsim": frozenset(),
        "ilsim.a": frozenset({"ilsim.b.c"}),
        "ilsim.b": frozenset(),
        "ilsim.b.c": frozenset({"ilsim.d"}),
        "ilsim.d": frozenset(),
        "ilsim.e": frozenset(),
    }
    assert deps.closure({"ilsim.a"}, graph) == {
        "ilsim",
        "ilsim.a",
        "ilsim.b",
        "ilsim.b.c",
        "ilsim.d",
    }


# Imported once before the steps fork off (they import no ilsim module; checked): each step
# then costs its own imports only, not a fresh interpreter's.
THIRD_PARTY = ("numpy", "pandas", "scipy", "torch", "matplotlib", "yaml", "pydantic")
_LOADER = """
import importlib, json, os, sys
for m in THIRD_PARTY:
    importlib.import_module(m)
assert not [m for m in sys.modules if m.startswith("ilsim")], "a third-party import loads ilsim"
out = {}
for module, entries in ENTRIES.items():
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child imports the step and reports what of ilsim it loaded
        os.close(r)
        for m in entries:
            importlib.import_module(m)
        ours = sorted(m for m in sys.modules if m == "ilsim" or m.startswith("ilsim."))
        os.write(w, json.dumps(ours).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 1 << 16):
        data += chunk
    os.close(r)
    assert os.waitpid(pid, 0)[1] == 0, module
    out[module] = json.loads(data)
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def loaded() -> dict[str, set[str]]:
    """The ilsim modules that importing each step loads (its notebook's imports and the
    command line with it), each in a fresh child of one interpreter."""
    entries = {}
    for s in STEPS:
        mods = [f"ilsim.steps.{s.module}", *deps.COMMON]
        if s.notebook:
            mods += sorted(deps.notebook_imports(_notebook(s)))
        entries[s.module] = mods
    code = f"THIRD_PARTY = {THIRD_PARTY!r}\nENTRIES = {entries!r}\n{_LOADER}"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return {k: set(v) for k, v in json.loads(out.stdout.strip().splitlines()[-1]).items()}


@pytest.mark.parametrize("module", sorted({s.module for s in STEPS}))
def test_what_python_loads_is_declared(module, loaded):
    """Importing a step (its notebook's imports and the command line with it) loads only
    modules the graph lists: a dependency the graph missed would leave an edit unrerun."""
    step = next(s for s in STEPS if s.module == module)
    assert f"ilsim.steps.{module}" in loaded[module]
    missing = loaded[module] - deps.step_modules(module, _notebook(step))
    assert not missing, f"{module} loads modules its rule does not depend on: {sorted(missing)}"


def test_step_sources_are_files_of_the_project():
    for s in STEPS:
        files = deps.step_sources(s.module, _notebook(s))
        assert f"ilsim/steps/{s.module}.py" in files
        assert all((ROOT / f).is_file() for f in files)


def test_no_import_the_graph_cannot_see():
    """The graph reads absolute imports of modules: a relative import, or a name reached
    through a lazy package (``from ilsim import plots`` then ``plots.plot_case``), would hide
    a dependency. The code and the notebooks import the defining module instead."""
    import ast
    import re

    for path in sorted((ROOT / "ilsim").rglob("*.py")):
        if path.parent.name == "plots":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{path}: relative import"
                if node.module == "ilsim":
                    names = {a.name for a in node.names}
                    assert "plots" not in names, f"{path}: from ilsim import plots"
            if isinstance(node, ast.Import):
                assert all(a.name != "ilsim.plots" for a in node.names), f"{path}: import plots"
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        text = nb.read_text()
        assert not re.search(r"from ilsim import [^\n]*\bplots\b|import ilsim\.plots\b", text), nb
