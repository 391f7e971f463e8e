"""Figures: one function per figure kind, saved as PNG and PDF side by side."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ilsim.metrics import DEGENERATE_THRESHOLD, is_degenerate, position_change_fraction

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


STRATEGY_COLORS = {
    "final_rl": "#1f77b4",
    "long_only": "#ff7f0e",
    "rl_baseline": "#9467bd",
    "il_baseline": "#2ca02c",
}


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
    "trades_per_episode": "position changes / episode\n(behaviour policy, with noise)",
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
