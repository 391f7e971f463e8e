"""A run's saved policies backtested on any bars: the DDPG actors of every seed at once (one
stacked network) or the IL baseline's classes, with the static or the impact-aware backtest;
and every strategy of a backtest (long-only, the run's agents, other policies) on one slice."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ilsim import backtest, imitation, impact
from ilsim.artifacts import LEARNED
from ilsim.params import Params
from ilsim.run import Run


def policy_actions(
    p: Params,
    agent: str,
    policy_file: Callable[[int], Path],
    bars_slice: slice,
    scaled: pd.DataFrame,
    prices: np.ndarray,
    law: impact.ImpactLaw | None = None,
    new_session: np.ndarray | None = None,
    seeds: Sequence[int] | None = None,
    initial_cash: float | None = None,
    fee: float | None = None,
) -> tuple[backtest.BacktestResult, np.ndarray]:
    """Backtest every seed of one learned strategy on one slice of real bars:
    ``policy_file(seed)`` is where each seed's policy is (a run's:
    :meth:`ilsim.run.Run.policies`); ``law``: the impact-aware backtest; ``fee``: default
    ``backtest.fee``."""
    from ilsim import ddpg

    seeds = list(p.rl.seeds if seeds is None else seeds)
    cash = p.backtest.initial_cash if initial_cash is None else initial_cash
    fee = p.backtest.fee if fee is None else fee
    kw = {"initial_cash": cash, "fee": fee, "impact": law, "new_session": new_session}
    states = scaled.iloc[bars_slice].to_numpy(np.float32)
    if agent == "il_baseline":
        # The BC agent imitates labels in {-1, 0, +1}: it trades its predicted class (sell all,
        # hold, or buy with all cash), |output| <= il.hold_band being hold.
        x = torch.from_numpy(np.ascontiguousarray(states))
        raw = [imitation.load_agents(policy_file(s))[0].act(x)[:, 0].numpy() for s in seeds]
        acts = np.stack([imitation.action_classes(r, p.il.hold_band) for r in raw]).astype(float)
        return backtest.run_backtest(prices, acts, **kw), acts
    loaded = [ddpg.load_policy(policy_file(s)) for s in seeds]
    actors = ddpg.stack_actors([a for a, _ in loaded])
    return backtest.run_policy_backtest(
        prices,
        states,
        actors.policy(),
        actors.k,
        mode=loaded[0][1].get("action_mode", "fraction"),
        **kw,
    )


@dataclass
class StrategyRun:
    """One strategy's backtest on one slice of bars: the result (one path per seed), the seeds
    its paths stand for, and the actions it took (``None`` for long-only)."""

    result: backtest.BacktestResult
    seeds: list[int]
    actions: np.ndarray | None


# another policy to backtest beside the run's: its name, the policy (states -> actions), how
# many paths it acts for at once, and its action mode ("fraction" or "target")
OtherPolicy = tuple[str, Callable[[np.ndarray], np.ndarray], int, str]


def strategy_runs(
    run: Run,
    bars_slice: slice,
    scaled: pd.DataFrame,
    prices: np.ndarray,
    *,
    law: impact.ImpactLaw | None = None,
    new_session: np.ndarray | None = None,
    fee: float | None = None,
    agents: Sequence[str] = LEARNED,
    seeds: Sequence[int] | None = None,
    others: Sequence[OtherPolicy] = (),
    long_only: bool = True,
) -> dict[str, StrategyRun]:
    """Every strategy on one slice of real bars, the one loop of the backtests, the claims'
    backtests and ``ilsim backtest``: long-only (all cash into shares at the first decision,
    filled at the next close, then held; one path), each learned agent of ``run`` (every
    seed of ``seeds``, default ``rl.seeds``) and ``others`` (K paths each, seeds 0 … K − 1);
    static, or with ``law`` the impact-aware backtest (its flow restarting where
    ``new_session`` is true); ``backtest.initial_cash``; ``fee``: default ``backtest.fee``."""
    p = run.params
    fee = p.backtest.fee if fee is None else fee
    kw = {
        "initial_cash": p.backtest.initial_cash,
        "fee": fee,
        "impact": law,
        "new_session": new_session,
    }
    out: dict[str, StrategyRun] = {}
    if long_only:
        actions = backtest.long_only_actions(len(prices))[None]
        out["long_only"] = StrategyRun(backtest.run_backtest(prices, actions, **kw), [0], None)
    for agent in agents:
        res, acts = policy_actions(
            p, agent, run.policies(agent), bars_slice, scaled, prices, law, new_session,
            seeds=seeds, fee=fee,
        )  # fmt: skip
        out[agent] = StrategyRun(res, list(p.rl.seeds if seeds is None else seeds), acts)
    if others:
        states = scaled.iloc[bars_slice].to_numpy(np.float32)
        for name, policy, k, mode in others:
            res, acts = backtest.run_policy_backtest(prices, states, policy, k, mode=mode, **kw)
            out[name] = StrategyRun(res, list(range(k)), acts)
    return out
