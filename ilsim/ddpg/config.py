"""DDPG's settings (paper Table 5 plus our options, defaults plain DDPG) and the per-run random
stream of each seed. The pipeline maps its ``rl`` params onto these
(:func:`ilsim.steps.training.ddpg_config`); ``ilsim.ddpg`` imports nothing of the pipeline, so
the ``rl`` params take the same defaults (``tests/test_params.py`` holds them equal)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np


@dataclass
class DDPGConfig:
    """Paper Table 5: networks, batch, memory, gamma, tau, exploration noise. Ours: learning
    rates, warm-up, step counts (all in vector steps), updates per step, checkpoints, seeds, and
    the learner's options (reward scale, observation normalisation, saturation control,
    selection on validation). The defaults are plain DDPG."""

    actor_hidden: tuple[int, ...] = (128, 128)
    critic_hidden: tuple[int, ...] = (128, 128, 128)
    batch_size: int = 128
    buffer_size: int = 9_000_000  # per agent, capped at total_steps * N / K
    gamma: float = 0.99
    tau: float = 0.005
    # std of the Gaussian added to the action in [-1, 1]
    exploration_noise: float = 0.1
    actor_lr: float = 1e-4  # ours (Lillicrap et al. 2016)
    critic_lr: float = 1e-3  # ours (Lillicrap et al. 2016)
    # ours: vector steps of uniform random actions, no updates
    learning_starts: int = 1_000
    # ours: vector steps (each env steps this many times), a cap
    total_steps: int = 100_000
    # ours: gradient updates per vector step
    updates_per_step: int = 1
    checkpoint_every: int = 10_000  # vector steps
    # one agent per seed, trained together as stacked networks
    seeds: tuple[int, ...] = (0,)
    # The run's random stream: every draw is seeded from (seed, stream); "" keeps the seed as is.
    stream: str = ""
    device: str | None = None  # None: the env's device
    # Rewards are multiplied by this before learning (the market's reward, a value change over
    # the initial value, is ~1e-4 a bar: 1e4 makes it basis points, which the critic can fit).
    reward_scale: float = 1.0
    # Standardise observations with the mean/std of the warm-up's (kept in the saved actor).
    obs_norm: bool = False
    # Saturation control: penalty on the actor's mean squared pre-tanh output; TD3's target
    # policy smoothing (noise std, clip) and delayed actor and target updates.
    preact_penalty: float = 0.0
    target_noise: float = 0.0
    target_noise_clip: float = 0.5
    policy_delay: int = 1
    # Selection on held-out data: every eval_every vector steps (0: never) the evaluator scores
    # each agent; the best actor is kept; training stops once every agent has gone ``patience``
    # evaluations (0: never stop early) without improving, but not before ``min_steps``.
    eval_every: int = 0
    patience: int = 0
    min_steps: int = 0

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
