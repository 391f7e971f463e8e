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

The package, one module per part: :mod:`~ilsim.ddpg.protocol` (the env it runs on),
:mod:`~ilsim.ddpg.config`, :mod:`~ilsim.ddpg.nets`, :mod:`~ilsim.ddpg.buffer`,
:mod:`~ilsim.ddpg.agent` (the update), :mod:`~ilsim.ddpg.train` (the loop),
:mod:`~ilsim.ddpg.diagnostics`, :mod:`~ilsim.ddpg.checkpoint`, :mod:`~ilsim.ddpg.policy` (saved
policies) and the toy envs (:mod:`~ilsim.ddpg.toy_envs`); everything public is importable from
``ilsim.ddpg``. It imports nothing of ``ilsim`` outside it but :mod:`ilsim.nn` (the shared
early stopping): the pipeline maps its params onto :class:`DDPGConfig`.
"""

from __future__ import annotations

from ilsim.ddpg.agent import Agent, update
from ilsim.ddpg.buffer import Batch, ReplayBuffer
from ilsim.ddpg.checkpoint import CHECKPOINT_VERSION, RESUMABLE_CHANGES, load_checkpoint
from ilsim.ddpg.config import DDPGConfig, stream_seed
from ilsim.ddpg.diagnostics import (
    CURVE_COLUMNS,
    DIAG_EVERY,
    HIST_BINS,
    PREACT_RANGE,
    SATURATED,
    STAT_KEYS,
    Diagnostics,
)
from ilsim.ddpg.nets import Actor, Critic, StackedMLP, act, soft_update, stack_actors
from ilsim.ddpg.policy import POLICY_FORMAT, evaluate, load_policy, save_policy
from ilsim.ddpg.protocol import TensorEnv
from ilsim.ddpg.toy_envs import GymTensorEnv, PointMassEnv
from ilsim.ddpg.train import Evaluator, LoopState, TrainResult, train

__all__ = [
    "Actor",
    "Agent",
    "Batch",
    "CHECKPOINT_VERSION",
    "CURVE_COLUMNS",
    "Critic",
    "DDPGConfig",
    "DIAG_EVERY",
    "Diagnostics",
    "Evaluator",
    "GymTensorEnv",
    "HIST_BINS",
    "LoopState",
    "POLICY_FORMAT",
    "PREACT_RANGE",
    "PointMassEnv",
    "RESUMABLE_CHANGES",
    "ReplayBuffer",
    "SATURATED",
    "STAT_KEYS",
    "StackedMLP",
    "TensorEnv",
    "TrainResult",
    "act",
    "evaluate",
    "load_checkpoint",
    "load_policy",
    "save_policy",
    "soft_update",
    "stack_actors",
    "stream_seed",
    "train",
    "update",
]
