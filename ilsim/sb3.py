"""stable-baselines3 adapter (issue 14): SB3's ``VecEnv`` over a tensor env, so PPO, SAC or TD3
step all N environments as one batch of tensors instead of N gymnasium envs in a Python loop
(``DummyVecEnv``; ``benchmarks/bench_sb3.py`` prints both rates).

    from stable_baselines3 import PPO
    from ilsim.sb3 import SB3VecEnv
    from ilsim.market import VectorMarket

    vec = SB3VecEnv(VectorMarket(data, cfg, n_envs=256))
    PPO("MlpPolicy", vec, n_steps=64, batch_size=4096).learn(200_000)

SB3's conventions: a finished env is restarted in the same step (its returned observation is
the new episode's first), ``infos[i]["terminal_observation"]`` holds its last observation and
``infos[i]["TimeLimit.truncated"]`` says whether the episode was cut by time rather than
ended. The N envs share one random stream: ``seed(s)`` seeds the next reset with ``s``.
Needs the ``[sb3]`` extra (``pip install "ilsim[sb3]"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices

from ilsim.ddpg.protocol import TensorEnv
from ilsim.envs import ACTION_SPACE, observation_space, reset_stream


class SB3VecEnv(VecEnv):
    """A :class:`ilsim.ddpg.TensorEnv` (e.g. :class:`ilsim.market.VectorMarket`) as an SB3
    ``VecEnv``; ``.env`` is the tensor env."""

    def __init__(self, env: TensorEnv):
        self.env = env
        self._actions: torch.Tensor | None = None
        self._seeded = False
        super().__init__(int(env.n), observation_space(env), ACTION_SPACE)

    def _indices(self, indices: VecEnvIndices) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        return [int(indices)] if isinstance(indices, int | np.integer) else list(indices)

    def reset(self) -> np.ndarray:
        """A new episode in every env: seeded by ``seed(s)`` (as gymnasium's ``reset(seed=s)``
        of :class:`ilsim.envs.TensorVectorEnv`), else fresh entropy the first time and the
        stream going on afterwards."""
        obs = reset_stream(self.env, list(self._seeds), self._seeded)
        self._seeded = True
        self._reset_seeds()
        self._reset_options()
        return obs.detach().cpu().numpy().astype(np.float32, copy=False)

    def step_async(self, actions: np.ndarray) -> None:
        a = torch.as_tensor(np.asarray(actions, dtype=np.float32), device=self.env.device)
        self._actions = a.reshape(self.num_envs)

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        if self._actions is None:
            raise RuntimeError("step_wait() without step_async()")
        obs, reward, term, trunc, info = self.env.step(self._actions)
        self._actions = None
        done = (term | trunc).cpu().numpy()
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        if done.any():
            final = info["final_obs"].detach().cpu().numpy().astype(np.float32, copy=False)
            cut = (trunc & ~term).cpu().numpy()
            for i in np.flatnonzero(done):
                infos[i] = {"terminal_observation": final[i], "TimeLimit.truncated": bool(cut[i])}
        return (
            obs.detach().cpu().numpy().astype(np.float32, copy=False),
            reward.detach().cpu().numpy().astype(np.float32),
            done,
            infos,
        )

    def close(self) -> None:
        pass

    @staticmethod
    def _per_env(value: Any, idx: list[int], n: int) -> list[Any]:
        """Env i's share of a batch value (a tensor or array with N rows), else the value."""
        if isinstance(value, torch.Tensor | np.ndarray) and value.ndim and len(value) == n:
            return [value[i] for i in idx]
        return [value] * len(idx)

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        value = None if attr_name == "render_mode" else getattr(self.env, attr_name)
        return self._per_env(value, self._indices(indices), self.num_envs)

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        if len(self._indices(indices)) != self.num_envs:
            raise ValueError("the N envs are one tensor env: set an attribute for all of them")
        setattr(self.env, attr_name, value)

    def env_method(
        self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs
    ) -> list[Any]:
        idx = self._indices(indices)
        if len(idx) != self.num_envs:
            raise ValueError(
                "the N envs are one tensor env: a method runs for all of them (indices=None)"
            )
        out = getattr(self.env, method_name)(*method_args, **method_kwargs)
        return self._per_env(out, idx, self.num_envs)

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        return [False] * len(self._indices(indices))

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None] * self.num_envs
