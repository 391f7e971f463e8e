"""Reading a vendor table and checking its rows: the column names vendors use, numeric
prices and volumes, price and order rules, each failure named with its row."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ilsim.data.times import (
    DataImportError,
    _lookup,
)

PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")


BAR_COLUMNS: tuple[str, ...] = (*PRICE_COLUMNS, "volume")


_ALIASES: dict[str, tuple[str, ...]] = {
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c"),
    "volume": ("volume", "vol", "v"),
}


INDEX_NAME = "timestamp"


DAILY_INDEX_NAME = "date"


def _read_table(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet file, turning every read failure into a DataImportError."""
    suffixes = [s.lower() for s in path.suffixes]
    if ".parquet" in suffixes or ".pq" in suffixes:
        kind = "Parquet"
    elif ".csv" in suffixes or ".txt" in suffixes:
        kind = "CSV"
    else:
        got = "".join(path.suffixes) or "none"
        raise DataImportError(path, f"unsupported file type '{got}' (expected .csv or .parquet)")
    if not path.exists():
        raise DataImportError(path, "file not found")
    if not path.is_file():
        raise DataImportError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise DataImportError(path, "file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if kind == "Parquet":
                return pd.read_parquet(path)
            return pd.read_csv(path, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DataImportError(path, "file is empty") from None
    except Exception as exc:  # any reader failure is a file problem for the user
        raise DataImportError(
            path, f"cannot read {kind} file: {type(exc).__name__}: {exc}"
        ) from exc


def _bar_columns(raw: pd.DataFrame, path: Path) -> dict[str, str]:
    """Map open/high/low/close/volume to the file's column names, or say what is missing."""
    found = {k: _lookup(raw, names, path) for k, names in _ALIASES.items()}
    missing = [k for k, v in found.items() if v is None]
    if missing:
        raise DataImportError(
            path,
            f"missing required columns {missing}; columns found: {[str(c) for c in raw.columns]}",
        )
    return {k: str(v) for k, v in found.items()}


def _numeric(raw: pd.DataFrame, col: str, name: str, path: Path) -> np.ndarray:
    """Column as float64; a value that is present but not a number is an error."""
    s = raw[col]
    if pd.api.types.is_bool_dtype(s.dtype) or not pd.api.types.is_numeric_dtype(s.dtype):
        num = pd.to_numeric(s, errors="coerce")
        bad = num.isna().to_numpy() & s.notna().to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataImportError(path, f"{name} {s.iloc[i]!r} is not a number", row=i + 1)
        s = num
    return s.to_numpy(dtype=np.float64, na_value=np.nan)


def _first(mask: np.ndarray, rows: np.ndarray) -> tuple[int, int, str]:
    """Position and file row of the first True, and a '(N rows in all)' note when N > 1."""
    hits = np.flatnonzero(mask)
    more = f" ({hits.size} rows in all)" if hits.size > 1 else ""
    return int(hits[0]), int(rows[hits[0]]), more


def _check_values(
    prices: np.ndarray, volume: np.ndarray, rows: np.ndarray, path: str | Path
) -> None:
    """Row checks on (n, 4) OHLC and volume: partial prices, sign, OHLC order, volume sign."""
    nan = np.isnan(prices)
    partial = nan.any(axis=1) & ~nan.all(axis=1)
    if partial.any():
        i, row, more = _first(partial, rows)
        gone = [c for c, m in zip(PRICE_COLUMNS, nan[i], strict=True) if m]
        raise DataImportError(path, f"prices partly missing: no {', '.join(gone)}{more}", row)
    with np.errstate(invalid="ignore"):
        nonpos = prices <= 0
        if nonpos.any():
            i, row, more = _first(nonpos.any(axis=1), rows)
            j = int(np.flatnonzero(nonpos[i])[0])
            raise DataImportError(
                path, f"{PRICE_COLUMNS[j]} {float(prices[i, j])!r} is not positive{more}", row
            )
        o, h, lo, c = prices.T
        top, bottom = np.maximum(o, c), np.minimum(o, c)
        checks = (
            (h < lo, lambda i: f"high {float(h[i])!r} is below low {float(lo[i])!r}"),
            (
                h < top,
                lambda i: f"high {float(h[i])!r} is below max(open, close) {float(top[i])!r}",
            ),
            (
                lo > bottom,
                lambda i: f"low {float(lo[i])!r} is above min(open, close) {float(bottom[i])!r}",
            ),
            (volume < 0, lambda i: f"volume {float(volume[i])!r} is negative"),
        )
        for mask, say in checks:
            if mask.any():
                i, row, more = _first(mask, rows)
                raise DataImportError(path, say(i) + more, row)


def _check_order(
    ns: np.ndarray, rows: np.ndarray, show: Callable[[int], str], path: str | Path
) -> None:
    """Times must be unique and increasing; the error shows both rows involved."""
    dup = pd.Index(ns).duplicated()
    back = np.zeros(ns.size, dtype=bool)
    back[1:] = np.diff(ns) < 0
    if dup.any() and (not back.any() or np.argmax(dup) <= np.argmax(back)):
        i = int(np.argmax(dup))
        j = int(np.flatnonzero(ns == ns[i])[0])
        raise DataImportError(path, f"time {show(i)} duplicates row {rows[j]}", int(rows[i]))
    if back.any():
        i = int(np.argmax(back))
        raise DataImportError(
            path,
            f"time {show(i)} is earlier than row {rows[i - 1]}'s {show(i - 1)} (rows must be "
            "in time order)",
            int(rows[i]),
        )
