"""Static backtester: accounting identities as properties, plus hand-checked trades."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ilsim.backtest import BacktestResult, long_only_actions, run_backtest
from ilsim.impact import ImpactLaw

MODES = ("fraction", "target", "units")


@st.composite
def scenarios(draw: st.DrawFn) -> dict:
    """Random prices, K action paths (with many exact 0 / +-1 actions), cash, fee and unit."""
    n = draw(st.integers(1, 40))
    k = draw(st.integers(1, 3))
    price = st.floats(0.5, 2000.0)
    action = st.one_of(st.sampled_from([-1.0, 0.0, 1.0]), st.floats(-1.0, 1.0))
    return {
        "prices": np.array(draw(st.lists(price, min_size=n, max_size=n))),
        "actions": np.array(
            draw(st.lists(st.lists(action, min_size=n, max_size=n), min_size=k, max_size=k))
        ),
        "initial_cash": draw(st.sampled_from([0.0, 1.0, 1e3, 1e6])),
        "fee": draw(st.sampled_from([0.0, 0.005, 0.05])),
        "unit": draw(st.sampled_from([0.01, 1.0, 50.0, 1e5])),
    }


def run(s: dict, mode: str) -> BacktestResult:
    return run_backtest(
        s["prices"],
        s["actions"],
        initial_cash=s["initial_cash"],
        fee=s["fee"],
        mode=mode,
        unit=s["unit"],
    )


@settings(max_examples=150, deadline=None)
@given(scenarios(), st.sampled_from(MODES))
def test_accounting_properties(s: dict, mode: str) -> None:
    r = run(s, mode)
    p, cash0 = s["prices"], s["initial_cash"]
    # never short, never borrow: exact, no tolerance
    assert np.all(r.cash >= 0)
    assert np.all(r.holdings >= 0)
    # fees are non-negative and exactly the fee rate times traded notional
    assert np.all(r.fees >= 0)
    np.testing.assert_allclose(r.fees, s["fee"] * r.traded_notional, rtol=1e-12, atol=0)
    # value is conserved up to fees: dV[t] = holdings[t-1] * dP[t] - fees[t]
    prev_value = np.concatenate([np.full((len(r.value), 1), cash0), r.value[:, :-1]], axis=1)
    prev_held = np.concatenate([np.zeros((len(r.value), 1)), r.holdings[:, :-1]], axis=1)
    dp = np.diff(p, prepend=p[0])
    scale = np.maximum.reduce([np.abs(r.value), np.abs(prev_value), prev_held * p])
    tol = 1e-12 * scale + 1e-300
    assert np.all(np.abs((r.value - prev_value) - (prev_held * dp - r.fees)) <= tol)
    # value is the mark-to-market of cash and holdings
    np.testing.assert_allclose(r.value, r.cash + r.holdings * p, rtol=1e-12, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(scenarios(), st.sampled_from(MODES))
def test_batch_equals_one_by_one(s: dict, mode: str) -> None:
    batch = run(s, mode)
    for k, row in enumerate(s["actions"]):
        one = run({**s, "actions": row}, mode).squeeze()
        np.testing.assert_array_equal(one.value, batch.value[k])
        np.testing.assert_array_equal(one.holdings, batch.holdings[k])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0.5, 2000.0), min_size=1, max_size=40),
    st.sampled_from([0.0, 0.005, 0.05]),
)
def test_buy_and_hold_final_value(prices: list[float], fee: float) -> None:
    p = np.array(prices)
    r = run_backtest(p, long_only_actions(len(p)), fee=fee).squeeze()
    if len(p) == 1:  # the decision never fills: the next bar does not exist
        assert r.value[-1] == 1e6 and r.traded_notional[0] == 0.0
        return
    # sized at p[0], filled at p[1]: scaled down to the cash when p[1] > p[0], else cash is left
    shares = 1e6 / (max(p[0], p[1]) * (1 + fee))
    left = 1e6 - shares * p[1] * (1 + fee)
    assert r.value[-1] == pytest.approx(left + shares * p[-1], rel=1e-12)
    assert r.traded_notional[0] == 0.0 and r.fees[1] == pytest.approx(fee * shares * p[1])
    if p[1] >= p[0]:
        assert r.cash[-1] == 0.0


@settings(max_examples=60, deadline=None)
@given(
    st.floats(0.5, 2000.0),
    st.floats(0.0, 1.0),
    st.sampled_from([0.0, 0.005, 0.05]),
    st.sampled_from(MODES),
    st.integers(0, 3),
)
def test_round_trip_at_flat_price_loses_exactly_fees(
    price: float, a: float, fee: float, mode: str, gap: int
) -> None:
    actions = np.zeros(gap + 3)
    actions[0], actions[-2] = a, -1.0
    r = run_backtest(
        np.full(len(actions), price), actions, fee=fee, mode=mode, unit=1000.0
    ).squeeze()
    assert r.holdings[-1] == 0.0
    assert r.value[-1] == pytest.approx(1e6 - r.fees.sum(), rel=1e-12)
    assert r.value[-1] <= 1e6 * (1 + 1e-12)  # float rounding only
    if a > 1e-6 and fee > 0:
        assert r.value[-1] < 1e6


def test_fraction_mode_by_hand() -> None:
    """Decided at bar t (sized at close[t]), filled at close[t + 1]."""
    r = run_backtest(
        np.array([10.0, 10.0, 20.0, 20.0]),
        np.array([0.5, -0.5, 0.0, 1.0]),
        initial_cash=1000.0,
        fee=0.01,
    ).squeeze()
    shares = 500.0 / (10.0 * 1.01)
    assert r.cash[0] == 1000.0 and r.holdings[0] == 0.0 and r.fees[0] == 0.0
    assert r.cash[1] == pytest.approx(500.0)
    assert r.holdings[1] == pytest.approx(shares)
    assert r.fees[1] == pytest.approx(0.01 * shares * 10.0)
    assert r.holdings[2] == pytest.approx(shares / 2)
    assert r.cash[2] == pytest.approx(500.0 + shares / 2 * 20.0 * 0.99)
    assert r.traded_notional[3] == 0.0  # bar 2 decided nothing; bar 3's buy never fills


@pytest.mark.parametrize("fee", [0.01, 0.05])
def test_target_mode_by_hand(fee: float) -> None:
    """Protects the fee correction of ``mode="target"``'s sizing: after a filled target order
    at a flat price the exposure (holdings value / account value, the fee paid) is the target
    ``(A + 1) / 2`` up to float error, for a buy from cash and for a sell back down."""
    r = run_backtest(
        np.full(4, 10.0), np.array([0.2, -0.5, 0.0, 0.0]), initial_cash=1000.0, fee=fee,
        mode="target",
    ).squeeze()  # fmt: skip
    exposure = r.holdings * 10.0 / r.value
    assert r.traded_notional[1] > 0 and r.traded_notional[2] > 0
    assert exposure[1] == pytest.approx(0.6, rel=1e-12)  # (0.2 + 1) / 2, bought from cash
    assert exposure[2] == pytest.approx(0.25, rel=1e-12)  # (-0.5 + 1) / 2, sold down to it
    # the fee was paid: the value is what is left after it
    assert r.value[1] == pytest.approx(1000.0 - r.fees[1], rel=1e-12)


def test_a_buy_the_next_close_makes_unaffordable_is_scaled_down() -> None:
    r = run_backtest(np.array([10.0, 12.5]), np.array([1.0, 0.0]), initial_cash=1000.0, fee=0.0)
    assert r.squeeze().cash[1] == 0.0
    assert r.squeeze().holdings[1] == pytest.approx(1000.0 / 12.5)


def test_units_mode_clips_to_cash_and_holdings() -> None:
    # unit 100 shares at price 10 with cash 505: can afford exactly 50 shares with 1% fee
    r = run_backtest(
        np.array([10.0, 10.0, 10.0, 10.0]),
        np.array([1.0, -0.3, -1.0, 0.0]),
        initial_cash=505.0,
        fee=0.01,
        mode="units",
        unit=100.0,
    ).squeeze()
    assert r.holdings[1] == pytest.approx(50.0)
    assert r.cash[1] == pytest.approx(0.0, abs=1e-12)
    assert r.holdings[2] == pytest.approx(20.0)
    assert r.holdings[3] == 0.0
    # a small order is not clipped
    r = run_backtest(
        np.array([10.0, 10.0]), np.array([0.25, 0.0]), initial_cash=1e6, mode="units", unit=4.0
    ).squeeze()
    assert r.holdings[1] == 1.0
    assert r.traded_notional[1] == 10.0


def test_shapes_and_squeeze() -> None:
    r = run_backtest(np.ones(5), np.zeros((3, 5)))
    assert r.value.shape == (3, 5)
    assert r.squeeze() is r
    one = run_backtest(np.ones(5), np.zeros(5))
    assert one.value.shape == (1, 5)
    assert one.squeeze().value.shape == (5,)
    assert one.squeeze().initial_cash == 1e6
    np.testing.assert_array_equal(one.squeeze().value, np.full(5, 1e6))


def test_long_only_actions() -> None:
    assert long_only_actions(3).tolist() == [1.0, 0.0, 0.0]
    with pytest.raises(ValueError):
        long_only_actions(0)


@pytest.mark.parametrize(
    ("prices", "actions", "kwargs"),
    [
        (np.ones(3), np.array([0.0, 1.5, 0.0]), {}),
        (np.ones(3), np.array([0.0, np.nan, 0.0]), {}),
        (np.ones(3), np.zeros(4), {}),
        (np.array([1.0, 0.0, 1.0]), np.zeros(3), {}),
        (np.array([]), np.array([]), {}),
        (np.ones(3), np.zeros(3), {"mode": "short"}),
        (np.ones(3), np.zeros(3), {"fee": -0.1}),
        (np.ones(3), np.zeros(3), {"mode": "units", "unit": 0.0}),
    ],
)
def test_invalid_inputs_raise(prices: np.ndarray, actions: np.ndarray, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        run_backtest(prices, actions, **kwargs)


def test_policy_backtest_matches_static_and_stays_solvent():
    from ilsim.backtest import run_backtest, run_policy_backtest

    rng = np.random.default_rng(0)
    prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 300)))
    states = rng.random((300, 3)).astype(np.float32)
    res, acts = run_policy_backtest(prices, states, lambda o: np.ones(len(o)), 2)
    ref = run_backtest(prices, np.ones((2, 300)))
    assert np.allclose(res.value, ref.value) and (acts == 1).all()

    # a policy that reads its own account: sell when mostly invested, buy when mostly cash
    def flip(obs):
        return np.where(obs[:, 3] > 0.5, 1.0, -1.0)

    res, acts = run_policy_backtest(prices, states, flip, 1)
    assert (res.cash >= 0).all() and (res.holdings >= 0).all()
    assert set(np.unique(acts)) == {-1.0, 1.0}

    # K DDPG actors stacked give the same actions as each actor alone
    from ilsim import ddpg

    actors = [ddpg.Actor(5, (8,), seeds=(s,)) for s in range(3)]
    obs = rng.random((3, 5)).astype(np.float32)
    batched = ddpg.stack_actors(actors).policy()(obs)
    alone = [a.policy()(obs[k : k + 1])[0] for k, a in enumerate(actors)]
    assert np.allclose(batched, alone, atol=1e-6)


@pytest.mark.parametrize("mode", ["fraction", "target"])
@pytest.mark.parametrize("with_impact", [False, True])
def test_a_policy_replaying_fixed_actions_equals_the_static_backtest_exactly(mode, with_impact):
    """The static and the state-dependent backtests share one execution loop: a policy that
    replays the static actions (it reads the bar from its state) gives the same bytes."""
    from test_impact import LAW

    from ilsim.backtest import run_policy_backtest

    rng = np.random.default_rng(3)
    prices = 100 * np.exp(np.cumsum(rng.normal(0, 1e-3, 300)))
    actions = rng.uniform(-1, 1, (2, 300))
    states = np.arange(300, dtype=np.float32)[:, None]  # the bar's index
    kw = {"fee": 1e-3, "mode": mode, "impact": LAW if with_impact else None}
    static = run_backtest(prices, actions, **kw)
    replay, acts = run_policy_backtest(
        prices, states, lambda obs: actions[:, int(obs[0, 0])], 2, **kw
    )
    assert np.array_equal(acts, actions)
    for name in ("value", "cash", "holdings", "traded_notional", "fees"):
        assert np.array_equal(getattr(static, name), getattr(replay, name)), name


# A law with round numbers for the impact-aware backtest by hand: an order of ``q`` shares on an
# empty flow sum the log price moves by ``sigma_day * (coef * sqrt(q / V) + permanent * q / V)``.
SIMPLE_LAW = ImpactLaw(
    coef=1.0,
    exponent=0.5,
    half_life=1.0,  # the transient part halves each bar
    permanent_coef=0.5,
    alpha=0.0,
    sigma_day=0.01,
    volume_day=1e4,
    bars_per_day=5,
    n_bars=0,
    r2=np.nan,
)


def _own_move(q: float, s_prev: float = 0.0) -> float:
    """The log-price move of an order of ``q`` shares under ``SIMPLE_LAW`` (by hand: the
    transient part's new flow, minus the decay of the earlier flow sum, plus the permanent
    part), with ``s_prev`` the decaying flow sum before it."""
    sig, v, lam = 0.01, 1e4, 0.5
    return sig * (1.0 * np.sqrt(q / v) - (1 - lam) * s_prev + 0.5 * q / v)


def test_impact_aware_backtest_marks_at_the_real_close() -> None:
    """Protects the marking of the impact-aware backtest: fee 0, buy then hold; the account
    is worth cash + holdings × the *real* close at every later bar, not the price its own
    impact left (that would pay a large trader for pushing up its own mark)."""
    p = np.array([100.0, 102.0, 101.0, 103.0, 99.0])
    r = run_backtest(
        p, np.array([0.5, 0, 0, 0, 0]), initial_cash=1e6, fee=0.0, impact=SIMPLE_LAW
    ).squeeze()
    q = 0.5 * 1e6 / 100.0  # sized at close[0] (no own impact yet)
    fill = 102.0 * np.exp(_own_move(q))  # ~1 % above the real close
    assert r.holdings[1:] == pytest.approx(np.full(4, q), rel=1e-12)
    cash = 1e6 - q * fill
    assert r.cash[1:] == pytest.approx(np.full(4, cash), rel=1e-12)
    np.testing.assert_allclose(r.value[1:], cash + q * p[1:], rtol=1e-12, atol=0)
    assert r.value[0] == 1e6


def test_impact_aware_fill_is_the_next_close_times_its_own_impact() -> None:
    """Protects the impact-aware fill and sizing: an order decided at bar t is sized at
    ``close[t] * exp(own offset so far)`` and fills at ``close[t + 1] * exp(offset after
    it)``, computed here by hand from the law for two buys in a row (the second one sees the
    offset the first one left, partly decayed)."""
    fee = 0.001
    p = np.array([100.0, 102.0, 101.0, 103.0])
    r = run_backtest(
        p, np.array([0.5, 0.5, 0.0, 0.0]), initial_cash=1e6, fee=fee, impact=SIMPLE_LAW
    ).squeeze()
    # bar 0's decision: sized at 100 (no offset yet), fills at bar 1's real close + impact
    q1 = 0.5 * 1e6 / (100.0 * (1 + fee))
    level1 = _own_move(q1)
    fill1 = 102.0 * np.exp(level1)
    cash1 = 1e6 - q1 * fill1 * (1 + fee)
    assert r.holdings[1] == pytest.approx(q1, rel=1e-12)
    assert r.traded_notional[1] == pytest.approx(q1 * fill1, rel=1e-12)
    assert r.cash[1] == pytest.approx(cash1, rel=1e-12)
    # bar 1's decision: sized at bar 1's close with its own offset, fills at bar 2
    q2 = 0.5 * cash1 / (102.0 * np.exp(level1) * (1 + fee))
    level2 = level1 + _own_move(q2, s_prev=np.sqrt(q1 / 1e4))
    fill2 = 101.0 * np.exp(level2)
    assert r.holdings[2] == pytest.approx(q1 + q2, rel=1e-12)
    assert r.traded_notional[2] == pytest.approx(q2 * fill2, rel=1e-12)
    assert r.cash[2] == pytest.approx(cash1 - q2 * fill2 * (1 + fee), rel=1e-12)
