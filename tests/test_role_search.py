"""The segments' long-only returns and the backtest-role search."""

import datetime as dt
import itertools

import numpy as np
import pandas as pd
import pytest
from test_regimes import minute_bars

from ilsim import regimes, role_search


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
    out = role_search.segment_long_only_returns(ext, bars, fee=0.005)
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
    first_open = role_search.segment_long_only_returns(ext, bars, fee=0.0, buy="first_open")
    prev_close = role_search.segment_long_only_returns(ext, bars, fee=0.0, buy="prev_close")
    assert first_open["long_only_pct"].iloc[0] == pytest.approx(100 * (8 / 10.5 - 1))
    assert prev_close["long_only_pct"].iloc[0] == pytest.approx(100 * (8 / 12 - 1))
    with pytest.raises(ValueError, match="buy must be"):
        role_search.segment_long_only_returns(ext, bars, buy="vwap")


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
    res = role_search.search_backtest_roles(ret, targets, sizes={"sideways": 3}, top=5)
    best = res.iloc[0]
    assert best["segments_bull"] == bull and best["segments_bear"] == bear
    assert best["backtests"] == tuple(sorted(bull + bear + (21, 22, 23)))
    assert best["max_miss_pp"] < 1e-9 and res["max_miss_pp"].iloc[1] > 1e-3
    assert res["rank"].tolist() == [1, 2, 3, 4, 5]
    assert (np.diff(res["max_miss_pp"]) >= 0).all()
    # a case the planted set meets, a required segment, and constraints nothing meets
    case = {"bear": round(float(lo[15]), 1)}
    with_case = role_search.search_backtest_roles(ret, targets, sizes={"sideways": 3}, cases=case)
    assert with_case.iloc[0]["segments_bear"] == bear
    assert with_case.iloc[0]["case_miss_bear"] <= 0.05
    forced = role_search.search_backtest_roles(ret, targets, sizes={"sideways": 3}, require=[1])
    assert all(1 in b for b in forced["backtests"]) and forced.iloc[0]["max_miss_pp"] > 1e-6
    none = role_search.search_backtest_roles(
        ret, targets, sizes={"sideways": 3}, cases={"bear": 99}
    )
    assert none.empty
    with pytest.raises(ValueError, match="required segments"):
        role_search.search_backtest_roles(ret, targets, require=[99])


def test_search_backtest_roles_equals_brute_force():
    """Combining each regime's best few subsets gives the exact top of the full search."""

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
    res = role_search.search_backtest_roles(ret, targets, n_backtest=6, top=8)
    got = list(zip(res["max_miss_pp"], res["sum_miss_pp"], strict=True))
    assert np.allclose(got, scores[:8])
