"""Planted-edge envs: accounting, the oracle, and DDPG finding the planted signal."""

import math
from dataclasses import replace
from functools import partial

import numpy as np
import pandas as pd
import pytest
import torch

from ilsim import backtest, ddpg, planted
from ilsim.params import example_params, load_params


def test_accounting_matches_the_backtest_rules():
    """Replaying the env's own prices through the static backtester gives the same values."""
    cfg = planted.PlantedConfig(fee=0.005, episode_bars=50, n_features=3)
    env = planted.PlantedEdgeEnv(1, cfg)
    env.reset(seed=1)
    gen = torch.Generator().manual_seed(0)
    actions = (torch.rand(40, generator=gen) * 2 - 1).tolist()
    prices, values = [], []
    for a in actions:
        prices.append(float(env.price[0]))
        _, _, _, _, info = env.step(torch.tensor([a]))
        values.append(float(info["value"][0]))
    # one execution rule: sized at bar t's close, filled at bar t + 1's, in both
    path = np.r_[prices, float(env.price[0])]
    res = backtest.run_backtest(path, np.r_[actions, 0.0], fee=0.005).squeeze()
    np.testing.assert_allclose(values, res.value[1:], rtol=1e-10)


@pytest.mark.parametrize("w", [1, 2, 46])  # one bar, a short window, the paper's 230 minutes
def test_reward_window_is_exact(w):
    """With a window of w bars the reward is V_t − V_{t−w} over the initial value."""
    cfg = planted.PlantedConfig(reward_window_bars=w, episode_bars=200, n_features=1)
    env = planted.PlantedEdgeEnv(1, cfg)
    env.reset(seed=0)
    vals, rewards = [cfg.initial_cash], []
    for _ in range(100):
        _, r, _, _, info = env.step(torch.ones(1))
        vals.append(float(info["value"][0]))
        rewards.append(float(r[0]))
    expected = [(vals[t] - vals[max(0, t - w)]) / cfg.initial_cash for t in range(1, 101)]
    np.testing.assert_allclose(rewards, expected, rtol=1e-5, atol=1e-9)


def test_oracle_growth_is_what_the_oracle_earns_and_no_band_beats_it():
    cases = (
        planted.PlantedConfig(),
        planted.PlantedConfig(fee=0.005, edge_bp=4, phi=0.995),
        planted.PlantedConfig(fee=0.005, edge_bp=4, phi=0.995, fill="next"),
    )
    for cfg in cases:
        o = planted.oracle(cfg)

        def growth(orc: planted.Oracle, c: planted.PlantedConfig = cfg) -> float:
            return planted.growth_per_bar(lambda obs: orc.action(obs, c), c, 256, 3000)

        measured = growth(o)
        assert o.growth_bp > 0 and measured == pytest.approx(o.growth_bp, rel=0.1)
        for d in (-0.3, 0.3):  # moved bands earn less on the same paths
            assert growth(replace(o, enter=o.enter + d, exit=o.exit + d)) < measured
    flat = planted.PlantedConfig(edge_bp=0.0, fee=0.005)
    assert planted.oracle(flat).growth_bp == pytest.approx(0.0, abs=1e-9)  # nothing to earn


def test_a_drift_that_pays_for_the_fee_makes_buy_and_hold_the_oracle():
    """Issue 25's horizon case: no edge, a drift of 0.5 bp a bar under the 0.5 % fee. The oracle
    buys at once and holds whatever the signal says, earns the drift less the fee paid once and
    beats cash; with a drift below σ²/2 (holding loses) it stays in cash."""
    cfg = planted.PlantedConfig(edge_bp=0.0, drift_bp=0.5, fee=0.005)
    o = planted.oracle(cfg)
    assert o.enter <= -4.9 and o.exit <= -4.9  # invested at every signal value
    bars = 1000
    got = planted.growth_per_bar(lambda obs: o.action(obs, cfg), cfg, 64, bars)
    want = 0.5 - 0.5 * 10.0**2 * 1e-4 - 1e4 * np.log1p(0.005) / bars  # bp per bar
    assert got == pytest.approx(want, abs=0.15)  # the noise's mean: SE about 0.04 bp
    assert got > 0.0 == planted.growth_per_bar(lambda obs: -torch.ones(len(obs)), cfg, 64, bars)
    losing = planted.oracle(replace(cfg, drift_bp=-0.5))
    assert losing.enter == math.inf  # never buys


def learner_config(**kw) -> ddpg.DDPGConfig:
    """DDPG as the project's default ``rl`` params configure the learner (reward scale,
    saturation control: params/default.yaml), with the test's own budget and selection
    (validation every 250 steps, stop after 8 without improvement, not before 2000): the demo's
    small budget is not the one these learning checks are sized for."""
    r = load_params(example_params("default")).rl
    base = {
        "reward_scale": r.reward_scale,
        "preact_penalty": r.preact_penalty,
        "target_noise": r.target_noise,
        "policy_delay": r.policy_delay,
        "obs_norm": r.obs_norm,
        "learning_starts": r.learning_starts,
        "eval_every": 250,
        "patience": 8,
        "min_steps": 2000,
        "checkpoint_every": 10**9,
    }
    return ddpg.DDPGConfig(**{**base, **kw})


def fraction_of_oracle(cfg_env: planted.PlantedConfig, cfg: ddpg.DDPGConfig) -> pd.DataFrame:
    """Each seed's growth per bar over the oracle's on held-out paths (common random numbers),
    selected on other held-out paths."""
    train = partial(ddpg.train, cfg=cfg, progress=False)
    return planted.learner_study(train, {"case": cfg_env}, cfg.seeds)


@pytest.mark.slow
def test_ddpg_finds_the_planted_edge_without_fee():
    """≥ 90 % of the oracle's growth per bar, every seed (about 40 s on 2 cores)."""
    study = fraction_of_oracle(
        planted.PlantedConfig(), learner_config(total_steps=6000, seeds=(0, 1))
    )
    assert (study["fraction_of_oracle"] >= 0.9).all(), study


@pytest.mark.slow
def test_the_unscaled_reward_slows_plain_ddpg():
    """Issue 9's collapse: on the reward as built (~1e-4 a bar) plain DDPG has learned little
    after a budget in which the reward in basis points already earns most of the optimum."""
    cfg = learner_config(total_steps=1500, seeds=(0,), preact_penalty=0.0, eval_every=0)
    # the reward's scale is the question, so the fill that credits an action at once: under
    # the execution rule (fill at the next close) neither learns much in 1500 steps
    env = planted.PlantedConfig(fill="now")
    scaled = fraction_of_oracle(env, cfg)["fraction_of_oracle"].item()
    plain = replace(cfg, reward_scale=1.0)
    unscaled = fraction_of_oracle(env, plain)["fraction_of_oracle"].item()
    assert unscaled < 0.5 < scaled, (unscaled, scaled)


@pytest.mark.slow
def test_ddpg_earns_after_the_fee():
    """With the 0.5 % fee on an edge the oracle earns after fees: ≥ 50 % of the oracle."""
    cfg_env = planted.PlantedConfig(fee=0.005, edge_bp=4.0, phi=0.995)
    study = fraction_of_oracle(cfg_env, learner_config(total_steps=8000, seeds=(0, 1)))
    assert (study["fraction_of_oracle"] >= 0.5).all(), study


@pytest.mark.slow
def test_ddpg_learns_under_the_simulators_timing():
    """Orders filled at the next close (the simulator's timing): the one-bar reward holds an
    action's effect one reward later, and the learner still finds ≥ 80 % of the oracle."""
    study = fraction_of_oracle(
        planted.PlantedConfig(fill="next"), learner_config(total_steps=6000, seeds=(0, 1))
    )
    assert (study["fraction_of_oracle"] >= 0.8).all(), study


def test_edge_of_features_recovers_a_planted_linear_edge():
    rng = np.random.default_rng(0)
    n = 40_000
    x = np.zeros((n, 3))
    for t in range(1, n):  # AR(1) features, phi 0.8
        x[t] = 0.8 * x[t - 1] + 0.6 * rng.standard_normal(3)
    r = 2e-4 * x[:, 0] + 1e-3 * rng.standard_normal(n)  # 2 bp per unit of feature 0
    half = n // 2
    cfg = planted.edge_of_features(x[:half], r[:half], x[half:], r[half:])
    assert cfg.edge_bp == pytest.approx(2.0, rel=0.15)
    assert cfg.phi == pytest.approx(0.8, abs=0.05) and cfg.noise_bp == pytest.approx(10.2, rel=0.05)
    noise_only = planted.edge_of_features(
        x[:half],
        r[half:] * 0 + rng.standard_normal(half) * 1e-3,
        x[half:],
        rng.standard_normal(half) * 1e-3,
    )
    assert noise_only.edge_bp < 0.2  # no edge out of sample


@pytest.mark.slow
def test_the_learned_side_follows_the_market_not_the_seed():
    """Issue 15: with shared random streams the all-in/all-cash corner a run ended in followed
    its seed. Same seeds, same stream, two planted markets whose signal has opposite signs
    (the feature observed as +x or −x): each seed learns to buy on the side of the feature
    that predicts a rise in *its* market — opposite sides, not the seed's side."""
    cfg = learner_config(total_steps=3000, seeds=(0, 1), stream="final_rl")
    probe = torch.zeros(2, 2, 12)  # [models, observations, features]
    probe[:, 0, 0], probe[:, 1, 0] = 0.5, -0.5  # feature 0 high / low
    probe[:, :, 10] = 1.0  # all cash
    sides = []
    for scale in (0.25, -0.25):
        env = planted.PlantedEdgeEnv(32, planted.PlantedConfig(feature_scale=scale))
        res = ddpg.train(env, cfg, progress=False)
        with torch.no_grad():
            acts = res.actor(probe)  # [models, observations]
        sides.append((acts[:, 0] - acts[:, 1]).numpy())  # buy more when the feature is high?
    assert (sides[0] > 0.5).all() and (sides[1] < -0.5).all(), sides


def test_named_streams_draw_independently():
    a = ddpg.Agent.create(12, ddpg.DDPGConfig(seeds=(0, 1), stream="final_rl"), "cpu")
    b = ddpg.Agent.create(12, ddpg.DDPGConfig(seeds=(0, 1), stream="rl_baseline"), "cpu")
    again = ddpg.Agent.create(12, ddpg.DDPGConfig(seeds=(0, 1), stream="final_rl"), "cpu")
    plain = ddpg.Agent.create(12, ddpg.DDPGConfig(seeds=(0, 1)), "cpu")
    w = [x.actor.net.weights[0].detach() for x in (a, b, again, plain)]
    assert torch.equal(w[0], w[2]) and not torch.equal(w[0], w[1])
    assert not torch.equal(w[0], w[3]) and ddpg.stream_seed(5) == 5
    assert ddpg.stream_seed(0, "final_rl") != ddpg.stream_seed(0, "rl_baseline")


def _replay(cfg: planted.PlantedConfig, actions: list[float]) -> tuple[np.ndarray, list[float]]:
    """Drive one planted env with fixed actions: its price path (the start and every bar's
    close) and its account value after each bar."""
    env = planted.PlantedEdgeEnv(1, cfg)
    env.reset(seed=1)
    prices, values = [float(env.price[0])], []
    for a in actions:
        _, _, _, _, info = env.step(torch.tensor([a]))
        prices.append(float(env.price[0]))
        values.append(float(info["value"][0]))
    return np.array(prices), values


@pytest.mark.parametrize("cash", [1e6, 3e8, 1e10])  # negligible, the known answer's, most of a day
def test_own_impact_matches_the_impact_aware_backtest(cash):
    """With a law the env's accounts are the impact-aware backtest's on the same prices: the
    env's action at bar t is sized at t's price and fills at t + 1's, as ``run_backtest``'s
    ``actions[t]`` (sized at ``prices[t]``, filled at ``prices[t + 1]``), so the env's value
    after step t + 1 is the backtest's ``value[t + 1]`` (the last action never fills there)."""
    law = planted.QQQ_LAW
    cfg = planted.PlantedConfig(fee=1e-4, episode_bars=500, n_features=3, initial_cash=cash)
    gen = torch.Generator().manual_seed(0)
    actions = (torch.rand(200, generator=gen) * 2 - 1).tolist()
    prices, values = _replay(replace(cfg, impact=law), actions)
    free_prices, free_values = _replay(cfg, actions)
    np.testing.assert_array_equal(prices, free_prices)  # own impact never moves the market
    res = backtest.run_backtest(
        prices, np.r_[actions, 0.0], fee=1e-4, initial_cash=cash, impact=law
    ).squeeze()
    np.testing.assert_allclose(values, res.value[1:], rtol=1e-12)
    if cash >= 3e8:  # and the impact is no rounding error at these sizes
        assert values[-1] < free_values[-1] * 0.99


def test_own_impact_restarts_with_the_episode_and_resumes_exactly():
    """The impact's offset and the law's decaying sum are episode state: zero in a new
    episode, and saved and restored with the env (a resumed run continues bit for bit)."""
    cfg = replace(planted.IMPACT_CASE, episode_bars=5, n_features=2)
    env = planted.PlantedEdgeEnv(2, cfg)
    env.reset(seed=0)
    for _ in range(3):
        env.step(torch.tensor([1.0, -1.0]))
    assert env.level[0] > 0 and env.impact.s[0] > 0 and env.level[1] == 0  # only env 0 bought
    saved = env.state_dict()
    again = planted.PlantedEdgeEnv(2, cfg)
    again.load_state_dict(saved)
    seen = [  # over the episode's end (bar 5) and two bars into the next
        [e.step(torch.tensor([-0.5, 0.3]))[-1]["value"] for _ in range(4)] for e in (env, again)
    ]
    assert (env.t == 2).all()
    # env 0 sells from empty holdings since the restart: no flow, no offset left over
    assert env.level[0] == 0 and env.impact.s[0] == 0 and env.level[1] > 0
    assert all(torch.equal(a, b) for a, b in zip(*seen, strict=True))
    assert torch.equal(env.level, again.level) and torch.equal(env.impact.s, again.impact.s)


@pytest.mark.slow
def test_training_with_its_own_impact_pays_off():
    """The impact known answer (planted.IMPACT_CASE: an all-in order of 5.5 % of a day's
    volume, about 66 bp of impact, a 1 bp fee). The references: the fee's oracle (all in, all
    out) loses under the impact, the same bands traded a tenth of the way per bar earn. Trained
    without its impact the learner churns and loses under it; trained with it, at this budget it
    learns to stay out (trading slowly and earning comes with more steps: the paper run's 6000).
    Measured (1500 steps, about 25 s on one core), growth under impact per seed, with against
    without: seeds 0, 1: 0.000, 0.000 against -0.264, -0.793 bp per bar; seeds 2, 3: 0.000,
    0.000 against -0.828, -0.225; seeds 4, 5: 0.000, 0.000 against -0.821, -0.608 (margins of
    the means 0.53-0.71 bp; 0.22-0.54 at 1000 steps); turnover about 0 against 0.06-0.10 of the
    value per bar. Asserted: a margin of 0.25 bp and three times the turnover."""
    cfg = learner_config(total_steps=1500, seeds=(0, 1))
    train = partial(ddpg.train, cfg=cfg, progress=False)
    study = planted.impact_known_answer(train, planted.IMPACT_CASE, cfg.seeds)
    arm = study.groupby("arm")[["growth_bp", "growth_no_impact_bp", "turnover"]].mean()
    with_, without = arm.loc["with impact"], arm.loc["without impact"]
    assert with_["growth_bp"] > without["growth_bp"] + 0.25, study
    assert without["turnover"] > 3 * with_["turnover"], study  # the mechanism: it churns
    assert without["growth_no_impact_bp"] > 0, study  # what it learned pays without impact
    ref = study.iloc[0]
    assert ref["oracle_bp"] < 0 < ref["slow_oracle_bp"], study  # trading slowly still pays
    assert ref["slow_oracle_turnover"] < ref["oracle_turnover"], study
