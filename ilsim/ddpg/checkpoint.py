"""Exact-resume checkpoints of a training: the random states, the config check and the atomic
write. What a checkpoint holds is :func:`ilsim.ddpg.train`'s to say (one dict)."""

from __future__ import annotations

import os
import random
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ilsim.ddpg.config import DDPGConfig

CHECKPOINT_VERSION = 3  # 3: the loop's state, diagnostics and selection as their own parts


# Fields that may change between a checkpoint and the run that resumes it.
RESUMABLE_CHANGES = {"total_steps", "checkpoint_every", "device", "buffer_size", "patience"}


def rng_state(gen: torch.Generator) -> dict[str, Any]:
    """Every random state a training draws from: its generator and the global ones."""
    state = {
        "generator": gen.get_state(),
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),  # noqa: NPY002 (global state, saved as is)
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(gen: torch.Generator, state: dict[str, Any]) -> None:
    gen.set_state(state["generator"])
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])  # noqa: NPY002
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def check_resumable(saved: dict, cfg: DDPGConfig, n_envs: int, obs_dim: int) -> None:
    """Refuse a checkpoint of another version, config (but :data:`RESUMABLE_CHANGES`) or env."""
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
    if (saved["n_envs"], saved["obs_dim"]) != (n_envs, obs_dim):
        raise ValueError(
            f"checkpoint has {saved['n_envs']} envs of obs_dim {saved['obs_dim']}, "
            f"env has {n_envs} of {obs_dim}"
        )


def save_checkpoint(path: Path, state: dict) -> None:
    """Write atomically: a crash mid-write leaves the previous checkpoint intact."""
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> dict:
    """A training checkpoint as a dict (our own pickle: trusted files only)."""
    return torch.load(path, map_location="cpu", weights_only=False)
