"""What every imitation learner shares: expert :class:`Demonstrations` (states, actions,
prices, segments, a queryable expert), the discrete action spaces, imitation accuracy, the
:class:`Learner` protocol and :class:`NotFittedError`."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import pandas as pd
import torch

ACTION_SPACES: dict[str, tuple[float, ...] | None] = {
    "continuous": None,
    "three": (-1.0, 0.0, 1.0),
    "five": (-1.0, -0.5, 0.0, 0.5, 1.0),
}


def _space_levels(action_space: str) -> tuple[float, ...] | None:
    """Levels of a named action space (None: continuous), or a clear error."""
    if action_space not in ACTION_SPACES:
        raise ValueError(
            f"action_space must be one of {sorted(ACTION_SPACES)}, got {action_space!r}"
        )
    return ACTION_SPACES[action_space]


def to_classes(actions: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """Action values → index of the nearest level (ties: the lower level), int64."""
    lv = np.asarray(levels, dtype=np.float64)
    a = np.asarray(actions, dtype=np.float64)
    return np.abs(a[..., None] - lv).argmin(axis=-1).astype(np.int64)


def from_classes(idx: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """Level indices → action values (float64)."""
    return np.asarray(levels, dtype=np.float64)[np.asarray(idx, dtype=np.int64)]


def action_classes(actions: np.ndarray, hold_band: float) -> np.ndarray:
    """Continuous actions → −1 (sell), 0 (hold, ``|a| <= hold_band``), +1 (buy)."""
    return np.where(actions > hold_band, 1, np.where(actions < -hold_band, -1, 0)).astype(np.int8)


def imitation_accuracy(
    pred: np.ndarray, expert: np.ndarray, hold_band: float = 0.1
) -> dict[str, float]:
    """Share of bars where the learner's action class equals the expert's, and the expert's
    majority-class rate (the accuracy of always answering the commonest action).

    Classes: when the expert acts in {−1, 0, 1}, sell / hold / buy by :func:`action_classes`
    (``|a| <= hold_band`` is hold, the project's reading of a continuous agent); when it uses
    the five levels, the nearest of them; otherwise (a continuous expert) sell / hold / buy.
    """
    p = np.asarray(pred, dtype=np.float64)
    e = np.asarray(expert, dtype=np.float64)
    if p.shape != e.shape:
        raise ValueError(f"pred shape {p.shape} != expert shape {e.shape}")
    if len(e) == 0:
        return {"accuracy": float("nan"), "majority_rate": float("nan")}
    five = ACTION_SPACES["five"]
    if np.isin(e, (-1.0, 0.0, 1.0)).all() or not np.isin(e, five).all():
        pc, ec = action_classes(p, hold_band), action_classes(e, hold_band)
    else:
        pc, ec = to_classes(p, five), to_classes(e, five)
    _, counts = np.unique(ec, return_counts=True)
    return {"accuracy": float(np.mean(pc == ec)), "majority_rate": float(counts.max() / len(ec))}


def segment_slices(segment_ids: np.ndarray) -> list[slice]:
    """Contiguous runs of equal ids as slices; rejects an id that reappears after another."""
    ids = np.asarray(segment_ids)
    if ids.ndim != 1:
        raise ValueError(f"segment_ids must be 1-D, got shape {ids.shape}")
    if len(ids) == 0:
        return []
    cut = np.flatnonzero(ids[1:] != ids[:-1]) + 1
    starts = np.concatenate(([0], cut))
    if len(np.unique(ids[starts])) != len(starts):
        raise ValueError("segment_ids must be contiguous: an id reappears after another id")
    ends = np.concatenate((cut, [len(ids)]))
    return [slice(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


class ActionLookup:
    """Queryable expert that returns recorded actions: ``expert(indices) = actions[indices]``
    (the hindsight and rule-based experts do not depend on the learner's portfolio)."""

    def __init__(self, actions: np.ndarray) -> None:
        self.actions = np.asarray(actions, dtype=np.float64)

    def __call__(self, indices: np.ndarray) -> np.ndarray:
        return self.actions[np.asarray(indices, dtype=np.int64)]


class _SubsetExpert:
    """An expert of a row subset: index ``k`` of the subset is row ``rows[k]`` of the parent."""

    def __init__(self, expert: Callable[[np.ndarray], np.ndarray], rows: np.ndarray) -> None:
        self.expert, self.rows = expert, rows

    def __call__(self, indices: np.ndarray) -> np.ndarray:
        return self.expert(self.rows[np.asarray(indices, dtype=np.int64)])


@dataclass
class Demonstrations:
    """Expert demonstrations on T bars.

    ``states`` [T, F] scaled market features (float32); ``actions`` [T] expert actions in
    [−1, 1]; ``prices`` [T] closes for replay; ``segment_ids`` [T] contiguous runs (replays and
    rollouts never cross a segment); ``expert`` the queryable expert: bar indices [K] into this
    set → its actions there (DAgger asks it about the states its learner visits).
    """

    states: np.ndarray
    actions: np.ndarray
    prices: np.ndarray
    segment_ids: np.ndarray
    expert: Callable[[np.ndarray], np.ndarray] | None = None

    def __post_init__(self) -> None:
        self.states = np.asarray(self.states, dtype=np.float32)
        self.actions = np.asarray(self.actions, dtype=np.float64)
        self.prices = np.asarray(self.prices, dtype=np.float64)
        self.segment_ids = np.asarray(self.segment_ids)
        n = len(self.states)
        if self.states.ndim != 2 or n == 0:
            raise ValueError(f"states must be a non-empty [T, F] array, got {self.states.shape}")
        for name in ("actions", "prices", "segment_ids"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"{name} must have shape ({n},)")
        if not np.isfinite(self.states).all():
            raise ValueError("states contain NaN or inf")
        if not np.isfinite(self.actions).all() or np.any(np.abs(self.actions) > 1):
            raise ValueError("actions must be finite and in [-1, 1]")
        if not np.isfinite(self.prices).all() or np.any(self.prices <= 0):
            raise ValueError("prices must be finite and positive")
        segment_slices(self.segment_ids)  # validates contiguity

    @classmethod
    def from_labels(
        cls,
        states: np.ndarray,
        actions: np.ndarray,
        prices: np.ndarray,
        segment_ids: np.ndarray | None = None,
    ) -> Demonstrations:
        """Demonstrations whose expert is a lookup of ``actions`` (``None`` ids: one segment)."""
        ids = np.zeros(len(prices), dtype=np.int64) if segment_ids is None else segment_ids
        return cls(states, actions, prices, ids, ActionLookup(np.asarray(actions)))

    def __len__(self) -> int:
        return len(self.actions)

    def __repr__(self) -> str:
        expert = "none" if self.expert is None else type(self.expert).__name__
        return (
            f"Demonstrations(T={len(self)}, F={self.n_features}, "
            f"segments={len(self.segments())}, expert={expert})"
        )

    @property
    def n_features(self) -> int:
        """F, the number of market features."""
        return int(self.states.shape[1])

    def segments(self) -> list[slice]:
        """The segments as slices, in order."""
        return segment_slices(self.segment_ids)

    def query_expert(self, indices: np.ndarray) -> np.ndarray:
        """The expert's actions at bar ``indices`` (error when there is no queryable expert)."""
        if self.expert is None:
            raise ValueError("these demonstrations have no queryable expert")
        out = np.asarray(self.expert(np.asarray(indices, dtype=np.int64)), dtype=np.float64)
        if out.shape != np.shape(indices):
            raise ValueError(f"expert returned shape {out.shape} for {np.shape(indices)} indices")
        return out

    def select_segments(self, ids: Sequence) -> Demonstrations:
        """The bars of the segments ``ids`` (in their original order), expert re-indexed."""
        rows = np.flatnonzero(np.isin(self.segment_ids, np.asarray(ids)))
        if rows.size == 0:
            raise ValueError(f"no bars in segments {list(ids)}")
        expert = None if self.expert is None else _SubsetExpert(self.expert, rows)
        return Demonstrations(
            self.states[rows], self.actions[rows], self.prices[rows], self.segment_ids[rows], expert
        )


class NotFittedError(ValueError, AttributeError):
    """A learner was used before ``fit`` (an AttributeError too, so ``hasattr`` is False)."""


@runtime_checkable
class Learner(Protocol):
    """What every imitation learner offers (scikit-learn style: configure, ``fit``, ``act``).

    ``state_dim`` is the number of columns ``act`` expects: F (market features only) or F + 2
    when the learner also sees its portfolio (cash / initial, holdings·price / initial).
    """

    name: str

    @property
    def state_dim(self) -> int: ...

    def fit(self, demos: Demonstrations, *, seed: int = 0, progress: bool = False) -> Learner: ...

    def act(self, states: np.ndarray) -> np.ndarray: ...


Space = Literal["three", "five"]


_LABELS = {
    "three": ("sell", "hold", "buy"),
    "five": ("strong_sell", "sell", "hold", "buy", "strong_buy"),
}


def action_labels(action_space: str) -> tuple[str, ...]:
    """Readable names of the discrete levels, in level order (for tables and plots)."""
    return _LABELS[_check_space(action_space)]


def _check_space(action_space: str) -> str:
    """A discrete action space name, or a clear error."""
    if action_space not in _LABELS:
        raise ValueError(f"action_space must be 'three' or 'five' (discrete), got {action_space!r}")
    return action_space


def _levels(action_space: str) -> np.ndarray:
    """The action levels of a discrete space as a float array."""
    return np.asarray(ACTION_SPACES[_check_space(action_space)], dtype=np.float64)


def _demo_arrays(
    demos: Demonstrations, action_space: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated ``states`` [T, F] float32, expert classes [T] int64 and segment ids [T]."""
    x = np.asarray(demos.states, dtype=np.float32)
    a = np.asarray(demos.actions, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        raise ValueError(f"demos.states must be [T >= 2, F >= 1], got shape {x.shape}")
    if a.shape != (len(x),):
        raise ValueError(f"demos.actions must have shape ({len(x)},), got {a.shape}")
    if not np.isfinite(x).all():
        raise ValueError("demos.states contain NaN or inf")
    if not np.isfinite(a).all() or np.any(np.abs(a) > 1):
        raise ValueError("demos.actions must be finite and in [-1, 1]")
    seg = getattr(demos, "segment_ids", None)
    seg = np.zeros(len(x), dtype=np.int64) if seg is None else np.asarray(seg)
    if seg.shape != (len(x),):
        raise ValueError(f"demos.segment_ids must have shape ({len(x)},), got {seg.shape}")
    cls = np.asarray(to_classes(a, ACTION_SPACES[action_space]), dtype=np.int64)
    return x, cls, seg


def _check_states(states: np.ndarray, state_dim: int) -> np.ndarray:
    """``states`` as float32 [N, state_dim], finite, or a clear error."""
    x = np.asarray(states, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != state_dim:
        raise ValueError(f"states must be [N, {state_dim}], got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("states contain NaN or inf")
    return x


def _feature_names(demos: Demonstrations, given: Sequence[str] | None, n: int) -> list[str]:
    """Feature names: the given ones, the demonstrations' own, or ``f0 … f{n-1}``."""
    names = given if given is not None else getattr(demos, "feature_names", None)
    if names is None:
        return [f"f{i}" for i in range(n)]
    names = [str(s) for s in names]
    if len(names) != n:
        raise ValueError(f"expected {n} feature names, got {len(names)}")
    return names


class DiscreteLearner:
    """What the reward-learning learners share: a discrete ``action_space`` ("three" or
    "five") and the market features alone as state (``state_dim`` = F, set by ``fit`` in
    ``n_features_in_``)."""

    action_space: str

    @property
    def levels(self) -> np.ndarray:
        """The action levels of ``action_space``, in order."""
        return _levels(self.action_space)

    @property
    def state_dim(self) -> int:
        """Columns ``act`` expects: F, the market features (set by ``fit``)."""
        if not hasattr(self, "n_features_in_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit(demos) first")
        return self.n_features_in_


def get_params(learner: object) -> dict[str, Any]:
    """The constructor's arguments by name, as the learner holds them (scikit-learn's
    ``get_params``): with the learner's name, enough to make it again."""
    names = inspect.signature(type(learner).__init__).parameters
    return {k: getattr(learner, k) for k in names if k != "self"}


def frame_state(df: pd.DataFrame) -> dict[str, list]:
    """A log table as plain lists (saved without pickling)."""
    return {c: df[c].tolist() for c in df.columns}


def module_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A network's weights on the CPU, detached."""
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
