"""Step 4 (notebook 04): the pool's agents trading the evaluation segment — the paper's
Tables 3–4 and how alike the agents act."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ilsim import (
    backtest,
    imitation,
    metrics,
)
from ilsim.params import Params
from ilsim.report import beside_paper, paper_table, write_table
from ilsim.world import bar_minutes


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
        bars_per_year=metrics.trading_bars_per_year(bar_minutes(bars)),
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
