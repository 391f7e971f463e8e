"""Figures of the simulator (step 5): the agents' influence on the price, the impact
response and its curves, the size sweep."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ilsim.plots.common import STRATEGY_COLORS, note_coinciding


def plot_influence(influence: np.ndarray, price: np.ndarray, title: str = "") -> plt.Figure:
    """Figure 4: each agent's influence share over a simulated period (stacked area), with the
    simulated price beneath."""
    fig, (ax, axp) = plt.subplots(
        2, 1, figsize=(10, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    x = np.arange(len(influence))
    ax.stackplot(x, influence.T, labels=[f"IL{i + 1}" for i in range(influence.shape[1])])
    ax.set_ylim(0, 1)
    ax.set_ylabel("influence share")
    ax.legend(fontsize=7, ncol=5, loc="upper right")
    ax.set_title(title or "Figure 4: influence of the IL agents over a simulated period")
    axp.plot(np.arange(len(price)), price, color="black", lw=0.8)
    axp.set_ylabel("simulated price")
    axp.set_xlabel("bar")
    fig.tight_layout()
    return fig


def plot_impact_response(table: pd.DataFrame) -> plt.Figure:
    """Price response (bp) to one RL buy of a fraction of cash, per impact mode, with 95 %
    intervals over paths."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for mode, g in table.groupby("impact", sort=False):
        ax.plot(g["size"], g["response_bp"], marker="o", label=mode)
        ax.fill_between(g["size"], g["ci_low"], g["ci_high"], alpha=0.2)
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xlabel("RL buy order (fraction of cash)")
    ax.set_ylabel("price response after the horizon (bp)")
    ax.set_title("Does the RL order move the price?")
    note_coinciding(ax)  # e.g. `paper` on `none`: neither moves the price
    ax.legend()
    fig.tight_layout()
    return fig


def plot_impact_curves(curves: pd.DataFrame, checks: pd.DataFrame) -> plt.Figure:
    """Left: the immediate response (lag 0) against the buy's share of daily volume, log-log,
    per mode, beside the square-root law. Right: the response to a buy of about 1 % of daily
    volume over the following session, per mode (the fitted law's own curve dashed)."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ref = checks[checks["impact"] == "empirical law"].iloc[0]
    for mode, g in curves.groupby("impact", sort=False):
        law = mode == "fitted law"
        g0 = g[g["lag"] == 0].sort_values("volume_fraction")
        pos = g0["response_bp"] > 0
        ax1.plot(
            g0.loc[pos, "volume_fraction"],
            g0.loc[pos, "response_bp"],
            "--" if law else "-o",
            label=mode,
        )
        sizes = g["volume_fraction"].unique()
        near = sizes[np.argmin(np.abs(np.log(sizes / 0.01)))]
        c = g[g["volume_fraction"] == near].sort_values("lag")
        ax2.plot(c["lag"], c["response_bp"], "--" if law else "-", label=f"{mode} ({near:.1%})")
        if not law:
            ax2.fill_between(c["lag"], c["ci_low"], c["ci_high"], alpha=0.2)
    x = np.sort(curves["volume_fraction"].unique())
    y = ref["peak_bp"] * (x / 0.01) ** ref["slope"]
    ax1.plot(x, y, ":", color="black", label="square-root law (Y = 1)")
    ax1.set_xscale("log")
    ax1.set_yscale("log")
    ax1.set_xlabel("buy order (share of daily volume)")
    ax1.set_ylabel("immediate response (bp)")
    ax1.set_title("Impact against size (positive responses)")
    ax1.legend(fontsize=7)
    ax2.axhline(ref["peak_bp"] * ref["left_at_end"], color="black", ls=":", lw=0.8)
    ax2.axhline(0, color="black", lw=0.6)
    ax2.set_xlabel("bars after the order")
    ax2.set_ylabel("response (bp)")
    ax2.set_title("Decay over one session (dotted: 2/3 of the sqrt-law peak)")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_size_sweep(sweep: pd.DataFrame) -> plt.Figure:
    """Return and drawdown in the impact-aware backtest against the portfolio size, per
    strategy, mean over seeds with 95 % intervals (``ilsim.claims.sweep_summary`` rows); one
    row of panels per fee when the sweep has a fee axis."""
    fees = list(dict.fromkeys(sweep["fee"])) if "fee" in sweep else [None]
    fig, axes = plt.subplots(len(fees), 2, figsize=(11, 4 * len(fees)), squeeze=False)
    for row, fee in zip(axes, fees, strict=True):
        part = sweep if fee is None else sweep[sweep["fee"] == fee]
        for ax, metric, label in zip(
            row,
            ("total_return_pct", "max_drawdown_pct"),
            ("average total return (%)", "average max drawdown (%)"),
            strict=True,
        ):
            for strategy, g in part[part["metric"] == metric].groupby("strategy", sort=False):
                g = g.sort_values("size")
                color = STRATEGY_COLORS.get(str(strategy))
                ax.plot(g["size"], g["mean"], "-o", color=color, label=strategy)
                ax.fill_between(g["size"], g["ci_low"], g["ci_high"], color=color, alpha=0.2)
            ax.set_xscale("log")
            ax.set_xlabel("portfolio size (initial cash, $)")
            ax.set_ylabel(label)
            ax.axhline(0, color="black", lw=0.6)
            if fee is not None:
                ax.set_title(f"fee {fee:.2%}", fontsize=10)
        row[0].legend()
    fig.suptitle("When does interactive training pay off? (impact-aware backtests)")
    fig.tight_layout()
    return fig
