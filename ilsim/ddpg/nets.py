"""K actors and critics as stacked weights (one ``baddbmm`` per layer for all K seeds), soft target
updates, and acting with exploration noise."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn


# -- networks: K models as stacked weights ---------------------------------------------------
class StackedMLP(nn.Module):
    """K independent MLPs of one shape (ReLU between layers, none after the last) with stacked
    weights: ``x`` [K, B, in] → [K, B, out], one ``baddbmm`` per layer. Model k is initialised
    like ``nn.Linear`` from its own generator (``seeds[k]``), so its weights do not depend on
    which other models share the stack."""

    def __init__(self, sizes: Sequence[int], seeds: Sequence[int], salt: int = 0) -> None:
        super().__init__()
        self.sizes, k = tuple(int(s) for s in sizes), len(seeds)
        self.weights, self.biases = nn.ParameterList(), nn.ParameterList()
        ws = [[] for _ in self.sizes[1:]]
        bs = [[] for _ in self.sizes[1:]]
        for seed in seeds:
            gen = torch.Generator().manual_seed(int(seed) * 7919 + salt)
            for i, (a, b) in enumerate(zip(self.sizes[:-1], self.sizes[1:], strict=True)):
                bound = 1.0 / math.sqrt(a)
                ws[i].append(torch.empty(a, b).uniform_(-bound, bound, generator=gen))
                bs[i].append(torch.empty(1, b).uniform_(-bound, bound, generator=gen))
        for w, b in zip(ws, bs, strict=True):
            self.weights.append(nn.Parameter(torch.stack(w)))
            self.biases.append(nn.Parameter(torch.stack(b)))
        self.k = k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = torch.baddbmm(b, x, w)
            if i < last:
                x = torch.relu(x)
        return x


class _Normed(nn.Module):
    """Observation standardisation buffers [K, 1, D] (identity until fitted)."""

    def __init__(self, k: int, obs_dim: int) -> None:
        super().__init__()
        self.register_buffer("obs_mean", torch.zeros(k, 1, obs_dim))
        self.register_buffer("obs_std", torch.ones(k, 1, obs_dim))

    def norm(self, obs: torch.Tensor) -> torch.Tensor:
        return (obs - self.obs_mean) / self.obs_std


class Actor(_Normed):
    """K deterministic policies: obs [K, B, D] → actions [K, B] in [−1, 1] (tanh of an MLP)."""

    def __init__(
        self, obs_dim: int, hidden: Sequence[int] = (128, 128), seeds: Sequence[int] = (0,)
    ) -> None:
        super().__init__(len(seeds), obs_dim)
        self.obs_dim, self.hidden, self.seeds = obs_dim, tuple(hidden), tuple(seeds)
        self.net = StackedMLP([obs_dim, *hidden, 1], seeds, salt=1)

    @property
    def k(self) -> int:
        return len(self.seeds)

    def preact(self, obs: torch.Tensor) -> torch.Tensor:
        """The pre-tanh output [K, B] (its size shows saturation)."""
        return self.net(self.norm(obs)).squeeze(-1)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.preact(obs))

    def select(self, k: int) -> Actor:
        """Model k alone, as a one-model actor (a copy)."""
        return stack_actors([self], [k])

    def policy(self) -> Callable[[np.ndarray], np.ndarray]:
        """Observations [K, D] (row k for model k) → actions [K], numpy in and out (backtests)."""

        @torch.no_grad()
        def fn(obs: np.ndarray) -> np.ndarray:
            x = torch.as_tensor(np.asarray(obs), dtype=torch.float32)[:, None, :]
            return self(x.to(self.obs_mean.device))[:, 0].double().cpu().numpy()

        return fn


def stack_actors(actors: Sequence[Actor], which: Sequence[int] | None = None) -> Actor:
    """One actor holding the given models of several actors (all of one shape), in order:
    model ``which[i]`` of ``actors[i]`` (every model of every actor when ``which`` is None)."""
    picks = (
        [(a, j) for a in actors for j in range(a.k)]
        if which is None
        else list(zip(actors, which, strict=True))
    )
    first = picks[0][0]
    out = Actor(first.obs_dim, first.hidden, [a.seeds[j] for a, j in picks])
    with torch.no_grad():
        for name, t in out.state_dict().items():
            t.copy_(torch.stack([a.state_dict()[name][j] for a, j in picks]))
    return out.to(first.obs_mean.device)


class Critic(_Normed):
    """K Q-functions: Q(s, a) on concat(normalised s, a); obs [K, B, D], a [K, B] → [K, B]."""

    def __init__(
        self, obs_dim: int, hidden: Sequence[int] = (128, 128, 128), seeds: Sequence[int] = (0,)
    ) -> None:
        super().__init__(len(seeds), obs_dim)
        self.net = StackedMLP([obs_dim + 1, *hidden, 1], seeds, salt=2)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([self.norm(obs), action[..., None]], -1)).squeeze(-1)


@torch.no_grad()
def soft_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """target ← tau · source + (1 − tau) · target, parameter by parameter."""
    for t, s in zip(target.parameters(), source.parameters(), strict=True):
        t.mul_(1.0 - tau).add_(s, alpha=tau)


@torch.no_grad()
def act(
    actor: Actor,
    obs: torch.Tensor,
    noise_std: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Actions [K, B] for obs [K, B, D] (or [B] for obs [B, D] and a one-model actor), on the
    actor's device; Gaussian noise (then clipping) if asked."""
    dev = actor.obs_mean.device
    flat = obs.dim() == 2
    x = obs.to(dev, torch.float32)
    a = actor(x[None] if flat else x)
    if noise_std > 0:
        noise = torch.randn(a.shape, generator=generator, device=dev, dtype=a.dtype)
        a = (a + noise_std * noise).clamp(-1.0, 1.0)
    return a[0] if flat else a
