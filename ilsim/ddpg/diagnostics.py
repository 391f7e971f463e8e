"""The learner's diagnostics: sums over one log window, turned into one curve row per model.

What a row says (issue 9): critic loss, mean Q, actor loss, mean |pre-tanh|, the share of
saturated actions (|a| > 0.99), the deterministic policy's share of steps with a position
change and changes per episode (from the env's ``trades``), the validation score, and
histograms of the deterministic actions and of their pre-tanh outputs."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

HIST_BINS = 20  # histogram bins of actions over [-1, 1] and pre-tanh outputs in the diagnostics


PREACT_RANGE = 4.0  # pre-tanh histogram over [-4, 4] (clipped; tanh(4) = 0.9993)


SATURATED = 0.99  # |action| above this counts as saturated in the diagnostics


DIAG_EVERY = 4  # diagnostics of the deterministic policy on every DIAG_EVERY-th vector step


CURVE_COLUMNS = [
    "vector_step",
    "env_steps",
    "model",
    "seed",
    "episodes",
    "episode_return_mean",
    "critic_loss",
    "actor_loss",
    "q_mean",
    "preact_abs",
    "saturated_frac",
    "trade_frac",
    "trades_per_episode",
    "val_score",
    "wall_s",
    *[f"hist_{i:02d}" for i in range(HIST_BINS)],
    *[f"pre_{i:02d}" for i in range(HIST_BINS)],
]


STAT_KEYS = ("critic_loss", "actor_loss", "q_mean", "preact_abs")


class Diagnostics:
    """Sums over one log window of K models acting in blocks of N envs, kept on the training
    device (no host sync per update); :meth:`rows` reads them out and starts a new window."""

    def __init__(self, k: int, n: int, device: Any = "cpu") -> None:
        self.k, self.n, self.device = k, n, torch.device(device)
        self.edges = torch.linspace(-1.0, 1.0, HIST_BINS + 1, device=self.device)[1:-1]
        self.pre_edges = torch.linspace(
            -PREACT_RANGE, PREACT_RANGE, HIST_BINS + 1, device=self.device
        )[1:-1]
        self._clear()

    def _clear(self) -> None:
        z = torch.zeros(self.k, dtype=torch.float64, device=self.device)
        self.sums = {
            "returns": [[] for _ in range(self.k)],
            **{s: z.clone() for s in STAT_KEYS},
            "critic_updates": 0,
            "actor_updates": 0,
            "hist": torch.zeros(self.k, HIST_BINS, dtype=torch.float64, device=self.device),
            "pre_hist": torch.zeros(self.k, HIST_BINS, dtype=torch.float64, device=self.device),
            "saturated": z.clone(),
            "traded": z.clone(),
            "steps": 0,
            "acted_steps": 0,
        }

    def acted(self, pre: torch.Tensor, traded: torch.Tensor | None) -> None:
        """The deterministic policy's pre-tanh outputs [K, N] on this step, and whether each
        action would change the position (None: the env cannot say)."""
        w, clean = self.sums, torch.tanh(pre)
        w["hist"] += F.one_hot(torch.bucketize(clean, self.edges), HIST_BINS).sum(1).double()
        pre_bins = torch.bucketize(pre.clamp(-PREACT_RANGE, PREACT_RANGE), self.pre_edges)
        w["pre_hist"] += F.one_hot(pre_bins, HIST_BINS).sum(1).double()
        w["saturated"] += (clean.abs() > SATURATED).double().sum(1)
        if traded is not None:
            w["traded"] += traded.view(self.k, self.n).double().sum(1)
            w["acted_steps"] += 1

    def stepped(self, ended: list[list[float]]) -> None:
        """One vector step, with the returns of the episodes each model finished on it."""
        self.sums["steps"] += 1
        for j, rets in enumerate(ended):
            self.sums["returns"][j].extend(rets)

    def updated(self, stats: dict[str, torch.Tensor], actor: bool) -> None:
        """One update's per-model statistics (the actor's only when it was updated)."""
        self.sums["critic_updates"] += 1
        self.sums["actor_updates"] += int(actor)
        for key, v in stats.items():
            self.sums[key] += v.double()

    def rows(self, step: int, seeds: tuple[int, ...], val: list[float], wall: float) -> list[dict]:
        """One curve row per model from this window's sums; the next window starts empty."""
        w, n = self.sums, self.n
        cu, au = w["critic_updates"], w["actor_updates"]
        acted = w["hist"].sum(1)
        checked = w["acted_steps"] * n  # steps on which the deterministic policy was checked
        rows = []
        for j in range(self.k):
            rets = w["returns"][j]
            traded = w["traded"][j].item() / checked if checked else math.nan
            ep_len = w["steps"] * n / len(rets) if rets else math.nan
            ok = acted[j] > 0
            hist = (w["hist"][j] / acted[j]).tolist() if ok else [math.nan] * HIST_BINS
            pre = (w["pre_hist"][j] / acted[j]).tolist() if ok else [math.nan] * HIST_BINS
            rows.append(
                {
                    "vector_step": step,
                    "env_steps": step * n,
                    "model": j,
                    "seed": seeds[j],
                    "episodes": len(rets),
                    "episode_return_mean": float(np.mean(rets)) if rets else math.nan,
                    "critic_loss": w["critic_loss"][j].item() / cu if cu else math.nan,
                    "q_mean": w["q_mean"][j].item() / cu if cu else math.nan,
                    "actor_loss": w["actor_loss"][j].item() / au if au else math.nan,
                    "preact_abs": w["preact_abs"][j].item() / au if au else math.nan,
                    "saturated_frac": w["saturated"][j].item() / acted[j].item()
                    if ok
                    else math.nan,
                    "trade_frac": traded,
                    "trades_per_episode": traded * ep_len,
                    "val_score": val[j],
                    "wall_s": wall,
                    **{f"hist_{i:02d}": h for i, h in enumerate(hist)},
                    **{f"pre_{i:02d}": h for i, h in enumerate(pre)},
                }
            )
        self._clear()
        return rows

    def state_dict(self) -> dict:
        return {k: v.cpu() if isinstance(v, torch.Tensor) else v for k, v in self.sums.items()}

    def load_state_dict(self, state: dict) -> None:
        self.sums = {
            k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in state.items()
        }
