"""The simulator as a run built it: bars, the agent pool, the synthesis net and the impact law
read back from ``results/<name>/`` and assembled into :class:`ilsim.market.MarketData` and
:class:`ilsim.market.MarketConfig`."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ilsim import (
    data,
    features,
    impact,
    market,
    regimes,
    synthesis,
)
from ilsim.artifacts import artifact
from ilsim.params import MarketBars, Params, shared
from ilsim.pool import load_pool


def bar_minutes(bars: pd.DataFrame) -> float:
    """The bar interval in minutes (the most common spacing inside a session)."""
    diffs = pd.Series(bars.index[:5000]).diff().dt.total_seconds().to_numpy() / 60.0
    diffs = diffs[(diffs > 0) & (diffs < 60 * 6)]
    return float(pd.Series(diffs).mode().iloc[0])


def market_bars(p: Params, bars: pd.DataFrame) -> MarketBars:
    """The ``market`` durations (minutes in the params) as bars of the data's interval."""
    return p.market.in_bars(bar_minutes(bars))


def market_config(
    p: Params, bars: pd.DataFrame, impact: str | None = None, **overrides: Any
) -> market.MarketConfig:
    """The simulator's settings from params (``impact`` and others may be overridden); the
    durations in minutes (episode, noise block, reward window) become bars of the bars'
    interval (:func:`market_bars`)."""
    n = market_bars(p, bars)
    cfg = market.MarketConfig(
        **shared(p.market, market.MarketConfig),
        episode_bars=n.episode,
        reward_window_bars=n.reward_window,
        noise_block=n.noise_block,
        initial_cash=p.backtest.initial_cash,
        fee=p.backtest.fee,
    )
    if impact:
        cfg = replace(cfg, impact=impact)
    return replace(cfg, **overrides)  # an unknown name raises TypeError


def segment_pairs(
    bars: pd.DataFrame, segments: pd.DataFrame, roles: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-step pairs (row t, return t→t+1, segment id) inside the segments of ``roles``,
    within sessions (:func:`ilsim.synthesis.one_step_targets`)."""
    seg = regimes.bar_segment_ids(segments, len(bars))
    keep = segments.loc[segments["role"].isin(roles), "segment"].to_numpy()
    seg = np.where(np.isin(seg, keep), seg, -1)
    return synthesis.one_step_targets(bars["close"].to_numpy(), seg, data.session_ids(bars.index))


def segments_drift(bars: pd.DataFrame, segments: pd.DataFrame, roles: tuple[str, ...]) -> float:
    """Mean one-bar return (close[t+1] / close[t] − 1) inside the sessions of the segments of
    ``roles``: what the synthesis network's targets average to when fitted on them."""
    _, ret, _ = segment_pairs(bars, segments, roles)
    if not len(ret):
        raise ValueError(f"no one-bar returns inside segments of roles {list(roles)}")
    return float(ret.mean())


def drift_target(p: Params, bars: pd.DataFrame, segments: pd.DataFrame) -> float | None:
    """The simulated drift ``market.drift`` asks for (mean one-bar return): the training
    segments' (``train``), 0 (``zero``), or ``None`` for ``segment`` (the network's own)."""
    mode = p.market.drift
    if mode == "segment":
        return None
    return 0.0 if mode == "zero" else segments_drift(bars, segments, tuple(p.rl.train_roles))


def drift_shift(p: Params, bars: pd.DataFrame, segments: pd.DataFrame, meta: dict) -> float:
    """What the simulator adds to the synthesis network's predictions so that the simulated
    drift is :func:`drift_target`'s (0 for ``segment``). The drift the network carries is
    ``meta["mean_prediction"]``: its mean prediction on the ``sim_train`` rows it was fitted on,
    moved by notebook 05 to what paths simulated with no RL orders show (the pool trades
    differently on simulated prices: :func:`ilsim.steps.s05_simulator.calibrate_drift`)."""
    target = drift_target(p, bars, segments)
    if target is None:
        return 0.0
    return target - float(meta["mean_prediction"])


def assemble_market(
    p: Params,
    bars: pd.DataFrame,
    segments: pd.DataFrame,
    scaler: features.MinMaxScaler,
    il_policy: Any,
    net: synthesis.SynthesisNet,
    residuals: np.ndarray,
    meta: dict,
    role: str | tuple[str, ...] = "sim_train",
) -> market.MarketData:
    """The simulator's ingredients; episodes start in the segments of ``role``."""
    starts = regimes.role_ranges(segments, role)
    if not starts:
        raise ValueError(f"no segments with role {role!r} to start episodes in")
    f = p.features
    shift = drift_shift(p, bars, segments, meta)
    return market.MarketData(
        bars=bars,
        scaler=scaler,
        il_policy=il_policy,
        synthesis=lambda a: net(a)[0] + shift,  # the drift market.drift asks for
        residuals=residuals - residuals.mean(),  # zero-mean noise: the network carries the drift
        residual_volume=np.asarray(meta["residual_volume"]),
        residual_bar_of_day=np.asarray(meta["residual_bar_of_day"]),
        residual_scale=(
            None if meta.get("residual_scale") is None else np.asarray(meta["residual_scale"])
        ),
        synthesis_vol=lambda a: net.vol.scale(a),
        start_ranges=starts,
        feature_kwargs={
            "ema_periods": f.ema_periods_bars,
            "macd": f.macd_bars,
            "relvol_window": f.relvol_window_bars,
        },
        sigma_bar=float(meta["sigma_bar"]),
        volume_bar=float(meta["volume_bar"]),
    )


def market_data(
    p: Params,
    role: str | tuple[str, ...] = "sim_train",
    device: str = "cpu",
    root: str | Path = ".",
) -> market.MarketData:
    """Everything the simulator needs, loaded from the pipeline's artifacts; episodes start in
    the segments of ``role``."""
    bars = data.load_bars(artifact(p, "bars.parquet", root))
    segments = regimes.load_segments(artifact(p, "segments.csv", root))
    scaler = features.MinMaxScaler.load(artifact(p, "scaler.json", root))
    net, residuals, meta = synthesis.load_synthesis(artifact(p, "synthesis.pt", root), device)
    pool = load_pool(p, device, root)
    out = assemble_market(p, bars, segments, scaler, pool.act, net, residuals, meta, role)
    out.impact_law, out.pool_mean_action = load_impact(p, root)
    return out


def load_impact(p: Params, root: str | Path = ".") -> tuple[impact.ImpactLaw | None, float]:
    """Notebook 05's impact law and the pool's mean net action (``None, 0`` before it ran)."""
    path = artifact(p, "impact_law.json", root)
    if not path.exists():
        return None, 0.0
    d = json.loads(path.read_text())
    pool_mean = float(d.pop("pool_mean_action", 0.0))
    return impact.ImpactLaw.from_dict(d), pool_mean


def backtest_impact_law(p: Params, root: str | Path = ".") -> impact.ImpactLaw | None:
    """The law of the impact-aware backtest (``backtest.impact``; ``backtest.impact_coef``
    replaces the fitted coefficient), or ``None`` when the params turn it off."""
    if not p.backtest.impact:
        return None
    law, _ = load_impact(p, root)
    if law is None:
        raise FileNotFoundError(
            f"{artifact(p, 'impact_law.json', root)} is missing: run notebook 05 "
            "(snakemake builds it) or set backtest.impact: false"
        )
    if p.backtest.impact_coef is not None:
        law = replace(law, coef=p.backtest.impact_coef)
    return law


def final_impact_mode(p: Params, root: str | Path = ".") -> str:
    """The final agent's impact mode: the params' choice, or notebook 05's measured one."""
    if p.rl.final_impact != "auto":
        return p.rl.final_impact
    return json.loads(artifact(p, "impact_mode.json", root).read_text())["mode"]
