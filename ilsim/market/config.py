"""The simulator's parameters: its knobs (:class:`MarketConfig`, defaults from the ``market`` and
``backtest`` params) and what it is built from (:class:`MarketData`: real bars, scaler, the IL
pool, the synthesis net, residuals, the impact law)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from ilsim.features import MinMaxScaler
from ilsim.impact import ImpactLaw
from ilsim.params import BacktestParams, MarketParams, default

Impact = Literal["paper", "calibrated", "learned", "pool", "none", "own"]


# The simulator's worlds (notebook 05 probes and compares each of them).
IMPACT_MODES: tuple[str, ...] = ("paper", "calibrated", "learned", "pool", "none")
# Every mode an env takes: the simulator's, and "own" (issue 25's premise A/B): the real bars
# replayed, plus the agent's own impact through the fitted law, filled and marked exactly as in
# the impact-aware backtest (:mod:`ilsim.backtest`) — the backtest as an environment.
ENV_IMPACT_MODES: tuple[str, ...] = (*IMPACT_MODES, "own")


@dataclass
class MarketConfig:
    """Knobs of the simulator (``market`` section of the params)."""

    impact: Impact = default(MarketParams, "impact")
    episode_bars: int = 390
    # Reward: value change over the last w bars / initial value (the paper: 230 minutes).
    reward_window_bars: int = 230
    # Action semantics (ilsim.backtest.order_shares): the paper's "fraction" of cash/holdings
    # to trade, a "target" fraction of value held in shares, or "units" of ``order_unit``
    # shares (impact probes: an order of a given share of daily volume).
    action_mode: Literal["fraction", "target", "units"] = default(MarketParams, "action_mode")
    order_unit: float = 1.0
    initial_cash: float = default(BacktestParams, "initial_cash")
    fee: float = default(BacktestParams, "fee")
    # Calibrated impact: return += coef * sigma_bar * sign(q) * sqrt(|q| / volume_bar).
    impact_coef: float = default(MarketParams, "impact_coef")
    noise: bool = default(MarketParams, "noise")
    noise_block: int = 20
    # Shares per unit of IL action (None: median real bar volume / number of agents).
    il_volume_unit: float | None = default(MarketParams, "il_volume_unit")
    # a bar's simulated return is clipped to ±max_return
    max_return: float = default(MarketParams, "max_return")
    # Training: the first episodes after reset() are cut short at random, so that the N
    # environments' episodes end at different steps rather than all at once.
    stagger_starts: bool = False
    # Episodes start at a session's first bar only (impact probes read "by the close").
    start_at_open: bool = False
    # The noise's size: the bootstrap residuals as they are (the paper's), or standardised by
    # the volatility head at their own bar and rescaled by it for the pool's current actions.
    volatility: Literal["bootstrap", "head"] = default(MarketParams, "volatility")


@dataclass
class MarketData:
    """What the simulator is built from: real bars, features and the learned components."""

    bars: pd.DataFrame
    scaler: MinMaxScaler
    il_policy: Callable[[torch.Tensor], torch.Tensor]  # scaled features [N, F] -> actions [N, M]
    synthesis: Callable[[torch.Tensor], torch.Tensor]  # IL actions [N, M] -> mean return [N]
    residuals: np.ndarray  # residual returns, in time order
    residual_volume: np.ndarray  # real bar volumes aligned with the residuals
    start_ranges: list[tuple[int, int]]  # [first_bar, last_bar] ranges episodes start in
    feature_kwargs: dict[str, Any]
    sigma_bar: float  # std of real one-bar returns (calibrated impact scale)
    volume_bar: float  # median real bar volume
    # Bar of day of each residual: noise blocks then start at the same time of day as the
    # environment, so the intraday shape of volatility and volume survives the resampling.
    residual_bar_of_day: np.ndarray | None = None
    # Learned impact (mode "learned"): the law fitted on the real bars, and the pool's mean
    # net action (sum over agents) on its training bars, the balance that moves nothing.
    impact_law: ImpactLaw | None = None
    pool_mean_action: float = 0.0
    # The volatility head (issue 15, ``MarketConfig.volatility == "head"``): IL actions [N, M]
    # -> the next return's residual std [N], and its value at each residual's own bar.
    synthesis_vol: Callable[[torch.Tensor], torch.Tensor] | None = None
    residual_scale: np.ndarray | None = None
