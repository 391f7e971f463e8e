"""The import: a vendor file to canonical bars, with the report of what was read, kept and
repaired (the rules are in :mod:`ilsim.data`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ilsim.data.bars import (
    _day_counts,
)
from ilsim.data.rows import (
    BAR_COLUMNS,
    INDEX_NAME,
    PRICE_COLUMNS,
    _bar_columns,
    _check_order,
    _check_values,
    _numeric,
    _read_table,
)
from ilsim.data.sessions import (
    _changed_days,
    _changed_days_error,
    _mixed_days,
    _odd_days,
    _session_error,
)
from ilsim.data.times import (
    _DAY_NS,
    _LIST_MAX,
    DataImportError,
    _check_offsets,
    _more,
    _offset_tally,
    _parse_times,
    _show,
    _span,
    _time_values,
)

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

    def to_markdown(self, reference: Any = None) -> str:
        """Readable Markdown: the facts, the provenance (whether this file is the ``reference``
        data set, a ``params.ReferenceData``, when given), then every repair rule's count."""
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
        if reference is not None:
            lines += ["", provenance_markdown(self.sha256, reference)]
        return "\n".join(lines) + "\n"


DIFFERS = "your file differs from the one the reference was built from: numbers will differ"


def provenance_markdown(sha256: str, reference: Any) -> str:
    """The reference data set (vendor, span, rows, SHA-256) and whether this file is it."""
    verdict = (
        "**matches** the reference (same SHA-256): the tables should equal the tracked ones"
        if sha256 == reference.sha256
        else f"**differs** — {DIFFERS} (compare with `ilsim verify`)"
    )
    return (
        "## Provenance\n\n"
        f"The tracked reference outputs were built from `{reference.name}` ({reference.vendor}; "
        f"{reference.span}; {reference.rows:,} rows; SHA-256 `{reference.sha256}`). "
        f"This file {verdict}."
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
    # ... and days whose interval changes inside the day (1-minute bars, then 5-minute bars).
    changed = _changed_days(wall, day, interval)
    if changed.size:
        raise _changed_days_error(changed, interval, wall, day, rows[keep], path)

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
        source=Path(path).name,  # the name only: a report never holds a machine's folders
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
