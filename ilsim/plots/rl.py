"""Figures of the RL traders (steps 6-8): training curves and diagnostics, action histograms,
risk against return, the case studies, the planted-edge study."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ilsim.metrics import DEGENERATE_THRESHOLD, is_degenerate, position_change_fraction
from ilsim.plots.common import STRATEGY_COLORS, note_coinciding


def plot_training_curves_rl(
    curves: pd.DataFrame, x: str = "env_steps", y: str = "episode_return_mean"
) -> plt.Figure:
    """Training curves of the RL agents: one line per seed, one panel per agent."""
    agents = list(dict.fromkeys(curves["agent"]))
    fig, axes = plt.subplots(1, len(agents), figsize=(5 * len(agents), 3.5), squeeze=False)
    for ax, agent in zip(axes[0], agents, strict=True):
        for seed, g in curves[curves["agent"] == agent].groupby("seed"):
            ok = g[y].notna()
            ax.plot(g.loc[ok, x], g.loc[ok, y], lw=1, label=f"seed {seed}")
        ax.set_title(agent)
        ax.set_xlabel(x.replace("_", " "))
        ax.axhline(0, color="black", lw=0.5)
    axes[0, 0].set_ylabel(y.replace("_", " "))
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig


DIAGNOSTICS = {
    "episode_return_mean": "episode return",
    "critic_loss": "critic loss",
    "q_mean": "mean Q",
    "preact_abs": "|actor pre-tanh| (mean)",
    "saturated_frac": "saturated actions (|a| near 1)",
    "trades_per_episode": "position changes / episode\n(deterministic policy)",
    "val_score": "validation log growth",
}


def plot_rl_diagnostics(curves: pd.DataFrame, x: str = "env_steps") -> plt.Figure:
    """The learner's diagnostics over training: one row per quantity, one column per agent,
    one line per seed (a saturating actor or a dead critic shows here before a backtest)."""
    agents = list(dict.fromkeys(curves["agent"]))
    keys = [k for k in DIAGNOSTICS if k in curves and curves[k].notna().any()]
    fig, axes = plt.subplots(
        len(keys),
        len(agents),
        figsize=(4.5 * len(agents), 1.9 * len(keys)),
        squeeze=False,
        sharex="col",
    )
    for j, agent in enumerate(agents):
        for seed, g in curves[curves["agent"] == agent].groupby("seed"):
            for i, key in enumerate(keys):
                ok = g[key].notna()
                axes[i, j].plot(g.loc[ok, x], g.loc[ok, key], lw=1, label=f"seed {seed}")
        axes[0, j].set_title(agent)
        axes[-1, j].set_xlabel(x.replace("_", " "))
    for i, key in enumerate(keys):
        axes[i, 0].set_ylabel(DIAGNOSTICS[key], fontsize=7)
    axes[0, 0].legend(fontsize=6)
    fig.tight_layout()
    return fig


def plot_action_histograms(
    curves: pd.DataFrame, x: str = "env_steps", prefix: str = "hist_", span: float = 1.0
) -> plt.Figure:
    """Where the deterministic actions (``prefix="hist_"``, over [-1, 1]) or their pre-tanh
    outputs (``"pre_"``, ``span=4``) fall over training, as the share per bin; one panel per
    agent and seed. Mass piling up at the edges is saturation."""
    cols = sorted(c for c in curves if c.startswith(prefix))
    groups = list(curves.groupby(["agent", "seed"], sort=False))
    fig, axes = plt.subplots(
        1, len(groups), figsize=(2.2 * len(groups), 2.8), squeeze=False, sharey=True
    )
    for ax, ((agent, seed), g) in zip(axes[0], groups, strict=True):
        g = g[g[cols].notna().all(axis=1)]
        if len(g):
            ax.imshow(
                g[cols].to_numpy().T,
                aspect="auto",
                origin="lower",
                cmap="viridis",
                extent=(g[x].min(), g[x].max(), -span, span),
                vmin=0,
                vmax=1,
            )
        ax.set_title(f"{agent}\nseed {seed}", fontsize=7)
        ax.tick_params(labelsize=6)
    axes[0, 0].set_ylabel("action" if prefix == "hist_" else "pre-tanh output")
    fig.tight_layout()
    return fig


def plot_risk_return(bt: pd.DataFrame) -> plt.Figure:
    """Figure 3: volatility against total return of every strategy on every backtest (small
    hollow markers: one backtest, its seed average), large filled markers for the averages
    over the backtests. Distinct hollow markers keep strategies that coincide (e.g. two RL
    agents in the same position) visible."""
    markers = {"final_rl": "D", "long_only": "o", "rl_baseline": "s", "il_baseline": "^"}
    fig, ax = plt.subplots(figsize=(7.5, 5))
    per = bt.groupby(["strategy", "segment"])[["volatility", "total_return_pct"]].mean()
    for strategy in ("long_only", "il_baseline", "rl_baseline", "final_rl"):
        if strategy not in per.index.get_level_values(0):
            continue
        g, color = per.loc[strategy], STRATEGY_COLORS[strategy]
        ax.scatter(
            g["volatility"],
            g["total_return_pct"],
            marker=markers[strategy],
            s=30,
            facecolors="none",
            edgecolors=color,
            alpha=0.7,
        )
        ax.scatter(
            g["volatility"].mean(),
            g["total_return_pct"].mean(),
            color=color,
            s=170,
            marker=markers[strategy],
            edgecolor="black",
            label=strategy,
            zorder=3,
            alpha=0.8,
        )
    ax.axhline(0, color="black", lw=0.5)
    ax.set_xlabel("volatility: std of per-bar returns (fraction per bar)")
    ax.set_ylabel("total return (%)")
    ax.set_title("Figure 3: risk and return on the backtests")
    from matplotlib.lines import Line2D

    sizes = [
        Line2D([], [], ls="", marker="o", mfc="none", mec="grey", ms=5, label="one backtest"),
        Line2D(
            [],
            [],
            ls="",
            marker="o",
            color="grey",
            mec="black",
            ms=12,
            label="average over backtests",
        ),
    ]
    handles, _ = ax.get_legend_handles_labels()
    ax.legend(handles=[*handles, *sizes], fontsize=8)
    fig.tight_layout()
    return fig


def plot_case(
    paths: dict,
    segment: int,
    index: pd.DatetimeIndex,
    title: str,
    initial: float = 1e6,
    seeds: Sequence[int] | None = None,
) -> plt.Figure:
    """Figures 5-6: every strategy's value (seed mean, band min-max) with the market price,
    and the final RL agent's invested fraction over time, one thin line per seed — a seed
    average of all-in and all-cash seeds would draw a position no seed held. Degenerate seeds
    (:func:`ilsim.metrics.is_degenerate`) are dashed and say so in the legend; ``seeds`` names
    the rows (default ``0 .. K-1``)."""
    fig, (ax, axp) = plt.subplots(
        2, 1, figsize=(10, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1.2]}
    )
    x = np.arange(len(index))
    price = paths[(segment, "price")]
    for strategy, color in STRATEGY_COLORS.items():
        v = np.atleast_2d(paths[(segment, strategy)]["value"])
        rel = (v / initial - 1) * 100
        k = len(rel)
        label = strategy if k == 1 else f"{strategy} (mean of {k} seeds; band: min–max)"
        ax.plot(x, rel.mean(0), color=color, lw=1.3, label=label)
        if k > 1:
            ax.fill_between(x, rel.min(0), rel.max(0), color=color, alpha=0.15, lw=0)
    ax.plot(x, (price / price[0] - 1) * 100, color="red", lw=0.8, ls="--", label="market price")
    ax.axhline(0, color="black", lw=0.5)
    ax.set_ylabel("return since start (%)")
    ax.set_title(title)
    note_coinciding(ax)  # e.g. two learned strategies both all in cash
    ax.legend(fontsize=7, ncol=2)
    rl = paths[(segment, "final_rl")]
    holdings = np.atleast_2d(rl["holdings"])
    invested = holdings * price / np.atleast_2d(rl["value"])
    degenerate = np.atleast_1d(is_degenerate(position_change_fraction(holdings)))
    names = list(range(len(invested))) if seeds is None else list(seeds)
    if len(names) != len(invested):
        raise ValueError(f"{len(names)} seeds for {len(invested)} invested-fraction paths")
    shades = plt.cm.viridis(np.linspace(0.0, 0.85, len(invested)))
    for k, (row, name) in enumerate(zip(invested, names, strict=True)):
        axp.plot(
            x,
            row,
            color=shades[k],
            lw=0.8,
            alpha=0.9,
            ls="--" if degenerate[k] else "-",
            label=f"seed {name}" + (" (degenerate)" if degenerate[k] else ""),
        )
    note_coinciding(axp)  # seeds at the same constant position
    axp.set_ylim(-0.05, 1.05)
    axp.set_ylabel("RL invested\nfraction (0-1)")
    axp.set_title(
        f"final_rl invested fraction per seed ({int(degenerate.sum())} of {len(invested)} "
        f"degenerate: position constant on >= {DEGENERATE_THRESHOLD * 100:g} % of bars)",
        fontsize=8,
    )
    axp.legend(
        fontsize=6, ncol=1 + (len(invested) - 1) // 6, loc="upper left", bbox_to_anchor=(1, 1)
    )
    ticks = np.linspace(0, len(index) - 1, 6).astype(int)
    axp.set_xticks(ticks, [index[t].strftime("%Y-%m-%d") for t in ticks], fontsize=8)
    fig.tight_layout()
    return fig


def plot_planted_edge(study: pd.DataFrame) -> plt.Figure:
    """The learner on planted edges: each seed's growth per bar as a fraction of the oracle's,
    per case (1 = the optimum; 0 = all cash)."""
    cases = list(dict.fromkeys(study["case"]))
    fig, ax = plt.subplots(figsize=(7, 0.5 + 0.55 * len(cases)))
    for i, case in enumerate(cases):
        rows = study[study["case"] == case]
        f = rows["fraction_of_oracle"]
        ax.scatter(f, np.full(len(f), i), color="C0", zorder=3)
        if f.isna().all():  # the oracle earns nothing: no fraction to show, say what was learned
            learned = ", ".join(f"{v:.2g}" for v in rows["learned_bp_per_bar"])
            ax.text(
                0.02,
                i,
                f"oracle: all cash (0 bp/bar); learned: {learned} bp/bar",
                va="center",
                fontsize=7,
                color="C3",
            )
    ax.set_yticks(range(len(cases)), cases, fontsize=8)
    ax.axvline(1, color="black", lw=0.8)
    ax.axvline(0, color="grey", lw=0.5)
    ax.set_xlabel("growth per bar / oracle's (each dot a seed)")
    ax.invert_yaxis()
    fig.tight_layout()
    return fig


def plot_planted_impact(study: pd.DataFrame) -> plt.Figure:
    """The impact known answer (:func:`ilsim.planted.impact_known_answer`): growth per bar
    under the account's own impact by training arm (bars: the mean over seeds, dots: seeds),
    beside the fee's oracle and the slowed oracle; and how much each arm trades."""
    arms = list(dict.fromkeys(study["arm"]))
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for ax, col, label in (
        (axes[0], "growth_bp", "growth per bar under own impact (bp)"),
        (axes[1], "turnover", "traded notional per bar / value"),
    ):
        for i, arm in enumerate(arms):
            vals = study.loc[study["arm"] == arm, col]
            ax.bar(i, vals.mean(), color=f"C{i}", alpha=0.5, width=0.6)
            ax.scatter(np.full(len(vals), i), vals, color=f"C{i}", zorder=3, s=14)
        ax.set_xticks(range(len(arms)), [f"trained {a}" for a in arms], fontsize=8)
        ax.set_ylabel(label, fontsize=8)
        ax.axhline(0, color="black", lw=0.5)
    first = study.iloc[0]
    pace = f"{first['slow_oracle_pace']:g}"
    for ax, suffix in ((axes[0], "bp"), (axes[1], "turnover")):
        ax.axhline(first[f"oracle_{suffix}"], color="grey", ls="--", lw=0.8, label="fee's oracle")
        ax.axhline(
            first[f"slow_oracle_{suffix}"], color="C2", ls=":", lw=1.0,
            label=f"fee's oracle slowed (pace {pace})",
        )  # fmt: skip
    axes[0].legend(fontsize=7)
    fig.suptitle(
        f"all-in order: {first['all_in_volume_share']:.1%} of a day's volume, "
        f"{first['all_in_impact_bp']:.0f} bp of impact; fee {first['fee'] * 1e4:g} bp",
        fontsize=9,
    )
    fig.tight_layout()
    return fig
