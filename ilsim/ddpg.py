"""DDPG (SPEC step 7) in the CleanRL manner: networks, replay buffer, the update, the loop.

:func:`train` runs on any *tensor vector env* (:class:`TensorEnv`): N environments stepped as
one batch of tensors with same-step autoreset, e.g. :class:`ilsim.market.VectorMarket`,
:class:`ilsim.planted.PlantedEdgeEnv`, the toy :class:`PointMassEnv`, or a gymnasium task
through :class:`GymTensorEnv`. Actions are one scalar in [-1, 1] per environment.

**K seeds as one model.** ``cfg.seeds`` names K agents that train together: their networks
are stacked weights (:class:`StackedMLP`, one ``baddbmm`` per layer for all K), each acts on its
own block of N / K environments, and one update step updates all K (summed losses; Adam is
elementwise, so each model learns exactly as if alone — a test holds it). Model k's initial
weights depend on ``seeds[k]`` and the run's ``stream`` only (:func:`stream_seed`): runs of
different streams (the pipeline names them after the agent, e.g. final RL and RL baseline) draw
independent weights, warm-up actions, exploration noise and replay samples even with the same
seed number (issue 15: with shared streams the all-in/all-cash corner a run ended in followed
the seed, not the market). Pairing by seed number stays an explicit choice of the analysis.

Choices of ours (the paper gives only Table 5):

* learning rates 1e-4 (actor) and 1e-3 (critic), from Lillicrap et al. (2016), the DDPG paper;
* a warm-up of ``learning_starts`` vector steps with uniform random actions, then Gaussian
  noise of std 0.1 on the tanh output, clipped to [-1, 1];
* the step counters (``total_steps``, ``learning_starts``, ``checkpoint_every``, ``eval_every``,
  ``log_every``) count *vector* steps; one vector step adds N / K transitions per agent and
  does ``updates_per_step`` updates of batch 128;
* the replay capacity is the paper's 9e6 transitions per agent, capped at ``total_steps * N/K``;
* only termination stops bootstrapping; a truncated episode bootstraps from its last
  observation (``info["final_obs"]``).

Options that make the learner learn (issue 9; defaults are plain DDPG, the ``rl`` params set
them): ``reward_scale`` (the market's reward, a value change over the initial value, is ~1e-4 a
bar, some 1e3 times smaller than the critic's initial outputs, which slows learning);
``preact_penalty`` (the actor's
mean squared pre-tanh output, which keeps it off tanh's flat tails where a corner it reached
early traps it); ``obs_norm`` (standardise observations with the warm-up's statistics, kept in
the saved actor); TD3-style ``target_noise`` and ``policy_delay``. With an ``evaluator``
(held-out data), the best actor per seed is kept and training stops on a plateau.

Diagnostics in the curve (one row per log step and model): critic loss, mean Q, actor loss,
mean |pre-tanh|, share of saturated actions (|a| > 0.99), the deterministic policy's share of
steps with a position change and changes per episode (from the env's ``trades``), the
validation score, and histograms of the deterministic actions and of their pre-tanh outputs.

Checkpoints hold everything the loop needs to continue bit for bit (networks, targets,
optimisers, replay contents, RNG states, the env's ``state_dict()``, the current observation,
episode bookkeeping, the validation state and the curve), so a run that is killed and resumed
ends with the same weights and curve as one that never stopped (on CPU, same machine and
thread count). A non-finite loss, reward or observation stops training with
:class:`FloatingPointError` before any optimiser step uses it; the last checkpoint is never
overwritten by a broken state.
"""

from __future__ import annotations

import copy
import hashlib
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
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ilsim.envs import TensorEnv
from ilsim.params import RLParams, default

CHECKPOINT_VERSION = 2
POLICY_FORMAT = "ilsim.ddpg.actor/2"
# Fields that may change between a checkpoint and the run that resumes it.
RESUMABLE_CHANGES = {"total_steps", "checkpoint_every", "device", "buffer_size", "patience"}
HIST_BINS = 20  # histogram bins of actions over [-1, 1] and pre-tanh outputs in the diagnostics
PREACT_RANGE = 4.0  # pre-tanh histogram over [-4, 4] (clipped; tanh(4) = 0.9993)
SATURATED = 0.99  # |action| above this counts as saturated in the diagnostics
DIAG_EVERY = 4  # diagnostics of the deterministic policy on every DIAG_EVERY-th vector step


@dataclass
class DDPGConfig:
    """Paper Table 5: networks, batch, memory, gamma, tau, exploration noise. Ours: learning
    rates, warm-up, step counts (all in vector steps), updates per step, checkpoints, seeds, and
    the learner's options (reward scale, observation normalisation, saturation control,
    selection on validation). The defaults are plain DDPG."""

    actor_hidden: tuple[int, ...] = default(RLParams, "actor_hidden")
    critic_hidden: tuple[int, ...] = default(RLParams, "critic_hidden")
    batch_size: int = default(RLParams, "batch_size")
    buffer_size: int = default(RLParams, "buffer_size")  # per agent, capped at total_steps * N / K
    gamma: float = default(RLParams, "gamma")
    tau: float = default(RLParams, "tau")
    # std of the Gaussian added to the action in [-1, 1]
    exploration_noise: float = default(RLParams, "exploration_noise")
    actor_lr: float = default(RLParams, "actor_lr")  # ours (Lillicrap et al. 2016)
    critic_lr: float = default(RLParams, "critic_lr")  # ours (Lillicrap et al. 2016)
    # ours: vector steps of uniform random actions, no updates
    learning_starts: int = default(RLParams, "learning_starts")
    # ours: vector steps (each env steps this many times), a cap
    total_steps: int = default(RLParams, "total_steps")
    # ours: gradient updates per vector step
    updates_per_step: int = default(RLParams, "updates_per_step")
    checkpoint_every: int = default(RLParams, "checkpoint_every")  # vector steps
    # one agent per seed, trained together as stacked networks
    seeds: tuple[int, ...] = default(RLParams, "seeds")
    # The run's random stream: every draw is seeded from (seed, stream); "" keeps the seed as is.
    stream: str = ""
    device: str | None = None  # None: the env's device
    # Rewards are multiplied by this before learning (the market's reward, a value change over
    # the initial value, is ~1e-4 a bar: 1e4 makes it basis points, which the critic can fit).
    reward_scale: float = default(RLParams, "reward_scale")
    # Standardise observations with the mean/std of the warm-up's (kept in the saved actor).
    obs_norm: bool = default(RLParams, "obs_norm")
    # Saturation control: penalty on the actor's mean squared pre-tanh output; TD3's target
    # policy smoothing (noise std, clip) and delayed actor and target updates.
    preact_penalty: float = default(RLParams, "preact_penalty")
    target_noise: float = default(RLParams, "target_noise")
    target_noise_clip: float = 0.5
    policy_delay: int = default(RLParams, "policy_delay")
    # Selection on held-out data: every eval_every vector steps (0: never) the evaluator scores
    # each agent; the best actor is kept; training stops once every agent has gone ``patience``
    # evaluations (0: never stop early) without improving, but not before ``min_steps``.
    eval_every: int = default(RLParams, "eval_every")
    patience: int = default(RLParams, "patience")
    min_steps: int = default(RLParams, "min_steps")

    def __post_init__(self) -> None:
        self.actor_hidden = tuple(int(h) for h in self.actor_hidden)
        self.critic_hidden = tuple(int(h) for h in self.critic_hidden)
        self.seeds = tuple(int(s) for s in self.seeds)
        if not self.seeds:
            raise ValueError("DDPGConfig.seeds must name at least one seed")
        if self.policy_delay < 1:
            raise ValueError("policy_delay must be >= 1")


def stream_seed(seed: int, stream: str = "") -> int:
    """The seed of run ``stream`` for seed number ``seed``: ``seed`` itself for the unnamed
    stream, else a draw of NumPy's ``SeedSequence`` keyed on both (a stable hash of the name),
    so that differently named runs get independent random streams."""
    if not stream:
        return int(seed)
    key = int.from_bytes(hashlib.sha256(stream.encode()).digest()[:4], "little")
    return int(np.random.SeedSequence([int(seed), key]).generate_state(1)[0] >> 1)


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


# -- the update ------------------------------------------------------------------------------
@dataclass
class Agent:
    """K actors and critics (stacked), their targets and optimisers. The losses are sums over
    the K models, and Adam is elementwise, so each model learns exactly as if alone."""

    actor: Actor
    critic: Critic
    target_actor: Actor
    target_critic: Critic
    actor_opt: torch.optim.Optimizer
    critic_opt: torch.optim.Optimizer

    @classmethod
    def create(cls, obs_dim: int, cfg: DDPGConfig, device: Any) -> Agent:
        """Fresh networks (each model from its seed); targets are copies."""
        seeds = [stream_seed(s, cfg.stream) for s in cfg.seeds]
        actor = Actor(obs_dim, cfg.actor_hidden, seeds).to(device)
        critic = Critic(obs_dim, cfg.critic_hidden, seeds).to(device)
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

    @torch.no_grad()
    def set_obs_norm(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Standardise observations with ``mean``/``std`` [K, D] in all four networks."""
        for net in (self.actor, self.critic, self.target_actor, self.target_critic):
            net.obs_mean.copy_(mean[:, None, :])
            net.obs_std.copy_(std[:, None, :])


def _finite(name: str, value: torch.Tensor) -> None:
    if not bool(torch.isfinite(value).all()):
        raise FloatingPointError(f"non-finite {name} ({value.tolist()})")


def update(
    agent: Agent,
    batch: Batch,
    cfg: DDPGConfig,
    update_actor: bool = True,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """One update of all K models: critic, then (if ``update_actor``) actor and soft target
    updates. Returns per-model statistics [K]. A non-finite loss raises
    :class:`FloatingPointError` before the optimiser step that would use it."""
    with torch.no_grad():
        next_a = agent.target_actor(batch.next_obs)
        if cfg.target_noise > 0:  # TD3 target policy smoothing
            eps = torch.randn(next_a.shape, generator=generator, device=next_a.device)
            eps = (cfg.target_noise * eps).clamp(-cfg.target_noise_clip, cfg.target_noise_clip)
            next_a = (next_a + eps).clamp(-1.0, 1.0)
        next_q = agent.target_critic(batch.next_obs, next_a)
        target = batch.rewards + cfg.gamma * (1.0 - batch.dones) * next_q
    q = agent.critic(batch.obs, batch.actions)
    critic_loss = ((q - target) ** 2).mean(1)  # [K]
    _finite("critic_loss", critic_loss)
    agent.critic_opt.zero_grad()
    critic_loss.sum().backward()
    agent.critic_opt.step()
    stats = {"critic_loss": critic_loss.detach(), "q_mean": q.detach().mean(1)}
    if not update_actor:
        return stats

    pre = agent.actor.preact(batch.obs)
    q_pi = agent.critic(batch.obs, torch.tanh(pre)).mean(1)
    actor_loss = -q_pi + cfg.preact_penalty * (pre**2).mean(1)
    _finite("actor_loss", actor_loss)
    agent.actor_opt.zero_grad()
    actor_loss.sum().backward(inputs=list(agent.actor.parameters()))  # no critic gradients
    agent.actor_opt.step()

    soft_update(agent.target_actor, agent.actor, cfg.tau)
    soft_update(agent.target_critic, agent.critic, cfg.tau)
    stats["actor_loss"] = actor_loss.detach()
    stats["preact_abs"] = pre.detach().abs().mean(1)
    return stats


# -- the training loop -----------------------------------------------------------------------
Evaluator = Callable[[Actor], np.ndarray]  # the K-model actor → a score per model (higher: better)


@dataclass
class TrainResult:
    """Trained networks, the learning curve (one row per log step and model) and counters."""

    actor: Actor  # the selected actors: best on validation if an evaluator was given, else last
    last_actor: Actor
    critic: Critic
    curve: pd.DataFrame
    vector_steps: int
    env_steps: int
    updates: int  # per model
    episodes: int
    return_mean_last100: float  # mean return of the last (up to) 100 finished episodes
    wall_s: float  # training time, summed over resumed runs
    completed: bool  # reached cfg.total_steps or stopped on a plateau (False after stop_after)
    stopped_early: bool  # stopped on a validation plateau
    best_step: list[int]  # per model: vector step of the selected actor
    best_score: list[float]  # per model: its validation score (nan without an evaluator)


CURVE_COLUMNS = [
    "vector_step",
    "env_steps",
    "model",
    "seed",
    "episodes",
    "episode_return_mean",
    "critic_loss",
    "actor_loss",
    "q_mean",
    "preact_abs",
    "saturated_frac",
    "trade_frac",
    "trades_per_episode",
    "val_score",
    "wall_s",
    *[f"hist_{i:02d}" for i in range(HIST_BINS)],
    *[f"pre_{i:02d}" for i in range(HIST_BINS)],
]
STAT_KEYS = ("critic_loss", "actor_loss", "q_mean", "preact_abs")


def _new_window(k: int, device: Any = "cpu") -> dict[str, Any]:
    """Sums over one log window, kept on the training device (no host sync per update)."""
    z = torch.zeros(k, dtype=torch.float64, device=device)
    return {
        "returns": [[] for _ in range(k)],
        **{s: z.clone() for s in STAT_KEYS},
        "critic_updates": 0,
        "actor_updates": 0,
        "hist": torch.zeros(k, HIST_BINS, dtype=torch.float64, device=device),
        "pre_hist": torch.zeros(k, HIST_BINS, dtype=torch.float64, device=device),
        "saturated": z.clone(),
        "traded": z.clone(),
        "steps": 0,
        "acted_steps": 0,
    }


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
    if saved.get("version") != CHECKPOINT_VERSION:
        raise ValueError(
            f"checkpoint version {saved.get('version')} (need {CHECKPOINT_VERSION}); "
            "pass resume=False to restart"
        )
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
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> dict:
    """A training checkpoint as a dict (our own pickle: trusted files only)."""
    return torch.load(path, map_location="cpu", weights_only=False)


def train(
    env: TensorEnv,
    cfg: DDPGConfig,
    *,
    evaluator: Evaluator | None = None,
    checkpoint_path: str | Path | None = None,
    resume: bool = True,
    progress: bool = True,
    log_every: int | None = None,
    stop_after: int | None = None,
) -> TrainResult:
    """Train K = len(cfg.seeds) DDPG agents at once on a tensor vector env.

    The env's N environments are split in K consecutive blocks of N / K, one per agent; all K
    actors act in one batched call and all K models update in one batched step. Model k's
    initial weights come from ``seeds[k]`` and ``cfg.stream`` alone; the env reset, warm-up
    actions, exploration noise and replay sampling draw from streams seeded with ``seeds[0]``
    and ``cfg.stream`` (:func:`stream_seed`). Runs for at most
    ``cfg.total_steps`` vector steps; with an ``evaluator`` (and ``cfg.eval_every``) the best
    actor on it is kept and training stops on a plateau (``cfg.patience``). With
    ``checkpoint_path``, a checkpoint is written every ``cfg.checkpoint_every`` vector steps and
    at the end; if the file exists and ``resume``, training continues from it bit for bit (pass
    a freshly built env: its state is loaded). ``stop_after`` ends the run after that many
    vector steps in all, right after writing a checkpoint. ``log_every`` (default:
    total_steps / 100) sets the curve's row spacing; ``wall_s`` is its only column that is not
    reproducible.
    """
    dev = torch.device(cfg.device) if cfg.device else torch.device(env.device)
    k = len(cfg.seeds)
    if env.n % k:
        raise ValueError(f"{env.n} envs cannot be split among {k} agents (seeds {cfg.seeds})")
    n = env.n // k
    log_every = log_every or max(1, cfg.total_steps // 100)
    path = Path(checkpoint_path) if checkpoint_path is not None else None
    saved = load_checkpoint(path) if path is not None and resume and path.exists() else None
    seed0 = stream_seed(cfg.seeds[0], cfg.stream)

    gen = torch.Generator(device=dev)
    if saved is None:
        torch.manual_seed(seed0)
        np.random.seed(seed0)  # noqa: NPY002 (CleanRL-style global seeding)
        random.seed(seed0)
        gen.manual_seed(seed0)
    agent = Agent.create(env.obs_dim, cfg, dev)
    capacity = min(cfg.buffer_size, cfg.total_steps * n)
    buffer = ReplayBuffer(capacity, env.obs_dim, k, dev)
    best = copy.deepcopy(agent.actor.state_dict())

    if saved is None:
        obs = env.reset(seed=seed0).to(dev, torch.float32)
        step, updates, episodes, wall_prev, ckpt_step = 0, 0, 0, 0.0, None
        ep_return = torch.zeros(k, n, dtype=torch.float64, device=dev)
        recent: deque[float] = deque(maxlen=100)
        window, rows = _new_window(k, dev), []
        ev = {
            "best_score": [-math.inf] * k,
            "best_step": [0] * k,
            "since": [0] * k,
            "last": [math.nan] * k,
            "stopped": False,
        }
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
        rows, ev = saved["curve"], loop["eval"]
        window = {
            key: v.to(dev) if isinstance(v, torch.Tensor) else v
            for key, v in loop["window"].items()
        }
        best = {name: t.to(dev) for name, t in loop["best"].items()}

    def checkpoint() -> None:
        nonlocal ckpt_step
        loop_state = {
            "updates": updates,
            "episodes": episodes,
            "wall_s": time.perf_counter() - t0,
            "ep_return": ep_return.cpu(),
            "recent": list(recent),
            "window": window,
            "eval": ev,
            "best": {name: t.cpu() for name, t in best.items()},
        }
        state = {
            "version": CHECKPOINT_VERSION,
            "config": asdict(cfg),
            "n_envs": env.n,
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

    def validate() -> None:
        """Score every model; keep each model's best actor; count evaluations since."""
        agent.actor.eval()
        scores = np.asarray(evaluator(agent.actor), dtype=np.float64).reshape(k)
        agent.actor.train()
        now = agent.actor.state_dict()
        for j in range(k):
            ev["last"][j] = float(scores[j])
            improved = scores[j] > ev["best_score"][j]  # strictly: resets the plateau count
            ev["since"][j] = 0 if improved else ev["since"][j] + 1
            if scores[j] >= ev["best_score"][j]:  # a tie keeps the later, longer-trained actor
                ev["best_score"][j], ev["best_step"][j] = float(scores[j]), step
                for name in best:
                    best[name][j] = now[name][j]

    end = cfg.total_steps if stop_after is None else min(cfg.total_steps, stop_after)
    bar = tqdm(
        total=cfg.total_steps,
        initial=step,
        desc=f"DDPG ×{k}",
        unit="step",
        disable=not progress,
        leave=False,
    )
    t0 = time.perf_counter() - wall_prev
    edges = torch.linspace(-1.0, 1.0, HIST_BINS + 1, device=dev)[1:-1]
    pre_edges = torch.linspace(-PREACT_RANGE, PREACT_RANGE, HIST_BINS + 1, device=dev)[1:-1]

    def stop(what: str) -> FloatingPointError:
        kept = (
            f"the last good checkpoint ({path}, vector step {ckpt_step}) is untouched"
            if ckpt_step is not None
            else "no checkpoint was written"
        )
        return FloatingPointError(f"DDPG stopped at vector step {step}: {what}; {kept}")

    while step < end and not ev["stopped"]:
        obs_k = obs.view(k, n, -1)
        if step < cfg.learning_starts:
            action = torch.rand(k, n, generator=gen, device=dev) * 2 - 1
        else:
            with torch.no_grad():
                pre = agent.actor.preact(obs_k)
            clean = torch.tanh(pre)
            if step % DIAG_EVERY == 0:  # sampled: diagnostics stay off most steps
                hist = F.one_hot(torch.bucketize(clean, edges), HIST_BINS)
                window["hist"] += hist.sum(1).double()
                pre_bins = torch.bucketize(pre.clamp(-PREACT_RANGE, PREACT_RANGE), pre_edges)
                window["pre_hist"] += F.one_hot(pre_bins, HIST_BINS).sum(1).double()
                window["saturated"] += (clean.abs() > SATURATED).double().sum(1)
                if hasattr(env, "trades"):  # would the deterministic policy change position?
                    moved = env.trades(clean.reshape(env.n).to(env.device))
                    window["traded"] += moved.to(dev).view(k, n).double().sum(1)
                    window["acted_steps"] += 1
            action = clean
            if cfg.exploration_noise > 0:
                noise = torch.randn(clean.shape, generator=gen, device=dev)
                action = (clean + cfg.exploration_noise * noise).clamp(-1.0, 1.0)
        next_obs, reward, terminated, truncated, info = env.step(
            action.reshape(env.n).to(env.device)
        )
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
        buffer.add(
            obs_k,
            action,
            (reward * cfg.reward_scale).view(k, n),
            real_next.view(k, n, -1),
            terminated.float().view(k, n),
        )
        obs = next_obs
        window["steps"] += 1
        ep_return += reward.view(k, n).double()
        if bool(done.any()):
            d = done.view(k, n)
            for j in range(k):
                window["returns"][j].extend(ep_return[j][d[j]].tolist())
            recent.extend(ep_return[d].tolist())
            episodes += int(d.sum())
            ep_return[d] = 0.0

        if cfg.obs_norm and step == cfg.learning_starts and len(buffer):
            seen = buffer.obs[:, : buffer.size]
            agent.set_obs_norm(seen.mean(1), seen.std(1).clamp(min=1e-2))
            best = copy.deepcopy(agent.actor.state_dict())

        if step > cfg.learning_starts and len(buffer) >= 1:
            for _ in range(cfg.updates_per_step):
                do_actor = (updates + 1) % cfg.policy_delay == 0
                try:
                    stats = update(agent, buffer.sample(cfg.batch_size, gen), cfg, do_actor, gen)
                except FloatingPointError as err:
                    raise stop(str(err)) from None
                updates += 1
                window["critic_updates"] += 1
                window["actor_updates"] += int(do_actor)
                for key, v in stats.items():
                    window[key] += v.double()

        if (
            evaluator is not None
            and cfg.eval_every
            and step >= cfg.learning_starts
            and step % cfg.eval_every == 0
        ):
            validate()
            if cfg.patience and step >= cfg.min_steps and min(ev["since"]) >= cfg.patience:
                ev["stopped"] = True

        if step % log_every == 0 or step == cfg.total_steps or ev["stopped"]:
            rows.extend(_log_rows(window, step, n, k, cfg, ev, time.perf_counter() - t0))
            window = _new_window(k, dev)
            last = [r["episode_return_mean"] for r in rows[-k:]]
            if not all(math.isnan(x) for x in last):
                bar.set_postfix(ret=f"{np.nanmean(last):.3g}", refresh=False)
        bar.update(1)
        if path is not None and (step % cfg.checkpoint_every == 0 or step == end or ev["stopped"]):
            checkpoint()
    bar.close()
    if path is not None and ckpt_step != step:  # e.g. resumed from a finished run
        checkpoint()

    last_actor = agent.actor
    chosen = last_actor
    scored = [math.isfinite(x) for x in ev["best_score"]]
    if evaluator is not None and cfg.eval_every and any(scored):
        chosen = copy.deepcopy(last_actor)
        state = chosen.state_dict()
        with torch.no_grad():
            for j in range(k):
                if scored[j]:  # never scored (all NaN): keep the last weights, not the initial
                    for name, t in state.items():
                        t[j] = best[name][j]
    return TrainResult(
        actor=chosen,
        last_actor=last_actor,
        critic=agent.critic,
        curve=pd.DataFrame(rows, columns=CURVE_COLUMNS),
        vector_steps=step,
        env_steps=step * env.n,
        updates=updates,
        episodes=episodes,
        return_mean_last100=float(np.mean(recent)) if recent else math.nan,
        wall_s=time.perf_counter() - t0,
        completed=step >= cfg.total_steps or ev["stopped"],
        stopped_early=bool(ev["stopped"]),
        best_step=[
            ev["best_step"][j] if evaluator is not None and cfg.eval_every and scored[j] else step
            for j in range(k)
        ],
        best_score=[float(s) if math.isfinite(s) else math.nan for s in ev["best_score"]],
    )


def _log_rows(
    window: dict, step: int, n: int, k: int, cfg: DDPGConfig, ev: dict, wall: float
) -> list[dict]:
    """One curve row per model from a log window's sums."""
    rows = []
    cu, au = window["critic_updates"], window["actor_updates"]
    acted = window["hist"].sum(1)
    checked = window["acted_steps"] * n  # steps on which the deterministic policy was checked
    for j in range(k):
        rets = window["returns"][j]
        traded = window["traded"][j].item() / checked if checked else math.nan
        ep_len = window["steps"] * n / len(rets) if rets else math.nan
        hist = (window["hist"][j] / acted[j]).tolist() if acted[j] > 0 else [math.nan] * HIST_BINS
        pre = (
            (window["pre_hist"][j] / acted[j]).tolist() if acted[j] > 0 else [math.nan] * HIST_BINS
        )
        rows.append(
            {
                "vector_step": step,
                "env_steps": step * n,
                "model": j,
                "seed": cfg.seeds[j],
                "episodes": len(rets),
                "episode_return_mean": float(np.mean(rets)) if rets else math.nan,
                "critic_loss": window["critic_loss"][j].item() / cu if cu else math.nan,
                "q_mean": window["q_mean"][j].item() / cu if cu else math.nan,
                "actor_loss": window["actor_loss"][j].item() / au if au else math.nan,
                "preact_abs": window["preact_abs"][j].item() / au if au else math.nan,
                "saturated_frac": (
                    window["saturated"][j].item() / acted[j].item() if acted[j] > 0 else math.nan
                ),
                "trade_frac": traded,
                "trades_per_episode": traded * ep_len,
                "val_score": ev["last"][j],
                "wall_s": wall,
                **{f"hist_{i:02d}": h for i, h in enumerate(hist)},
                **{f"pre_{i:02d}": h for i, h in enumerate(pre)},
            }
        )
    return rows


@torch.no_grad()
def evaluate(actor: Actor, env: TensorEnv, episodes: int, seed: int = 0) -> np.ndarray:
    """Returns of the first ``episodes`` episodes finished by a one-model deterministic
    policy (``actor.select(k)`` picks one of a stack)."""
    if actor.k != 1:
        raise ValueError(f"evaluate takes one model, got {actor.k}: pass actor.select(k)")
    one = actor
    obs = env.reset(seed=seed)
    ep_return = torch.zeros(env.n, dtype=torch.float64)
    out: list[float] = []
    while len(out) < episodes:
        obs, reward, terminated, truncated, _ = env.step(act(one, obs).to(env.device))
        ep_return += reward.cpu().double()
        done = (terminated | truncated).cpu()
        if bool(done.any()):
            out.extend(ep_return[done].tolist())
            ep_return[done] = 0.0
    return np.asarray(out[:episodes])


# -- deployment ------------------------------------------------------------------------------
def save_policy(actor: Actor, path: str | Path, meta: dict | None = None, model: int = 0) -> None:
    """Save one model of the actor (weights, observation scaling, shape, JSON metadata)."""
    one = actor.select(model).cpu()
    torch.save(
        {
            "format": POLICY_FORMAT,
            "obs_dim": one.obs_dim,
            "hidden": list(one.hidden),
            "seed": one.seeds[0],
            "state_dict": {k: v.cpu() for k, v in one.state_dict().items()},
            "meta": json.dumps(meta or {}),
        },
        path,
    )


def load_policy(path: str | Path, device: Any = "cpu") -> tuple[Actor, dict]:
    """Load an actor written by :func:`save_policy` (safe ``weights_only`` load), in eval mode."""
    d = torch.load(path, map_location=device, weights_only=True)
    if d.get("format") != POLICY_FORMAT:
        raise ValueError(
            f"{path}: not an ilsim DDPG policy of this version (format {d.get('format')!r}, "
            f"need {POLICY_FORMAT!r}); retrain it"
        )
    actor = Actor(d["obs_dim"], d["hidden"], [d["seed"]]).to(device)
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
