"""Step 7 (notebook 07): every policy backtested on every backtest segment and fee (Table 1,
the case studies), and the claims' backtests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ilsim import (
    backtest,
    claims,
    data,
    features,
    metrics,
    report,
)
from ilsim.artifacts import LEARNED
from ilsim.params import Params
from ilsim.plots.rl import plot_case, plot_risk_return
from ilsim.policies import StrategyRun, strategy_runs
from ilsim.run import Run
from ilsim.steps.result import StepResult, remembered, run_sections


def run_backtests(p: Params, root: str | Path = ".") -> tuple[pd.DataFrame, dict]:
    """Every strategy (every seed) on every ``backtest`` segment, static real prices, with the
    fee; returns the metrics (one row per strategy × seed × segment) and the value paths.
    With ``backtest.impact`` each row also has the impact-aware backtest's metrics
    (``impact_<metric>``: the same strategy on real prices plus its own impact).

    Each row also has ``position_change_frac`` (share of bars whose trade changes the holdings)
    and ``degenerate`` (the position stays put on >= 99 % of the bars, see
    :func:`ilsim.metrics.is_degenerate`); long-only is degenerate by construction — one buy, then
    hold — as the constant benchmark it is."""
    run = Run(p, root)
    bars = run.bars()
    scaled = run.features()
    segments = run.segments()
    bpy = metrics.trading_bars_per_year(data.bar_minutes(bars))
    bt = p.backtest
    law = run.backtest_law()
    starts = features.session_start_mask(bars.index)
    rows, paths = [], {}
    for k, seg in enumerate(segments[segments["role"] == "backtest"].itertuples(index=False)):
        sl = slice(seg.first_bar, seg.last_bar + 1)
        prices = bars["close"].to_numpy()[sl]
        runs = strategy_runs(run, sl, scaled, prices, new_session=starts[sl])
        aware: dict[str, StrategyRun] = {}
        if law is not None:
            aware = strategy_runs(run, sl, scaled, prices, law=law, new_session=starts[sl])
        for agent, sr in runs.items():
            res, acts, seeds = sr.result, sr.actions, sr.seeds
            imp = None
            if agent in aware:
                ra = aware[agent].result
                imp = metrics.metrics_table(
                    ra.value, ra.traded_notional, initial_value=bt.initial_cash, bars_per_year=bpy
                ).add_prefix("impact_")
            per_path = metrics.backtest_rows(
                res.value, res.traded_notional, res.holdings,
                initial_value=bt.initial_cash, bars_per_year=bpy, extra=imp,
            )  # fmt: skip
            for i, s in enumerate(seeds):
                rows.append(
                    {
                        "backtest": k + 1,
                        "segment": seg.segment,
                        "regime": seg.regime,
                        "strategy": agent,
                        "seed": s,
                        **per_path[i],
                    }
                )
            paths[(seg.segment, agent)] = {
                "value": res.value,
                "holdings": res.holdings,
                "actions": acts,
            }
        paths[(seg.segment, "price")] = prices
    out = pd.DataFrame(rows)
    out.to_csv(run.path("backtests.csv"), index=False)
    return out, paths


CLAIM_METRICS = ("total_return_pct", "max_drawdown_pct", "volatility")


def claim_backtests(p: Params, root: str | Path = ".") -> pd.DataFrame:
    """The claims' backtests (issue 15), written to ``results/<name>/claim_backtests.csv``:
    every strategy on every ``backtest`` segment at each fee of the fee axis
    (``backtest.fees()``; the policies are the headline run's, trained at ``backtest.fee``), and
    beside each learned strategy × seed its *exposure-matched constant position* (kind
    ``constant``; not "null", which CSV readers take for a missing value): it buys the
    strategy's time-averaged share of value in shares, averaged over the segments, at the
    first decision and holds (kind ``constant_regime``: its share averaged over the segments
    of that segment's regime, the null of a regime's claim). A claim the null meets too needs
    no learning: exposure alone explains it. One row per fee × segment × strategy × seed × kind."""
    run = Run(p, root)
    bars = run.bars()
    scaled = run.features()
    segments = run.segments()
    segs = list(segments[segments["role"] == "backtest"].itertuples(index=False))
    bpy = metrics.trading_bars_per_year(data.bar_minutes(bars))
    cash, seeds = p.backtest.initial_cash, list(p.rl.seeds)
    close = bars["close"].to_numpy()
    rows = []

    def add(fee, seg, agent, kind, res, prices, sds):
        per_path = metrics.backtest_rows(
            res.value, res.traded_notional, res.holdings, initial_value=cash, bars_per_year=bpy
        )
        held = metrics.exposure(res.holdings, prices, res.value)
        keep = [*CLAIM_METRICS, "position_change_frac", "degenerate"]
        for i, s in enumerate(sds):
            rows.append(
                {
                    "fee": fee,
                    "segment": seg.segment,
                    "regime": seg.regime,
                    "strategy": agent,
                    "seed": s,
                    "kind": kind,
                    "exposure": float(held[i]),
                    **{m: per_path[i][m] for m in keep},
                }
            )

    for fee in p.backtest.fees():
        runs: dict[tuple[str, int], backtest.BacktestResult] = {}
        for seg in segs:
            sl = slice(seg.first_bar, seg.last_bar + 1)
            prices = close[sl]
            for name, sr in strategy_runs(run, sl, scaled, prices, fee=fee).items():
                add(fee, seg, name, "strategy", sr.result, prices, sr.seeds)
                if name in LEARNED:  # their exposure-matched constants, below
                    runs[(name, seg.segment)] = sr.result
        for agent in LEARNED:
            per_seg = [
                metrics.exposure(
                    runs[(agent, s.segment)].holdings,
                    close[s.first_bar : s.last_bar + 1],
                    runs[(agent, s.segment)].value,
                )
                for s in segs
            ]
            f = np.clip(np.mean(per_seg, axis=0), 0.0, 1.0)  # [K] seeds
            regime_of = np.array([s.regime for s in segs])
            exposures = np.asarray(per_seg)  # [segments, K]
            for seg in segs:
                prices = close[seg.first_bar : seg.last_bar + 1]
                # the null of a regime claim holds the strategy's exposure in that regime
                same = exposures[regime_of == seg.regime]
                f_regime = np.clip(same.mean(axis=0), 0.0, 1.0)
                for kind, frac in (("constant", f), ("constant_regime", f_regime)):
                    acts = np.zeros((len(seeds), len(prices)))
                    acts[:, 0] = frac
                    null = backtest.run_backtest(prices, acts, initial_cash=cash, fee=fee)
                    add(fee, seg, agent, kind, null, prices, seeds)
    out = pd.DataFrame(rows)
    out.to_csv(run.path("claim_backtests.csv"), index=False)
    return out


def table1(p: Params, root: str | Path = ".") -> StepResult:
    """Section 1, Table 1: every strategy and seed on every backtest segment (and the claims'
    backtests at each fee), averaged beside the paper's."""
    run = Run(p, root)
    r = StepResult()
    claim_backtests(p, root)  # each fee of the fee axis and the exposure-matched constants
    bt, _ = remembered(run_backtests, p, root, rule="backtest")
    r.values["backtests"] = bt
    seeds = sorted(bt.loc[bt.strategy == "final_rl", "seed"].unique().tolist())
    r.notes["check"] = (
        f"{bt['segment'].nunique()} backtests x {bt['strategy'].nunique()} strategies, "
        f"seeds {seeds}"
    )
    bar_min = data.bar_minutes(run.bars())
    t1 = report.table1(bt, report.paper_table("table1_aggregate"), bar_min)
    r.write_table(t1, p.tables_dir(root), "table1_aggregate", floatfmt=".4g")
    if "impact_mean" in t1:
        tr = t1[t1.metric == "total_return_pct"].set_index("strategy")
        r.notes["impact"] = (
            f"Average total return, static → impact-aware backtest at "
            f"{p.backtest.initial_cash:,.0f}: "
            + "; ".join(
                f"{s} {row['mean']:+.2f} % → {row['impact_mean']:+.2f} %"
                for s, row in tr.iterrows()
            )
            + "."
        )
    return r


def per_seed(p: Params, root: str | Path = ".") -> StepResult:
    """Section 2: each seed's means over the backtests, and the degenerate seeds."""
    r = StepResult()
    table = report.per_seed_table(remembered(run_backtests, p, root, rule="backtest")[0])
    r.write_table(table, p.tables_dir(root), "table1_per_seed", floatfmt=".4g")
    r.tables["degenerate_counts"] = report.degenerate_counts(table)
    return r


def paired_rl(p: Params, root: str | Path = ".") -> StepResult:
    """Section 3: final RL against the RL baseline, seed by seed; Figure 3."""
    r = StepResult()
    bt = remembered(run_backtests, p, root, rule="backtest")[0]
    paired = claims.paired_seeds(bt, cfg=p.claims, seed=p.seed)
    r.write_table(paired, p.tables_dir(root), "paired_rl", floatfmt=".4g")
    r.save_figure(plot_risk_return(bt), p.figures_dir(root), "fig3_risk_return")
    return r


def case_studies(p: Params, root: str | Path = ".") -> StepResult:
    """Section 4, Figures 5–6: the bear and the volatile case (the SPEC's rule)."""
    run = Run(p, root)
    r = StepResult()
    bt, paths = remembered(run_backtests, p, root, rule="backtest")
    bars = run.bars()
    segments = run.segments().set_index("segment")
    cases = report.case_segments(bt)
    rows, case_figs = [], {}
    for name in ("bear", "volatile"):
        seg = segments.loc[cases[name]]
        idx = bars.index[seg["first_bar"] : seg["last_bar"] + 1]
        title = (
            f"{name} case: segment {cases[name]} ({seg['regime']}, {seg['start_date']} .. "
            f"{seg['end_date']})"
        )
        case_figs[name] = plot_case(
            paths, cases[name], idx, title, p.backtest.initial_cash, seeds=p.rl.seeds
        )
        sub = bt[bt["segment"] == cases[name]].groupby("strategy")["total_return_pct"].mean()
        rows += [
            {"case": name, "segment": cases[name], "strategy": s, "total_return_pct": v}
            for s, v in sub.items()
        ]
    figs = p.figures_dir(root)
    r.save_figure(case_figs["bear"], figs, "fig5_case_bear")
    r.save_figure(case_figs["volatile"], figs, "fig6_case_volatile")
    r.write_table(pd.DataFrame(rows), p.tables_dir(root), "case_studies", floatfmt=".4g")
    return r


SECTIONS = (table1, per_seed, paired_rl, case_studies)


def run(p: Params, root: str | Path = ".") -> StepResult:
    """Step 7 whole (its notebook's sections in order): the backtests (Table 1, per seed,
    paired seeds, Figure 3), the case studies (Figures 5–6) and the claims' backtests; writes
    every output of rule ``backtest``."""
    return run_sections(SECTIONS, p, root)
