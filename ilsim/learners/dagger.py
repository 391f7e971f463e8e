"""DAgger (chapter 304): the learner trades a static replay with its own account, the expert
labels the states it visits, and BC refits on the aggregate."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ilsim.backtest import trade_step
from ilsim.learners.base import (
    Demonstrations,
    NotFittedError,
    frame_state,
    imitation_accuracy,
)
from ilsim.learners.bc import BCLearner


@dataclass
class Rollout:
    """One static-replay pass over every segment: what was observed and done at each bar."""

    observations: np.ndarray  # [T, F + 2]: features, cash / initial, holdings·price / initial
    actions: np.ndarray  # [T] executed (learner's or, with probability beta, the expert's)
    policy_actions: np.ndarray  # [T] the learner's own action (NaN where it was not asked)
    expert_actions: np.ndarray  # [T] the expert's action at each bar


def replay_rollout(
    demos: Demonstrations,
    policy: Callable[[np.ndarray], np.ndarray] | None = None,
    *,
    beta: float = 0.0,
    rng: np.random.Generator | None = None,
    initial_cash: float = 1e6,
    fee: float = 0.005,
) -> Rollout:
    """Trade every segment of ``demos`` on its static price path (fraction convention,
    :func:`ilsim.backtest.trade_step`) from ``initial_cash`` and no holdings.

    At bar t the trader observes ``[states[t], cash / initial_cash, holdings·price[t] /
    initial_cash]`` (after the fill of its previous order, at this close, as
    :func:`ilsim.backtest.run_policy_backtest`; its own order fills at the next close) and
    executes, with probability ``beta``, the expert's action, else ``policy(obs)`` (DAgger's
    mixture β·π* + (1 − β)·π̂). ``policy=None`` replays the expert alone. Segments run side by
    side, one policy call per bar offset.
    """
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must be in [0, 1], got {beta}")
    if policy is None:
        beta = 1.0
    rng = np.random.default_rng(0) if rng is None else rng
    n, f = len(demos), demos.n_features
    expert = demos.query_expert(np.arange(n))
    segs = demos.segments()
    starts = np.array([s.start for s in segs])
    lengths = np.array([s.stop - s.start for s in segs])
    obs = np.empty((n, f + 2), dtype=np.float32)
    obs[:, :f] = demos.states
    executed = np.empty(n)
    own = np.full(n, np.nan)
    cash = np.full(len(segs), float(initial_cash))
    held = np.zeros(len(segs))
    for t in range(int(lengths.max())):
        live = np.flatnonzero(t < lengths)
        idx = starts[live] + t
        price = demos.prices[idx]
        if t:  # the orders decided at bar t - 1 fill at this bar's close (the backtest's rule)
            cash[live], held[live], _ = trade_step(
                cash[live],
                held[live],
                executed[idx - 1],
                demos.prices[idx - 1],
                fee=fee,
                fill=price,
            )
        obs[idx, f] = cash[live] / initial_cash
        obs[idx, f + 1] = held[live] * price / initial_cash
        a = expert[idx].copy()
        ask = rng.random(len(live)) >= beta if beta < 1.0 else np.zeros(len(live), bool)
        if ask.any():
            mine = np.clip(np.asarray(policy(obs[idx[ask]]), dtype=np.float64), -1.0, 1.0)
            own[idx[ask]] = mine
            a[ask] = mine
        executed[idx] = a
    return Rollout(obs, executed, own, expert)


class DAggerLearner:
    """DAgger (Ross, Gordon & Bagnell 2011) on static replay, for a learner that sees its own
    portfolio — so its own actions change its future states.

    State: market features plus ``cash / initial`` and ``holdings·price / initial``.
    Iteration 0 is behavioural cloning on the expert's actions with the portfolio the expert
    itself would have had (its actions replayed, fraction convention, ``fee``). Iteration i
    (1 … ``n_iter``) rolls out β_i·π* + (1 − β_i)·π̂ with β_i = ``beta0``·``beta_decay``^(i−1)
    through every segment, labels each visited state with ``demos.expert`` at that bar,
    aggregates it with all earlier data (the dataset grows by T rows per iteration) and
    retrains from the current weights (``iter_epochs``).

    ``log_`` has one row per iteration: ``beta`` of the collecting rollout, rows added and
    aggregated, the retrain's losses, ``visited_accuracy`` (the previous policy's own actions
    against the expert on the states it collected) and ``accuracy`` (the new policy alone,
    β = 0, against the expert on the states it visits — DAgger's measure; row 0 is plain BC
    with the portfolio). ``act`` expects F + 2 columns.
    """

    name = "dagger"

    def __init__(
        self,
        action_space: str = "continuous",
        hidden: Sequence[int] = (128, 128),
        lr: float = 1e-3,
        batch_size: int = 256,
        max_epochs: int = 40,
        iter_epochs: int = 15,
        patience: int = 6,
        val_fraction: float = 0.2,
        n_iter: int = 4,
        beta0: float = 0.5,
        beta_decay: float = 0.5,
        initial_cash: float = 1e6,
        fee: float = 0.005,
        hold_band: float = 0.1,
        track_accuracy: bool = True,
        device: str = "cpu",
    ) -> None:
        self.action_space, self.hidden, self.lr = action_space, hidden, lr
        self.batch_size, self.max_epochs, self.patience = batch_size, max_epochs, patience
        self.val_fraction, self.device = val_fraction, device
        self.iter_epochs, self.n_iter = iter_epochs, n_iter
        self.beta0, self.beta_decay = beta0, beta_decay
        self.initial_cash, self.fee, self.hold_band = initial_cash, fee, hold_band
        self.track_accuracy = track_accuracy

    @property
    def state_dim(self) -> int:
        """F + 2 (market features, cash fraction, holdings value fraction)."""
        if not hasattr(self, "policy_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted")
        return self.policy_.state_dim

    def _policy(self) -> BCLearner:
        """The BC learner DAgger refits, configured from this learner's arguments."""
        return BCLearner(
            self.action_space,
            self.hidden,
            self.lr,
            self.batch_size,
            self.max_epochs,
            self.patience,
            self.val_fraction,
            hold_band=self.hold_band,
            device=self.device,
        )

    def fitted_state(self) -> dict[str, Any]:
        """The fitted policy and the iteration log as plain data."""
        if not hasattr(self, "policy_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted")
        return {"policy": self.policy_.fitted_state(), "log": frame_state(self.log_)}

    def load_fitted_state(self, state: dict[str, Any]) -> DAggerLearner:
        """Restore what :meth:`fitted_state` returned."""
        self.policy_ = self._policy().load_fitted_state(state["policy"])
        self.log_ = pd.DataFrame(state["log"])
        return self

    def act(self, states: np.ndarray) -> np.ndarray:
        """Actions [N] for observations [N, F + 2]."""
        if not hasattr(self, "policy_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted")
        return self.policy_.act(states)

    def _on_policy_accuracy(self, demos: Demonstrations) -> float:
        ro = replay_rollout(demos, self.act, initial_cash=self.initial_cash, fee=self.fee)
        return imitation_accuracy(ro.actions, ro.expert_actions, self.hold_band)["accuracy"]

    def fit(self, demos: Demonstrations, *, seed: int = 0, progress: bool = False) -> DAggerLearner:
        """Run DAgger on ``demos`` (needs its queryable ``expert``)."""
        self.policy_ = self._policy()
        rng = np.random.default_rng(seed)
        expert_run = replay_rollout(demos, None, initial_cash=self.initial_cash, fee=self.fee)
        xs, ys = [expert_run.observations], [expert_run.expert_actions]
        fit = self.policy_.fit_arrays(xs[0], ys[0], seed=seed, progress=progress)
        nan = float("nan")
        rows = [
            {
                "iteration": 0,
                "beta": nan,
                "added": len(demos),
                "dataset_size": len(demos),
                "train_loss": fit["train_loss"],
                "val_loss": fit["val_loss"],
                "visited_accuracy": nan,
                "accuracy": self._on_policy_accuracy(demos) if self.track_accuracy else nan,
            }
        ]
        bar = tqdm(range(1, self.n_iter + 1), desc="DAgger", disable=not progress, leave=False)
        for i in bar:
            beta = self.beta0 * self.beta_decay ** (i - 1)
            ro = replay_rollout(
                demos,
                self.act,
                beta=beta,
                rng=rng,
                initial_cash=self.initial_cash,
                fee=self.fee,
            )
            asked = np.isfinite(ro.policy_actions)
            visited = imitation_accuracy(
                ro.policy_actions[asked], ro.expert_actions[asked], self.hold_band
            )["accuracy"]
            labels = demos.query_expert(np.arange(len(demos)))  # the expert on visited bars
            xs.append(ro.observations)
            ys.append(labels)
            fit = self.policy_.fit_arrays(
                np.concatenate(xs),
                np.concatenate(ys),
                seed=seed + i,
                warm_start=True,
                max_epochs=self.iter_epochs,
            )
            acc = self._on_policy_accuracy(demos) if self.track_accuracy else nan
            rows.append(
                {
                    "iteration": i,
                    "beta": beta,
                    "added": len(ro.actions),
                    "dataset_size": sum(len(y) for y in ys),
                    "train_loss": fit["train_loss"],
                    "val_loss": fit["val_loss"],
                    "visited_accuracy": visited,
                    "accuracy": acc,
                }
            )
            bar.set_postfix(acc=f"{acc:.3f}")
        self.log_ = pd.DataFrame(rows)
        return self
