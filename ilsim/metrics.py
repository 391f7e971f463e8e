"""Performance metrics of portfolio value paths (SPEC step 9; the paper's Tables 1–4).

Conventions, chosen where the paper is silent or inconsistent:

* **Path.** With ``initial_value`` given (the backtests pass the initial cash) the path is
  ``[initial_value, *values]``: the first bar's trade — and its fee — counts as a return and
  can open a drawdown. Without it the path is ``values`` itself.
* **Returns** are per-bar simple returns ``v[t] / v[t-1] - 1`` of that path.
* **Volatility** is their sample standard deviation (``ddof=1``, as pandas' ``.std()`` and
  FinRL-style backtests use), *not annualised*, as a fraction — the unit of the paper's Table 1
  (e.g. 0.00042). The paper's Table 4 reports the same quantity with a ``%`` sign (e.g.
  ``0.000271%``), which its magnitudes suggest is truly percent: ``volatility_pct`` is given
  beside it for that comparison. Fewer than two returns: 0.
* **Sharpe ratio** is ``mean / std`` of the per-bar returns, risk-free rate 0, not annualised
  (Table 1: 0.00077). It is 0 when the std is 0 (below ``1e-14``, i.e. float noise), e.g. a flat
  path. Table 4's IL Sharpe ratios (up to 0.18) are not consistent with its own returns and
  volatilities under this or any obvious definition; we do not try to match them.
* **Annualised** figures multiply by ``sqrt(bars_per_year)`` (see :func:`trading_bars_per_year`);
  NaN when ``bars_per_year`` is not given.
* **Max drawdown** is ``min_t (v[t] / max_{s<=t} v[s] - 1)`` in percent, as a negative number
  (Tables 1–2: ``-9.11``); 0 for a path that never falls. Table 4 prints magnitudes (positive).
* **Turnover** is ``sum(traded_notional) / initial value`` as a plain ratio, no percent (Table 3:
  ``0.0713789``); NaN when ``traded_notional`` is not given. The initial value is
  ``initial_value`` or else ``values[0]``.
* **Degenerate policy** (issue 9): one whose position does not change on at least
  :data:`DEGENERATE_THRESHOLD` (99 %) of a backtest's bars — a constant position (all in or all
  cash), whose seed average says nothing about behaviour. The position changes at bar ``t`` when
  the shares held after its trade differ from those after bar ``t - 1`` by more than
  :data:`POSITION_RTOL` relative to the larger of the two; before the first bar nothing is held,
  so an initial buy is a change.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "DEGENERATE_THRESHOLD",
    "METRIC_NAMES",
    "POSITION_RTOL",
    "backtest_rows",
    "compute_metrics",
    "exposure",
    "is_degenerate",
    "metrics_table",
    "position_change_fraction",
    "position_changes",
    "trading_bars_per_year",
]

METRIC_NAMES: tuple[str, ...] = (
    "final_value",
    "total_return_pct",
    "volatility",
    "volatility_pct",
    "sharpe_ratio",
    "volatility_annualised",
    "sharpe_annualised",
    "max_drawdown_pct",
    "turnover",
)

_STD_EPS = 1e-14  # a return std below this is float noise: the path is riskless, Sharpe is 0

DEGENERATE_THRESHOLD = 0.99  # share of bars without a position change: at least this, degenerate
POSITION_RTOL = 1e-6  # a holdings change below this (relative) is float noise, not a trade


def trading_bars_per_year(
    bar_minutes: float = 1.0, minutes_per_day: float = 390.0, days_per_year: float = 252.0
) -> float:
    """Bars in a trading year of regular sessions (1-minute bars: 98,280) — for annualising."""
    if bar_minutes <= 0:
        raise ValueError(f"bar_minutes must be positive, got {bar_minutes}")
    return days_per_year * minutes_per_day / bar_minutes


def compute_metrics(
    values: np.ndarray,
    traded_notional: np.ndarray | None = None,
    *,
    initial_value: float | None = None,
    bars_per_year: float | None = None,
) -> dict[str, float]:
    """Metrics of one portfolio value path (conventions in the module docstring).

    Parameters
    ----------
    values : array ``[T]``
        Portfolio value after each bar, finite and positive.
    traded_notional : array ``[T]``, optional
        Notional traded at each bar, for turnover.
    initial_value : float, optional
        Value before the first bar (the initial cash); prepended to the path.
    bars_per_year : float, optional
        For the annualised volatility and Sharpe ratio.

    Returns
    -------
    dict keyed by :data:`METRIC_NAMES`.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or len(v) == 0:
        raise ValueError(f"values must be a non-empty 1-D array, got shape {v.shape}")
    if initial_value is not None:
        v = np.concatenate(([float(initial_value)], v))
    if not np.all(np.isfinite(v)) or np.any(v <= 0):
        raise ValueError("values (and initial_value) must be finite and positive")

    returns = v[1:] / v[:-1] - 1.0
    if len(returns) >= 2:
        mean = float(returns.mean())
        std = float(returns.std(ddof=1))
    else:
        mean, std = (float(returns[0]) if len(returns) else 0.0), 0.0
    sharpe = mean / std if std > _STD_EPS else 0.0

    peak = np.maximum.accumulate(v)
    drawdown = float(min((v / peak - 1.0).min(), 0.0)) * 100.0 + 0.0  # + 0.0: no -0.0

    if traded_notional is None:
        turnover = float("nan")
    else:
        tn = np.asarray(traded_notional, dtype=np.float64)
        if tn.shape != np.shape(values):
            raise ValueError(f"traded_notional shape {tn.shape} != values shape {np.shape(values)}")
        turnover = float(tn.sum() / v[0])

    scale = float("nan") if bars_per_year is None else float(np.sqrt(bars_per_year))
    return {
        "final_value": float(v[-1]),
        "total_return_pct": (float(v[-1] / v[0]) - 1.0) * 100.0,
        "volatility": std,
        "volatility_pct": std * 100.0,
        "sharpe_ratio": sharpe,
        "volatility_annualised": std * scale,
        "sharpe_annualised": sharpe * scale,
        "max_drawdown_pct": drawdown,
        "turnover": turnover,
    }


def metrics_table(
    values: np.ndarray,
    traded_notional: np.ndarray | None = None,
    *,
    names: Sequence[str] | None = None,
    initial_value: float | None = None,
    bars_per_year: float | None = None,
) -> pd.DataFrame:
    """Metrics of ``K`` value paths ``[K, T]`` as a DataFrame, one row per strategy.

    ``names`` label the rows (default ``0 .. K-1``); the other arguments are those of
    :func:`compute_metrics`, applied row by row (``traded_notional`` is ``[K, T]``).
    """
    v = np.atleast_2d(np.asarray(values, dtype=np.float64))
    if v.ndim != 2:
        raise ValueError(f"values must be [K, T], got shape {v.shape}")
    tn = None if traded_notional is None else np.atleast_2d(np.asarray(traded_notional))
    if tn is not None and tn.shape != v.shape:
        raise ValueError(f"traded_notional shape {tn.shape} != values shape {v.shape}")
    index = list(range(len(v))) if names is None else list(names)
    if len(index) != len(v):
        raise ValueError(f"{len(index)} names for {len(v)} value paths")
    rows = [
        compute_metrics(
            v[k],
            None if tn is None else tn[k],
            initial_value=initial_value,
            bars_per_year=bars_per_year,
        )
        for k in range(len(v))
    ]
    frame = pd.DataFrame(rows, index=pd.Index(index, name="strategy"), columns=list(METRIC_NAMES))
    return frame


def position_changes(holdings: np.ndarray, rtol: float = POSITION_RTOL) -> np.ndarray:
    """Whether the position changes at each bar, ``[K, T]`` bools (or ``[T]`` for ``[T]``).

    Bar ``t`` changes when ``|h[t] - h[t-1]| > rtol * max(|h[t]|, |h[t-1]|)`` with ``h[-1] = 0``
    (the account starts in cash): a relative test, so share counts of any size compare alike.
    """
    h = np.asarray(holdings, dtype=np.float64)
    if h.ndim not in (1, 2) or h.shape[-1] == 0:
        raise ValueError(f"holdings must be [T] or [K, T] with T >= 1, got shape {h.shape}")
    if not np.all(np.isfinite(h)):
        raise ValueError("holdings must be finite")
    prev = np.concatenate([np.zeros_like(h[..., :1]), h[..., :-1]], axis=-1)
    return np.abs(h - prev) > rtol * np.maximum(np.abs(h), np.abs(prev))


def position_change_fraction(holdings: np.ndarray, rtol: float = POSITION_RTOL) -> np.ndarray:
    """Share of bars at which the position changes (:func:`position_changes`), per strategy.

    ``holdings`` ``[K, T]`` gives ``[K]``, ``[T]`` a scalar. Long-only scores ``1 / T``
    (its one buy), a policy that trades on every decision ``(T - 1) / T`` (a decision fills at
    the next close, so the first bar never changes the position).
    """
    return position_changes(holdings, rtol).mean(axis=-1)


def is_degenerate(
    frac: float | np.ndarray, threshold: float = DEGENERATE_THRESHOLD
) -> bool | np.ndarray:
    """Whether a policy is degenerate: its position stays put on at least ``threshold`` of the
    bars, i.e. ``frac`` (from :func:`position_change_fraction`) is at most ``1 - threshold``.

    A scalar gives a bool, an array a bool array of its shape.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    f = np.asarray(frac, dtype=np.float64)
    out = f <= (1.0 - threshold) + 1e-12  # tolerance: 1 - 0.99 is not exactly 0.01 in floats
    return bool(out) if out.ndim == 0 else out


def backtest_rows(
    values: np.ndarray,
    traded_notional: np.ndarray,
    holdings: np.ndarray,
    *,
    initial_value: float,
    bars_per_year: float,
    extra: pd.DataFrame | None = None,
) -> list[dict]:
    """One dict per path ``[K, T]`` of a batched backtest, the columns every backtest table
    shares: the metrics (:func:`metrics_table`), then ``extra``'s columns (one row per path),
    then the share of bars the position changed and whether the path is degenerate."""
    table = metrics_table(
        values, traded_notional, initial_value=initial_value, bars_per_year=bars_per_year
    )
    if extra is not None:
        if len(extra) != len(table):
            raise ValueError(f"extra has {len(extra)} rows for {len(table)} value paths")
        table = pd.concat([table, extra.set_axis(table.index)], axis=1)
    change = position_change_fraction(np.atleast_2d(holdings))
    degenerate = is_degenerate(change)
    return [
        {
            **table.iloc[i].to_dict(),
            "position_change_frac": float(change[i]),
            "degenerate": bool(degenerate[i]),
        }
        for i in range(len(table))
    ]


def exposure(holdings: np.ndarray, prices: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Time-averaged share of the account's value held in shares, per strategy (``[K, T]``
    arrays give ``[K]``): the position a constant benchmark must hold to match it (issue 15)."""
    h, v = np.atleast_2d(holdings), np.atleast_2d(value)
    share = np.divide(h * np.asarray(prices)[None], v, out=np.zeros_like(h), where=v > 0)
    return share.mean(axis=1)
