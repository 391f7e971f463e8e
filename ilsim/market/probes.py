"""Probes of a built simulator: a scripted rollout, and how the price responds to orders of
given sizes (the impact response notebook 05 measures)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ilsim.market.config import MarketConfig, MarketData
from ilsim.market.env import VectorMarket


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
    out["volume"][:, 0] = m._real["volume"][m.state.start + m.t].cpu().numpy()
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
