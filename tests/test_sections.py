"""Each notebook's sections as a reader runs them (issue 28): section k alone, after the
earlier ones, shows what the full run showed and writes the same files.

"After the earlier ones": a copy of the default run (under its own name) in a temporary project
folder, whose files the earlier sections and steps made. "Alone": a fresh namespace that ran
only the notebook's parameters and setup cells, then section k's cells. "What the full run
showed": the executed notebook Snakemake wrote (``reports/default/notebooks``): every table
(HTML), Markdown note, printed line and figure of the section in the same order; and every
table, report and figure file it writes equals the run's byte for byte. Needs ``snakemake -j2``
first (the README's test command); nbval over the notebooks whole: ``pytest notebooks``."""

from __future__ import annotations

import ast
import contextlib
import importlib
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from ilsim.artifacts import STEPS
from ilsim.notebook import scrub_stream
from ilsim.runs import KINDS, WRITE_RUN
from ilsim.steps.result import forget

ROOT = Path(__file__).resolve().parents[1]
RUN = "default"
EXECUTED = ROOT / "reports" / RUN / "notebooks"


def notebook_sections(path: Path) -> tuple[list[int], list[tuple[str, list[int]]]]:
    """The setup cells (every code cell before the first ``## `` heading) and each section:
    its heading and its code cells (``###`` headings stay inside their section)."""
    cells = json.loads(path.read_text())["cells"]
    setup: list[int] = []
    sections: list[tuple[str, list[int]]] = []
    for i, c in enumerate(cells):
        text = "".join(c["source"])
        if c["cell_type"] == "markdown" and text.startswith("## "):
            sections.append((text.splitlines()[0][3:], []))
        elif c["cell_type"] == "code":
            (sections[-1][1] if sections else setup).append(i)
    return setup, sections


CASES = [
    pytest.param(nb, k, id=f"{nb.stem}-{k + 1}")
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb"))
    for k in range(len(notebook_sections(nb)[1]))
]


def _shown(obj: Any) -> tuple[str, str]:
    """What a displayed object shows, as (kind, text) comparable with a notebook output."""
    import matplotlib.figure
    from IPython.display import Image, Markdown

    if isinstance(obj, matplotlib.figure.Figure | Image):
        return "image", ""
    if isinstance(obj, Markdown):
        return "markdown", obj.data
    if hasattr(obj, "_repr_html_") and obj._repr_html_() is not None:
        return "html", obj._repr_html_()
    return "text", repr(obj)


MIMES = (("image/png", "image"), ("text/markdown", "markdown"), ("text/html", "html"))


def _recorded(output: dict) -> tuple[str, str]:
    """What a recorded output of the executed notebook shows, as :func:`_shown` says it."""
    data = output["data"]
    for mime, kind in MIMES:
        if mime in data:
            return kind, "" if kind == "image" else "".join(data[mime])
    return "text", "".join(data["text/plain"])


def _run_cell(source: str, ns: dict, shown: list) -> str:
    """Execute one cell as a kernel would (its last expression displayed); return its stdout."""
    tree = ast.parse(source)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(tree, "<cell>", "exec"), ns)
        if last is not None:
            value = eval(compile(ast.Expression(last.value), "<cell>", "eval"), ns)
            if value is not None:
                shown.append(value)
    return out.getvalue()


# Not compared: what a step writes while it runs, or the wall times it keeps out of the tables.
NOT_COMPARED = {"notebooks", "logs", "benchmarks", "checkpoints", "timings.csv"}


def _files(root: Path) -> dict[Path, int]:
    """The run's artifacts, tables, reports and figures with their modification times."""
    out = {}
    for kind in KINDS:
        for f in (root / kind / RUN).rglob("*"):
            rel = f.relative_to(root)
            if f.is_file() and not NOT_COMPARED & set(rel.parts):
                out[rel] = f.stat().st_mtime_ns
    return out


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project folder holding a copy of the default run under its own name (so every output,
    names and paths included, can equal the run's), once per test worker."""
    if not (ROOT / "results" / RUN / "params.yaml").is_file():
        pytest.fail("no default run: `snakemake -j2` first (the README's test command)")
    root = tmp_path_factory.mktemp("sections")
    for marker in ("Snakefile", "pyproject.toml"):  # what ilsim.report.project_root looks for
        shutil.copy(ROOT / marker, root / marker)
    for kind in KINDS:
        shutil.copytree(
            ROOT / kind / RUN, root / kind / RUN, ignore=shutil.ignore_patterns("checkpoints")
        )
    return root


@pytest.fixture(autouse=True)
def _nothing_remembered() -> None:
    """Each section computes what it shares with the others from the run's files."""
    forget()


@pytest.mark.parametrize("s", [s for s in STEPS if s.notebook], ids=lambda s: s.notebook)
def test_each_section_calls_its_own_function_of_the_step(s) -> None:
    """Section k (the k-th ``##`` heading) calls ``SECTIONS[k]`` of its step and no other."""
    notebook = ROOT / "notebooks" / f"{s.notebook}.ipynb"
    cells = json.loads(notebook.read_text())["cells"]
    functions = importlib.import_module(f"ilsim.steps.{s.module}").SECTIONS
    sections = notebook_sections(notebook)[1]
    assert len(sections) == len(functions), f"{notebook.name}: one section per function"
    for (title, idx), fn in zip(sections, functions, strict=True):
        code = "\n".join("".join(cells[i]["source"]) for i in idx)
        called = [f.__name__ for f in functions if f"{s.module}.{f.__name__}(" in code]
        assert called == [fn.__name__], f"{notebook.name} § {title!r} calls {called}"


@pytest.mark.parametrize(("notebook", "k"), CASES)
def test_a_section_alone_shows_what_the_full_run_showed(
    notebook: Path, k: int, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import IPython.display
    import matplotlib
    import pandas as pd

    matplotlib.use("Agg")
    executed = json.loads((EXECUTED / notebook.name).read_text())["cells"]
    cells = json.loads(notebook.read_text())["cells"]
    setup, sections = notebook_sections(notebook)
    title, section = sections[k]
    # the executed copy has papermill's injected parameters cell after the parameters cell
    offset = len(executed) - len(cells)
    assert offset in (0, 1), f"{notebook.name}: the executed copy is not this notebook's run"

    shown: list = []
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **_: shown.extend(objs))
    monkeypatch.setenv(WRITE_RUN, "1")  # the run itself, as Snakemake's kernel does
    monkeypatch.chdir(project)
    ns: dict = {}
    # a Jupyter kernel's pandas shows at most 20 columns (in a terminal: as many as fit)
    with pd.option_context("display.max_columns", 20):
        for i in setup:
            _run_cell("".join(cells[i]["source"]), ns, [])
            if "parameters" in cells[i]["metadata"].get("tags", []):
                ns["params_file"] = f"results/{RUN}/params.yaml"  # what Snakemake injects
        before = _files(project)
        assert section, f"{notebook.name} § {title!r} has no code"
        showed = False
        for i in section:
            ran = executed[i + offset]
            assert ran["source"] == cells[i]["source"], f"{notebook.name} cell {i}: not the run's"
            shown.clear()
            printed = scrub_stream(_run_cell("".join(cells[i]["source"]), ns, shown))
            want = "".join("".join(o["text"]) for o in ran["outputs"] if o.get("name") == "stdout")
            assert printed == want, f"{notebook.name} § {title!r} cell {i}: printed"
            want_shown = [_recorded(o) for o in ran["outputs"] if o["output_type"] != "stream"]
            assert [_shown(o) for o in shown] == want_shown, f"{notebook.name} § {title!r} cell {i}"
            showed = showed or bool(printed) or bool(shown)
    assert showed, f"{notebook.name} § {title!r} shows nothing"

    written = [rel for rel, t in _files(project).items() if before.get(rel) != t]
    for rel in written:
        ref = ROOT / rel
        same = ref.is_file() and (project / rel).read_bytes() == ref.read_bytes()
        assert same, f"{notebook.name} § {title!r} wrote {rel} unlike the run"
