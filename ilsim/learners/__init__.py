"""Imitation learners of the book chapters, one module each, with scikit-learn's conventions:
configure in ``__init__`` (nothing checked or built there), ``fit(demos, seed=…)`` returns the
learner, fitted state in attributes ending in ``_``, ``act``/``act_proba`` before ``fit``
raise :class:`NotFittedError`.

- :mod:`~ilsim.learners.base`: demonstrations, action spaces, the :class:`Learner` protocol;
- :mod:`~ilsim.learners.bc` (behavioural cloning, the paper's agent), :mod:`~ilsim.learners.dagger`
  (chapter 304), :mod:`~ilsim.learners.maxent_irl` (306), :mod:`~ilsim.learners.gail` (308);
- here: the registry (:func:`make_learner`) and :func:`evaluate_learner`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ilsim.backtest import run_backtest, run_policy_backtest
from ilsim.learners.base import (
    ACTION_SPACES,
    ActionLookup,
    Demonstrations,
    Learner,
    NotFittedError,
    action_classes,
    from_classes,
    get_params,
    imitation_accuracy,
    to_classes,
)
from ilsim.learners.bc import BCLearner
from ilsim.learners.dagger import DAggerLearner, Rollout, replay_rollout
from ilsim.learners.gail import GAILLearner
from ilsim.learners.maxent_irl import MaxEntIRLLearner
from ilsim.metrics import compute_metrics

__all__ = [
    "ACTION_SPACES",
    "ActionLookup",
    "BCLearner",
    "DAggerLearner",
    "Demonstrations",
    "GAILLearner",
    "LEARNERS",
    "Learner",
    "MaxEntIRLLearner",
    "NotFittedError",
    "Rollout",
    "action_classes",
    "evaluate_learner",
    "from_classes",
    "from_state",
    "get_params",
    "imitation_accuracy",
    "learner_names",
    "make_learner",
    "replay_rollout",
    "to_state",
    "to_classes",
]


def evaluate_learner(
    learner: Learner,
    demos: Demonstrations,
    *,
    initial_cash: float = 1e6,
    fee: float = 0.005,
    hold_band: float = 0.1,
    bars_per_year: float | None = None,
) -> dict[str, float]:
    """How well a fitted learner imitates and trades on ``demos``.

    Accuracy against the expert (:func:`imitation_accuracy`) and the expert's majority-class
    rate; the learner as a trader on the static replay of each segment (fraction convention,
    from ``initial_cash``), metrics per segment by :func:`ilsim.metrics.compute_metrics`, then
    averaged over segments; the expert's own replay metrics beside them (``expert_…``). A
    learner with ``state_dim == F + 2`` trades through
    :func:`ilsim.backtest.run_policy_backtest`, which fills the portfolio columns from its own
    running account — so its accuracy is measured on the states it visits itself.
    """
    f = demos.n_features
    if learner.state_dim not in (f, f + 2):
        raise ValueError(f"learner expects {learner.state_dim} columns; demos have {f} features")
    sees_account = learner.state_dim == f + 2
    actions = np.empty(len(demos))
    keys = ("total_return_pct", "sharpe_ratio", "max_drawdown_pct", "turnover")
    if bars_per_year is not None:
        keys = (*keys, "sharpe_annualised")
    per_seg: list[dict[str, float]] = []
    expert_seg: list[dict[str, float]] = []
    open_loop = None if sees_account else np.asarray(learner.act(demos.states), dtype=np.float64)
    for s in demos.segments():
        prices = demos.prices[s]
        if sees_account:
            res, acts = run_policy_backtest(
                prices, demos.states[s], learner.act, 1, initial_cash=initial_cash, fee=fee
            )
            actions[s] = acts[0]
        else:
            actions[s] = np.clip(open_loop[s], -1.0, 1.0)
            res = run_backtest(prices, actions[s], initial_cash=initial_cash, fee=fee)
        expert_res = run_backtest(prices, demos.actions[s], initial_cash=initial_cash, fee=fee)
        for r_, out in ((res, per_seg), (expert_res, expert_seg)):
            r = r_.squeeze()
            m = compute_metrics(
                r.value, r.traded_notional, initial_value=initial_cash, bars_per_year=bars_per_year
            )
            out.append({k: m[k] for k in keys})
    result = {"n_bars": float(len(demos)), "n_segments": float(len(per_seg))}
    result.update(imitation_accuracy(actions, demos.actions, hold_band))
    result.update({k: float(np.mean([m[k] for m in per_seg])) for k in keys})
    result.update({f"expert_{k}": float(np.mean([m[k] for m in expert_seg])) for k in keys})
    return result


LEARNERS: dict[str, Callable[..., Learner]] = {
    "bc": BCLearner,
    "dagger": DAggerLearner,
    "maxent_irl": MaxEntIRLLearner,
    "gail": GAILLearner,
}


def learner_names() -> list[str]:
    """Every name :func:`make_learner` knows."""
    return list(LEARNERS)


def to_state(learner: Learner) -> dict[str, Any]:
    """A fitted learner as plain data — its name, its constructor's arguments and its fitted
    state (tensors, numbers, strings, lists): saved with ``torch.save`` and read back with
    ``weights_only=True``, so no class is pickled and moving code never breaks a saved pool."""
    return {
        "name": learner.name,
        "params": get_params(learner),
        "fitted": learner.fitted_state(),  # type: ignore[attr-defined]
    }


def from_state(state: dict[str, Any]) -> Learner:
    """The learner :func:`to_state` described, fitted again from its saved state."""
    learner = make_learner(state["name"], **state["params"])
    return learner.load_fitted_state(state["fitted"])  # type: ignore[attr-defined]


def make_learner(name: str, **kwargs) -> Learner:
    """A learner by registry name ("bc", "dagger", "maxent_irl", "gail"); ``kwargs`` go to its
    constructor."""
    if name not in LEARNERS:
        raise ValueError(f"unknown learner {name!r}; choose from {learner_names()}")
    return LEARNERS[name](**kwargs)
