"""What every figure shares: the regime and strategy colours, saving as PNG and PDF, a
heatmap, and saying so when one plotted line hides another."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

REGIME_COLORS = {"bull": "#2ca02c", "bear": "#d62728", "sideways": "#7f7f7f"}


ROLE_HATCH = {"il_train": "", "sim_train": "//", "backtest": "..", "unused": "xx"}


STRATEGY_COLORS = {
    "final_rl": "#1f77b4",
    "long_only": "#ff7f0e",
    "rl_baseline": "#9467bd",
    "il_baseline": "#2ca02c",
}


def save_figure(fig: plt.Figure, directory: str | Path, stem: str) -> list[Path]:
    """Save ``fig`` as ``stem.png`` (150 dpi) and ``stem.pdf`` in ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / f"{stem}.png", directory / f"{stem}.pdf"]
    fig.savefig(paths[0], dpi=150, bbox_inches="tight", metadata={"Software": None})
    fig.savefig(paths[1], bbox_inches="tight", metadata={"CreationDate": None})
    return paths


def note_coinciding(ax: plt.Axes, rtol: float = 1e-9, atol: float = 1e-12) -> list[str]:
    """Say so when a labelled line lies exactly on an earlier one (it would hide it): the
    later line turns dotted and its label names the line it covers; a line with no finite
    value (it draws nothing) says so. Returns those labels. Call before ``ax.legend()``."""
    lines = [ln for ln in ax.get_lines() if not str(ln.get_label()).startswith("_")]
    noted = []
    for i, a in enumerate(lines):
        xa, ya = np.asarray(a.get_xdata(), float), np.asarray(a.get_ydata(), float)
        if not np.isfinite(ya).any():
            a.set_label(f"{a.get_label()} (no data)")
            noted.append(a.get_label())
            continue
        for b in lines[:i]:
            xb, yb = np.asarray(b.get_xdata(), float), np.asarray(b.get_ydata(), float)
            if (
                xa.shape == xb.shape
                and np.allclose(xa, xb, rtol, atol, equal_nan=True)
                and (np.allclose(ya, yb, rtol, atol, equal_nan=True))
            ):
                a.set_label(f"{a.get_label()} (coincides with {b.get_label()})")
                a.set_linestyle(":")
                a.set_linewidth(max(a.get_linewidth(), 1.8))
                noted.append(a.get_label())
                break
    return noted


def plot_heatmap(frame: pd.DataFrame, title: str, vmin: float = -1, vmax: float = 1) -> plt.Figure:
    """An annotated heatmap (e.g. pairwise action correlations)."""
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    sns.heatmap(
        frame,
        vmin=vmin,
        vmax=vmax,
        cmap="RdBu_r",
        annot=True,
        fmt=".2f",
        square=True,
        annot_kws={"size": 7},
        ax=ax,
    )
    ax.set_title(title)
    fig.tight_layout()
    return fig
