"""Tests for ilsim.data: vendor shapes in, canonical bars out, every bad case a clear error."""

import pickle
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from realdata import real_file

from ilsim.data import (
    BAR_COLUMNS,
    REPAIR_RULES,
    DataImportError,
    bars_per_day,
    daily_from_intraday,
    import_bars,
    load_bars,
    load_daily_csv,
    save_bars,
    session_ids,
    validate_bars,
)

NY = "America/New_York"


def make_bars(
    days: tuple[str, ...] = ("2021-03-11", "2021-03-12"), n: int = 6, minutes: int = 5
) -> pd.DataFrame:
    """Canonical bars: n bars a day from 09:30 New York, prices exact in binary."""
    stamps = [
        pd.Timestamp(f"{d} 09:30", tz=NY) + pd.Timedelta(minutes=minutes * k)
        for d in days
        for k in range(n)
    ]
    i = np.arange(len(stamps), dtype=np.float64)
    o = 100.0 + 0.25 * i
    c = o + np.where(i % 2 == 0, 0.5, -0.5)
    df = pd.DataFrame(
        {
            "open": o,
            "high": np.maximum(o, c) + 0.25,
            "low": np.minimum(o, c) - 0.25,
            "close": c,
            "volume": 1000.0 + i,
        },
        index=pd.DatetimeIndex(stamps, name="timestamp").as_unit("ns"),
    )
    return df


def vendor(bars: pd.DataFrame, shape: str = "epoch_s") -> pd.DataFrame:
    """The bars as a vendor file would hold them, with the time in the given shape."""
    out = bars.reset_index(drop=True).copy()
    utc = bars.index.tz_convert("UTC")
    ns = bars.index.as_unit("ns").asi8
    local = bars.index.tz_localize(None)
    time_cols = {
        "epoch_s": {"timestamp": ns // 10**9},
        "epoch_ms": {"timestamp": ns // 10**6},
        "iso_offset": {"datetime": [t.isoformat() for t in bars.index]},
        "iso_z": {"datetime": utc.strftime("%Y-%m-%dT%H:%M:%SZ")},
        "naive_local": {"Datetime": local.strftime("%Y-%m-%d %H:%M:%S")},
        "naive_utc": {"TIMESTAMP": utc.tz_localize(None).strftime("%Y-%m-%d %H:%M")},
        "date_time": {"Date": local.strftime("%Y-%m-%d"), "Time": local.strftime("%H:%M")},
        "aware_dt": {"datetime": utc},
        "naive_dt": {"datetime": local},
    }[shape]
    for k, v in reversed(time_cols.items()):
        out.insert(0, k, np.asarray(v))
    return out


def write(df: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".parquet":
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)
    return path


def expect(path: Path, row: int | None, problem: str) -> str:
    """Regex for a DataImportError message naming the file, the row and the problem."""
    where = re.escape(str(path)) + (f": row {row}: " if row is not None else ": ")
    return "^" + where + ".*" + problem


@pytest.fixture
def bars() -> pd.DataFrame:
    return make_bars()


# ----------------------------------------------------------------------------- accepted shapes


@pytest.mark.parametrize(
    ("shape", "suffix", "kwargs"),
    [
        ("epoch_s", ".csv", {}),
        ("epoch_ms", ".csv", {}),
        ("iso_offset", ".csv", {}),
        ("iso_z", ".csv", {}),
        ("naive_local", ".csv", {}),
        ("naive_utc", ".csv", {"source_tz": "UTC"}),
        ("date_time", ".csv", {}),
        ("epoch_s", ".parquet", {}),
        ("aware_dt", ".parquet", {}),
        ("naive_dt", ".parquet", {}),
        ("date_time", ".parquet", {}),
    ],
)
def test_time_formats_give_identical_bars(bars, tmp_path, shape, suffix, kwargs):
    path = write(vendor(bars, shape), tmp_path / f"{shape}{suffix}")
    got, report = import_bars(path, **kwargs)
    pd.testing.assert_frame_equal(got, bars)
    assert report.rows_read == report.rows_kept == len(bars)
    assert all(v == 0 for v in report.repairs.values())


def test_capitalised_and_alias_column_names(bars, tmp_path):
    raw = vendor(bars).rename(
        columns={"open": "Open", "high": "HIGH", "low": "Low", "close": "CLOSE", "volume": "Vol"}
    )
    raw["Ticker"] = "QQQ.US"
    got, _ = import_bars(write(raw, tmp_path / "caps.csv"))
    pd.testing.assert_frame_equal(got, bars)


def test_dst_crossing_keeps_new_york_session_times(tmp_path):
    # 2021-03-12 is EST (UTC-5), 2021-03-15 is EDT (UTC-4); 2021-11-05 EDT, 11-08 EST.
    bars = make_bars(days=("2021-03-12", "2021-03-15", "2021-11-05", "2021-11-08"), n=3)
    raw = vendor(bars, "epoch_s")
    utc_hours = pd.to_datetime(raw["timestamp"], unit="s", utc=True).dt.hour
    assert list(utc_hours[::3]) == [14, 13, 13, 14]
    got, report = import_bars(write(raw, tmp_path / "dst.csv"))
    assert list(got.index.strftime("%H:%M")[::3]) == ["09:30"] * 4
    assert report.trading_days == 4 and report.repairs["dropped_outside_session"] == 0
    pd.testing.assert_frame_equal(got, bars)


def test_output_tz_and_other_session(bars, tmp_path):
    path = write(vendor(bars), tmp_path / "b.csv")
    # 8 of 12 rows fall outside this narrow session on purpose: allow it.
    got, report = import_bars(path, tz="UTC", session=("14:30", "14:40"), max_outside_session=1)
    assert str(got.index.tz) == "UTC"
    assert list(got.index.strftime("%H:%M")) == ["14:30", "14:35"] * 2
    assert report.repairs["dropped_outside_session"] == len(bars) - 4


@pytest.mark.parametrize("minutes", [1, 5])
def test_interval_detection(tmp_path, minutes):
    bars = make_bars(n=10, minutes=minutes)
    _, report = import_bars(write(vendor(bars), tmp_path / "b.parquet"))
    assert report.interval == pd.Timedelta(minutes=minutes)
    assert report.bars_per_full_day == 10 and report.full_days == 2 and report.short_days == 0


# ----------------------------------------------------------------------------- repairs


def test_repairs_are_applied_and_counted(tmp_path):
    bars = make_bars(days=("2021-03-11", "2021-03-12", "2021-03-15"), n=6)
    raw = vendor(bars, "naive_local")
    cols = ["open", "high", "low", "close"]
    raw.loc[2, cols] = np.nan  # no prices mid-session -> previous close
    raw.loc[2, "volume"] = np.nan
    raw.loc[6, cols] = np.nan  # first bar of day 2 -> next open
    raw.loc[6, "volume"] = np.nan
    raw.loc[8, "volume"] = np.nan  # prices but no volume
    raw = raw.drop(index=[14, 15])  # a two-bar gap on day 3
    extra = pd.DataFrame(
        {
            "Datetime": ["2021-03-11 16:00:00", "2021-03-11 09:35:37", "2021-03-12 08:00:00"],
            "open": [200.0, 101.0, 99.0],
            "high": [200.0, 101.0, 99.0],
            "low": [200.0, 101.0, 99.0],
            "close": [200.0, 101.0, 99.0],
            "volume": [np.nan, np.nan, 10.0],
        }
    )
    raw = pd.concat([raw, extra]).assign(t=lambda d: pd.to_datetime(d["Datetime"]))
    raw = raw.sort_values("t").drop(columns="t")
    # 2 of 19 rows are outside the session on purpose (more than the default 5 % in so few rows)
    got, report = import_bars(write(raw, tmp_path / "r.csv"), max_outside_session=0.2)

    assert report.repairs == {
        "dropped_outside_session": 2,
        "dropped_stray_prints": 1,
        "filled_missing_prices": 2,
        "filled_missing_volume": 1,
        "missing_bars_in_session": 2,
    }
    assert report.rows_read == len(raw) and report.rows_kept == len(got) == 16
    r2 = got.loc[pd.Timestamp("2021-03-11 09:40", tz=NY)]
    assert (r2[["open", "high", "low", "close"]] == bars["close"].iloc[1]).all()
    assert r2["volume"] == 0.0
    r6 = got.loc[pd.Timestamp("2021-03-12 09:30", tz=NY)]
    assert (r6[["open", "high", "low", "close"]] == bars["open"].iloc[7]).all()
    assert got.loc[pd.Timestamp("2021-03-12 09:40", tz=NY), "volume"] == 0.0
    assert report.full_days == 2 and report.short_days == 1
    assert report.short_day_dates == ["2021-03-15"]
    validate_bars(got)
    md = report.to_markdown()
    for key, what in REPAIR_RULES.items():
        assert key in md and what in md


def test_report_facts(bars, tmp_path):
    path = write(vendor(bars), tmp_path / "b.csv")
    _, report = import_bars(path)
    assert report.source == "b.csv"  # the name only: no folder of this machine in a report
    assert len(report.sha256) == 64
    assert report.first == bars.index[0] and report.last == bars.index[-1]
    assert report.time_column == "timestamp" and "epoch seconds" in report.time_format
    assert set(report.repairs) == set(REPAIR_RULES)


def test_report_says_whether_the_file_is_the_reference(bars, tmp_path):
    from ilsim.data import DIFFERS
    from ilsim.params.sections import ReferenceData

    path = write(vendor(bars), tmp_path / "b.csv")
    _, report = import_bars(path)
    same = ReferenceData(name="b.csv", vendor="v", span="s", rows=12, sha256=report.sha256)
    md = report.to_markdown(reference=same)
    assert "## Provenance" in md and "**matches**" in md and report.sha256 in md
    assert DIFFERS not in md
    other = same.model_copy(update={"sha256": "0" * 64})
    md = report.to_markdown(reference=other)
    assert "**differs**" in md and DIFFERS in md and "0" * 64 in md
    assert "## Provenance" not in report.to_markdown()  # no reference given: no claim made


# ----------------------------------------------------------------------------- errors: file level


def test_missing_file(tmp_path):
    path = tmp_path / "nope.csv"
    with pytest.raises(DataImportError, match=expect(path, None, "file not found")) as info:
        import_bars(path)
    assert info.value.row is None and info.value.path == str(path)


def test_unsupported_extension(tmp_path):
    path = tmp_path / "bars.xlsx"
    path.write_text("x")
    with pytest.raises(DataImportError, match=expect(path, None, "unsupported file type")):
        import_bars(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(DataImportError, match=expect(path, None, "file is empty")):
        import_bars(path)


def test_header_only(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("timestamp,open,high,low,close,volume\n")
    with pytest.raises(DataImportError, match=expect(path, None, "no data rows")):
        import_bars(path)


def test_unreadable_parquet(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"this is not parquet at all")
    with pytest.raises(DataImportError, match=expect(path, None, "cannot read Parquet file")):
        import_bars(path)


def test_missing_columns_named(bars, tmp_path):
    path = write(vendor(bars).drop(columns=["low", "volume"]), tmp_path / "m.csv")
    problem = r"missing required columns \['low', 'volume'\]; columns found: \['timestamp', "
    with pytest.raises(DataImportError, match=expect(path, None, problem)):
        import_bars(path)


def test_no_time_column(bars, tmp_path):
    path = write(vendor(bars).drop(columns="timestamp"), tmp_path / "t.parquet")
    with pytest.raises(DataImportError, match=expect(path, None, "no time column")):
        import_bars(path)


def test_ambiguous_columns(bars, tmp_path):
    raw = vendor(bars).assign(Close=lambda d: d["close"])
    path = write(raw, tmp_path / "a.csv")
    with pytest.raises(DataImportError, match=expect(path, None, "ambiguous columns")):
        import_bars(path)


def test_no_rows_in_session(bars, tmp_path):
    path = write(vendor(bars), tmp_path / "s.csv")
    with pytest.raises(DataImportError, match=expect(path, None, "no rows inside the session")):
        import_bars(path, session=("10:00", "11:00"))


def test_daily_data_gives_no_interval(tmp_path):
    bars = make_bars(days=("2021-03-11", "2021-03-12"), n=1)
    path = write(vendor(bars), tmp_path / "d.csv")
    with pytest.raises(DataImportError, match=expect(path, None, "cannot detect the bar interval")):
        import_bars(path)


# ----------------------------------------------------------------------------- errors: rows


def test_unparseable_time_shows_value(bars, tmp_path):
    raw = vendor(bars, "naive_local")
    raw.loc[3, "Datetime"] = "2021-13-45 nonsense"
    path = write(raw, tmp_path / "u.csv")
    with pytest.raises(DataImportError, match=expect(path, 4, "'2021-13-45 nonsense' cannot be")):
        import_bars(path)


def test_non_numeric_epoch_shows_value(bars, tmp_path):
    raw = vendor(bars).astype({"timestamp": object})
    raw.loc[5, "timestamp"] = "oops"
    path = write(raw, tmp_path / "e.csv")
    with pytest.raises(DataImportError, match=expect(path, 6, "time 'oops' is not a number")):
        import_bars(path)


def test_missing_time(bars, tmp_path):
    raw = vendor(bars, "naive_local")
    raw.loc[1, "Datetime"] = None
    path = write(raw, tmp_path / "n.csv")
    with pytest.raises(DataImportError, match=expect(path, 2, "time is missing")):
        import_bars(path)


def test_implausible_epoch(bars, tmp_path):
    raw = vendor(bars)
    raw.loc[2, "timestamp"] = 12345
    path = write(raw, tmp_path / "p.csv")
    with pytest.raises(DataImportError, match=expect(path, 3, "time 12345 is not a plausible")):
        import_bars(path)


def test_mixed_naive_and_offset_strings(bars, tmp_path):
    raw = vendor(bars, "iso_offset")
    raw.loc[7, "datetime"] = "2021-03-12 09:35:00"
    path = write(raw, tmp_path / "x.csv")
    with pytest.raises(DataImportError, match=expect(path, 8, "has no UTC offset")):
        import_bars(path)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_zero_price(bars, tmp_path, suffix):
    raw = vendor(bars)
    raw.loc[4, "low"] = 0.0
    path = write(raw, tmp_path / f"z{suffix}")
    with pytest.raises(DataImportError, match=expect(path, 5, "low 0.0 is not positive")):
        import_bars(path)


def test_negative_price(bars, tmp_path):
    raw = vendor(bars)
    raw.loc[0, ["open", "low"]] = -1.5
    path = write(raw, tmp_path / "neg.csv")
    with pytest.raises(DataImportError, match=expect(path, 1, "open -1.5 is not positive")):
        import_bars(path)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_high_below_max_open_close(bars, tmp_path, suffix):
    raw = vendor(bars)
    raw.loc[6, ["open", "high", "low", "close"]] = [101.25, 99.5, 99.0, 101.0]
    path = write(raw, tmp_path / f"h{suffix}")
    problem = re.escape("high 99.5 is below max(open, close) 101.25")
    with pytest.raises(DataImportError, match=expect(path, 7, problem)):
        import_bars(path)


def test_low_above_min_open_close(bars, tmp_path):
    raw = vendor(bars)
    raw.loc[9, ["open", "high", "low", "close"]] = [100.0, 102.0, 100.5, 101.0]
    path = write(raw, tmp_path / "l.csv")
    problem = re.escape("low 100.5 is above min(open, close) 100.0")
    with pytest.raises(DataImportError, match=expect(path, 10, problem)):
        import_bars(path)


def test_high_below_low(bars, tmp_path):
    raw = vendor(bars)
    raw.loc[1, ["open", "high", "low", "close"]] = [100.0, 99.0, 101.0, 100.0]
    path = write(raw, tmp_path / "hl.csv")
    with pytest.raises(DataImportError, match=expect(path, 2, "high 99.0 is below low 101.0")):
        import_bars(path)


def test_negative_volume(bars, tmp_path):
    raw = vendor(bars)
    raw.loc[11, "volume"] = -3.0
    path = write(raw, tmp_path / "v.parquet")
    with pytest.raises(DataImportError, match=expect(path, 12, "volume -3.0 is negative")):
        import_bars(path)


def test_partly_missing_prices(bars, tmp_path):
    raw = vendor(bars)
    raw.loc[3, ["high", "close"]] = np.nan
    path = write(raw, tmp_path / "pm.csv")
    with pytest.raises(DataImportError, match=expect(path, 4, "prices partly missing: no high")):
        import_bars(path)


def test_non_numeric_price(bars, tmp_path):
    raw = vendor(bars).astype({"close": object})
    raw.loc[2, "close"] = "n/a?"
    path = write(raw, tmp_path / "nn.csv")
    with pytest.raises(DataImportError, match=expect(path, 3, "close 'n/a\\?' is not a number")):
        import_bars(path)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_duplicated_timestamps(bars, tmp_path, suffix):
    raw = vendor(bars)
    raw.loc[4, "timestamp"] = raw.loc[3, "timestamp"]
    path = write(raw, tmp_path / f"d{suffix}")
    with pytest.raises(DataImportError, match=expect(path, 5, r"\(2021-03-11 09:45:00 .*row 4")):
        import_bars(path)


def test_unsorted_timestamps(bars, tmp_path):
    raw = vendor(bars).iloc[[0, 1, 3, 2, 4, 5]]
    path = write(raw, tmp_path / "o.csv")
    with pytest.raises(DataImportError, match=expect(path, 4, "is earlier than row 3's")):
        import_bars(path)


def test_mixed_intervals(bars, tmp_path):
    raw = vendor(bars)
    raw.loc[8, "timestamp"] += 120  # a traded bar 2 minutes off the 5-minute grid
    path = write(raw, tmp_path / "mi.csv")
    problem = (
        r"off the 5 min bar grid, 7 min after the previous bar: mixed bar intervals "
        r"\(traded rows off the grid: 9; "
    )
    with pytest.raises(DataImportError, match=expect(path, 9, problem)):
        import_bars(path)


def test_session_without_prices(bars, tmp_path):
    raw = vendor(bars)
    raw.loc[6:11, ["open", "high", "low", "close", "volume"]] = np.nan
    path = write(raw, tmp_path / "sp.csv")
    with pytest.raises(DataImportError, match=expect(path, 7, "2021-03-12 has no prices")):
        import_bars(path)


def test_bad_session_argument(bars, tmp_path):
    path = write(vendor(bars), tmp_path / "b.csv")
    with pytest.raises(ValueError, match="session"):
        import_bars(path, session=("16:00", "09:30"))


def test_error_is_picklable_and_formatted():
    err = DataImportError("f.csv", "high 1.0 is below low 2.0", row=17)
    assert str(err) == "f.csv: row 17: high 1.0 is below low 2.0"
    back = pickle.loads(pickle.dumps(err))
    assert (back.path, back.row, back.problem) == ("f.csv", 17, err.problem)
    assert str(DataImportError("f.csv", "file is empty")) == "f.csv: file is empty"


# ----------------------------------------------------------------------------- intervals by day


def full_days(spec: list[tuple[str, int]]) -> pd.DataFrame:
    """Canonical bars of whole 09:30-16:00 New York days, each day with its own bar minutes."""
    return pd.concat([make_bars(days=(d,), n=390 // m, minutes=m) for d, m in spec])


@pytest.mark.parametrize("one_minute_first", [False, True])
def test_five_minute_days_and_a_one_minute_day_stop(tmp_path, one_minute_first):
    # The case: every 5-minute bar sits on the 1-minute grid, so this used to import
    # as 1-minute bars with 924 "missing bars".
    fives = [(d, 5) for d in ("2021-03-09", "2021-03-10", "2021-03-11")]
    spec = [("2021-03-08", 1), *fives] if one_minute_first else [*fives, ("2021-03-12", 1)]
    path = write(vendor(full_days(spec)), tmp_path / "mixed.csv")
    first = 391 if one_minute_first else 1  # first row of the first 5-minute day
    problem = (
        r"mixed bar intervals: 3 of 4 trading days have bars 5 min apart \(234 rows\), "
        r"the rest 1 min"
    )
    with pytest.raises(DataImportError, match=expect(path, first, problem)) as info:
        import_bars(path)
    msg = str(info.value)
    for k, day in enumerate(("2021-03-09", "2021-03-10", "2021-03-11")):
        lo = first + 78 * k
        assert f"{day} (5 min, rows {lo}-{lo + 77})" in msg
    assert "separate files" in msg and "resample" in msg


def test_five_minute_file_with_a_one_minute_day_stops(tmp_path):
    days = [str(d.date()) for d in pd.bdate_range("2021-03-01", periods=11)]
    spec = [(d, 1 if d == "2021-03-08" else 5) for d in days]
    path = write(vendor(full_days(spec), "naive_local"), tmp_path / "one_day.parquet")
    problem = r"1 of 11 trading days has bars 1 min apart \(390 rows\), the rest 5 min"
    with pytest.raises(DataImportError, match=expect(path, 5 * 78 + 1, problem)) as info:
        import_bars(path)
    assert "2021-03-08 (1 min, rows 391-780)" in str(info.value)


def test_one_minute_file_with_a_month_of_five_minute_bars_stops(tmp_path):
    ones = [(str(d.date()), 1) for d in pd.bdate_range("2021-02-01", "2021-02-26")]  # 20 days
    fives = [(str(d.date()), 5) for d in pd.bdate_range("2021-03-01", "2021-03-31")]  # 23 days
    path = write(vendor(full_days(ones + fives), "epoch_ms"), tmp_path / "month.parquet")
    problem = r"23 of 43 trading days have bars 5 min apart \(1,794 rows\), the rest 1 min"
    with pytest.raises(DataImportError, match=expect(path, 20 * 390 + 1, problem)) as info:
        import_bars(path)
    msg = str(info.value)
    assert "2021-03-01 (5 min, rows 7801-7878)" in msg and "... and 18 more" in msg


def _day_of_two_intervals(date: str, first: int, second: int, switch: str) -> pd.DataFrame:
    """One 09:30-16:00 day: bars ``first`` minutes apart until ``switch``, ``second`` after."""
    t0, t1, t2 = (pd.Timestamp(f"{date} {t}", tz=NY) for t in ("09:30", switch, "16:00"))
    stamps = list(pd.date_range(t0, t1, freq=f"{first}min", inclusive="left"))
    stamps += list(pd.date_range(t1, t2, freq=f"{second}min", inclusive="left"))
    bars = make_bars(days=(date,), n=len(stamps))
    bars.index = pd.DatetimeIndex(stamps, name="timestamp").as_unit("ns")
    return bars


@pytest.mark.parametrize(
    ("first", "second", "switch", "row", "says"),
    [
        (
            1,
            5,
            "10:00",
            2 * 390 + 31,
            "2021-03-10 at 10:00 (1 min -> 5 min; rows 811-882 5 min apart)",
        ),
        (
            5,
            1,
            "10:30",
            2 * 390 + 1,
            "2021-03-10 at 10:30 (5 min -> 1 min; rows 781-793 5 min apart)",
        ),
    ],
)
def test_an_interval_change_inside_a_day_stops(tmp_path, first, second, switch, row, says):
    """Issue 29: 1-minute bars for the first half hour and 5-minute bars after (or the other
    way round) used to import as a 1-minute day with "missing bars in session"; like a whole
    day of another interval, it stops naming the day, the time and both intervals."""
    ones = full_days([("2021-03-08", 1), ("2021-03-09", 1)])
    later = full_days([("2021-03-11", 1)])
    bars = pd.concat([ones, _day_of_two_intervals("2021-03-10", first, second, switch), later])
    path = write(vendor(bars), tmp_path / "change.csv")
    problem = r"mixed bar intervals: the bar interval changes inside 1 trading day, the rest of"
    with pytest.raises(DataImportError, match=expect(path, row, problem)) as info:
        import_bars(path)
    assert says in str(info.value) and "resample" in str(info.value)


def test_an_interval_change_with_a_missing_coarse_bar_still_stops(tmp_path):
    """A 5-minute afternoon with one 5-minute bar missing is still a change of interval."""
    day = _day_of_two_intervals("2021-03-10", 1, 5, "14:00")
    day = day.drop(pd.Timestamp("2021-03-10 15:00", tz=NY))
    bars = pd.concat([full_days([("2021-03-09", 1)]), day])
    path = write(vendor(bars), tmp_path / "hole.csv")
    with pytest.raises(DataImportError, match="the bar interval changes inside 1 trading day"):
        import_bars(path)


def test_a_day_of_one_interval_with_regular_holes_at_its_end_is_not_a_change(tmp_path):
    """Fewer than a dozen coarser bars at the day's end are gaps, not another interval."""
    day = _day_of_two_intervals("2021-03-10", 1, 5, "15:10")  # 10 bars 5 min apart: too few
    bars = pd.concat([full_days([("2021-03-09", 1)]), day])
    got, report = import_bars(write(vendor(bars), tmp_path / "holes.csv"))
    assert len(got) == len(bars) and report.repairs["missing_bars_in_session"] == 9 * 4


def test_one_minute_days_with_gaps_and_a_short_day_still_import(tmp_path):
    bars = full_days([("2021-11-24", 1), ("2021-11-26", 1), ("2021-11-29", 1)])
    day2 = bars.index.normalize() == pd.Timestamp("2021-11-26", tz=NY)
    bars = bars[~day2 | (bars.index.hour < 13)]  # a half day (closes 13:00)
    bars = bars.drop(bars.index[[5, 7, 9, 40, 41, 42]])  # gaps, not another interval
    got, report = import_bars(write(vendor(bars), tmp_path / "ok.csv"))
    pd.testing.assert_frame_equal(got, bars)
    assert report.interval == pd.Timedelta(minutes=1) and report.short_days == 2
    assert report.repairs["missing_bars_in_session"] == 6


# ----------------------------------------------------------------------------- time index


@pytest.mark.parametrize(
    ("layout", "kwargs", "label"),
    [
        ("naive_utc_ts", {"source_tz": "UTC"}, "ts (index)"),
        ("aware_unnamed", {}, "(index)"),
        ("strings_named_date_time", {}, "Date Time (index)"),
    ],
)
def test_parquet_time_index(tmp_path, layout, kwargs, label):
    bars = make_bars(n=78)
    raw = vendor(bars).drop(columns="timestamp")
    utc = bars.index.tz_convert("UTC")
    raw.index = {
        "naive_utc_ts": pd.DatetimeIndex(utc.tz_localize(None), name="ts"),
        "aware_unnamed": pd.DatetimeIndex(utc).rename(None),
        "strings_named_date_time": pd.Index(
            [t.isoformat() for t in bars.index], name="Date Time", dtype=object
        ),
    }[layout]
    path = tmp_path / "indexed.parquet"
    raw.to_parquet(path)
    got, report = import_bars(path, **kwargs)
    pd.testing.assert_frame_equal(got, bars)
    assert report.time_column == label and report.rows_kept == len(bars)


def test_no_time_column_describes_the_index(bars, tmp_path):
    raw = vendor(bars).drop(columns="timestamp")
    raw.index = pd.Index(np.arange(100, 100 + len(raw)), name="id")
    path = tmp_path / "ids.parquet"
    raw.to_parquet(path)
    problem = r"no time column .*or a Parquet index of times.*the index \('id', int64\) does not"
    with pytest.raises(DataImportError, match=expect(path, None, problem)):
        import_bars(path)


def test_no_time_column_spots_an_unnamed_index_in_csv(bars, tmp_path):
    raw = vendor(bars, "naive_local").set_index("Datetime").rename_axis(None)
    path = tmp_path / "unnamed.csv"
    raw.to_csv(path)  # the index becomes a first column without a name
    problem = r"column 'Unnamed: 0' holds times but has no name.*name it 'datetime'"
    with pytest.raises(DataImportError, match=expect(path, None, problem)):
        import_bars(path)


# ----------------------------------------------------------------------------- time zones


@pytest.mark.parametrize("layout", ["csv", "parquet_index"])
def test_naive_utc_without_source_tz_stops_naming_the_time_zone(tmp_path, layout):
    # Whole days: read as New York times, only 14:30-15:55 of the 14:30-20:55 UTC bars fall
    # inside the session (this used to keep them silently, stamped five hours late).
    bars = make_bars(n=78)
    if layout == "csv":
        path = write(vendor(bars, "naive_utc"), tmp_path / "utc.csv")
    else:
        raw = vendor(bars).drop(columns="timestamp")
        raw.index = pd.DatetimeIndex(bars.index.tz_convert("UTC").tz_localize(None), name="ts")
        path = tmp_path / "utc.parquet"
        raw.to_parquet(path)
    problem = (
        r"120 of 156 rows \(76\.9%\) fall outside the session 09:30-16:00 America/New_York, "
        r"more than data\.max_outside_session allows \(5%\)"
    )
    with pytest.raises(DataImportError, match=expect(path, None, problem)) as info:
        import_bars(path)
    msg = str(info.value)
    assert "The likely cause is the time zone" in msg
    assert "read as wall-clock times in America/New_York (data.source_tz" in msg
    assert "Read as UTC, 100.0% of the rows fall inside" in msg and "data.source_tz: UTC" in msg
    got, _ = import_bars(path, source_tz="UTC")
    pd.testing.assert_frame_equal(got, bars)


def test_aware_times_off_the_session_point_at_data_tz(tmp_path):
    bars = make_bars(n=78)
    path = write(vendor(bars, "epoch_s"), tmp_path / "b.csv")
    with pytest.raises(DataImportError, match="likely cause is the time zone") as info:
        import_bars(path, tz="Europe/Berlin")
    msg = str(info.value)
    assert "data.source_tz does not apply" in msg and "data.tz" in msg


def test_outside_session_share_is_a_param(tmp_path):
    bars = make_bars(n=6)  # 12 bars; two 16:00 closing prints are 2 of 14 rows (14 %)
    raw = vendor(bars, "naive_local")
    prints = raw.iloc[[5, 11]].assign(Datetime=["2021-03-11 16:00:00", "2021-03-12 16:00:00"])
    raw = pd.concat([raw.iloc[:6], prints.iloc[:1], raw.iloc[6:], prints.iloc[1:]])
    path = write(raw, tmp_path / "prints.csv")
    with pytest.raises(DataImportError, match=r"2 of 14 rows \(14\.3%\) fall outside") as info:
        import_bars(path)
    assert "raise data.max_outside_session" in str(info.value)
    got, report = import_bars(path, max_outside_session=0.15)
    pd.testing.assert_frame_equal(got, bars)
    assert report.repairs["dropped_outside_session"] == 2
    with pytest.raises(ValueError, match="max_outside_session must be a share"):
        import_bars(path, max_outside_session=5)


def test_closing_prints_of_whole_days_pass_by_default(tmp_path):
    bars = make_bars(n=78)  # one 16:00 print a day: 2 of 158 rows (1.3 %)
    raw = vendor(bars, "epoch_s")
    prints = raw.iloc[[77, 155]].assign(timestamp=raw["timestamp"].iloc[[77, 155]] + 300)
    raw = pd.concat([raw.iloc[:78], prints.iloc[:1], raw.iloc[78:], prints.iloc[1:]])
    got, report = import_bars(write(raw, tmp_path / "prints.csv"))
    pd.testing.assert_frame_equal(got, bars)
    assert report.repairs["dropped_outside_session"] == 2


# ----------------------------------------------------------------------------- UTC offsets


@pytest.mark.parametrize(
    ("label", "row", "why"),
    [
        # New York wall times labelled as UTC: the rows go back in time (used to be reported
        # as unsorted rows); the offset changes back at the next day's first row
        ("+00:00", 4, "and changes again 28.8 hours later, at row 7"),
        # an hour off but still inside the session, in time order
        ("-06:00", 4, "in the same session"),
    ],
)
def test_mixed_offsets_are_reported_as_mixed_offsets(bars, tmp_path, label, row, why):
    raw = vendor(bars, "iso_offset")  # all -05:00 (March 11-12, 2021 is EST)
    raw.loc[3:5, "datetime"] = raw.loc[3:5, "datetime"].str.replace("-05:00", label)
    path = write(raw, tmp_path / "offsets.csv")
    problem = (
        rf"mixed UTC offsets: time '2021-03-11T09:45:00{re.escape(label)}' has offset "
        rf"{re.escape(label)} but row 3's '2021-03-11T09:40:00-05:00' has -05:00 "
        rf"\({re.escape(why)}\); offsets in the file: "
    )
    with pytest.raises(DataImportError, match=expect(path, row, problem)) as info:
        import_bars(path)
    assert "data.source_tz" in str(info.value)


def test_unsorted_rows_with_mixed_offsets_say_so(bars, tmp_path):
    # Two exports joined in the wrong order, each with its own offset.
    raw = pd.concat([vendor(bars.iloc[6:], "iso_offset"), vendor(bars.iloc[:6], "iso_z")])
    path = write(raw, tmp_path / "joined.csv")
    problem = (
        r"is earlier than row 6's .*\(rows must be in time order\); note: the file mixes UTC "
        r"offsets: -05:00 \(6 rows\), \+00:00 \(6 rows\)"
    )
    with pytest.raises(DataImportError, match=expect(path, 7, problem)):
        import_bars(path)


def test_mixed_offsets_sending_rows_outside_the_session_say_so(tmp_path):
    bars = make_bars(n=78)
    raw = vendor(bars, "iso_offset")
    raw.loc[78:, "datetime"] = raw.loc[78:, "datetime"].str.replace("-05:00", "Z")  # day 2
    path = write(raw, tmp_path / "labels.csv")
    problem = r"fall outside the session .*The file mixes UTC offsets \(-05:00 \(78 rows\)"
    with pytest.raises(DataImportError, match=expect(path, None, problem)):
        import_bars(path)


def test_offsets_that_follow_a_time_zone_are_not_mixed(tmp_path):
    # Daylight saving (-05:00 / -04:00, months apart), and two exports with one offset each.
    bars = make_bars(days=("2021-03-12", "2021-03-15", "2021-11-05", "2021-11-08"), n=3)
    got, _ = import_bars(write(vendor(bars, "iso_offset"), tmp_path / "dst.csv"))
    pd.testing.assert_frame_equal(got, bars)
    two = make_bars()
    raw = pd.concat([vendor(two.iloc[:6], "iso_offset"), vendor(two.iloc[6:], "iso_z")])
    got, _ = import_bars(write(raw, tmp_path / "two.csv"))
    pd.testing.assert_frame_equal(got, two)
    # a 24-hour session: each change falls between two bars of one session
    stamps = pd.date_range("2021-03-13", "2021-03-16", freq="h", tz=NY, inclusive="left")
    stamps = stamps.append(
        pd.date_range("2021-11-06", "2021-11-09", freq="h", tz=NY, inclusive="left")
    )
    raw = pd.DataFrame({"datetime": [t.isoformat() for t in stamps]}).assign(
        open=1.0, high=1.0, low=1.0, close=1.0, volume=1.0
    )
    got, _ = import_bars(write(raw, tmp_path / "h24.csv"), session=("00:00", "24:00"))
    assert got.index.equals(stamps.rename("timestamp").as_unit("ns"))


# ----------------------------------------------------------------------------- canonical store


def test_save_load_round_trip(bars, tmp_path):
    path = tmp_path / "sub" / "bars.parquet"
    save_bars(bars, path)
    back = load_bars(path)
    pd.testing.assert_frame_equal(back, bars)
    assert back.index.dtype == bars.index.dtype and str(back.index.tz) == NY


def test_save_refuses_invalid(bars, tmp_path):
    bad = bars.copy()
    bad.iloc[2, 1] = 1.0  # high below open/close
    with pytest.raises(DataImportError, match=r"bad\.parquet: row 3: high 1\.0 is below"):
        save_bars(bad, tmp_path / "bad.parquet")


def test_load_bars_rejects_non_canonical(bars, tmp_path):
    path = write(vendor(bars), tmp_path / "vendor.parquet")
    with pytest.raises(DataImportError, match=expect(path, None, "columns must be")):
        load_bars(path)


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda d: d.tz_localize(None), "tz-aware DatetimeIndex"),
        (lambda d: d.rename_axis("time"), "must be named 'timestamp'"),
        (lambda d: d[["open", "high", "low", "close"]], "columns must be"),
        (lambda d: d.astype({"volume": "float32"}), "float64"),
        (lambda d: d.iloc[[0, 2, 1]], "row 3: time .* is earlier than row 2"),
        (lambda d: d.iloc[[0, 1, 1]], "row 3: time .* duplicates row 2"),
        (lambda d: d.assign(volume=np.where(np.arange(len(d)) == 4, np.nan, 1.0)), "row 5"),
    ],
)
def test_validate_bars_errors(bars, mutate, problem):
    with pytest.raises(DataImportError, match="^<frame>: .*" + problem):
        validate_bars(mutate(bars))


# ----------------------------------------------------------------------------- day helpers


def test_session_ids_bars_per_day_and_daily(tmp_path):
    bars = make_bars(days=("2021-03-11", "2021-03-12", "2021-03-15"), n=4)
    bars = bars.drop(bars.index[-2:])
    assert list(session_ids(bars.index)) == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2]
    assert bars_per_day(bars) == 4
    daily = daily_from_intraday(bars)
    assert list(daily.columns) == list(BAR_COLUMNS)
    assert daily.index.tz is None and daily.index.name == "date"
    assert list(daily.index.strftime("%Y-%m-%d")) == ["2021-03-11", "2021-03-12", "2021-03-15"]
    first = bars.iloc[:4]
    assert daily.iloc[0].tolist() == [
        first["open"].iloc[0],
        first["high"].max(),
        first["low"].min(),
        first["close"].iloc[-1],
        first["volume"].sum(),
    ]


def test_load_daily_csv(tmp_path):
    path = tmp_path / "daily.csv"
    path.write_text(
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        "2021-01-04,10.0,11.0,9.5,10.5,10.1,100\n"
        "2021-01-05,10.5,12.0,10.0,11.5,11.1,200\n"
    )
    daily = load_daily_csv(path)
    assert list(daily.columns) == list(BAR_COLUMNS) and daily.index.name == "date"
    assert daily["close"].tolist() == [10.5, 11.5] and daily.dtypes.eq(np.float64).all()
    assert daily.index.tz is None


def test_load_daily_csv_bad_input(tmp_path):
    path = tmp_path / "daily.csv"
    path.write_text(
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        "2021-01-04,10.0,11.0,9.5,10.5,10.1,100\n"
        "2021-01-05,null,null,null,null,null,null\n"
    )
    with pytest.raises(
        DataImportError, match=expect(path, 2, "missing open, high, low, close, volume")
    ):
        load_daily_csv(path)
    path.write_text("Date,Open,High,Low,Volume\n2021-01-04,10.0,11.0,9.5,100\n")
    with pytest.raises(DataImportError, match=expect(path, None, r"missing .*\['close'\]")):
        load_daily_csv(path)


# ----------------------------------------------------------------------------- properties


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    gaps=st.sets(st.integers(1, 10), max_size=4),
    minutes=st.sampled_from([1, 5, 15]),
    shape=st.sampled_from(["epoch_ms", "iso_offset", "date_time"]),
)
def test_gaps_are_counted_not_filled(tmp_path, gaps, minutes, shape):
    bars = make_bars(n=12, minutes=minutes)
    kept = bars.drop(bars.index[sorted(gaps)])
    got, report = import_bars(write(vendor(kept, shape), tmp_path / f"g_{shape}.csv"))
    pd.testing.assert_frame_equal(got, kept)
    assert report.repairs["missing_bars_in_session"] == len(gaps)
    assert report.interval == pd.Timedelta(minutes=minutes)


# ----------------------------------------------------------------------------- real data


@pytest.mark.realdata
def test_real_qqq_file():
    path = real_file("qqq_5min_2020-10_2024-12.parquet")
    bars, report = import_bars(path)
    validate_bars(bars)
    assert report.rows_read == 83_513
    assert report.repairs == {
        "dropped_outside_session": 913,
        "dropped_stray_prints": 1,
        "filled_missing_prices": 120,
        "filled_missing_volume": 8,
        "missing_bars_in_session": 0,
    }
    assert report.rows_kept == len(bars) == 83_513 - 913 - 1
    assert report.interval == pd.Timedelta(minutes=5)
    assert report.trading_days == 1_063 and report.bars_per_full_day == 78
    assert report.short_days == 9 and report.full_days == 1_054
    assert bars.index[0] == pd.Timestamp("2020-10-09 09:30", tz=NY)
    assert bars.index[-1] == pd.Timestamp("2024-12-31 15:55", tz=NY)
    assert report.sha256.startswith("ff5bca5e93e6a485")
    assert bars.index.strftime("%H:%M").isin(["16:00"]).sum() == 0
    daily = daily_from_intraday(bars)
    assert len(daily) == 1_063


@pytest.mark.realdata
def test_real_daily_csv():
    daily = load_daily_csv(real_file("qqq_daily_2017-01_2021-06.csv"))
    assert daily.index[0] == pd.Timestamp("2017-01-03") and daily.index[-1] == pd.Timestamp(
        "2021-06-04"
    )
    assert daily.dtypes.eq(np.float64).all()


def test_unknown_time_zone(bars, tmp_path):
    path = write(vendor(bars), tmp_path / "b.csv")
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        import_bars(path, source_tz="Mars/Olympus")


def test_dst_ambiguous_naive_time_outside_session_is_dropped(tmp_path):
    bars = make_bars(days=("2021-11-05", "2021-11-08"), n=3)
    raw = vendor(bars, "naive_local")
    night = raw.iloc[[2]].assign(Datetime="2021-11-07 01:30:00")  # happens twice in New York
    raw = pd.concat([raw.iloc[:3], night, raw.iloc[3:]])
    path = write(raw, tmp_path / "amb.csv")
    got, report = import_bars(path, max_outside_session=0.2)  # 1 of 7 rows outside, on purpose
    pd.testing.assert_frame_equal(got, bars)
    assert report.repairs["dropped_outside_session"] == 1
    with pytest.raises(DataImportError, match=expect(path, 4, "ambiguous in America/New_York")):
        import_bars(path, tz="UTC", source_tz=NY, session=("00:00", "23:59"))


def test_bar_minutes_any_time_unit():
    from ilsim.data import bar_minutes

    for unit in ("ns", "us", "s"):
        idx = pd.date_range("2021-01-04 09:30", periods=50, freq="5min", tz="America/New_York")
        bars = pd.DataFrame({"close": 1.0}, index=idx.as_unit(unit))
        assert bar_minutes(bars) == 5.0
