"""Import, validate and store OHLCV bars in the one canonical form the rest of ilsim uses.

Canonical bars: a DataFrame indexed by a tz-aware ``DatetimeIndex`` named ``timestamp`` holding
each bar's START time (strictly increasing), with float64 columns ``open, high, low, close,
volume`` and no missing values; regular trading hours only; one bar interval (whole bars may be
missing). ``import_bars`` produces it from vendor files, ``save_bars``/``load_bars`` store it as
Parquet, ``validate_bars`` re-checks it.

Time rules of ``import_bars``. The time comes from the first of these columns found (any letter
case): ``datetime``, ``timestamp``, ``date`` + ``time`` together, ``time``, ``date``. When no
column holds the time, the index of a Parquet file is used: a datetime index under any name, or
an index named like a time column (``ts``, ``timestamp``, ...), or an index of date-time strings.

- Numbers are epoch times, always UTC, in seconds, milliseconds, microseconds or nanoseconds,
  told apart by magnitude (about 1.6e9 is seconds, 1.6e12 milliseconds, ...).
- Strings with a UTC offset (``...-04:00``, ``...Z``) and tz-aware datetimes are exact instants.
  A file may change its offset only as a time zone does (daylight saving: at night, months
  apart); offsets that change within a session or back and forth within days are "mixed UTC
  offsets", an error.
- Naive strings and naive datetimes are wall-clock times in ``source_tz`` (default: ``tz``).
- Stamps are then converted to ``tz``; the session (default 09:30-16:00) is read in ``tz``.

Every row of the file is checked. Rows that break a rule below raise ``DataImportError`` naming
the file, the row (1-based data row, header not counted) and the problem: unparseable or missing
time, missing columns, non-numeric values, some but not all prices missing, prices <= 0,
high < low, high < max(open, close), low > min(open, close), volume < 0, duplicated or unsorted
times, mixed UTC offsets, a session with no prices at all, no rows in the session.

File-level rules, also ``DataImportError``:

- More than ``max_outside_session`` (default 5 %) of the rows outside the session: the import
  stops, since this almost always means a time-zone mistake (naive UTC times read as New York
  times: set ``data.source_tz``); the message says what the times were read as and which
  reading would fit. A file with extended hours on purpose raises the share.
- Mixed bar intervals. The bar interval is the most common spacing between consecutive bars of a
  day over the whole file. Traded bars off its grid stop the import (the message counts them
  and names the first rows). So does a day whose own bars keep another interval (its most
  common spacing differs, every spacing is a multiple of it, most are equal to it, and it has
  at least 12 bars), even when its bars sit on the file's grid, e.g. 5-minute
  days in a 1-minute file: the message names the days, their intervals and rows. Nothing is
  resampled: split the file or resample it to one interval first.

Repair rules. Each is counted in ``ImportReport.repairs`` (always present, 0 when unused), so
nothing is dropped or invented silently:

- ``dropped_outside_session``: bars starting outside [session start, session end) are dropped,
  e.g. the vendor's flat 16:00 "closing print" bar.
- ``dropped_stray_prints``: rows off the bar grid (the bars' common offset from the session
  start, plus k x interval) that carry no volume (NaN or 0), e.g. a print stamped 09:35:37
  among 5-minute bars, are not bars: dropped.
- ``filled_missing_prices``: rows with all four prices missing become a flat bar at the previous
  bar's close in the same session (the next bar's open for the first bar), volume 0 if missing.
- ``filled_missing_volume``: rows with prices but no volume get volume 0.
- ``missing_bars_in_session``: not a repair but a count: whole-bar gaps inside a session are
  left as gaps (never filled). Bars missing before a day's first bar or after its last one are
  not counted (a short day cannot be told from a gap there).
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ilsim.data_checks import (
    _DAY_NS,
    _LIST_MAX,
    DataImportError,
    _bad_time,
    _check_offsets,
    _lookup,
    _mixed_days,
    _more,
    _odd_days,
    _offset_tally,
    _parse_times,
    _session_error,
    _show,
    _span,
    _time_values,
)

__all__ = [
    "BAR_COLUMNS",
    "REPAIR_RULES",
    "DataImportError",
    "ImportReport",
    "bars_per_day",
    "daily_from_intraday",
    "import_bars",
    "load_bars",
    "load_daily_csv",
    "save_bars",
    "session_ids",
    "validate_bars",
]


PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")


BAR_COLUMNS: tuple[str, ...] = (*PRICE_COLUMNS, "volume")


REPAIR_RULES: dict[str, str] = {
    "dropped_outside_session": "bars starting outside the session are dropped "
    "(e.g. the vendor's 16:00 closing-print bar)",
    "dropped_stray_prints": "rows off the bar grid with no volume (e.g. a print at 09:35:37) "
    "are not bars: dropped",
    "filled_missing_prices": "rows with no prices become a flat bar at the previous bar's close "
    "in the session (next bar's open for the first bar), volume 0",
    "filled_missing_volume": "rows with prices but no volume get volume 0",
    "missing_bars_in_session": "whole-bar gaps inside a session: counted, left as gaps",
}


_ALIASES: dict[str, tuple[str, ...]] = {
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c"),
    "volume": ("volume", "vol", "v"),
}


INDEX_NAME = "timestamp"


DAILY_INDEX_NAME = "date"


@dataclass
class ImportReport:
    """What ``import_bars`` read, kept and repaired, for the run's data report."""

    source: str
    sha256: str
    rows_read: int
    rows_kept: int
    first: pd.Timestamp
    last: pd.Timestamp
    interval: pd.Timedelta
    trading_days: int
    full_days: int
    short_days: int
    bars_per_full_day: int
    time_column: str
    time_format: str
    tz: str
    session: tuple[str, str]
    repairs: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REPAIR_RULES, 0))
    short_day_dates: list[str] = field(default_factory=list)

    def to_markdown(self) -> str:
        """Readable Markdown: the facts, then a table of every repair rule and its count."""
        minutes = self.interval / pd.Timedelta(minutes=1)
        facts = [
            ("Source", f"`{self.source}`"),
            ("SHA-256", f"`{self.sha256}`"),
            ("Time column", f"`{self.time_column}` ({self.time_format})"),
            ("Rows read / kept", f"{self.rows_read:,} / {self.rows_kept:,}"),
            ("First bar", str(self.first)),
            ("Last bar", str(self.last)),
            ("Bar interval", f"{minutes:g} min"),
            ("Session", f"{self.session[0]}-{self.session[1]} {self.tz}"),
            ("Trading days", f"{self.trading_days:,}"),
            ("Full days", f"{self.full_days:,} ({self.bars_per_full_day} bars)"),
            ("Short days", f"{self.short_days:,}"),
        ]
        lines = ["# Data import report", "", "| | |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in facts]
        lines += ["", "## Repairs", "", "| Rule | Count | What it does |", "|---|---:|---|"]
        lines += [f"| `{k}` | {n:,} | {REPAIR_RULES.get(k, '')} |" for k, n in self.repairs.items()]
        if self.short_day_dates:
            lines += ["", "Short days: " + ", ".join(self.short_day_dates)]
        return "\n".join(lines) + "\n"


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


def _session_ns(session: tuple[str, str]) -> tuple[int, int]:
    """Session ('HH:MM', 'HH:MM') as ns after midnight; start must precede end in one day."""
    try:
        start, end = (pd.Timedelta(f"{t}:00" if len(t) <= 5 else t) for t in session)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"session must be ('HH:MM', 'HH:MM'), got {session!r}") from exc
    if not pd.Timedelta(0) <= start < end <= pd.Timedelta(days=1):
        raise ValueError(f"session start must precede its end within one day, got {session!r}")
    return int(start.value), int(end.value)


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of the file, so a report (and the workflow's data stamp) pins the exact
    input."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _day_counts(day: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Unique days, bars per day and the modal count (ties go to the larger count)."""
    days, counts = np.unique(day, return_counts=True)
    values, freq = np.unique(counts, return_counts=True)
    modal = int(values[np.flatnonzero(freq == freq.max())[-1]])
    return days, counts, modal


def import_bars(
    path: str | Path,
    *,
    tz: str = "America/New_York",
    source_tz: str | None = None,
    session: tuple[str, str] = ("09:30", "16:00"),
    max_outside_session: float = 0.05,
) -> tuple[pd.DataFrame, ImportReport]:
    """Read a vendor CSV/Parquet of OHLCV bars into canonical bars plus an ImportReport.

    Epoch numbers are UTC; strings with offsets are exact; naive times are wall-clock times in
    ``source_tz`` (default: ``tz``). Only bars starting in [session start, session end) in
    ``tz`` are kept; when more than ``max_outside_session`` (a share, default 0.05) of the rows
    fall outside the session the import stops (a time-zone mistake, most likely). Repairs follow
    the module rules and are counted; anything else that is wrong raises ``DataImportError``
    naming the file, the row and the problem.
    """
    path = Path(path)
    session_ns = _session_ns(session)
    if not 0 <= max_outside_session <= 1:
        raise ValueError(
            f"max_outside_session must be a share in [0, 1], got {max_outside_session!r}"
        )
    source_tz = source_tz or tz
    for zone in (tz, source_tz):
        try:
            pd.Timestamp(0, tz=zone)
        except Exception as exc:  # pytz/zoneinfo raise different types
            raise ValueError(f"unknown time zone {zone!r}") from exc
    raw = _read_table(path)
    if raw.empty:
        raise DataImportError(path, "no data rows")
    n = len(raw)
    rows = np.arange(1, n + 1)
    cols = _bar_columns(raw, path)
    time_col, tvals = _time_values(raw, path)
    ns, skip, time_format, offsets = _parse_times(
        tvals, source_tz, session_ns, source_tz == tz, path
    )
    _check_offsets(offsets, ns, skip, tz, session_ns, tvals, rows, path)
    prices = np.column_stack([_numeric(raw, cols[k], k, path) for k in PRICE_COLUMNS])
    volume = _numeric(raw, cols["volume"], "volume", path)
    _check_values(prices, volume, rows, path)

    def at(pos: int) -> str:
        local = pd.Timestamp(int(ns[pos]), tz="UTC").tz_convert(tz)
        return f"{_show(tvals, pos)} ({local:%Y-%m-%d %H:%M:%S} {tz})"

    valid = np.flatnonzero(~skip)
    try:
        _check_order(ns[valid], rows[valid], lambda i: at(int(valid[i])), path)
    except DataImportError as err:  # say when the rows also mix UTC offsets
        tally = _offset_tally(offsets, skip)
        if not tally:
            raise
        note = f"; note: the file mixes UTC offsets: {tally}"
        raise DataImportError(path, err.problem + note, err.row) from None

    # Session filter on wall-clock time in tz; too many rows outside it is an error.
    utc = pd.DatetimeIndex(ns, tz="UTC")
    wall = utc.tz_convert(tz).tz_localize(None).asi8
    tod = wall % _DAY_NS
    inside = ~skip & (tod >= session_ns[0]) & (tod < session_ns[1])
    repairs = dict.fromkeys(REPAIR_RULES, 0)
    outside = int(n - inside.sum())
    repairs["dropped_outside_session"] = outside
    if not inside.any() or outside > max_outside_session * n:
        raise _session_error(
            path,
            n,
            outside,
            ns,
            skip,
            tz=tz,
            source_tz=source_tz,
            session=session,
            session_ns=session_ns,
            time_col=time_col,
            time_format=time_format,
            max_outside_session=max_outside_session,
            offsets=offsets,
        )
    keep = np.flatnonzero(inside)
    wall, tod, day = wall[keep], tod[keep], wall[keep] // _DAY_NS

    # Bar interval: modal positive spacing within a day, over the whole file.
    same_day = day[1:] == day[:-1]
    spacing = np.diff(wall)[same_day]
    if spacing.size == 0:
        raise DataImportError(path, "cannot detect the bar interval: no day has two bars")
    values, freq = np.unique(spacing, return_counts=True)
    interval = int(values[np.argmax(freq)])

    # Grid: session start + modal phase + k * interval. Off-grid rows: stray prints or an error.
    phase = (tod - session_ns[0]) % interval
    pv, pf = np.unique(phase, return_counts=True)
    off = phase != pv[np.argmax(pf)]
    if off.any():
        with np.errstate(invalid="ignore"):
            traded = volume[keep] > 0
        if (off & traded).any():
            odd = _odd_days(wall, day, interval)
            if odd.size:
                raise _mixed_days(odd, interval, day, rows[keep], path)
            bad = np.flatnonzero(off & traded)
            i = int(bad[0])
            after = f", {_span(wall[i] - wall[i - 1])} after the previous bar" if i > 0 else ""
            first = [str(rows[keep[k]]) for k in bad[:_LIST_MAX]]
            raise DataImportError(
                path,
                f"time {at(int(keep[i]))} is off the {_span(interval)} bar grid{after}: "
                f"mixed bar intervals (traded rows off the grid: {_more(first, bad.size)}; "
                "the grid is the file's most common spacing between bars)",
                int(rows[keep[i]]),
            )
        repairs["dropped_stray_prints"] = int(off.sum())
        keep, wall, day = keep[~off], wall[~off], day[~off]

    # Days on the file's grid whose own bars keep a coarser interval (5-min days in a 1-min file).
    odd = _odd_days(wall, day, interval)
    if odd.size:
        raise _mixed_days(odd, interval, day, rows[keep], path)

    same_day = day[1:] == day[:-1]
    steps = np.diff(wall)[same_day] // interval
    repairs["missing_bars_in_session"] = int((steps - 1).sum())

    # Repairs of missing values.
    px, vol = prices[keep], volume[keep].copy()
    empty = np.isnan(px).all(axis=1)
    if empty.any():
        day_key = pd.Series(day)
        prev_close = pd.Series(px[:, 3]).groupby(day_key).ffill()
        next_open = pd.Series(px[:, 0]).groupby(day_key).bfill()
        flat = prev_close.fillna(next_open).to_numpy()
        hopeless = empty & np.isnan(flat)
        if hopeless.any():
            i = int(np.argmax(hopeless))
            date = pd.Timestamp(int(day[i]) * _DAY_NS).date()
            raise DataImportError(
                path, f"the session of {date} has no prices at all", int(rows[keep[i]])
            )
        px[empty] = flat[empty, None]
        vol[empty & np.isnan(vol)] = 0.0
        repairs["filled_missing_prices"] = int(empty.sum())
    no_vol = np.isnan(vol)
    repairs["filled_missing_volume"] = int(no_vol.sum())
    vol[no_vol] = 0.0

    index = pd.DatetimeIndex(ns[keep], tz="UTC").tz_convert(tz).rename(INDEX_NAME)
    bars = pd.DataFrame(np.column_stack([px, vol]), index=index, columns=list(BAR_COLUMNS))
    days, counts, modal = _day_counts(day)
    short = counts < modal
    report = ImportReport(
        source=str(path),
        sha256=file_sha256(path),
        rows_read=n,
        rows_kept=len(bars),
        first=index[0],
        last=index[-1],
        interval=pd.Timedelta(interval, "ns"),
        trading_days=int(days.size),
        full_days=int((~short).sum()),
        short_days=int(short.sum()),
        bars_per_full_day=modal,
        time_column=time_col,
        time_format=time_format,
        tz=tz,
        session=(session[0], session[1]),
        repairs=repairs,
        short_day_dates=[str(pd.Timestamp(int(d) * _DAY_NS).date()) for d in days[short]],
    )
    return bars, report


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
