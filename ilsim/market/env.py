"""The interactive market itself: N environments as one batch of tensors (:class:`VectorMarket`),
and the paper's windowed reward."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from ilsim.backtest import book, order_shares, would_trade
from ilsim.data import bar_of_day as data_bar_of_day
from ilsim.features import PRICE_COLUMNS, OnlineFeatures, session_start_mask
from ilsim.market.config import ENV_IMPACT_MODES, MarketConfig, MarketData
from ilsim.market.state import MarketState, _Bar


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
        bar_of_day = data_bar_of_day(bars.index)
        self._real_bar_of_day = torch.tensor(bar_of_day, device=self.device).long()
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
            self._starts = self._starts[bar_of_day[self._starts] == 0]
        if len(self._starts) == 0:
            raise ValueError(
                f"no episode of {cfg.episode_bars} bars fits in the start ranges "
                f"{data.start_ranges}"
            )
        m = int(data.il_policy(torch.zeros(1, self.features.num_features, **kw)).shape[1])
        self.n_agents = m
        self.il_unit = cfg.il_volume_unit or data.volume_bar / max(1, m)
        if cfg.impact not in ENV_IMPACT_MODES:
            raise ValueError(f"impact must be one of {ENV_IMPACT_MODES}, got {cfg.impact!r}")
        if cfg.impact in ("learned", "own") and data.impact_law is None:
            raise ValueError(
                f"impact mode {cfg.impact!r} needs MarketData.impact_law "
                "(ilsim.impact.fit_impact_law; the pipeline writes results/<name>/impact_law.json "
                "in notebook 05)"
            )
        law = data.impact_law if cfg.impact in ("learned", "own") else None
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
            # the first episode is t bars in: it replays the bar after its start bar next
            self.state.start = self.state.start - self.state.t
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
            self._order_price(),
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

    def _order_price(self) -> torch.Tensor:
        """The price orders are sized at: in mode ``own`` the real close with the offset the
        agent's own orders left in it (as the impact-aware backtest sizes them), else the price."""
        if self.cfg.impact == "own":
            return self.state.price * torch.exp(self.state.own)
        return self.state.price

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
            self._order_price(),
            fee=cfg.fee,
            mode=cfg.action_mode,
            unit=cfg.order_unit,
        )

    def _next_bar(self, want_buy: torch.Tensor, want_sell: torch.Tensor) -> _Bar:
        """The next bar of every env: replayed (mode ``none``) or simulated from the pool's
        actions, the noise and the impact of the mode; the RL order's fill."""
        cfg = self.cfg
        if cfg.impact in ("none", "own"):
            idx = self.state.start + self.state.t + 1
            real = {c: self._real[c][idx] for c in PRICE_COLUMNS}
            bar = _Bar(
                **real,
                fill_buy=want_buy,
                fill_sell=want_sell,
                new_session=self._real_new_session[idx],
                il_actions=self.state.last_il_actions,
            )
            return self._own_fill(bar) if cfg.impact == "own" else bar
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

    def _own_fill(self, bar: _Bar) -> _Bar:
        """Mode ``own``: the replayed bar's fill moved by the agent's own orders through the
        law, as :func:`ilsim.backtest.trade_step` moves it (a buy its own impact makes
        unaffordable is scaled down first; the offset then carries the booked flow)."""
        s, fee = self.state, self.cfg.fee
        buy, sell, new = bar.fill_buy, bar.fill_sell, bar.new_session
        peek = bar.close * torch.exp(s.own + s.flow.peek(buy - sell, new))
        cost = buy * peek * (1 + fee)
        buy = torch.where(cost > s.cash, buy * s.cash / cost.clamp(min=1e-300), buy)
        s.own = s.own + s.flow.step(buy - sell, new)
        bar.fill_buy, bar.fill = buy, bar.close * torch.exp(s.own)
        return bar

    def _book(self, bar: _Bar) -> tuple[torch.Tensor, torch.Tensor]:
        """The accounts: fills at the next close (post-impact), fee on the filled notional
        (the backtest's rule). Returns the net shares filled and the fees paid."""
        s = self.state
        fill = bar.close if bar.fill is None else bar.fill
        s.cash, s.holdings, fill_buy, notional = book(
            s.cash, s.holdings, bar.fill_buy, bar.fill_sell, fill, fee=self.cfg.fee
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
