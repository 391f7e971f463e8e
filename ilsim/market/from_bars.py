"""The simulator on any bars file (issue 28): a market built from OHLCV bars alone, no run.

``gymnasium.make("ilsim/Market-v0", data="bars.csv")`` lands here. The file (CSV or Parquet,
minute or 5-minute bars, any vendor layout :func:`ilsim.data.import_bars` reads) becomes
canonical bars; the features are the project's (:func:`ilsim.features.compute_features`,
periods from the ``features`` params), min-max scaled on the bars themselves; the durations
(episode, reward window, noise block) are the ``market`` params' minutes in bars of the file's
interval (:func:`ilsim.market.assemble.market_config`). Nothing is trained, so the modes are
those that need no IL pool and no synthesis network:

- ``none`` (the default): a static replay of the real bars, prices ignore every trade;
- ``learned``: the impact law (:func:`ilsim.impact.fit_impact_law`) fitted on the spot on the
  bars moves the price by the agent's own flow, on top of a block bootstrap of the bars' own
  one-bar returns and volumes (by time of day), with no IL agents trading;
- ``calibrated``: the same bootstrap with the square-root move of ``impact_coef``.

``paper`` and ``pool`` need a finished run's agent pool (``params=``) and are refused here.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ilsim import data, features, impact, synthesis
from ilsim.market.assemble import market_config
from ilsim.market.config import MarketConfig, MarketData
from ilsim.params import Params

# the impact modes a market from bars alone can run (the others need a run's IL pool)
BARS_IMPACT_MODES: tuple[str, ...] = ("none", "learned", "calibrated")


def read_bars(path: str | Path, **import_options: Any) -> pd.DataFrame:
    """Canonical bars from a vendor CSV or Parquet file (:func:`ilsim.data.import_bars`, whose
    keywords ``tz``, ``source_tz``, ``session``, ``max_outside_session`` pass through). A bad
    file raises :class:`ilsim.data.DataImportError` with a one-line message naming the file,
    the row and the problem."""
    try:
        bars, _ = data.import_bars(path, **import_options)
    except data.DataImportError as err:  # a reader's message may span lines: one line here
        problem = re.sub(r"\s*\n\s*", "; ", err.problem.strip())
        raise data.DataImportError(err.path, problem, err.row) from None
    return bars


def _no_pool(scaled: torch.Tensor) -> torch.Tensor:
    """The IL pool of a market without one: a single agent that never trades."""
    return scaled.new_zeros(scaled.shape[0], 1)


class _Drift:
    """The synthesis of a market without a network: the bars' mean one-bar return."""

    def __init__(self, mean: float) -> None:
        self.mean = float(mean)

    def __call__(self, actions: torch.Tensor) -> torch.Tensor:
        return actions.new_full((actions.shape[0],), self.mean)


def bars_market_data(
    bars: pd.DataFrame, p: Params | None = None, *, fit_impact: bool = False
) -> MarketData:
    """What the simulator needs, from canonical bars alone: features scaled on these bars, the
    in-session one-bar returns (demeaned) with their volumes and times of day as the noise, no
    IL pool, and with ``fit_impact`` the impact law fitted on the bars (``p.seed``). Episodes
    start anywhere after the features' warm-up. ``p``: the params whose ``features`` section
    gives the periods (default: the defaults)."""
    p = p or Params(name="bars")
    kw = features.indicator_kwargs(p.features)
    raw = features.compute_features(bars, **kw)
    ok = features.valid_mask(raw)
    if not ok.any():
        warm = features.warmup_bars(**kw)
        raise ValueError(
            f"{len(bars)} bars are too few: the features need a warm-up of {warm} bars"
        )
    scaler = features.MinMaxScaler().fit(raw, mask=ok)
    close = bars["close"].to_numpy(np.float64)
    rows, rets, _ = synthesis.one_step_targets(
        close, np.zeros(len(bars), dtype=np.int64), data.session_ids(bars.index)
    )
    if len(rets) < 2:
        raise ValueError("the bars hold no two bars of one session: no one-bar returns")
    law = None
    if fit_impact:
        with warnings.catch_warnings():  # no bootstrap: its intervals are NaN, unused here
            warnings.simplefilter("ignore", RuntimeWarning)
            law = impact.fit_impact_law(bars, n_boot=0, seed=p.seed)
    volume = bars["volume"].to_numpy(np.float64)
    mean = float(rets.mean())
    return MarketData(
        bars=bars,
        scaler=scaler,
        il_policy=_no_pool,
        synthesis=_Drift(mean),
        residuals=rets - mean,  # zero-mean noise: the drift is the synthesis's
        residual_volume=volume[rows + 1],
        residual_bar_of_day=data.bar_of_day(bars.index)[rows + 1],
        start_ranges=[(0, len(bars) - 1)],
        feature_kwargs=kw,
        sigma_bar=float(np.std(rets)),
        volume_bar=float(np.median(volume)),
        impact_law=law,
    )


def bars_market(
    path: str | Path,
    p: Params | None = None,
    *,
    impact: str | None = None,
    config: MarketConfig | None = None,
    import_options: dict[str, Any] | None = None,
    **overrides: Any,
) -> tuple[MarketData, MarketConfig]:
    """The simulator's data and settings from a bars file (module docstring): ``impact`` one
    of :data:`BARS_IMPACT_MODES` (default ``none``, or the given ``config``'s), the settings
    from ``config`` or from the params ``p`` (default: the defaults) in bars of the file's
    interval, then ``overrides`` (any :class:`MarketConfig` field; an unknown name raises)."""
    mode = impact or (config.impact if config is not None else "none")
    if mode not in BARS_IMPACT_MODES:
        raise ValueError(
            f"impact={mode!r} needs a finished run's IL pool (params=); a market from a bars "
            f"file alone runs {BARS_IMPACT_MODES}"
        )
    p = p or Params(name="bars")
    bars = read_bars(path, **(import_options or {}))
    cfg = replace(config or market_config(p, bars), impact=mode, **overrides)
    warm = features.warmup_bars(**features.indicator_kwargs(p.features))
    if len(bars) - warm <= cfg.episode_bars:
        raise ValueError(
            f"{path}: {len(bars)} bars hold no episode of {cfg.episode_bars} bars after the "
            f"features' {warm}-bar warm-up: give more bars or a smaller episode_bars="
        )
    return bars_market_data(bars, p, fit_impact=mode == "learned"), cfg
