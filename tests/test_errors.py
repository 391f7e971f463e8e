"""Errors surface (issue 11, item 4): a failed step prints its own message on the console and
keeps its import report."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ilsim import errors

ROOT = Path(__file__).resolve().parents[1]

# The tail of a papermill log of a failed notebook, as papermill writes it.
PAPERMILL_LOG = """\
Input Notebook:  notebooks/01_segment.ipynb
Executing:   0%|          | 0/17 [00:00<?, ?cell/s]
Traceback (most recent call last):
  File "/venv/bin/papermill", line 8, in <module>
    sys.exit(papermill())
             ^^^^^^^^^^^
  File "/venv/lib/python3.11/site-packages/papermill/execute.py", line 251, in raise_for_e
    raise error
papermill.exceptions.PapermillExecutionError: \n\
---------------------------------------------------------------------------
Exception encountered at "In [5]":
---------------------------------------------------------------------------
ValueError                                Traceback (most recent call last)
Cell In[5], line 2
      1 display(Markdown(f"> {p.segments.rule_text}"))
----> 2 segments = s01_segment.segment_market(p, market)

File /work/main/ilsim/regimes.py:207, in with_roles(segments, rule, explicit)
    205 if explicit is not None:
    206     if len(explicit) != len(out):
--> 207         raise ValueError(
    208             f"segments.roles lists {len(explicit)} roles"
    209         )

\x1b[0;31mValueError\x1b[0m: segments.roles lists 1 roles but the data give 6 segments.
List exactly one role per segment.
"""

PLAIN_LOG = """\
Traceback (most recent call last):
  File "/x/ilsim/pipeline.py", line 10, in train_policy
    raise KeyError("a")
KeyError: 'a'

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/venv/bin/ilsim", line 8, in <module>
    sys.exit(main())
             ^^^^^^
ilsim.params.ParamsError: p.yaml: invalid parameters
  - unknown key 'bogus'
"""


def test_last_error_of_a_notebook_log():
    message, cell = errors.last_error(PAPERMILL_LOG)
    assert cell == "In [5]"
    assert message == (
        "ValueError: segments.roles lists 1 roles but the data give 6 segments.\n"
        "List exactly one role per segment."
    )


def test_last_error_of_a_command_log_is_the_last_exception():
    message, cell = errors.last_error(PLAIN_LOG)
    assert cell is None
    assert (
        message == "ilsim.params.ParamsError: p.yaml: invalid parameters\n  - unknown key 'bogus'"
    )


def test_wrapper_prints_the_message_on_stderr_and_fails(tmp_path):
    log = tmp_path / "01_segment.log"
    log.write_text(PAPERMILL_LOG)
    run = subprocess.run(
        [sys.executable, "-m", "ilsim.errors", str(log)], capture_output=True, text=True
    )
    assert run.returncode == 1 and run.stdout == ""
    assert "failed in notebook cell In [5]" in run.stderr
    assert "ValueError: segments.roles lists 1 roles" in run.stderr and str(log) in run.stderr


def test_wrapper_without_a_traceback_prints_the_log_tail(tmp_path, capsys):
    log = tmp_path / "x.log"
    log.write_text("\n".join(f"line {i}" for i in range(40)) + "\nKilled\n")
    assert errors.main([str(log)]) == 1
    err = capsys.readouterr().err
    assert "the last lines of" in err and err.rstrip().endswith("Killed") and "line 5\n" not in err
    assert errors.main([str(tmp_path / "none.log")]) == 1
    assert "wrote no log" in capsys.readouterr().err


def _project_copy(tmp_path: Path) -> Path:
    for name in ("Snakefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    for name in ("notebooks", "paper", "params"):
        shutil.copytree(ROOT / name, tmp_path / name)
    return tmp_path


def _snakemake(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("snakemake")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True, env=env)


def test_every_step_logs_and_reports_its_error(tmp_path):
    """Every job of the default run has a log (kept on failure) and ends in the wrapper."""
    run = _snakemake(_project_copy(tmp_path), "-n", "-j1", "-p")
    assert run.returncode == 0, run.stderr
    jobs = [b for b in run.stdout.split("\nrule ")[1:] if not b.startswith("all:")]
    assert len(jobs) >= 17
    for job in jobs:
        name = job.split(":")[0]
        assert "\n    log: results/default/logs/" in job, name
        shell = next(x for x in job.splitlines() if x.startswith("Shell command:"))
        log = shell.split("> ")[1].split(" 2>&1")[0]
        assert shell.endswith(f" 2>&1 || {sys.executable} -m ilsim.errors {log}"), name
    segment = next(b for b in jobs if b.startswith("segment:"))
    assert "log: results/default/logs/01_segment.log, reports/default/data_import.md" in segment
    assert "reports/default/data_import.md" not in segment.split("log:")[0]  # not an output


@pytest.mark.slow
def test_failed_step_prints_its_message_and_keeps_the_import_report(tmp_path):
    root = _project_copy(tmp_path)
    (root / "params/bad.yaml").write_text(
        "name: bad\nsynthetic: {n_regimes: 6, regime_days: [2, 3]}\n"
        "segments: {roles: [il_train, backtest]}\n"
    )
    run = _snakemake(
        root, "-j1", "--configfile", "params/bad.yaml", "--", "results/bad/segments.csv"
    )
    assert run.returncode != 0
    console = run.stdout + run.stderr
    assert "ValueError: segments.roles lists 2 roles but the data give 6 segments" in console
    assert "delete segments.roles" in console
    report = root / "reports/bad/data_import.md"
    assert report.exists() and "## Segment coverage" in report.read_text()
    assert not (root / "results/bad/segments.csv").exists()
