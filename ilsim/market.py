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
portfolios (the headline and the size sweep use ``learned``, whose permanent part is linear).
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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
import torch

from ilsim.backtest import book, order_shares, would_trade
from ilsim.features import PRICE_COLUMNS, MinMaxScaler, OnlineFeatures, session_start_mask
from ilsim.impact import ImpactLaw, ImpactState
from ilsim.params import BacktestParams, MarketParams, default

Impact = Literal["paper", "calibrated", "learned", "pool", "none"]
IMPACT_MODES: tuple[str, ...] = ("paper", "calibrated", "learned", "pool", "none")


@dataclass
class MarketConfig:
    """Knobs of the simulator (``market`` section of the params)."""

    impact: Impact = default(MarketParams, "impact")
    episode_bars: int = 390
    # Reward: value change over the last w bars / initial value (the paper: 230 minutes).
    reward_window_bars: int = 230
    # Action semantics (ilsim.backtest.order_shares): the paper's "fraction" of cash/holdings
    # to trade, a "target" fraction of value held in shares, or "units" of ``order_unit``
    # shares (impact probes: an order of a given share of daily volume).
    action_mode: Literal["fraction", "target", "units"] = default(MarketParams, "action_mode")
    order_unit: float = 1.0
    initial_cash: float = default(BacktestParams, "initial_cash")
    fee: float = default(BacktestParams, "fee")
    # Calibrated impact: return += coef * sigma_bar * sign(q) * sqrt(|q| / volume_bar).
    impact_coef: float = default(MarketParams, "impact_coef")
    noise: bool = default(MarketParams, "noise")
    noise_block: int = 20
    # Shares per unit of IL action (None: median real bar volume / number of agents).
    il_volume_unit: float | None = default(MarketParams, "il_volume_unit")
    # a bar's simulated return is clipped to ±max_return
    max_return: float = default(MarketParams, "max_return")
    # Training: the first episodes after reset() are cut short at random, so that the N
    # environments' episodes end at different steps rather than all at once.
    stagger_starts: bool = False
    # Episodes start at a session's first bar only (impact probes read "by the close").
    start_at_open: bool = False
    # The noise's size: the bootstrap residuals as they are (the paper's), or standardised by
    # the volatility head at their own bar and rescaled by it for the pool's current actions.
    volatility: Literal["bootstrap", "head"] = default(MarketParams, "volatility")


@dataclass
class MarketData:
    """What the simulator is built from: real bars, features and the learned components."""

    bars: pd.DataFrame
    scaler: MinMaxScaler
    il_policy: Callable[[torch.Tensor], torch.Tensor]  # scaled features [N, F] -> actions [N, M]
    synthesis: Callable[[torch.Tensor], torch.Tensor]  # IL actions [N, M] -> mean return [N]
    residuals: np.ndarray  # residual returns, in time order
    residual_volume: np.ndarray  # real bar volumes aligned with the residuals
    start_ranges: list[tuple[int, int]]  # [first_bar, last_bar] ranges episodes start in
    feature_kwargs: dict[str, Any]
    sigma_bar: float  # std of real one-bar returns (calibrated impact scale)
    volume_bar: float  # median real bar volume
    # Bar of day of each residual: noise blocks then start at the same time of day as the
    # environment, so the intraday shape of volatility and volume survives the resampling.
    residual_bar_of_day: np.ndarray | None = None
    # Learned impact (mode "learned"): the law fitted on the real bars, and the pool's mean
    # net action (sum over agents) on its training bars, the balance that moves nothing.
    impact_law: ImpactLaw | None = None
    pool_mean_action: float = 0.0
    # The volatility head (issue 15, ``MarketConfig.volatility == "head"``): IL actions [N, M]
    # -> the next return's residual std [N], and its value at each residual's own bar.
    synthesis_vol: Callable[[torch.Tensor], torch.Tensor] | None = None
    residual_scale: np.ndarray | None = None


@dataclass
class MarketState:
    """What changes while the N environments step (the parameters stay in :class:`MarketConfig`
    and :class:`MarketData`, as in gymnax): the accounts (float64), the clock, the window of
    recent values the reward reads, the noise bootstrap's position, the pool's last actions,
    the learned impact's order-flow state, and the random streams. The online features keep
    their own state (:meth:`ilsim.features.OnlineFeatures.state_dict`)."""

    cash: torch.Tensor  # [N]
    holdings: torch.Tensor  # [N] shares
    price: torch.Tensor  # [N]
    # log of (price / the price without the agent's own orders): its own impact, which the
    # account is not marked at (a gain made of one's own impact is not one to realise)
    own: torch.Tensor  # [N]
    t: torch.Tensor  # [N] bars into the episode
    start: torch.Tensor  # [N] the episode's first bar in the real data
    bar_of_day: torch.Tensor  # [N]
    values: torch.Tensor  # [N, w] ring of the last w account values
    noise_pos: torch.Tensor  # [N] next residual of the current bootstrap block
    noise_left: torch.Tensor  # [N] residuals left in the block
    last_il_actions: torch.Tensor  # [N, M] float32
    rng: np.random.Generator  # episode starts
    gen: torch.Generator  # noise blocks, staggered starts
    flow: ImpactState | None = None  # learned impact: the order flow with the agent's orders
    flow_ex: ImpactState | None = None  # ... and without them (the price it is marked at)

    TENSORS: ClassVar[tuple[str, ...]] = (
        "cash",
        "holdings",
        "price",
        "t",
        "start",
        "bar_of_day",
        "values",
        "noise_pos",
        "noise_left",
        "last_il_actions",
        "own",
    )

    @classmethod
    def initial(
        cls, n: int, n_agents: int, window: int, law: ImpactLaw | None, device: torch.device
    ) -> MarketState:
        """The state before the first reset (every env must be reset before it steps)."""
        acc = {"device": device, "dtype": torch.float64}  # accounting in float64
        z = torch.zeros(n, **acc)
        count = torch.zeros(n, dtype=torch.long, device=device)
        flows = [ImpactState(law, z.clone()) if law is not None else None for _ in range(2)]
        return cls(
            cash=z.clone(),
            holdings=z.clone(),
            price=z.clone(),
            own=z.clone(),
            t=count.clone(),
            start=count.clone(),
            bar_of_day=count.clone(),
            values=torch.zeros(n, window, **acc),
            noise_pos=count.clone(),
            noise_left=count.clone(),
            last_il_actions=torch.zeros(n, n_agents, device=device, dtype=torch.float32),
            rng=np.random.default_rng(0),
            gen=torch.Generator(device=device).manual_seed(0),
            flow=flows[0],
            flow_ex=flows[1],
        )

    def state_dict(self) -> dict[str, Any]:
        """Copies of everything here (an exact resume; the keys checkpoints have used)."""
        out: dict[str, Any] = {k: _copy(getattr(self, k)) for k in self.TENSORS}
        if self.flow is not None:
            out["flow"] = _copy(self.flow.s)
            out["flow_ex"] = _copy(self.flow_ex.s)
        out["rng"] = self.rng.bit_generator.state
        out["gen"] = self.gen.get_state()
        return out

    def load_state_dict(self, state: dict[str, Any], device: torch.device) -> None:
        """Restore what :meth:`state_dict` saved."""
        for k in self.TENSORS:
            setattr(self, k, _copy(state[k], device))
        if self.flow is not None and "flow" in state:
            self.flow.s = _copy(state["flow"], device)
            self.flow_ex.s = _copy(state.get("flow_ex", state["flow"]), device)
        self.rng = np.random.default_rng()
        self.rng.bit_generator.state = state["rng"]
        self.gen.set_state(state["gen"])


@dataclass
class _Bar:
    """One step's next bar for every env (OHLCV [N]) and how the RL order fills in it."""

    open: torch.Tensor
    high: torch.Tensor
    low: torch.Tensor
    close: torch.Tensor
    volume: torch.Tensor
    fill_buy: torch.Tensor
    fill_sell: torch.Tensor
    new_session: torch.Tensor
    il_actions: torch.Tensor


class VectorMarket:
    """N market environments stepped together (torch; CPU or CUDA).

    ``reset(seed)`` → observations [N, F + 2]; ``step(actions [N])`` → (obs, reward,
    terminated, truncated, info). Finished environments restart at once (same-step autoreset);
    ``info["final_obs"]`` holds their last observation.
    """

    def __init__(self, data: MarketData, cfg: MarketConfig, n_envs: int, device: str = "cpu"):
        self.data, self.cfg, self.n = data, cfg, int(n_envs)
        self.device = torch.device(device)
        kw = {"device": self.device, "dtype": torch.float32}
        acc = {"device": self.device, "dtype": torch.float64}  # accounting in float64
        self._kw, self._acc = kw, acc
        bars = data.bars
        self._real = {c: torch.tensor(bars[c].to_numpy(), **acc) for c in PRICE_COLUMNS}
        self._real_new_session = torch.tensor(session_start_mask(bars.index), device=self.device)
        self.bars_per_day = int(pd.Series(bars.index.date).value_counts().max())
        bar_of_day = pd.Series(np.ones(len(bars))).groupby(bars.index.date).cumsum() - 1
        self._real_bar_of_day = torch.tensor(bar_of_day.to_numpy(), device=self.device).long()
        self.features = OnlineFeatures(self.n, device=self.device, **data.feature_kwargs)
        self.features.set_history(bars)
        self.obs_dim = self.features.num_features + 2
        self._resid = torch.tensor(data.residuals, **kw)
        if cfg.volatility == "head":
            if data.synthesis_vol is None or data.residual_scale is None:
                raise ValueError(
                    "market volatility 'head' needs MarketData.synthesis_vol and residual_scale "
                    "(the synthesis network's volatility head; refit notebook 05)"
                )
            scale = np.asarray(data.residual_scale, dtype=np.float64)
            self._resid = torch.tensor(data.residuals / np.maximum(scale, 1e-12), **kw)
        elif cfg.volatility != "bootstrap":
            raise ValueError(f"volatility must be 'bootstrap' or 'head', got {cfg.volatility!r}")
        self._resid_vol = torch.tensor(data.residual_volume, **kw)
        self._by_bod: torch.Tensor | None = None
        if data.residual_bar_of_day is not None:
            bod = np.asarray(data.residual_bar_of_day, dtype=np.int64)
            block = min(cfg.noise_block, len(bod))
            usable = np.arange(len(bod)) <= len(bod) - block  # a whole block must follow
            groups = [np.flatnonzero(usable & (bod == b)) for b in range(self.bars_per_day)]
            width = max(1, max(len(g) for g in groups))
            table = np.full((self.bars_per_day, width), -1, dtype=np.int64)
            for b, g in enumerate(groups):
                if len(g):
                    table[b] = np.resize(g, width)  # cycle so every slot holds a valid start
                else:
                    table[b] = np.flatnonzero(usable)[:1].repeat(width)
            self._by_bod = torch.tensor(table, device=self.device)
        starts = [
            np.arange(max(a, self.features._min_start), b - cfg.episode_bars + 1)
            for a, b in data.start_ranges
        ]
        self._starts = np.concatenate([s for s in starts if len(s)]) if starts else np.array([])
        if cfg.start_at_open and len(self._starts):
            self._starts = self._starts[bar_of_day.to_numpy()[self._starts] == 0]
        if len(self._starts) == 0:
            raise ValueError(
                f"no episode of {cfg.episode_bars} bars fits in the start ranges "
                f"{data.start_ranges}"
            )
        m = int(data.il_policy(torch.zeros(1, self.features.num_features, **kw)).shape[1])
        self.n_agents = m
        self.il_unit = cfg.il_volume_unit or data.volume_bar / max(1, m)
        if cfg.impact not in IMPACT_MODES:
            raise ValueError(f"impact must be one of {IMPACT_MODES}, got {cfg.impact!r}")
        if cfg.impact == "learned" and data.impact_law is None:
            raise ValueError(
                "impact mode 'learned' needs MarketData.impact_law (ilsim.impact.fit_impact_law; "
                "the pipeline writes results/<name>/impact_law.json in notebook 05)"
            )
        law = data.impact_law if cfg.impact == "learned" else None
        self._own_moves = cfg.impact in ("calibrated", "learned")
        self.state = MarketState.initial(self.n, m, cfg.reward_window_bars, law, self.device)

    # -- episode starts ----------------------------------------------------------------------
    @torch.no_grad()
    def reset(self, seed: int | None = None) -> torch.Tensor:
        """Start every environment at a random bar of the start ranges (seeded)."""
        if seed is not None:
            self.state.rng = np.random.default_rng(seed)
            self.state.gen = torch.Generator(device=self.device).manual_seed(seed)
        self.reset_where(torch.ones(self.n, dtype=torch.bool, device=self.device))
        if self.cfg.stagger_starts:
            self.state.t = torch.randint(
                0, self.cfg.episode_bars, (self.n,), generator=self.state.gen, device=self.device
            )
        return self.observe()

    def reset_where(self, mask: torch.Tensor) -> None:
        """Start new episodes in the masked environments (the others are untouched)."""
        k = int(mask.sum())
        if k == 0:
            return
        starts = self.state.rng.choice(self._starts, size=k)
        self.features.reset_where(mask.cpu(), starts)
        s = torch.as_tensor(starts, device=self.device)
        self.state.start[mask] = s
        self.state.t[mask] = 0
        self.state.price[mask] = self._real["close"][s]
        self.state.bar_of_day[mask] = self._real_bar_of_day[s]
        self.state.cash[mask] = self.cfg.initial_cash
        self.state.holdings[mask] = 0.0
        self.state.values[mask] = self.cfg.initial_cash
        self.state.noise_left[mask] = 0
        self.state.own[mask] = 0.0
        if self.state.flow is not None:
            self.state.flow.reset_where(mask)
            self.state.flow_ex.reset_where(mask)

    def state_dict(self) -> dict[str, Any]:
        """Everything that changes while stepping, for an exact resume after an interruption."""
        out = self.state.state_dict()
        out["features"] = self.features.state_dict()
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved (same data, config and number of envs)."""
        self.state.load_state_dict(state, self.device)
        self.features.load_state_dict(state["features"], self.device)

    # the account and clock, read from the state (tests, adapters and notebooks read these)
    cash = property(lambda self: self.state.cash, doc="Cash per env [N] (float64).")
    holdings = property(lambda self: self.state.holdings, doc="Shares held per env [N].")
    price = property(lambda self: self.state.price, doc="Current price per env [N].")
    t = property(lambda self: self.state.t, doc="Bars into the episode per env [N].")

    def trades(self, action: torch.Tensor) -> torch.Tensor:
        """Would these actions change the positions now (before matching)? For the learner's
        diagnostics: the deterministic policy's position changes."""
        a = torch.as_tensor(action, **self._acc).reshape(self.n)
        return would_trade(
            self.state.cash,
            self.state.holdings,
            a,
            self.state.price,
            fee=self.cfg.fee,
            mode=self.cfg.action_mode,
            unit=self.cfg.order_unit,
        )

    def observation_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-column bounds the definitions put on :meth:`observe` (for the gymnasium Box):
        a price ratio minus one (``ret_1``, ``ema_*``, ``vwap``) is above −1, ``relvol`` lies in
        [0, window], cash and holdings are never negative; MACD is unbounded. Min-max scaling
        maps them through (data outside the scaler's fit range may leave [0, 1], not these)."""
        f = self.features.num_features
        lo, hi = np.full(f, -np.inf), np.full(f, np.inf)
        window = float(self.features.relvol_window)
        for i, name in enumerate(self.features.names):
            if name == "relvol":
                lo[i], hi[i] = 0.0, window
            elif name in ("ret_1", "vwap") or name.startswith("ema_"):
                lo[i] = -1.0
        mn, scale = self.data.scaler.min_, self.data.scaler.scale_
        lo, hi = (lo - mn) / scale, (hi - mn) / scale
        # float32 rounding of the scaled features: bounds widened by a relative 1e-5
        lo = lo - 1e-5 * (1 + np.abs(np.nan_to_num(lo, neginf=0.0)))
        hi = hi + 1e-5 * (1 + np.abs(np.nan_to_num(hi, posinf=0.0)))
        return np.concatenate([lo, [0.0, 0.0]]), np.concatenate([hi, [np.inf, np.inf]])

    def observe(self) -> torch.Tensor:
        """Scaled features plus cash and holdings value as fractions of the initial value."""
        scaled = self.data.scaler.transform_tensor(self.features.features)
        c0 = self.cfg.initial_cash
        account = torch.stack([self.state.cash / c0, self.state.holdings * self.mark() / c0], 1)
        return torch.cat([scaled, account.to(scaled.dtype)], 1)

    def mark(self) -> torch.Tensor:
        """The price the account is marked at: the price without the agent's own impact
        (``learned`` and ``calibrated`` modes; elsewhere the price)."""
        return (
            self.state.price * torch.exp(-self.state.own) if self._own_moves else self.state.price
        )

    def value(self) -> torch.Tensor:
        return self.state.cash + self.state.holdings * self.mark()

    # -- one step ----------------------------------------------------------------------------
    def _noise(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Next residual return and background volume per env (block bootstrap)."""
        new = self.state.noise_left <= 0
        k = int(new.sum())
        if k:
            n_res = len(self._resid)
            block = min(self.cfg.noise_block, n_res)
            if self._by_bod is None:
                start = torch.randint(
                    0, n_res - block + 1, (k,), generator=self.state.gen, device=self.device
                )
            else:  # a block that starts at the time of day of the env's next bar
                nxt = (self.state.bar_of_day[new] + 1) % self.bars_per_day
                col = torch.randint(
                    0, self._by_bod.shape[1], (k,), generator=self.state.gen, device=self.device
                )
                start = self._by_bod[nxt, col]
            self.state.noise_pos[new] = start
            self.state.noise_left[new] = block
        r, v = self._resid[self.state.noise_pos], self._resid_vol[self.state.noise_pos]
        self.state.noise_pos += 1
        self.state.noise_left -= 1
        return r, v

    @torch.no_grad()
    def step(
        self, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        """Advance every environment by one bar: the orders, the next bar's price, the
        accounts, the reward, then the restart of finished episodes (module docstring)."""
        a = torch.as_tensor(action, **self._acc).reshape(self.n).clamp(-1.0, 1.0)
        want_buy, want_sell = self._orders(a)
        bar = self._next_bar(want_buy, want_sell)
        filled, fees = self._book(bar)
        self._advance(bar)
        value = self.value()
        reward = window_reward(self.state.values, self.state.t, value, self.cfg.initial_cash)
        info = {
            "value": value,
            "price": bar.close,
            "fees": fees,
            "filled": filled,
            "il_actions": bar.il_actions,
            "volume": bar.volume,
        }
        return self._autoreset(reward, info)

    def _orders(self, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The RL order in shares at the current price (the shared order rule, fee included)."""
        cfg = self.cfg
        return order_shares(
            self.state.cash,
            self.state.holdings,
            a,
            self.state.price,
            fee=cfg.fee,
            mode=cfg.action_mode,
            unit=cfg.order_unit,
        )

    def _next_bar(self, want_buy: torch.Tensor, want_sell: torch.Tensor) -> _Bar:
        """The next bar of every env: replayed (mode ``none``) or simulated from the pool's
        actions, the noise and the impact of the mode; the RL order's fill."""
        cfg = self.cfg
        if cfg.impact == "none":
            idx = self.state.start + self.state.t + 1
            real = {c: self._real[c][idx] for c in PRICE_COLUMNS}
            return _Bar(
                **real,
                fill_buy=want_buy,
                fill_sell=want_sell,
                new_session=self._real_new_session[idx],
                il_actions=self.state.last_il_actions,
            )
        p0 = self.state.price
        scaled = self.data.scaler.transform_tensor(self.features.features)
        il = self.data.il_policy(scaled)
        self.state.last_il_actions = il
        new_session = (self.state.bar_of_day + 1) % self.bars_per_day == 0
        orders = il.double() * self.il_unit
        # The RL order fills in full in every mode, as in the backtest (issue 15): it is
        # matched against the market's liquidity, not against the pool's net side (the pool
        # is a net buyer, so pool matching filled an all-in buy about half and sells in
        # full). The pool's own matched volume, min(Σbuy, Σsell), still makes the bar's.
        fill_buy, fill_sell = want_buy, want_sell
        deal = torch.minimum(orders.clamp(min=0).sum(1), (-orders).clamp(min=0).sum(1))
        net_in = il
        if cfg.impact == "pool":  # the RL order as IL action units, spread over the pool
            rl_units = (want_buy - want_sell) / (self.il_unit * self.n_agents)
            net_in = (il + rl_units[:, None].to(il.dtype)).clamp(-1.0, 1.0)
        r = self.data.synthesis(net_in).reshape(self.n).to(torch.float64)
        noise_r, noise_v = self._noise()
        if cfg.volatility == "head":  # standardised residual x the pool state's volatility
            noise_r = noise_r * self.data.synthesis_vol(net_in).reshape(self.n)
        if cfg.noise:
            r = r + noise_r.double()
        without = r  # the return without the agent's own order (marking, below)
        if cfg.impact == "calibrated":
            q = fill_buy - fill_sell
            r = r + cfg.impact_coef * self.data.sigma_bar * torch.sign(q) * torch.sqrt(
                q.abs() / self.data.volume_bar
            )
        if cfg.impact == "learned":  # the flow's log move on top of the return
            flow, flow_ex = self.state.flow, self.state.flow_ex
            pool = orders.sum(1) - self.data.pool_mean_action * self.il_unit
            # a buy its own impact makes unaffordable is scaled down before it is booked
            own = fill_buy - fill_sell
            peek_r = (1 + r) * torch.exp(flow.peek(pool + own, new_session)) - 1
            peek = p0 * (1 + peek_r.clamp(-cfg.max_return, cfg.max_return))
            cost = (fill_buy * peek * (1 + cfg.fee)).clamp(min=1e-300)
            fill_buy = fill_buy * (self.state.cash / cost).clamp(max=1.0)
            move = flow.step(pool + fill_buy - fill_sell, new_session)
            without = (1 + r) * torch.exp(flow_ex.step(pool, new_session)) - 1
            r = (1 + r) * torch.exp(move) - 1
        r = r.clamp(-cfg.max_return, cfg.max_return)
        if cfg.impact in ("calibrated", "learned"):  # both clamped, as the price is
            without = without.clamp(-cfg.max_return, cfg.max_return)
            self.state.own = self.state.own + torch.log1p(r) - torch.log1p(without)
        p1 = p0 * (1 + r)
        volume = deal + fill_buy + fill_sell
        volume = volume + (noise_v.double() if cfg.noise else self.data.volume_bar)
        return _Bar(
            open=p0,
            high=torch.maximum(p0, p1),
            low=torch.minimum(p0, p1),
            close=p1,
            volume=volume,
            fill_buy=fill_buy,
            fill_sell=fill_sell,
            new_session=new_session,
            il_actions=il,
        )

    def _book(self, bar: _Bar) -> tuple[torch.Tensor, torch.Tensor]:
        """The accounts: fills at the next close (post-impact), fee on the filled notional
        (the backtest's rule). Returns the net shares filled and the fees paid."""
        s = self.state
        s.cash, s.holdings, fill_buy, notional = book(
            s.cash, s.holdings, bar.fill_buy, bar.fill_sell, bar.close, fee=self.cfg.fee
        )
        return fill_buy - bar.fill_sell, notional * self.cfg.fee

    def _advance(self, bar: _Bar) -> None:
        """The new bar becomes the current one: price, online features, clock."""
        s = self.state
        s.price = bar.close
        self.features.step(
            bar.open, bar.high, bar.low, bar.close, bar.volume, new_session=bar.new_session
        )
        s.bar_of_day = torch.where(
            bar.new_session, torch.zeros_like(s.bar_of_day), s.bar_of_day + 1
        )
        s.t += 1

    def _autoreset(
        self, reward: torch.Tensor, info: dict
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        """Episodes end after ``episode_bars`` bars (truncation; nothing terminates) and
        restart at once: ``info["final_obs"]``/``["final_value"]`` keep their last state."""
        truncated = self.state.t >= self.cfg.episode_bars
        terminated = torch.zeros_like(truncated)
        obs = self.observe()
        if bool(truncated.any()):
            info["final_obs"] = obs.clone()
            info["final_value"] = info["value"].clone()
            self.reset_where(truncated)
            obs = self.observe()
        return obs, reward, terminated, truncated, info


def window_reward(
    ring: torch.Tensor, t: torch.Tensor, value: torch.Tensor, initial: float
) -> torch.Tensor:
    """(V_t − V_{t−w}) / initial value, w = ``ring.shape[1]`` (since the start while t < w);
    ``ring`` holds the last w values (initial values after a reset) and is updated in place."""
    slot = (t % ring.shape[1])[:, None]
    old = ring.gather(1, slot).squeeze(1)  # written w steps ago, or the initial value
    ring.scatter_(1, slot, value[:, None])
    return ((value - old) / initial).float()


def _copy(x: Any, device: torch.device | None = None) -> Any:
    """A detached copy of a tensor (optionally moved), other values unchanged."""
    if isinstance(x, torch.Tensor):
        return x.detach().clone() if device is None else x.detach().clone().to(device)
    return x


@torch.no_grad()
def rollout(m: VectorMarket, actions: torch.Tensor, seed: int) -> dict[str, np.ndarray]:
    """Reset (seeded), then step with ``actions`` [T, N]; record every env's path [N, T + 1]
    (price, volume, bar of day, value; column 0 is the starting bar). Needs
    ``episode_bars > T`` so that no environment restarts mid-path."""
    steps = actions.shape[0]
    if m.cfg.episode_bars <= steps:
        raise ValueError(f"episode_bars ({m.cfg.episode_bars}) must exceed the {steps} steps")
    m.reset(seed)
    out = {k: np.zeros((m.n, steps + 1)) for k in ("price", "volume", "bar_of_day", "value")}
    out["price"][:, 0] = m.price.cpu().numpy()
    out["volume"][:, 0] = m._real["volume"][m.state.start].cpu().numpy()
    out["bar_of_day"][:, 0] = m.state.bar_of_day.cpu().numpy()
    out["value"][:, 0] = m.value().cpu().numpy()
    for k in range(steps):
        _, _, _, _, info = m.step(actions[k])
        out["price"][:, k + 1] = info["price"].cpu().numpy()
        out["volume"][:, k + 1] = info["volume"].cpu().numpy()
        out["bar_of_day"][:, k + 1] = m.state.bar_of_day.cpu().numpy()
        out["value"][:, k + 1] = info["value"].cpu().numpy()
    out["il_actions_last"] = m.state.last_il_actions.cpu().numpy()
    return out


def impact_response(
    data: MarketData,
    cfg: MarketConfig,
    sizes: tuple[float, ...],
    n_paths: int,
    horizon: int,
    seed: int = 0,
    device: str = "cpu",
) -> pd.DataFrame:
    """Price response to one RL buy of fraction ``q`` of cash, ``horizon`` bars later.

    Every size runs on the same starts and the same noise draws (common random numbers), so
    the response is the path-wise difference to the ``q = 0`` run: ``log(p_h / p_0)`` with the
    order minus without it, in basis points — mean and 95 % interval over paths.
    """
    cfg = MarketConfig(**{**cfg.__dict__, "episode_bars": horizon + 2})
    m = VectorMarket(data, cfg, n_paths, device)
    moves = {}
    for q in (0.0, *[s for s in sizes if s != 0.0]):
        acts = torch.zeros(horizon, n_paths)
        acts[0] = q
        path = rollout(m, acts, seed)
        moves[q] = np.log(path["price"][:, -1] / path["price"][:, 0])
    rows = []
    for q in sorted(moves):
        d = (moves[q] - moves[0.0]) * 1e4
        half = 1.96 * d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else np.nan
        rows.append(
            {
                "impact": cfg.impact,
                "size": q,
                "response_bp": d.mean(),
                "ci_low": d.mean() - half,
                "ci_high": d.mean() + half,
                "n_paths": len(d),
            }
        )
    return pd.DataFrame(rows)


def order_response(
    data: MarketData,
    cfg: MarketConfig,
    volume_fractions: tuple[float, ...],
    n_paths: int,
    horizon: int,
    volume_day: float,
    seed: int = 0,
    device: str = "cpu",
) -> pd.DataFrame:
    """Price response to one RL buy of ``volume_fraction`` of daily volume ``volume_day``
    (shares, whatever the portfolio), placed at a session's first bar and traced
    0..``horizon`` bars after it (``horizon = bars per session − 1``: to that session's close).

    As :func:`impact_response`, on common random numbers: the response at lag h is the
    path-wise ``log(p_h / p_0)`` with the order minus without it, in bp (lag 0: the bar the
    order fills in). Returns one row per mode, size and lag with the mean, its 95 % interval
    and the per-path values' standard error (for checks that need them).
    """
    cash = 1e3 * volume_day * float(data.bars["close"].max())  # never the binding limit
    rows = []
    base = None
    for q in (0.0, *[v for v in volume_fractions if v != 0.0]):
        c = MarketConfig(
            **{
                **cfg.__dict__,
                "episode_bars": horizon + 2,
                "action_mode": "units",
                "order_unit": max(q, 1e-300) * volume_day,
                "initial_cash": cash,
                "stagger_starts": False,
                "start_at_open": True,
            }
        )
        m = VectorMarket(data, c, n_paths, device)
        acts = torch.zeros(horizon + 1, n_paths)
        acts[0] = 1.0 if q > 0 else 0.0
        logp = np.log(rollout(m, acts, seed)["price"])
        move = logp[:, 1:] - logp[:, :1]  # lags 0..horizon
        if base is None:
            base = move
            continue
        d = (move - base) * 1e4
        mean, se = d.mean(0), d.std(0, ddof=1) / np.sqrt(len(d))
        for h in range(horizon + 1):
            rows.append(
                {
                    "impact": cfg.impact,
                    "volume_fraction": q,
                    "lag": h,
                    "response_bp": mean[h],
                    "se": se[h],
                    "ci_low": mean[h] - 1.96 * se[h],
                    "ci_high": mean[h] + 1.96 * se[h],
                    "n_paths": len(d),
                }
            )
    return pd.DataFrame(rows)
