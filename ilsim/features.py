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
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandas_ta_classic as ta
import torch

__all__ = [
    "FEATURE_NAMES",
    "MinMaxScaler",
    "OnlineFeatures",
    "compute_features",
    "feature_names",
    "feature_state",
    "session_start_mask",
    "valid_mask",
    "warmup_bars",
]

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


class MinMaxScaler:
    """Column-wise min-max scaling, fitted once (on the IL-training rows) and applied anywhere.

    ``(x - min) / (max - min)``; values outside [0, 1] are kept (data outside the fit range).
    A constant column gets range 1. Rows with any NaN are ignored by :meth:`fit` and stay NaN.
    """

    def __init__(self) -> None:
        self.columns: list[str] | None = None
        self.min_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None
        self._tensor_cache: dict[tuple[str, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}

    @property
    def fitted(self) -> bool:
        """Whether min and scale are set."""
        return self.min_ is not None

    def fit(self, X: pd.DataFrame | np.ndarray, mask: np.ndarray | None = None) -> MinMaxScaler:
        """Fit min and range on the rows selected by ``mask`` (all rows if None), NaN rows out."""
        values = np.asarray(X, dtype=np.float64)
        if values.ndim != 2:
            raise ValueError(f"X must be 2-D, got shape {values.shape}")
        rows = np.isfinite(values).all(axis=1)
        if mask is not None:
            mask = np.asarray(mask, dtype=bool)
            if mask.shape != rows.shape:
                raise ValueError(f"mask shape {mask.shape} != rows {rows.shape}")
            rows &= mask
        if not rows.any():
            raise ValueError("no finite rows to fit the scaler on")
        lo = values[rows].min(axis=0)
        rng = values[rows].max(axis=0) - lo
        self.min_ = lo
        self.scale_ = np.where(rng > 0, rng, 1.0)
        self.columns = [str(c) for c in X.columns] if isinstance(X, pd.DataFrame) else None
        self._tensor_cache.clear()
        return self

    def _require_fit(self) -> tuple[np.ndarray, np.ndarray]:
        """Fitted (min, scale), or a clear error."""
        if self.min_ is None or self.scale_ is None:
            raise RuntimeError("MinMaxScaler is not fitted")
        return self.min_, self.scale_

    def transform(self, X: pd.DataFrame | np.ndarray) -> pd.DataFrame | np.ndarray:
        """Scale ``X`` (same shape, same type; a DataFrame must have the fitted columns)."""
        lo, scale = self._require_fit()
        if isinstance(X, pd.DataFrame):
            if self.columns is not None and [str(c) for c in X.columns] != self.columns:
                raise ValueError(f"columns {list(X.columns)} != fitted {self.columns}")
            values = (X.to_numpy(dtype=np.float64) - lo) / scale
            return pd.DataFrame(values, index=X.index, columns=X.columns)
        values = np.asarray(X, dtype=np.float64)
        if values.shape[-1] != lo.shape[0]:
            raise ValueError(f"last dimension {values.shape[-1]} != {lo.shape[0]} features")
        return (values - lo) / scale

    def fit_transform(
        self, X: pd.DataFrame | np.ndarray, mask: np.ndarray | None = None
    ) -> pd.DataFrame | np.ndarray:
        """Fit on the masked rows, then scale all of ``X``."""
        return self.fit(X, mask).transform(X)

    def transform_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """Scale a torch tensor ``[..., F]`` on its own device and dtype (same numbers)."""
        lo, scale = self._require_fit()
        if x.shape[-1] != lo.shape[0]:
            raise ValueError(f"last dimension {x.shape[-1]} != {lo.shape[0]} features")
        key = (str(x.device), x.dtype)
        if key not in self._tensor_cache:
            self._tensor_cache[key] = (
                torch.as_tensor(lo, dtype=x.dtype, device=x.device),
                torch.as_tensor(scale, dtype=x.dtype, device=x.device),
            )
        lo_t, scale_t = self._tensor_cache[key]
        return (x - lo_t) / scale_t

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready parameters (floats round-trip exactly)."""
        lo, scale = self._require_fit()
        return {"columns": self.columns, "min": lo.tolist(), "scale": scale.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MinMaxScaler:
        """Inverse of :meth:`to_dict`."""
        obj = cls()
        obj.min_ = np.asarray(d["min"], dtype=np.float64)
        obj.scale_ = np.asarray(d["scale"], dtype=np.float64)
        if obj.min_.shape != obj.scale_.shape:
            raise ValueError("min and scale differ in length")
        cols = d.get("columns")
        obj.columns = None if cols is None else [str(c) for c in cols]
        return obj

    def save(self, path: str | Path) -> None:
        """Write the parameters as JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> MinMaxScaler:
        """Read parameters written by :meth:`save`."""
        return cls.from_dict(json.loads(Path(path).read_text()))


class OnlineFeatures:
    """Incremental features of N price paths at once (one new bar per path per :meth:`step`).

    State per path: previous close; the EMAs (feature periods, then MACD fast and slow);
    the MACD signal EMA; the session's cumulative typical*volume and volume; a ring buffer of
    the last ``relvol_window`` volumes. Build it with :meth:`from_history`, which takes the
    offline state of real bars so that the continuation equals :func:`compute_features`.
    """

    def __init__(
        self,
        n_envs: int,
        *,
        ema_periods: Sequence[int] = DEFAULT_EMA_PERIODS,
        macd: Sequence[int] = DEFAULT_MACD,
        relvol_window: int = DEFAULT_RELVOL_WINDOW,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        """Allocate zero state for ``n_envs`` paths; use :meth:`from_history` to fill it."""
        self.ema_periods, self.macd, self.relvol_window = _check_params(
            ema_periods, macd, relvol_window
        )
        self.names = feature_names(self.ema_periods)
        self.n_envs = int(n_envs)
        self.device = torch.device(device)
        self.dtype = dtype
        fast, slow, signal = self.macd
        spans = [*self.ema_periods, fast, slow]
        kw: dict[str, Any] = {"device": self.device, "dtype": dtype}
        self._alpha = torch.tensor([2.0 / (s + 1.0) for s in spans], **kw)
        self._one_minus_alpha = 1.0 - self._alpha
        self._sig_alpha = 2.0 / (signal + 1.0)
        n, k, w = self.n_envs, len(spans), self.relvol_window
        self.prev_close = torch.zeros(n, **kw)
        self.ema = torch.zeros(n, k, **kw)  # [N, len(ema_periods) + 2]: features, fast, slow
        self.signal = torch.zeros(n, **kw)
        self.session_pv = torch.zeros(n, **kw)
        self.session_volume = torch.zeros(n, **kw)
        self.volumes = torch.zeros(n, w, **kw)  # ring buffer, slot ``_pos`` is the oldest
        self._pos = 0
        self.features = torch.full((n, len(self.names)), float("nan"), **kw)
        self._hist: dict[str, torch.Tensor] | None = None
        self._hist_len = 0

    @property
    def num_features(self) -> int:
        """Number of features per path."""
        return len(self.names)

    @classmethod
    def from_history(
        cls,
        bars: pd.DataFrame,
        starts: np.ndarray | torch.Tensor | Sequence[int],
        *,
        ema_periods: Sequence[int] = DEFAULT_EMA_PERIODS,
        macd: Sequence[int] = DEFAULT_MACD,
        relvol_window: int = DEFAULT_RELVOL_WINDOW,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> OnlineFeatures:
        """State of N paths, path i positioned right after bar ``starts[i]`` of ``bars``.

        ``features`` then holds the offline features of those bars. The history is kept on
        the device, so :meth:`reset_where` can restart paths anywhere in it cheaply.
        """
        starts_np = cls._as_index_array(starts)
        obj = cls(
            len(starts_np),
            ema_periods=ema_periods,
            macd=macd,
            relvol_window=relvol_window,
            device=device,
            dtype=dtype,
        )
        obj.set_history(bars)
        obj.reset_where(torch.ones(len(starts_np), dtype=torch.bool), starts_np)
        return obj

    @staticmethod
    def _as_index_array(starts: np.ndarray | torch.Tensor | Sequence[int]) -> np.ndarray:
        """Start indices as a 1-D int64 numpy array."""
        if isinstance(starts, torch.Tensor):
            starts = starts.detach().cpu().numpy()
        arr = np.asarray(starts)
        if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
            raise ValueError("starts must be a 1-D array of integer bar indices")
        return arr.astype(np.int64)

    # what changes while stepping (an exact resume: ilsim.market.VectorMarket.state_dict)
    STATE: tuple[str, ...] = (
        "prev_close",
        "ema",
        "signal",
        "session_pv",
        "session_volume",
        "volumes",
        "features",
        "_pos",
    )

    def state_dict(self) -> dict[str, Any]:
        """Copies of the running state (tensors detached), keyed by attribute."""
        return {
            k: v.detach().clone() if isinstance(v, torch.Tensor) else v
            for k in self.STATE
            for v in [getattr(self, k)]
        }

    def load_state_dict(self, state: dict[str, Any], device: torch.device | None = None) -> None:
        """Restore what :meth:`state_dict` saved (on ``device``, default this one's)."""
        for k in self.STATE:
            v = state[k]
            if isinstance(v, torch.Tensor):
                v = v.detach().clone().to(device or self.device)
            setattr(self, k, v)

    def set_history(self, bars: pd.DataFrame) -> None:
        """Compute the offline state and features of ``bars`` once and keep them on the device."""
        state = feature_state(bars, ema_periods=self.ema_periods, macd=self.macd)
        feats = compute_features(
            bars, ema_periods=self.ema_periods, macd=self.macd, relvol_window=self.relvol_window
        )
        kw: dict[str, Any] = {"device": self.device, "dtype": self.dtype}
        ema_cols = [*(f"ema_{p}" for p in self.ema_periods), "macd_fast", "macd_slow"]
        self._hist = {
            "close": torch.tensor(state["close"].to_numpy(), **kw),
            "volume": torch.tensor(state["volume"].to_numpy(), **kw),
            "ema": torch.tensor(state[ema_cols].to_numpy(), **kw),
            "signal": torch.tensor(state["macd_signal"].to_numpy(), **kw),
            "session_pv": torch.tensor(state["session_pv"].to_numpy(), **kw),
            "session_volume": torch.tensor(state["session_volume"].to_numpy(), **kw),
            "features": torch.tensor(feats.to_numpy(), **kw),
        }
        self._hist_len = len(bars)
        self._min_start = warmup_bars(self.ema_periods, self.macd, self.relvol_window)

    def reset_where(
        self,
        mask: torch.Tensor | np.ndarray,
        starts: np.ndarray | torch.Tensor | Sequence[int],
        bars: pd.DataFrame | None = None,
    ) -> None:
        """Re-initialise the paths where ``mask`` is True to the state after bar ``starts``.

        ``starts`` has one index per True entry of ``mask`` (or one per path, then only the
        masked ones are used). ``bars`` replaces the stored history first, if given.
        """
        if bars is not None:
            self.set_history(bars)
        if self._hist is None:
            raise RuntimeError("no history: call set_history(bars) or use from_history")
        mask_t = torch.as_tensor(mask, dtype=torch.bool).reshape(-1)
        if mask_t.shape[0] != self.n_envs:
            raise ValueError(f"mask has {mask_t.shape[0]} entries, expected {self.n_envs}")
        s = self._as_index_array(starts)
        k = int(mask_t.sum())
        if len(s) == self.n_envs and k != self.n_envs:
            s = s[mask_t.numpy()]
        if len(s) != k:
            raise ValueError(f"{len(s)} starts for {k} masked paths")
        if k == 0:
            return
        bad = (s < self._min_start) | (s >= self._hist_len)
        if bad.any():
            raise ValueError(
                f"starts must lie in [{self._min_start}, {self._hist_len - 1}] (after the "
                f"{self._min_start}-bar warm-up), got {s[bad][:5].tolist()}"
            )
        idx = torch.as_tensor(s, device=self.device)
        rows = torch.nonzero(mask_t, as_tuple=True)[0].to(self.device)
        h = self._hist
        self.prev_close[rows] = h["close"][idx]
        self.ema[rows] = h["ema"][idx]
        self.signal[rows] = h["signal"][idx]
        self.session_pv[rows] = h["session_pv"][idx]
        self.session_volume[rows] = h["session_volume"][idx]
        self.features[rows] = h["features"][idx]
        w = self.relvol_window
        # slot j holds the volume of age rank (j - pos) mod w, 0 = oldest = bar s - (w - 1)
        rank = (torch.arange(w, device=self.device) - self._pos) % w
        self.volumes[rows] = h["volume"][idx[:, None] - (w - 1) + rank[None, :]]

    def step(
        self,
        open: torch.Tensor,
        high: torch.Tensor,
        low: torch.Tensor,
        close: torch.Tensor,
        volume: torch.Tensor,
        new_session: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Consume one new bar per path (tensors [N]) and return its features [N, F].

        ``new_session`` ([N] bool) marks bars that open a new session: the VWAP sums restart.
        ``open`` is accepted for symmetry with the bars but no feature uses it.
        """
        del open
        kw: dict[str, Any] = {"device": self.device, "dtype": self.dtype}
        high, low, close, volume = (torch.as_tensor(x, **kw) for x in (high, low, close, volume))

        ret = close / self.prev_close - 1.0
        self.prev_close = close.clone()
        c = close[:, None]
        self.ema = self._alpha * c + self._one_minus_alpha * self.ema
        n_ema = len(self.ema_periods)
        ema_rel = self.ema[:, :n_ema] / c - 1.0
        line = self.ema[:, n_ema] - self.ema[:, n_ema + 1]
        a = self._sig_alpha
        self.signal = a * line + (1.0 - a) * self.signal

        typical = (high + low + close) / 3.0
        if new_session is not None:
            keep = ~torch.as_tensor(new_session, dtype=torch.bool, device=self.device)
            self.session_pv = self.session_pv * keep
            self.session_volume = self.session_volume * keep
        self.session_pv = self.session_pv + typical * volume
        self.session_volume = self.session_volume + volume
        has_vol = self.session_volume > 0
        vwap = torch.where(has_vol, self.session_pv / self.session_volume, typical)

        self.volumes[:, self._pos] = volume
        self._pos = (self._pos + 1) % self.relvol_window
        mean = self.volumes.sum(dim=1) / self.relvol_window
        relvol = torch.where(mean > 0, volume / mean, torch.ones_like(mean))

        self.features = torch.cat(
            [
                ret[:, None],
                ema_rel,
                (line / close)[:, None],
                (self.signal / close)[:, None],
                (vwap / close - 1.0)[:, None],
                relvol[:, None],
            ],
            dim=1,
        )
        return self.features


def online_offline_gap(
    bars: pd.DataFrame, params: Any, *, n_envs: int = 4, steps: int = 300, seed: int = 0
) -> float:
    """Largest |online - offline| feature difference when ``n_envs`` online paths, started at
    random points of ``bars``, are fed the following ``steps`` real bars (float64).

    ``params`` is a :class:`ilsim.params.FeatureParams`. A number near 1e-12 shows the
    simulator's features are the offline ones.
    """
    kw = {
        "ema_periods": params.ema_periods_bars,
        "macd": params.macd_bars,
        "relvol_window": params.relvol_window_bars,
    }
    offline = compute_features(bars, **kw).to_numpy()
    lo = warmup_bars(**kw)
    steps = min(steps, len(bars) - lo - 1)
    rng = np.random.default_rng(seed)
    starts = rng.integers(lo, len(bars) - steps, size=n_envs)
    online = OnlineFeatures.from_history(bars, starts, dtype=torch.float64, **kw)
    cols = {c: torch.tensor(bars[c].to_numpy()) for c in PRICE_COLUMNS}
    new_session = torch.tensor(session_start_mask(bars.index))
    gap = 0.0
    for k in range(1, steps + 1):
        i = torch.as_tensor(starts + k)
        out = online.step(*(cols[c][i] for c in PRICE_COLUMNS), new_session=new_session[i])
        gap = max(gap, float(np.nanmax(np.abs(out.numpy() - offline[starts + k]))))
    return gap
