"""The training loop on any tensor vector env: warm-up, exploration, updates, diagnostics,
selection on held-out data, exact-resume checkpoints; saved policies."""

from __future__ import annotations

import copy
import json
import math
import os
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ilsim.ddpg.agent import Agent, update
from ilsim.ddpg.buffer import ReplayBuffer
from ilsim.ddpg.config import DDPGConfig, stream_seed
from ilsim.ddpg.nets import Actor, Critic, act
from ilsim.envs import TensorEnv

CHECKPOINT_VERSION = 2


POLICY_FORMAT = "ilsim.ddpg.actor/2"


# Fields that may change between a checkpoint and the run that resumes it.
RESUMABLE_CHANGES = {"total_steps", "checkpoint_every", "device", "buffer_size", "patience"}


HIST_BINS = 20  # histogram bins of actions over [-1, 1] and pre-tanh outputs in the diagnostics


PREACT_RANGE = 4.0  # pre-tanh histogram over [-4, 4] (clipped; tanh(4) = 0.9993)


SATURATED = 0.99  # |action| above this counts as saturated in the diagnostics


DIAG_EVERY = 4  # diagnostics of the deterministic policy on every DIAG_EVERY-th vector step


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
    t1, step0, updates0 = time.perf_counter(), step, updates  # this run's own rates
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
            if log is not None:
                log(_progress_line(step, end, step0, updates - updates0, t1, ev))

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


def _progress_line(step: int, end: int, step0: int, updates: int, t1: float, ev: dict) -> str:
    """One progress line of a training: where it is, the seeds' scores, its speed and ETA."""
    elapsed = time.perf_counter() - t1
    rate = (step - step0) / elapsed if elapsed > 0 else float("nan")
    eta = (end - step) / rate if rate > 0 else float("nan")
    scores = " ".join(f"{x:+.4f}" for x in ev["last"])
    best = " ".join(f"{x:+.4f}" for x in ev["best_score"])
    stop = " (plateau: stopping)" if ev["stopped"] else ""
    return (
        f"DDPG step {step}/{end}: validation {scores} (best {best}); "
        f"{updates / elapsed if elapsed > 0 else float('nan'):.1f} updates/s, "
        f"{rate:.1f} steps/s, ETA {eta:.0f} s{stop}"
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
