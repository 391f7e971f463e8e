"""Figures of the imitation learners (steps 3 and 9): training curves, the agents' PnL and
actions, their agreement, the action mix, the IL methods compared."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ilsim.plots.common import note_coinciding


def plot_training_curves(history: pd.DataFrame) -> plt.Figure:
    """Train and validation MSE per epoch, one panel per agent."""
    agents = sorted(history["agent"].unique())
    if not agents:  # pools built by other methods keep their own logs
        fig, ax = plt.subplots(figsize=(6, 1.5))
        ax.text(0.5, 0.5, "no per-epoch curves for this pool-building method", ha="center")
        ax.set_axis_off()
        return fig
    ncol = min(5, len(agents))
    nrow = int(np.ceil(len(agents) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3 * ncol, 2.3 * nrow), sharex=True, squeeze=False)
    for ax, a in zip(axes.ravel(), agents, strict=False):
        h = history[history["agent"] == a]
        ax.plot(h["epoch"], h["train_mse"], label="train")
        ax.plot(h["epoch"], h["val_mse"], label="validation")
        ax.set_title(f"IL{a}", fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(agents) :]:
        ax.set_visible(False)
    axes[0, 0].legend(fontsize=7)
    fig.supxlabel("epoch", fontsize=9)
    fig.supylabel("MSE", fontsize=9)
    fig.tight_layout()
    return fig


def plot_il_pnl(
    index: pd.DatetimeIndex, values: np.ndarray, initial: float, price: np.ndarray, title: str = ""
) -> plt.Figure:
    """Figure 1: PnL of each IL agent over a segment, with the price beneath."""
    fig, (ax, axp) = plt.subplots(
        2, 1, figsize=(10, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    x = np.arange(len(index))
    for i, v in enumerate(values):
        ax.plot(x, v - initial, lw=1.1, label=f"IL{i + 1}")
    ax.axhline(0, color="black", lw=0.6)
    ax.set_ylabel("PnL ($)")
    note_coinciding(ax)  # agents that never trade draw the same flat line
    ax.legend(fontsize=7, ncol=3)
    ax.set_title(title or "PnL of the IL agents")
    axp.plot(x, price, color="black", lw=0.8)
    axp.set_ylabel("price ($)")
    ticks = np.linspace(0, len(index) - 1, 6).astype(int)
    axp.set_xticks(ticks, [index[t].strftime("%Y-%m-%d") for t in ticks], fontsize=8)
    fig.tight_layout()
    return fig


def plot_il_actions(index: pd.DatetimeIndex, actions: np.ndarray) -> plt.Figure:
    """Figure 2: each agent's action sequence (rows), buy green, sell red."""
    m = actions.shape[1]
    fig, axes = plt.subplots(m, 1, figsize=(10, 0.75 * m + 1), sharex=True, squeeze=False)
    x = np.arange(len(index))
    for i, ax in enumerate(axes.ravel()):
        a = actions[:, i]
        ax.fill_between(x, 0, a, where=a >= 0, color="#2ca02c", lw=0)
        ax.fill_between(x, 0, a, where=a < 0, color="#d62728", lw=0)
        ax.set_ylim(-1, 1)
        ax.set_yticks([])
        ax.set_ylabel(f"IL{i + 1}", rotation=0, ha="right", va="center", fontsize=8)
    ticks = np.linspace(0, len(index) - 1, 6).astype(int)
    axes[-1, 0].set_xticks(ticks, [index[t].strftime("%Y-%m-%d") for t in ticks], fontsize=8)
    axes[0, 0].set_title("Actions of the IL agents (+1 buy, −1 sell)")
    fig.tight_layout()
    return fig


def plot_action_mix(summary: pd.DataFrame) -> plt.Figure:
    """Each agent's share of buy / hold / sell bars."""
    fig, ax = plt.subplots(figsize=(8, 3.4))
    x = np.arange(len(summary))
    bottom = np.zeros(len(summary))
    for col, color in (
        ("sell_share", "#d62728"),
        ("hold_share", "#bbbbbb"),
        ("buy_share", "#2ca02c"),
    ):
        ax.bar(x, summary[col], bottom=bottom, color=color, label=col.split("_")[0])
        bottom += summary[col].to_numpy()
    ax.set_xticks(x, summary["agent"])
    ax.set_ylabel("share of bars")
    ax.set_title("How each agent trades")
    ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    return fig


def plot_il_methods(table: pd.DataFrame) -> plt.Figure:
    """Imitation accuracy (against the majority-class rate) and held-out trading return of
    each IL method, one group of bars per demonstrator."""
    demos = list(dict.fromkeys(table["demonstrator"]))
    methods = list(dict.fromkeys(table["method"]))
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    width = 0.8 / max(1, len(demos))
    x = np.arange(len(methods))
    for k, demo in enumerate(demos):
        g = table[table["demonstrator"] == demo].set_index("method").reindex(methods)
        axes[0].bar(x + k * width, g["accuracy"], width, label=demo)
        axes[0].scatter(
            x + k * width, g["majority_rate"], color="black", marker="_", s=200, zorder=3
        )
        axes[1].bar(x + k * width, g["total_return_pct"], width, label=demo)
    for ax, title in zip(
        axes,
        ("held-out accuracy (—: majority class)", "held-out return as a trader (%)"),
        strict=True,
    ):
        ax.set_xticks(x + width * (len(demos) - 1) / 2, methods)
        ax.set_title(title, fontsize=10)
    axes[1].axhline(0, color="black", lw=0.5)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig
