"""Gymnasium front ends (issue 14): next-step and same-step autoreset by gymnasium's rules,
infos with masks, seeding, bounded observations, gymnasium's wrappers and ``gymnasium.make``."""

from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
import torch
from test_market import make_data

import ilsim
from ilsim import envs, market
from ilsim.params import SyntheticParams
from ilsim.synthetic import generate_bars

NEXT, SAME = gym.vector.AutoresetMode.NEXT_STEP, gym.vector.AutoresetMode.SAME_STEP
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    b, _ = generate_bars(SyntheticParams(n_regimes=3, regime_days=(2, 2), bar_minutes=5), seed=2)
    return b


def vec(bars, n=3, mode=NEXT, episode=5, impact="paper"):
    res = np.random.default_rng(0).normal(0, 0.002, 300)
    cfg = market.MarketConfig(impact=impact, episode_bars=episode)
    return envs.MarketVectorEnv(make_data(bars, residual=res), cfg, n, autoreset_mode=mode)


def test_next_step_autoreset_by_gymnasiums_rule(bars):
    """The step that ends an episode returns its last observation; the next step returns the
    new episode's first observation with reward 0 and no step info, ignoring its action."""
    same, nxt = vec(bars, mode=SAME), vec(bars, mode=NEXT)
    o_same, _ = same.reset(seed=3)
    o_next, _ = nxt.reset(seed=3)
    assert np.array_equal(o_same, o_next)
    a = np.full((3, 1), 0.5, dtype=np.float32)
    for _ in range(5):
        o_same, r_same, _, tr_same, i_same = same.step(a)
        o_next, r_next, _, tr_next, i_next = nxt.step(a)
        assert np.array_equal(r_same, r_next) and np.array_equal(tr_same, tr_next)
    assert tr_next.all() and "final_obs" not in i_next
    assert np.array_equal(o_next, np.stack(i_same["final_obs"]))  # the last observation
    assert i_same["_final_obs"].all() and i_same["_final_info"].all()
    obs, r, term, trunc, info = nxt.step(a)
    assert not trunc.any() and not term.any() and (r == 0).all()
    assert not info["_value"].any()  # the reset step carries no step info
    assert np.array_equal(obs, nxt.market.observe().numpy())
    assert (nxt.market.t == 0).all() and (nxt.market.cash == 1_000_000.0).all()


def test_the_reset_steps_action_leaves_no_trace(bars):
    runs = []
    for reset_action in (1.0, -1.0):
        env = vec(bars, mode=NEXT, episode=4)
        env.reset(seed=11)
        out = []
        for k in range(12):
            act = reset_action if k == 4 else (0.3 if k % 2 else -0.2)
            obs, r, *_ = env.step(np.full((3, 1), act, dtype=np.float32))
            out.append(np.c_[obs, r])
        runs.append(np.stack(out))
    assert np.array_equal(runs[0], runs[1])


def test_same_step_infos_carry_final_obs_with_masks(bars):
    env = vec(bars, n=4, mode=SAME, episode=6)
    env.reset(seed=0)
    env.market.t[:] = torch.tensor([0, 5, 0, 5])  # two envs end on the next step
    _, _, _, trunc, info = env.step(np.zeros((4, 1), dtype=np.float32))
    assert trunc.tolist() == [False, True, False, True]
    assert info["_final_obs"].tolist() == trunc.tolist()
    assert info["final_obs"][0] is None and info["final_obs"][1].shape == (env.market.obs_dim,)
    assert info["_final_info"].tolist() == trunc.tolist()
    assert info["final_info"]["_value"].tolist() == trunc.tolist()
    assert np.array_equal(info["final_info"]["value"], info["value"])  # the last step's values
    # gymnasium's rule: an env that ended carries its reset's (empty) info at the top level
    assert info["_value"].tolist() == (~trunc).tolist() and info["value"].shape == (4,)


def test_next_step_when_some_envs_end(bars):
    """Envs 1 and 3 end; 0 and 2 go on. Against the same-step twin: the ending step returns
    the twin's final observations for 1 and 3, the next step their new episodes' first
    observations with reward 0 and no step info, while 0 and 2 step as in the twin."""
    same, nxt = vec(bars, n=4, mode=SAME, episode=6), vec(bars, n=4, mode=NEXT, episode=6)
    for env in (same, nxt):
        env.reset(seed=2)
        env.market.t[:] = torch.tensor([0, 5, 0, 5])
    a = np.full((4, 1), 0.25, dtype=np.float32)
    o_s, r_s, _, tr_s, i_s = same.step(a)
    o_n, r_n, _, tr_n, i_n = nxt.step(a)
    assert tr_n.tolist() == tr_s.tolist() == [False, True, False, True]
    assert np.array_equal(r_n, r_s) and i_n["_value"].all()
    assert np.array_equal(o_n[[0, 2]], o_s[[0, 2]])
    for i in (1, 3):
        assert np.array_equal(o_n[i], i_s["final_obs"][i])
    o_s, r_s, _, _, _ = same.step(a)
    o_n, r_n, term, trunc, i_n = nxt.step(a)
    assert np.array_equal(r_n[[0, 2]], r_s[[0, 2]]) and np.array_equal(o_n[[0, 2]], o_s[[0, 2]])
    assert (r_n[[1, 3]] == 0).all() and not trunc.any() and not term.any()
    assert i_n["_value"].tolist() == [True, False, True, False]
    assert (nxt.market.t[[1, 3]] == 0).all() and (nxt.market.t[[0, 2]] == 2).all()


def test_reset_seeds_an_int_a_list_and_a_mask(bars):
    env = vec(bars, n=3)
    a, _ = env.reset(seed=7)
    b, _ = env.reset(seed=7)
    c, _ = env.reset(seed=[1, 2, 3])
    d, _ = env.reset(seed=[1, 2, 3])
    e, _ = env.reset(seed=[1, 2, 4])
    assert np.array_equal(a, b) and np.array_equal(c, d) and not np.array_equal(c, e)
    with pytest.raises(ValueError, match="num_envs=3"):
        env.reset(seed=[1, 2])
    env.reset(seed=7)
    for _ in range(3):
        env.step(np.ones((3, 1), dtype=np.float32))
    before = env.market.state.start.clone()
    env.reset(options={"reset_mask": np.array([False, True, False])})
    assert env.market.t.tolist() == [3, 0, 3] and env.market.state.start[0] == before[0]
    with pytest.raises(ValueError, match="reset_mask"):
        env.reset(options={"reset_mask": np.array([1, 0, 1])})
    with pytest.raises(ValueError, match="reset_mask"):
        env.reset(options={"reset_mask": np.zeros(3, dtype=bool)})
    with pytest.raises(ValueError, match="one random stream"):
        env.reset(seed=1, options={"reset_mask": np.array([True, False, False])})
    # gymnasium's reading of an int seed (s, s+1, …), and fresh entropy without one
    assert np.array_equal(env.reset(seed=5)[0], env.reset(seed=[5, 6, 7])[0])
    assert not np.array_equal(vec(bars).reset()[0], vec(bars).reset()[0])


def test_a_same_step_partial_reset_keeps_the_others_current_observations(bars):
    env = vec(bars, n=3, mode=SAME, episode=20)
    env.reset(seed=4)
    for _ in range(3):
        last, *_ = env.step(np.full((3, 1), 0.5, dtype=np.float32))
    obs, _ = env.reset(options={"reset_mask": np.array([True, False, False])})
    assert np.array_equal(obs[1:], last[1:]) and (env.market.t.tolist() == [0, 3, 3])


def test_a_partial_reset_leaves_an_ended_env_its_last_observation(bars):
    env = vec(bars, n=3, mode=NEXT, episode=6)
    env.reset(seed=4)
    env.market.t[:] = torch.tensor([0, 5, 0])
    last, *_ = env.step(np.zeros((3, 1), dtype=np.float32))  # env 1 ends
    obs, _ = env.reset(options={"reset_mask": np.array([True, False, False])})
    assert np.array_equal(obs[1], last[1]) and not np.array_equal(obs[0], last[0])
    _, r, _, trunc, info = env.step(np.zeros((3, 1), dtype=np.float32))
    assert r[1] == 0 and not trunc[1] and not info["_value"][1]  # env 1 restarts now


@pytest.mark.parametrize("impact", ["paper", "none"])
def test_observations_stay_in_the_bounded_space(bars, impact):
    env = vec(bars, n=8, episode=60, impact=impact)
    space = env.single_observation_space
    assert np.isfinite(space.low).sum() >= env.market.features.num_features - 2  # MACD free
    assert (space.low[-2:] == 0).all() and np.isinf(space.high[-2:]).all()
    obs, _ = env.reset(seed=1)
    rng = np.random.default_rng(0)
    for _ in range(80):
        assert all(space.contains(o) for o in obs), obs
        obs, *_ = env.step(rng.uniform(-1, 1, (8, 1)).astype(np.float32))


def test_gymnasium_vector_wrappers_run(bars):
    env = gym.wrappers.vector.RecordEpisodeStatistics(vec(bars, n=2, episode=5))
    env = gym.wrappers.vector.NormalizeObservation(env)
    env = gym.wrappers.vector.DtypeObservation(env, np.float64)
    obs, _ = env.reset(seed=0)
    total = np.zeros(2)
    for _ in range(5):
        obs, r, _, trunc, info = env.step(np.full((2, 1), 0.5, dtype=np.float32))
        total += r
    assert obs.dtype == np.float64 and trunc.all()
    assert np.allclose(info["episode"]["r"], total) and (info["episode"]["l"] == 5).all()


def test_single_env_passes_check_env(bars):
    from gymnasium.utils.env_checker import check_env

    env = envs.MarketEnv(make_data(bars), market.MarketConfig(episode_bars=20))
    check_env(env, skip_render_check=True)
    o1, _ = env.reset(seed=5)
    o2, _ = env.reset(seed=5)
    assert np.array_equal(o1, o2) and o1.shape == env.observation_space.shape


def test_gymnasium_make_and_make_vec(bars):
    data, cfg = make_data(bars), market.MarketConfig(episode_bars=20)
    assert ilsim.ENV_ID in gym.registry
    env = gym.make(ilsim.ENV_ID, data=data, config=cfg, impact="none")
    assert env.unwrapped.market.cfg.impact == "none"
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    v = gym.make_vec(ilsim.ENV_ID, num_envs=16, data=data, config=cfg, device="cpu")
    assert isinstance(v, envs.MarketVectorEnv) and v.num_envs == 16
    assert v.metadata["autoreset_mode"] == NEXT
    with pytest.raises(ValueError, match="params="):
        gym.make(ilsim.ENV_ID)
    with pytest.raises(TypeError):
        gym.make(ilsim.ENV_ID, data=data, config=cfg, stagger_start=True)  # a typo
    v = gym.make_vec(ilsim.ENV_ID, num_envs=2, data=data, config=cfg, episode_bars=7)
    assert v.market.cfg.episode_bars == 7  # overrides apply to a given config too


@pytest.mark.skipif(
    not (ROOT / "results/default/synthesis.pt").exists(), reason="needs the default run"
)
def test_gymnasium_make_from_a_finished_run():
    v = gym.make_vec(
        ilsim.ENV_ID, num_envs=4, params=ROOT / "params/default.yaml", root=ROOT, device="cpu"
    )
    obs, _ = v.reset(seed=0)
    assert obs.shape == (4, v.single_observation_space.shape[0])
    obs, r, *_ = v.step(np.zeros((4, 1), dtype=np.float32))
    assert np.isfinite(obs).all() and np.isfinite(r).all()


def test_a_tensor_env_without_reset_where_is_refused():
    class Bare:
        n, obs_dim, device = 2, 1, torch.device("cpu")

    with pytest.raises(TypeError, match="reset_where"):
        envs.TensorVectorEnv(Bare())


def test_an_ended_episode_shows_its_last_info_in_the_vector_and_single_env(bars):
    """Next-step autoreset (issue 27: one final-obs path): on the step an episode ends, the
    env shows that episode's last observation and value, not the restarted one's."""
    cfg = market.MarketConfig(episode_bars=20)
    single = envs.MarketEnv(make_data(bars), cfg)
    single.reset(seed=3)
    vec = envs.MarketVectorEnv(make_data(bars), cfg, 2)
    vec.reset(seed=3)
    for _ in range(20):
        obs, _, _, trunc, info = single.step(np.array([1.0], dtype=np.float32))
        vobs, _, _, vtrunc, vinfo = vec.step(np.ones((2, 1), dtype=np.float32))
    assert trunc and vtrunc.all()
    fresh = vec.market.cfg.initial_cash
    assert info["value"] != fresh and (vinfo["value"] != fresh).all()  # all in, then moved
    restarted = vec.market.observe().cpu().numpy()
    assert not np.array_equal(vobs, restarted)  # the old episode's last observation


def test_reset_stream_is_the_one_seeding_rule(bars):
    """``envs.reset_stream`` (the gymnasium and SB3 front ends' one rule): a seed restarts the
    stream, no seed (or all ``None``) goes on with it, and the first reset without one draws
    fresh entropy; a list must name every env."""
    m = market.VectorMarket(make_data(bars), market.MarketConfig(episode_bars=20), 3)
    a = envs.reset_stream(m, 4, started=False).clone()
    goes_on = envs.reset_stream(m, [None, None, None], started=True).clone()
    assert torch.equal(envs.reset_stream(m, [4, 5, 6], started=True), a)  # gymnasium's int
    assert not torch.equal(goes_on, a)  # the stream went on, it did not restart
    m2 = market.VectorMarket(make_data(bars), market.MarketConfig(episode_bars=20), 3)
    envs.reset_stream(m2, 4, started=False)
    assert torch.equal(envs.reset_stream(m2, None, started=True), goes_on)
    with pytest.raises(ValueError, match="num_envs=3"):
        envs.reset_stream(m, [None, None], started=True)


def test_the_single_env_is_the_vector_env_over_one(bars):
    cfg = market.MarketConfig(episode_bars=20)
    single = envs.MarketEnv(make_data(bars), cfg)
    one = envs.MarketVectorEnv(make_data(bars), cfg, 1)
    o1, _ = single.reset(seed=11)
    o2, _ = one.reset(seed=11)
    assert np.array_equal(o1, o2[0])
    for k in range(25):  # through an episode's end
        a = np.array([np.sin(k)], dtype=np.float32)
        s_obs, s_r, _, s_trunc, s_info = single.step(a)
        v_obs, v_r, _, v_trunc, v_info = one.step(a.reshape(1, 1))
        assert np.array_equal(s_obs, v_obs[0]) and s_r == v_r[0] and s_trunc == v_trunc[0]
        assert s_info["value"] == v_info["value"][0]
