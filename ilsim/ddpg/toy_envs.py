"""Small tensor envs for checking the learner: a point mass to steer, and any gymnasium task as a
tensor env."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import gymnasium as gym
import numpy as np
import torch


# -- environments ----------------------------------------------------------------------------
class PointMassEnv:
    """Toy tensor env (tests, benchmarks, a reference of the interface): steer a point to 0.

    obs ``[x]``; ``x ← x + 0.25·a + N(0, 0.02²)``; reward ``1 − |x|``; terminated when
    ``|x| > 2``; truncated after ``horizon`` steps; starts ``x ~ U(−1, 1)``. Random actions
    return about 8 per 20-step episode, steering to 0 about 18.
    """

    def __init__(self, n: int, horizon: int = 20, device: Any = "cpu"):
        self.n, self.obs_dim, self.horizon = int(n), 1, int(horizon)
        self.device = torch.device(device)
        self.gen = torch.Generator(device=self.device).manual_seed(0)
        self.x = torch.zeros(self.n, device=self.device)
        self.t = torch.zeros(self.n, dtype=torch.long, device=self.device)

    def reset_where(self, mask: torch.Tensor) -> None:
        u = torch.rand(self.n, generator=self.gen, device=self.device) * 2 - 1
        self.x = torch.where(mask, u, self.x)
        self.t = torch.where(mask, torch.zeros_like(self.t), self.t)

    def observe(self) -> torch.Tensor:
        return self.x[:, None].clone()

    def reset(self, seed: int | None = None) -> torch.Tensor:
        if seed is not None:
            self.gen.manual_seed(seed)
        self.reset_where(torch.ones(self.n, dtype=torch.bool, device=self.device))
        return self.observe()

    def step(
        self, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        a = action.to(self.device, torch.float32).reshape(self.n).clamp(-1.0, 1.0)
        noise = torch.randn(self.n, generator=self.gen, device=self.device)
        self.x = self.x + 0.25 * a + 0.02 * noise
        self.t = self.t + 1
        reward = 1.0 - self.x.abs()
        terminated = self.x.abs() > 2.0
        truncated = (self.t >= self.horizon) & ~terminated
        obs = self.x[:, None].clone()
        info: dict[str, Any] = {}
        done = terminated | truncated
        if bool(done.any()):
            info["final_obs"] = obs
            self.reset_where(done)
            obs = self.x[:, None].clone()
        return obs, reward, terminated, truncated, info

    def state_dict(self) -> dict:
        return {"x": self.x.cpu(), "t": self.t.cpu(), "gen": self.gen.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.x, self.t = state["x"].to(self.device), state["t"].to(self.device)
        self.gen.set_state(state["gen"])


class GymTensorEnv:
    """A gymnasium task as a tensor env: ``SyncVectorEnv`` with same-step autoreset, actions
    in [-1, 1] scaled to the task's Box bounds. Not checkpointable (``state_dict`` raises
    :class:`NotImplementedError`): train it without ``checkpoint_path``."""

    def __init__(
        self,
        env: str | Sequence[Callable[[], gym.Env]],
        n_envs: int = 1,
        seed: int | None = None,
        device: Any = "cpu",
    ):
        fns = [partial(gym.make, env)] * n_envs if isinstance(env, str) else list(env)
        self.vec = gym.vector.SyncVectorEnv(fns, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
        space = self.vec.single_action_space
        if not isinstance(space, gym.spaces.Box) or int(np.prod(space.shape)) != 1:
            raise ValueError(f"need a one-dimensional Box action space, got {space}")
        self.low = np.asarray(space.low, dtype=np.float64).reshape(1)
        self.high = np.asarray(space.high, dtype=np.float64).reshape(1)
        self.action_dtype = space.dtype
        self.n = len(fns)
        self.obs_dim = int(np.prod(self.vec.single_observation_space.shape))
        self.device = torch.device(device)
        self.seed = seed

    def _tensor(self, x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(x, dtype=np.float32), device=self.device)

    def reset(self, seed: int | None = None) -> torch.Tensor:
        seed, self.seed = (self.seed if seed is None else seed), None
        obs, _ = self.vec.reset(seed=seed)
        return self._tensor(obs.reshape(self.n, -1))

    def step(
        self, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        a = action.detach().cpu().double().numpy().reshape(self.n, 1).clip(-1.0, 1.0)
        scaled = (self.low + (a + 1.0) * 0.5 * (self.high - self.low)).astype(self.action_dtype)
        obs, reward, terminated, truncated, info = self.vec.step(scaled)
        obs = obs.reshape(self.n, -1)
        out: dict[str, Any] = {}
        if "final_obs" in info:
            final = obs.copy()
            for i in np.flatnonzero(info["_final_obs"]):
                final[i] = np.asarray(info["final_obs"][i]).reshape(-1)
            out["final_obs"] = self._tensor(final)
        return (
            self._tensor(obs),
            self._tensor(reward),
            torch.as_tensor(terminated, device=self.device),
            torch.as_tensor(truncated, device=self.device),
            out,
        )

    def state_dict(self) -> dict:
        raise NotImplementedError("gymnasium environments cannot be checkpointed here")

    def load_state_dict(self, state: dict) -> None:
        raise NotImplementedError("gymnasium environments cannot be checkpointed here")

    def close(self) -> None:
        self.vec.close()
