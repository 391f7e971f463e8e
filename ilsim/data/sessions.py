"""The session checks of an import: rows outside the session (with the time-zone reading that
would fit), and days whose bars keep another interval than the file's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ilsim.data.times import (
    _DAY_NS,
    _LIST_MAX,
    _MIN_DAY_BARS,
    DataImportError,
    _clock,
    _more,
    _offset_tally,
    _span,
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


def _changed_days(wall: np.ndarray, day: np.ndarray, interval: int) -> np.ndarray:
    """The days whose bar interval changes inside the day (issue 29: 1-minute bars for the
    first half hour, 5-minute bars after): one row (first position of the coarser part, its
    last position, its spacing in ns) per such part. A part qualifies when it runs from some
    bar to the day's last bar (or from the day's first bar to some bar), has at least
    ``_MIN_DAY_BARS`` bars, every spacing in it is a multiple of one coarser step ``g`` (a
    multiple ≥ 2 of ``interval``: a missing coarse bar leaves a gap of 2g) and at least 3/4 of
    them equal ``g`` — a grid of its own, which holes in the file's grid almost never make;
    the rest of the day keeps the file's interval (whole days of another interval are
    ``_odd_days``'). Only days that start or end on a coarser spacing are examined."""
    n = wall.size
    out: list[tuple[int, int, int]] = []
    if n < 2:
        return np.zeros((0, 3), dtype=np.int64)
    gaps = np.diff(wall)
    cut = np.flatnonzero(day[1:] != day[:-1]) + 1
    firsts, lasts = np.r_[0, cut], np.r_[cut - 1, n - 1]
    for f, last in zip(firsts, lasts, strict=True):
        if last - f + 1 < _MIN_DAY_BARS + 1:
            continue
        g_day = gaps[f:last]  # spacings of this day, in order
        for from_end in (True, False):
            seq = g_day[::-1] if from_end else g_day
            step = int(seq[0])
            if step <= interval or step % interval:
                continue
            fits = seq % step == 0
            k = int(np.argmin(fits)) if not fits.all() else seq.size  # spacings in the part
            if k == seq.size or k + 1 < _MIN_DAY_BARS or (seq[:k] == step).sum() < 0.75 * k:
                continue  # the whole day (``_odd_days``), too short, or holes, not a grid
            part = (last - k, last) if from_end else (f, f + k)
            out.append((part[0], part[1], step))
    return np.asarray(out, dtype=np.int64).reshape(-1, 3)


def _changed_days_error(
    changed: np.ndarray,
    interval: int,
    wall: np.ndarray,
    day: np.ndarray,
    rows: np.ndarray,
    path: Path,
) -> DataImportError:
    """The error for days whose bar interval changes inside the day: the day, the time of the
    change, both intervals and the rows of the coarser part."""
    listed = []
    for a, b, m in changed[:_LIST_MAX]:
        date = pd.Timestamp(int(day[a]) * _DAY_NS).date()
        later = a > 0 and day[a - 1] == day[a]  # the coarser bars come after the finer ones
        at = wall[a] if later else wall[b]
        clock = pd.Timestamp(int(at % _DAY_NS)).strftime("%H:%M")
        fine, coarse = _span(interval), _span(int(m))
        change = f"{fine} -> {coarse}" if later else f"{coarse} -> {fine}"
        listed.append(f"{date} at {clock} ({change}; rows {rows[a]}-{rows[b]} {coarse} apart)")
    return DataImportError(
        path,
        f"mixed bar intervals: the bar interval changes inside {len(changed)} trading "
        f"day{'s' if len(changed) > 1 else ''}, the rest of the file {_span(interval)} (the "
        f"most common spacing): {_more(listed, len(changed))}. One file must hold one bar "
        "interval: resample the finer bars to the coarser interval before importing",
        int(rows[changed[0, 0]]),
    )


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
