"""Where the tests find the real QQQ data, and the one reason they skip without it.

The data never lives in this repository: point ``ILSIM_DATA`` at the 5-minute file (or at the
folder that holds the data files); a checkout beside the project's ``shared/`` folder finds
``../shared/data`` by itself. No test names a machine path.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

INTRADAY = "qqq_5min_2020-10_2024-12.parquet"
DAILY = "qqq_daily_2017-01_2021-06.csv"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def real_file(name: str = INTRADAY) -> Path:
    """The real data file ``name``: ``ILSIM_DAILY`` for the daily closes (as the pipeline reads
    it), ``ILSIM_DATA`` (the file itself or its folder), the intraday file's folder for the
    other files, or ``../shared/data``; skip the test when none holds it."""
    env = os.environ.get("ILSIM_DATA")
    candidates = []
    daily = os.environ.get("ILSIM_DAILY")
    if name == DAILY and daily and Path(daily).is_file():
        return Path(daily)  # the user's daily file, whatever its name
    if env:
        p = Path(env)
        candidates += [p, p / name, p.parent / name]
    candidates.append(SHARED / name)
    for c in candidates:
        if c.is_file() and c.name == name:
            return c
    pytest.skip(f"real data file {name} not found: set ILSIM_DATA to it or to its folder")
