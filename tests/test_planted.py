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
