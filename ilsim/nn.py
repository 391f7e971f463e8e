"""Small torch parts shared by the learners, the pool and the synthesis net: the MLP builder,
a thread-count guard for tiny networks, and the block train/validation split."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

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
    the patience counts checks in which no member improved (one loop trains them all)."""

    def __init__(
        self, model: nn.Module, patience: int, min_delta: float = 0.0, members: int | None = None
    ) -> None:
        if patience < 1:
            raise ValueError(f"patience must be >= 1 check, got {patience}")
        self.model, self.patience, self.min_delta = model, patience, min_delta
        self.members = members
        self.stale = 0
        if members is None:
            self.best: float | torch.Tensor = float("inf")
            self.best_epoch: int | list[int] = 0
            self._state = self._snapshot()
        else:
            self.best = torch.full((members,), float("inf"))
            self.best_epoch = [0] * members
            self._params = [p.detach().clone() for p in model.parameters()]

    def _snapshot(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def step(self, score: float | torch.Tensor, epoch: int) -> bool:
        """Record this check's validation score (lower is better); True when it is time to stop."""
        if self.members is None:
            if score < self.best - self.min_delta:
                self.best, self.best_epoch, self.stale = float(score), epoch, 0
                self._state = self._snapshot()
            else:
                self.stale += 1
            return self.stale >= self.patience
        improved = score < self.best - self.min_delta
        for i in torch.nonzero(improved).flatten().tolist():
            self.best[i], self.best_epoch[i] = score[i], epoch
            for keep, p in zip(self._params, self.model.parameters(), strict=True):
                keep[i] = p.detach()[i]
        self.stale = 0 if improved.any() else self.stale + 1
        return self.stale >= self.patience

    def restore(self) -> nn.Module:
        """Load the best weights back into the model (each member's own, for an ensemble)."""
        if self.members is None:
            self.model.load_state_dict(self._state)
        else:
            with torch.no_grad():
                for keep, p in zip(self._params, self.model.parameters(), strict=True):
                    p.copy_(keep)
        return self.model
