"""The interactive market (SPEC step 6): N environments as one batch of tensors.

Each step, for every environment at once:

1. the IL agents act on the scaled online features of the simulated path so far; the RL
   order is sized at the current price (:func:`ilsim.backtest.order_shares`);
2. the pool's buys and sells match (``deal = min(Σbuy, Σsell)``, the bar's traded volume);
   the RL order fills in full against the market's liquidity (issue 15: the paper's reading,
   the RL order matched pro rata inside the pool, filled an all-in buy about half because
   the pool is a net buyer, and every sell in full — a fill rule the backtest cannot share);
3. the next one-bar return is the synthesis network's mean given the IL actions, plus
   residual noise (a block bootstrap of the network's training residuals, drawn together with
   real bar volumes so that volume and volatility stay correlated), plus — in ``calibrated``
   mode — an explicit square-root impact of the RL agent's filled net order;
4. the RL agent's order fills at that next close (post-impact) and pays the fee on its
   notional (:func:`ilsim.backtest.book`): decided at bar t, filled at bar t + 1, the
   backtest's execution rule, so a replayed path fills, pays and values alike in both;
5. the new bar (volume = pool deal + RL fill + resampled background volume) updates the
   online features: in ``paper`` mode this is the only way the RL order reaches the price —
   through volume, hence RelVol and VWAP, hence the IL agents' next actions.

Mode ``learned`` (issue 10) takes "the RL agent's action is added to the pool of actions"
literally: the IL agents' net order (minus the pool's mean net order on its training bars, the
market's usual balance) and the RL order are one order flow, and the impact law fitted on the
real bars (:mod:`ilsim.impact`: a concave transient part, a linear permanent part) adds its move to
the paper's return. The RL order fills in full against the market at the post-impact price
(no pool matching). In ``learned`` and ``calibrated`` modes the account is marked at the price
without the agent's own impact (:meth:`VectorMarket.mark`): its own impact raises what it pays,
never what it is worth. Two limits: ``calibrated`` keeps its square-root move forever, and a
concave permanent impact lets a round trip of many small buys and one large sell profit from
itself (Gatheral 2010) — it is a probe of the paper's world, not a training world for large
portfolios (the headline uses ``learned``, whose permanent part is linear). Mode ``own``
(issue 25's premise A/B) is no simulator: the real bars replayed, with the agent's own impact
through the law exactly as the impact-aware backtest applies it.
And "without the agent's own impact" holds the IL pool's reaction fixed: agents that chase
the price the agent pushed still count as the market.

Mode ``pool`` is the other reading: the RL order, in units of IL actions, is spread over the
agents' actions at the synthesis network's input.

Mode ``none`` replays the real bars (the RL baseline's world): prices ignore every trade.

Layout (gymnax's split): :class:`MarketConfig` and :class:`MarketData` are the parameters,
:class:`MarketState` everything that changes while stepping (``state_dict`` for an exact
resume); :meth:`VectorMarket.step` runs the stages above in order — ``_orders``, ``_next_bar``
(the price), ``_book`` (the accounts), ``_advance`` (features and clock), the reward — and
restarts finished episodes in one place (``_autoreset``).
Gymnasium front ends (:class:`ilsim.envs.MarketEnv`, :class:`ilsim.envs.MarketVectorEnv`,
``gymnasium.make("ilsim/Market-v0")``) are in :mod:`ilsim.envs`, the SB3 adapter in
:mod:`ilsim.sb3`.

The package: :mod:`~ilsim.market.config` (parameters), :mod:`~ilsim.market.state` (the
changing state), :mod:`~ilsim.market.env` (:class:`VectorMarket`), :mod:`~ilsim.market.probes`
(rollouts and impact responses); everything public is importable from ``ilsim.market``.
"""

from __future__ import annotations

from ilsim.market.config import (
    ENV_IMPACT_MODES,
    IMPACT_MODES,
    Impact,
    MarketConfig,
    MarketData,
)
from ilsim.market.env import VectorMarket, window_reward
from ilsim.market.probes import impact_response, order_response, rollout
from ilsim.market.state import MarketState

__all__ = [
    "ENV_IMPACT_MODES",
    "IMPACT_MODES",
    "Impact",
    "MarketConfig",
    "MarketData",
    "MarketState",
    "VectorMarket",
    "impact_response",
    "order_response",
    "rollout",
    "window_reward",
]
