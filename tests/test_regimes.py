"""Segments, regimes, zig-zag and roles."""

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from realdata import DAILY, real_file

from ilsim import regimes
from ilsim.params import RoleRule, load_params

ROOT = Path(__file__).resolve().parents[1]


def minute_bars(days: list[str], closes: list[float]) -> pd.DataFrame:
    """Two bars per day with the given daily closes (enough for segmentation tests)."""
    idx, c = [], []
    for d, v in zip(days, closes, strict=True):
        for t in ("09:30", "15:55"):
            idx.append(pd.Timestamp(f"{d} {t}", tz="America/New_York"))
            c.append(v)
    c = np.asarray(c, float)
    return pd.DataFrame(
        {"open": c, "high": c, "low": c, "close": c, "volume": 1.0},
        index=pd.DatetimeIndex(idx, name="timestamp"),
    )


def test_regime_of():
    assert regimes.regime_of("min", "max") == "bull"
    assert regimes.regime_of("max", "min") == "bear"
    assert regimes.regime_of("max", "max") == regimes.regime_of("min", "min") == "sideways"


def test_segments_are_contiguous_and_cover_their_days():
    days = [str(d.date()) for d in pd.bdate_range("2021-01-04", periods=10)]
    bars = minute_bars(days, [1, 2, 3, 2, 1, 2, 2, 3, 4, 5])
    ext = [
        {"date": dt.date(2021, 1, 4), "kind": "min"},
        {"date": dt.date(2021, 1, 6), "kind": "max"},
        {"date": dt.date(2021, 1, 8), "kind": "min"},
        {"date": dt.date(2021, 1, 15), "kind": "max"},
        {"date": dt.date(2021, 2, 1), "kind": "min"},
    ]  # the last lies beyond the data
    seg = regimes.segments_from_extrema(ext, bars)
    assert seg["segment"].tolist() == [1, 2, 3]
    assert seg["regime"].tolist() == ["bull", "bear", "bull"]
    assert seg["first_bar"].tolist() == [2, 6, 10]
    assert seg["last_bar"].tolist() == [5, 9, 19]  # (d_i, d_i+1]: ends on its extremum day
    assert seg["bh_return_pct"].iloc[0] == pytest.approx(50.0)  # close 2 -> 3
    ids = regimes.bar_segment_ids(seg, len(bars))
    assert (ids[:2] == -1).all() and (ids[2:] >= 1).all()
    late = regimes.segments_from_extrema(ext, bars, first_date=dt.date(2021, 1, 7))
    assert late["segment"].tolist() == [3]


def test_no_segment_inside_data_is_an_error():
    bars = minute_bars(["2021-01-04", "2021-01-05"], [1, 2])
    with pytest.raises(ValueError, match="none of the 1 segments"):
        regimes.segments_from_extrema(
            [{"date": "2020-01-01", "kind": "min"}, {"date": "2020-02-01", "kind": "max"}], bars
        )


def test_zigzag_finds_swings_above_threshold():
    close = pd.Series(
        [100, 104, 112, 108, 95, 97, 90, 99, 110, 107],
        index=pd.bdate_range("2021-01-04", periods=10),
    )
    z = regimes.zigzag(close, 0.10)
    assert [(e["kind"], close.index.get_loc(pd.Timestamp(e["date"]))) for e in z] == [
        ("min", 0),
        ("max", 2),
        ("min", 6),
        ("max", 8),
    ]
    assert regimes.zigzag(close, 0.5) == []  # nothing moves 50 %


def test_match_extrema_reports_days_off():
    days = pd.bdate_range("2021-01-04", periods=20)
    ref = [{"date": days[3].date(), "kind": "max"}, {"date": days[10].date(), "kind": "min"}]
    auto = [{"date": days[5].date(), "kind": "max"}, {"date": days[10].date(), "kind": "min"}]
    m = regimes.match_extrema(auto, ref, days)
    assert m["days_off"].tolist() == [2, 0]


def test_assign_roles_rule():
    seg = pd.DataFrame(
        {"regime": ["bear", "bull", "sideways", "bear", "bull", "bear", "bull", "sideways", "bear"]}
    )
    roles = regimes.assign_roles(seg, RoleRule(n_il_train=2, n_sim_train=1, n_backtest=4))
    assert roles == [
        "il_train",
        "il_train",
        "backtest",
        "sim_train",
        "unused",
        "unused",
        "backtest",
        "backtest",
        "backtest",
    ]


def test_paper_roles_follow_the_stated_rule(monkeypatch, tmp_path):
    (tmp_path / "bars.parquet").write_bytes(b"")  # a data file must exist; it is not read
    monkeypatch.setenv("ILSIM_DATA", str(tmp_path / "bars.parquet"))
    p = load_params(ROOT / "params/paper.yaml")
    ext = [{"date": e.date, "kind": e.kind} for e in p.segments.extrema]
    kinds = pd.DataFrame(
        {
            "segment": range(1, len(ext)),
            "regime": [
                regimes.regime_of(a["kind"], b["kind"]) for a, b in zip(ext, ext[1:], strict=False)
            ],
            "start": [e["date"] for e in ext[:-1]],
        }
    )
    covered = kinds[kinds["start"] >= p.segments.first_date].reset_index(drop=True)
    assert covered["segment"].tolist() == list(range(12, 37))
    assert regimes.assign_roles(covered, p.segments.rule) == p.segments.roles
    assert sorted(
        covered.loc[[r == "backtest" for r in p.segments.roles], "regime"]
        .value_counts()
        .to_dict()
        .items()
    ) == [("bear", 4), ("bull", 5), ("sideways", 3)]


def test_explicit_roles_are_checked():
    seg = pd.DataFrame({"segment": [1, 2], "regime": ["bull", "bear"]})
    with pytest.raises(ValueError, match="lists 1 roles but the data give 2 segments"):
        regimes.with_roles(seg, RoleRule(), ["il_train"])
    with pytest.raises(ValueError, match="unknown role"):
        regimes.with_roles(seg, RoleRule(), ["il_train", "training"])


@pytest.mark.realdata
def test_table6_on_real_daily_closes():
    """The paper's extrema are real turning points of QQQ: each is the extreme of its
    neighbourhood in the daily closes (within a few trading days)."""
    from ilsim.data import load_daily_csv

    daily = load_daily_csv(real_file(DAILY))["close"]
    ext = pd.read_csv(ROOT / "paper/table6_extrema.csv")  # the paper's Table 6, in the repo
    ext = ext[pd.to_datetime(ext["date"]) <= pd.Timestamp("2021-05-28")]
    idx = pd.to_datetime(pd.Index(daily.index))
    hits = 0
    for d, k in zip(pd.to_datetime(ext["date"]), ext["kind"], strict=True):
        i = int(np.searchsorted(idx, d))
        window = daily.iloc[max(0, i - 5) : i + 6]
        j = i if i < len(daily) else len(daily) - 1
        near = daily.iloc[max(0, j - 2) : j + 3]
        hits += (near.max() == window.max()) if k == "max" else (near.min() == window.min())
    assert hits >= 0.8 * len(ext)


def test_zigzag_sweep_recall_and_precision():
    close = pd.Series(
        [100, 104, 112, 108, 95, 97, 90, 99, 110, 107],
        index=pd.bdate_range("2021-01-04", periods=10),
    )
    listed = [
        {"date": close.index[2].date(), "kind": "max"},
        {"date": close.index[6].date(), "kind": "min"},
    ]
    sweep = regimes.zigzag_sweep(close, listed, [0.10, 0.5], tolerance=0)
    first = sweep.iloc[0]
    assert first["recall"] == 1.0 and first["precision"] == 0.5  # 4 zig-zag points, 2 listed
    assert sweep.iloc[1]["zigzag_extrema"] == 0


def test_role_ranges():
    seg = pd.DataFrame(
        {
            "role": ["il_train", "backtest", "il_train", "sim_train"],
            "first_bar": [0, 10, 20, 30],
            "last_bar": [9, 19, 29, 39],
        }
    )
    assert regimes.role_ranges(seg, "il_train") == [(0, 9), (20, 29)]
    assert regimes.role_ranges(seg, ("sim_train", "backtest")) == [(10, 19), (30, 39)]
    assert regimes.role_ranges(seg, "unused") == []


def test_bar_span_is_a_segments_bars_and_buy_and_hold():
    idx = pd.date_range("2021-01-04 09:30", periods=6, freq="5min", tz="America/New_York")
    bars = pd.DataFrame({"close": [10.0, 11.0, 12.0, 9.0, 15.0, 16.0]}, index=idx)
    span = regimes.bar_span(bars, np.array([1, 2, 3, 4]))
    assert span == {
        "first_bar": 1,
        "last_bar": 4,
        "bars": 4,
        "start": idx[1],
        "end": idx[4],
        "bh_return_pct": pytest.approx(100 * (15 / 11 - 1)),
    }
