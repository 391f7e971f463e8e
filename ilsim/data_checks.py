"""The checks an imported file's time axis passes, with the error every import check raises
(:class:`DataImportError`, also importable from :mod:`ilsim.data`): finding and parsing the
time column or index (epochs, strings, UTC offsets), time zones and mixed offsets, and
sessions (bars outside the session, odd or mixed days), each failure named with its rows."""

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


def _inside_share(wall_ns: np.ndarray, session_ns: tuple[int, int]) -> float:
    """Share of wall-clock times whose time of day falls in the session."""
    tod = wall_ns % _DAY_NS
    return float(np.mean((tod >= session_ns[0]) & (tod < session_ns[1])))


def _best_shift(tod: np.ndarray, session_ns: tuple[int, int]) -> tuple[int, float]:
    """The clock shift (minutes, a multiple of 15 within a day) that puts the most times of day
    inside the session, and the share it puts there."""
    minute = (tod // (60 * 10**9)).astype(np.int64)
    hist = np.bincount(minute, minlength=1440)[:1440]
    lo, hi = session_ns[0] // (60 * 10**9), -(-session_ns[1] // (60 * 10**9))
    cum = np.concatenate([[0], np.cumsum(np.concatenate([hist, hist]))])
    best, share = 0, -1.0
    for shift in range(-12 * 60, 12 * 60 + 1, 15):
        start = (lo - shift) % 1440  # times of day that land in [lo, hi) once shifted
        inside = cum[start + hi - lo] - cum[start]
        if inside / tod.size > share + 1e-12:
            best, share = shift, inside / tod.size
    return best, float(share)


def _session_error(
    path: Path,
    n: int,
    outside: int,
    ns: np.ndarray,
    skip: np.ndarray,
    *,
    tz: str,
    source_tz: str,
    session: tuple[str, str],
    session_ns: tuple[int, int],
    time_col: str,
    time_format: str,
    max_outside_session: float,
    offsets: np.ndarray | None = None,
) -> DataImportError:
    """Too many rows outside the session: say so, and point at the time zone."""
    t = ns[~skip]
    if t.size == 0:  # every row is a daylight-saving gap or overlap time outside the session
        return DataImportError(path, f"no rows inside the session {session[0]}-{session[1]} {tz}")
    wall = pd.DatetimeIndex(t, tz="UTC").tz_convert(tz).tz_localize(None).asi8
    tod = wall % _DAY_NS
    lo, hi = _clock(tod.min()), _clock(tod.max())
    if outside == n:
        head = (
            f"no rows inside the session {session[0]}-{session[1]} {tz}: all {n} rows fall "
            f"outside it (their local times of day run from {lo} to {hi})"
        )
    else:
        head = (
            f"{outside:,} of {n:,} rows ({outside / n:.1%}) fall outside the session "
            f"{session[0]}-{session[1]} {tz}, more than data.max_outside_session allows "
            f"({max_outside_session:.0%}); their local times of day run from {lo} to {hi}"
        )
    if time_format.startswith("naive"):
        read_as = (
            f"the times in '{time_col}' have no UTC offset and were read as wall-clock times in "
            f"{source_tz} (data.source_tz" + (", default data.tz)" if source_tz == tz else ")")
        )
        fix = "set data.source_tz to the zone the vendor wrote the times in"
    else:
        read_as = (
            f"the times in '{time_col}' ({time_format}) carry their own zone, so "
            f"data.source_tz does not apply to them; the session is read in data.tz ({tz})"
        )
        fix = "check that data.tz is the exchange's zone and data.session its hours"
    utc_share = 0.0
    if time_format.startswith("naive") and source_tz != "UTC":
        src_wall = pd.DatetimeIndex(t, tz="UTC").tz_convert(source_tz).tz_localize(None)
        as_utc = src_wall.tz_localize("UTC").tz_convert(tz).tz_localize(None).asi8
        utc_share = _inside_share(as_utc, session_ns)
    shift, share = _best_shift(tod, session_ns)
    now = 1 - outside / n
    fits = share >= 1 - max_outside_session and share - now >= 0.75 * (1 - now)
    if utc_share >= 1 - max_outside_session:
        cause = (
            f"The likely cause is the time zone: {read_as}. Read as UTC, {utc_share:.1%} of the "
            "rows fall inside the session: if the file's times are UTC, set data.source_tz: UTC."
        )
    elif shift and fits:  # a clock shift explains (nearly) all the rows outside the session
        sign = "later" if shift > 0 else "earlier"
        cause = (
            f"The likely cause is the time zone: {read_as}. Moved {abs(shift) // 60}:"
            f"{abs(shift) % 60:02d} h {sign}, {share:.1%} of the rows would fall inside the "
            f"session: {fix}."
        )
    else:
        cause = (
            "No clock shift fits the rows into the session, so the file may hold pre- or "
            f"after-market bars; otherwise the time zone is wrong: {read_as}. To fix that, {fix}."
        )
    tally = _offset_tally(offsets, skip)
    if tally:
        cause += (
            f" The file mixes UTC offsets ({tally}): rows whose offset does not match their "
            "wall-clock time land outside the session."
        )
    return DataImportError(
        path,
        f"{head}. {cause} If the file holds pre- or after-market bars on purpose, set "
        "data.session to its hours, or raise data.max_outside_session to drop them (the "
        "dropped rows are counted in the import report).",
    )


def _odd_days(wall: np.ndarray, day: np.ndarray, interval: int) -> np.ndarray:
    """The days whose bars keep a bar interval of their own, other than ``interval``: one row
    (first position, last position, the day's interval in ns) per day, positions into ``wall``
    (which must be in time order).

    A day qualifies when it has at least ``_MIN_DAY_BARS`` bars, its most common spacing differs
    from ``interval``, every spacing is a multiple of it and at least 3/4 of them equal it (a
    regular grid of its own, not gaps in the file's grid)."""
    same = day[1:] == day[:-1]
    gaps = np.diff(wall)
    sd, sp = day[1:][same], gaps[same]
    if sp.size == 0:
        return np.zeros((0, 3), dtype=np.int64)
    order = np.lexsort((sp, sd))
    sd, sp = sd[order], sp[order]
    new = np.r_[True, (sd[1:] != sd[:-1]) | (sp[1:] != sp[:-1])]
    starts = np.flatnonzero(new)
    kd, ks = sd[starts], sp[starts]
    kc = np.diff(np.r_[starts, sd.size])
    pick = np.lexsort((ks, -kc, kd))  # per day: most frequent spacing first, ties: smallest
    kd, ks, kc = kd[pick], ks[pick], kc[pick]
    head = np.r_[True, kd[1:] != kd[:-1]]
    mode_day, mode, mode_n = kd[head], ks[head], kc[head]
    days, first, count = np.unique(day, return_index=True, return_counts=True)
    at = np.searchsorted(days, mode_day)
    n_gaps = count[at] - 1
    per = np.searchsorted(mode_day, sd)
    not_multiple = np.bincount(
        per, weights=(sp % mode[per] != 0).astype(np.float64), minlength=mode_day.size
    )
    odd = (
        (mode != interval)
        & (count[at] >= _MIN_DAY_BARS)
        & (not_multiple == 0)
        & (mode_n >= 0.75 * n_gaps)
    )
    start = first[at][odd]
    return np.column_stack([start, start + count[at][odd] - 1, mode[odd]]).astype(np.int64)


def _mixed_days(
    odd: np.ndarray, interval: int, day: np.ndarray, rows: np.ndarray, path: Path
) -> DataImportError:
    """The error for days whose bars keep another interval than the file's."""
    n_days = np.unique(day).size
    spans = sorted({_span(int(m)) for m in odd[:, 2]})
    listed = [
        f"{pd.Timestamp(int(day[a]) * _DAY_NS).date()} ({_span(int(m))}, rows {rows[a]}-{rows[b]})"
        for a, b, m in odd[:_LIST_MAX]
    ]
    n_rows = int((odd[:, 1] - odd[:, 0] + 1).sum())
    return DataImportError(
        path,
        f"mixed bar intervals: {len(odd)} of {n_days} trading days "
        f"{'has' if len(odd) == 1 else 'have'} bars "
        f"{' or '.join(spans)} apart ({n_rows:,} rows), the rest {_span(interval)} (the most "
        f"common spacing in the file): {_more(listed, len(odd))}. One file must hold one bar "
        "interval: import the days of each interval from separate files, or resample the "
        "finer bars to the coarser interval before importing",
        int(rows[odd[0, 0]]),
    )
