"""The training loop in CleanRL's shape (``ddpg_continuous_action.py``): one flat loop that
acts, steps the envs, stores, learns, validates, logs and checkpoints, read top to bottom. What
it changes is one dataclass (:class:`LoopState`) beside the agent, the replay, the diagnostics
and the selection (:class:`ilsim.nn.EarlyStopping`, shared with the IL trainers); each has a
``state_dict()``, so a checkpoint resumes bit for bit."""

from __future__ import annotations

import copy
import math
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ilsim.ddpg.agent import Agent, update
from ilsim.ddpg.buffer import ReplayBuffer
from ilsim.ddpg.checkpoint import (
    CHECKPOINT_VERSION,
    check_resumable,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from ilsim.ddpg.config import DDPGConfig, stream_seed
from ilsim.ddpg.diagnostics import CURVE_COLUMNS, DIAG_EVERY, Diagnostics
from ilsim.ddpg.nets import Actor, Critic
from ilsim.ddpg.protocol import TensorEnv
from ilsim.nn import EarlyStopping

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


@dataclass
class LoopState:
    """What the loop changes besides the networks, the replay, the diagnostics and the
    selection: saved whole in a checkpoint."""

    obs: torch.Tensor  # the envs' current observations [N, obs_dim]
    ep_return: torch.Tensor  # each env's running episode return [K, N / K]
    val_last: list[float]  # each model's last validation score
    step: int = 0  # vector steps taken
    updates: int = 0  # per model
    episodes: int = 0
    wall_s: float = 0.0  # training time of the runs before this one (resumed)
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=100))  # last returns
    stopped: bool = False  # on a validation plateau
    curve: list[dict] = field(default_factory=list)  # one row per log step and model

    def end_episodes(self, reward: torch.Tensor, done: torch.Tensor) -> list[list[float]]:
        """Add this step's rewards [K, N / K]; the returns of the episodes that ended (per
        model) are counted, remembered and handed back, and their sums start again."""
        self.ep_return += reward.double()
        if not bool(done.any()):
            return [[] for _ in range(len(done))]
        ended = [self.ep_return[j][done[j]].tolist() for j in range(len(done))]
        for rets in ended:
            self.recent.extend(rets)
        self.episodes += int(done.sum())
        self.ep_return[done] = 0.0
        return ended

    def state_dict(self) -> dict:
        """The fields as saved (tensors on the CPU); ``wall_s`` is the earlier runs' time, the
        checkpoint writes the total in its place."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        return {**out, "obs": self.obs.cpu(), "ep_return": self.ep_return.cpu(),
                "recent": list(self.recent)}  # fmt: skip

    @classmethod
    def from_state_dict(cls, state: dict, device: torch.device) -> LoopState:
        return cls(**{**state, "obs": state["obs"].to(device),
                      "ep_return": state["ep_return"].to(device),
                      "recent": deque(state["recent"], maxlen=100)})  # fmt: skip


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
    log: Callable[[str], None] | None = None,
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
    reproducible. ``log`` gets one progress line per validation (step, the seeds' scores,
    updates/s, ETA): what a rule's log shows while a training runs (issue 26).
    """
    # -- setup: the agents, their replay, diagnostics and selection; a checkpoint resumed ----
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
    if saved is None:  # CleanRL-style global seeding, and the loop's own generator
        torch.manual_seed(seed0)
        np.random.seed(seed0)  # noqa: NPY002
        random.seed(seed0)
        gen.manual_seed(seed0)
    agent = Agent.create(env.obs_dim, cfg, dev)
    buffer = ReplayBuffer(min(cfg.buffer_size, cfg.total_steps * n), env.obs_dim, k, dev)
    diag = Diagnostics(k, n, dev)
    select = EarlyStopping(  # a tie keeps the later, longer-trained actor
        agent.actor, cfg.patience, members=k, higher_is_better=True, later_ties=True,
        dtype=torch.float64,
    )  # fmt: skip
    if saved is None:
        obs = env.reset(seed=seed0).to(dev, torch.float32)
        zeros = torch.zeros(k, n, dtype=torch.float64, device=dev)
        state = LoopState(obs=obs, ep_return=zeros, val_last=[math.nan] * k)
        if path is not None:
            _require_state_dict(env)
        ckpt_step = None
    else:
        check_resumable(saved, cfg, env.n, env.obs_dim)
        agent.load_state_dict(saved["agent"])
        buffer.load_state_dict(saved["buffer"])
        env.load_state_dict(saved["env"])
        set_rng_state(gen, saved["rng"])
        diag.load_state_dict(saved["diagnostics"])
        select.load_state_dict(saved["selection"])
        state = LoopState.from_state_dict(saved["loop"], dev)
        ckpt_step = state.step

    end = cfg.total_steps if stop_after is None else min(cfg.total_steps, stop_after)
    bar = tqdm(total=cfg.total_steps, initial=state.step, desc=f"DDPG ×{k}", unit="step",
               disable=not progress, leave=False)  # fmt: skip
    t0, step0, updates0 = time.perf_counter(), state.step, state.updates  # this run's rates

    def wall() -> float:
        return state.wall_s + time.perf_counter() - t0

    def halt(what: str) -> FloatingPointError:
        return _halted(state.step, what, path, ckpt_step)

    while state.step < end and not state.stopped:
        # -- act: uniform in [-1, 1] during the warm-up, then each actor plus Gaussian noise --
        obs_k = state.obs.view(k, n, -1)
        action, pre = _act(agent, obs_k, state.step, cfg, gen)
        if pre is not None and state.step % DIAG_EVERY == 0:  # sampled: off most steps
            diag.acted(pre, _would_trade(env, torch.tanh(pre), dev))

        # -- step the envs; a truncated episode bootstraps from its final observation ----------
        next_obs, reward, terminated, truncated, info = env.step(
            action.reshape(env.n).to(env.device)
        )
        next_obs = next_obs.to(dev, torch.float32)
        reward, terminated = reward.to(dev, torch.float32), terminated.to(dev)
        done = terminated | truncated.to(dev)
        real_next = next_obs
        if "final_obs" in info:
            real_next = torch.where(done[:, None], info["final_obs"].to(dev), next_obs)
        state.step += 1
        if not bool(torch.isfinite(reward).all() & torch.isfinite(real_next).all()):
            what = "reward" if not bool(torch.isfinite(reward).all()) else "observation"
            raise halt(f"the env returned a non-finite {what}")

        # -- store the transitions; count the episodes that ended ------------------------------
        buffer.add(
            obs_k,
            action,
            (reward * cfg.reward_scale).view(k, n),
            real_next.view(k, n, -1),
            terminated.float().view(k, n),
        )
        state.obs = next_obs
        diag.stepped(state.end_episodes(reward.view(k, n), done.view(k, n)))

        # -- learn: observations scaled by the warm-up's statistics, then the updates ----------
        if cfg.obs_norm and state.step == cfg.learning_starts:
            seen = buffer.obs[:, : buffer.size]
            agent.set_obs_norm(seen.mean(1), seen.std(1).clamp(min=1e-2))
        if state.step > cfg.learning_starts:
            for _ in range(cfg.updates_per_step):
                actor_too = (state.updates + 1) % cfg.policy_delay == 0  # TD3's delay
                try:
                    stats = update(agent, buffer.sample(cfg.batch_size, gen), cfg, actor_too, gen)
                except FloatingPointError as err:
                    raise halt(str(err)) from None
                state.updates += 1
                diag.updated(stats, actor_too)

        # -- validate: each model's best actor kept; stop once all plateau, after min_steps ----
        if (
            evaluator is not None
            and cfg.eval_every
            and state.step >= cfg.learning_starts
            and state.step % cfg.eval_every == 0
        ):
            scores = _validate(agent.actor, evaluator, k)
            state.val_last = scores.tolist()
            plateau = select.step(torch.from_numpy(scores), state.step)
            state.stopped = plateau and state.step >= cfg.min_steps
            if log is not None:
                log(_progress_line(state, end, step0, updates0, t0, select.best.tolist()))

        # -- log a curve row per model; checkpoint --------------------------------------------
        if state.step % log_every == 0 or state.step == cfg.total_steps or state.stopped:
            state.curve.extend(diag.rows(state.step, cfg.seeds, state.val_last, wall()))
            last = [r["episode_return_mean"] for r in state.curve[-k:]]
            if not all(math.isnan(x) for x in last):
                bar.set_postfix(ret=f"{np.nanmean(last):.3g}", refresh=False)
        bar.update(1)
        if path is not None and (
            state.step % cfg.checkpoint_every == 0 or state.step == end or state.stopped
        ):
            ckpt_step = _checkpoint(path, cfg, env, agent, buffer, gen, state, diag, select, wall())
    bar.close()
    if path is not None and ckpt_step != state.step:  # e.g. resumed from a finished run
        _checkpoint(path, cfg, env, agent, buffer, gen, state, diag, select, wall())

    # -- the result: each model's best actor on validation where it was scored, else its last --
    scored = select.scored() if evaluator is not None and cfg.eval_every else [False] * k
    chosen = agent.actor
    if any(scored):
        kept = [j for j in range(k) if scored[j]]
        chosen = select.restore(into=copy.deepcopy(agent.actor), members=kept)
    return TrainResult(
        actor=chosen,
        last_actor=agent.actor,
        critic=agent.critic,
        curve=pd.DataFrame(state.curve, columns=CURVE_COLUMNS),
        vector_steps=state.step,
        env_steps=state.step * env.n,
        updates=state.updates,
        episodes=state.episodes,
        return_mean_last100=float(np.mean(state.recent)) if state.recent else math.nan,
        wall_s=wall(),
        completed=state.step >= cfg.total_steps or state.stopped,
        stopped_early=bool(state.stopped),
        best_step=[select.best_epoch[j] if scored[j] else state.step for j in range(k)],
        best_score=[s if math.isfinite(s) else math.nan for s in select.best.tolist()],
    )


# -- the loop's parts ------------------------------------------------------------------------
def _act(
    agent: Agent, obs: torch.Tensor, step: int, cfg: DDPGConfig, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The K x N exploration actions, and the actors' pre-tanh outputs (None in the warm-up)."""
    k, n = obs.shape[:2]
    if step < cfg.learning_starts:
        return torch.rand(k, n, generator=gen, device=obs.device) * 2 - 1, None
    with torch.no_grad():
        pre = agent.actor.preact(obs)
    action = torch.tanh(pre)
    if cfg.exploration_noise > 0:
        noise = torch.randn(action.shape, generator=gen, device=action.device)
        action = (action + cfg.exploration_noise * noise).clamp(-1.0, 1.0)
    return action, pre


def _would_trade(env: TensorEnv, clean: torch.Tensor, dev: torch.device) -> torch.Tensor | None:
    """Would the deterministic policy change each env's position now? (None: the env can't say)"""
    trades = getattr(env, "trades", None)
    return None if trades is None else trades(clean.reshape(env.n).to(env.device)).to(dev)


def _validate(actor: Actor, evaluator: Evaluator, k: int) -> np.ndarray:
    """Each model's validation score, the actors in eval mode meanwhile (not under no_grad:
    an evaluator may need gradients; the pipeline's runs its own no-grad policy)."""
    actor.eval()
    scores = np.asarray(evaluator(actor), dtype=np.float64).reshape(k)
    actor.train()
    return scores


def _require_state_dict(env: TensorEnv) -> None:
    try:
        env.state_dict()
    except NotImplementedError:
        raise ValueError(
            f"{type(env).__name__} has no state_dict(): it cannot be checkpointed; "
            "pass checkpoint_path=None"
        ) from None


def _checkpoint(
    path: Path,
    cfg: DDPGConfig,
    env: TensorEnv,
    agent: Agent,
    buffer: ReplayBuffer,
    gen: torch.Generator,
    state: LoopState,
    diag: Diagnostics,
    select: EarlyStopping,
    wall: float,
) -> int:
    """Write everything the loop needs to continue bit for bit; returns the step written."""
    save_checkpoint(
        path,
        {
            "version": CHECKPOINT_VERSION,
            "config": asdict(cfg),
            "n_envs": env.n,
            "obs_dim": env.obs_dim,
            "step": state.step,
            "agent": agent.state_dict(),
            "buffer": buffer.state_dict(),
            "rng": rng_state(gen),
            "env": env.state_dict(),
            "loop": {**state.state_dict(), "wall_s": wall},
            "diagnostics": diag.state_dict(),
            "selection": select.state_dict(),
        },
    )
    return state.step


def _halted(step: int, what: str, path: Path | None, ckpt_step: int | None) -> FloatingPointError:
    kept = (
        f"the last good checkpoint ({path}, vector step {ckpt_step}) is untouched"
        if ckpt_step is not None
        else "no checkpoint was written"
    )
    return FloatingPointError(f"DDPG stopped at vector step {step}: {what}; {kept}")


def _progress_line(
    state: LoopState, end: int, step0: int, updates0: int, t0: float, best: list[float]
) -> str:
    """One progress line of a training: where it is, the seeds' scores, its speed and ETA."""
    elapsed = time.perf_counter() - t0
    rate = (state.step - step0) / elapsed if elapsed > 0 else float("nan")
    eta = (end - state.step) / rate if rate > 0 else float("nan")
    ups = (state.updates - updates0) / elapsed if elapsed > 0 else float("nan")
    scores = " ".join(f"{x:+.4f}" for x in state.val_last)
    stop = " (plateau: stopping)" if state.stopped else ""
    return (
        f"DDPG step {state.step}/{end}: validation {scores} "
        f"(best {' '.join(f'{x:+.4f}' for x in best)}); "
        f"{ups:.1f} updates/s, {rate:.1f} steps/s, ETA {eta:.0f} s{stop}"
    )
