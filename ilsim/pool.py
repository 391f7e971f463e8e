"""The imitation-learning agent pool as the steps use it: the ``il`` params as a training
setup, the per-segment datasets, pools of any method (BC ensemble or :class:`LearnerPool`)
saved and loaded, and their actions on scaled features."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch

from ilsim import (
    features,
    imitation,
    regimes,
)
from ilsim.learners import from_state, make_learner, to_state
from ilsim.params import Params, resolve_device, shared


def il_train_config(p: Params, seed: int) -> imitation.TrainConfig:
    """The ``il`` params as a training configuration (the pool and the IL baseline)."""
    return imitation.TrainConfig(
        **shared(p.il, imitation.TrainConfig), seed=seed, device=resolve_device(p.device)
    )


def il_datasets(
    segments: pd.DataFrame, scaled: pd.DataFrame, labels: pd.Series
) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[int]]:
    """(X, y) of every ``il_train`` segment (bars with complete features), and their ids."""
    x_all, y_all = scaled.to_numpy(np.float32), labels.to_numpy()
    ok = features.valid_mask(scaled)
    out, ids = [], []
    for s in segments[segments["role"] == "il_train"].itertuples(index=False):
        rows = np.arange(s.first_bar, s.last_bar + 1)
        rows = rows[ok[rows]]
        out.append((x_all[rows], y_all[rows].astype(np.float32)))
        ids.append(int(s.segment))
    return out, ids


class Pool(Protocol):
    """The IL agent pool as everything downstream uses it, whichever method filled it: M
    agents acting on the same states, ``act`` states [N, F] -> actions [N, M] in [-1, 1].
    Two implementations: BC's :class:`ilsim.imitation.EnsembleMLP` (one batched network,
    trained as one) and :class:`LearnerPool` (any :class:`ilsim.learners.Learner`)."""

    @property
    def n_models(self) -> int: ...

    def act(self, states: torch.Tensor) -> torch.Tensor: ...


def load_pool(path: str | Path, device: str = "cpu") -> Pool:
    """The IL agent pool notebook 03 trained (a run's ``il_agents.pt``): an ``EnsembleMLP``
    (``il.method`` "bc") or a :class:`LearnerPool`."""
    ck = torch.load(path, map_location=device, weights_only=True)
    if "learners" in ck:
        return LearnerPool.from_state(ck)
    return imitation.load_agents(path, device)[0]


def il_actions(model: Pool, scaled: pd.DataFrame) -> np.ndarray:
    """Every agent's action at every bar [T, M] (0 where a bar's features are incomplete)."""
    x = np.nan_to_num(scaled.to_numpy(np.float32), nan=0.0)
    acts = model.act(torch.from_numpy(np.ascontiguousarray(x))).numpy()
    acts[~features.valid_mask(scaled)] = 0.0
    return acts


def pool_states(learner: Any, x: np.ndarray) -> np.ndarray:
    """States for a pool learner: market features, plus a neutral all-cash portfolio for
    learners that read one (DAgger)."""
    x = np.asarray(x, dtype=np.float32)
    if learner.state_dim == x.shape[1]:
        return x
    return np.c_[x, np.ones(len(x), np.float32), np.zeros(len(x), np.float32)]


class LearnerPool:
    """Fitted learners (any :class:`ilsim.learners.Learner`) as the simulator's agent pool:
    states [N, F] → actions [N, M]. A learner that also reads a portfolio (DAgger) sees a
    neutral one — all cash — since the pool's agents keep no accounts in the simulator."""

    def __init__(self, learners: list, segments: list[int] | None = None) -> None:
        self.learners, self.segments = list(learners), list(segments or [])

    @property
    def n_models(self) -> int:
        return len(self.learners)

    def state(self, meta: dict | None = None) -> dict[str, Any]:
        """The pool as plain data: each learner's name, arguments and fitted state
        (:func:`ilsim.learners.to_state`), its segments and ``meta``; no pickled class."""
        return {
            "learners": [to_state(a) for a in self.learners],
            "segments": self.segments,
            "meta": meta or {},
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> LearnerPool:
        """The pool :meth:`state` described."""
        return cls([from_state(s) for s in state["learners"]], state["segments"])

    @torch.no_grad()
    def act(self, states: torch.Tensor) -> torch.Tensor:
        x = states.detach().cpu().numpy().astype(np.float32)
        cols = [np.asarray(a.act(pool_states(a, x)), dtype=np.float32) for a in self.learners]
        return torch.as_tensor(np.stack(cols, 1), device=states.device)


def make_method_learner(p: Params, method: str):
    """A learner of one of the seeds' methods, sized by the ``il_methods`` params."""
    m = p.il_methods
    if method == "bc":  # the paper's agent: continuous actions, MSE
        return make_learner(
            "bc", action_space="continuous", hidden=m.hidden, max_epochs=m.max_epochs
        )
    if method == "dagger":
        return make_learner(
            "dagger",
            action_space=m.action_space,
            hidden=m.hidden,
            max_epochs=m.max_epochs,
            iter_epochs=m.max_epochs,
            n_iter=m.dagger_iterations,
            fee=p.backtest.fee,
        )
    if method == "maxent_irl":
        return make_learner("maxent_irl", action_space=m.action_space, n_iter=m.irl_iterations)
    if method == "gail":
        return make_learner(
            "gail",
            action_space=m.action_space,
            hidden=m.hidden,
            n_iter=m.gail_iterations,
            bc_pretrain_epochs=m.max_epochs,
        )
    raise ValueError(f"unknown IL method {method!r}")


def method_demos(
    p: Params, kind: str, bars: pd.DataFrame, scaled: pd.DataFrame, segments: pd.DataFrame
):
    """Demonstrations of one demonstrator on every segment (labels never cross a segment)."""
    from ilsim import demonstrators

    kw = {"theta": p.experts.theta} if kind == "hindsight" else {}
    ids = regimes.bar_segment_ids(segments, len(bars))
    return demonstrators.demonstrations(kind, bars, scaled, ids, **kw)
