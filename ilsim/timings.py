"""Wall-clock timings of a run, kept apart from its tables (issue 13).

Tables are results: two runs with the same params give the same bytes. How long a step took is
not a result — it depends on the machine and its load — so it goes to
``results/<name>/timings.csv`` and never into a table. Parallel jobs record into the same file,
so :func:`record` only appends one line (no read-modify-write) and :func:`load` keeps the
latest line per step and item; a timing that cannot be written warns, never fails a step.
"""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path

import pandas as pd

COLUMNS = ["step", "item", "seconds"]


def timings_path(results_dir: str | Path) -> Path:
    return Path(results_dir) / "timings.csv"


def record(results_dir: str | Path, step: str, item: str, seconds: float) -> Path:
    """Append one timing (a later one of the same step and item replaces it in :func:`load`)."""
    path = timings_path(results_dir)
    line = io.StringIO()
    csv.writer(line).writerow([step, item, repr(float(seconds))])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:  # one short write: atomic on append
            fh.write(line.getvalue())
    except OSError as err:
        warnings.warn(f"timing of {step}/{item} not recorded: {err}", stacklevel=2)
    return path


def split_timings(
    table: pd.DataFrame, column: str, step: str, item_columns: list[str], results_dir: str | Path
) -> pd.DataFrame:
    """Move a table's timing ``column`` to the timings file (items named by ``item_columns``)
    and return the table without it."""
    if column not in table:
        return table
    for _, r in table.iterrows():
        record(results_dir, step, "/".join(str(r[c]) for c in item_columns), r[column])
    return table.drop(columns=column)


def load(results_dir: str | Path) -> pd.DataFrame:
    """The run's timings, the latest per step and item (empty when none were recorded)."""
    path = timings_path(results_dir)
    if not path.exists():
        return pd.DataFrame(columns=COLUMNS)
    rows = pd.read_csv(path, names=COLUMNS, header=None, dtype={"step": str, "item": str})
    rows = rows[rows["step"] != "step"]  # a header line written by earlier versions
    rows = rows.astype({"seconds": float})
    return rows.drop_duplicates(["step", "item"], keep="last").reset_index(drop=True)
