"""The command line and the notebooks' runner (ilsim.notebook): the Jupyter kernel, the
scrubbed executed notebooks, the help texts."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest


def test_a_kernel_of_another_environment_is_never_used(tmp_path, monkeypatch):
    """Issue 13: a spec named like ours that runs another interpreter is left alone; this
    environment gets (and reuses) its own kernel, which runs this interpreter."""
    from jupyter_client.kernelspec import KernelSpecManager

    from ilsim.notebook import ensure_kernel

    # another venv on the same base interpreter: its python is a symlink to the same binary
    other = tmp_path / "othervenv" / "bin"
    other.mkdir(parents=True)
    (other / "python").symlink_to(Path(sys.executable).resolve())
    stale = tmp_path / "kernels" / "ilsim-test-stale"
    stale.mkdir(parents=True)
    (stale / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [
                    str(other / "python"),
                    "-m",
                    "ipykernel_launcher",
                    "-f",
                    "{connection_file}",
                ],
                "display_name": "stale",
                "language": "python",
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    name = ensure_kernel("ilsim-test-stale")
    try:
        assert name.startswith("ilsim-test-stale-")
        spec = KernelSpecManager().get_kernel_spec(name)
        assert Path(spec.argv[0]).resolve() == Path(sys.executable).resolve()
        assert ensure_kernel("ilsim-test-stale") == name  # found again, not reinstalled
    finally:
        shutil.rmtree(Path(sys.prefix) / "share/jupyter/kernels" / name, ignore_errors=True)


def test_scrub_notebook_leaves_nothing_that_changes_between_runs(tmp_path):
    """Issue 24: an executed notebook holds no timestamps, durations, random ids, progress bars
    or local folders, and scrubbing twice changes nothing."""
    import os

    import nbformat

    from ilsim.notebook import scrub_notebook

    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"start_time": "2026-12-07T09:47:43", "duration": 5.2}
    nb.metadata["widgets"] = {"state": {}}
    nb.metadata["kernelspec"] = {
        "name": "ilsim-1a2b3c4d",
        "display_name": "x",
        "language": "python",
    }
    params = nbformat.v4.new_code_cell("params_file = 'x'")
    params.metadata["tags"] = ["injected-parameters"]
    code = nbformat.v4.new_code_cell("run()")
    code.metadata["execution"] = {"iopub.execute_input": "2026-12-07T09:47:44Z"}
    code.metadata["papermill"] = {"duration": 0.4}
    code.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="12 segments\n"),
        nbformat.v4.new_output(
            "stream",
            name="stderr",
            text=f"train: 100%|██| 50/50 [00:06<00:00, 7.5it/s]\n{os.getcwd()}/x.py:3: Warn\n",
        ),
        nbformat.v4.new_output(
            "display_data", data={"application/vnd.jupyter.widget-view+json": {"model_id": "ab"}}
        ),
    ]
    nb.cells = [params, code]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    scrub_notebook(path)
    once = path.read_bytes()
    scrub_notebook(path)
    assert path.read_bytes() == once
    text = once.decode()
    for gone in ("2026-12-07", "duration", "widget", "it/s", os.getcwd(), "ilsim-1a2b3c4d"):
        assert gone not in text
    got = nbformat.read(str(path), 4)
    assert got.cells[0].id == "injected-parameters"
    assert [o.text for o in got.cells[1].outputs] == ["12 segments\n", "…/x.py:3: Warn\n"]


def test_a_kernel_that_fails_to_start_is_retried_a_failed_cell_is_not(tmp_path, monkeypatch):
    """Issue 26: a kernel start that fails (a ZMQ port taken under -j2) is retried; a cell's
    own error stops at once."""
    import nbformat
    import papermill

    from ilsim import notebook

    calls = []

    def flaky(src, dst, **kw):
        calls.append(kw["kernel_name"])
        if len(calls) == 1:
            raise RuntimeError("Kernel died before replying to kernel_info")
        nbformat.write(nbformat.v4.new_notebook(), dst)

    monkeypatch.setattr(notebook, "ensure_kernel", lambda: "ilsim")
    monkeypatch.setattr(papermill, "execute_notebook", flaky)
    notebook.run_notebook("a.ipynb", tmp_path / "out.ipynb", "p.yaml")
    assert len(calls) == 2 and (tmp_path / "out.ipynb").exists()

    def failing_cell(src, dst, **kw):
        calls.append("cell")
        raise papermill.PapermillExecutionError(0, 1, "x", "ValueError", "boom", [])

    calls.clear()
    monkeypatch.setattr(papermill, "execute_notebook", failing_cell)
    with pytest.raises(papermill.PapermillExecutionError):
        notebook.run_notebook("a.ipynb", tmp_path / "out2.ipynb", "p.yaml")
    assert calls == ["cell"]


def test_every_subcommand_is_listed_and_every_argument_has_help():
    """Issue 28: ``ilsim --help`` lists every subcommand with a line, and each argument of
    each subcommand says what it is."""
    import argparse

    from ilsim.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    listed = {c.dest for c in sub._choices_actions}
    assert set(sub.choices) == listed and {"verify", "backtest", "nb-sync"} <= listed
    assert all(c.help for c in sub._choices_actions)
    for name, cmd in sub.choices.items():
        for action in cmd._actions:
            if not isinstance(action, argparse._HelpAction):
                assert action.help, f"ilsim {name}: argument {action.dest} has no help"


def test_nb_sync_of_an_unknown_run_fails(tmp_path, monkeypatch, capsys):
    from ilsim.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["nb-sync", "nosuch"]) == 1
    assert "no executed notebooks of run 'nosuch'" in capsys.readouterr().err


def test_png_text_is_stripped_and_equals_a_figure_saved_without_it():
    """The scrubbed notebooks' images and the saved figures carry no software version: a PNG
    with its text chunks stripped is byte for byte the one matplotlib writes without them."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ilsim.notebook import strip_png_text

    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0])
    default, bare = io.BytesIO(), io.BytesIO()
    fig.savefig(default, format="png", dpi=50)
    fig.savefig(bare, format="png", dpi=50, metadata={"Software": None})
    plt.close(fig)
    assert b"Software" in default.getvalue() and b"Software" not in bare.getvalue()
    assert strip_png_text(default.getvalue()) == bare.getvalue()
    assert strip_png_text(b"not a png") == b"not a png"
