"""DDPG (SPEC step 7) in the CleanRL manner: networks, replay buffer, the update, the loop.

:func:`train` runs on any *tensor vector env* (:class:`TensorEnv`): N environments stepped as
one batch of tensors with same-step autoreset, e.g. :class:`ilsim.market.VectorMarket`, the
toy :class:`PointMassEnv`, or a gymnasium task through :class:`GymTensorEnv`. Actions are one
scalar in [-1, 1] per environment.

Choices of ours (the paper gives only Table 5):

* learning rates 1e-4 (actor) and 1e-3 (critic), from Lillicrap et al. (2016), the DDPG paper;
* a warm-up of ``learning_starts`` vector steps with uniform random actions, then Gaussian
  noise of std 0.1 on the tanh output, clipped to [-1, 1]; actor and critic both update on every
  update (no delayed policy updates, no target smoothing: plain DDPG, not TD3);
* the step counters (``total_steps``, ``learning_starts``, ``checkpoint_every``, ``log_every``)
  count *vector* steps; one vector step adds N transitions and does ``updates_per_step``
  updates of batch 128;
* the replay capacity is the paper's 9e6 transitions, capped at ``total_steps * N``;
* only termination stops bootstrapping; a truncated episode bootstraps from its last
  observation (``info["final_obs"]``).

Checkpoints hold everything the loop needs to continue bit for bit (networks, targets,
optimisers, replay contents, RNG states, the env's ``state_dict()``, the current observation,
episode bookkeeping and the curve), so a run that is killed and resumed ends with the same
weights and curve as one that never stopped (on CPU, same machine and thread count). A
non-finite loss, reward or observation stops training with :class:`FloatingPointError` before
any optimiser step uses it; the last checkpoint is never overwritten by a broken state.
"""

from __future__ import annotations

import copy
import json
import math
import os
import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import gymnasium as gym
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

CHECKPOINT_VERSION = 1
POLICY_FORMAT = "ilsim.ddpg.actor/1"
# Fields that may change between a checkpoint and the run that resumes it.
RESUMABLE_CHANGES = {"total_steps", "checkpoint_every", "device", "buffer_size"}


class TensorEnv(Protocol):
    """N environments as tensors: obs [N, obs_dim], actions [N] in [-1, 1], same-step autoreset
    (``info["final_obs"]`` holds every env's last observation when any env ended)."""

    n: int
    obs_dim: int
    device: torch.device

    def reset(self, seed: int | None = None) -> torch.Tensor: ...

    def step(
        self, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict]: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


@dataclass
class DDPGConfig:
    """Paper Table 5: networks, batch, memory, gamma, tau, exploration noise. Ours: learning
    rates, warm-up, step counts (all in vector steps), updates per step, checkpoints, seed."""

    actor_hidden: tuple[int, ...] = (128, 128)
    critic_hidden: tuple[int, ...] = (128, 128, 128)
    batch_size: int = 128
    buffer_size: int = 9_000_000  # capped at total_steps * N
    gamma: float = 0.99
    tau: float = 0.005
    exploration_noise: float = 0.1  # std of the Gaussian added to the action in [-1, 1]
    actor_lr: float = 1e-4  # ours (Lillicrap et al. 2016)
    critic_lr: float = 1e-3  # ours (Lillicrap et al. 2016)
    learning_starts: int = 1_000  # ours: vector steps of uniform random actions, no updates
    total_steps: int = 100_000  # ours: vector steps (each env steps this many times)
    updates_per_step: int = 1  # ours: gradient updates per vector step
    checkpoint_every: int = 10_000  # vector steps
    seed: int = 0
    device: str | None = None  # None: the env's device

    def __post_init__(self) -> None:
        self.actor_hidden = tuple(int(h) for h in self.actor_hidden)
        self.critic_hidden = tuple(int(h) for h in self.critic_hidden)


# -- networks --------------------------------------------------------------------------------
def mlp(sizes: Sequence[int]) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class Actor(nn.Module):
    """Deterministic policy: MLP with ReLU, tanh output in [-1, 1]."""

    def __init__(self, obs_dim: int, hidden: Sequence[int] = (128, 128), action_dim: int = 1):
        super().__init__()
        self.obs_dim, self.hidden, self.action_dim = obs_dim, tuple(hidden), action_dim
        self.net = mlp([obs_dim, *hidden, action_dim])

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(obs))


class Critic(nn.Module):
    """Q(s, a): MLP with ReLU on concat(s, a); returns shape [B]."""

    def __init__(self, obs_dim: int, hidden: Sequence[int] = (128, 128, 128), action_dim: int = 1):
        super().__init__()
        self.net = mlp([obs_dim + action_dim, *hidden, 1])

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([obs, action], -1)).squeeze(-1)


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
    """Actions [N] in [-1, 1] on the actor's device; Gaussian noise (then clipping) if asked."""
    dev = next(actor.parameters()).device
    a = actor(obs.to(dev, torch.float32)).squeeze(-1)
    if noise_std > 0:
        noise = torch.randn(a.shape, generator=generator, device=dev, dtype=a.dtype)
        a = (a + noise_std * noise).clamp(-1.0, 1.0)
    return a


# -- replay buffer ---------------------------------------------------------------------------
class Batch(NamedTuple):
    obs: torch.Tensor  # [B, D]
    actions: torch.Tensor  # [B, 1]
    rewards: torch.Tensor  # [B]
    next_obs: torch.Tensor  # [B, D]
    dones: torch.Tensor  # [B], 1.0 where the episode terminated (no bootstrap)


class ReplayBuffer:
    """Ring buffer of transitions, preallocated on the device; adds N transitions at once."""

    FIELDS = ("obs", "actions", "rewards", "next_obs", "dones")

    def __init__(self, capacity: int, obs_dim: int, action_dim: int = 1, device: Any = "cpu"):
        if capacity < 1:
            raise ValueError("replay capacity must be positive")
        self.capacity, self.device = int(capacity), torch.device(device)
        kw = {"device": self.device, "dtype": torch.float32}
        self.obs = torch.zeros(self.capacity, obs_dim, **kw)
        self.actions = torch.zeros(self.capacity, action_dim, **kw)
        self.rewards = torch.zeros(self.capacity, **kw)
        self.next_obs = torch.zeros(self.capacity, obs_dim, **kw)
        self.dones = torch.zeros(self.capacity, **kw)
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
        """Store a batch of N transitions (oldest overwritten first)."""
        items = [obs, actions.reshape(len(obs), -1), rewards, next_obs, dones]
        n = len(obs)
        skip = max(0, n - self.capacity)  # more than fits: only the newest survive
        self.pos = (self.pos + skip) % self.capacity
        n -= skip
        idx = (self.pos + torch.arange(n, device=self.device)) % self.capacity
        for name, x in zip(self.FIELDS, items, strict=True):
            getattr(self, name)[idx] = x[skip:].to(self.device, torch.float32)
        self.pos = (self.pos + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> Batch:
        """Uniform sample with replacement."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        idx = torch.randint(0, self.size, (batch_size,), generator=generator, device=self.device)
        return Batch(*(getattr(self, name)[idx] for name in self.FIELDS))

    def state_dict(self) -> dict:
        """Filled part (copied to CPU), position and capacity."""
        data = {k: getattr(self, k)[: self.size].to("cpu", copy=True) for k in self.FIELDS}
        return {"capacity": self.capacity, "pos": self.pos, "size": self.size, **data}

    def load_state_dict(self, state: dict) -> None:
        """Restore; into another capacity the transitions are kept in time order (newest)."""
        size, pos = int(state["size"]), int(state["pos"])
        data = {k: state[k] for k in self.FIELDS}
        if state["capacity"] != self.capacity:
            if size == state["capacity"]:  # full ring: unroll to oldest-first
                data = {k: torch.cat([v[pos:], v[:pos]]) for k, v in data.items()}
            keep = min(size, self.capacity)
            data = {k: v[size - keep :] for k, v in data.items()}
            size, pos = keep, keep % self.capacity
        for k, v in data.items():
            getattr(self, k)[:size] = v.to(self.device)
        self.pos, self.size = pos, size


# -- the update ------------------------------------------------------------------------------
@dataclass
class Agent:
    """Actor, critic, their targets and optimisers."""

    actor: Actor
    critic: Critic
    target_actor: Actor
    target_critic: Critic
    actor_opt: torch.optim.Optimizer
    critic_opt: torch.optim.Optimizer

    @classmethod
    def create(cls, obs_dim: int, cfg: DDPGConfig, device: Any) -> Agent:
        """Fresh networks (initialised from the global torch RNG); targets are copies."""
        actor = Actor(obs_dim, cfg.actor_hidden).to(device)
        critic = Critic(obs_dim, cfg.critic_hidden).to(device)
        fused = True if torch.device(device).type in ("cpu", "cuda") else None  # ~15 % faster
        return cls(
            actor,
            critic,
            copy.deepcopy(actor),
            copy.deepcopy(critic),
            torch.optim.Adam(actor.parameters(), lr=cfg.actor_lr, fused=fused),
            torch.optim.Adam(critic.parameters(), lr=cfg.critic_lr, fused=fused),
        )

    def state_dict(self) -> dict:
        return {k: getattr(self, k).state_dict() for k in self.__dataclass_fields__}

    def load_state_dict(self, state: dict) -> None:
        for k in self.__dataclass_fields__:
            getattr(self, k).load_state_dict(state[k])


def _finite(name: str, value: float) -> float:
    if not math.isfinite(value):
        raise FloatingPointError(f"non-finite {name} ({value})")
    return value


def update(agent: Agent, batch: Batch, cfg: DDPGConfig) -> dict[str, float]:
    """One DDPG update (critic, actor, soft target updates). A non-finite loss raises
    :class:`FloatingPointError` before the optimiser step that would use it."""
    with torch.no_grad():
        next_q = agent.target_critic(batch.next_obs, agent.target_actor(batch.next_obs))
        target = batch.rewards + cfg.gamma * (1.0 - batch.dones) * next_q
    q = agent.critic(batch.obs, batch.actions)
    critic_loss = F.mse_loss(q, target)
    c_loss, q_mean = torch.stack([critic_loss.detach(), q.detach().mean()]).tolist()  # 1 sync
    _finite("critic_loss", c_loss)
    agent.critic_opt.zero_grad()
    critic_loss.backward()
    agent.critic_opt.step()

    actor_loss = -agent.critic(batch.obs, agent.actor(batch.obs)).mean()
    a_loss = _finite("actor_loss", actor_loss.item())
    agent.actor_opt.zero_grad()
    actor_loss.backward(inputs=list(agent.actor.parameters()))  # no critic weight gradients
    agent.actor_opt.step()

    soft_update(agent.target_actor, agent.actor, cfg.tau)
    soft_update(agent.target_critic, agent.critic, cfg.tau)
    return {"critic_loss": c_loss, "actor_loss": a_loss, "q_mean": q_mean}


# -- the training loop -----------------------------------------------------------------------
@dataclass
class TrainResult:
    """Trained networks, the learning curve and final counters."""

    actor: Actor
    critic: Critic
    curve: pd.DataFrame
    vector_steps: int
    env_steps: int
    updates: int
    episodes: int
    return_mean_last100: float  # mean return of the last (up to) 100 finished episodes
    wall_s: float  # training time, summed over resumed runs
    completed: bool  # reached cfg.total_steps (False after stop_after)


CURVE_COLUMNS = [
    "vector_step",
    "env_steps",
    "episodes",
    "episode_return_mean",
    "critic_loss",
    "actor_loss",
    "q_mean",
    "wall_s",
]


def _new_window() -> dict[str, Any]:
    return {"returns": [], "critic_loss": 0.0, "actor_loss": 0.0, "q_mean": 0.0, "updates": 0}


def _rng_state(gen: torch.Generator) -> dict[str, Any]:
    state = {
        "generator": gen.get_state(),
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),  # noqa: NPY002 (global state, saved as is)
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(gen: torch.Generator, state: dict[str, Any]) -> None:
    gen.set_state(state["generator"])
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])  # noqa: NPY002
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _check_resumable(saved: dict, cfg: DDPGConfig, env: TensorEnv) -> None:
    now = asdict(cfg)
    diff = [k for k in now if k not in RESUMABLE_CHANGES and saved["config"].get(k) != now[k]]
    if diff:
        pairs = ", ".join(f"{k}: {saved['config'].get(k)!r} -> {now[k]!r}" for k in diff)
        raise ValueError(f"checkpoint config differs ({pairs}); pass resume=False to restart")
    if (saved["n_envs"], saved["obs_dim"]) != (env.n, env.obs_dim):
        raise ValueError(
            f"checkpoint has {saved['n_envs']} envs of obs_dim {saved['obs_dim']}, "
            f"env has {env.n} of {env.obs_dim}"
        )


def _save(path: Path, state: dict) -> None:
    """Write atomically: a crash mid-write leaves the previous checkpoint intact."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> dict:
    """A training checkpoint as a dict (our own pickle: trusted files only)."""
    return torch.load(path, map_location="cpu", weights_only=False)


def train(
    env: TensorEnv,
    cfg: DDPGConfig,
    *,
    checkpoint_path: str | Path | None = None,
    resume: bool = True,
    progress: bool = True,
    log_every: int | None = None,
    stop_after: int | None = None,
) -> TrainResult:
    """Train DDPG on a tensor vector env for ``cfg.total_steps`` vector steps.

    A fresh run seeds the global torch/numpy/python RNGs with ``cfg.seed`` (CleanRL style) and
    resets the env with it; exploration noise, warm-up actions and replay sampling draw from a
    private ``torch.Generator``. With ``checkpoint_path``, a checkpoint is written every
    ``cfg.checkpoint_every`` vector steps and at the end; if the file exists and ``resume``,
    training continues from it (pass a freshly built env: its state is loaded). ``stop_after``
    ends the run after that many vector steps in all, right after writing a checkpoint (chunked
    training; tests of resumption). ``log_every`` (default: total_steps / 100) sets the curve's
    row spacing; its ``wall_s`` column is the only one that is not reproducible.
    """
    dev = torch.device(cfg.device) if cfg.device else torch.device(env.device)
    n = env.n
    log_every = log_every or max(1, cfg.total_steps // 100)
    path = Path(checkpoint_path) if checkpoint_path is not None else None
    saved = load_checkpoint(path) if path is not None and resume and path.exists() else None

    gen = torch.Generator(device=dev)
    if saved is None:
        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed)  # noqa: NPY002 (CleanRL-style global seeding)
        random.seed(cfg.seed)
        gen.manual_seed(cfg.seed)
    agent = Agent.create(env.obs_dim, cfg, dev)
    capacity = min(cfg.buffer_size, cfg.total_steps * n)
    buffer = ReplayBuffer(capacity, env.obs_dim, 1, dev)

    if saved is None:
        obs = env.reset(seed=cfg.seed).to(dev, torch.float32)
        step, updates, episodes, wall_prev, ckpt_step = 0, 0, 0, 0.0, None
        ep_return = torch.zeros(n, dtype=torch.float64, device=dev)
        recent: deque[float] = deque(maxlen=100)
        window, rows = _new_window(), []
        if path is not None:
            try:
                env.state_dict()
            except NotImplementedError:
                raise ValueError(
                    f"{type(env).__name__} has no state_dict(): it cannot be checkpointed; "
                    "pass checkpoint_path=None"
                ) from None
    else:
        _check_resumable(saved, cfg, env)
        agent.load_state_dict(saved["agent"])
        buffer.load_state_dict(saved["buffer"])
        env.load_state_dict(saved["env"])
        _set_rng_state(gen, saved["rng"])
        obs = saved["obs"].to(dev)
        loop = saved["loop"]
        step, updates, episodes = saved["step"], loop["updates"], loop["episodes"]
        wall_prev, ckpt_step = loop["wall_s"], saved["step"]
        ep_return = loop["ep_return"].to(dev)
        recent = deque(loop["recent"], maxlen=100)
        window, rows = loop["window"], saved["curve"]

    def checkpoint() -> None:
        nonlocal ckpt_step
        loop_state = {
            "updates": updates,
            "episodes": episodes,
            "wall_s": time.perf_counter() - t0,
            "ep_return": ep_return.cpu(),
            "recent": list(recent),
            "window": window,
        }
        state = {
            "version": CHECKPOINT_VERSION,
            "config": asdict(cfg),
            "n_envs": n,
            "obs_dim": env.obs_dim,
            "step": step,
            "agent": agent.state_dict(),
            "buffer": buffer.state_dict(),
            "rng": _rng_state(gen),
            "env": env.state_dict(),
            "obs": obs.cpu(),
            "loop": loop_state,
            "curve": rows,
        }
        assert path is not None
        _save(path, state)
        ckpt_step = step

    end = cfg.total_steps if stop_after is None else min(cfg.total_steps, stop_after)
    bar = tqdm(
        total=cfg.total_steps,
        initial=step,
        desc="DDPG",
        unit="step",
        disable=not progress,
        leave=False,
    )
    t0 = time.perf_counter() - wall_prev

    def stop(what: str) -> FloatingPointError:
        kept = (
            f"the last good checkpoint ({path}, vector step {ckpt_step}) is untouched"
            if ckpt_step is not None
            else "no checkpoint was written"
        )
        return FloatingPointError(f"DDPG stopped at vector step {step}: {what}; {kept}")

    while step < end:
        if step < cfg.learning_starts:
            action = torch.rand(n, generator=gen, device=dev) * 2 - 1
        else:
            action = act(agent.actor, obs, cfg.exploration_noise, gen)
        next_obs, reward, terminated, truncated, info = env.step(action.to(env.device))
        next_obs = next_obs.to(dev, torch.float32)
        reward, terminated = reward.to(dev, torch.float32), terminated.to(dev)
        done = terminated | truncated.to(dev)
        real_next = next_obs
        if "final_obs" in info:
            real_next = torch.where(done[:, None], info["final_obs"].to(dev), next_obs)
        step += 1
        if not bool(torch.isfinite(reward).all() & torch.isfinite(real_next).all()):
            what = "reward" if not bool(torch.isfinite(reward).all()) else "observation"
            raise stop(f"the env returned a non-finite {what}")
        buffer.add(obs, action, reward, real_next, terminated.float())
        obs = next_obs

        ep_return += reward
        if bool(done.any()):
            finished = ep_return[done].tolist()
            ep_return[done] = 0.0
            episodes += len(finished)
            recent.extend(finished)
            window["returns"].extend(finished)

        if step > cfg.learning_starts and len(buffer) >= cfg.batch_size:
            for _ in range(cfg.updates_per_step):
                try:
                    stats = update(agent, buffer.sample(cfg.batch_size, gen), cfg)
                except FloatingPointError as err:
                    raise stop(str(err)) from None
                updates += 1
                window["updates"] += 1
                for k, v in stats.items():
                    window[k] += v

        if step % log_every == 0 or step == cfg.total_steps:
            k = window["updates"]
            rets = window["returns"]
            rows.append(
                {
                    "vector_step": step,
                    "env_steps": step * n,
                    "episodes": len(rets),
                    "episode_return_mean": float(np.mean(rets)) if rets else math.nan,
                    **{
                        c: window[c] / k if k else math.nan
                        for c in ("critic_loss", "actor_loss", "q_mean")
                    },
                    "wall_s": time.perf_counter() - t0,
                }
            )
            window = _new_window()
            bar.set_postfix(ret=f"{rows[-1]['episode_return_mean']:.3g}", refresh=False)
        bar.update(1)
        if path is not None and (step % cfg.checkpoint_every == 0 or step == end):
            checkpoint()
    bar.close()
    if path is not None and ckpt_step != step:  # e.g. resumed from a finished run
        checkpoint()

    return TrainResult(
        actor=agent.actor,
        critic=agent.critic,
        curve=pd.DataFrame(rows, columns=CURVE_COLUMNS),
        vector_steps=step,
        env_steps=step * n,
        updates=updates,
        episodes=episodes,
        return_mean_last100=float(np.mean(recent)) if recent else math.nan,
        wall_s=time.perf_counter() - t0,
        completed=step >= cfg.total_steps,
    )


@torch.no_grad()
def evaluate(actor: Actor, env: TensorEnv, episodes: int, seed: int = 0) -> np.ndarray:
    """Returns of the first ``episodes`` episodes finished by the deterministic policy."""
    obs = env.reset(seed=seed)
    ep_return = torch.zeros(env.n, dtype=torch.float64)
    out: list[float] = []
    while len(out) < episodes:
        obs, reward, terminated, truncated, _ = env.step(act(actor, obs).to(env.device))
        ep_return += reward.cpu().double()
        done = (terminated | truncated).cpu()
        if bool(done.any()):
            out.extend(ep_return[done].tolist())
            ep_return[done] = 0.0
    return np.asarray(out[:episodes])


# -- deployment ------------------------------------------------------------------------------
def save_policy(actor: Actor, path: str | Path, meta: dict | None = None) -> None:
    """Save the actor alone (weights + shape + JSON metadata) for deployment."""
    torch.save(
        {
            "format": POLICY_FORMAT,
            "obs_dim": actor.obs_dim,
            "hidden": list(actor.hidden),
            "action_dim": actor.action_dim,
            "state_dict": {k: v.cpu() for k, v in actor.state_dict().items()},
            "meta": json.dumps(meta or {}),
        },
        path,
    )


def load_policy(path: str | Path, device: Any = "cpu") -> tuple[Actor, dict]:
    """Load an actor written by :func:`save_policy` (safe ``weights_only`` load), in eval mode."""
    d = torch.load(path, map_location=device, weights_only=True)
    if d.get("format") != POLICY_FORMAT:
        raise ValueError(f"{path}: not an ilsim DDPG policy (format {d.get('format')!r})")
    actor = Actor(d["obs_dim"], d["hidden"], d["action_dim"]).to(device)
    actor.load_state_dict(d["state_dict"])
    return actor.eval(), json.loads(d["meta"])


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

    def _reset_where(self, mask: torch.Tensor) -> None:
        u = torch.rand(self.n, generator=self.gen, device=self.device) * 2 - 1
        self.x = torch.where(mask, u, self.x)
        self.t = torch.where(mask, torch.zeros_like(self.t), self.t)

    def reset(self, seed: int | None = None) -> torch.Tensor:
        if seed is not None:
            self.gen.manual_seed(seed)
        self._reset_where(torch.ones(self.n, dtype=torch.bool, device=self.device))
        return self.x[:, None].clone()

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
            self._reset_where(done)
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
