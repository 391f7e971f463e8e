"""Features at bar t from bars <= t, offline (pandas-ta-classic) and online (torch, batched).

Pipeline step 2 of the spec. Every price-level indicator is expressed relative to the close
(``EMA/close - 1`` ...) so that different years share one scale. Periods count bars.

Definitions (identical offline and online):

- ``ret_1``       close / previous close - 1 (the previous bar may be the last one of the
                  previous session; the first bar of the data is NaN).
- ``ema_n``       EMA_n(close) / close - 1, EMA seeded with the SMA of the first n closes and
                  then recursive with alpha = 2 / (n + 1) (pandas-ta-classic, adjust=False).
- ``macd``        (EMA_fast - EMA_slow) / close.
- ``macd_signal`` EMA_signal(EMA_fast - EMA_slow) / close (SMA seed on the first ``signal``
                  MACD values, as pandas-ta-classic and TA-Lib do).
- ``vwap``        session VWAP / close - 1, typical price (h + l + c) / 3, sessions are
                  calendar days of the (New York) index; while a session's cumulative volume is
                  still 0 the VWAP is the bar's typical price.
- ``relvol``      volume / mean(volume of the last ``relvol_window`` bars including t), 1.0
                  where that mean is 0.

EMAs, MACD and relvol run across session boundaries; only the VWAP resets each session.
Warm-up rows (where some indicator is not yet defined) are NaN; see :func:`warmup_bars` and
:func:`valid_mask`.

:class:`OnlineFeatures` keeps the raw indicator state of N price paths as torch tensors and
produces the same features one bar at a time; started from :func:`feature_state` values of a
real history, its continuation equals :func:`compute_features` on the same path.

Parts: ``offline`` (the frame's features, names, warm-up, start state), ``scaler``
(:class:`MinMaxScaler`), ``online`` (:class:`OnlineFeatures`); every name is importable from
``ilsim.features``.
"""

from ilsim.features.offline import (
    DEFAULT_EMA_PERIODS,
    DEFAULT_MACD,
    DEFAULT_RELVOL_WINDOW,
    FEATURE_NAMES,
    PRICE_COLUMNS,
    compute_features,
    feature_names,
    feature_state,
    indicator_kwargs,
    session_start_mask,
    valid_mask,
    warmup_bars,
)
from ilsim.features.online import OnlineFeatures, online_offline_gap
from ilsim.features.scaler import MinMaxScaler

__all__ = [
    "DEFAULT_EMA_PERIODS",
    "DEFAULT_MACD",
    "DEFAULT_RELVOL_WINDOW",
    "FEATURE_NAMES",
    "PRICE_COLUMNS",
    "MinMaxScaler",
    "OnlineFeatures",
    "compute_features",
    "feature_names",
    "feature_state",
    "indicator_kwargs",
    "online_offline_gap",
    "session_start_mask",
    "valid_mask",
    "warmup_bars",
]
