"""nbval runs the notebooks whole (``pytest notebooks``; the default ``pytest`` tests them
section by section, tests/test_sections.py) on a scratch copy of the default run (issue 13).

Executed in place, the notebooks would rewrite ``results/default`` and the next
``snakemake -n`` would plan most of the pipeline again. Before the first notebook runs, the
default run's ``results/``, ``reports/`` and ``figures/`` folders are copied under the name
``default-nbval`` (``default-nbval-gw0`` … under pytest-xdist; checkpoints left out) and
``ILSIM_NAME`` points the notebooks' kernels there
(:data:`ilsim.params.NAME_OVERRIDE`; set only while a notebook runs), so
``snakemake -j2 && pytest && snakemake -n`` ends with "Nothing to be done".
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ilsim.params import NAME_OVERRIDE
from ilsim.runs import scratch_copy

ROOT = Path(__file__).resolve().parents[1]
# one scratch copy per pytest-xdist worker: two workers never replace a copy the other's
# kernel is reading
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
SOURCE, SCRATCH = "default", "default-nbval" + (f"-{_WORKER}" if _WORKER else "")
_copied = False
_ORIGINAL = os.environ.get(NAME_OVERRIDE)


def _is_notebook(item: pytest.Item) -> bool:
    return str(item.fspath).endswith(".ipynb")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before a notebook's first cell (its kernel starts then and inherits the environment)."""
    global _copied
    if _is_notebook(item):
        if not _copied:
            scratch_copy(SOURCE, SCRATCH, ROOT)
            _copied = True
        os.environ[NAME_OVERRIDE] = SCRATCH


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    """After each notebook cell: the running kernel keeps its copy of the variable, and
    whatever runs next in this process sees the environment it started with."""
    if _is_notebook(item):
        if _ORIGINAL is None:
            os.environ.pop(NAME_OVERRIDE, None)
        else:
            os.environ[NAME_OVERRIDE] = _ORIGINAL


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Each notebook's cells on one pytest-xdist worker (``--dist loadgroup``): its kernel
    runs them in order."""
    for item in items:
        if _is_notebook(item):
            item.add_marker(pytest.mark.xdist_group(Path(str(item.fspath)).name))
