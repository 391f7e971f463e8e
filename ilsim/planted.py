"""Planted-edge markets: a known answer for any trading learner (issue 9).

A tensor vector env with the simulator's observation layout (``n_features`` features, then cash
and holdings value as fractions of the initial value) and its order, fee and accounting rules
(:func:`ilsim.backtest.order_shares`, fee on traded notional, no shorting, no borrowing). The
return that follows a decision is planted:

    r_{t+1} = edge · x_t + noise · ε_{t+1},     x_{t+1} = φ x_t + sqrt(1 − φ²) η_{t+1}

where ``x_t`` (stationary AR(1), unit variance) is feature 0 of the observation and the other
features are independent AR(1) distractors of the same law. Two timings: ``fill="next"``, the
default, is the execution rule of the simulator and the backtest (issue 15: the order is sized
at bar t's price and fills at the next close, after the move, so the decision earns the bar
after: φ·edge·x_t in expectation, one reward later); ``fill="now"`` fills at bar t's own price,
before the move (the decision earns edge·x_t), the timing the backtest used before.

:func:`oracle` solves the best achievable policy under the fee exactly (average-reward value
iteration on a discretised x, all-in or all-cash — with a linear edge and bp-sized variance the
optimum is bang-bang), so a learner's result is a fraction of the optimum. :func:`growth_per_bar`
measures any policy's mean log growth per bar in the env, deterministically.

**Own market impact** (``impact=`` an :class:`ilsim.impact.ImpactLaw`): each account's orders
move its own fill prices exactly as in the impact-aware backtest (:mod:`ilsim.backtest`): sized
at ``price * exp(level)``, a buy its impact makes unaffordable scaled down, filled at the moved
price ``* exp(level)`` after the order's flow, marked and observed at the price without its own
impact. There are no sessions (the law's transient part is never released overnight); the
offset restarts with the episode. :func:`impact_known_answer` is the check that a learner
trained with its impact trades more slowly, and earns more under that impact, than one trained
without it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from scipy.stats import norm

from ilsim.backtest import book, order_shares, would_trade
from ilsim.impact import ImpactLaw, ImpactState
from ilsim.market import window_reward

START_PRICE = 100.0  # every episode's first price (sets shares per dollar for the impact law)


@dataclass(frozen=True)
class PlantedConfig:
    """The planted market: edge and noise in basis points per bar, the signal's persistence,
    the fee, the episode, the reward window and the action semantics."""

    edge_bp: float = 2.0  # std of the predictable part of the next return (bp)
    drift_bp: float = 0.0  # a constant mean return per bar (bp): holding pays on its own
    noise_bp: float = 10.0  # std of the unpredictable part (bp); 5-minute QQQ: about 10-15
    phi: float = 0.9  # AR(1) coefficient of the signal (and of the distractors)
    n_features: int = 10  # like the market's feature count; feature 0 carries the edge
    fee: float = 0.0
    initial_cash: float = 1_000_000.0
    episode_bars: int = 390
    reward_window_bars: int = 1
    action_mode: Literal["fraction", "target"] = "fraction"
    feature_scale: float = 0.25  # features are observed as scale · x (about [-1, 1])
    fill: Literal["now", "next"] = "next"  # the simulator's and the backtest's timing, or "now"
    impact: ImpactLaw | None = None  # the account's own impact on its fills (None: price taker)


# The law fitted on real QQQ 5-minute bars (the paper run's ``impact_law.json``, rounded; its
# intercept alpha, which own impact does not use, set to 0): the known answer's impact, fixed
# so that the check does not depend on a run's data.
QQQ_LAW = ImpactLaw(
    coef=2.118, exponent=0.7, half_life=78.0, permanent_coef=1.346, alpha=0.0,
    sigma_day=0.01866, volume_day=54_676_084.0, bars_per_day=78, n_bars=3157, r2=0.79,
)  # fmt: skip

# The impact known answer's market: the default edge (2 bp, φ 0.9: a one-σ signal earns about
# 18 bp over its life of some ten bars), a 1 bp fee (without impact the oracle trades on 9 % of
# the bars), and a size whose all-in order is 5.5 % of a day's volume at the start price: it
# moves the price about 66 bp, so an all-in round trip costs far more than one signal earns.
IMPACT_CASE = PlantedConfig(fee=1e-4, initial_cash=3e8, impact=QQQ_LAW)


class PlantedEdgeEnv:
    """N planted-edge markets stepped as tensors (same-step autoreset, like ``VectorMarket``).

    ``info`` carries ``value``, ``log_return`` (the account's log growth this bar),
    ``traded_notional`` (this bar's fills) and, when an episode ends, ``final_obs``. With
    ``cfg.impact``, ``level`` is each account's own log-price offset (the module docstring).
    """

    def __init__(self, n: int, cfg: PlantedConfig | None = None, device: Any = "cpu"):
        self.cfg = cfg or PlantedConfig()
        self.n, self.device = int(n), torch.device(device)
        self.obs_dim = self.cfg.n_features + 2
        acc = {"device": self.device, "dtype": torch.float64}
        self.x = torch.zeros(self.n, self.cfg.n_features, **acc)
        self.cash = torch.zeros(self.n, **acc)
        self.holdings = torch.zeros(self.n, **acc)
        self.price = torch.ones(self.n, **acc)
        self.t = torch.zeros(self.n, dtype=torch.long, device=self.device)
        self.values = torch.zeros(self.n, self.cfg.reward_window_bars, **acc)
        self.level = torch.zeros(self.n, **acc)  # the own impact's log offset (0 without a law)
        law = self.cfg.impact
        self.impact = None if law is None else ImpactState(law, torch.zeros(self.n, **acc))
        self.gen = torch.Generator(device=self.device).manual_seed(0)

    def _randn(self, *shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=self.gen, device=self.device, dtype=torch.float64)

    def reset_where(self, mask: torch.Tensor) -> None:
        c0 = self.cfg.initial_cash
        self.cash = torch.where(mask, torch.full_like(self.cash, c0), self.cash)
        self.holdings = torch.where(mask, torch.zeros_like(self.holdings), self.holdings)
        self.price = torch.where(mask, torch.full_like(self.price, START_PRICE), self.price)
        self.t = torch.where(mask, torch.zeros_like(self.t), self.t)
        self.values[mask] = c0  # the signal keeps running: it is the market, not the episode
        if self.impact is not None:  # a new account starts without impact of its own
            self.level = torch.where(mask, torch.zeros_like(self.level), self.level)
            self.impact.reset_where(mask)

    def reset(self, seed: int | None = None) -> torch.Tensor:
        if seed is not None:
            self.gen.manual_seed(seed)
        self.x = self._randn(self.n, self.cfg.n_features)  # stationary start
        self.reset_where(torch.ones(self.n, dtype=torch.bool, device=self.device))
        return self.observe()

    def trades(self, action: torch.Tensor) -> torch.Tensor:
        """Would these actions change the positions now? (For the learner's diagnostics.)"""
        a = torch.as_tensor(action, device=self.device, dtype=torch.float64).reshape(self.n)
        return would_trade(
            self.cash, self.holdings, a, self.sized_price(), fee=self.cfg.fee,
            mode=self.cfg.action_mode,
        )  # fmt: skip

    def sized_price(self) -> torch.Tensor:
        """The price orders are sized at: the market's, times the account's own impact."""
        return self.price if self.impact is None else self.price * torch.exp(self.level)

    def observe(self) -> torch.Tensor:
        c0 = self.cfg.initial_cash
        account = torch.stack([self.cash / c0, self.holdings * self.price / c0], 1)
        return torch.cat([self.cfg.feature_scale * self.x, account], 1).float()

    def value(self) -> torch.Tensor:
        return self.cash + self.holdings * self.price

    @torch.no_grad()
    def step(
        self, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        cfg = self.cfg
        a = torch.as_tensor(action, device=self.device, dtype=torch.float64).reshape(self.n)
        a = a.clamp(-1.0, 1.0)
        value0 = self.value()
        buy, sell = order_shares(
            self.cash, self.holdings, a, self.sized_price(), fee=cfg.fee, mode=cfg.action_mode
        )
        r = 1e-4 * (cfg.drift_bp + cfg.edge_bp * self.x[:, 0] + cfg.noise_bp * self._randn(self.n))
        moved = self.price * (1 + r)
        fill = moved if cfg.fill == "next" else self.price
        if self.impact is not None:  # as ilsim.backtest.trade_step: scale, book the flow, fill
            peek = fill * torch.exp(self.level + self.impact.peek(buy - sell))
            cost = buy * peek * (1 + cfg.fee)
            buy = buy * torch.where(cost > self.cash, self.cash / cost, torch.ones_like(cost))
            self.level = self.level + self.impact.step(buy - sell)
            fill = fill * torch.exp(self.level)
        self.cash, self.holdings, _, notional = book(
            self.cash, self.holdings, buy, sell, fill, fee=cfg.fee
        )
        self.price = moved
        self.x = cfg.phi * self.x + math.sqrt(1 - cfg.phi**2) * self._randn(*self.x.shape)
        self.t = self.t + 1
        value = self.value()
        reward = window_reward(self.values, self.t, value, cfg.initial_cash)
        truncated = self.t >= cfg.episode_bars
        terminated = torch.zeros_like(truncated)
        info: dict[str, Any] = {
            "value": value,
            "log_return": torch.log(value / value0),
            "traded_notional": notional,
        }
        obs = self.observe()
        if bool(truncated.any()):
            info["final_obs"] = obs.clone()
            self.reset_where(truncated)
            obs = self.observe()
        return obs, reward, terminated, truncated, info

    _STATE = ("x", "cash", "holdings", "price", "t", "values", "level")

    def state_dict(self) -> dict:
        out = {k: getattr(self, k).cpu().clone() for k in self._STATE}
        if self.impact is not None:
            out["impact_s"] = self.impact.s.cpu().clone()
        return {**out, "gen": self.gen.get_state()}

    def load_state_dict(self, state: dict) -> None:
        for k in self._STATE:
            setattr(self, k, state[k].to(self.device).clone())
        if self.impact is not None:
            self.impact.s = state["impact_s"].to(self.device).clone()
        self.gen.set_state(state["gen"])


# -- the optimum -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Oracle:
    """The best policy under the fee: hold shares while x > ``enter`` (from cash) or while
    x > ``exit`` (when invested). ``growth_bp`` is its expected log growth per bar."""

    growth_bp: float
    enter: float
    exit: float

    def action(self, obs: torch.Tensor, cfg: PlantedConfig) -> torch.Tensor:
        """The oracle's action on observations [N, D] (in the env's action semantics)."""
        x = obs[:, 0].double() / cfg.feature_scale
        invested = obs[:, -1] > obs[:, -2]  # more value in shares than in cash
        want = torch.where(invested, x > self.exit, x > self.enter)
        return torch.where(want, 1.0, -1.0).float()


def oracle(cfg: PlantedConfig, grid: int = 401, iters: int = 20_000) -> Oracle:
    """Average-reward value iteration over (x on a Tauchen grid, all-in or all-cash).

    Invested for a bar earns E log(1 + r) = log-normal-free second-order ``μ − (μ² + σ²)/2`` with
    μ = drift + edge·x, σ = noise (no edge and a drift above σ²/2: buy and hold, the fee paid
    once); switching costs log(1 + fee) to buy and −log(1 − fee) to sell (the fraction rule
    spends cash/(1 + fee) on shares). With ``fill="next"`` a decision on x_t is
    held over the bar after next, whose expected return is φ·edge·x_t. Returns the gain in bp
    per bar and the bands.
    """
    xs = np.linspace(-5, 5, grid)
    step = xs[1] - xs[0]
    sd = math.sqrt(1 - cfg.phi**2)
    edges = np.r_[-np.inf, (xs[:-1] + xs[1:]) / 2, np.inf]
    cdf = norm.cdf((edges[None, :] - cfg.phi * xs[:, None]) / sd)
    trans = np.diff(cdf, axis=1)  # [grid, grid]
    edge = cfg.edge_bp * (cfg.phi if cfg.fill == "next" else 1.0)
    mu, sig = 1e-4 * (cfg.drift_bp + edge * xs), 1e-4 * cfg.noise_bp
    g_in = mu - (mu**2 + sig**2) / 2
    buy_cost, sell_cost = math.log1p(cfg.fee), -math.log1p(-cfg.fee)
    h = np.zeros((2, grid))  # relative values: 0 cash, 1 invested (before the decision)
    gain = 0.0
    for _ in range(iters):
        stay_cash = trans @ h[0]
        go_in = g_in + trans @ h[1]
        new0 = np.maximum(stay_cash, go_in - buy_cost)
        new1 = np.maximum(go_in, stay_cash - sell_cost)
        gain = new0[grid // 2]
        new = np.stack([new0, new1]) - gain
        if np.max(np.abs(new - h)) < 1e-13:
            h = new
            break
        h = new
    stay_cash, go_in = trans @ h[0], g_in + trans @ h[1]
    go = go_in - buy_cost > stay_cash  # from cash, buy where this holds (monotone in x)
    keep = go_in > stay_cash - sell_cost  # when invested, keep where this holds
    enter = float(xs[np.argmax(go)] - step / 2) if go.any() else math.inf
    exit_ = float(xs[np.argmax(keep)] - step / 2) if keep.any() else math.inf
    return Oracle(growth_bp=float(gain) * 1e4, enter=enter, exit=exit_)


@torch.no_grad()
def policy_stats(
    policy: Callable[[torch.Tensor], torch.Tensor],
    cfg: PlantedConfig,
    n_envs: int = 256,
    bars: int = 2_000,
    seed: int = 12_345,
) -> dict[str, float]:
    """A deterministic policy over ``n_envs`` × ``bars`` steps of a fresh env (its own seed:
    held out from training): ``growth_bp``, its mean log growth per bar (bp); ``trade_rate``,
    the share of bars on which it changes its position; ``turnover``, the traded notional per
    bar over the account's value (how much of the account it trades)."""
    env = PlantedEdgeEnv(n_envs, replace(cfg, episode_bars=bars + 1))
    obs = env.reset(seed)
    total = torch.zeros(n_envs, dtype=torch.float64)
    trades = torch.zeros(n_envs, dtype=torch.float64)
    turnover = torch.zeros(n_envs, dtype=torch.float64)
    for _ in range(bars):
        action = policy(obs).reshape(n_envs)
        trades += env.trades(action).double().cpu()
        value0 = env.value()
        obs, _, _, _, info = env.step(action)
        total += info["log_return"].cpu()
        turnover += (info["traded_notional"] / value0).cpu()
    return {
        "growth_bp": float(total.mean()) / bars * 1e4,
        "trade_rate": float(trades.mean()) / bars,
        "turnover": float(turnover.mean()) / bars,
    }


def growth_per_bar(
    policy: Callable[[torch.Tensor], torch.Tensor],
    cfg: PlantedConfig,
    n_envs: int = 256,
    bars: int = 2_000,
    seed: int = 12_345,
) -> float:
    """Mean log growth per bar (bp) of a deterministic policy over ``n_envs`` × ``bars`` steps
    of a fresh env (its own seed: held out from training): :func:`policy_stats`."""
    return policy_stats(policy, cfg, n_envs, bars, seed)["growth_bp"]


def edge_of_features(
    x_fit: np.ndarray, r_fit: np.ndarray, x_test: np.ndarray, r_test: np.ndarray
) -> PlantedConfig:
    """The planted market the real features could carry: a linear forecast of the next
    return fitted on (``x_fit``, ``r_fit``) and judged out of sample on the test rows.

    The planted edge is the forecast's out-of-sample predictive part (cov(ŷ, r) / std(ŷ), 0 if
    negative), its persistence the forecast's lag-1 autocorrelation, the noise the std of r.
    """
    design = np.c_[np.ones(len(x_fit)), x_fit]
    coef, *_ = np.linalg.lstsq(design, r_fit, rcond=None)
    pred = np.c_[np.ones(len(x_test)), x_test] @ coef
    sd = pred.std()
    edge = max(0.0, float(np.cov(pred, r_test)[0, 1] / sd)) if sd > 0 else 0.0
    phi = float(np.corrcoef(pred[:-1], pred[1:])[0, 1]) if sd > 0 else 0.0
    return PlantedConfig(
        edge_bp=edge * 1e4,
        noise_bp=float(r_test.std()) * 1e4,
        phi=float(np.clip(phi, 0.0, 0.999)),
        n_features=x_fit.shape[1],
    )


def growth_per_model(
    actor: Any, cfg: PlantedConfig, n_envs: int = 128, bars: int = 1_000, seed: int = 12_345
) -> list[float]:
    """:func:`growth_per_bar` of each model of a (stacked) DDPG actor, on the same paths."""
    from ilsim import ddpg

    models = [actor.select(j) for j in range(actor.k)]
    return [
        growth_per_bar(lambda obs, m=m: ddpg.act(m, obs), cfg, n_envs, bars, seed) for m in models
    ]


def learner_study(
    train: Callable[..., Any],
    cases: dict[str, PlantedConfig],
    seeds: tuple[int, ...],
    n_envs: int = 16,
    eval_paths: tuple[int, int] = (128, 300),
    test_paths: tuple[int, int] = (128, 1000),
) -> pd.DataFrame:
    """Train on each planted case and report every seed's growth per bar as a fraction of the
    oracle's (both measured on the same held-out paths; the models are selected on other
    held-out paths). ``train(env, evaluator=…)`` runs the learner (e.g.
    ``functools.partial(ddpg.train, cfg=…)``) and returns a ``TrainResult``."""
    rows = []
    for name, cfg_env in cases.items():
        env = PlantedEdgeEnv(n_envs * len(seeds), cfg_env)
        res = train(
            env, evaluator=lambda actor, c=cfg_env: growth_per_model(actor, c, *eval_paths, 777)
        )
        orc = oracle(cfg_env)
        best = growth_per_bar(lambda obs, c=cfg_env, o=orc: o.action(obs, c), cfg_env, *test_paths)
        got = growth_per_model(res.actor, cfg_env, *test_paths)
        for j, seed in enumerate(seeds):
            rows.append(
                {
                    "case": name,
                    "seed": seed,
                    "edge_bp": cfg_env.edge_bp,
                    "drift_bp": cfg_env.drift_bp,
                    "phi": cfg_env.phi,
                    "fee": cfg_env.fee,
                    "fill": cfg_env.fill,
                    "reward_window_bars": cfg_env.reward_window_bars,
                    "oracle_bp_per_bar": best,
                    "learned_bp_per_bar": got[j],
                    "fraction_of_oracle": got[j] / best if best > 0 else math.nan,
                    "vector_steps": res.vector_steps,
                    "best_step": res.best_step[j],
                }
            )
    return pd.DataFrame(rows)


def all_in_impact_bp(cfg: PlantedConfig) -> float:
    """The log-price move (bp) of one all-in buy of the initial cash at the env's start price
    through ``cfg.impact`` (on its own bar, no earlier flow): about what a round trip costs."""
    if cfg.impact is None:
        return 0.0
    return 1e4 * float(cfg.impact.response(cfg.initial_cash / START_PRICE, 0))


SLOW_STEPS: tuple[float, ...] = (1.0, 0.3, 0.1, 0.03)  # the slowed oracle's candidate paces


def slow_oracle(
    cfg: PlantedConfig, steps: tuple[float, ...] = SLOW_STEPS, paths: tuple[int, int] = (128, 300)
) -> tuple[Oracle, float]:
    """The fee's oracle slowed down for ``cfg.impact``: on the oracle's side it moves only the
    fraction ``k`` of the way per bar (action ``±k``: buys ``k`` of the cash or sells ``k`` of
    the holdings), ``k`` the best of ``steps`` on held-out paths (seed 777). Returns the oracle
    and ``k``: a reference that trading slowly pays under impact, not an optimum."""
    free = replace(cfg, impact=None)
    orc = oracle(free)
    scores = [
        growth_per_bar(lambda obs, k=k: k * orc.action(obs, free), cfg, *paths, seed=777)
        for k in steps
    ]
    return orc, steps[int(np.argmax(scores))]


def impact_known_answer(
    train: Callable[..., Any],
    case: PlantedConfig,
    seeds: tuple[int, ...],
    n_envs: int = 16,
    eval_paths: tuple[int, int] = (128, 300),
    test_paths: tuple[int, int] = (128, 1000),
) -> pd.DataFrame:
    """Does training with its own market impact pay off? The learner trains on ``case`` (whose
    ``impact`` is a law) as arm "with impact", and on the same case without the law as arm
    "without impact" (same seeds and stream: common random numbers; each selected on held-out
    paths of its own env). Both are judged in the env WITH the law on the same held-out paths
    (``growth_bp``; the known answer: the with-impact arm earns more) and without it, with how
    much they trade (the mechanism: trained without its impact, the learner churns; its
    ``turnover`` shows it, while ``trade_rate`` counts every bar with any trade, so a learner
    that trades a little on most bars, slowly, scores high there too). References
    on the same paths under impact: the fee's oracle (all in or all out) and that oracle slowed
    down (:func:`slow_oracle`). One row per arm and seed."""
    from ilsim import ddpg

    if case.impact is None:
        raise ValueError("impact_known_answer needs a case with an impact law")
    free = replace(case, impact=None)
    orc, k = slow_oracle(case, paths=eval_paths)
    fast = policy_stats(lambda obs: orc.action(obs, free), case, *test_paths)
    slow = policy_stats(lambda obs: k * orc.action(obs, free), case, *test_paths)
    rows = []
    for arm, cfg_env in (("with impact", case), ("without impact", free)):
        env = PlantedEdgeEnv(n_envs * len(seeds), cfg_env)
        res = train(
            env, evaluator=lambda actor, c=cfg_env: growth_per_model(actor, c, *eval_paths, 777)
        )
        for j, seed in enumerate(seeds):
            model = res.actor.select(j)
            got, alone = (
                policy_stats(lambda obs, m=model: ddpg.act(m, obs), c, *test_paths)
                for c in (case, free)
            )
            rows.append(
                {
                    "arm": arm,
                    "seed": seed,
                    "edge_bp": case.edge_bp,
                    "phi": case.phi,
                    "fee": case.fee,
                    "initial_cash": case.initial_cash,
                    "all_in_volume_share": case.initial_cash / START_PRICE / case.impact.volume_day,
                    "all_in_impact_bp": all_in_impact_bp(case),
                    "growth_bp": got["growth_bp"],
                    "growth_no_impact_bp": alone["growth_bp"],
                    "trade_rate": got["trade_rate"],
                    "turnover": got["turnover"],
                    "oracle_bp": fast["growth_bp"],
                    "oracle_turnover": fast["turnover"],
                    "slow_oracle_bp": slow["growth_bp"],
                    "slow_oracle_pace": k,
                    "slow_oracle_turnover": slow["turnover"],
                    "vector_steps": res.vector_steps,
                    "best_step": res.best_step[j],
                }
            )
    return pd.DataFrame(rows)
