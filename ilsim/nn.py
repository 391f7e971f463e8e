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
