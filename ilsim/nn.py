"""Small torch parts shared by the learners, the pool, the synthesis net and DDPG: the MLP
builder, a thread-count guard for tiny networks, the block train/validation split and early
stopping (:class:`EarlyStopping`, also DDPG's selection on validation)."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import nn


def mlp(
    in_dim: int,
    hidden: Sequence[int],
    out_dim: int,
    activation: Callable[[], nn.Module] = nn.ReLU,
) -> nn.Sequential:
    """MLP ``in → hidden… → out``, ``activation`` between layers (ReLU; GAIL's nets: tanh), no
    output activation."""
    dims = [in_dim, *hidden]
    layers: list[nn.Module] = []
    for a, b in zip(dims[:-1], dims[1:], strict=True):
        layers += [nn.Linear(a, b), activation()]
    layers.append(nn.Linear(dims[-1], out_dim))
    return nn.Sequential(*layers)


@contextmanager
def cpu_threads(n: int | None) -> Iterator[None]:
    """Run the block on ``n`` intra-op threads (None: unchanged), then restore the setting:
    small networks train fastest on one thread and are then immune to oversubscription."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def split_train_val(n: int, val_fraction: float, block: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Split ``n`` consecutive rows into contiguous blocks of ``block`` bars and send every
    k-th block (k = 1 / ``val_fraction``) to validation: whole blocks keep neighbouring,
    autocorrelated bars on one side, and validation covers the whole segment (its labels near
    the end differ from those near the start)."""
    if n < 2:
        return np.arange(n), np.arange(0)
    k = max(2, int(round(1.0 / val_fraction)))
    block = max(1, min(block, n // (2 * k) or 1))
    idx = np.arange(n)
    is_val = (idx // block) % k == k - 1
    if not is_val.any():
        is_val[-1] = True
    return idx[~is_val], idx[is_val]


class EarlyStopping:
    """Keep the weights of the best validation score seen and say when to stop: after
    ``patience`` checks in a row that did not beat the best by more than ``min_delta``.

    With ``members=m`` the score is one value per member of an ensemble whose parameters stack
    the members on their first dimension: each member keeps its own best weights and epoch, and
    the patience counts checks in which no member improved (one loop trains them all).
    ``higher_is_better`` for a score to maximise (DDPG's validation growth); ``later_ties``
    keeps the later weights on a tie with the best (the longer-trained model) without
    resetting the patience; ``patience=0`` never says stop (selection only: the pipeline's IL
    and synthesis params ask for at least 1). ``dtype``: the members' best scores (DDPG keeps
    its float64 validation scores exactly)."""

    def __init__(
        self,
        model: nn.Module,
        patience: int,
        min_delta: float = 0.0,
        members: int | None = None,
        *,
        higher_is_better: bool = False,
        later_ties: bool = False,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        if patience < 0:
            raise ValueError(f"patience must be >= 0 checks (0: never stop), got {patience}")
        self.model, self.patience, self.min_delta = model, patience, min_delta
        self.members, self.higher, self.later_ties = members, higher_is_better, later_ties
        self.stale = 0
        worst = -math.inf if higher_is_better else math.inf
        if members is None:
            self.best: float | torch.Tensor = worst
            self.best_epoch: int | list[int] = 0
            self._state = self._snapshot()
        else:
            self.best = torch.full((members,), worst, dtype=dtype)
            self.best_epoch = [0] * members
            self._params = [p.detach().clone() for p in model.parameters()]

    def _snapshot(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def _improved(self, score: Any) -> Any:
        if self.higher:
            return score > self.best + self.min_delta
        return score < self.best - self.min_delta

    def step(self, score: float | torch.Tensor, epoch: int) -> bool:
        """Record this check's validation score; True when it is time to stop."""
        if self.members is None:
            improved = self._improved(score)
            if improved or (self.later_ties and score == self.best):
                self.best, self.best_epoch = float(score), epoch
                self._state = self._snapshot()
            self.stale = 0 if improved else self.stale + 1
            return bool(self.patience) and self.stale >= self.patience
        improved = self._improved(score)
        keep = improved | (score == self.best) if self.later_ties else improved
        for i in torch.nonzero(keep).flatten().tolist():
            self.best[i], self.best_epoch[i] = score[i], epoch
            for kept, p in zip(self._params, self.model.parameters(), strict=True):
                kept[i] = p.detach()[i]
        self.stale = 0 if improved.any() else self.stale + 1
        return bool(self.patience) and self.stale >= self.patience

    def scored(self) -> list[bool]:
        """Per member: has any check given it a finite best score (NaN scores never count)?"""
        best = self.best if self.members is not None else torch.tensor([self.best])
        return torch.isfinite(best).tolist()

    def restore(self, into: nn.Module | None = None, members: list[int] | None = None) -> nn.Module:
        """Load the best weights back into the model (each member's own, for an ensemble), or
        into ``into``, a model of the same shape; ``members``: only those members'."""
        model = self.model if into is None else into
        if self.members is None:
            model.load_state_dict(self._state)
            return model
        rows = range(self.members) if members is None else members
        with torch.no_grad():
            for kept, p in zip(self._params, model.parameters(), strict=True):
                for i in rows:
                    p[i] = kept[i]
        return model

    def state_dict(self) -> dict[str, Any]:
        """What a resumed training needs to go on selecting exactly as before."""
        kept = self._state if self.members is None else self._params
        best = self.best.clone() if isinstance(self.best, torch.Tensor) else self.best
        return {
            "best": best,
            "best_epoch": copy.copy(self.best_epoch),
            "stale": self.stale,
            "kept": copy.deepcopy(kept),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch, self.stale = state["best"], state["best_epoch"], state["stale"]
        if self.members is None:
            self._state = state["kept"]
        else:
            self._params = [
                t.to(p.device) for t, p in zip(state["kept"], self.model.parameters(), strict=True)
            ]
