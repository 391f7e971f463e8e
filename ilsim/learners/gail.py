"""GAIL (chapter 308): a discriminator between expert and learner state-action pairs, the
policy trained by REINFORCE on its reward (one-bar horizon by default: on a static replay the
later rewards do not depend on the action)."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from ilsim.learners.base import (
    ACTION_SPACES,
    Demonstrations,
    DiscreteLearner,
    NotFittedError,
    Space,
    _check_space,
    _check_states,
    _demo_arrays,
    frame_state,
    from_classes,
    module_state,
)
from ilsim.nn import cpu_threads, mlp


class RunningNorm:
    """Running mean / variance of the input features (Chan et al.'s parallel update).

    Updated with each batch during ``fit`` and frozen afterwards, as in chapter 308; the
    normalised features are clipped to ``±clip`` standard deviations.
    """

    def __init__(self, dim: int, clip: float = 10.0) -> None:
        self.count = 0.0
        self.mean = np.zeros(dim)
        self.var = np.ones(dim)
        self.clip = clip

    def update(self, x: np.ndarray) -> None:
        """Fold a batch ``x`` [B, dim] into the running moments."""
        b = float(len(x))
        if b == 0:
            return
        bm, bv = x.mean(axis=0), x.var(axis=0)
        tot = self.count + b
        delta = bm - self.mean
        m2 = self.var * self.count + bv * b + delta**2 * self.count * b / tot
        self.mean = self.mean + delta * b / tot
        self.var = m2 / tot
        self.count = tot

    def __call__(self, x: np.ndarray) -> torch.Tensor:
        """Normalised features as a float32 tensor."""
        z = (x - self.mean) / np.sqrt(self.var + 1e-8)
        return torch.as_tensor(np.clip(z, -self.clip, self.clip), dtype=torch.float32)


class GAILLearner(DiscreteLearner):
    """GAIL (Ho & Ermon 2016) on static market replay with a categorical policy.

    Each iteration draws ``batch_size`` demonstration bars, samples the policy's actions at
    them (the "rollout": in static replay the states are the demonstration's), then

    1. trains the discriminator ``D(s, a)`` (tanh MLP on normalised state + one-hot action,
       sigmoid) for ``disc_steps`` steps by binary cross-entropy, expert pairs labelled 1 and
       policy pairs 0 at the same states — the state distributions are equal by construction,
       so D judges only the action given the state;
    2. rewards the policy with ``r = −log(1 − D(s, a))`` (D clipped to
       ``[d_eps, 1 − d_eps]``: ``r ≤ 13.8`` by default), sums it over ``horizon`` bars
       (``gamma``-discounted, truncated at segment ends; default 1 bar, module docstring) and
       subtracts a baseline (``"value"``: a value network fitted to the returns by MSE;
       ``"mean"``: a running mean of the returns);
    3. takes ``policy_steps`` REINFORCE steps with an entropy bonus ``entropy_coef · H(π)``.

    Advantages are not standardised by default (``normalize_advantages``): while D is still
    uninformative its rewards are noise, and standardising would blow that noise up to full
    size and drive the policy (a BC-pretrained one included) away from the expert. The
    discriminator gets three steps at a higher learning rate than the policy so that it keeps
    up; with one step each the policy collapsed onto whatever the lagging D preferred.

    Both networks clip their gradient norm at ``max_grad_norm``; the inputs pass a
    :class:`RunningNorm` updated during fit and frozen at ``act``. ``bc_pretrain_epochs`` > 0
    first fits the policy to the expert by cross-entropy (chapter 308's hybrid; ``bc_log_``).
    ``act`` returns the most probable level; ``act_proba`` the class probabilities; ``reward``
    the discriminator's reward of every level. Training runs on ``threads`` CPU threads.
    """

    name = "gail"

    def __init__(
        self,
        action_space: Space = "five",
        hidden: Sequence[int] = (64, 64),
        n_iter: int = 300,
        batch_size: int = 512,
        policy_lr: float = 1e-3,
        disc_lr: float = 3e-3,
        disc_steps: int = 3,
        policy_steps: int = 1,
        horizon: int = 1,
        gamma: float = 0.9,
        baseline: Literal["value", "mean"] = "value",
        entropy_coef: float = 0.01,
        max_grad_norm: float = 1.0,
        bc_pretrain_epochs: int = 0,
        bc_lr: float = 3e-3,
        bc_batch_size: int = 64,
        d_eps: float = 1e-6,
        normalize_advantages: bool = False,
        threads: int | None = 1,
    ) -> None:
        self.action_space = action_space
        self.hidden = hidden
        self.n_iter, self.batch_size = n_iter, batch_size
        self.policy_lr, self.disc_lr, self.bc_lr = policy_lr, disc_lr, bc_lr
        self.disc_steps, self.policy_steps = disc_steps, policy_steps
        self.horizon, self.gamma, self.baseline = horizon, gamma, baseline
        self.entropy_coef, self.max_grad_norm = entropy_coef, max_grad_norm
        self.bc_pretrain_epochs, self.d_eps = bc_pretrain_epochs, d_eps
        self.bc_batch_size = bc_batch_size
        self.normalize_advantages, self.threads = normalize_advantages, threads

    def _validate(self) -> None:
        """The constructor's arguments, checked when ``fit`` starts (scikit-learn's rule)."""
        _check_space(self.action_space)
        if (
            self.n_iter < 0
            or min(self.batch_size, self.bc_batch_size) < 2
            or self.disc_steps < 1
            or self.policy_steps < 1
            or self.horizon < 1
        ):
            raise ValueError(
                "need n_iter >= 0, batch_size >= 2, bc_batch_size >= 2, disc_steps >= 1, "
                "policy_steps >= 1 and horizon >= 1"
            )
        if (
            not 0 <= self.gamma <= 1
            or self.entropy_coef < 0
            or self.max_grad_norm <= 0
            or self.bc_pretrain_epochs < 0
        ):
            raise ValueError(
                "need 0 <= gamma <= 1, entropy_coef >= 0, max_grad_norm > 0 and "
                "bc_pretrain_epochs >= 0"
            )
        if self.baseline not in ("value", "mean"):
            raise ValueError(f"baseline must be 'value' or 'mean', got {self.baseline!r}")
        if not 0 < self.d_eps < 0.5:
            raise ValueError(f"d_eps must be in (0, 0.5), got {self.d_eps}")

    # ---- pieces

    def _disc_in(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Discriminator input: normalised state and one-hot action."""
        return torch.cat([z, F.one_hot(a, len(self.levels)).float()], dim=1)

    def _reward(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """``−log(1 − D(s, a))`` with D clipped to ``[d_eps, 1 − d_eps]``, as ``softplus``."""
        assert self.discriminator_ is not None
        c = math.log((1 - self.d_eps) / self.d_eps)
        return F.softplus(self.discriminator_(self._disc_in(z, a)).squeeze(-1).clamp(-c, c))

    def _clip_step(self, opt: torch.optim.Optimizer, net: nn.Module, loss: torch.Tensor) -> None:
        """One optimiser step with gradient-norm clipping."""
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), self.max_grad_norm)
        opt.step()

    def _bc_pretrain(
        self, x: np.ndarray, cls: np.ndarray, rng: np.random.Generator, progress: bool
    ) -> None:
        """Cross-entropy pre-training of the policy on the expert's classes."""
        assert self.policy_ is not None and self.norm_ is not None
        opt = torch.optim.Adam(self.policy_.parameters(), lr=self.bc_lr)
        n = len(x)
        target = torch.as_tensor(cls)
        rows = []
        for epoch in range(1, self.bc_pretrain_epochs + 1):
            order = rng.permutation(n)
            tot, hit = 0.0, 0
            for s in range(0, n, self.bc_batch_size):
                b = order[s : s + self.bc_batch_size]
                self.norm_.update(x[b])
                logits = self.policy_(self.norm_(x[b]))
                loss = F.cross_entropy(logits, target[b])
                self._clip_step(opt, self.policy_, loss)
                tot += float(loss.detach()) * len(b)
                hit += int((logits.argmax(1) == target[b]).sum())
            rows.append({"epoch": epoch, "loss": tot / n, "accuracy": hit / n})
            if progress:
                print(f"[gail bc] epoch {epoch}: loss {tot / n:.4f} acc {hit / n:.3f}")
        self.bc_log_ = pd.DataFrame(rows)

    # ---- API

    def fit(self, demos: Demonstrations, *, seed: int = 0, progress: bool = False) -> GAILLearner:
        """Adversarial imitation of ``demos``; see the class docstring."""
        self._validate()
        x, cls, seg = _demo_arrays(demos, self.action_space)
        with cpu_threads(self.threads):
            self._fit(x, cls, seg, seed, progress)
        return self

    def _fit(
        self, x: np.ndarray, cls: np.ndarray, seg: np.ndarray, seed: int, progress: bool
    ) -> None:
        """The training loop of :meth:`fit`."""
        n, f = x.shape
        k = len(self.levels)
        rng = np.random.default_rng(seed)
        gen = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.policy_ = mlp(f, tuple(self.hidden), k, nn.Tanh)
            self.discriminator_ = mlp(f + k, tuple(self.hidden), 1, nn.Tanh)
            value = mlp(f, tuple(self.hidden), 1, nn.Tanh)
        self.norm_ = RunningNorm(f)
        self.n_features_in_ = f
        self.bc_log_ = pd.DataFrame()
        if self.bc_pretrain_epochs:
            self._bc_pretrain(x, cls, rng, progress)

        opt_pi = torch.optim.Adam(self.policy_.parameters(), lr=self.policy_lr)
        opt_d = torch.optim.Adam(self.discriminator_.parameters(), lr=self.disc_lr)
        opt_v = torch.optim.Adam(value.parameters(), lr=self.policy_lr)
        b_size = min(self.batch_size, n)
        h = self.horizon
        # Bars t .. t + h − 1 of each start, masked where they leave the array or the segment.
        offs = np.arange(h)
        disc = torch.as_tensor(self.gamma**offs, dtype=torch.float32)
        run_mean: float | None = None
        rows = []
        t0 = time.perf_counter()
        for it in range(1, self.n_iter + 1):
            start = rng.integers(0, n, b_size)
            idx = np.minimum(start[:, None] + offs, n - 1)  # [B, H]
            mask = torch.as_tensor(
                (start[:, None] + offs < n) & (seg[idx] == seg[start][:, None]),
                dtype=torch.float32,
            )
            flat = idx.reshape(-1)
            self.norm_.update(x[start])
            z = self.norm_(x[flat])  # [B·H, F]
            a_exp = torch.as_tensor(cls[flat])
            with torch.no_grad():
                a_pol = torch.multinomial(F.softmax(self.policy_(z), 1), 1, generator=gen)[:, 0]

            # 1. discriminator: expert (label 1) vs policy (label 0) at the same states.
            d_in = torch.cat([self._disc_in(z, a_exp), self._disc_in(z, a_pol)])
            d_lab = torch.cat([torch.ones(len(flat)), torch.zeros(len(flat))])
            for _ in range(self.disc_steps):
                d_logit = self.discriminator_(d_in).squeeze(-1)
                d_loss = F.binary_cross_entropy_with_logits(d_logit, d_lab)
                self._clip_step(opt_d, self.discriminator_, d_loss)
            with torch.no_grad():
                d_logit = self.discriminator_(d_in).squeeze(-1)
                m = len(flat)
                d_acc_exp = float((d_logit[:m] > 0).float().mean())
                d_acc_pol = float((d_logit[m:] <= 0).float().mean())

                # 2. rewards, returns over the horizon, advantages.
                r = self._reward(z, a_pol).view(b_size, h)
                ret = (r * disc * mask).sum(1)
            z0, a0 = z.view(b_size, h, f)[:, 0], a_pol.view(b_size, h)[:, 0]
            if self.baseline == "value":
                v = value(z0).squeeze(-1)
                self._clip_step(opt_v, value, F.mse_loss(v, ret))
                base = v.detach()
            else:
                run_mean = float(ret.mean()) if run_mean is None else run_mean
                base = torch.full_like(ret, run_mean)
                run_mean = 0.9 * run_mean + 0.1 * float(ret.mean())
            adv = ret - base
            if self.normalize_advantages:
                adv = (adv - adv.mean()) / (adv.std() + 1e-8)

            # 3. REINFORCE with an entropy bonus.
            for _ in range(self.policy_steps):
                logp = F.log_softmax(self.policy_(z0), 1)
                ent = -(logp.exp() * logp).sum(1).mean()
                pg = -(logp.gather(1, a0[:, None]).squeeze(1) * adv).mean()
                self._clip_step(opt_pi, self.policy_, pg - self.entropy_coef * ent)
            with torch.no_grad():
                acc = float((logp.argmax(1) == a_exp.view(b_size, h)[:, 0]).float().mean())
            rows.append(
                {
                    "iteration": it,
                    "d_loss": float(d_loss.detach()),
                    "d_acc": 0.5 * (d_acc_exp + d_acc_pol),
                    "d_acc_expert": d_acc_exp,
                    "d_acc_policy": d_acc_pol,
                    "mean_reward": float(r[:, 0].mean()),
                    "mean_return": float(ret.mean()),
                    "entropy": float(ent.detach()),
                    "policy_loss": float(pg.detach()),
                    "accuracy": acc,
                    "seconds": time.perf_counter() - t0,
                }
            )
            if progress and (it % max(1, self.n_iter // 10) == 0 or it == self.n_iter):
                q = rows[-1]
                print(
                    f"[gail] it {it}: D loss {q['d_loss']:.3f} D acc {q['d_acc']:.3f} "
                    f"reward {q['mean_reward']:.3f} H {q['entropy']:.3f} acc {q['accuracy']:.3f}"
                )
        self.log_ = pd.DataFrame(rows)
        self.policy_.eval()
        self.discriminator_.eval()

    def fitted_state(self) -> dict[str, Any]:
        """The policy, the discriminator and the input normalisation as plain data."""
        if not hasattr(self, "policy_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted")
        n = self.norm_
        return {
            "n_features_in": self.n_features_in_,
            "policy": module_state(self.policy_),
            "discriminator": module_state(self.discriminator_),
            "norm": {
                "count": float(n.count),
                "mean": torch.as_tensor(n.mean),
                "var": torch.as_tensor(n.var),
                "clip": float(n.clip),
            },
            "log": frame_state(self.log_),
            "bc_log": frame_state(self.bc_log_),
        }

    def load_fitted_state(self, state: dict[str, Any]) -> GAILLearner:
        """Restore what :meth:`fitted_state` returned."""
        f, k = int(state["n_features_in"]), len(self.levels)
        self.policy_ = mlp(f, tuple(self.hidden), k, nn.Tanh)
        self.discriminator_ = mlp(f + k, tuple(self.hidden), 1, nn.Tanh)
        self.policy_.load_state_dict(state["policy"])
        self.discriminator_.load_state_dict(state["discriminator"])
        self.policy_.eval()
        self.discriminator_.eval()
        norm = state["norm"]
        self.norm_ = RunningNorm(f, clip=norm["clip"])
        self.norm_.count = norm["count"]
        self.norm_.mean, self.norm_.var = norm["mean"].numpy().copy(), norm["var"].numpy().copy()
        self.n_features_in_ = f
        self.log_, self.bc_log_ = pd.DataFrame(state["log"]), pd.DataFrame(state["bc_log"])
        return self

    @torch.no_grad()
    def act_proba(self, states: np.ndarray) -> np.ndarray:
        """Policy class probabilities [N, A] (columns in level order)."""
        x = _check_states(states, self.state_dim)
        assert self.policy_ is not None and self.norm_ is not None
        return F.softmax(self.policy_(self.norm_(x)), 1).numpy().astype(np.float64)

    def act(self, states: np.ndarray) -> np.ndarray:
        """The greedy (most probable) level per state, [N] in [-1, 1]."""
        idx = self.act_proba(states).argmax(axis=1)
        return np.asarray(from_classes(idx, ACTION_SPACES[self.action_space]), dtype=np.float64)

    @torch.no_grad()
    def reward(self, states: np.ndarray) -> np.ndarray:
        """The discriminator's reward ``−log(1 − D(s, a))`` [N, A] of every level at each state."""
        x = _check_states(states, self.state_dim)
        assert self.norm_ is not None
        z = self.norm_(x)
        k = len(self.levels)
        cols = [self._reward(z, torch.full((len(z),), j, dtype=torch.long)) for j in range(k)]
        return torch.stack(cols, 1).numpy().astype(np.float64)
