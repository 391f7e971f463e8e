"""DDPG's settings (paper Table 5 plus our options; their defaults are the ``rl`` params') and the
per-run random stream of each seed."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from ilsim.params import RLParams, default


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
