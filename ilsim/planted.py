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
from ilsim.market import window_reward


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


class PlantedEdgeEnv:
    """N planted-edge markets stepped as tensors (same-step autoreset, like ``VectorMarket``).

    ``info`` carries ``value``, ``log_return`` (the account's log growth this bar) and, when an
    episode ends, ``final_obs``.
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
        self.gen = torch.Generator(device=self.device).manual_seed(0)

    def _randn(self, *shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=self.gen, device=self.device, dtype=torch.float64)

    def reset_where(self, mask: torch.Tensor) -> None:
        c0 = self.cfg.initial_cash
        self.cash = torch.where(mask, torch.full_like(self.cash, c0), self.cash)
        self.holdings = torch.where(mask, torch.zeros_like(self.holdings), self.holdings)
        self.price = torch.where(mask, torch.full_like(self.price, 100.0), self.price)
        self.t = torch.where(mask, torch.zeros_like(self.t), self.t)
        self.values[mask] = c0  # the signal keeps running: it is the market, not the episode

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
            self.cash, self.holdings, a, self.price, fee=self.cfg.fee, mode=self.cfg.action_mode
        )

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
            self.cash, self.holdings, a, self.price, fee=cfg.fee, mode=cfg.action_mode
        )
        r = 1e-4 * (cfg.drift_bp + cfg.edge_bp * self.x[:, 0] + cfg.noise_bp * self._randn(self.n))
        moved = self.price * (1 + r)
        fill = moved if cfg.fill == "next" else self.price
        self.cash, self.holdings, _, _ = book(
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
        }
        obs = self.observe()
        if bool(truncated.any()):
            info["final_obs"] = obs.clone()
            self.reset_where(truncated)
            obs = self.observe()
        return obs, reward, terminated, truncated, info

    _STATE = ("x", "cash", "holdings", "price", "t", "values")

    def state_dict(self) -> dict:
        out = {k: getattr(self, k).cpu().clone() for k in self._STATE}
        return {**out, "gen": self.gen.get_state()}

    def load_state_dict(self, state: dict) -> None:
        for k in self._STATE:
            setattr(self, k, state[k].to(self.device).clone())
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
def growth_per_bar(
    policy: Callable[[torch.Tensor], torch.Tensor],
    cfg: PlantedConfig,
    n_envs: int = 256,
    bars: int = 2_000,
    seed: int = 12_345,
) -> float:
    """Mean log growth per bar (bp) of a deterministic policy over ``n_envs`` × ``bars`` steps
    of a fresh env (its own seed: held out from training)."""
    env = PlantedEdgeEnv(n_envs, replace(cfg, episode_bars=bars + 1))
    obs = env.reset(seed)
    total = torch.zeros(n_envs, dtype=torch.float64)
    for _ in range(bars):
        obs, _, _, _, info = env.step(policy(obs).reshape(n_envs))
        total += info["log_return"].cpu()
    return float(total.mean()) / bars * 1e4


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
