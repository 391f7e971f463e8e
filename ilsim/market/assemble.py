"""The simulator assembled from a run: its params mapped onto :class:`MarketConfig` (durations
in minutes become bars of the data's interval), the drift it is asked to carry, and
:class:`MarketData` from the bars, segments, scaler, agent pool, synthesis network and impact
law — given (:func:`assemble_market`) or read from a finished run (:func:`run_market`)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from ilsim import data, features, regimes, synthesis
from ilsim.market.config import MarketConfig, MarketData
from ilsim.params import MarketBars, Params, shared
from ilsim.run import Run


def market_bars(p: Params, bars: pd.DataFrame) -> MarketBars:
    """The ``market`` durations (minutes in the params) as bars of the data's interval."""
    return p.market.in_bars(data.bar_minutes(bars))


def market_config(
    p: Params, bars: pd.DataFrame, impact: str | None = None, **overrides: Any
) -> MarketConfig:
    """The simulator's settings from params (``impact`` and others may be overridden); the
    durations in minutes (episode, noise block, reward window) become bars of the bars'
    interval (:func:`market_bars`)."""
    n = market_bars(p, bars)
    cfg = MarketConfig(
        **shared(p.market, MarketConfig),
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
) -> MarketData:
    """The simulator's ingredients; episodes start in the segments of ``role``."""
    starts = regimes.role_ranges(segments, role)
    if not starts:
        raise ValueError(f"no segments with role {role!r} to start episodes in")
    shift = drift_shift(p, bars, segments, meta)
    return MarketData(
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
        feature_kwargs=features.indicator_kwargs(p.features),
        sigma_bar=float(meta["sigma_bar"]),
        volume_bar=float(meta["volume_bar"]),
    )


def run_market(
    run: Run, role: str | tuple[str, ...] = "sim_train", device: str = "cpu"
) -> MarketData:
    """The simulator as the run built it, read from its artifacts; episodes start in the
    segments of ``role``."""
    from ilsim.pool import load_pool

    net, residuals, meta = synthesis.load_synthesis(run.file("synthesis.pt"), device)
    pool = load_pool(run.file("il_agents.pt"), device)
    out = assemble_market(
        run.params, run.bars(), run.segments(), run.scaler(), pool.act, net, residuals, meta, role
    )
    out.impact_law, out.pool_mean_action = run.impact()
    return out
