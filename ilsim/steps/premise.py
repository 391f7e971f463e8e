"""The paper's premise tested by an A/B in one world (issue 25; rule ``premise``, shown in
notebook 08): does training where your own trades move the price pay off?

Both arms (:func:`ilsim.steps.training.train_premise`) train on real replay of the same
segments with the same seeds, draws and budget; arm ``impact`` feels its own impact through the
law of the impact-aware backtest at the portfolio size, arm ``replay`` does not. Both are then
backtested in the impact-aware backtest at that size and fee on every ``backtest`` segment,
each seed beside its *exposure-matched constant position* (its mean share of value held,
bought at the first decision and held on the real prices, without impact: what exposure alone
earns). The decision number, per fee and size: arm ``impact``'s excess return over its
constant minus arm ``replay``'s, averaged over segments × seeds, with a two-level bootstrap
over segments and seeds (seeds paired: common random numbers). The premise is *supported*
where the lower bound is above 0 at every size but the smallest, whose impact is small (the
negative control: its interval must contain 0).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from ilsim import backtest, data, features, metrics, regimes
from ilsim.params import Params
from ilsim.plots.common import save_figure
from ilsim.plots.simulator import plot_premise_ab
from ilsim.policies import policy_actions
from ilsim.premise_ab import premise_table, premise_verdict
from ilsim.report import write_table
from ilsim.run import Run


def premise_backtests(p: Params, root: str | Path = ".") -> pd.DataFrame:
    """Both arms of every fee × size, every seed, in the impact-aware backtest at that size and
    fee on every ``backtest`` segment, each beside its exposure-matched constant (kind
    ``constant``: the seed's mean exposure over the segments, bought at the first decision and
    held, on the real prices with the fee and without impact — the market return of that
    exposure; its realised ``exposure`` is in its rows). One row per fee × size × segment × arm
    × seed × kind, written to ``results/<name>/premise_backtests.csv``."""
    run = Run(p, root)
    bars = run.bars()
    scaled = run.features()
    segments = run.segments()
    segs = list(segments[segments["role"] == "backtest"].itertuples(index=False))
    law = run.backtest_law()
    if law is None:
        raise ValueError("the premise A/B backtests with impact: set backtest.impact: true")
    bpy = metrics.trading_bars_per_year(data.bar_minutes(bars))
    starts = features.session_start_mask(bars.index)
    close = bars["close"].to_numpy()
    seeds = list(p.premise.seeds)
    rows = []
    for fee, size in itertools.product(p.backtest.fees(), p.premise.sizes):
        for arm in ("impact", "replay"):
            runs = []
            for seg in segs:
                sl = slice(seg.first_bar, seg.last_bar + 1)
                res, _ = policy_actions(
                    p,
                    "premise",
                    lambda s, a=arm, z=size, f=fee: run.premise_policy_path(a, s, z, f),
                    sl,
                    scaled,
                    close[sl],
                    law,
                    starts[sl],
                    seeds=seeds,
                    initial_cash=size,
                    fee=fee,
                )
                runs.append(res)
            held = [
                metrics.exposure(res.holdings, close[s.first_bar : s.last_bar + 1], res.value)
                for res, s in zip(runs, segs, strict=True)
            ]
            frac = np.clip(np.mean(held, axis=0), 0.0, 1.0)  # [seeds]: over the segments
            for seg, res, exp in zip(segs, runs, held, strict=True):
                sl = slice(seg.first_bar, seg.last_bar + 1)
                acts = np.zeros((len(seeds), sl.stop - sl.start))
                acts[:, 0] = frac  # buy that share at the first decision, then hold
                # on the real prices, fee only: what the exposure alone earns (bought in one
                # block through the law at 1e10 the constant would pay a large impact and, its
                # buy scaled down, hold less than the arm: no longer exposure-matched)
                null = backtest.run_backtest(close[sl], acts, initial_cash=size, fee=fee)
                null_exp = metrics.exposure(null.holdings, close[sl], null.value)
                for kind, r, e in (("strategy", res, exp), ("constant", null, null_exp)):
                    per_path = metrics.backtest_rows(
                        r.value, r.traded_notional, r.holdings, initial_value=size,
                        bars_per_year=bpy,
                    )  # fmt: skip
                    for i, s in enumerate(seeds):
                        rows.append(
                            {
                                "fee": fee,
                                "size": size,
                                "segment": seg.segment,
                                "regime": seg.regime,
                                "arm": arm,
                                "seed": s,
                                "kind": kind,
                                "exposure": float(e[i]),
                                "total_return_pct": per_path[i]["total_return_pct"],
                                "position_change_frac": per_path[i]["position_change_frac"],
                                "degenerate": per_path[i]["degenerate"],
                            }
                        )
    out = pd.DataFrame(rows)
    out.to_csv(run.path("premise_backtests.csv"), index=False)
    return out


def all_in_impact_bp(p: Params, root: str | Path = ".") -> dict[float, float]:
    """What one all-in buy at each premise size moves its own fill by the law (log-price bp at
    the backtest segments' mean price): the size axis in the units of the fee."""
    run = Run(p, root)
    bars = run.bars()
    segments = run.segments()
    price = bars["close"].to_numpy()[regimes.role_mask(segments, len(bars), "backtest")].mean()
    law = run.backtest_law()
    return {x: 1e4 * float(law.response(x / price, 0)) for x in p.premise.sizes}


def write_premise(p: Params, root: str | Path = ".") -> tuple[pd.DataFrame, str]:
    """The rule's work: the backtests, table ``premise_ab`` and figure ``fig_premise_ab``;
    returns the table and the verdict."""
    rows = premise_backtests(p, root)
    table = premise_table(rows, p.claims, seed=p.seed)
    table.insert(2, "all_in_impact_bp", table["size"].map(all_in_impact_bp(p, root)))
    write_table(table, p.tables_dir(root), "premise_ab", floatfmt=".4g")
    save_figure(plot_premise_ab(table), p.figures_dir(root), "fig_premise_ab")
    return table, premise_verdict(table)
