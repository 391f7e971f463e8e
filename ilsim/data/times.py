"""Finding and reading a file's time axis: the time column or index, epochs and strings, UTC
offsets and time zones, with the error every import check raises (:class:`DataImportError`)."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

_DATETIME_NAMES = ("datetime", "date_time", "timestamp", "time_stamp", "ts", "t")


_DAY_NS = 86_400 * 10**9


_UNIT_NS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}


_PLAUSIBLE_NS = (pd.Timestamp("1971-01-01").value, pd.Timestamp("2200-01-01").value)


_OFFSET_RE = r"(?:Z|[+-]\d{2}:?\d{2})$"


_TIME_NAMES = (*_DATETIME_NAMES, "time", "date", "day")


_MIN_DAY_BARS = 12  # a day needs this many bars before its own bar interval is judged


_OFFSET_DAYS = 7  # a time zone changes its UTC offset at most once in this many days


_LIST_MAX = 5  # how many days or rows an error lists before "... and N more"


class DataImportError(ValueError):
    """A bar file or frame that breaks a rule: names the file, the row and the problem.

    ``row`` is the 1-based data row (header not counted, so CSV line = row + 1), or None when
    the problem concerns the whole file.
    """

    def __init__(self, path: str | Path, problem: str, row: int | None = None) -> None:
        self.path = str(path)
        self.problem = problem
        self.row = None if row is None else int(row)
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.path}: " if self.row is None else f"{self.path}: row {self.row}: "
        return where + self.problem

    def __reduce__(self) -> tuple:
        return (type(self), (self.path, self.problem, self.row))


def _norm(name: object) -> str:
    """Column name for matching: lower case, runs of spaces/dashes/underscores as one '_'."""
    return re.sub(r"[\s\-_]+", "_", str(name).strip().lower())


def _lookup(raw: pd.DataFrame, names: tuple[str, ...], path: Path) -> str | None:
    """The column whose normalised name is the first of ``names`` present, or None."""
    by_norm: dict[str, list[str]] = {}
    for col in raw.columns:
        by_norm.setdefault(_norm(col), []).append(col)
    for name in names:
        hits = by_norm.get(name, [])
        if len(hits) > 1:
            raise DataImportError(path, f"ambiguous columns {hits} (same name up to case)")
        if hits:
            return hits[0]
    return None


def _index_times(raw: pd.DataFrame) -> tuple[str, pd.Series] | None:
    """The index as the time source (Parquet keeps one): a datetime index under any name, an
    index named like a time column, or an index of date-time strings; None when it holds none."""
    idx = raw.index
    if isinstance(idx, pd.RangeIndex):
        return None
    levels = [idx.get_level_values(k) for k in range(idx.nlevels)]

    def label(level: pd.Index) -> str:
        return f"{level.name} (index)" if level.name is not None else "(index)"

    for level in levels:
        if pd.api.types.is_datetime64_any_dtype(level.dtype):
            return label(level), pd.Series(level).reset_index(drop=True)
    for level in levels:
        if level.name is not None and _norm(level.name) in _TIME_NAMES:
            return label(level), pd.Series(level).reset_index(drop=True)
    for level in levels:
        if _looks_like_times(pd.Series(level)):
            return label(level), pd.Series(level).reset_index(drop=True)
    return None


def _looks_like_times(values: pd.Series) -> bool:
    """Whether strings look like dates with times (a sample of the first 50 is parsed)."""
    if not (pd.api.types.is_object_dtype(values.dtype) or pd.api.types.is_string_dtype(values)):
        return False
    sample = values.dropna().head(50)
    if sample.empty or not all(isinstance(v, str) for v in sample):
        return False
    text = sample.astype(str).str.strip()
    if not text.str.contains(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}.*\d{1,2}:\d{2}").all():
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bool(pd.to_datetime(text, errors="coerce", utc=True).notna().all())


def _no_time_column(raw: pd.DataFrame, path: Path) -> DataImportError:
    """The 'no time column' error, saying what the index (or an unnamed column) holds."""
    cols = [str(c) for c in raw.columns]
    notes = []
    idx = raw.index
    if isinstance(idx, pd.RangeIndex):
        notes.append("the index holds row numbers, not times")
    else:
        name = "unnamed" if idx.name is None else repr(str(idx.name))
        notes.append(f"the index ({name}, {idx.dtype}) does not hold times")
    for col in raw.columns:
        if (str(col).startswith("Unnamed:") or not str(col).strip()) and _looks_like_times(
            raw[col]
        ):
            notes.append(
                f"column {str(col)!r} holds times but has no name (an index saved to CSV "
                "without one?): name it 'datetime'"
            )
    return DataImportError(
        path,
        "no time column (expected one of datetime, timestamp, date+time, time, date, or a "
        f"Parquet index of times); columns found: {cols}; " + "; ".join(notes),
    )


def _time_values(raw: pd.DataFrame, path: Path) -> tuple[str, pd.Series]:
    """Pick the time column(s): name used and the values to parse (date+time joined); the
    index when no column holds the time."""
    col = _lookup(raw, _DATETIME_NAMES, path)
    if col is not None:
        return str(col), raw[col].reset_index(drop=True)
    dcol, tcol = _lookup(raw, ("date", "day"), path), _lookup(raw, ("time",), path)
    if dcol is not None and tcol is not None:
        d, t = raw[dcol], raw[tcol]
        dstr = d.dt.strftime("%Y-%m-%d") if pd.api.types.is_datetime64_any_dtype(d) else d
        if pd.api.types.is_timedelta64_dtype(t):
            t = (pd.Timestamp(0) + t).dt.strftime("%H:%M:%S")
        joined = dstr.astype(str).str.strip() + " " + t.astype(str).str.strip()
        joined[d.isna().to_numpy() | t.isna().to_numpy()] = None
        return f"{dcol}+{tcol}", joined.reset_index(drop=True)
    for name in ("time", "date", "day"):
        col = _lookup(raw, (name,), path)
        if col is not None:
            return str(col), raw[col].reset_index(drop=True)
    found = _index_times(raw)
    if found is not None:
        return found
    raise _no_time_column(raw, path)


def _show(values: pd.Series, i: int) -> str:
    """The raw time value of position ``i`` as the file holds it, for messages."""
    v = values.iloc[i]
    return repr(v) if isinstance(v, str) else str(v)


def _span(ns: int) -> str:
    """A duration as people write it: '5 min', '37 s', '1 day 02:00:00'."""
    td = pd.Timedelta(int(ns), "ns")
    if td % pd.Timedelta(minutes=1) == pd.Timedelta(0):
        return f"{td // pd.Timedelta(minutes=1)} min"
    if td % pd.Timedelta(seconds=1) == pd.Timedelta(0):
        return f"{td // pd.Timedelta(seconds=1)} s"
    return str(td)


def _clock(ns: int) -> str:
    """Nanoseconds after midnight as HH:MM:SS."""
    return str(pd.Timestamp(int(ns), unit="ns").time())


def _bad_time(values: pd.Series, bad: np.ndarray, path: Path, why: str) -> DataImportError:
    """The error for the first bad time value, with the raw value and how many rows are bad."""
    i = int(np.flatnonzero(bad)[0])
    more = f" ({int(bad.sum())} rows in all)" if bad.sum() > 1 else ""
    return DataImportError(path, f"time {_show(values, i)} {why}{more}", row=i + 1)


def _epoch(values: pd.Series, path: Path) -> tuple[np.ndarray, str]:
    """Epoch numbers (UTC) to int64 ns since 1970; the unit is told by magnitude."""
    num = pd.to_numeric(values, errors="coerce")
    bad = num.isna().to_numpy()
    if bad.any():
        raise _bad_time(values, bad, path, "is not a number (the column holds epoch times)")
    v = num.to_numpy()
    names = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}
    mag = float(np.median(np.abs(v)))
    unit = "s" if mag < 1e11 else "ms" if mag < 1e14 else "us" if mag < 1e17 else "ns"
    if np.issubdtype(v.dtype, np.integer):
        ns = v.astype(np.int64) * _UNIT_NS[unit]
        ok = np.abs(v) < np.iinfo(np.int64).max // _UNIT_NS[unit]
    else:
        f = v.astype(np.float64) * _UNIT_NS[unit]
        ok = np.abs(f) < 9e18
        ns = np.where(ok, np.round(f), 0).astype(np.int64)
    bad = ~ok | (ns < _PLAUSIBLE_NS[0]) | (ns >= _PLAUSIBLE_NS[1])
    if bad.any():
        raise _bad_time(values, bad, path, f"is not a plausible epoch time in {names[unit]}")
    return ns, f"epoch {names[unit]}, UTC"


def _localise(
    naive: pd.DatetimeIndex, source_tz: str, session_ns: tuple[int, int], same_tz: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Naive wall times in ``source_tz`` to UTC ns; DST-gap/overlap times flagged, not guessed.

    Returns (utc ns, skip mask: outside-session DST times to drop, error mask: in-session ones).
    """
    aware = naive.tz_localize(source_tz, ambiguous="NaT", nonexistent="NaT")
    nat = np.asarray(aware.isna())
    wall = naive.as_unit("ns").asi8 % _DAY_NS
    inside = (wall >= session_ns[0]) & (wall < session_ns[1])
    skip = nat & ~inside & same_tz
    ns = aware.as_unit("ns").asi8.copy()
    ns[nat] = 0
    return ns, skip, nat & ~skip


def _offset_minutes(s: pd.Series) -> np.ndarray:
    """The UTC offset each string ends with, in minutes east of UTC ('Z' is 0)."""
    found = s.str.extract("(" + _OFFSET_RE + ")", expand=False)
    table = {}
    for text in pd.unique(found):
        digits = str(text)[1:].replace(":", "")
        sign = -1 if str(text).startswith("-") else 1
        table[text] = 0 if text == "Z" else sign * (int(digits[:2]) * 60 + int(digits[2:4]))
    return found.map(table).to_numpy(dtype=np.int64)


def _parse_times(
    values: pd.Series, source_tz: str, session_ns: tuple[int, int], same_tz: bool, path: Path
) -> tuple[np.ndarray, np.ndarray, str, np.ndarray | None]:
    """Time values to UTC int64 ns; returns (ns, rows to drop as outside session, description,
    the UTC offset in minutes of each row for strings that carry one, else None)."""
    missing = values.isna().to_numpy()
    if missing.any():
        raise DataImportError(path, "time is missing", int(np.argmax(missing)) + 1)
    no_skip = np.zeros(len(values), dtype=bool)
    dtype = values.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        return pd.DatetimeIndex(values).as_unit("ns").asi8, no_skip, "tz-aware datetimes", None
    if pd.api.types.is_datetime64_dtype(dtype):
        naive = pd.DatetimeIndex(values)
        ns, skip, err = _localise(naive, source_tz, session_ns, same_tz)
        if err.any():
            raise _bad_time(values, err, path, f"does not exist or is ambiguous in {source_tz}")
        return ns, skip, f"naive datetimes in {source_tz}", None
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        ns, how = _epoch(values, path)
        return ns, no_skip, how, None
    s = values.astype(str).str.strip()
    if pd.to_numeric(s, errors="coerce").notna().mean() > 0.5:
        ns, how = _epoch(s, path)
        return ns, no_skip, how, None
    has_offset = s.str.contains(_OFFSET_RE, regex=True).to_numpy(dtype=bool)
    if has_offset.any() and not has_offset.all():
        odd = ~has_offset if has_offset.mean() >= 0.5 else has_offset
        what = "has no UTC offset" if has_offset.mean() >= 0.5 else "has a UTC offset"
        raise _bad_time(values, odd, path, f"{what}, unlike most rows (mixed naive and offset)")
    aware = bool(has_offset.all())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(s, format="ISO8601", errors="coerce", utc=aware)
        if parsed.isna().any():  # not ISO 8601: let pandas infer one format for the column
            parsed = pd.to_datetime(s, errors="coerce", utc=aware)
    bad = parsed.isna().to_numpy()
    if bad.any():
        raise _bad_time(values, bad, path, "cannot be parsed as a date and time")
    idx = pd.DatetimeIndex(parsed).as_unit("ns")
    if aware:
        ns, skip, how = idx.asi8, no_skip, "ISO strings with UTC offset"
    else:
        ns, skip, err = _localise(idx, source_tz, session_ns, same_tz)
        if err.any():
            raise _bad_time(values, err, path, f"does not exist or is ambiguous in {source_tz}")
        how = f"naive strings in {source_tz}"
    bad = ~skip & ((ns < _PLAUSIBLE_NS[0]) | (ns >= _PLAUSIBLE_NS[1]))
    if bad.any():
        raise _bad_time(values, bad, path, "is not a plausible date (before 1971 or after 2200)")
    return ns, skip, how, (_offset_minutes(s) if aware else None)


def _fmt_offset(minutes: int) -> str:
    """Minutes east of UTC as '+HH:MM'."""
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _more(items: list[str], total: int) -> str:
    """The listed items joined, with ', ... and N more' when the list was cut."""
    extra = f", ... and {total - len(items)} more" if total > len(items) else ""
    return ", ".join(items) + extra


def _mixed_offsets(
    i: int, j: int, why: str, offsets: np.ndarray, rows: np.ndarray, tvals: pd.Series, path: Path
) -> DataImportError:
    """The 'mixed UTC offsets' error for row position ``i`` against row position ``j``."""
    tally = _offset_tally(offsets)
    return DataImportError(
        path,
        f"mixed UTC offsets: time {_show(tvals, i)} has offset {_fmt_offset(int(offsets[i]))} "
        f"but row {rows[j]}'s {_show(tvals, j)} has {_fmt_offset(int(offsets[j]))} ({why}); "
        f"offsets in the file: {tally}. A time with an offset is an exact instant, and a file "
        "may change its offset only as a time zone does (daylight saving: at night, months "
        "apart): export the file with one offset (or in UTC), or drop the offsets and set "
        "data.source_tz to the zone of the wall-clock times",
        int(rows[i]),
    )


def _check_offsets(
    offsets: np.ndarray | None,
    ns: np.ndarray,
    skip: np.ndarray,
    tz: str,
    session_ns: tuple[int, int],
    tvals: pd.Series,
    rows: np.ndarray,
    path: Path,
) -> None:
    """Offsets may change only as a time zone's do: never twice within ``_OFFSET_DAYS`` days,
    and between two bars of one session only as a daylight-saving change does (the instants
    run on while the written clock jumps: 01:59-05:00 then 03:00-04:00, or 01:59-04:00 then
    01:00-05:00)."""
    if offsets is None:
        return
    pos = np.flatnonzero(~skip)
    off, t = offsets[pos], ns[pos]
    if np.unique(off).size < 2:
        return
    wall = pd.DatetimeIndex(t, tz="UTC").tz_convert(tz).tz_localize(None).asi8
    tod, day = wall % _DAY_NS, wall // _DAY_NS
    inside = (tod >= session_ns[0]) & (tod < session_ns[1])
    change = np.flatnonzero(off[1:] != off[:-1]) + 1  # positions whose offset differs
    step = t[change] - t[change - 1]  # between the instants
    written = step + (off[change] - off[change - 1]) * 60 * 10**9  # between the clock times
    # time runs on while the written clock jumps ahead (spring) or back (fall): DST
    dst_like = (step > 0) & ((step <= written) | (written <= 0))
    same = (day[change] == day[change - 1]) & inside[change] & inside[change - 1] & ~dst_like
    if same.any():
        k = int(change[np.argmax(same)])
        raise _mixed_offsets(
            int(pos[k]), int(pos[k - 1]), "in the same session", offsets, rows, tvals, path
        )
    if change.size > 1:
        gap = np.abs(np.diff(t[change]))
        close = gap < _OFFSET_DAYS * _DAY_NS
        if close.any():
            k = int(np.argmax(close))
            a, b = int(change[k]), int(change[k + 1])
            hours = gap[k] / (3600 * 10**9)
            later = f"{hours:.1f} hours" if hours < 48 else f"{hours / 24:.1f} days"
            raise _mixed_offsets(
                int(pos[a]),
                int(pos[a - 1]),
                f"and changes again {later} later, at row {rows[pos[b]]}",
                offsets,
                rows,
                tvals,
                path,
            )


def _offset_tally(offsets: np.ndarray | None, skip: np.ndarray | None = None) -> str:
    """'-05:00 (9 rows), +00:00 (3 rows)' when the rows carry more than one offset, else ''."""
    if offsets is None:
        return ""
    found, counts = np.unique(offsets if skip is None else offsets[~skip], return_counts=True)
    if found.size < 2:
        return ""
    return ", ".join(
        f"{_fmt_offset(int(o))} ({c:,} rows)" for o, c in zip(found, counts, strict=True)
    )
