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

Parts: ``importer`` (:func:`import_bars`, :class:`ImportReport`), its checks ``rows``,
``times`` and ``sessions``, and ``bars`` (canonical bars: validate, store, count by session);
every public name is importable from ``ilsim.data``.
"""

from ilsim.data.bars import (
    bar_minutes,
    bar_of_day,
    bars_per_day,
    daily_from_intraday,
    load_bars,
    load_daily_csv,
    save_bars,
    session_ids,
    validate_bars,
)
from ilsim.data.importer import (
    DIFFERS,
    REPAIR_RULES,
    ImportReport,
    file_sha256,
    import_bars,
    provenance_markdown,
)
from ilsim.data.rows import (
    BAR_COLUMNS,
    DAILY_INDEX_NAME,
    INDEX_NAME,
    PRICE_COLUMNS,
)
from ilsim.data.times import (
    DataImportError,
)

__all__ = [
    "DIFFERS",
    "BAR_COLUMNS",
    "DAILY_INDEX_NAME",
    "DataImportError",
    "INDEX_NAME",
    "ImportReport",
    "PRICE_COLUMNS",
    "REPAIR_RULES",
    "bar_minutes",
    "bar_of_day",
    "bars_per_day",
    "daily_from_intraday",
    "file_sha256",
    "provenance_markdown",
    "import_bars",
    "load_bars",
    "load_daily_csv",
    "save_bars",
    "session_ids",
    "validate_bars",
]
