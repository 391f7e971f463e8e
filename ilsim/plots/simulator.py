"""Figures of the simulator (step 5): the agents' influence on the price, the impact
response and its curves, the premise A/B (issue 25)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ilsim.plots.common import note_coinciding


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


def plot_premise_ab(table: pd.DataFrame) -> plt.Figure:
    """The premise A/B (``ilsim.steps.premise.premise_table`` rows): against the portfolio
    size, each arm's excess return over its exposure-matched constant and their difference
    (impact − replay), mean over segments × seeds with the 95 % two-level bootstrap interval;
    one panel per fee. The difference above 0 is the premise."""
    fees = list(dict.fromkeys(table["fee"]))
    fig, axes = plt.subplots(1, len(fees), figsize=(5.5 * len(fees), 4), squeeze=False)
    style = {
        "impact": ("tab:red", "o", "trained with its own impact"),
        "replay": ("tab:blue", "s", "trained without it"),
        "difference": ("black", "D", "difference (impact − replay)"),
    }
    for ax, fee in zip(axes[0], fees, strict=True):
        part = table[table["fee"] == fee]
        sizes = sorted(part["size"].unique())
        for k, (arm, (color, marker, label)) in enumerate(style.items()):
            g = part[part["arm"] == arm].set_index("size").loc[sizes]
            x = np.array(sizes) * 10 ** (0.08 * (k - 1))  # side by side on the log axis
            err = [g["estimate"] - g["ci_low"], g["ci_high"] - g["estimate"]]
            ax.errorbar(
                x, g["estimate"], yerr=err, fmt=marker, color=color, capsize=3, label=label,
                lw=2 if arm == "difference" else 1,
            )  # fmt: skip
        ax.axhline(0, color="grey", lw=0.6)
        ax.set_xscale("log")
        ax.set_xlabel("portfolio size (initial cash, $)")
        ax.set_ylabel("excess over exposure-matched constant (pp)")
        ax.set_title(f"fee {fee:.2%}", fontsize=10)
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("Does training with your own impact pay off? (impact-aware backtests)")
    fig.tight_layout()
    return fig
