"""Gymnasium front ends for the tensor environments (issue 14): the simulator as gymnasium
expects it, and ``gymnasium.make("ilsim/Market-v0")``.

A *tensor env* (:class:`TensorEnv`: :class:`ilsim.market.VectorMarket`, the planted-edge markets
of :mod:`ilsim.planted`, :class:`ilsim.ddpg.PointMassEnv`) steps N environments as one batch of
torch tensors and resets a finished one in the same step, as our DDPG loop wants. Around it:

- :class:`TensorVectorEnv` — gymnasium's ``VectorEnv`` with gymnasium 1.x's default
  **next-step** autoreset (the step after an episode ends returns the new episode's first
  observation, reward 0, and ignores that env's action) or, on request, **same-step**
  (``info["final_obs"]``/``info["final_info"]`` with their ``_`` masks, as ``SyncVectorEnv``
  writes them). Infos are arrays with ``_key`` masks, ``reset(seed=int | list)`` works, and the
  observation space carries the bounds the feature definitions give (:meth:`observation_bounds`
  of the env). Gymnasium's vector wrappers (``NormalizeObservation``,
  ``RecordEpisodeStatistics``, …) run on it.
- :class:`MarketEnv` (one environment) and :class:`MarketVectorEnv` (N), built from
  :class:`ilsim.market.MarketData` and :class:`ilsim.market.MarketConfig`.
- :func:`make_market_env` / :func:`make_market_vector_env`: the entry points registered as
  ``ilsim/Market-v0`` when ``ilsim`` is imported, building the simulator from a finished run's
  artifacts (a params file), from a ``MarketData`` you built, or from a bars file alone
  (``data="bars.csv"``: a static replay by default, :mod:`ilsim.market.from_bars`).

The SB3 adapter (stable-baselines3's own ``VecEnv`` API) is :mod:`ilsim.sb3`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from ilsim import ENV_ID
from ilsim.ddpg.protocol import TensorEnv
from ilsim.market import MarketConfig, MarketData, VectorMarket

AutoresetMode = gym.vector.AutoresetMode


def observation_space(env: TensorEnv) -> gym.spaces.Box:
    """One env's observation Box: the env's own bounds where it states them, else unbounded."""
    bounds = getattr(env, "observation_bounds", None)
    if bounds is None:
        low = np.full(env.obs_dim, -np.inf, dtype=np.float32)
        high = np.full(env.obs_dim, np.inf, dtype=np.float32)
    else:
        low, high = (np.asarray(b, dtype=np.float32) for b in bounds())
    return gym.spaces.Box(low, high, shape=(env.obs_dim,), dtype=np.float32)


ACTION_SPACE = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)


def batch_seed(seed: int | Sequence[int | None] | None, n: int) -> int:
    """One seed for N envs that share one random stream, by gymnasium's reading of a vector
    seed: an int ``s`` means the per-env seeds ``[s, s + 1, …, s + n − 1]``, a list is the
    per-env seeds; they are hashed into one (the same seeds, the same episodes; SB3's
    ``seed(s)`` gives the same). ``None`` (or all ``None``): fresh entropy."""
    if seed is None:
        return int(np.random.SeedSequence().generate_state(1)[0])
    seeds = [int(seed) + i for i in range(n)] if isinstance(seed, int | np.integer) else seed
    if len(seeds) != n:
        raise ValueError(f"a list of seeds needs num_envs={n} entries, got {len(seeds)}")
    if all(s is None for s in seeds):
        return batch_seed(None, n)
    entropy = [0 if s is None else int(s) + 1 for s in seeds]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def reset_stream(
    env: TensorEnv, seed: int | Sequence[int | None] | None, started: bool
) -> torch.Tensor:
    """A full reset of the N envs' one random stream, the front ends' one seeding rule: a seed
    (an int or per-env list, :func:`batch_seed`) starts it afresh; no seed (``None`` or all
    ``None``) goes on with it, or draws fresh entropy on the first reset (``started`` False)."""
    given = batch_seed(seed, env.n)  # checks a list's length; fresh entropy without a seed
    none = seed is None or (isinstance(seed, list | tuple) and all(s is None for s in seed))
    return env.reset(None if none and started else given)


def _numpy_info(info: dict[str, Any], n: int, has: np.ndarray) -> dict[str, Any]:
    """The per-env step info of a tensor env as arrays with ``_key`` masks (``has``: the envs
    whose step info it is); its ``final_*`` entries are left to the caller."""
    out: dict[str, Any] = {}
    for k, v in info.items():
        if k.startswith("final_") or not isinstance(v, torch.Tensor) or v.ndim == 0:
            continue
        if len(v) == n:
            out[k], out[f"_{k}"] = v.detach().cpu().numpy(), has.copy()
    return out


class TensorVectorEnv(gym.vector.VectorEnv):
    """A :class:`TensorEnv` with gymnasium 1.x's vector API (see the module docstring).

    ``autoreset_mode``: ``NEXT_STEP`` (gymnasium's default) or ``SAME_STEP`` (the tensor env's
    own, which our DDPG loop uses directly). Seeding: the N envs share one random stream;
    ``reset(seed=…)`` reads an int or a list as gymnasium does and hashes it into one seed
    (:func:`batch_seed`); the first reset without a seed draws fresh entropy.
    """

    def __init__(
        self, env: TensorEnv, autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP
    ):
        mode = AutoresetMode(autoreset_mode)
        if mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
            raise ValueError(
                f"autoreset_mode must be NEXT_STEP or SAME_STEP, got {mode}: the tensor env "
                "restarts a finished episode by itself"
            )
        missing = [m for m in ("reset_where", "observe") if not hasattr(env, m)]
        if missing:
            raise TypeError(f"{type(env).__name__} lacks {missing}, which the gymnasium API needs")
        self.env = env
        self.num_envs = int(env.n)
        self.metadata = {"autoreset_mode": mode}
        self.single_observation_space = observation_space(env)
        self.single_action_space = ACTION_SPACE
        self.observation_space = gym.vector.utils.batch_space(
            self.single_observation_space, self.num_envs
        )
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, self.num_envs)
        self._pending = torch.zeros(self.num_envs, dtype=torch.bool, device=env.device)
        self._obs: torch.Tensor | None = None  # the observations last returned
        self._seeded = False

    @property
    def autoreset_mode(self) -> AutoresetMode:
        return self.metadata["autoreset_mode"]

    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict | None = None
    ) -> tuple[np.ndarray, dict]:
        """Reset every env, or only those in ``options["reset_mask"]`` (bool array [N]; an env
        that ended outside the mask keeps its last observation and restarts on its next step,
        as with gymnasium's own vector envs)."""
        n = self.num_envs
        mask = (options or {}).get("reset_mask")
        if mask is None:
            obs = reset_stream(self.env, seed, self._seeded)
            self._seeded = True
            self._pending[:] = False
        else:
            mask = np.asarray(mask)
            if mask.shape != (n,) or mask.dtype != np.bool_ or not mask.any():
                raise ValueError(
                    f"options['reset_mask'] must be a bool array of shape ({n},) with a True"
                )
            if seed is not None:
                raise ValueError(
                    "a partial reset cannot take a seed: the N envs share one random stream "
                    "(seed a full reset instead)"
                )
            if self._obs is None:
                raise RuntimeError("reset() the whole batch once before a partial reset")
            m = torch.as_tensor(mask, device=self.env.device)
            self.env.reset_where(m)
            self._pending &= ~m
            obs = torch.where(m[:, None], self.env.observe().to(self._obs.dtype), self._obs)
        self._obs = obs
        return obs.detach().cpu().numpy().astype(np.float32, copy=False), {}

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        a = torch.as_tensor(np.asarray(actions, dtype=np.float32), device=self.env.device)
        obs, reward, term, trunc, info = self.env.step(a.reshape(self.num_envs))
        done = term | trunc
        if self.autoreset_mode == AutoresetMode.SAME_STEP:
            # gymnasium's rule: an env that ended carries its reset's (empty) info at the top
            # level, and its last step's info and observation under final_info / final_obs
            d = done.cpu().numpy()
            infos = _numpy_info(info, self.num_envs, ~d)
            if d.any():
                final = np.full(self.num_envs, None, dtype=object)
                rows = info["final_obs"].detach().cpu().numpy().astype(np.float32, copy=False)
                for i in np.flatnonzero(d):
                    final[i] = rows[i]
                last = {k: (d.copy() if k.startswith("_") else v) for k, v in infos.items()}
                for k, v in info.items():  # the tensor env's final_* values (final_value …)
                    if k.startswith("final_") and k != "final_obs":
                        last[k[len("final_") :]] = v.detach().cpu().numpy()
                infos.update(final_obs=final, _final_obs=d, final_info=last, _final_info=d)
            self._obs = obs
            return self._out(obs, reward, term, trunc, infos)
        # next step: an env that ended returns its last observation now and starts its new
        # episode on the following step, whose action it ignores (its tensor env already
        # started one at once: that start is replaced, so the ignored action leaves no trace)
        pending = self._pending
        infos = _numpy_info(info, self.num_envs, ~pending.cpu().numpy())
        if bool(done.any()):  # an ended env shows its episode's last observation and info
            obs = torch.where(done[:, None], info["final_obs"].to(obs.dtype), obs)
            d = done.cpu().numpy()
            for k, v in info.items():  # the tensor env's final_* values (final_value …)
                name = k[len("final_") :]
                if k.startswith("final_") and k != "final_obs" and name in infos:
                    infos[name] = np.where(d, v.detach().cpu().numpy(), infos[name])
        if bool(pending.any()):
            self.env.reset_where(pending)
            obs = torch.where(pending[:, None], self.env.observe().to(obs.dtype), obs)
            reward = torch.where(pending, torch.zeros_like(reward), reward)
            term, trunc = term & ~pending, trunc & ~pending
        self._pending = (term | trunc).clone()
        self._obs = obs
        return self._out(obs, reward, term, trunc, infos)

    @staticmethod
    def _out(obs, reward, term, trunc, infos):
        return (
            obs.detach().cpu().numpy().astype(np.float32, copy=False),
            reward.detach().cpu().numpy().astype(np.float64),
            term.cpu().numpy().astype(bool),
            trunc.cpu().numpy().astype(bool),
            infos,
        )


class MarketVectorEnv(TensorVectorEnv):
    """N market environments with gymnasium's vector API (:class:`TensorVectorEnv` over
    :class:`ilsim.market.VectorMarket`); ``.market`` is the tensor simulator."""

    def __init__(
        self,
        data: MarketData,
        cfg: MarketConfig,
        n_envs: int,
        device: str = "cpu",
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
    ):
        self.market = VectorMarket(data, cfg, n_envs, device)
        super().__init__(self.market, autoreset_mode)


class MarketEnv(gym.Env):
    """One market environment with the gymnasium API (numpy in and out): the vector front end
    (:class:`TensorVectorEnv`, next-step autoreset) over one env, so an ended episode shows its
    last observation and info the same way; ``.market`` is the tensor simulator."""

    metadata = {"render_modes": []}

    def __init__(self, data: MarketData, cfg: MarketConfig, device: str = "cpu"):
        self.market = VectorMarket(data, cfg, 1, device)
        self._one = TensorVectorEnv(self.market, AutoresetMode.NEXT_STEP)
        self.observation_space = self._one.single_observation_space
        self.action_space = ACTION_SPACE

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is None and self.np_random is not None:  # gymnasium's: the env's own stream
            seed = int(self.np_random.integers(2**31))
        obs, _ = self._one.reset(seed=seed)
        return obs[0], {}

    def step(self, action):
        a = np.asarray(action, dtype=np.float32).reshape(1)
        obs, r, term, trunc, info = self._one.step(a)
        out_info = {k: float(info[k][0]) for k in ("value", "price")}
        return obs[0], float(r[0]), bool(term[0]), bool(trunc[0]), out_info


# -- gymnasium.make ------------------------------------------------------------------------------
def _load_params(params: Any, base: Path) -> Any:
    """``Params`` as given, or read from a params file (a relative path is ``base``'s; the data
    file it names is not read here)."""
    from ilsim.params import Params, load_params

    if isinstance(params, Params):
        return params
    path = Path(params)
    return load_params(path if path.is_absolute() else base / path, check_files=False)


def _market(
    params: Any,
    role: str | tuple[str, ...] | None,
    impact: str | None,
    root: str | Path | None,
    data: MarketData | str | os.PathLike | None,
    config: MarketConfig | None,
    device: str,
    overrides: dict[str, Any],
    import_options: dict[str, Any] | None = None,
) -> tuple[MarketData, MarketConfig, str]:
    """The simulator's data and settings: given, read from a bars file (``data`` a path:
    :func:`ilsim.market.from_bars.bars_market`, ``params`` then only settings), or read from a
    finished run's artifacts (by default the final agent's world: its impact mode and its
    training segments); ``impact`` and ``overrides`` apply in every case (an unknown field
    raises)."""
    from ilsim.params import resolve_device

    dev = resolve_device(device)
    base = Path(root) if root is not None else Path.cwd()
    if isinstance(data, str | os.PathLike):
        from ilsim.market.from_bars import bars_market  # a bars file alone, no run

        if role is not None:
            raise ValueError(f"{ENV_ID}: role= picks a run's segments; a bars file has none")
        path = Path(data)
        if root is not None and not path.is_absolute():  # else the working directory's
            path = base / path
        p = None if params is None else _load_params(params, base)
        d, c = bars_market(
            path, p, impact=impact, config=config, import_options=import_options, **overrides
        )
        return d, c, dev
    if import_options is not None:
        raise ValueError(f"{ENV_ID}: import_options= reads a bars file: pass data= a path")
    if data is None or config is None:
        from ilsim.market.assemble import market_config, run_market  # a run's artifacts
        from ilsim.run import Run

        if params is None:
            raise ValueError(
                f"{ENV_ID} needs data= (a bars file, e.g. data='bars.csv'), params= (a params "
                "file or Params of a finished run, e.g. 'params/default.yaml' after "
                "`snakemake -j2`) or both data= (MarketData) and config="
            )
        p = _load_params(params, base)
        if config is None and impact is None:  # the final agent's (a given config keeps its)
            try:
                impact = Run(p, base).final_impact()
            except FileNotFoundError:
                raise FileNotFoundError(
                    f"{ENV_ID}: no impact_mode.json under {p.results_dir(base)}: run the "
                    "pipeline through notebook 05 (snakemake) first, or pass impact="
                ) from None
        role = role or tuple(p.rl.train_roles)
        data = data or run_market(Run(p, base), role, dev)
        config = config or market_config(p, data.bars)
    return data, replace(config, **({"impact": impact} if impact else {}), **overrides), dev


def make_market_env(
    params: Any = None,
    *,
    role: str | tuple[str, ...] | None = None,
    impact: str | None = None,
    root: str | Path | None = None,
    data: MarketData | str | os.PathLike | None = None,
    config: MarketConfig | None = None,
    device: str = "cpu",
    import_options: dict[str, Any] | None = None,
    **overrides: Any,
) -> MarketEnv:
    """Entry point of ``gymnasium.make("ilsim/Market-v0", …)``: one market env from a bars file
    (``data="bars.csv"`` or ``.parquet``, relative to ``root`` when given, else the working
    directory: a static replay by default, ``impact="learned"`` fits the impact law on the
    bars, :mod:`ilsim.market.from_bars`; ``import_options``: keywords of
    :func:`ilsim.data.import_bars` such as ``source_tz``; ``params`` then only gives settings),
    from a finished run's artifacts (``params``: its params file, relative to ``root``, or
    :class:`ilsim.params.Params`; ``root``: the project folder holding ``results/``, default
    the working directory) or from ``data`` (:class:`MarketData`) and ``config``. From a run,
    by default the final agent's world: the impact mode it trained in (``rl.final_impact``,
    notebook 05's choice) and episodes in ``rl.train_roles``; ``impact``, ``role`` and any
    :class:`MarketConfig` field override it (an unknown name raises)."""
    d, c, dev = _market(params, role, impact, root, data, config, device, overrides, import_options)
    return MarketEnv(d, c, dev)


def make_market_vector_env(
    num_envs: int = 1,
    params: Any = None,
    *,
    role: str | tuple[str, ...] | None = None,
    impact: str | None = None,
    root: str | Path | None = None,
    data: MarketData | str | os.PathLike | None = None,
    config: MarketConfig | None = None,
    device: str = "auto",
    autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
    import_options: dict[str, Any] | None = None,
    **overrides: Any,
) -> MarketVectorEnv:
    """Vector entry point of ``gymnasium.make_vec("ilsim/Market-v0", num_envs=N, …)``: N envs
    as one batch of tensors (CUDA when present, ``device="auto"``); the same sources and
    keywords as :func:`make_market_env`."""
    d, c, dev = _market(params, role, impact, root, data, config, device, overrides, import_options)
    return MarketVectorEnv(d, c, num_envs, dev, autoreset_mode)
