"""Static backtester on real prices (SPEC step 9), batched over many strategies.

The price path ignores the trades ("static"). Accounting: cash, fractional share holdings, a
proportional fee on traded notional (buys and sells alike), no short selling and no borrowing —
cash and holdings never go negative.

**The execution rule (issue 15), the simulator's too:** the decision for bar ``t`` uses
information up to and including bar ``t``, is sized at ``close[t]`` and fills in full at the
*next* close, ``close[t + 1]`` (a buy the cash cannot pay at that price is scaled down,
:func:`book`); the last bar's decision never fills. ``value[t] = cash[t] + holdings[t] *
close[t]`` is taken after the fills of bar ``t``, and ``traded_notional[t]``/``fees[t]`` are
those fills. :class:`ilsim.market.VectorMarket` sizes at its current price and fills at the
next bar's close with the same functions, so a replayed path gives the same fills, fees and
values in both (a test holds it).

Three action conventions, all with ``A`` in ``[-1, 1]`` (one rule, :func:`order_shares`, shared
with the simulator):

* ``mode="fraction"`` (the DDPG agent, SPEC step 7): ``A > 0`` spends the fraction ``A`` of the
  current cash, fee included (``A * cash`` leaves the account and buys
  ``A * cash / (price * (1 + fee))`` shares); ``A < 0`` sells the fraction ``|A|`` of the
  holdings and receives the proceeds net of the fee.
* ``mode="target"`` (a DDPG option): ``(A + 1) / 2`` is the fraction of value to hold in shares
  after the trade; the difference is bought or sold.
* ``mode="units"`` (the IL traders, SPEC step 4): ``A * unit`` shares are ordered; a buy is
  clipped to what the cash can pay for including the fee, a sell to the holdings.

The fee is always ``fee * traded_notional`` (``notional = shares * price``), so a buy costs
``notional * (1 + fee)`` and a sell yields ``notional * (1 - fee)``.

**Impact-aware backtest** (``impact=`` an :class:`ilsim.impact.ImpactLaw`, issue 10): the real
prices plus the strategy's *own* impact. Each strategy carries the log-price offset its orders
built through the law (a concave transient part that decays, a permanent part linear in
volume; the transient part is spent at each session's open, as in the fit). An order decided
at bar t is sized at ``close[t] * exp(offset before the order)`` and fills at
``close[t + 1] * exp(offset after it)`` (a buy is scaled down first if its own impact makes it
cost more than the cash).
The account is marked at the real close, the price without the strategy's own impact, as the
simulator marks its agent: an impact the strategy's own buying left in the price is no gain it
could realise (selling would take it back), and marking at it would pay a large trader for
pushing up its own mark.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Literal

import numpy as np
import torch

from ilsim.impact import ImpactLaw, ImpactState

__all__ = ["BacktestResult", "long_only_actions", "run_backtest"]


@dataclass(frozen=True)
class BacktestResult:
    """Per-bar state after each bar's trade; arrays are ``[K, T]`` (or ``[T]`` once squeezed)."""

    value: np.ndarray
    cash: np.ndarray
    holdings: np.ndarray
    traded_notional: np.ndarray
    fees: np.ndarray
    initial_cash: float

    def squeeze(self) -> BacktestResult:
        """Drop the strategy axis when there is one strategy (``[1, T]`` -> ``[T]``)."""
        if self.value.ndim != 2 or self.value.shape[0] != 1:
            return self
        arrays = {f.name: getattr(self, f.name) for f in fields(self)}
        return BacktestResult(
            **{k: x[0] if isinstance(x, np.ndarray) else x for k, x in arrays.items()}
        )


def long_only_actions(n_bars: int) -> np.ndarray:
    """Actions of the long-only baseline: all cash in at the first bar (``A=1``; it fills at the
    second bar's close), then hold."""
    if n_bars < 1:
        raise ValueError(f"n_bars must be >= 1, got {n_bars}")
    actions = np.zeros(n_bars)
    actions[0] = 1.0
    return actions


def _check_inputs(prices: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate shapes and values; return float64 prices ``[T]`` and actions ``[K, T]``."""
    p = np.asarray(prices, dtype=np.float64)
    a = np.asarray(actions, dtype=np.float64)
    if p.ndim != 1 or len(p) == 0:
        raise ValueError(f"prices must be a non-empty 1-D array, got shape {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p <= 0):
        raise ValueError("prices must be finite and positive")
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2 or a.shape[1] != len(p):
        raise ValueError(f"actions must have shape [T] or [K, T] with T={len(p)}, got {a.shape}")
    if not np.all(np.isfinite(a)) or np.any(np.abs(a) > 1):
        raise ValueError("actions must be finite and in [-1, 1]")
    return p, a


def order_shares(cash, held, action, price, *, fee: float, mode: str = "fraction", unit=1.0):
    """Shares to buy and to sell for actions in [-1, 1]: the one order rule of the backtests,
    the simulator and the planted-edge envs. Works on numpy arrays and torch tensors alike.

    ``fraction``: ``A > 0`` spends the fraction ``A`` of cash (fee included), ``A < 0`` sells
    ``|A|`` of the holdings. ``target``: ``(A + 1) / 2`` is the fraction of the account's value
    to hold in shares after the trade (fee included); the difference is traded. ``units``:
    ``A * unit`` shares, clipped to what cash (with the fee) and holdings allow.
    """
    a_buy, a_sell = action.clip(min=0), (-action).clip(min=0)
    gross = 1.0 + fee
    if mode == "fraction":
        return a_buy * cash / (price * gross), a_sell * held
    if mode == "units":
        afford = cash / (price * gross)
        return _min(a_buy * unit, afford), _min(a_sell * unit, held)
    if mode == "target":
        f = (action + 1.0) * 0.5
        h = held * price
        v = cash + h
        buy = ((f * v - h) / (1.0 + f * fee)).clip(min=0) / price  # shares, before the cap
        sell = ((h - f * v) / (1.0 - f * fee)).clip(min=0) / price
        # a target of no shares sells every share held, exactly (h / price rounds)
        sell = _where(f <= 0, held, _min(sell, held))
        return _min(buy, cash / (price * gross)), sell
    raise ValueError(f"mode must be 'fraction', 'target' or 'units', got {mode!r}")


def would_trade(cash, held, action, price, *, fee: float, mode: str = "fraction", unit=1.0):
    """Whether each action would change its account's position now (any shares bought or
    sold beyond float noise): the learner's diagnostic of a deterministic policy."""
    buy, sell = order_shares(cash, held, action.clip(-1, 1), price, fee=fee, mode=mode, unit=unit)
    return (buy + sell) > 1e-9 * (held + cash / price)


def _min(x, y):
    """Elementwise minimum for numpy arrays and torch tensors (exact, no rounding)."""
    if isinstance(x, torch.Tensor):
        return torch.minimum(x, torch.as_tensor(y, dtype=x.dtype, device=x.device))
    return np.minimum(x, y)


def _where(cond, x, y):
    """Elementwise choice for numpy arrays and torch tensors."""
    if isinstance(y, torch.Tensor):
        return torch.where(
            torch.as_tensor(cond, device=y.device),
            torch.as_tensor(x, dtype=y.dtype, device=y.device),
            y,
        )
    return np.where(cond, x, y)


def book(cash, held, buy, sell, fill, *, fee: float):
    """Book orders of ``buy`` and ``sell`` shares at the ``fill`` price, the fee on the filled
    notional: the one booking rule of the backtests, the simulator and the planted-edge envs
    (numpy arrays or torch tensors). A buy the cash cannot pay at the fill price (it was sized
    at an earlier price) is scaled down to what it can; a spend within float rounding of the
    whole cash spends it all, so an all-in buy leaves exactly nothing.
    Returns new cash, new holdings, shares bought and the traded notional."""
    cost = buy * fill * (1.0 + fee)
    over = cost > cash
    if isinstance(cost, torch.Tensor):
        buy = torch.where(over, buy * cash / cost.clamp(min=1e-300), buy)
        spend = torch.where(cost >= cash * (1 - 1e-12), cash, cost)
    else:
        buy = np.where(over, buy * cash / np.maximum(cost, 1e-300), buy)
        spend = np.where(cost >= cash * (1 - 1e-12), cash, cost)
    return cash - spend + sell * fill * (1.0 - fee), held + buy - sell, buy, (buy + sell) * fill


def trade_step(
    cash: np.ndarray,
    held: np.ndarray,
    action: np.ndarray,
    price: float,
    *,
    fee: float,
    mode: str = "fraction",
    unit: float = 1.0,
    fill: float | None = None,
    impact: _OwnImpact | None = None,
    bar: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One decision's trades of K accounts: orders sized at ``price`` (the close the decision
    saw) and filled at ``fill`` (default: the same close). New cash, holdings and the traded
    notional. With ``impact`` the orders move their own fill price (the module docstring):
    ``price``/``fill`` are then real closes and ``bar`` is the fill's bar."""
    action = np.asarray(action, dtype=np.float64)
    fill = price if fill is None else fill
    if impact is not None:
        pre = price * np.exp(impact.level)
        bought, sold = order_shares(cash, held, action, pre, fee=fee, mode=mode, unit=unit)
        # a buy its own impact makes unaffordable is scaled down before its flow is booked
        # (the smaller order moves the price less, so the scaled buy stays affordable)
        peek = impact.peek(bought - sold, fill, bar)
        cost = bought * peek * (1 + fee)
        bought = bought * np.divide(cash, cost, out=np.ones_like(cost), where=cost > cash)
        at = impact.trade(bought - sold, fill, bar)
        cash, held, _, notional = book(cash, held, bought, sold, at, fee=fee)
        return cash, held, notional
    bought, sold = order_shares(cash, held, action, price, fee=fee, mode=mode, unit=unit)
    cash, held, _, notional = book(cash, held, bought, sold, fill, fee=fee)
    return cash, held, notional


class _OwnImpact:
    """K accounts' own impact on the real price: the log offset their orders built."""

    def __init__(self, law: ImpactLaw, k: int, new_session: np.ndarray | None) -> None:
        self.state = ImpactState(law, np.zeros(k))
        self.level = np.zeros(k)
        self.new_session = new_session

    def _new(self, bar: int):
        return None if self.new_session is None else np.bool_(self.new_session[bar])

    def peek(self, shares: np.ndarray, close: float, bar: int) -> np.ndarray:
        """The fill price these net orders would get at ``bar``, without booking them."""
        return close * np.exp(self.level + self.state.peek(shares, self._new(bar)))

    def trade(self, shares: np.ndarray, close: float, bar: int) -> np.ndarray:
        """Book the net orders filled at ``bar``; return the fill price per account."""
        self.level = self.level + self.state.step(shares, self._new(bar))
        return close * np.exp(self.level)


def _record(out: dict, t: int, cash, held, price, notional, fee: float) -> None:
    out["cash"][:, t] = cash
    out["holdings"][:, t] = held
    out["value"][:, t] = cash + held * price
    out["traded_notional"][:, t] = notional
    out["fees"][:, t] = fee * notional


def run_backtest(
    prices: np.ndarray,
    actions: np.ndarray,
    *,
    initial_cash: float = 1e6,
    fee: float = 0.005,
    mode: Literal["fraction", "target", "units"] = "fraction",
    unit: float = 1.0,
    impact: ImpactLaw | None = None,
    new_session: np.ndarray | None = None,
) -> BacktestResult:
    """Replay ``K`` action sequences on one static price path and record the portfolio.

    Parameters
    ----------
    prices : array ``[T]``
        Execution (close) prices, finite and positive.
    actions : array ``[T]`` or ``[K, T]``
        Actions in ``[-1, 1]``; ``actions[k, t]`` is sized at ``prices[t]`` and fills at
        ``prices[t + 1]`` (the last one never fills).
    initial_cash : float
        Starting cash of every strategy (no holdings at the start).
    fee : float
        Proportional fee on traded notional, for buys and sells.
    mode : {"fraction", "units"}
        Action convention (see the module docstring).
    unit : float
        Shares per unit of action in ``"units"`` mode; ignored in ``"fraction"`` mode.
    impact : ImpactLaw, optional
        The impact-aware backtest: the strategies' own orders move their fill prices.
    new_session : bool array ``[T]``, optional
        Bars that open a session (the law's decaying sum restarts there).

    Returns
    -------
    BacktestResult with arrays ``[K, T]`` (call ``.squeeze()`` for ``[T]`` when ``K == 1``).
    """
    if mode not in ("fraction", "target", "units"):
        raise ValueError(f"mode must be 'fraction', 'target' or 'units', got {mode!r}")
    if not (np.isfinite(fee) and fee >= 0):
        raise ValueError(f"fee must be finite and >= 0, got {fee}")
    if not (np.isfinite(initial_cash) and initial_cash >= 0):
        raise ValueError(f"initial_cash must be finite and >= 0, got {initial_cash}")
    if mode == "units" and not (np.isfinite(unit) and unit > 0):
        raise ValueError(f"unit must be positive, got {unit}")
    p, a = _check_inputs(prices, actions)
    result, _ = _simulate(
        p, a, initial_cash=initial_cash, fee=fee, mode=mode, unit=unit, impact=impact,
        new_session=new_session,
    )  # fmt: skip
    return result


def _simulate(
    p: np.ndarray,
    actions: np.ndarray,
    decide: Callable[[int, np.ndarray, np.ndarray], np.ndarray] | None = None,
    *,
    initial_cash: float,
    fee: float,
    mode: str,
    unit: float = 1.0,
    impact: ImpactLaw | None = None,
    new_session: np.ndarray | None = None,
) -> tuple[BacktestResult, np.ndarray]:
    """The one execution loop of K accounts over the prices ``p``: at bar t the orders decided
    at t - 1 fill at this close and the accounts are recorded. ``actions`` [K, T] holds the
    decisions: given in advance, or filled in bar by bar by ``decide(t, cash, held)`` (a policy
    that sees its account). Returns the result and the actions."""
    k, n = actions.shape
    out = {
        name: np.empty((k, n)) for name in ("value", "cash", "holdings", "traded_notional", "fees")
    }
    cash = np.full(k, float(initial_cash))
    held = np.zeros(k)
    own = None if impact is None else _OwnImpact(impact, k, new_session)
    notional = np.zeros(k)
    for t in range(n):
        if t:  # the orders decided at bar t - 1 fill at this bar's close
            cash, held, notional = trade_step(
                cash, held, actions[:, t - 1], p[t - 1], fee=fee, mode=mode, unit=unit,
                fill=p[t], impact=own, bar=t,
            )  # fmt: skip
        _record(out, t, cash, held, p[t], notional, fee)
        if decide is not None:
            actions[:, t] = decide(t, cash, held)
    return BacktestResult(**out, initial_cash=float(initial_cash)), actions


def run_policy_backtest(
    prices: np.ndarray,
    states: np.ndarray,
    policy: Callable[[np.ndarray], np.ndarray],
    n_policies: int,
    *,
    initial_cash: float = 1e6,
    fee: float = 0.005,
    mode: Literal["fraction", "target"] = "fraction",
    impact: ImpactLaw | None = None,
    new_session: np.ndarray | None = None,
) -> tuple[BacktestResult, np.ndarray]:
    """Backtest K state-dependent policies (``mode``: their action semantics, see
    :func:`order_shares`) on one static price path.

    At bar t each policy sees ``[states[t], cash / initial_cash, holdings * price / initial_cash]``
    (its own account after bar t's fills, as in training); its order fills at ``prices[t + 1]``;
    ``policy`` maps those observations [K, D + 2] to actions [K] in [−1, 1]. Returns the result
    and the actions [K, T].
    ``impact``/``new_session``: the impact-aware backtest (the module docstring).
    """
    p = np.asarray(prices, dtype=np.float64)
    s = np.asarray(states, dtype=np.float32)
    if s.shape[0] != len(p) or not np.isfinite(s).all():
        raise ValueError("states must be finite, one row per price")

    def decide(t: int, cash: np.ndarray, held: np.ndarray) -> np.ndarray:
        account = np.stack([cash / initial_cash, held * p[t] / initial_cash], 1)
        obs = np.concatenate([np.repeat(s[t][None], n_policies, 0), account], 1)
        return np.clip(np.asarray(policy(obs.astype(np.float32)), dtype=np.float64), -1.0, 1.0)

    return _simulate(
        p, np.empty((n_policies, len(p))), decide, initial_cash=initial_cash, fee=fee, mode=mode,
        impact=impact, new_session=new_session,
    )  # fmt: skip
