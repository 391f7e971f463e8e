"""The stable-baselines3 adapter (issue 14): SB3's VecEnv conventions over a tensor env, and
PPO finding the planted edge through it."""

import numpy as np
import pandas as pd
import pytest
import torch
from test_market import make_data

from ilsim import envs, market, planted
from ilsim.params import SyntheticParams
from ilsim.synthetic import generate_bars

sb3 = pytest.importorskip("stable_baselines3")
from stable_baselines3.common.vec_env import VecNormalize  # noqa: E402

from ilsim.sb3 import SB3VecEnv  # noqa: E402


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    b, _ = generate_bars(SyntheticParams(n_regimes=3, regime_days=(2, 2), bar_minutes=5), seed=2)
    return b


def test_the_adapter_follows_sb3s_conventions(bars):
    cfg = market.MarketConfig(episode_bars=4)
    ref = market.VectorMarket(make_data(bars), cfg, 3)
    vec = SB3VecEnv(market.VectorMarket(make_data(bars), cfg, 3))
    vec.seed(5)
    obs = vec.reset()
    assert np.array_equal(obs, ref.reset(envs.batch_seed([5, 6, 7], 3)).numpy())
    assert envs.batch_seed(5, 3) == envs.batch_seed([5, 6, 7], 3)  # gymnasium's reading
    assert vec.observation_space.shape == (ref.obs_dim,) and vec.action_space.shape == (1,)
    for k in range(4):
        a = np.full((3, 1), 0.5 if k % 2 else -0.5, dtype=np.float32)
        obs, r, done, infos = vec.step(a)
        o_ref, r_ref, _, trunc, info = ref.step(torch.as_tensor(a).reshape(3))
        assert np.array_equal(obs, o_ref.numpy()) and np.allclose(r, r_ref.numpy())
    assert done.all() and np.array_equal(obs, o_ref.numpy())  # the new episode's first obs
    for i in range(3):
        assert np.array_equal(infos[i]["terminal_observation"], info["final_obs"][i].numpy())
        assert infos[i]["TimeLimit.truncated"] is True
    assert vec.get_attr("obs_dim") == [ref.obs_dim] * 3
    assert vec.get_attr("cash", indices=[1])[0] == vec.env.cash[1]  # env 1's share
    with pytest.raises(ValueError, match="all of them"):
        vec.env_method("observe", indices=[0])
    assert vec.env_is_wrapped(VecNormalize) == [False] * 3


@pytest.mark.parametrize("algo", ["TD3", "SAC"])
def test_off_policy_learners_train_through_the_adapter(bars, algo):
    cfg = market.MarketConfig(episode_bars=50)
    vec = SB3VecEnv(market.VectorMarket(make_data(bars), cfg, 4))
    model = getattr(sb3, algo)(
        "MlpPolicy", vec, learning_starts=100, seed=0, policy_kwargs={"net_arch": [16, 16]}
    )
    model.learn(total_timesteps=800)
    action, _ = model.predict(vec.reset(), deterministic=True)
    assert action.shape == (4, 1) and np.abs(action).max() <= 1


def test_ppo_finds_the_planted_edge_through_the_adapter():
    """SB3's PPO on 64 planted-edge markets stepped as one batch: ≥ 80 % of the oracle's
    growth per bar on held-out paths, two seeds (about 10 s on 2 cores). The reward (a value
    change of ~1e-4) is scaled by SB3's own VecNormalize."""
    cfg = planted.PlantedConfig()
    orc = planted.oracle(cfg)
    best = planted.growth_per_bar(lambda o: orc.action(o, cfg), cfg, 128, 1000)
    for seed in (0, 1):
        env = SB3VecEnv(planted.PlantedEdgeEnv(64, cfg))
        vec = VecNormalize(env, norm_obs=False, norm_reward=True, gamma=0.9)
        vec.seed(seed)
        model = sb3.PPO(
            "MlpPolicy",
            vec,
            n_steps=64,
            batch_size=1024,
            gamma=0.9,
            learning_rate=1e-3,
            seed=seed,
            policy_kwargs={"net_arch": [64, 64]},
        )
        model.learn(100_000)

        def policy(obs: torch.Tensor, model=model) -> torch.Tensor:
            return torch.as_tensor(model.predict(obs.numpy(), deterministic=True)[0])

        got = planted.growth_per_bar(policy, cfg, 128, 1000)
        assert got / best >= 0.8, (seed, got, best)
