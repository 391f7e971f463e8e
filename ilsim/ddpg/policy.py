"""A trained actor after training: its returns on an env, and saved or loaded as a policy file
(one model of a stack, with its observation scaling and JSON metadata)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ilsim.ddpg.nets import Actor, act
from ilsim.ddpg.protocol import TensorEnv

POLICY_FORMAT = "ilsim.ddpg.actor/2"


@torch.no_grad()
def evaluate(actor: Actor, env: TensorEnv, episodes: int, seed: int = 0) -> np.ndarray:
    """Returns of the first ``episodes`` episodes finished by a one-model deterministic
    policy (``actor.select(k)`` picks one of a stack)."""
    if actor.k != 1:
        raise ValueError(f"evaluate takes one model, got {actor.k}: pass actor.select(k)")
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
