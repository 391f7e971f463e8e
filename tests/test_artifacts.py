"""The artifact registry against the code: every file a step's notebook or code reads is
declared in ``ilsim.artifacts.STEPS`` (which the Snakefile turns into the rule's inputs), and
every table and figure it writes is declared as its output. Read statically: the notebook's
code and, transitively, every ilsim function it reaches."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ilsim import artifacts, reproduction

ROOT = Path(__file__).resolve().parents[1]
# Steps Snakemake runs through the command line instead of a notebook: their entry points.
CLI_ENTRY = {
    "train_policy": ["ilsim.steps.training.train_policy"],
    "train_premise": ["ilsim.steps.training.train_premise"],
    "premise": ["ilsim.steps.premise.write_premise"],
    "planted_edge": ["ilsim.steps.planted_edge.write_planted_edge"],
}
# Files named through these helpers: the groups of the registry.
PATH_HELPERS = {
    "policy_path": "policies",
    "policies": "policies",
    "premise_policy_path": "premise_policies",
}
# What each loader of the run object (``run.<method>()``, ilsim.run.Run) reads.
RUN_LOADERS = {
    "bars": "bars.parquet",
    "segments": "segments.csv",
    "features": "features.parquet",
    "labels": "labels.parquet",
    "scaler": "scaler.json",
    "impact": "impact_law.json",
    "backtest_law": "impact_law.json",
    "final_impact": "impact_mode.json",
}
OPAQUE = {"ilsim.run.Run"}  # its loaders count where they are called, not all at once


def _callee(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _literal(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


class Facts(ast.NodeVisitor):
    """What one piece of code touches: files (by the registry's names) it names, tables and
    figures it writes, and the dotted names it refers to (to follow)."""

    def __init__(self, aliases: dict[str, str], local: str) -> None:
        self.aliases, self.local = aliases, local
        self.files: set[str] = set()
        self.tables: set[str] = set()
        self.figures: set[str] = set()
        self.refs: set[str] = set()

    def visit_Call(self, node: ast.Call) -> None:
        name, args = _callee(node.func), node.args
        on_run = isinstance(node.func, ast.Attribute) and _callee(node.func.value) == "run"
        if on_run and name in ("path", "file") and args and _literal(args[0]):
            self.files.add(_literal(args[0]))
        elif on_run and name in RUN_LOADERS:
            self.files.add(RUN_LOADERS[name])
        elif name == "paper_table" and args and _literal(args[0]):
            self.files.add(f"paper:{_literal(args[0])}")
        elif name in PATH_HELPERS:
            self.files.add(PATH_HELPERS[name])
        elif name in ("write_table", "table_section") and len(args) >= 3 and _literal(args[2]):
            self.tables.add(_literal(args[2]))
        elif name == "save_figure" and len(args) >= 3 and _literal(args[2]):
            self.figures.add(_literal(args[2]))
        self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        # p.tables_dir() / "x.csv", p.figures_dir() / "x.png"
        right = _literal(node.right)
        if isinstance(node.op, ast.Div) and right and isinstance(node.left, ast.Call):
            kind = {"tables_dir": "table", "figures_dir": "figure"}.get(_callee(node.left.func))
            if kind:
                self.files.add(f"{kind}:{Path(right).stem}")
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.value, ast.Name) and node.value.id in self.aliases:
            self.refs.add(f"{self.aliases[node.value.id]}.{node.attr}")
        if node.attr == "LEARNER_SECTIONS":  # notebook 08 reads these tables by name
            self.files.update(f"table:{t}" for t in reproduction.LEARNER_SECTIONS)
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in self.aliases:
            self.refs.add(self.aliases[node.id])
        self.refs.add(f"{self.local}.{node.id}")


def _aliases(tree: ast.AST) -> dict[str, str]:
    """Local names of ilsim modules and functions → their dotted names."""
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ilsim"):
            for a in node.names:
                out[a.asname or a.name] = f"{node.module}.{a.name}"
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("ilsim"):
                    out[a.asname or a.name] = a.name
    return out


def _index() -> dict[str, Facts]:
    """Facts of every top-level function, class and constant in the ilsim package."""
    out = {}
    for path in sorted((ROOT / "ilsim").rglob("*.py")):
        mod = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        tree = ast.parse(path.read_text())
        aliases = _aliases(tree)
        for node in tree.body:
            names = []
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            for name in names:
                facts = Facts(aliases, mod)
                facts.visit(node)
                out[f"{mod}.{name}"] = facts
    return out


INDEX = _index()


def _notebook_facts(name: str) -> Facts:
    nb = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    tree = ast.parse(code)
    facts = Facts(_aliases(tree), "__notebook__")
    facts.visit(tree)
    return facts


def reach(start: Facts) -> Facts:
    """Everything the code reaches, following references into the ilsim package."""
    total = Facts({}, "")
    seen: set[str] = set()
    todo = [start]
    while todo:
        f = todo.pop()
        total.files |= f.files
        total.tables |= f.tables
        total.figures |= f.figures
        for ref in f.refs:
            if ref in INDEX and ref not in seen and ref not in OPAQUE:
                seen.add(ref)
                todo.append(INDEX[ref])
    return total


def step_facts(s: artifacts.Step) -> Facts:
    if s.notebook:
        return reach(_notebook_facts(s.notebook))
    entry = Facts({}, "")
    entry.refs = set(CLI_ENTRY[s.rule])
    return reach(entry)


@pytest.mark.parametrize("s", artifacts.STEPS, ids=lambda s: s.rule)
def test_every_read_is_declared(s: artifacts.Step) -> None:
    facts = step_facts(s)
    undeclared = facts.files - set(s.reads) - set(s.writes)
    undeclared -= {f"table:{t}" for t in s.tables} | {f"figure:{f}" for f in s.figures}
    assert not undeclared, f"rule {s.rule} reads {sorted(undeclared)} without declaring them"
    # and nothing declared that no code reads (a stale input reruns a step for nothing)
    unused = set(s.reads) - facts.files
    assert not unused, f"rule {s.rule} declares {sorted(unused)} but reads none of them"


@pytest.mark.parametrize("s", artifacts.STEPS, ids=lambda s: s.rule)
def test_every_table_and_figure_written_is_declared(s: artifacts.Step) -> None:
    facts = step_facts(s)
    tables = facts.tables - set(s.tables)
    figures = facts.figures - set(s.figures)
    assert not tables and not figures, f"rule {s.rule} writes undeclared {tables | figures}"
    # and every declared one is written by the step's code (no output left to the notebook)
    missing = (set(s.tables) - facts.tables) | (set(s.figures) - facts.figures)
    assert not missing, f"rule {s.rule} declares {sorted(missing)} but its code writes none"


@pytest.mark.parametrize("s", [s for s in artifacts.STEPS if s.notebook], ids=lambda s: s.rule)
def test_notebooks_only_call_their_step_and_display(s: artifacts.Step) -> None:
    """The notebook calls each section of its step, in the step's order (issue 28), and writes
    nothing itself: every output of the rule is written by ``ilsim`` code (issue 12)."""
    import importlib

    own = _notebook_facts(s.notebook)
    assert not own.tables and not own.figures, f"{s.notebook} writes {own.tables | own.figures}"
    nb = json.loads((ROOT / "notebooks" / f"{s.notebook}.ipynb").read_text())
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    sections = importlib.import_module(f"ilsim.steps.{s.module}").SECTIONS
    calls = [f"{s.module}.{f.__name__}(" for f in sections]
    for call in calls:
        assert f"ilsim.steps.{call[:-1]}" in own.refs, f"{s.notebook} does not call {call}"
    assert sorted(calls, key=code.index) == calls, f"{s.notebook}: sections out of order"
    assert f"{s.module}.run(" not in code, f"{s.notebook} runs the step whole"
    for writer in (".to_parquet(", ".to_csv(", ".write_text(", "torch.save("):
        assert writer not in code, f"{s.notebook} writes a file itself ({writer})"


def test_every_read_has_a_producer_and_the_analysis_sees_reads() -> None:
    for s in artifacts.STEPS:
        for name in s.reads:
            if not name.startswith("paper:"):
                assert artifacts.producer(name).rule != s.rule
    # the analysis is not vacuous: a notebook's own read, one reached through two calls
    nb = step_facts(artifacts.step("il_diversity"))
    assert {"bars.parquet", "il_agents.pt", "paper:table3_il_general"} <= nb.files
    assert "impact_law.json" in step_facts(artifacts.step("backtest")).files


def test_snakefile_declares_the_registry() -> None:
    """Snakemake's own view of the default run: each rule's inputs hold its step's reads."""
    out = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "-F"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    inputs: dict[str, set[str]] = {}
    rule = None
    for line in out.splitlines():
        if line.startswith("rule ") and line.endswith(":"):
            rule = line[5:-1]
        elif line.startswith("    input: ") and rule:
            inputs.setdefault(rule, set()).update(line[11:].split(", "))
    rules = {"train_premise": "train_premise_impact"}
    for s in artifacts.STEPS:
        have = inputs[rules.get(s.rule, s.rule)]
        for name in s.reads:
            kind, _, stem = name.rpartition(":")
            if name in PATH_HELPERS.values():
                folder = {"policies": "/policies/", "premise_policies": "/premise/"}[name]
                assert any(folder in x for x in have), f"rule {s.rule}: no {name} among its inputs"
                continue
            path = {
                "paper": f"paper/{stem}.csv",
                "table": f"reports/default/tables/{stem}.csv",
                "figure": f"figures/default/{stem}.png",
                "": f"results/default/{stem}",
            }[kind]
            assert path in have, f"rule {s.rule}: {path} not among its inputs"
