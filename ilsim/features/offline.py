"""Features computed offline on a whole bar frame (pandas-ta-classic), their names, warm-up and
the state an online computer starts from. The definitions are in :mod:`ilsim.features`."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pandas_ta_classic as ta

if TYPE_CHECKING:
    from ilsim.params import FeatureParams

DEFAULT_EMA_PERIODS: tuple[int, ...] = (3, 6, 9, 18, 27)


DEFAULT_MACD: tuple[int, int, int] = (12, 26, 9)


DEFAULT_RELVOL_WINDOW: int = 20


PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume")


def feature_names(ema_periods: Sequence[int] = DEFAULT_EMA_PERIODS) -> tuple[str, ...]:
    """Feature column names, in the order every function here uses, for these EMA periods."""
    return (
        "ret_1",
        *(f"ema_{int(n)}" for n in ema_periods),
        "macd",
        "macd_signal",
        "vwap",
        "relvol",
    )


FEATURE_NAMES: tuple[str, ...] = feature_names(DEFAULT_EMA_PERIODS)


def _check_params(
    ema_periods: Sequence[int], macd: Sequence[int], relvol_window: int
) -> tuple[tuple[int, ...], tuple[int, int, int], int]:
    """Validate and normalise the indicator periods (all counted in bars)."""
    periods = tuple(int(n) for n in ema_periods)
    if not periods or min(periods) < 1 or len(set(periods)) != len(periods):
        raise ValueError(f"ema_periods must be distinct positive integers, got {ema_periods!r}")
    if len(macd) != 3:
        raise ValueError(f"macd must be (fast, slow, signal), got {macd!r}")
    fast, slow, signal = (int(x) for x in macd)
    if not 1 <= fast < slow or signal < 1:
        raise ValueError(f"macd needs 1 <= fast < slow and signal >= 1, got {macd!r}")
    if int(relvol_window) < 1:
        raise ValueError(f"relvol_window must be >= 1, got {relvol_window!r}")
    return periods, (fast, slow, signal), int(relvol_window)


def indicator_kwargs(params: FeatureParams) -> dict[str, Any]:
    """The indicator periods of a :class:`ilsim.params.FeatureParams` in bars, as the keywords
    :func:`compute_features`, :func:`warmup_bars` and ``OnlineFeatures`` take: the one place
    the params become feature arguments."""
    return {
        "ema_periods": params.ema_periods_bars,
        "macd": params.macd_bars,
        "relvol_window": params.relvol_window_bars,
    }


def warmup_bars(
    ema_periods: Sequence[int] = DEFAULT_EMA_PERIODS,
    macd: Sequence[int] = DEFAULT_MACD,
    relvol_window: int = DEFAULT_RELVOL_WINDOW,
) -> int:
    """Number of leading NaN rows, i.e. the index of the first bar with every feature defined."""
    periods, (_, slow, signal), window = _check_params(ema_periods, macd, relvol_window)
    return max(1, max(periods) - 1, slow + signal - 2, window - 1)


def valid_mask(features: pd.DataFrame | np.ndarray) -> np.ndarray:
    """Boolean row mask: True where every feature is finite (drops the warm-up rows)."""
    values = features.to_numpy() if isinstance(features, pd.DataFrame) else np.asarray(features)
    return np.isfinite(values).all(axis=1)


def session_start_mask(index: pd.DatetimeIndex) -> np.ndarray:
    """True at the first bar of each session (calendar day of the index's own time zone)."""
    if len(index) == 0:
        return np.zeros(0, dtype=bool)
    local = index.tz_localize(None) if index.tz is not None else index
    days = local.to_numpy().astype("datetime64[D]")
    return np.concatenate(([True], days[1:] != days[:-1]))


def _check_bars(bars: pd.DataFrame) -> None:
    """Reject frames the indicators cannot be computed on correctly."""
    missing = [c for c in PRICE_COLUMNS if c not in bars.columns]
    if missing:
        raise ValueError(f"bars lack columns {missing}")
    if not isinstance(bars.index, pd.DatetimeIndex):
        raise ValueError("bars must be indexed by a DatetimeIndex")
    if not bars.index.is_monotonic_increasing:
        raise ValueError("bars must be sorted by time")


def _ema(close: pd.Series, length: int) -> np.ndarray:
    """pandas-ta-classic EMA as float64 array (all NaN when the series is too short)."""
    out = ta.ema(close, length=length) if len(close) >= length else None
    return np.full(len(close), np.nan) if out is None else out.to_numpy(dtype=np.float64)


def _rolling_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over ``window`` values including the current one (NaN before it fills).

    Summed window by window (not by cumsum differences) so an all-zero window is exactly 0.
    """
    out = np.full(len(values), np.nan)
    if len(values) >= window:
        windows = np.lib.stride_tricks.sliding_window_view(values, window)
        out[window - 1 :] = windows.sum(axis=1) / window
    return out


def _relvol(volume: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """volume / trailing mean, 1.0 where the mean is 0, NaN in the warm-up."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(mean > 0, volume / mean, np.where(np.isnan(mean), np.nan, 1.0))


def _raw(
    bars: pd.DataFrame,
    ema_periods: tuple[int, ...],
    macd: tuple[int, int, int],
) -> dict[str, np.ndarray]:
    """Raw (price-level) indicator series shared by the offline features and the online state."""
    _check_bars(bars)
    fast, slow, signal = macd
    close_s = bars["close"].astype(np.float64)
    high = bars["high"].to_numpy(dtype=np.float64)
    low = bars["low"].to_numpy(dtype=np.float64)
    close = close_s.to_numpy()
    volume = bars["volume"].to_numpy(dtype=np.float64)
    n = len(bars)

    raw: dict[str, np.ndarray] = {"close": close, "volume": volume}
    for p in ema_periods:
        raw[f"ema_{p}"] = _ema(close_s, p)
    raw["macd_fast"] = _ema(close_s, fast)
    raw["macd_slow"] = _ema(close_s, slow)
    m = ta.macd(close_s, fast=fast, slow=slow, signal=signal) if n >= slow else None
    if m is None:
        raw["macd_line"] = raw["macd_fast"] - raw["macd_slow"]
        raw["macd_signal"] = np.full(n, np.nan)
    else:
        raw["macd_line"] = m[f"MACD_{fast}_{slow}_{signal}"].to_numpy(dtype=np.float64)
        raw["macd_signal"] = m[f"MACDs_{fast}_{slow}_{signal}"].to_numpy(dtype=np.float64)

    typical = (high + low + close) / 3.0
    raw["typical"] = typical
    days = pd.Index(session_start_mask(bars.index).cumsum())
    pv = pd.Series(typical * volume, copy=False)
    raw["session_pv"] = pv.groupby(days).cumsum().to_numpy()
    raw["session_volume"] = pd.Series(volume, copy=False).groupby(days).cumsum().to_numpy()
    with warnings.catch_warnings():
        # to_period('D') drops the time zone, i.e. uses local (New York) dates: what we want.
        warnings.filterwarnings("ignore", message="Converting to PeriodArray")
        vwap = ta.vwap(bars["high"], bars["low"], bars["close"], bars["volume"], anchor="D")
    vwap_arr = np.full(n, np.nan) if vwap is None else vwap.to_numpy(dtype=np.float64)
    # pandas-ta gives 0/0 = NaN while a session has seen no volume: use the typical price.
    raw["vwap"] = np.where(raw["session_volume"] > 0, vwap_arr, typical)
    return raw


def _features_from_raw(
    raw: dict[str, np.ndarray], ema_periods: tuple[int, ...], relvol_window: int
) -> dict[str, np.ndarray]:
    """Relative features from the raw series (the same arithmetic the online step does)."""
    close = raw["close"]
    ret = np.full(len(close), np.nan)
    ret[1:] = close[1:] / close[:-1] - 1.0
    out: dict[str, np.ndarray] = {"ret_1": ret}
    for p in ema_periods:
        out[f"ema_{p}"] = raw[f"ema_{p}"] / close - 1.0
    out["macd"] = raw["macd_line"] / close
    out["macd_signal"] = raw["macd_signal"] / close
    out["vwap"] = raw["vwap"] / close - 1.0
    out["relvol"] = _relvol(raw["volume"], _rolling_mean(raw["volume"], relvol_window))
    return out


def compute_features(
    bars: pd.DataFrame,
    *,
    ema_periods: Sequence[int] = DEFAULT_EMA_PERIODS,
    macd: Sequence[int] = DEFAULT_MACD,
    relvol_window: int = DEFAULT_RELVOL_WINDOW,
) -> pd.DataFrame:
    """Features of every bar (columns :func:`feature_names`), warm-up rows NaN, same index."""
    periods, macd_t, window = _check_params(ema_periods, macd, relvol_window)
    raw = _raw(bars, periods, macd_t)
    feats = _features_from_raw(raw, periods, window)
    return pd.DataFrame(feats, index=bars.index, columns=list(feature_names(periods)))


def feature_state(
    bars: pd.DataFrame,
    *,
    ema_periods: Sequence[int] = DEFAULT_EMA_PERIODS,
    macd: Sequence[int] = DEFAULT_MACD,
) -> pd.DataFrame:
    """Raw indicator state after each bar, the values :class:`OnlineFeatures` starts from.

    Columns (price levels, not relative): ``close``, ``volume``, ``ema_<n>``, ``macd_fast``,
    ``macd_slow`` (the MACD's EMAs), ``macd_signal`` (EMA of their difference),
    ``session_pv`` and ``session_volume`` (the session's cumulative typical*volume and volume).
    """
    periods, macd_t, _ = _check_params(ema_periods, macd, DEFAULT_RELVOL_WINDOW)
    raw = _raw(bars, periods, macd_t)
    cols = [
        "close",
        "volume",
        *(f"ema_{p}" for p in periods),
        "macd_fast",
        "macd_slow",
        "macd_signal",
        "session_pv",
        "session_volume",
    ]
    return pd.DataFrame({c: raw[c] for c in cols}, index=bars.index)
