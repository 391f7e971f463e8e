"""The order-flow impact law (issue 10): the fit recovers a planted law, the propagator's
paths, the response checks, and the impact-aware backtest."""

import numpy as np
import pandas as pd
import pytest

from ilsim import backtest, impact


def planted_bars(law: impact.ImpactLaw, days: int = 60, bars_per_day: int = 78, seed: int = 0):
    """Sessions of bars whose log returns follow ``law`` for a known flow, plus noise."""
    rng = np.random.default_rng(seed)
    n = days * bars_per_day
    q = rng.standard_t(4, n) * 0.004 * law.volume_day
    new = np.zeros(n, bool)
    new[::bars_per_day] = True
    r = np.diff(impact.impact_path(law, q[None], new)[0], prepend=0.0)
    r += 0.1 * r.std() * rng.standard_normal(n)
    r[new] = rng.normal(0, 0.005, new.sum())  # overnight gaps: dropped by the fit
    close = 100 * np.exp(np.cumsum(r))
    idx = pd.DatetimeIndex(
        [
            pd.Timestamp("2022-01-03 09:30", tz="America/New_York")
            + pd.Timedelta(days=d)
            + pd.Timedelta(minutes=5 * b)
            for d in range(days)
            for b in range(bars_per_day)
        ]
    )
    bars = pd.DataFrame(
        {
            "open": close,
            "high": close * 1.001,
            "low": close * 0.999,
            "close": close,
            "volume": np.full(n, law.volume_day / bars_per_day),
        },
        index=idx,
    )
    return bars, q


LAW = impact.ImpactLaw(
    coef=0.8,
    exponent=0.5,
    half_life=8.0,
    permanent_coef=0.3,
    alpha=0.0,
    sigma_day=0.015,
    volume_day=4e7,
    bars_per_day=78,
    n_bars=0,
    r2=np.nan,
)


def test_signed_volume_is_bulk_volume_classification():
    bars = pd.DataFrame(
        {
            "open": [10.0, 10.0, 10.0],
            "high": [11.0, 10.5, 10.0],
            "low": [9.0, 9.5, 10.0],
            "close": [10.5, 9.5, 10.0],
            "volume": [100.0, 200.0, 50.0],
        }
    )
    assert np.allclose(impact.signed_volume(bars), [25.0, -100.0, 0.0])


def test_fit_recovers_a_planted_law():
    bars, q = planted_bars(LAW)
    fit = impact.fit_impact_law(bars, flow=q, n_boot=60)
    # the daily scale is measured from the bars, so compare the product Y * sigma_day
    assert fit.exponent == pytest.approx(LAW.exponent, abs=0.051)
    assert fit.coef * fit.sigma_day == pytest.approx(LAW.coef * LAW.sigma_day, rel=0.1)
    assert fit.permanent_coef * fit.sigma_day == pytest.approx(
        LAW.permanent_coef * LAW.sigma_day, rel=0.2
    )
    assert 3 <= fit.half_life <= 20
    for name in ("exponent", "permanent_coef"):
        lo, hi = fit.ci[name]
        assert lo <= getattr(fit, name) <= hi
    assert fit.r2 > 0.9


def test_fit_without_impact_finds_no_coefficient():
    bars, q = planted_bars(LAW)
    rng = np.random.default_rng(5)
    fit = impact.fit_impact_law(bars, flow=rng.permutation(q), n_boot=30)
    # flow unrelated to the returns: the fitted law barely moves the price for any size
    for v in (0.001, 0.01, 0.05):
        planted = impact.law_response(LAW, v, 0)[0]
        assert abs(impact.law_response(fit, v, 0)[0]) < 0.1 * planted


def test_one_order_decays_to_its_linear_permanent_part():
    q = np.zeros(40)
    q[0] = 0.01 * LAW.volume_day
    path = impact.impact_path(LAW, q[None])[0]
    expected = impact.law_response(LAW, 0.01, 39) / 1e4
    assert np.allclose(path, expected)
    peak = LAW.sigma_day * (LAW.coef * 0.1 + LAW.permanent_coef * 0.01)  # sqrt + linear
    assert path[0] == pytest.approx(peak)
    assert path[-1] == pytest.approx(
        LAW.sigma_day * (LAW.coef * 0.1 * 2 ** (-39 / 8) + LAW.permanent_coef * 0.01)
    )
    # a new session spends what is left of the transient part: only the permanent part stays
    new = np.zeros(40, bool)
    new[10] = True
    cut = impact.impact_path(LAW, q[None], new)[0]
    assert np.allclose(cut[:10], path[:10])
    assert np.allclose(cut[10:], LAW.sigma_day * LAW.permanent_coef * 0.01)


def test_no_round_trip_profits_from_its_own_impact():
    """Buying in many small orders and selling in one (or the reverse) never leaves the trader
    ahead: the permanent part is linear, the transient part only costs (Gatheral 2010)."""
    n = 20
    for split in (1, 5, 20):
        q = np.zeros(n + 1)
        q[:split] = 0.05 * LAW.volume_day / split
        q[n] = -0.05 * LAW.volume_day
        level = impact.impact_path(LAW, q[None])[0]
        cash = -(q * np.exp(level)).sum()  # pay the impacted price for every share traded
        assert cash < 0
        back = -q[::-1]
        level = impact.impact_path(LAW, back[None])[0]
        assert -(back * np.exp(level)).sum() < 0


def test_law_round_trips_through_json_dict():
    fit = impact.ImpactLaw(**{**LAW.__dict__, "ci": {"coef": (0.5, 1.0)}})
    assert impact.ImpactLaw.from_dict(fit.to_dict()) == fit


def test_response_checks_read_a_square_root_response():
    sizes = [0.001, 0.01, 0.1]
    rows = [
        {
            "impact": "sqrt",
            "volume_fraction": v,
            "lag": h,
            "response_bp": 1e4 * 0.015 * np.sqrt(v) * (1.0 if h == 0 else 0.7),
            "se": 0.01,
        }
        for v in sizes
        for h in (0, 1, 2)
    ]
    checks = impact.response_checks(pd.DataFrame(rows), sigma_day=0.015).set_index("impact")
    r = checks.loc["sqrt"]
    assert r.slope == pytest.approx(0.5, abs=0.01)
    assert r.slope_ci_low < 0.5 < r.slope_ci_high
    assert r.peak_bp == pytest.approx(15.0)
    assert r.left_at_end == pytest.approx(0.7)
    assert bool(r.monotone)
    assert checks.loc["empirical law", "peak_bp"] == pytest.approx(15.0)


def test_impact_aware_backtest():
    rng = np.random.default_rng(1)
    prices = 100 * np.exp(np.cumsum(rng.normal(0, 1e-3, 200)))
    hold = backtest.long_only_actions(200)
    churn = np.tile([1.0, -1.0], 100)
    static = backtest.run_backtest(prices, np.stack([hold, churn]), initial_cash=1e9, fee=0.0)
    none = impact.ImpactLaw(**{**LAW.__dict__, "coef": 0.0, "permanent_coef": 0.0})
    same = backtest.run_backtest(
        prices, np.stack([hold, churn]), initial_cash=1e9, fee=0.0, impact=none
    )
    assert np.allclose(same.value, static.value)
    finals = []
    for cash in (1e6, 1e8, 1e10):
        aware = backtest.run_backtest(
            prices, np.stack([hold, churn]), initial_cash=cash, fee=0.0, impact=LAW
        )
        finals.append(aware.value[:, -1] / cash)
        # never better than the static prices; a buy-and-hold loses the decayed transient part
        assert np.all(aware.value[:, -1] / cash <= static.value[:, -1] / 1e9 + 1e-12)
        assert (aware.cash >= 0).all() and (aware.holdings >= 0).all()
    finals = np.array(finals)
    assert np.all(np.diff(finals[:, 0]) < 0) and np.all(np.diff(finals[:, 1]) < 0)
    assert np.all(finals[:, 1] < finals[:, 0])  # churning pays the impact again and again


def test_the_method_finds_a_law_in_bars_without_impact():
    """Bulk volume classification signs a bar's volume by its own move, so a random walk with
    volume unrelated to it still yields a 'law': the placebo fit measures that floor."""
    rng = np.random.default_rng(3)
    n, per_day = 60 * 78, 78
    close = 100 * np.exp(np.cumsum(rng.normal(0, 1e-3, n)))
    open_ = np.r_[close[0], close[:-1]]
    wick = np.abs(rng.normal(0, 5e-4, (2, n))) * close
    idx = pd.DatetimeIndex(
        [
            pd.Timestamp("2022-01-03 09:30", tz="America/New_York")
            + pd.Timedelta(days=d)
            + pd.Timedelta(minutes=5 * b)
            for d in range(n // per_day)
            for b in range(per_day)
        ]
    )
    bars = pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) + wick[0],
            "low": np.minimum(open_, close) - wick[1],
            "close": close,
            "volume": rng.lognormal(12, 0.5, n),
        },
        index=idx,
    )
    fit = impact.fit_impact_law(bars, n_boot=40)
    placebo = impact.fit_impact_law(bars, flow=impact.placebo_flow(bars, 1), n_boot=40)
    assert fit.coef > 0.2 and fit.r2 > 0.3  # a 'law' from the classification alone
    lo, hi = fit.ci["coef"]
    plo, phi = placebo.ci["coef"]
    assert lo <= phi and plo <= hi  # ... that its placebo cannot tell apart
