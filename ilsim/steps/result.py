"""What a step returns to its notebook: the tables, figures and notes it wrote."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ilsim import report
from ilsim.plots.common import save_figure


@dataclass
class StepResult:
    """What a step's ``run`` wrote and computed, for its notebook to display.

    ``tables``: each written table by its file stem (and a few displayed-only ones by name);
    ``figures``: each saved figure by its file stem (closed, so it is shown where the notebook
    displays it, not where it was drawn); ``notes``: Markdown computed from the numbers;
    ``values``: the objects the step built (segments, models, backtests …), for interactive use."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

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
