"""The replay buffer: one ring per agent, sampled with the agent's own generator."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch


# -- replay buffer ---------------------------------------------------------------------------
class Batch(NamedTuple):
    obs: torch.Tensor  # [K, B, D]
    actions: torch.Tensor  # [K, B]
    rewards: torch.Tensor  # [K, B]
    next_obs: torch.Tensor  # [K, B, D]
    dones: torch.Tensor  # [K, B], 1.0 where the episode terminated (no bootstrap)


class ReplayBuffer:
    """K ring buffers of transitions (one per agent), preallocated on the device; each add
    stores N transitions per agent."""

    FIELDS = ("obs", "actions", "rewards", "next_obs", "dones")

    def __init__(self, capacity: int, obs_dim: int, k: int = 1, device: Any = "cpu"):
        if capacity < 1:
            raise ValueError("replay capacity must be positive")
        self.capacity, self.k, self.device = int(capacity), int(k), torch.device(device)
        kw = {"device": self.device, "dtype": torch.float32}
        self.obs = torch.zeros(self.k, self.capacity, obs_dim, **kw)
        self.actions = torch.zeros(self.k, self.capacity, **kw)
        self.rewards = torch.zeros(self.k, self.capacity, **kw)
        self.next_obs = torch.zeros(self.k, self.capacity, obs_dim, **kw)
        self.dones = torch.zeros(self.k, self.capacity, **kw)
        self.pos, self.size = 0, 0

    def __len__(self) -> int:
        return self.size

    def add(
        self,
        obs: torch.Tensor,
        actions: torch.Tensor,
        rewards: torch.Tensor,
        next_obs: torch.Tensor,
        dones: torch.Tensor,
    ) -> None:
        """Store N transitions per agent (``obs`` [K, N, D], the others [K, N]); the oldest
        are overwritten first. Two-dimensional ``obs`` [N, D] is taken as K = 1."""
        items = [obs, actions, rewards, next_obs, dones]
        if obs.dim() == 2:
            items = [obs[None], *(x.reshape(1, -1) for x in items[1:3]), next_obs[None]]
            items.append(dones.reshape(1, -1))
        n = items[0].shape[1]
        skip = max(0, n - self.capacity)  # more than fits: only the newest survive
        self.pos = (self.pos + skip) % self.capacity
        n -= skip
        idx = (self.pos + torch.arange(n, device=self.device)) % self.capacity
        for name, x in zip(self.FIELDS, items, strict=True):
            getattr(self, name)[:, idx] = x[:, skip:].to(self.device, torch.float32)
        self.pos = (self.pos + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> Batch:
        """Uniform sample with replacement, independently per agent."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        idx = torch.randint(
            0, self.size, (self.k, batch_size), generator=generator, device=self.device
        )
        rows = torch.arange(self.k, device=self.device)[:, None]
        return Batch(*(getattr(self, name)[rows, idx] for name in self.FIELDS))

    def state_dict(self) -> dict:
        """Filled part (copied to CPU), position and capacity."""
        data = {k: getattr(self, k)[:, : self.size].to("cpu", copy=True) for k in self.FIELDS}
        return {"capacity": self.capacity, "pos": self.pos, "size": self.size, **data}

    def load_state_dict(self, state: dict) -> None:
        """Restore; into another capacity the transitions are kept in time order (newest)."""
        size, pos = int(state["size"]), int(state["pos"])
        data = {k: state[k] for k in self.FIELDS}
        if state["capacity"] != self.capacity:
            if size == state["capacity"]:  # full ring: unroll to oldest-first
                data = {k: torch.cat([v[:, pos:], v[:, :pos]], 1) for k, v in data.items()}
            keep = min(size, self.capacity)
            data = {k: v[:, size - keep :] for k, v in data.items()}
            size, pos = keep, keep % self.capacity
        for k, v in data.items():
            getattr(self, k)[:, :size] = v.to(self.device)
        self.pos, self.size = pos, size
