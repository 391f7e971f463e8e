"""What a step returns to its notebook: the tables, figures and notes it wrote; a step as
its sections (issue 28), and the intermediate results its sections share."""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from ilsim import report
from ilsim.params import Params
from ilsim.plots.common import save_figure

T = TypeVar("T")


@dataclass
class StepResult:
    """What a step's section (or its whole ``run``) wrote and computed, for its notebook.

    ``tables``: each written table by its file stem (and a few displayed-only ones by name);
    ``figures``: each saved figure by its file stem (closed, so it is shown where the notebook
    displays it, not where it was drawn); ``notes``: Markdown computed from the numbers;
    ``values``: the objects the step built (segments, models, backtests …), for interactive use."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    def merge(self, other: StepResult) -> StepResult:
        """Take in another section's tables, figures, notes and values (how ``run`` gathers a
        step's sections)."""
        for part in ("tables", "figures", "notes", "values"):
            getattr(self, part).update(getattr(other, part))
        return self

    def write_table(
        self, df: pd.DataFrame, directory: str | Path, stem: str, floatfmt: str = ".4g"
    ) -> pd.DataFrame:
        """:func:`ilsim.report.write_table`, keeping the table for display."""
        report.write_table(df, directory, stem, floatfmt=floatfmt)
        self.tables[stem] = df
        return df

    def save_figure(self, fig: Any, directory: str | Path, stem: str) -> Any:
        """:func:`ilsim.plots.common.save_figure`, then close the figure and keep it for display."""
        import matplotlib.pyplot as plt

        save_figure(fig, directory, stem)
        plt.close(fig)
        self.figures[stem] = fig
        return fig


Section = Callable[[Params, "str | Path"], StepResult]


def table_section(
    df: pd.DataFrame, directory: str | Path, stem: str, floatfmt: str = ".4g"
) -> StepResult:
    """What a section that makes one table returns: the table written and kept for display."""
    r = StepResult()
    r.write_table(df, directory, stem, floatfmt=floatfmt)
    return r


def run_sections(sections: Sequence[Section], p: Params, root: str | Path = ".") -> StepResult:
    """A step whole: each of its notebook's sections in order, their results merged."""
    r = StepResult()
    for section in sections:
        r.merge(section(p, root))
    return r


_KEEP = 4  # remembered results kept (a step's sections share one or two)
_REMEMBERED: OrderedDict[tuple, Any] = OrderedDict()


def _state(paths: Sequence[Path]) -> tuple:
    """Each file under ``paths`` (a file, or a folder's files) with its size and modification
    time (``None`` for a path that does not exist): what a remembered result was computed from."""
    rows: list[tuple] = []
    for path in paths:
        files = sorted(f for f in path.rglob("*") if f.is_file()) if path.is_dir() else [path]
        for f in files:
            try:
                st = f.stat()
                rows.append((str(f), st.st_size, st.st_mtime_ns))
            except FileNotFoundError:  # not there (yet), or removed while we looked
                rows.append((str(f), None))
    return tuple(rows)


def remembered(
    fn: Callable[[Params, str | Path], T], p: Params, root: str | Path = ".", *, rule: str
) -> T:
    """``fn(p, root)``, computed once while the inputs of step ``rule`` (the files the artifact
    registry says it reads) stay as they are; a copy each time, so a reader's edit of one
    section's result never reaches another. The sections of a step that need one intermediate
    result (the backtests, the pool's trades …) each ask for it here: a section run alone
    computes it, the whole step computes it once, and a section rerun after an input changed
    (an earlier step rerun) computes it again."""
    from ilsim.artifacts import read_paths

    head = (f"{fn.__module__}.{fn.__qualname__}", p.model_dump_json(), str(Path(root).resolve()))
    key = (*head, _state(read_paths(p, rule, root)))  # before the call: a change meanwhile
    if key not in _REMEMBERED:  # (another job, another kernel) makes the next call recompute
        _REMEMBERED[key] = fn(p, root)
        while len(_REMEMBERED) > _KEEP:
            _REMEMBERED.popitem(last=False)
    _REMEMBERED.move_to_end(key)
    return copy.deepcopy(_REMEMBERED[key])


def forget() -> None:
    """Drop every remembered result (the tests run each section from its files)."""
    _REMEMBERED.clear()
