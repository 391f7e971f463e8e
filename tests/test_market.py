"""The vectorised market: accounting invariants, impact, replay, resume (its gymnasium and SB3
front ends: ``test_envs.py``, ``test_sb3.py``)."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ilsim import market
from ilsim.features import MinMaxScaler, compute_features, session_start_mask, valid_mask
from ilsim.params import SyntheticParams
from ilsim.synthetic import generate_bars

FEAT = {"ema_periods": (3, 6, 9, 18, 27), "macd": (12, 26, 9), "relvol_window": 20}


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    b, _ = generate_bars(SyntheticParams(n_regimes=3, regime_days=(2, 2), bar_minutes=5), seed=2)
    return b


def make_data(bars, il=None, mean=0.0, residual=None) -> market.MarketData:
    raw = compute_features(bars, **FEAT)
    scaler = MinMaxScaler().fit(raw, mask=valid_mask(raw))
    n_res = 500
    res = np.zeros(n_res) if residual is None else residual
    return market.MarketData(
        bars=bars,
        scaler=scaler,
        il_policy=il or (lambda x: torch.tanh(x[:, :3] - 0.5)),
        synthesis=lambda a: torch.full((a.shape[0],), mean),
        residuals=res,
        residual_volume=np.full(len(res), 1000.0),
        start_ranges=[(40, len(bars) - 1)],
        feature_kwargs=FEAT,
        sigma_bar=0.002,
        volume_bar=1000.0,
    )


def test_static_replay_follows_real_prices(bars):
    m = market.VectorMarket(make_data(bars), market.MarketConfig(impact="none", episode_bars=50), 4)
    m.reset(seed=1)
    start = m.state.start.clone()
    for k in range(1, 11):
        _, _, _, _, info = m.step(torch.ones(4) * (1 if k == 1 else 0))
        real = torch.tensor(bars["close"].to_numpy())[start + k]
        assert torch.allclose(info["price"], real)
    # the online features of the replay equal the offline ones
    raw = compute_features(bars, **FEAT).to_numpy()
    assert np.allclose(m.features.features.numpy(), raw[(start + 10).numpy()], atol=1e-4)


@settings(max_examples=25, deadline=None)
@given(
    actions=st.lists(st.floats(-1, 1), min_size=5, max_size=40),
    mode=st.sampled_from(["paper", "calibrated", "none"]),
)
def test_accounting_invariants(bars, actions, mode):
    cfg = market.MarketConfig(impact=mode, episode_bars=200, fee=0.005)
    res = np.random.default_rng(0).normal(0, 0.002, 300)
    m = market.VectorMarket(make_data(bars, residual=res), cfg, 3)
    m.reset(seed=0)
    for a in actions:
        cash0, h0 = m.cash.clone(), m.holdings.clone()
        _, _, _, _, info = m.step(torch.full((3,), a))
        assert (m.cash >= 0).all() and (m.holdings >= 0).all()
        assert torch.allclose(info["value"], m.cash + m.holdings * m.mark())
        if mode != "calibrated":  # only calibrated moves the price by the agent's own orders
            assert torch.equal(m.mark(), m.price)
        # cash changes by exactly the filled notional plus / minus the fee
        filled = info["filled"]
        expected = cash0 - filled * info["price"] - info["fees"]
        assert torch.allclose(m.cash, expected.clamp(min=0), rtol=1e-9, atol=1e-6)
        assert torch.allclose(info["fees"], 0.005 * filled.abs() * info["price"], rtol=1e-9)
        assert torch.allclose(m.holdings, h0 + filled, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("mode", ["paper", "calibrated"])
def test_round_trip_in_flat_market_never_gains(bars, mode):
    # balanced IL order flow (half buy, half sell) and a zero-mean synthesis: a flat market
    flat_il = lambda x: torch.tensor([[0.5, -0.5]]).expand(x.shape[0], 2)  # noqa: E731
    cfg = market.MarketConfig(impact=mode, episode_bars=100, noise=False)
    m = market.VectorMarket(make_data(bars, il=flat_il), cfg, 5)
    m.reset(seed=3)
    for a in (1.0, -1.0):
        m.step(torch.full((5,), a))
    assert (m.value() < cfg.initial_cash).all()


def test_calibrated_buy_size_raises_the_next_price(bars):
    flat_il = lambda x: torch.tensor([[1.0, -1.0]]).expand(x.shape[0], 2)  # noqa: E731
    cfg = market.MarketConfig(
        impact="calibrated", episode_bars=100, noise=False, il_volume_unit=1e9
    )
    sizes = torch.tensor([0.0, 0.01, 0.1, 0.5, 1.0])
    m = market.VectorMarket(make_data(bars, il=flat_il), cfg, len(sizes))
    m.reset(seed=0)
    m.state.start[:] = m.state.start[0]
    p0 = m.price.clone()
    _, _, _, _, info = m.step(sizes)
    rel = info["price"] / p0
    assert torch.all(rel[1:] > rel[:-1]) and rel[0] == pytest.approx(1.0)


def test_reset_is_reproducible_and_episodes_truncate(bars):
    cfg = market.MarketConfig(impact="paper", episode_bars=7)
    res = np.random.default_rng(1).normal(0, 0.002, 300)
    runs = []
    for _ in range(2):
        m = market.VectorMarket(make_data(bars, residual=res), cfg, 4)
        obs = [m.reset(seed=11)]
        for k in range(9):
            o, _, _, trunc, info = m.step(torch.full((4,), 0.3))
            obs.append(o)
            if k == 6:
                assert trunc.all() and "final_obs" in info
        runs.append(torch.stack(obs))
    assert torch.equal(runs[0], runs[1])


def test_state_dict_resumes_exactly(bars):
    cfg = market.MarketConfig(impact="calibrated", episode_bars=15)
    res = np.random.default_rng(4).normal(0, 0.002, 300)
    acts = torch.rand(40, 3, generator=torch.Generator().manual_seed(0)) * 2 - 1
    a = market.VectorMarket(make_data(bars, residual=res), cfg, 3)
    a.reset(seed=9)
    for k in range(20):
        a.step(acts[k])
    saved = a.state_dict()
    tail_a = [a.step(acts[k])[0] for k in range(20, 40)]
    b = market.VectorMarket(make_data(bars, residual=res), cfg, 3)
    b.reset(seed=123)  # a different state, overwritten by the load
    b.load_state_dict(saved)
    tail_b = [b.step(acts[k])[0] for k in range(20, 40)]
    assert all(torch.equal(x, y) for x, y in zip(tail_a, tail_b, strict=True))


def _law(volume_day: float):
    from ilsim.impact import ImpactLaw

    return ImpactLaw(
        coef=1.0,
        exponent=0.5,
        half_life=3.0,
        permanent_coef=0.5,
        alpha=0.0,
        sigma_day=0.01,
        volume_day=volume_day,
        bars_per_day=78,
        n_bars=0,
        r2=float("nan"),
    )


def test_learned_mode_follows_the_law_and_fills_in_full(bars):
    from ilsim.impact import law_response

    zero_pool = lambda x: torch.zeros(x.shape[0], 3)  # noqa: E731 — the pool never trades
    data = make_data(bars, il=zero_pool, residual=np.random.default_rng(0).normal(0, 1e-3, 500))
    with pytest.raises(ValueError, match="impact_law"):
        market.VectorMarket(data, market.MarketConfig(impact="learned"), 2)
    data.impact_law = _law(78_000.0)
    cfg = market.MarketConfig(impact="learned", episode_bars=30)
    resp = market.order_response(data, cfg, (0.001, 0.01, 0.1), 16, 5, 78_000.0)
    for v, g in resp.groupby("volume_fraction"):
        g = g.sort_values("lag")
        # same noise with and without the order, placed at a session's open: the difference
        # is the law's own path, decay included
        assert np.allclose(g["response_bp"], law_response(data.impact_law, v, 5))
    lag0 = resp[resp["lag"] == 0].sort_values("volume_fraction")["response_bp"].to_numpy()
    assert np.all(np.diff(lag0) > 0)
    # no pool to match against: an RL buy fills in full
    m = market.VectorMarket(data, cfg, 4)
    m.reset(seed=0)
    _, _, _, _, info = m.step(torch.ones(4))
    # (all but the few dollars its own smaller-than-peeked impact leaves over)
    assert torch.all(m.cash < 1e-4 * m.cfg.initial_cash) and torch.all(info["filled"] > 0)


def test_pool_mode_feeds_the_rl_order_to_the_synthesis_input(bars):
    seen = []

    def synth(a):
        seen.append(a.clone())
        return torch.zeros(a.shape[0])

    data = make_data(bars)
    data.synthesis = synth
    m = market.VectorMarket(data, market.MarketConfig(impact="pool", episode_bars=30), 2)
    m.reset(seed=0)
    m.step(torch.tensor([0.0, 1.0]))
    il = m.state.last_il_actions
    assert torch.allclose(seen[-1][0], il[0])  # no order: the pool's own actions
    assert torch.all(seen[-1][1] >= il[1]) and torch.any(seen[-1][1] > il[1])


def test_without_rl_orders_paper_calibrated_and_pool_step_alike(bars):
    data = make_data(bars, residual=np.random.default_rng(1).normal(0, 1e-3, 500))
    paths = {}
    for mode in ("paper", "calibrated", "pool"):
        m = market.VectorMarket(data, market.MarketConfig(impact=mode, episode_bars=30), 3)
        paths[mode] = market.rollout(m, torch.zeros(20, 3), seed=4)["price"]
    assert np.array_equal(paths["paper"], paths["calibrated"])
    assert np.array_equal(paths["paper"], paths["pool"])


def test_learned_mode_pool_at_its_balance_moves_nothing_and_resumes(bars):
    const = lambda x: torch.full((x.shape[0], 3), 0.4)  # noqa: E731 — a pool that always buys
    data = make_data(bars, il=const, residual=np.random.default_rng(2).normal(0, 1e-3, 500))
    data.impact_law = _law(78_000.0)
    data.pool_mean_action = 1.2  # its balance: 3 agents x 0.4
    paths = {}
    for mode in ("paper", "learned"):
        m = market.VectorMarket(data, market.MarketConfig(impact=mode, episode_bars=40), 3)
        paths[mode] = market.rollout(m, torch.zeros(30, 3), seed=1)["price"]
    assert np.allclose(paths["paper"], paths["learned"])
    # off its balance the pool trends the price
    data.pool_mean_action = 0.0
    m = market.VectorMarket(data, market.MarketConfig(impact="learned", episode_bars=40), 3)
    trend = market.rollout(m, torch.zeros(30, 3), seed=1)["price"][:, -1]
    assert (trend > paths["paper"][:, -1]).all()
    # an exact resume of the learned mode's state (the impact's decaying sum included)
    data.pool_mean_action = 1.0
    m = market.VectorMarket(data, market.MarketConfig(impact="learned", episode_bars=40), 3)
    m.reset(seed=3)
    for _ in range(5):
        m.step(torch.rand(3) * 2 - 1)
    state = m.state_dict()
    acts = torch.rand(6, 3) * 2 - 1
    first = [m.step(a)[4]["price"].clone() for a in acts]
    m.load_state_dict(state)
    again = [m.step(a)[4]["price"].clone() for a in acts]
    assert all(torch.equal(x, y) for x, y in zip(first, again, strict=True))


def test_learned_mode_does_not_pay_for_pushing_up_its_own_mark(bars):
    """Buying in small steps pushes the price up; the account is marked without its own
    impact, so in a market that would otherwise stay flat it can only lose (issue 10: a DDPG
    at 1e10 had learned to pump its own mark)."""
    zero_pool = lambda x: torch.zeros(x.shape[0], 3)  # noqa: E731
    data = make_data(bars, il=zero_pool, residual=np.zeros(500))
    data.impact_law = _law(78_000.0)
    cfg = market.MarketConfig(impact="learned", episode_bars=40, fee=0.0, initial_cash=1e7)
    m = market.VectorMarket(data, cfg, 2)
    m.reset(seed=0)
    start = m.price.clone()
    for _ in range(10):
        _, _, _, _, info = m.step(torch.tensor([0.2, 0.0]))
    assert (info["price"][0] > start[0] * 1.001) and torch.isclose(info["price"][1], start[1])
    assert info["value"][0] < cfg.initial_cash and torch.isclose(m.mark()[0], start[0])


def test_clamped_moves_keep_the_mark_finite(bars):
    """Orders far beyond the day's volume hit max_return; the own-impact offset follows the
    clamped price, so the account's mark stays the price without the agent's orders."""
    zero_pool = lambda x: torch.zeros(x.shape[0], 3)  # noqa: E731
    data = make_data(bars, il=zero_pool, residual=np.zeros(500))
    data.impact_law = _law(78_000.0)
    cfg = market.MarketConfig(impact="learned", episode_bars=40, fee=0.0, initial_cash=1e13)
    m = market.VectorMarket(data, cfg, 2)
    m.reset(seed=0)
    start = m.price.clone()
    for a in (1.0, -1.0, 1.0, -1.0):
        _, _, _, _, info = m.step(torch.tensor([a, 0.0]))
        assert torch.isfinite(info["value"]).all() and torch.allclose(m.mark(), start)
    assert info["value"][0] < cfg.initial_cash


@pytest.mark.parametrize("mode", ["fraction", "target"])
def test_replay_fills_fees_and_values_equal_the_backtest(bars, mode):
    """One execution rule (issue 15): a path replayed in ``none`` mode and the backtester on
    the same closes give the same fills, fees and values, bar for bar."""
    from ilsim import backtest

    steps = 60
    cfg = market.MarketConfig(impact="none", episode_bars=100, action_mode=mode, fee=0.005)
    m = market.VectorMarket(make_data(bars), cfg, 1)
    m.reset(seed=3)
    start = int(m.state.start[0])
    actions, run = _random_rollout(m, steps, seed=0, hold=0.6, first=0.7)
    fees, values = run["fees"], run["value"]
    # one side trades per bar: |net shares filled| x the fill (next) close
    notional = np.abs(run["filled"]) * run["price"]
    closes = bars["close"].to_numpy()[start : start + steps + 1]
    res = backtest.run_backtest(closes, np.r_[actions, 0.0], fee=cfg.fee, mode=mode).squeeze()
    assert (res.traded_notional[1:] > 0).sum() >= 10  # the path trades
    np.testing.assert_allclose(res.fees[1:], fees, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(res.traded_notional[1:], notional, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(res.value[1:], values, rtol=1e-12)
    np.testing.assert_allclose(res.holdings[-1], float(m.holdings[0]), rtol=1e-12)


@pytest.mark.parametrize("w", [1, 2, 5])
def test_reward_is_the_value_change_over_exactly_w_bars(bars, w):
    cfg = market.MarketConfig(impact="none", episode_bars=100, reward_window_bars=w, fee=0.0)
    m = market.VectorMarket(make_data(bars), cfg, 1)
    m.reset(seed=0)
    values, rewards = [cfg.initial_cash], []
    for t in range(30):
        _, r, _, _, info = m.step(torch.tensor([1.0 if t == 0 else (-1.0 if t == 15 else 0.0)]))
        values.append(float(info["value"][0]))
        rewards.append(float(r[0]))
    for t in range(1, 31):  # reward at t = (V_t - V_{t-w}) / V_0, V_{<0} = V_0
        expected = (values[t] - values[max(0, t - w)]) / cfg.initial_cash
        assert rewards[t - 1] == pytest.approx(expected, rel=1e-5, abs=1e-9), (t, w)


def test_volatility_head_scales_the_noise_by_the_pool_state(bars):
    """``volatility="head"``: each residual is standardised by the head's σ at its own bar and
    rescaled by the σ the head gives the pool's current actions — twice the σ, twice the noise."""
    rng = np.random.default_rng(0)
    res = rng.normal(0, 1e-3, 500)
    data = make_data(bars, residual=res)
    data.residual_scale = np.full(500, 1e-3)
    cfg = market.MarketConfig(impact="paper", episode_bars=50, volatility="head", noise_block=5)
    moves = {}
    for sigma in (1e-3, 2e-3):
        data.synthesis_vol = lambda a, s=sigma: torch.full((a.shape[0],), s)
        m = market.VectorMarket(data, cfg, 64)
        m.reset(seed=0)
        p0 = m.price.clone()
        m.step(torch.zeros(64))
        moves[sigma] = (m.price / p0 - 1).numpy()
    np.testing.assert_allclose(moves[2e-3], 2 * moves[1e-3], rtol=1e-4, atol=1e-12)
    boot = replace(cfg, volatility="bootstrap")  # σ(actions) = σ(own bar): the plain residuals
    plain = market.VectorMarket(make_data(bars, residual=res), boot, 64)
    plain.reset(seed=0)
    p0 = plain.price.clone()
    plain.step(torch.zeros(64))
    np.testing.assert_allclose((plain.price / p0 - 1).numpy(), moves[1e-3], rtol=1e-4, atol=1e-12)
    with pytest.raises(ValueError, match="volatility head"):
        market.VectorMarket(make_data(bars, residual=res), cfg, 4)


def _random_rollout(
    m, steps: int, seed: int = 1, hold: float = 0.7, first: float = 0.8
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Step one env with sparse random actions (a share ``hold`` of bars hold, a large first
    buy); the actions and each step's value, fees, price and filled shares."""
    rng = np.random.default_rng(seed)
    actions = np.where(rng.random(steps) < hold, 0.0, rng.uniform(-1, 1, steps))
    actions[0] = first
    keys = ("value", "fees", "price", "filled")
    run: dict[str, list[float]] = {k: [] for k in keys}
    for a in actions:
        _, _, _, _, info = m.step(torch.tensor([a]))
        for k in keys:
            run[k].append(float(info[k][0]))
    return actions, {k: np.array(v) for k, v in run.items()}


def test_learned_mode_and_the_impact_aware_backtest_fill_alike(bars):
    """The execution rule with impact: in ``learned`` mode with a silent pool and no noise
    the price without the agent is flat, so the simulator must fill, pay and mark exactly as
    the impact-aware backtest does on that flat path with the same law and sessions."""
    from ilsim import backtest

    zero_pool = lambda x: torch.zeros(x.shape[0], 3)  # noqa: E731 — the pool never trades
    data = make_data(bars, il=zero_pool)
    data.impact_law = _law(78_000.0)
    cfg = market.MarketConfig(impact="learned", episode_bars=200, fee=0.005)
    m = market.VectorMarket(data, cfg, 1)
    m.reset(seed=5)
    bod0, bpd = int(m.state.bar_of_day[0]), m.bars_per_day
    steps = 120
    actions, run = _random_rollout(m, steps)
    values, fees = run["value"], run["fees"]
    flat = np.full(steps + 1, float(bars["close"].iloc[int(m.state.start[0])]))
    new = (bod0 + np.arange(steps + 1)) % bpd == 0
    res = backtest.run_backtest(
        flat, np.r_[actions, 0.0], fee=cfg.fee, impact=data.impact_law, new_session=new
    ).squeeze()
    assert (res.fees > 0).sum() >= 10 and new[1:].any()  # it trades, across a session start
    np.testing.assert_allclose(res.fees[1:], fees, rtol=1e-8, atol=1e-6)
    np.testing.assert_allclose(res.value[1:], values, rtol=1e-9)


@pytest.mark.parametrize("mode", ["fraction", "target"])
def test_own_mode_is_the_impact_aware_backtest_as_an_env(bars, mode):
    """Mode ``own`` (issue 25's premise A/B): the real bars replayed plus the agent's own
    impact through the law must size, scale, fill, pay and mark exactly as the impact-aware
    backtest on the same closes, sessions and law, bar for bar, across a session start; its
    fills must differ from plain replay (the impact is there) while its marks are the real
    closes."""
    from ilsim import backtest

    data = make_data(bars)
    data.impact_law = _law(78_000.0)
    cfg = market.MarketConfig(impact="own", episode_bars=200, action_mode=mode, fee=0.005)
    m = market.VectorMarket(data, cfg, 1)
    m.reset(seed=5)
    start = int(m.state.start[0])
    steps = 120
    actions, run = _random_rollout(m, steps)
    values, fees, prices = run["value"], run["fees"], run["price"]
    real = bars["close"].to_numpy()[start + 1 : start + steps + 1]
    np.testing.assert_array_equal(prices, real)  # marked and observed at the real closes
    closes = bars["close"].to_numpy()[start : start + steps + 1]
    new = session_start_mask(bars.index)[start : start + steps + 1]
    kw = {"fee": cfg.fee, "mode": mode, "new_session": new}
    res = backtest.run_backtest(closes, np.r_[actions, 0.0], impact=data.impact_law, **kw)
    res = res.squeeze()
    plain = backtest.run_backtest(closes, np.r_[actions, 0.0], **kw).squeeze()
    assert (res.fees > 0).sum() >= 10 and new[1:].any()  # it trades, across a session start
    assert abs(res.value[-1] - plain.value[-1]) > 1.0  # the impact costs something
    replay = market.VectorMarket(data, replace(cfg, impact="none"), 1)  # the env without it
    replay.reset(seed=5)
    assert abs(_random_rollout(replay, steps)[1]["value"][-1] - values[-1]) > 1.0
    np.testing.assert_allclose(res.fees[1:], fees, rtol=1e-8, atol=1e-6)
    np.testing.assert_allclose(res.value[1:], values, rtol=1e-9)


def test_noise_is_a_block_bootstrap_aligned_to_the_time_of_day(bars):
    """The simulator's residual noise: blocks of ``noise_block`` consecutive residuals, each
    block starting at a residual of the same bar of day as the env's next bar (so the
    intraday shape of volatility survives), drawn from the env's own generator."""
    n_res, block = 780, 5
    data = make_data(bars, residual=np.arange(n_res, dtype=float))  # value = its index
    bpd = 78
    data.residual_bar_of_day = np.arange(n_res) % bpd
    cfg = market.MarketConfig(impact="paper", episode_bars=60, noise_block=block)
    m = market.VectorMarket(data, cfg, 4)
    m.reset(seed=3)
    assert m.bars_per_day == bpd
    for _ in range(3):  # three blocks, the clock held still
        nxt = (m.state.bar_of_day + 1) % bpd
        drawn = torch.stack([m._noise()[0] for _ in range(block)]).long()  # [block, envs]
        assert torch.equal(drawn[0] % bpd, nxt)  # the block starts at the next bar's time
        assert torch.equal(drawn - drawn[0], torch.arange(block)[:, None].expand_as(drawn))
    again = market.VectorMarket(data, cfg, 4)
    again.reset(seed=3)
    m.reset(seed=3)
    np.testing.assert_array_equal(again._noise()[0].numpy(), m._noise()[0].numpy())


@pytest.mark.parametrize("impact", ["none", "own"])
def test_staggered_starts_replay_from_the_bar_they_start_at(bars, impact):
    """Replay with ``stagger_starts`` (the RL baseline's and the premise arms' world): an env
    whose first episode starts t bars in still replays the bar after its start bar, so its
    price is always the close of bar ``start + t`` (it once jumped t + 1 bars on its first
    step: the price was the start bar's, the bar read was start + t + 1)."""
    data = make_data(bars)
    if impact == "own":
        data.impact_law = _law(1e7)
    cfg = market.MarketConfig(impact=impact, episode_bars=20, stagger_starts=True)
    m = market.VectorMarket(data, cfg, 16)
    m.reset(seed=0)
    close = m._real["close"]
    assert (m.t > 0).sum() > 8  # staggered
    for _ in range(25):  # through the first episodes' ends
        assert torch.equal(m.state.price, close[m.state.start + m.t])
        m.step(torch.zeros(16))
