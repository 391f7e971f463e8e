"""Unit tests run under the params' own names, whatever ILSIM_NAME the shell exports.

The test pyramid (issue 26): unit tests need no pipeline run and run first; the end-to-end
modules (whole steps, the workflow, the installed wheel, each notebook's sections) run
after them and carry the ``e2e`` and ``slow`` marks, so ``pytest -m "not slow"`` is the
seconds-to-minutes inner loop and a bare ``pytest`` (after ``snakemake -j2``) runs everything.
"""

import os
from pathlib import Path

import pytest

from ilsim.params import NAME_OVERRIDE


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (``-n 2``, the default in pyproject) each worker computes on one
    thread, and so does every process it starts: two workers with two threads each on 2 cores
    spin against each other (measured 4.4x slower)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        os.environ["OMP_NUM_THREADS"] = "1"
        torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _own_run_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(NAME_OVERRIDE, raising=False)


# Modules that run whole steps, the workflow, an installed wheel or the notebooks' sections.
END_TO_END = {
    "test_steps.py", "test_workflow.py", "test_packaging.py", "test_evaluate.py",
    "test_sections.py",
}  # fmt: skip
# Under pytest-xdist (``--dist loadgroup``) a module's tests share a worker (its module-scoped
# fixtures are built once) except these, whose tests are long and independent: they spread
# over the workers one by one (the planted-edge trainings, each notebook section).
SPREAD = {"test_planted.py", "test_sections.py"}


def _kind(item: pytest.Item) -> int:
    """0: unit test, 1: end to end, 2: a notebook (nbval)."""
    path = Path(str(item.fspath))
    if path.suffix == ".ipynb":
        return 2
    return 1 if path.name in END_TO_END else 0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _kind(item):
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.slow)
        name = Path(str(item.fspath)).name
        if name not in SPREAD:
            item.add_marker(pytest.mark.xdist_group(name))
    items.sort(key=_kind)  # stable: each kind keeps its own order
