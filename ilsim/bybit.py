"""Fetch crypto OHLCV klines from Bybit's public v5 REST API into canonical ilsim bars.

Optional: nothing in the pipeline calls this module; it is for users who bring crypto data.
``fetch_klines`` pages over a time range, ``to_bars`` turns the klines into canonical bars (see
``ilsim.data``), ``import_bybit`` does both and writes the canonical Parquet. Command line::

    python -m ilsim.bybit BTCUSDT 60 2024-01-01 2024-02-01 data/btcusdt_1h.parquet

API shape assumed (Bybit v5 docs, "Get Kline"); the code tolerates the details marked *:

- ``GET {base_url}/v5/market/kline`` with query ``category`` (spot|linear|inverse), ``symbol``
  (upper case), ``interval`` (1 3 5 15 30 60 120 240 360 720 D W M), ``start`` and ``end``
  (epoch ms, both inclusive on kline start times) and ``limit`` (1..1000, default 200).
- Reply ``{"retCode": 0, "retMsg": "OK", "result": {"category", "symbol", "list": [[startTime,
  open, high, low, close, volume, turnover], ...]}, "retExtInfo": {}, "time": ms}``; the values
  are strings, the list newest first. *Any row order is accepted (rows are sorted); ``turnover``
  may be absent; rows outside the requested range are ignored; duplicated start times keep the
  row fetched last.
- *Which ``limit`` rows a window holding more comes back with: documented practice is the newest
  ones (anchored at ``end``), so pages walk backwards; a page anchored at ``start`` is also
  handled, because every part of a window that a page did not cover is requested again. A
  server that returns fewer rows per page than ``limit`` is handled the same way.
- An empty page means the window holds no klines (before listing, after delisting, a gap):
  fetching that window stops cleanly and what was fetched so far is returned.
- Rate limits: HTTP 429 or ``retCode`` 10006 ("Too many visits"). The wait honours
  ``Retry-After`` (seconds or an HTTP date), else ``X-Bapi-Limit-Reset-Timestamp`` (epoch ms,
  against this machine's clock), else the back-off ``backoff * 2**attempt`` (deterministic, no
  jitter); every wait is capped at ``MAX_WAIT`` seconds. HTTP 5xx, timeouts and dropped
  connections are retried with the same back-off. HTTP 403 is Bybit's IP ban for exceeding the
  limit: not retried (waiting seconds does not lift it), reported clearly.
- The newest kline of a range reaching the present is still forming: ``closed_only`` (default)
  drops klines whose end lies after this machine's clock.

Volumes are as Bybit reports them: base coin for spot/linear, contracts (USD) for inverse.
Crypto trades 24/7, so bars are not session-filtered; with ``tz="UTC"`` a "day" is a UTC day.
"""

from __future__ import annotations

import argparse
import datetime as dt
import email.utils
import http.client
import json
import math
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ilsim.data import BAR_COLUMNS, INDEX_NAME, save_bars, validate_bars

__all__ = [
    "CATEGORIES",
    "INTERVALS",
    "KLINE_COLUMNS",
    "MAX_WAIT",
    "BybitError",
    "fetch_klines",
    "import_bybit",
    "main",
    "to_bars",
]

KLINE_PATH = "/v5/market/kline"
CATEGORIES: tuple[str, ...] = ("spot", "linear", "inverse")
_MINUTE_MS = 60_000
_DAY_MS = 86_400_000
#: Interval code -> shortest kline length in ms (a month is at least 28 days).
INTERVALS: dict[str, int] = {
    **{str(m): m * _MINUTE_MS for m in (1, 3, 5, 15, 30, 60, 120, 240, 360, 720)},
    "D": _DAY_MS,
    "W": 7 * _DAY_MS,
    "M": 28 * _DAY_MS,
}
KLINE_COLUMNS: tuple[str, ...] = ("start_ms", *BAR_COLUMNS, "turnover")
MAX_LIMIT = 1000
MAX_WAIT = 120.0  # seconds; cap on any single wait, whatever the server asks for
RATE_LIMIT_RET_CODE = 10006
_MIN_MS = 10**11  # 1973-03-03 in ms; smaller numbers look like epoch seconds
_MAX_MS = 10**14  # 5138 in ms
_RETRY_ERRORS = (
    TimeoutError,
    ConnectionResetError,
    ConnectionAbortedError,
    http.client.HTTPException,
)

Opener = Callable[..., Any]


class BybitError(RuntimeError):
    """A Bybit request that failed: names the request and, when known, retCode and retMsg."""

    def __init__(
        self,
        problem: str,
        *,
        url: str | None = None,
        ret_code: int | None = None,
        ret_msg: str | None = None,
        status: int | None = None,
    ) -> None:
        self.problem = problem
        self.url = url
        self.ret_code = ret_code
        self.ret_msg = ret_msg
        self.status = status
        super().__init__(str(self))

    def __str__(self) -> str:
        return self.problem if self.url is None else f"{self.problem} (request: GET {self.url})"

    def __reduce__(self) -> tuple:
        kw = {"url": self.url, "ret_code": self.ret_code, "ret_msg": self.ret_msg}
        return (_rebuild_error, (self.problem, kw, self.status))


def _rebuild_error(problem: str, kw: dict[str, Any], status: int | None) -> BybitError:
    """Unpickle helper for BybitError (keyword-only constructor)."""
    return BybitError(problem, status=status, **kw)


# --------------------------------------------------------------------------- arguments


def _to_ms(value: object, name: str) -> int:
    """A time as epoch ms: ints/digit strings are ms; naive datetimes and strings are UTC."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{name} must be a time (datetime, string or epoch ms), got {value!r}")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int | np.integer | float | np.floating):
        if not math.isfinite(float(value)) or float(value) != int(value):
            raise ValueError(f"{name} epoch ms must be a whole number, got {value!r}")
        ms = int(value)
        if not _MIN_MS <= ms < _MAX_MS:
            hint = " (looks like epoch seconds; pass milliseconds)" if 0 < ms < _MIN_MS else ""
            raise ValueError(f"{name} {value!r} is not a plausible epoch time in ms{hint}")
        return ms
    if isinstance(value, dt.date | dt.datetime | pd.Timestamp | str | np.datetime64):
        try:
            ts = pd.Timestamp(value.strip() if isinstance(value, str) else value)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{name} {value!r} cannot be parsed as a time: {exc}") from exc
        if ts is pd.NaT:
            raise ValueError(f"{name} {value!r} is not a time")
        ts = ts.tz_localize("UTC") if ts.tz is None else ts.tz_convert("UTC")
        return int(ts.as_unit("ns").value // 1_000_000)
    raise ValueError(f"{name} must be a datetime, a string or epoch ms, got {type(value).__name__}")


def _interval_code(interval: object) -> str:
    """Normalise an interval (1, "60", "d", "W") to Bybit's code, or raise ValueError."""
    code = str(interval).strip().upper()
    if code not in INTERVALS:
        raise ValueError(f"interval must be one of {list(INTERVALS)}, got {interval!r}")
    return code


def _kline_end_ms(start_ms: int, code: str) -> int:
    """End (exclusive) of the kline starting at ``start_ms``; months are calendar months."""
    if code == "M":
        ts = pd.Timestamp(start_ms, unit="ms", tz="UTC") + pd.DateOffset(months=1)
        return int(ts.as_unit("ms").value)
    return start_ms + INTERVALS[code]


# --------------------------------------------------------------------------- HTTP


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """A header value (case-insensitive), or None."""
    if headers is None:
        return None
    value = headers.get(name)
    if value is None:
        lowered = {str(k).lower(): v for k, v in headers.items()}
        value = lowered.get(name.lower())
    return None if value is None else str(value).strip()


def _server_wait(headers: Mapping[str, str] | None) -> float | None:
    """Seconds the server asks us to wait (Retry-After, then X-Bapi-Limit-Reset-Timestamp)."""
    retry_after = _header(headers, "Retry-After")
    if retry_after:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(retry_after)
            except (TypeError, ValueError):
                when = None
            if when is not None:
                if when.tzinfo is None:
                    when = when.replace(tzinfo=dt.UTC)
                return max(0.0, when.timestamp() - time.time())
    reset = _header(headers, "X-Bapi-Limit-Reset-Timestamp")
    if reset:
        try:
            return max(0.0, float(reset) / 1000.0 - time.time())
        except ValueError:
            return None
    return None


def _snippet(body: bytes, n: int = 200) -> str:
    """The start of a response body, for error messages."""
    text = body.decode("utf-8", errors="replace").strip()
    return repr(text[:n] + ("..." if len(text) > n else ""))


def _get_json(
    url: str,
    *,
    opener: Opener,
    timeout: float,
    max_retries: int,
    backoff: float,
    sleep: Callable[[float], object],
) -> dict[str, Any]:
    """GET ``url`` and return the JSON reply with retCode 0, retrying what is transient."""
    attempts = max_retries + 1
    last = ""
    for attempt in range(attempts):
        wait: float | None = None
        request = urllib.request.Request(
            url, headers={"Accept": "application/json", "User-Agent": "ilsim-bybit/1"}
        )
        try:
            with opener(request, timeout=timeout) as resp:
                status = int(getattr(resp, "status", None) or resp.getcode() or 200)
                headers = resp.headers
                body = resp.read()
        except urllib.error.HTTPError as exc:
            status, headers = int(exc.code), exc.headers
            try:
                body = exc.read() or b""
            except Exception:  # the error body is only used for messages
                body = b""
        except urllib.error.URLError as exc:
            if not isinstance(exc.reason, _RETRY_ERRORS):
                raise BybitError(f"cannot reach Bybit: {exc.reason}", url=url) from exc
            status, headers, body = 0, None, b""
            last = f"network error: {exc.reason!r}"
        except _RETRY_ERRORS as exc:
            status, headers, body = 0, None, b""
            last = f"network error: {exc!r}"

        if status == 200:
            try:
                payload = json.loads(body)
            except (ValueError, UnicodeDecodeError) as exc:
                raise BybitError(
                    f"reply is not JSON ({exc}); body starts {_snippet(body)}", url=url, status=200
                ) from exc
            if not isinstance(payload, dict) or "retCode" not in payload:
                raise BybitError(
                    f"reply has no retCode; body starts {_snippet(body)}", url=url, status=200
                )
            code, msg = payload.get("retCode"), str(payload.get("retMsg", ""))
            try:
                code = int(code)
            except (TypeError, ValueError):
                raise BybitError(f"reply has a non-integer retCode {code!r}", url=url) from None
            if code == 0:
                return payload
            if code != RATE_LIMIT_RET_CODE:
                raise BybitError(
                    f"Bybit error retCode {code}: {msg!r}",
                    url=url,
                    ret_code=code,
                    ret_msg=msg,
                    status=200,
                )
            last = f"rate limited (retCode {code}: {msg!r})"
            wait = _server_wait(headers)
        elif status == 429 or status >= 500:
            last = f"HTTP {status}" + (" (rate limited)" if status == 429 else "")
            if body:
                last += f", body {_snippet(body, 120)}"
            wait = _server_wait(headers)
        elif status == 403:
            raise BybitError(
                "HTTP 403 Forbidden: Bybit answers 403 when an IP exceeds its rate limit (a ban "
                "of several minutes) or from a region it does not serve; not retried; body "
                f"{_snippet(body, 120)}",
                url=url,
                status=403,
            )
        elif status != 0:
            raise BybitError(f"HTTP {status}; body starts {_snippet(body)}", url=url, status=status)

        if attempt == attempts - 1:
            break
        delay = backoff * 2.0**attempt if wait is None else wait
        sleep(min(float(delay), MAX_WAIT))
    raise BybitError(f"gave up after {attempts} attempts; last: {last}", url=url)


def _parse_rows(payload: dict[str, Any], url: str) -> list[tuple[float, ...]]:
    """Rows of ``result.list`` as (start_ms, open, high, low, close, volume, turnover)."""
    result = payload.get("result")
    if not isinstance(result, dict):
        raise BybitError(f"reply has no 'result' object (got {type(result).__name__})", url=url)
    rows = result.get("list")
    if rows is None:
        return []
    if not isinstance(rows, list):
        raise BybitError(f"'result.list' is not a list (got {type(rows).__name__})", url=url)
    out: list[tuple[float, ...]] = []
    for i, row in enumerate(rows):
        where = f"malformed kline row {i} {row!r}"
        if not isinstance(row, list | tuple) or len(row) < 6:
            raise BybitError(
                f"{where}: expected a list [startTime, o, h, l, c, volume, ...]", url=url
            )
        try:
            start = int(str(row[0]).strip())
        except ValueError:
            raise BybitError(f"{where}: startTime is not integer ms", url=url) from None
        if not _MIN_MS <= start < _MAX_MS:
            raise BybitError(f"{where}: startTime is not a plausible epoch time in ms", url=url)
        try:
            values = [float(v) for v in row[1:6]]
            turnover = float(row[6]) if len(row) > 6 and row[6] not in (None, "") else math.nan
        except (TypeError, ValueError):
            raise BybitError(f"{where}: a price or volume is not a number", url=url) from None
        if not all(math.isfinite(v) for v in values):
            raise BybitError(f"{where}: a price or volume is not finite", url=url)
        out.append((start, *values, turnover))
    return out


def _empty_klines() -> pd.DataFrame:
    """A klines frame with no rows and the right dtypes."""
    cols = {c: pd.Series(dtype=np.float64) for c in KLINE_COLUMNS}
    cols["start_ms"] = pd.Series(dtype=np.int64)
    return pd.DataFrame(cols)


# --------------------------------------------------------------------------- public API


def fetch_klines(
    symbol: str,
    interval: str | int,
    start: object,
    end: object,
    *,
    category: str = "linear",
    base_url: str = "https://api.bybit.com",
    limit: int = 1000,
    max_retries: int = 5,
    backoff: float = 0.5,
    timeout: float = 10.0,
    sleep: Callable[[float], object] = time.sleep,
    opener: Opener = urllib.request.urlopen,
    progress: bool = False,
    closed_only: bool = True,
) -> pd.DataFrame:
    """Klines of ``symbol`` whose start lies in [start, end], oldest first, one row per start.

    ``start``/``end``: datetimes, strings (naive = UTC) or epoch ms. Returns columns
    ``KLINE_COLUMNS`` (``start_ms`` int64 epoch ms, the rest float64) and ``attrs`` with the
    request facts. Raises ``BybitError`` for API errors, exhausted retries, malformed replies
    or pagination that does not finish within its page bound; ``ValueError`` for bad arguments.
    """
    symbol = str(symbol).strip().upper()
    if not symbol.isalnum():
        raise ValueError(f"symbol must be letters and digits like 'BTCUSDT', got {symbol!r}")
    code = _interval_code(interval)
    if category not in CATEGORIES:
        raise ValueError(f"category must be one of {list(CATEGORIES)}, got {category!r}")
    if not 1 <= int(limit) <= MAX_LIMIT:
        raise ValueError(f"limit must be in [1, {MAX_LIMIT}], got {limit!r}")
    if max_retries < 0 or backoff < 0 or timeout <= 0:
        raise ValueError("need max_retries >= 0, backoff >= 0 and timeout > 0")
    limit = int(limit)
    start_ms, end_ms = _to_ms(start, "start"), _to_ms(end, "end")
    if end_ms < start_ms:
        raise ValueError(f"end {end!r} is before start {start!r}")
    step = INTERVALS[code]
    n_max = (end_ms - start_ms) // step + 1  # most klines the range can hold
    endpoint = base_url.rstrip("/") + KLINE_PATH

    rows: dict[int, tuple[float, ...]] = {}
    windows = [(start_ms, end_ms)]  # parts of the range not yet covered; last is fetched next
    pages = empty_pages = 0
    page_size = 0  # most rows one page has held: the server's effective limit
    while windows:
        max_pages = 2 * math.ceil(n_max / (page_size or limit)) + 4
        if pages >= max_pages:
            raise BybitError(
                f"pagination did not finish within {max_pages} pages for {symbol} {code} "
                f"[{start_ms}, {end_ms}]: the server does not advance through the range"
            )
        ws, we = windows.pop()
        query = {
            "category": category,
            "symbol": symbol,
            "interval": code,
            "start": ws,
            "end": we,
            "limit": limit,
        }
        url = f"{endpoint}?{urllib.parse.urlencode(query)}"
        payload = _get_json(
            url,
            opener=opener,
            timeout=timeout,
            max_retries=max_retries,
            backoff=backoff,
            sleep=sleep,
        )
        page = _parse_rows(payload, url)
        pages += 1
        page_size = max(page_size, len(page))
        for r in page:
            if start_ms <= r[0] <= end_ms:
                rows[int(r[0])] = r  # later fetches win on duplicated start times
        inside = [int(r[0]) for r in page if ws <= r[0] <= we]
        if progress:
            span = f"{min(inside)}..{max(inside)}" if inside else "nothing in window"
            print(f"bybit {symbol} {code}: page {pages}: {len(page)} rows, {span}", file=sys.stderr)
        if not inside:  # an empty page: this window holds no klines, stop fetching it
            empty_pages += 1
            continue
        lo, hi = min(inside), max(inside)
        if hi + step <= we:  # room for a later kline above the page
            windows.append((hi + 1, we))
        if lo - step >= ws:  # room for an earlier kline below it: fetched next
            windows.append((ws, lo - 1))

    if not rows:
        out = _empty_klines()
    else:
        data = np.array([rows[k] for k in sorted(rows)], dtype=np.float64)
        out = pd.DataFrame(data, columns=list(KLINE_COLUMNS))
        out["start_ms"] = np.array(sorted(rows), dtype=np.int64)
    dropped_open = 0
    if closed_only and len(out):
        now_ms = time.time() * 1000.0
        last_end = _kline_end_ms(int(out["start_ms"].iloc[-1]), code)
        if last_end > now_ms:
            ends = np.array([_kline_end_ms(int(s), code) for s in out["start_ms"]])
            keep = ends <= now_ms
            dropped_open = int((~keep).sum())
            out = out.loc[keep].reset_index(drop=True)
    out.attrs.update(
        source="bybit",
        symbol=symbol,
        interval=code,
        category=category,
        start_ms=start_ms,
        end_ms=end_ms,
        pages=pages,
        empty_pages=empty_pages,
        dropped_open=dropped_open,
    )
    return out


def to_bars(klines: pd.DataFrame, tz: str = "UTC") -> pd.DataFrame:
    """Canonical bars (index = kline start in ``tz``) from ``fetch_klines`` output; validated."""
    missing = [c for c in ("start_ms", *BAR_COLUMNS) if c not in klines.columns]
    if missing:
        raise ValueError(f"klines lack columns {missing}; expected fetch_klines output")
    ms = klines["start_ms"].to_numpy(dtype=np.int64)
    index = pd.DatetimeIndex(ms * 1_000_000, tz="UTC").tz_convert(tz).rename(INDEX_NAME)
    values = klines[list(BAR_COLUMNS)].to_numpy(dtype=np.float64)
    bars = pd.DataFrame(values, index=index, columns=list(BAR_COLUMNS))
    bars = bars.sort_index(kind="stable")
    bars = bars[~bars.index.duplicated(keep="last")]
    validate_bars(bars, "<bybit klines>")
    return bars


def import_bybit(
    symbol: str,
    interval: str | int,
    start: object,
    end: object,
    out_path: str | Path,
    *,
    tz: str = "UTC",
    **kw: Any,
) -> pd.DataFrame:
    """Fetch klines (``kw`` goes to ``fetch_klines``), convert, ``save_bars`` to Parquet."""
    klines = fetch_klines(symbol, interval, start, end, **kw)
    if klines.empty:
        raise BybitError(
            f"Bybit returned no klines for {klines.attrs['symbol']} interval "
            f"{klines.attrs['interval']} ({klines.attrs['category']}) between {start} and {end}"
        )
    bars = to_bars(klines, tz=tz)
    save_bars(bars, out_path)
    return bars


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``python -m ilsim.bybit SYMBOL INTERVAL START END OUT``; prints a one-line summary."""
    p = argparse.ArgumentParser(
        prog="python -m ilsim.bybit",
        description="Fetch Bybit v5 klines into canonical ilsim bars (Parquet).",
    )
    p.add_argument("symbol", help="e.g. BTCUSDT")
    p.add_argument("interval", help=f"one of {' '.join(INTERVALS)}")
    p.add_argument("start", help="first kline start: ISO time (naive = UTC) or epoch ms")
    p.add_argument("end", help="last kline start (inclusive): ISO time or epoch ms")
    p.add_argument("out", help="output .parquet path")
    p.add_argument("--category", default="linear", choices=CATEGORIES)
    p.add_argument("--tz", default="UTC", help="time zone of the bar index (default UTC)")
    p.add_argument("--base-url", default="https://api.bybit.com")
    p.add_argument("--limit", type=int, default=1000, help="rows per request (1..1000)")
    p.add_argument("--max-retries", type=int, default=5)
    p.add_argument("--progress", action="store_true", help="print one line per page to stderr")
    args = p.parse_args(argv)
    try:
        bars = import_bybit(
            args.symbol,
            args.interval,
            args.start,
            args.end,
            args.out,
            tz=args.tz,
            category=args.category,
            base_url=args.base_url,
            limit=args.limit,
            max_retries=args.max_retries,
            progress=args.progress,
        )
    except (BybitError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"wrote {len(bars)} bars {args.symbol.upper()} {_interval_code(args.interval)} "
        f"{bars.index[0]} .. {bars.index[-1]} to {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
