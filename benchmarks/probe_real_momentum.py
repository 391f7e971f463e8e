"""Probe (issue 9): plant a known momentum edge into the REAL bars and run the real pipeline path
(offline + online features, the il_train scaler, VectorMarket static replay, stacked DDPG with the
paper's rl params, selection on validation, the static backtester). If the learner stays in cash
here too, the cash policies are a bug; if it trades and earns, they are the market's answer.

    ILSIM_DATA=… python benchmarks/probe_real_momentum.py FEE BETA STEPS   # e.g. 0.0 0.5 4000

Needs the paper run's artifacts (results/paper). Prints figures; no asserts."""

import dataclasses
import sys
import time

import numpy as np
import torch

from ilsim import backtest, ddpg, features, market, regimes
from ilsim.market.assemble import market_config, run_market
from ilsim.params import load_params
from ilsim.run import Run
from ilsim.steps import training

torch.set_num_threads(1)
fee = float(sys.argv[1])
beta = float(sys.argv[2])
steps = int(sys.argv[3])
p = load_params("params/paper.yaml")
the_run = Run(p)
bars = the_run.bars()
segs = the_run.segments()
scaler = the_run.scaler()
# planted momentum: r'_t = r_t + beta * r'_{t-1} within a session (a function of past bars only)
c = bars["close"].to_numpy()
r = np.r_[0.0, c[1:] / c[:-1] - 1]
new = features.session_start_mask(bars.index)
rp = r.copy()
for t in range(1, len(r)):
    rp[t] = r[t] + (0.0 if new[t] else beta * rp[t - 1])
cp = c[0] * np.cumprod(1 + rp)
k = cp / c
planted = bars.copy()
for col in ("open", "high", "low", "close"):
    planted[col] = bars[col] * k
planted["high"] = planted[["open", "high", "low", "close"]].max(axis=1)
planted["low"] = planted[["open", "high", "low", "close"]].min(axis=1)
raw = features.compute_features(planted, **features.indicator_kwargs(p.features))
scaled = scaler.transform(raw).to_numpy(np.float32)
md = run_market(the_run, ("il_train",))
md = dataclasses.replace(md, bars=planted)
cfg_env = market_config(p, planted, impact="none", stagger_starts=True)
cfg_env.fee = fee
seeds = (0, 1)
env = market.VectorMarket(md, cfg_env, p.rl.n_envs * len(seeds))


def run(ranges, actor):
    out = np.zeros(actor.k)
    chg = np.zeros(actor.k)
    for a, b in ranges:
        res, _ = backtest.run_policy_backtest(
            planted.close.to_numpy()[a : b + 1], scaled[a : b + 1], actor.policy(), actor.k, fee=fee
        )
        out += np.log(res.value[:, -1] / 1e6) / (b + 1 - a) * 1e4
        chg += (np.diff(res.holdings, axis=1) != 0).mean(1)
    return out / len(ranges), chg / len(ranges)


val = regimes.role_ranges(segs, "validation")
test = regimes.role_ranges(segs, "backtest")
cfg = training.ddpg_config(
    p, seeds, total_steps=steps, min_steps=steps // 2, eval_every=500, checkpoint_every=10**9
)
t0 = time.time()
res = ddpg.train(env, cfg, evaluator=lambda a: run(val, a)[0], progress=False)
g, chg = run(test, res.actor)
# the "oracle" for the backtest timing: long when the observed r'_t > 0 (no fee), cash otherwise
ora = []
for a, b in test:
    x = rp[a : b + 1]
    nxt = np.r_[rp[a + 1 : b + 1], 0]
    ora.append(np.mean(np.log1p(np.where(x > 0, nxt, 0.0))) * 1e4)
print(
    f"fee {fee} beta {beta}: {time.time() - t0:.0f}s steps {res.vector_steps} "
    f"best {res.best_step}; "
    f"backtest growth bp/bar {np.round(g, 3)} position-change share {np.round(chg, 3)}; "
    f"sign-rule (no fee) {np.mean(ora):.3f} bp/bar; cash 0",
    flush=True,
)
