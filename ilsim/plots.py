"""Figures: one function per figure kind, saved as PNG and PDF side by side."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

REGIME_COLORS = {"bull": "#2ca02c", "bear": "#d62728", "sideways": "#7f7f7f"}
ROLE_HATCH = {"il_train": "", "sim_train": "//", "backtest": "..", "unused": "xx"}


def save_figure(fig: plt.Figure, directory: str | Path, stem: str) -> list[Path]:
    """Save ``fig`` as ``stem.png`` (150 dpi) and ``stem.pdf`` in ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / f"{stem}.png", directory / f"{stem}.pdf"]
    fig.savefig(paths[0], dpi=150, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight", metadata={"CreationDate": None})
    return paths


def plot_segments(
    daily_close: pd.Series,
    segments: pd.DataFrame,
    extrema: Sequence[dict] = (),
    auto_extrema: Sequence[dict] = (),
    title: str = "",
) -> plt.Figure:
    """Daily close with the extrema marked and each segment shaded by regime (hatched by role)."""
    fig, ax = plt.subplots(figsize=(13, 4.8))
    idx = pd.to_datetime(pd.Index(daily_close.index))
    ax.plot(idx, daily_close.to_numpy(), color="black", lw=0.9, label="close (daily)")
    for row in segments.itertuples(index=False):
        ax.axvspan(
            pd.Timestamp(row.start_date),
            pd.Timestamp(row.end_date),
            color=REGIME_COLORS[row.regime],
            alpha=0.18,
            hatch=ROLE_HATCH.get(row.role, ""),
            lw=0,
        )
        mid = (
            pd.Timestamp(row.start_date)
            + (pd.Timestamp(row.end_date) - pd.Timestamp(row.start_date)) / 2
        )
        ax.annotate(
            str(row.segment),
            (mid, 1.0),
            xycoords=("data", "axes fraction"),
            ha="center",
            va="bottom",
            fontsize=7,
        )

    def mark(points: Sequence[dict], style: dict, label: str) -> None:
        if not points:
            return
        dates = pd.to_datetime([p["date"] for p in points])
        near = daily_close.reindex(dates.date, method=None)
        ok = ~near.isna().to_numpy()
        if not ok.any():
            pos = np.searchsorted(idx, dates).clip(0, len(idx) - 1)
            near = pd.Series(daily_close.to_numpy()[pos], index=dates)
            ok = np.ones(len(dates), bool)
        ax.scatter(dates[ok], near.to_numpy()[ok], label=label, zorder=3, **style)

    mark(extrema, {"marker": "o", "s": 28, "color": "tab:blue"}, "extrema (params)")
    mark(auto_extrema, {"marker": "x", "s": 36, "color": "tab:orange"}, "zig-zag extrema")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c, alpha=0.3) for c in REGIME_COLORS.values()]
    hatches = [plt.Rectangle((0, 0), 1, 1, fill=False, hatch=h) for h in ROLE_HATCH.values()]
    leg = ax.legend(loc="upper left", fontsize=8)
    ax.add_artist(leg)
    ax.legend(
        handles + hatches,
        list(REGIME_COLORS) + list(ROLE_HATCH),
        loc="lower right",
        fontsize=7,
        ncol=2,
    )
    ax.set_ylabel("price")
    ax.set_title(title or "Regime segments")
    fig.tight_layout()
    return fig


def plot_feature_distributions(features: pd.DataFrame, regime: pd.Series) -> plt.Figure:
    """Histograms of every (scaled) feature, one colour per regime."""
    cols = list(features.columns)
    ncol = 5
    nrow = int(np.ceil(len(cols) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.6 * nrow))
    for ax, col in zip(np.ravel(axes), cols, strict=False):
        for name, color in REGIME_COLORS.items():
            x = features.loc[regime == name, col].dropna().to_numpy()
            if len(x):
                lo, hi = np.quantile(x, [0.005, 0.995])
                ax.hist(
                    x.clip(lo, hi), bins=50, density=True, histtype="step", color=color, label=name
                )
        ax.set_title(col, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in np.ravel(axes)[len(cols) :]:
        ax.set_visible(False)
    np.ravel(axes)[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_correlation(features: pd.DataFrame) -> plt.Figure:
    """Pearson correlation heatmap of the features."""
    import seaborn as sns

    corr = features.corr()
    fig, ax = plt.subplots(figsize=(7, 6))
    sns.heatmap(
        corr,
        vmin=-1,
        vmax=1,
        cmap="RdBu_r",
        annot=True,
        fmt=".2f",
        square=True,
        annot_kws={"size": 7},
        ax=ax,
    )
    ax.set_title("Feature correlation")
    fig.tight_layout()
    return fig
