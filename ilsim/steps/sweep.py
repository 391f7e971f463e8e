"""The impact sweep's backtests (``ilsim size-sweep``, read by notebook 08): the final agents
trained at several account sizes and fees (``ilsim train-sweep``:
:func:`ilsim.steps.training.train_sweep`), backtested with impact; its table and figure."""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd

from ilsim import (
    backtest,
    data,
    metrics,
    regimes,
)
from ilsim.artifacts import artifact, sweep_policy_path
from ilsim.params import Params
from ilsim.plots.common import save_figure
from ilsim.plots.simulator import plot_size_sweep
from ilsim.policies import policy_actions
from ilsim.report import write_table
from ilsim.world import backtest_impact_law, bar_minutes, new_sessions


def size_sweep(p: Params, root: str | Path = ".") -> pd.DataFrame:
    """Every sweep size and fee: long-only, the static-trained rl_baseline and the final_rl
    trained at that size, all trained and backtested at that fee, in the impact-aware backtest
    at that size on every ``backtest`` segment. One row per fee × size × strategy × seed ×
    segment, written to ``results/<name>/size_sweep.csv``."""
    bars = data.load_bars(artifact(p, "bars.parquet", root))
    scaled = pd.read_parquet(artifact(p, "features.parquet", root))
    segments = regimes.load_segments(artifact(p, "segments.csv", root))
    law = backtest_impact_law(p, root)
    if law is None:
        raise ValueError("the size sweep backtests with impact: set backtest.impact: true")
    bpy = metrics.trading_bars_per_year(bar_minutes(bars))
    starts = new_sessions(bars.index)
    seeds = list(p.sweep.seeds)
    rows = []
    for fee, size in itertools.product(p.backtest.fees(), p.sweep.sizes):
        for seg in segments[segments["role"] == "backtest"].itertuples(index=False):
            sl = slice(seg.first_bar, seg.last_bar + 1)
            prices = bars["close"].to_numpy()[sl]
            lo = backtest.run_backtest(
                prices,
                backtest.long_only_actions(len(prices))[None],
                initial_cash=size,
                fee=fee,
                impact=law,
                new_session=starts[sl],
            )
            runs = {"long_only": (lo, [0])}
            for agent, tag in (("rl_baseline", None), ("final_rl", size)):
                res, _ = policy_actions(
                    p,
                    agent,
                    lambda s, a=agent, t=tag, f=fee: sweep_policy_path(p, a, s, t, root, f),
                    sl,
                    scaled,
                    prices,
                    law,
                    starts[sl],
                    seeds=seeds,
                    initial_cash=size,
                    fee=fee,
                )
                runs[agent] = (res, seeds)
            for agent, (res, sds) in runs.items():
                per_path = metrics.backtest_rows(
                    res.value, res.traded_notional, res.holdings,
                    initial_value=size, bars_per_year=bpy,
                )  # fmt: skip
                for i, s in enumerate(sds):
                    rows.append(
                        {
                            "fee": fee,
                            "size": size,
                            "segment": seg.segment,
                            "regime": seg.regime,
                            "strategy": agent,
                            "seed": s,
                            **per_path[i],
                        }
                    )
    out = pd.DataFrame(rows)
    out.to_csv(artifact(p, "size_sweep.csv", root), index=False)
    return out


def write_size_sweep(p: Params, root: str | Path = ".") -> tuple[pd.DataFrame, str]:
    """The sweep's step (rule ``size_sweep``): backtest it, write the summary table
    ``size_sweep`` and ``fig_size_sweep``; returns the summary and the verdict line."""
    from ilsim.claims import sweep_summary, sweep_verdict

    rows = size_sweep(p, root)
    summary = sweep_summary(rows)
    write_table(summary, p.tables_dir(root), "size_sweep", floatfmt=".4g")
    save_figure(plot_size_sweep(summary), p.figures_dir(root), "fig_size_sweep")
    return summary, sweep_verdict(rows)
