"""Metrics on hand-computable value paths and edge cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ilsim.backtest import long_only_actions, run_backtest
from ilsim.metrics import (
    METRIC_NAMES,
    backtest_rows,
    compute_metrics,
    is_degenerate,
    metrics_table,
    position_change_fraction,
    position_changes,
    trading_bars_per_year,
)


def test_hand_computed_path() -> None:
    m = compute_metrics(np.array([100.0, 110.0, 99.0, 121.0]))
    r = np.array([0.1, -0.1, 121.0 / 99.0 - 1])
    assert set(m) == set(METRIC_NAMES)
    assert m["final_value"] == 121.0
    assert m["total_return_pct"] == pytest.approx(21.0)
    assert m["volatility"] == pytest.approx(r.std(ddof=1))
    assert m["volatility_pct"] == pytest.approx(100 * r.std(ddof=1))
    assert m["sharpe_ratio"] == pytest.approx(r.mean() / r.std(ddof=1))
    assert m["max_drawdown_pct"] == pytest.approx(-10.0)
    assert math.isnan(m["turnover"])
    assert math.isnan(m["volatility_annualised"])
    assert math.isnan(m["sharpe_annualised"])


def test_matches_pandas_pct_change() -> None:
    rng = np.random.default_rng(3)
    v = 1e6 * np.exp(np.cumsum(rng.normal(0, 0.001, 500)))
    r = pd.Series(v).pct_change().dropna()
    m = compute_metrics(v)
    assert m["volatility"] == pytest.approx(r.std())
    assert m["sharpe_ratio"] == pytest.approx(r.mean() / r.std())


def test_drawdown_uses_running_peak() -> None:
    m = compute_metrics(np.array([100.0, 120.0, 90.0, 130.0, 104.0]))
    assert m["max_drawdown_pct"] == pytest.approx(-25.0)


def test_initial_value_is_prepended() -> None:
    m = compute_metrics(np.array([99.0, 99.0]), np.array([100.0, 0.0]), initial_value=100.0)
    assert m["total_return_pct"] == pytest.approx(-1.0)
    assert m["max_drawdown_pct"] == pytest.approx(-1.0)
    assert m["turnover"] == pytest.approx(1.0)
    assert m["volatility"] == pytest.approx(np.std([-0.01, 0.0], ddof=1))


def test_constant_growth_has_zero_volatility() -> None:
    m = compute_metrics(100.0 * 1.001 ** np.arange(200))
    assert m["volatility"] == pytest.approx(0.0, abs=1e-14)
    assert m["max_drawdown_pct"] == 0.0
    assert m["total_return_pct"] == pytest.approx(100 * (1.001**199 - 1))


@pytest.mark.parametrize("values", [np.full(10, 1e6), np.array([5.0])])
def test_flat_and_single_bar(values: np.ndarray) -> None:
    m = compute_metrics(values, np.zeros_like(values), bars_per_year=100.0)
    assert m["final_value"] == values[-1]
    for key in ("total_return_pct", "volatility", "sharpe_ratio", "max_drawdown_pct", "turnover"):
        assert m[key] == 0.0
        assert math.copysign(1.0, m[key]) == 1.0  # no negative zero
    assert m["sharpe_annualised"] == 0.0


def test_single_bar_with_initial_value() -> None:
    m = compute_metrics(np.array([90.0]), initial_value=100.0)
    assert m["total_return_pct"] == pytest.approx(-10.0)
    assert m["max_drawdown_pct"] == pytest.approx(-10.0)
    assert m["volatility"] == 0.0
    assert m["sharpe_ratio"] == 0.0


def test_annualisation() -> None:
    v = np.array([100.0, 101.0, 100.5, 102.0])
    m = compute_metrics(v, bars_per_year=trading_bars_per_year(5.0))
    scale = math.sqrt(252 * 78)
    assert m["volatility_annualised"] == pytest.approx(m["volatility"] * scale)
    assert m["sharpe_annualised"] == pytest.approx(m["sharpe_ratio"] * scale)
    assert trading_bars_per_year() == 98_280.0


def test_turnover_without_initial_uses_first_value() -> None:
    m = compute_metrics(np.array([200.0, 200.0]), np.array([50.0, 50.0]))
    assert m["turnover"] == pytest.approx(0.5)


def test_long_only_backtest_metrics() -> None:
    p = np.array([100.0, 100.0, 90.0, 95.0, 110.0])  # the buy fills at the second close
    r = run_backtest(p, long_only_actions(5), fee=0.005).squeeze()
    m = compute_metrics(r.value, r.traded_notional, initial_value=r.initial_cash)
    assert m["total_return_pct"] == pytest.approx(100 * (1.1 / 1.005 - 1))
    assert m["max_drawdown_pct"] == pytest.approx(100 * (0.9 / 1.005 - 1))
    assert m["turnover"] == pytest.approx(1 / 1.005)


def test_metrics_table() -> None:
    v = np.array([[100.0, 110.0, 99.0], [100.0, 100.0, 100.0]])
    tn = np.array([[0.0, 10.0, 0.0], [0.0, 0.0, 0.0]])
    table = metrics_table(v, tn, names=["a", "b"], initial_value=100.0)
    assert list(table.index) == ["a", "b"]
    assert list(table.columns) == list(METRIC_NAMES)
    assert table.loc["a"].to_dict() == pytest.approx(
        compute_metrics(v[0], tn[0], initial_value=100.0), nan_ok=True
    )
    assert table.loc["b", "turnover"] == 0.0
    assert list(metrics_table(v).index) == [0, 1]
    with pytest.raises(ValueError):
        metrics_table(v, names=["only one"])


@pytest.mark.parametrize(
    "values", [np.array([]), np.array([1.0, 0.0]), np.array([1.0, np.nan]), np.ones((2, 2))]
)
def test_invalid_values_raise(values: np.ndarray) -> None:
    with pytest.raises(ValueError):
        compute_metrics(values)


# -- degenerate policies (issue 9) ----------------------------------------------------------------


def test_constant_policies_are_degenerate() -> None:
    t = 200
    all_cash = np.zeros(t)
    all_in = np.full(t, 7_000.0)  # bought everything at the first bar, then held
    frac = position_change_fraction(np.stack([all_cash, all_in]))
    assert frac.tolist() == [0.0, 1 / t]
    assert is_degenerate(frac).tolist() == [True, True]
    assert position_changes(all_in).sum() == 1 and position_changes(all_in)[0]


def test_alternating_policy_is_not_degenerate() -> None:
    h = np.tile([0.0, 10.0], 50)  # sell all, buy all, … : bar 0 holds 0 (no change), then changes
    assert position_change_fraction(h) == pytest.approx(99 / 100)
    assert is_degenerate(position_change_fraction(h)) is False


def test_threshold_boundary_and_float_noise() -> None:
    t = 100
    one_trade = np.full(t, 5.0)  # 1 change in 100 bars: stays put on exactly 99 %
    two_trades = np.r_[np.full(50, 5.0), np.full(50, 6.0)]  # 2 in 100: 98 %
    assert is_degenerate(position_change_fraction(one_trade)) is True
    assert is_degenerate(position_change_fraction(two_trades)) is False
    noisy = 5.0 * (1 + 1e-12 * np.random.default_rng(0).standard_normal(t))
    assert position_change_fraction(noisy) == pytest.approx(1 / t)  # noise is not a trade
    assert is_degenerate(0.5, threshold=0.4) is True


def test_long_only_backtest_is_degenerate_and_active_policy_is_not() -> None:
    rng = np.random.default_rng(1)
    p = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, 300)))
    lo = run_backtest(p, long_only_actions(len(p)))
    active = run_backtest(p, np.where(np.arange(len(p)) % 2 == 0, 0.5, -0.5))
    assert is_degenerate(position_change_fraction(lo.holdings)).tolist() == [True]
    # every bar but the first changes the position (a decision fills at the next close)
    assert position_change_fraction(active.holdings)[0] == pytest.approx(1 - 1 / len(p))


@pytest.mark.parametrize("holdings", [np.array([]), np.ones((1, 0)), np.array([1.0, np.inf])])
def test_position_change_fraction_rejects_bad_holdings(holdings: np.ndarray) -> None:
    with pytest.raises(ValueError):
        position_change_fraction(holdings)


def test_backtest_rows_carry_metrics_extra_columns_and_degeneracy():
    t = 200  # one buy in 200 bars: below the 1 % of bars a non-degenerate policy trades on
    value = np.vstack([np.linspace(100, 110, t), np.full(t, 100.0)])
    holdings = np.vstack([np.arange(t) % 2 + 1.0, np.ones(t)])  # trades every bar / buys once
    extra = pd.DataFrame({"impact_total_return_pct": [1.0, 2.0]})
    rows = backtest_rows(
        value, np.zeros_like(value), holdings, initial_value=100.0, bars_per_year=252.0, extra=extra
    )
    assert len(rows) == 2
    keys = list(rows[0])
    assert keys[-3:] == ["impact_total_return_pct", "position_change_frac", "degenerate"]
    assert rows[0]["total_return_pct"] == pytest.approx(10.0)
    assert rows[1]["impact_total_return_pct"] == 2.0
    assert rows[0]["degenerate"] is False and rows[1]["degenerate"] is True
    assert rows[1]["position_change_frac"] == pytest.approx(1 / t)


def test_backtest_rows_reject_extra_columns_of_another_length():
    value = np.full((2, 10), 100.0)
    with pytest.raises(ValueError, match="1 rows for 2"):
        backtest_rows(
            value, np.zeros_like(value), np.ones_like(value), initial_value=100.0,
            bars_per_year=252.0, extra=pd.DataFrame({"x": [1.0]}),
        )  # fmt: skip
