"""Step 5's measurements of the simulator (notebook 05): each impact mode's response to a
buy beside the square-root law and its decay (:func:`impact_checks`), the measured choice of
the final agent's world (:func:`choose_impact_mode`) and the stylized facts of simulated paths
against held-out real bars (:func:`simulator_realism`). The sections that show them are in
:mod:`ilsim.steps.s05_simulator`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ilsim import data, impact, market, realism, regimes
from ilsim.market.assemble import (
    market_bars,
    market_config,
)
from ilsim.params import Params
from ilsim.report import write_table
from ilsim.run import Run

IMPACT_PROBE_MODES = tuple(x for x in market.IMPACT_MODES if x != "none")  # measured


def _mean_ci_bp(x: np.ndarray) -> tuple[float, float, float]:
    """Mean of ``x`` in bp with a normal 95 % interval."""
    x = np.asarray(x, dtype=np.float64) * 1e4
    half = 1.96 * x.std(ddof=1) / np.sqrt(len(x)) if len(x) > 1 else np.nan
    return float(x.mean()), float(x.mean() - half), float(x.mean() + half)


def _drift(
    p: Params, mdata: market.MarketData, mode: str, device: str = "cpu"
) -> tuple[float, float, float]:
    """Mean log return per bar (bp) of simulated paths with no RL orders, with a 95 %
    interval across paths (each path's mean is one observation)."""
    steps = market_bars(p, mdata.bars).episode - 1
    cfg = market_config(p, mdata.bars, impact=mode, episode_bars=steps + 1)
    m = market.VectorMarket(mdata, cfg, p.market.n_paths, device)
    path = market.rollout(m, torch.zeros(steps, m.n), p.seed)
    per_path = np.diff(np.log(path["price"]), axis=1).mean(1)
    return _mean_ci_bp(per_path)


def impact_checks(
    p: Params, mdata: market.MarketData, device: str = "cpu", root: str | Path = "."
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Notebook 05: every impact mode's response to buys of ``market.impact_volume_fractions``
    of daily volume, traced over one session, and the checks against the empirical laws
    (:func:`ilsim.impact.response_checks`); the law's own curve is a row set of its own.
    Writes the tables ``impact_curves`` and ``impact_checks``."""
    run = Run(p, root)
    law = mdata.impact_law
    bars_per_day = int(pd.Series(mdata.bars.index.date).value_counts().max())
    if law is not None:
        vday, sigma = law.volume_day, law.sigma_day
    else:
        days = mdata.bars.index.date
        vday = float(mdata.bars["volume"].groupby(days).sum().median())
        sigma = float(np.log(mdata.bars["close"].groupby(days).last()).diff().std())
    m = p.market
    horizon = max(1, bars_per_day - 2)  # from the bar after the open to the session's close
    modes = [x for x in IMPACT_PROBE_MODES if x != "learned" or law is not None]
    curves = [
        market.order_response(
            mdata,
            market_config(p, mdata.bars, impact=mode),
            m.impact_volume_fractions,
            m.n_paths,
            horizon,
            vday,
            seed=p.seed,
            device=device,
        )
        for mode in modes
    ]
    curves = pd.concat(curves, ignore_index=True)
    checks = impact.response_checks(curves, sigma, seed=p.seed)
    # The drift of paths with no RL orders: the pool's own flow must not trend the price.
    drift = {mode: _drift(p, mdata, mode, device) for mode in modes}
    logc = np.log(mdata.bars["close"].to_numpy())
    same = np.r_[False, mdata.bars.index.date[1:] == mdata.bars.index.date[:-1]]

    def real_bp(ranges: list[tuple[int, int]]) -> tuple[float, float, float]:
        bar_logret = [np.diff(logc[a : b + 1])[same[a + 1 : b + 1]] for a, b in ranges]
        return _mean_ci_bp(np.concatenate(bar_logret))

    drift["real (episode starts)"] = real_bp(list(mdata.start_ranges))
    # what market.drift "train" re-centres the simulator on (issue 25)
    segments = run.segments()
    drift["real (training segments)"] = real_bp(regimes.role_ranges(segments, p.rl.train_roles))
    extra = pd.DataFrame(
        [
            {"impact": k, "drift_bp": v[0], "drift_ci_low": v[1], "drift_ci_high": v[2]}
            for k, v in drift.items()
        ]
    )
    order = [*checks["impact"], *[k for k in drift if k not in set(checks["impact"])]]
    checks = checks.merge(extra, on="impact", how="outer").set_index("impact").loc[order]
    checks = checks.reset_index()
    if law is not None:
        lag = np.arange(horizon + 1)
        law_rows = [
            {
                "impact": "fitted law",
                "volume_fraction": q,
                "lag": int(h),
                "response_bp": float(v),
                "se": 0.0,
                "ci_low": float(v),
                "ci_high": float(v),
                "n_paths": 0,
            }
            for q in m.impact_volume_fractions
            for h, v in zip(lag, impact.law_response(law, q, horizon), strict=True)
        ]
        curves = pd.concat([curves, pd.DataFrame(law_rows)], ignore_index=True)
    write_table(curves, p.tables_dir(root), "impact_curves", floatfmt=".4g")
    write_table(checks, p.tables_dir(root), "impact_checks", floatfmt=".4g")
    return curves, checks


def simulated_pathset(
    p: Params,
    mdata: market.MarketData,
    impact: str,
    n_paths: int,
    length: int,
    seed: int,
    device: str = "cpu",
    **over: Any,
) -> realism.PathSet:
    """Paths of the simulator (or its static replay) with no RL trading, as a path set
    (``over``: other :class:`ilsim.market.MarketConfig` fields)."""
    bars_per_day = int(pd.Series(mdata.bars.index.date).value_counts().max())
    cfg = market_config(p, mdata.bars, impact=impact, episode_bars=length + 1, **over)
    m = market.VectorMarket(mdata, cfg, n_paths, device)
    path = market.rollout(m, torch.zeros(length - 1, n_paths), seed)
    return realism.PathSet.from_prices(
        path["price"], path["volume"], path["bar_of_day"].astype(np.int64), bars_per_day
    )


def simulator_realism(
    p: Params,
    mdata: market.MarketData,
    seed: int = 0,
    device: str = "cpu",
    root: str | Path = ".",
) -> pd.DataFrame:
    """Stylized facts of simulated paths (no RL trading) against the held-out backtest bars,
    beside the static replay of the training segments and a GBM baseline (and the ``learned``
    impact mode's paths when notebook 05's law exists); written as ``realism.csv``."""
    run = Run(p, root)
    length, n = market_bars(p, mdata.bars).episode, p.market.n_paths
    segments = run.segments()
    real = realism.PathSet.from_bars(mdata.bars, regimes.role_ranges(segments, "backtest"), length)
    candidates = {
        "simulator": simulated_pathset(p, mdata, "paper", n, length, seed, device),
        # issue 15: the same, its noise scaled by the volatility head for the pool's state
        "simulator (volatility head)": simulated_pathset(
            p, mdata, "paper", n, length, seed, device, volatility="head"
        ),
        "static replay": simulated_pathset(p, mdata, "none", n, length, seed, device),
        "GBM": realism.gbm_paths(real, n, length, seed),
    }
    if mdata.impact_law is not None:  # the pool's order flow through the learned law
        candidates["simulator (learned)"] = simulated_pathset(
            p, mdata, "learned", n, length, seed, device
        )
    hour = max(1, round(60 / data.bar_minutes(mdata.bars)))  # the Fano factor's window: one hour
    table = realism.realism_table(
        real, candidates, n_boot=p.market.realism_boot, seed=seed, fano_window=hour
    )
    write_table(table, p.tables_dir(root), "realism", floatfmt=".4g")
    return table


def _why_not_moving(row: pd.Series, min_bp: float) -> str:
    """Why a probe's response does not count as moving the price, from its own numbers."""
    if not np.isfinite(row["ci_low"]):
        return "has no interval to test"
    if row["ci_high"] < 0:
        return "is negative, its 95 % interval below 0"
    if row["ci_low"] <= 0:
        return "has a 95 % interval that includes 0"
    return f"is below the {min_bp:g} bp threshold (market.impact_min_bp)"


def choose_impact_mode(p: Params, response: pd.DataFrame, root: str | Path = ".") -> dict:
    """The impact mode the measurement supports for the headline run (SPEC step 6).

    ``paper`` if its response to the largest buy is positive with a 95 % interval above 0 and
    at least ``market.impact_min_bp``; otherwise ``learned`` (issue 10: the pool's and the RL
    agent's order flow through the law fitted on the data) when it was probed and its response
    is positive with an interval above 0; otherwise ``calibrated``. Written to
    ``results/<name>/impact_mode.json``.
    """
    run = Run(p, root)

    def largest(mode: str) -> pd.Series | None:
        rows = response[response["impact"] == mode]
        return rows.sort_values("size").iloc[-1] if len(rows) else None

    paper, cal, learned = largest("paper"), largest("calibrated"), largest("learned")
    moves = bool(paper["ci_low"] > 0 and paper["response_bp"] >= p.market.impact_min_bp)
    learned_moves = learned is not None and bool(
        learned["ci_low"] > 0 and learned["response_bp"] > 0
    )
    mode = "paper" if moves else "learned" if learned_moves else "calibrated"
    verdict = (
        "The paper's mechanism alone produces impact: the headline run uses `paper`."
        if moves
        else "The paper's mechanism alone does not produce measurable impact (its response "
        + _why_not_moving(paper, p.market.impact_min_bp)
        + f"), so the headline run uses `{mode}`"
        + (
            f" (the order flow through the law fitted on the data moves it by "
            f"{learned['response_bp']:.3g} bp)."
            if mode == "learned"
            else "."
        )
    )
    text = (
        f"A buy of {paper['size']:.0%} of cash moves the price by {paper['response_bp']:.3g} bp "
        f"(95 % interval {paper['ci_low']:.3g} … {paper['ci_high']:.3g}) after "
        f"{p.market.probe_horizon_minutes:g} minutes in `paper` mode and by "
        f"{cal['response_bp']:.3g} bp in `calibrated` mode. {verdict}"
    )
    out = {
        "mode": mode,
        "paper_response_bp": float(paper["response_bp"]),
        "calibrated_response_bp": float(cal["response_bp"]),
        "learned_response_bp": None if learned is None else float(learned["response_bp"]),
        "text": text,
    }
    run.path("impact_mode.json").write_text(json.dumps(out, indent=1))
    return out
