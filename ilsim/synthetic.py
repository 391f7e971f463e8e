"""The embedded default market: seeded synthetic intraday bars with known regimes.

The default parameter set runs the whole pipeline with no data file. The generator draws a
calendar of regimes (bull: min→max, bear: max→min, sideways: a swing that returns to its
start), then intraday log returns with

* a regime drift (bull +, bear −, sideways a hump or a dip that comes back),
* stochastic volatility (an AR(1) log-volatility, so volatility clusters),
* Student-t innovations (heavy tails) and a U-shaped intraday volatility profile,
* a U-shaped intraday volume that rises with the size of the bar's move,

all vectorised (``scipy.signal.lfilter`` for the AR(1)). The regime calendar is returned as
extrema in the same form as the paper's Table 6, so segmentation treats both alike.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from ilsim.params import SyntheticParams

SESSION_MINUTES = 390


def _regime_calendar(p: SyntheticParams, rng: np.random.Generator) -> tuple[list[str], list[int]]:
    """Draw regime kinds and lengths in days; consecutive kinds join at consistent extrema."""
    kinds: list[str] = []
    at = "min"  # the kind of the extremum the next regime starts from
    for i in range(p.n_regimes):
        sideways = i > 0 and kinds[-1] != "sideways" and rng.random() < p.sideways_prob
        if sideways:
            kinds.append("sideways")
        else:
            kinds.append("bull" if at == "min" else "bear")
            at = "max" if at == "min" else "min"
    lo, hi = p.regime_days
    days = rng.integers(lo, hi + 1, size=p.n_regimes).tolist()
    return kinds, days


def intraday_u(x: np.ndarray, depth: float = 1.5) -> np.ndarray:
    """A U-shaped intraday profile over session position ``x`` in [0, 1], mean about 1."""
    u = 1.0 + depth * ((x - 0.5) / 0.5) ** 2
    return u / u.mean()


def generate_bars(p: SyntheticParams, seed: int = 0) -> tuple[pd.DataFrame, list[dict]]:
    """Generate canonical OHLCV bars and the extrema (``date``, ``kind``) of their regimes."""
    rng = np.random.default_rng(seed)
    kinds, days = _regime_calendar(p, rng)
    n_days = 1 + int(sum(days))  # day 0: a quiet warm-up day that ends at the first extremum
    per_day = SESSION_MINUTES // p.bar_minutes
    n = n_days * per_day

    dates = pd.bdate_range(p.start, periods=n_days)
    day_of_bar = np.repeat(np.arange(n_days), per_day)
    pos = np.tile(np.arange(per_day), n_days)
    x = (pos + 0.5) / per_day

    # Regime drift per bar: trending regimes move steadily; sideways swing out and back.
    drift_day = np.zeros(n_days)
    start = 1
    at = "min"
    for kind, d in zip(kinds, days, strict=True):
        if kind == "bull":
            drift_day[start : start + d] = p.daily_drift
            at = "max"
        elif kind == "bear":
            drift_day[start : start + d] = -p.daily_drift
            at = "min"
        else:  # out and back: up and down from a low, down and up from a high
            swing = 1.0 if at == "min" else -1.0
            half = d // 2
            drift_day[start : start + half] = swing * 0.5 * p.daily_drift
            drift_day[start + half : start + 2 * half] = -swing * 0.5 * p.daily_drift
        start += d
    drift = drift_day[day_of_bar] / per_day

    # Stochastic volatility: AR(1) in log-vol, scaled to the requested daily volatility.
    eta = rng.standard_normal(n) * p.vol_of_vol
    h = lfilter([1.0], [1.0, -p.vol_persistence], eta)
    h_var = p.vol_of_vol**2 / (1 - p.vol_persistence**2)
    sigma = p.daily_vol / np.sqrt(per_day) * np.exp(h - h_var) * intraday_u(x, 1.0)[pos]
    t = rng.standard_t(p.tail_df, size=n) / np.sqrt(p.tail_df / (p.tail_df - 2))
    r = drift + sigma * t
    gap = np.where(pos == 0, rng.standard_normal(n) * 0.25 * p.daily_vol, 0.0)
    gap[0] = 0.0

    log_close = np.log(p.start_price) + np.cumsum(gap + r)
    close = np.exp(log_close)
    open_ = np.exp(log_close - r)
    wick = np.abs(rng.standard_normal((2, n))) * sigma * 0.5
    high = np.maximum(open_, close) * np.exp(wick[0])
    low = np.minimum(open_, close) * np.exp(-wick[1])
    z = np.abs(r - drift) / sigma
    volume = np.round(
        p.base_volume
        * p.bar_minutes
        * intraday_u(x)[pos]
        * np.exp(0.35 * z)
        * rng.lognormal(0.0, 0.3, n)
    )

    times = pd.DatetimeIndex(dates[day_of_bar]).tz_localize("America/New_York") + pd.to_timedelta(
        9 * 60 + 30 + pos * p.bar_minutes, unit="min"
    )
    bars = pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume},
        index=pd.DatetimeIndex(times, name="timestamp"),
    )

    # Extrema: the close of day 0, then the close of each regime's last day.
    extrema = [{"date": dates[0].date(), "kind": "min"}]
    at = "min"
    for kind, last_day in zip(kinds, np.cumsum(days), strict=True):
        at = {"bull": "max", "bear": "min"}.get(kind, at)
        extrema.append({"date": dates[int(last_day)].date(), "kind": at})
    return bars, extrema
