"""What changes while the simulator steps (:class:`MarketState`), and one step's next bar."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from ilsim.impact import ImpactLaw, ImpactState


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
    # account is not marked at (a gain made of one's own impact is not one to realise); in
    # mode "own" the price is the real one and this is the offset its fills carry
    own: torch.Tensor  # [N]
    t: torch.Tensor  # [N] bars into the episode
    start: torch.Tensor  # [N] bar start + t is the current one (a staggered start: t bars in)
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
    fill: torch.Tensor | None = None  # the fill price when it is not the close (mode "own")


def _copy(x: Any, device: torch.device | None = None) -> Any:
    """A detached copy of a tensor (optionally moved), other values unchanged."""
    if isinstance(x, torch.Tensor):
        return x.detach().clone() if device is None else x.detach().clone().to(device)
    return x
