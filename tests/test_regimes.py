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
    monkeypatch.setenv("ILSIM_DATA", str(tmp_path))
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


def test_segment_long_only_returns_match_the_backtester():
    from ilsim import backtest, metrics

    days = [str(d.date()) for d in pd.bdate_range("2021-01-04", periods=10)]
    bars = minute_bars(days, [10, 12, 11, 9, 8, 10, 13, 12, 14, 15])
    bars["open"] = bars["close"] - 0.5
    ext = [
        {"date": dt.date(2021, 1, 5), "kind": "max"},
        {"date": dt.date(2021, 1, 8), "kind": "min"},
        {"date": dt.date(2021, 1, 15), "kind": "max"},
        {"date": dt.date(2021, 2, 1), "kind": "min"},  # beyond the data
    ]
    out = regimes.segment_long_only_returns(ext, bars, fee=0.005)
    assert out["segment"].tolist() == [1, 2, 3]
    assert out["regime"].tolist() == ["bear", "bull", "bear"]
    assert out["covered"].tolist() == [True, True, False]
    assert np.isnan(out["long_only_pct"].iloc[2])
    segs = regimes.segments_from_extrema(ext, bars)
    close = bars["close"].to_numpy()
    for s in segs.itertuples(index=False):
        # the formula is a buy sized and filled at the first close: the backtest's long-only
        # on a path whose decision bar repeats that close (the execution rule fills at the next)
        px = np.r_[close[s.first_bar], close[s.first_bar : s.last_bar + 1]]
        res = backtest.run_backtest(px, backtest.long_only_actions(len(px)), fee=0.005).squeeze()
        m = metrics.compute_metrics(res.value[1:], initial_value=res.initial_cash)
        row = out[out["segment"] == s.segment].iloc[0]
        assert row["long_only_pct"] == pytest.approx(m["total_return_pct"], abs=1e-9)
        assert row["max_drawdown_pct"] == pytest.approx(m["max_drawdown_pct"], abs=1e-9)
    # segment 1 holds 2021-01-06 … 01-08 (closes 11, 9, 8); the other buy prices
    first_open = regimes.segment_long_only_returns(ext, bars, fee=0.0, buy="first_open")
    prev_close = regimes.segment_long_only_returns(ext, bars, fee=0.0, buy="prev_close")
    assert first_open["long_only_pct"].iloc[0] == pytest.approx(100 * (8 / 10.5 - 1))
    assert prev_close["long_only_pct"].iloc[0] == pytest.approx(100 * (8 / 12 - 1))
    with pytest.raises(ValueError, match="buy must be"):
        regimes.segment_long_only_returns(ext, bars, buy="vwap")


def _planted_returns(rng: np.random.Generator) -> pd.DataFrame:
    regime = ["bull"] * 10 + ["bear"] * 10 + ["sideways"] * 3
    values = np.concatenate(
        [rng.uniform(2, 40, 10), rng.uniform(-30, -2, 10), rng.uniform(-6, 3, 3)]
    )
    return pd.DataFrame({"segment": np.arange(1, 24), "regime": regime, "long_only_pct": values})


def test_search_backtest_roles_finds_a_planted_assignment():
    rng = np.random.default_rng(7)
    ret = _planted_returns(rng)
    bull, bear = (2, 5, 6, 9, 10), (12, 15, 19, 20)
    lo = ret.set_index("segment")["long_only_pct"]
    targets = {
        "bull": lo[list(bull)].mean(),
        "bear": lo[list(bear)].mean(),
        "sideways": lo[[21, 22, 23]].mean(),
    }
    res = regimes.search_backtest_roles(ret, targets, sizes={"sideways": 3}, top=5)
    best = res.iloc[0]
    assert best["segments_bull"] == bull and best["segments_bear"] == bear
    assert best["backtests"] == tuple(sorted(bull + bear + (21, 22, 23)))
    assert best["max_miss_pp"] < 1e-9 and res["max_miss_pp"].iloc[1] > 1e-3
    assert res["rank"].tolist() == [1, 2, 3, 4, 5]
    assert (np.diff(res["max_miss_pp"]) >= 0).all()
    # a case the planted set meets, a required segment, and constraints nothing meets
    case = {"bear": round(float(lo[15]), 1)}
    with_case = regimes.search_backtest_roles(ret, targets, sizes={"sideways": 3}, cases=case)
    assert with_case.iloc[0]["segments_bear"] == bear
    assert with_case.iloc[0]["case_miss_bear"] <= 0.05
    forced = regimes.search_backtest_roles(ret, targets, sizes={"sideways": 3}, require=[1])
    assert all(1 in b for b in forced["backtests"]) and forced.iloc[0]["max_miss_pp"] > 1e-6
    none = regimes.search_backtest_roles(ret, targets, sizes={"sideways": 3}, cases={"bear": 99})
    assert none.empty
    with pytest.raises(ValueError, match="required segments"):
        regimes.search_backtest_roles(ret, targets, require=[99])


def test_search_backtest_roles_equals_brute_force():
    """Combining each regime's best few subsets gives the exact top of the full search."""
    import itertools

    rng = np.random.default_rng(3)
    ret = pd.DataFrame(
        {
            "segment": np.arange(1, 15),
            "regime": ["bull"] * 6 + ["bear"] * 6 + ["sideways"] * 2,
            "long_only_pct": np.round(rng.normal(0, 10, 14), 1),  # rounded: ties happen
        }
    )
    targets = {"bull": 5.0, "bear": -4.0, "sideways": 1.0}
    lo = ret["long_only_pct"].to_numpy()
    reg = ret["regime"].to_numpy()
    scores = []
    for combo in itertools.combinations(range(14), 6):
        c = np.array(combo)
        if not all((reg[c] == r).any() for r in targets):
            continue
        miss = [abs(lo[c][reg[c] == r].mean() - t) for r, t in targets.items()]
        scores.append((max(miss), sum(miss)))
    scores.sort()
    res = regimes.search_backtest_roles(ret, targets, n_backtest=6, top=8)
    got = list(zip(res["max_miss_pp"], res["sum_miss_pp"], strict=True))
    assert np.allclose(got, scores[:8])
