"""What :func:`ilsim.ddpg.train` runs on: the tensor vector env, defined here so that the
algorithm depends on no environment built on top of it (gymnax's split: the learner states
the interface, the environments implement it)."""

from __future__ import annotations

from typing import Protocol

import torch


class TensorEnv(Protocol):
    """N environments as tensors: obs [N, obs_dim], actions [N] in [-1, 1], same-step autoreset
    (``info["final_obs"]`` holds every env's last observation when any env ended).

    Optional: ``trades(action) -> bool [N]`` (would the action change the position now? for
    the learner's diagnostics), ``state_dict()``/``load_state_dict()`` (for exact-resume
    checkpoints) and ``observation_bounds() -> (low, high)`` (for the gymnasium front ends,
    :mod:`ilsim.envs`, which also need ``reset_where(mask)`` and ``observe()``)."""

    n: int
    obs_dim: int
    device: torch.device

    def reset(self, seed: int | None = None) -> torch.Tensor: ...

    def step(
        self, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict]: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...
