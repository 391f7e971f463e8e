"""Step 4 (notebook 04): the pool's agents trading the evaluation segment — the paper's
Tables 3–4 and how alike the agents act."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ilsim import (
    backtest,
    data,
    imitation,
    metrics,
    pool,
)
from ilsim.params import Params
from ilsim.plots.common import plot_heatmap
from ilsim.plots.imitation import plot_action_mix, plot_il_actions, plot_il_pnl
from ilsim.report import beside_paper, paper_table, write_table
from ilsim.run import Run
from ilsim.steps.result import StepResult, remembered, run_sections
from ilsim.steps.s01_segment import il_eval_segment


def il_trade(
    p: Params,
    bars: pd.DataFrame,
    scaled: pd.DataFrame,
    segment: pd.Series,
    model: imitation.EnsembleMLP,
) -> tuple[np.ndarray, backtest.BacktestResult, pd.DataFrame]:
    """The agents as traders on one segment: actions [T, M], the backtest, and metrics."""
    a, b = int(segment["first_bar"]), int(segment["last_bar"])
    x = scaled.iloc[a : b + 1].to_numpy(np.float32)
    if not np.isfinite(x).all():
        raise ValueError(f"segment {segment['segment']} has bars without complete features")
    actions = model.act(torch.from_numpy(np.ascontiguousarray(x))).numpy().astype(np.float64)
    prices = bars["close"].to_numpy()[a : b + 1]
    res = backtest.run_backtest(
        prices,
        actions.T,
        initial_cash=p.backtest.initial_cash,
        fee=p.backtest.fee,
        mode="units",
        unit=p.il.order_unit_shares,
    )
    table = metrics.metrics_table(
        res.value,
        res.traded_notional,
        names=[f"IL{i + 1}" for i in range(actions.shape[1])],
        initial_value=p.backtest.initial_cash,
        bars_per_year=metrics.trading_bars_per_year(data.bar_minutes(bars)),
    )
    return actions, res, table.reset_index().rename(columns={"strategy": "policy"})


def il_paper_tables(
    p: Params, table: pd.DataFrame, root: str | Path = "."
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tables 3 and 4 of the paper with ours beside them (written as CSV and Markdown).

    Table 4 prints drawdowns as positive magnitudes and volatility in percent; ours are
    converted to those conventions for the comparison (see :mod:`ilsim.metrics`).
    """
    ours = table.copy()
    ours["max_drawdown_pct"] = ours["max_drawdown_pct"].abs()
    t3 = beside_paper(
        ours,
        paper_table("table3_il_general"),
        "policy",
        ["final_value", "total_return_pct", "turnover"],
    )
    t4 = beside_paper(
        ours,
        paper_table("table4_il_risk"),
        "policy",
        ["max_drawdown_pct", "volatility_pct", "sharpe_ratio"],
    )
    write_table(t3, p.tables_dir(root), "table3_il_general", floatfmt=".6g")
    write_table(t4, p.tables_dir(root), "table4_il_risk", floatfmt=".6g")
    return t3, t4


def il_diversity(
    actions: np.ndarray, table: pd.DataFrame, hold_band: float, alike: float
) -> dict[str, float]:
    """Numbers that say how diverse the agents are as traders (``alike``: the correlation
    above which two agents count as acting as one, ``il.alike_correlation``)."""
    corr = imitation.action_correlation(actions).to_numpy()
    off = corr[~np.eye(len(corr), dtype=bool)]
    summary = imitation.diversity_summary(actions, hold_band)
    finite = off[np.isfinite(off)]
    return {
        "turnover_min": float(table["turnover"].min()),
        "turnover_max": float(table["turnover"].max()),
        # passive: holds on at least the share of bars that makes a policy degenerate
        "passive_share": metrics.DEGENERATE_THRESHOLD,
        "passive_agents": int((summary["hold_share"] >= metrics.DEGENERATE_THRESHOLD).sum()),
        "pairs": len(off) // 2,
        "alike_above": alike,
        "pairs_alike": int((finite > alike).sum()) // 2,
        "mean_abs_correlation": float(np.nanmean(np.abs(off)))
        if np.isfinite(off).any()
        else np.nan,
        "max_correlation": float(np.nanmax(off)) if np.isfinite(off).any() else np.nan,
        "min_correlation": float(np.nanmin(off)) if np.isfinite(off).any() else np.nan,
        "return_min_pct": float(table["total_return_pct"].min()),
        "return_max_pct": float(table["total_return_pct"].max()),
    }


@dataclass
class Traded:
    """The pool step 3 built, trading the unseen evaluation segment (the sections share it)."""

    bars: pd.DataFrame
    model: Any
    segment: pd.Series
    trained_on: list[int]
    actions: np.ndarray
    backtest: backtest.BacktestResult
    table: pd.DataFrame


def _traded(p: Params, root: str | Path = ".") -> Traded:
    run = Run(p, root)
    bars = run.bars()
    segments = run.segments()
    scaled = run.features()
    model = pool.load_pool(run.path("il_agents.pt"))  # the pool step 3 built (il.method)
    seg = il_eval_segment(p, segments)
    actions, bt, table = il_trade(p, bars, scaled, seg, model)
    trained_on = segments.loc[segments["role"] == "il_train", "segment"].tolist()
    return Traded(bars, model, seg, trained_on, actions, bt, table)


def unseen_segment(p: Params, root: str | Path = ".") -> StepResult:
    """Section 1, Figures 1–2: the agents' PnL and actions on the unseen segment."""
    r = StepResult()
    t = remembered(_traded, p, root, rule="il_diversity")
    model, seg, bars = t.model, t.segment, t.bars
    r.values.update(model=model, segment=seg, trained_on=t.trained_on)
    r.notes["check"] = (
        f"{model.n_models} agents (trained on segments {t.trained_on}), built by "
        f"{p.il.method}\nunseen segment {seg['segment']} ({seg['regime']}, {seg['start_date']} "
        f".. {seg['end_date']}, {seg['bars']} bars), rule: {p.il.eval_segment}; order unit "
        f"{p.il.order_unit_shares:g} share(s)"
    )
    idx = bars.index[seg["first_bar"] : seg["last_bar"] + 1]
    price = bars["close"].to_numpy()[seg["first_bar"] : seg["last_bar"] + 1]
    fig = plot_il_pnl(
        idx, t.backtest.value, p.backtest.initial_cash, price,
        title=f"Figure 1: PnL of the IL agents on segment {seg['segment']}",
    )  # fmt: skip
    r.save_figure(fig, p.figures_dir(root), "fig1_il_pnl")
    r.save_figure(plot_il_actions(idx, t.actions), p.figures_dir(root), "fig2_il_actions")
    return r


def paper_tables(p: Params, root: str | Path = ".") -> StepResult:
    """Section 2: Tables 3 and 4 beside the paper's."""
    r = StepResult()
    t3, t4 = il_paper_tables(p, remembered(_traded, p, root, rule="il_diversity").table, root)
    r.tables.update(table3_il_general=t3, table4_il_risk=t4)
    return r


def diversity(p: Params, root: str | Path = ".") -> StepResult:
    """Section 3: how diverse the agents act — correlations, action mix, in numbers."""
    r = StepResult()
    t = remembered(_traded, p, root, rule="il_diversity")
    actions, table = t.actions, t.table
    corr = imitation.action_correlation(actions)
    fig = plot_heatmap(corr, "Pairwise correlation of the agents' actions")
    r.save_figure(fig, p.figures_dir(root), "fig_il_action_corr")
    summary = imitation.diversity_summary(actions, p.il.hold_band)
    summary["turnover"] = table["turnover"].to_numpy()
    summary["total_return_pct"] = table["total_return_pct"].to_numpy()
    r.write_table(summary, p.tables_dir(root), "il_diversity", floatfmt=".4g")
    r.save_figure(plot_action_mix(summary), p.figures_dir(root), "fig_il_action_mix")

    d = il_diversity(actions, table, p.il.hold_band, p.il.alike_correlation)
    paper_turnover = paper_table("table3_il_general")["turnover"]
    r.notes["diversity"] = (
        f"**How diverse, in numbers.** Turnover ranges from {d['turnover_min']:.4f} to "
        f"{d['turnover_max']:.4f} (paper: {paper_turnover.min():.4f} to "
        f"{paper_turnover.max():.4f}); {d['passive_agents']} of {t.model.n_models} agents "
        f"hold on at least {d['passive_share']:.0%} of bars; total returns range from "
        f"{d['return_min_pct']:.3f} % to {d['return_max_pct']:.3f} %. Pairwise action "
        f"correlations run from {d['min_correlation']:.2f} to {d['max_correlation']:.2f} (mean "
        f"|ρ| {d['mean_abs_correlation']:.2f}); {d['pairs_alike']} of {d['pairs']} pairs "
        f"correlate above {d['alike_above']:g} (they act as one)."
    )
    return r


SECTIONS = (unseen_segment, paper_tables, diversity)


def run(p: Params, root: str | Path = ".") -> StepResult:
    """Step 4 whole (its notebook's sections in order): the pool trading the evaluation
    segment (Figures 1–2), Tables 3–4 beside the paper's, and how diverse the agents act;
    writes every output of rule ``il_diversity``."""
    return run_sections(SECTIONS, p, root)
