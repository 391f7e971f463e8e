"""Canonical bars once imported: validated, stored as Parquet, and counted by session; the
daily closes of a daily file or of the bars."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ilsim.data.rows import (
    BAR_COLUMNS,
    DAILY_INDEX_NAME,
    INDEX_NAME,
    PRICE_COLUMNS,
    _bar_columns,
    _check_order,
    _check_values,
    _first,
    _numeric,
    _read_table,
)
from ilsim.data.times import (
    _DAY_NS,
    DataImportError,
    _bad_time,
    _lookup,
)


def _day_counts(day: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Unique days, bars per day and the modal count (ties go to the larger count)."""
    days, counts = np.unique(day, return_counts=True)
    values, freq = np.unique(counts, return_counts=True)
    modal = int(values[np.flatnonzero(freq == freq.max())[-1]])
    return days, counts, modal


def validate_bars(df: pd.DataFrame, path: str | Path = "<frame>") -> None:
    """Re-check the canonical invariants of bars; raise DataImportError naming ``path`` and row."""
    if not isinstance(df, pd.DataFrame):
        raise DataImportError(path, f"expected a pandas DataFrame, got {type(df).__name__}")
    if list(df.columns) != list(BAR_COLUMNS):
        raise DataImportError(path, f"columns must be {list(BAR_COLUMNS)}, got {list(df.columns)}")
    wrong = {c: str(t) for c, t in df.dtypes.items() if t != np.float64}
    if wrong:
        raise DataImportError(path, f"columns must be float64, got {wrong}")
    idx = df.index
    if not isinstance(idx, pd.DatetimeIndex) or idx.tz is None:
        raise DataImportError(path, "index must be a tz-aware DatetimeIndex")
    if idx.name != INDEX_NAME:
        raise DataImportError(path, f"index must be named {INDEX_NAME!r}, got {idx.name!r}")
    if df.empty:
        raise DataImportError(path, "no bars")
    rows = np.arange(1, len(df) + 1)
    values = df.to_numpy()
    nan = np.isnan(values)
    if nan.any():
        i, row, more = _first(nan.any(axis=1), rows)
        col = BAR_COLUMNS[int(np.argmax(nan[i]))]
        raise DataImportError(path, f"{col} is missing{more}", row)
    _check_values(values[:, :4], values[:, 4], rows, path)
    if idx.isna().any():
        i, row, _ = _first(np.asarray(idx.isna()), rows)
        raise DataImportError(path, "timestamp is missing", row)
    _check_order(idx.as_unit("ns").asi8, rows, lambda i: str(idx[i]), path)


def save_bars(df: pd.DataFrame, path: str | Path) -> None:
    """Validate canonical bars and write them to Parquet (tz, unit and dtypes round-trip)."""
    path = Path(path)
    validate_bars(df, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path)


def load_bars(path: str | Path) -> pd.DataFrame:
    """Read canonical bars written by ``save_bars`` and re-validate them."""
    path = Path(path)
    if path.suffix.lower() not in (".parquet", ".pq"):
        raise DataImportError(path, "canonical bars are Parquet (.parquet); use import_bars")
    df = _read_table(path)
    validate_bars(df, path)
    return df


def bar_of_day(index: pd.DatetimeIndex) -> np.ndarray:
    """Position of every bar in its session (0 = the day's first bar), counted (the simulator
    and the residuals' time of day; :mod:`ilsim.stylized_facts` reads it from the clock
    instead, for paths that may miss bars)."""
    ids = session_ids(index)
    return pd.Series(np.ones(len(ids))).groupby(ids).cumsum().to_numpy().astype(np.int64) - 1


def bar_minutes(bars: pd.DataFrame) -> float:
    """The bar interval in minutes (the most common spacing inside a session)."""
    diffs = pd.Series(bars.index[:5000]).diff().dt.total_seconds().to_numpy() / 60.0
    diffs = diffs[(diffs > 0) & (diffs < 60 * 6)]
    return float(pd.Series(diffs).mode().iloc[0])


def session_ids(index: pd.DatetimeIndex) -> np.ndarray:
    """An int per bar numbering its trading day (local calendar date) 0..D-1 in date order."""
    wall = index.tz_localize(None) if index.tz is not None else index
    day = wall.as_unit("ns").asi8 // _DAY_NS
    return np.unique(day, return_inverse=True)[1].astype(np.int64).reshape(-1)


def bars_per_day(df: pd.DataFrame) -> int:
    """Bars in a full trading day: the most common count per day (ties: the larger)."""
    return _day_counts(session_ids(df.index))[2]


def daily_from_intraday(df: pd.DataFrame) -> pd.DataFrame:
    """Aggregate canonical bars to daily OHLCV indexed by tz-naive dates (named ``date``)."""
    wall = df.index.tz_localize(None) if df.index.tz is not None else df.index
    dates = wall.as_unit("ns").normalize().rename(DAILY_INDEX_NAME)
    daily = df.groupby(dates, sort=True).agg(
        open=("open", "first"),
        high=("high", "max"),
        low=("low", "min"),
        close=("close", "last"),
        volume=("volume", "sum"),
    )
    return daily.astype(np.float64)


def load_daily_csv(path: str | Path) -> pd.DataFrame:
    """Read a Yahoo-style daily CSV (Date, Open, High, Low, Close, Adj Close, Volume) to daily
    OHLCV shaped like ``daily_from_intraday``; ``Close`` is used (split-adjusted), not Adj Close.
    """
    path = Path(path)
    raw = _read_table(path)
    if raw.empty:
        raise DataImportError(path, "no data rows")
    cols = _bar_columns(raw, path)
    dcol = _lookup(raw, ("date", "datetime", "day"), path)
    if dcol is None:
        raise DataImportError(
            path, f"no Date column; columns found: {[str(c) for c in raw.columns]}"
        )
    dates = raw[dcol].reset_index(drop=True)
    if dates.isna().any():
        raise DataImportError(path, "date is missing", int(np.argmax(dates.isna().to_numpy())) + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(dates.astype(str).str.strip(), format="ISO8601", errors="coerce")
    bad = parsed.isna().to_numpy()
    if bad.any():
        raise _bad_time(dates, bad, path, "cannot be parsed as a date")
    idx = pd.DatetimeIndex(parsed).as_unit("ns")
    if idx.tz is not None:
        idx = idx.tz_localize(None)
    idx = idx.normalize().rename(DAILY_INDEX_NAME)
    prices = np.column_stack([_numeric(raw, cols[k], k, path) for k in PRICE_COLUMNS])
    volume = _numeric(raw, cols["volume"], "volume", path)
    rows = np.arange(1, len(raw) + 1)
    nan = np.isnan(np.column_stack([prices, volume]))
    if nan.any():
        i, row, more = _first(nan.any(axis=1), rows)
        gone = [c for c, m in zip(BAR_COLUMNS, nan[i], strict=True) if m]
        raise DataImportError(path, f"missing {', '.join(gone)}{more}", row)
    _check_values(prices, volume, rows, path)
    _check_order(idx.asi8, rows, lambda i: repr(str(dates.iloc[i])), path)
    return pd.DataFrame(np.column_stack([prices, volume]), index=idx, columns=list(BAR_COLUMNS))
