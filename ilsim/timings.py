"""Wall-clock timings of a run, kept apart from its tables (issue 13).

Tables are results: two runs with the same params give the same bytes. How long a step took is
not a result — it depends on the machine and its load — so it goes to
``results/<name>/timings.csv`` (one row per step and item, the latest measurement kept) and
never into a table.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

COLUMNS = ["step", "item", "seconds"]


def timings_path(results_dir: str | Path) -> Path:
    return Path(results_dir) / "timings.csv"


def record(results_dir: str | Path, step: str, item: str, seconds: float) -> Path:
    """Store one timing (replacing an earlier one of the same step and item)."""
    path = timings_path(results_dir)
    old = pd.read_csv(path) if path.exists() else pd.DataFrame(columns=COLUMNS)
    keep = old[~((old["step"] == step) & (old["item"] == item))]
    row = pd.DataFrame([{"step": step, "item": item, "seconds": float(seconds)}])
    out = row if keep.empty else pd.concat([keep, row], ignore_index=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(path, index=False)
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
    """The run's timings (empty when none were recorded)."""
    path = timings_path(results_dir)
    return pd.read_csv(path) if path.exists() else pd.DataFrame(columns=COLUMNS)
