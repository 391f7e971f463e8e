"""Tests for ilsim.bybit against a local fake of Bybit's v5 kline endpoint (no internet)."""

from __future__ import annotations

import io
import json
import math
import pickle
import threading
import time
import urllib.error
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ilsim.bybit import (
    KLINE_COLUMNS,
    MAX_WAIT,
    BybitError,
    fetch_klines,
    import_bybit,
    main,
    to_bars,
)
from ilsim.data import BAR_COLUMNS, DataImportError, load_bars, validate_bars

ORIGIN_MS = 1_709_251_200_000  # 2024-03-01 00:00:00 UTC
STEP_MS = 60_000  # interval "1"
N = 337  # klines in the synthetic series: 7 pages of 50, the last one short
LAST_MS = ORIGIN_MS + (N - 1) * STEP_MS


def kline(i: int) -> list[str]:
    """Row i of the synthetic 1-minute series in Bybit's string form."""
    o = 100.0 + 0.1 * i + 0.3 * (i % 7)
    c = o + 0.05 * ((i % 5) - 2)
    h, lo = max(o, c) + 0.2, min(o, c) - 0.15
    v = 10.0 + i % 13
    return [str(ORIGIN_MS + i * STEP_MS)] + [f"{x:.4f}" for x in (o, h, lo, c, v, v * c)]


SERIES = [kline(i) for i in range(N)]


def expected(first_ms: int = ORIGIN_MS, last_ms: int = LAST_MS) -> pd.DataFrame:
    """The synthetic klines with start in [first_ms, last_ms], as fetch_klines should return."""
    rows = [r for r in SERIES if first_ms <= int(r[0]) <= last_ms]
    df = pd.DataFrame([[float(x) for x in r] for r in rows], columns=list(KLINE_COLUMNS))
    df["start_ms"] = df["start_ms"].astype(np.int64)
    return df


class FakeBybit:
    """State of the fake server: paging mode, scripted replies, the log of queries."""

    def __init__(self) -> None:
        self.mode = "end"  # end | start | sloppy | trickle | cap
        self.script: list[tuple[Any, ...] | None] = []  # consumed one per request
        self.queries: list[dict[str, str]] = []
        self.url = ""

    def reply(self, path: str, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body for one request."""
        self.queries.append(query)
        action = self.script.pop(0) if self.script else None
        if path != "/v5/market/kline":
            return 404, {}, b"not found"
        if action is not None:
            kind = action[0]
            if kind == "http":  # ("http", status, headers, body bytes)
                return action[1], action[2], action[3]
            if kind == "ret":  # ("ret", retCode, retMsg, headers)
                return 200, action[3], self._json(action[1], action[2], [])
            if kind == "empty":
                return 200, {}, self._json(0, "OK", [])
            if kind == "rows":  # ("rows", list of rows)
                return 200, {}, self._json(0, "OK", action[1])
        return 200, {}, self._json(0, "OK", self._page(query))

    def _page(self, q: dict[str, str]) -> list[list[str]]:
        """The documented behaviour: at most ``limit`` klines of [start, end], newest first."""
        limit = min(int(q.get("limit", 200)), 1000)
        lo, hi = int(q.get("start", 0)), int(q.get("end", 10**15))
        if self.mode == "sloppy":  # overlap: one extra kline each side of the window
            lo, hi = lo - STEP_MS, hi + STEP_MS
        rows = [r for r in SERIES if lo <= int(r[0]) <= hi]
        if self.mode == "trickle" and len(self.queries) > 1:
            limit = 1
        if self.mode == "cap":  # a server whose pages are shorter than the limit asked for
            limit = min(limit, 30)
        rows = rows[:limit] if self.mode == "start" else rows[-limit:]
        return rows[::-1]

    @staticmethod
    def _json(code: int, msg: str, rows: list[list[str]]) -> bytes:
        result = {"category": "linear", "symbol": "BTCUSDT", "list": rows} if code == 0 else {}
        payload = {
            "retCode": code,
            "retMsg": msg,
            "result": result,
            "retExtInfo": {},
            "time": 1_709_300_000_000,
        }
        return json.dumps(payload).encode()


def make_handler(fake: FakeBybit) -> type[BaseHTTPRequestHandler]:
    """A request handler class serving ``fake``."""

    class Handler(BaseHTTPRequestHandler):
        timeout = 5

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            parts = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(parts.query))
            status, headers, body = fake.reply(parts.path, query)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    return Handler


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep urllib from sending 127.0.0.1 requests through any proxy of the environment."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")


@pytest.fixture
def fake() -> Iterator[FakeBybit]:
    """A running fake Bybit on 127.0.0.1 (ephemeral port), shut down after the test."""
    state = FakeBybit()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def fetch(fake: FakeBybit, sleeps: list[float] | None = None, **kw: Any) -> pd.DataFrame:
    """fetch_klines of the whole synthetic series from the fake, limit 50, recorded sleeps."""
    args = {
        "start": ORIGIN_MS,
        "end": LAST_MS,
        "limit": 50,
        "base_url": fake.url,
        "sleep": (sleeps if sleeps is not None else []).append,
        "timeout": 5.0,
    }
    args.update(kw)
    return fetch_klines("BTCUSDT", "1", args.pop("start"), args.pop("end"), **args)


def assert_klines(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Same rows, sorted unique start times, prices equal to the synthetic series."""
    assert list(got.columns) == list(KLINE_COLUMNS)
    assert got["start_ms"].dtype == np.int64
    assert got["start_ms"].is_monotonic_increasing and got["start_ms"].is_unique
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True))


# --------------------------------------------------------------------------- pagination


def test_pages_backwards_over_the_whole_range(fake: FakeBybit) -> None:
    sleeps: list[float] = []
    got = fetch(fake, sleeps)
    assert len(got) == N
    assert_klines(got, expected())
    assert sleeps == []
    assert len(fake.queries) == math.ceil(N / 50)  # 7 pages, no wasted request
    q = fake.queries[0]
    assert (q["category"], q["symbol"], q["interval"], q["limit"]) == (
        "linear",
        "BTCUSDT",
        "1",
        "50",
    )
    assert (int(q["start"]), int(q["end"])) == (ORIGIN_MS, LAST_MS)
    ends = [int(q["end"]) for q in fake.queries]
    assert ends == sorted(ends, reverse=True)  # each page moves the window back
    assert got.attrs["pages"] == 7 and got.attrs["symbol"] == "BTCUSDT"


def test_sub_range_with_strings_and_datetimes(fake: FakeBybit) -> None:
    start = "2024-03-01 00:10:30"  # naive: UTC; off the grid, so the first kline is 00:11
    end = pd.Timestamp("2024-03-01 03:00", tz="Europe/Berlin").to_pydatetime()  # 02:00 UTC
    got = fetch(fake, start=start, end=end)
    first, last = ORIGIN_MS + 11 * STEP_MS, ORIGIN_MS + 120 * STEP_MS
    assert len(got) == 110
    assert_klines(got, expected(first, last))
    got2 = fetch(fake, start=str(first), end="2024-03-01T02:00:00Z")
    assert_klines(got2, expected(first, last))


def test_range_beyond_the_data_stops_cleanly(fake: FakeBybit) -> None:
    got = fetch(fake, start=ORIGIN_MS - 500 * STEP_MS, end=LAST_MS + 500 * STEP_MS)
    assert_klines(got, expected())
    assert len(fake.queries) <= math.ceil(N / 50) + 3


@pytest.mark.parametrize("mode", ["start", "sloppy"])
def test_tolerates_start_anchored_and_overlapping_pages(fake: FakeBybit, mode: str) -> None:
    fake.mode = mode
    got = fetch(fake)
    assert_klines(got, expected())
    assert len(fake.queries) <= math.ceil(N / 49) + 2


def test_one_page_and_pages_shorter_than_limit(fake: FakeBybit) -> None:
    assert_klines(fetch(fake, limit=1000), expected())
    assert len(fake.queries) == 1
    fake.queries.clear()
    fake.mode = "cap"
    assert_klines(fetch(fake, limit=50), expected())
    assert len(fake.queries) == math.ceil(N / 30)


def test_empty_page_stops_with_what_was_fetched(
    fake: FakeBybit, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.script = [None, None, ("empty",)]
    got = fetch(fake, progress=True)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3 and lines[0].startswith("bybit BTCUSDT 1: page 1: 50 rows")
    assert lines[2].endswith("nothing in window")
    assert len(fake.queries) == 3
    assert_klines(got, expected(LAST_MS - 99 * STEP_MS, LAST_MS))  # the newest 100
    assert got.attrs["empty_pages"] == 1


def test_page_bound_stops_a_server_that_does_not_advance(fake: FakeBybit) -> None:
    fake.mode = "trickle"  # a full first page, then one kline per page
    with pytest.raises(BybitError, match="pagination did not finish"):
        fetch(fake)
    assert len(fake.queries) <= 2 * math.ceil(N / 50) + 4


# --------------------------------------------------------------------------- retries


def test_429_with_retry_after_then_success(fake: FakeBybit) -> None:
    fake.script = [None, ("http", 429, {"Retry-After": "2"}, b"Too Many Requests")]
    sleeps: list[float] = []
    got = fetch(fake, sleeps)
    assert sleeps == [2.0]
    assert_klines(got, expected())
    assert len(fake.queries) == math.ceil(N / 50) + 1
    assert fake.queries[1] == fake.queries[2]  # the same page asked again


def test_ret_code_10006_backs_off_exponentially(fake: FakeBybit) -> None:
    fake.script = [("ret", 10006, "Too many visits!", {}), ("ret", 10006, "Too many visits!", {})]
    sleeps: list[float] = []
    got = fetch(fake, sleeps, backoff=0.25)
    assert sleeps == [0.25, 0.5]
    assert_klines(got, expected())


def test_ret_code_10006_honours_limit_reset_header(fake: FakeBybit) -> None:
    reset = str(int(time.time() * 1000) + 3000)
    fake.script = [("ret", 10006, "Too many visits!", {"X-Bapi-Limit-Reset-Timestamp": reset})]
    sleeps: list[float] = []
    assert_klines(fetch(fake, sleeps), expected())
    assert len(sleeps) == 1 and 1.5 < sleeps[0] <= 3.0


def test_huge_retry_after_is_capped(fake: FakeBybit) -> None:
    fake.script = [("http", 503, {"Retry-After": "100000"}, b"")]
    sleeps: list[float] = []
    assert_klines(fetch(fake, sleeps), expected())
    assert sleeps == [MAX_WAIT]


def test_persistent_500_gives_up_clearly(fake: FakeBybit) -> None:
    fake.script = [("http", 500, {}, b"internal error")] * 10
    sleeps: list[float] = []
    with pytest.raises(BybitError) as info:
        fetch(fake, sleeps, max_retries=3, backoff=0.5)
    assert sleeps == [0.5, 1.0, 2.0]
    assert len(fake.queries) == 4
    msg = str(info.value)
    assert "gave up after 4 attempts" in msg and "HTTP 500" in msg
    assert "/v5/market/kline?" in msg and "symbol=BTCUSDT" in msg


def test_timeout_is_retried(fake: FakeBybit) -> None:
    import urllib.request

    calls = {"n": 0}

    def flaky(request: Any, timeout: float) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise urllib.error.URLError(TimeoutError("timed out"))
        if calls["n"] == 2:
            raise TimeoutError("The read operation timed out")
        return urllib.request.urlopen(request, timeout=timeout)

    sleeps: list[float] = []
    assert_klines(fetch(fake, sleeps, opener=flaky, backoff=1.0), expected())
    assert sleeps == [1.0, 2.0]


# --------------------------------------------------------------------------- errors


def test_api_error_names_ret_code_message_and_request(fake: FakeBybit) -> None:
    fake.script = [("ret", 10001, "params error", {})]
    sleeps: list[float] = []
    with pytest.raises(BybitError) as info:
        fetch(fake, sleeps)
    err = info.value
    assert (err.ret_code, err.ret_msg) == (10001, "params error")
    assert "retCode 10001" in str(err) and "params error" in str(err)
    assert "GET http://127.0.0.1:" in str(err) and "interval=1" in str(err)
    assert sleeps == [] and len(fake.queries) == 1
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == str(err) and again.ret_code == 10001


def test_http_403_is_not_retried(fake: FakeBybit) -> None:
    fake.script = [("http", 403, {}, b"access too frequent")]
    sleeps: list[float] = []
    with pytest.raises(BybitError, match="HTTP 403"):
        fetch(fake, sleeps)
    assert sleeps == [] and len(fake.queries) == 1


@pytest.mark.parametrize(
    ("action", "match"),
    [
        (("rows", [["1709251200000", "1", "2", "0.5"]]), "malformed kline row 0"),
        (("rows", [["1709251200000", "1", "abc", "0.5", "1", "3", "4"]]), "not a number"),
        (("rows", [["17092512", "1", "2", "0.5", "1", "3", "4"]]), "startTime"),
        (("rows", [["x", "1", "2", "0.5", "1", "3", "4"]]), "startTime"),
        (("rows", ["not a list"]), "malformed kline row 0"),
        (("http", 200, {}, b"<html>maintenance</html>"), "not JSON"),
        (("http", 200, {}, b'{"hello": 1}'), "no retCode"),
        (("http", 404, {}, b"nope"), "HTTP 404"),
    ],
)
def test_malformed_replies_are_clear_errors(fake: FakeBybit, action: tuple, match: str) -> None:
    fake.script = [action]
    with pytest.raises(BybitError, match=match):
        fetch(fake)


def test_unreachable_host_is_a_clear_error(fake: FakeBybit) -> None:
    with pytest.raises(BybitError, match="cannot reach Bybit"):
        fetch(fake, base_url="http://127.0.0.1:1", max_retries=0)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"interval": "2"}, "interval must be one of"),
        ({"category": "option"}, "category must be one of"),
        ({"limit": 1001}, "limit must be in"),
        ({"start": 1_709_251_200}, "looks like epoch seconds"),
        ({"start": LAST_MS, "end": ORIGIN_MS}, "before start"),
        ({"start": "not a time"}, "cannot be parsed"),
        ({"symbol": "BTC/USDT"}, "symbol must be"),
    ],
)
def test_bad_arguments(kw: dict[str, Any], match: str) -> None:
    args = {
        "symbol": "BTCUSDT",
        "interval": "1",
        "start": ORIGIN_MS,
        "end": LAST_MS,
        "base_url": "http://127.0.0.1:1",
    }
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        fetch_klines(**args)


def test_forming_kline_is_dropped_unless_asked() -> None:
    now_ms = int(time.time() * 1000)
    open_start = now_ms // STEP_MS * STEP_MS  # the minute in progress
    rows = [[str(open_start - k * STEP_MS), "1", "2", "0.5", "1.5", "3", "4"] for k in range(3)]
    body = json.dumps({"retCode": 0, "retMsg": "OK", "result": {"list": rows}}).encode()

    class Reply(io.BytesIO):
        status = 200
        headers: dict[str, str] = {}

    def opener(request: Any, timeout: float) -> Reply:
        return Reply(body)

    kw = {"opener": opener, "limit": 10, "sleep": lambda s: None}
    got = fetch_klines("BTCUSDT", 1, open_start - 2 * STEP_MS, open_start, **kw)
    assert got["start_ms"].tolist() == [open_start - 2 * STEP_MS, open_start - STEP_MS]
    assert got.attrs["dropped_open"] == 1
    got = fetch_klines("BTCUSDT", 1, open_start - 2 * STEP_MS, open_start, closed_only=False, **kw)
    assert len(got) == 3


# --------------------------------------------------------------------------- bars and files


def test_to_bars_is_canonical(fake: FakeBybit) -> None:
    klines = fetch(fake)
    bars = to_bars(klines)
    validate_bars(bars)
    assert list(bars.columns) == list(BAR_COLUMNS)
    assert (bars.dtypes == np.float64).all()
    assert bars.index.name == "timestamp" and str(bars.index.tz) == "UTC"
    assert bars.index[0] == pd.Timestamp("2024-03-01 00:00", tz="UTC")
    assert bars.index.is_monotonic_increasing and bars.index.is_unique and len(bars) == N
    np.testing.assert_array_equal(bars["close"].to_numpy(), expected()["close"].to_numpy())
    berlin = to_bars(klines, tz="Europe/Berlin")
    assert berlin.index[0] == bars.index[0] and str(berlin.index.tz) == "Europe/Berlin"
    shuffled = pd.concat([klines.iloc[::-1], klines.iloc[:5]])  # unsorted, duplicated
    pd.testing.assert_frame_equal(to_bars(shuffled), bars)


def test_to_bars_rejects_bad_klines(fake: FakeBybit) -> None:
    klines = fetch(fake)
    bad = klines.copy()
    bad.loc[3, "high"] = bad.loc[3, "low"] - 1.0
    with pytest.raises(DataImportError, match="row 4"):
        to_bars(bad)
    with pytest.raises(ValueError, match="lack columns"):
        to_bars(klines.drop(columns="volume"))
    with pytest.raises(DataImportError, match="no bars"):
        to_bars(klines.iloc[:0])


def test_import_bybit_round_trips_parquet(fake: FakeBybit, tmp_path: Path) -> None:
    out = tmp_path / "crypto" / "btcusdt_1m.parquet"
    bars = import_bybit(
        "btcusdt", "1", ORIGIN_MS, LAST_MS, out, base_url=fake.url, limit=50, sleep=lambda s: None
    )
    assert len(bars) == N
    pd.testing.assert_frame_equal(load_bars(out), bars)
    fake.script = [("empty",)]
    with pytest.raises(BybitError, match="no klines for BTCUSDT"):
        import_bybit(
            "BTCUSDT", "1", ORIGIN_MS, LAST_MS, tmp_path / "none.parquet", base_url=fake.url
        )
    assert not (tmp_path / "none.parquet").exists()


def test_cli(fake: FakeBybit, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bars.parquet"
    argv = [
        "BTCUSDT",
        "1",
        "2024-03-01",
        "2024-03-01T05:36:00Z",
        str(out),
        "--base-url",
        fake.url,
        "--limit",
        "50",
    ]
    assert main(argv) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"wrote {N} bars BTCUSDT 1 2024-03-01 00:00:00+00:00")
    assert line.endswith(str(out)) and "\n" not in line
    assert len(load_bars(out)) == N
    fake.script = [("ret", 10001, "params error", {})]
    assert main([*argv[:4], str(tmp_path / "x.parquet"), "--base-url", fake.url]) == 1
    assert "retCode 10001" in capsys.readouterr().err
