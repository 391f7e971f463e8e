"""Figures of steps 1-2: the regime segments on the daily close, feature distributions and
correlations, the experts' label mix."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ilsim.plots.common import REGIME_COLORS, ROLE_HATCH, plot_heatmap


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
        """Each extremum on the close of its trading day (a non-trading date: the next one)."""
        dates = pd.to_datetime([p["date"] for p in points])
        dates = dates[(dates >= idx[0]) & (dates <= idx[-1])]
        if len(dates):
            pos = np.searchsorted(idx, dates)
            ax.scatter(idx[pos], daily_close.to_numpy()[pos], label=label, zorder=3, **style)

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
    return plot_heatmap(features.corr(), "Feature correlation")


def plot_label_mix(mix: pd.DataFrame) -> plt.Figure:
    """Stacked bars: share of buy / hold / sell expert labels per segment."""
    fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(mix)), 3.6))
    x = np.arange(len(mix))
    bottom = np.zeros(len(mix))
    for col, color in (("sell", "#d62728"), ("hold", "#bbbbbb"), ("buy", "#2ca02c")):
        ax.bar(x, mix[col], bottom=bottom, color=color, label=col, width=0.8)
        bottom += mix[col].to_numpy()
    ax.set_xticks(
        x,
        [
            f"{s}\n{r[:4]}\n{o.replace('_', ' ')}"
            for s, r, o in zip(mix["segment"], mix["regime"], mix["role"], strict=True)
        ],
        fontsize=6,
    )
    ax.set_ylabel("share of bars")
    ax.set_title("Expert labels per segment")
    ax.legend(fontsize=7, loc="upper right", ncol=3)
    fig.tight_layout()
    return fig
