"""nbval runs the notebooks on a scratch copy of the default run (issue 13).

Executed in place, the notebooks would rewrite ``results/default`` and the next
``snakemake -n`` would plan most of the pipeline again. Before the first notebook runs, the
default run's ``results/``, ``reports/`` and ``figures/`` folders are copied under the name
``default-nbval`` (checkpoints left out) and ``ILSIM_NAME`` points the notebooks there
(:data:`ilsim.params.NAME_OVERRIDE`), so ``snakemake -j2 && pytest && snakemake -n`` ends with
"Nothing to be done".
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from ilsim.params import NAME_OVERRIDE

ROOT = Path(__file__).resolve().parents[1]
SOURCE, SCRATCH = "default", "default-nbval"
_previous: str | None = None


def _scratch_copy() -> None:
    for kind in ("results", "reports", "figures"):
        src, dst = ROOT / kind / SOURCE, ROOT / kind / SCRATCH
        if dst.exists():
            shutil.rmtree(dst)
        if src.exists():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("checkpoints"))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    global _previous
    if str(item.fspath).endswith(".ipynb") and os.environ.get(NAME_OVERRIDE) != SCRATCH:
        _previous = os.environ.get(NAME_OVERRIDE)
        _scratch_copy()
        os.environ[NAME_OVERRIDE] = SCRATCH  # the kernels inherit it


def pytest_unconfigure(config: pytest.Config) -> None:
    if os.environ.get(NAME_OVERRIDE) == SCRATCH:
        if _previous is None:
            os.environ.pop(NAME_OVERRIDE, None)
        else:
            os.environ[NAME_OVERRIDE] = _previous
