"""Env-steps per second of stable-baselines3's PPO training on the simulator: through the SB3
adapter (``ilsim.sb3.SB3VecEnv``: N envs as one batch of tensors) against SB3's own
``DummyVecEnv`` over N single ``MarketEnv``s (a Python loop), same PPO settings.

    python benchmarks/bench_sb3.py [params/paper.yaml] [N]   # after snakemake has built results/

Target (issue 14): the adapter trains at >= 20x the DummyVecEnv env-steps/s. Both rates are
whole PPO training (rollouts and updates), so the update's share bounds the ratio: batches of
``n_steps * N`` samples in minibatches of 4096 keep it small. Timings on a shared machine vary.
"""

from __future__ import annotations

import sys
import time

import torch
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv

from ilsim import envs, market
from ilsim.market.assemble import market_config, run_market
from ilsim.params import load_params
from ilsim.run import Run
from ilsim.sb3 import SB3VecEnv

TARGET_RATIO = 20.0
N_STEPS = 32  # rollout length per env


def ppo_rate(vec, n_envs: int, rollouts: int) -> float:
    """Env-steps per second of PPO learning ``rollouts`` rollouts (after one warm-up rollout)."""
    batch = min(4096, N_STEPS * n_envs)
    model = PPO(
        "MlpPolicy",
        vec,
        n_steps=N_STEPS,
        batch_size=batch,
        n_epochs=4,
        seed=0,
        device="cpu",
        policy_kwargs={"net_arch": [64, 64]},
    )
    model.learn(N_STEPS * n_envs)  # warm-up
    t = time.perf_counter()
    model.learn(N_STEPS * n_envs * rollouts, reset_num_timesteps=False)
    return N_STEPS * n_envs * rollouts / (time.perf_counter() - t)


def main() -> int:
    params = load_params(sys.argv[1] if len(sys.argv) > 1 else "params/default.yaml")
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 256
    data = run_market(Run(params), "sim_train", "cpu")
    cfg = market_config(params, data.bars)
    print(
        f"params {params.name}, impact {cfg.impact!r}, N = {n}, PPO n_steps {N_STEPS}, "
        f"torch threads {torch.get_num_threads()}"
    )
    fast = ppo_rate(SB3VecEnv(market.VectorMarket(data, cfg, n)), n, rollouts=8)
    slow = ppo_rate(DummyVecEnv([lambda: envs.MarketEnv(data, cfg)] * n), n, rollouts=1)
    ratio = fast / slow
    verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
    print(f"{'SB3VecEnv (tensors)':<24} {fast:>10,.0f} env-steps/s")
    print(f"{'DummyVecEnv(MarketEnv)':<24} {slow:>10,.0f} env-steps/s")
    print(f"ratio {ratio:.1f}x (target >= {TARGET_RATIO:.0f}x: {verdict})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
