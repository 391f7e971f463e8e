"""Reward-learning imitation: maximum-entropy IRL and GAIL (book chapters 306 and 308).

Both learners imitate :class:`~ilsim.imitation.Demonstrations` on the market features alone
(``state_dim`` = F) over a discrete action space (``"three"``: sell / hold / buy, ``"five"``:
strong sell … strong buy, see :data:`~ilsim.imitation.ACTION_SPACES`); expert actions are
mapped to the nearest level.

Static replay. The market replays recorded prices: the next state does not depend on the
action. Two consequences shape both learners:

* Maximum-entropy IRL needs no soft value iteration. With action-independent transitions the
  soft Q-function is the reward plus a term that does not depend on the action, so the max-ent
  policy is the per-state softmax of the reward, ``π(a|s) ∝ exp(r(s, a) / T)``, and
  feature-expectation matching is exactly multinomial logistic regression on ``φ(s, a)``.
* In GAIL the rewards after bar ``t`` do not depend on the action at ``t``, so the tail of a
  reward-to-go only adds variance to REINFORCE. The default horizon is therefore one bar
  (``horizon=1``); longer horizons (``gamma``-discounted, truncated at segment ends) follow
  chapter 308 literally and are kept for comparison.
* With market features only, no state depends on the learner's past actions, so GAIL's
  occupancy matching reduces to matching ``π(a|s)`` at the demonstration states: the
  covariate-shift advantage chapter 308 claims over BC cannot show in this setting.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from ilsim.imitation import ACTION_SPACES, cpu_threads, from_classes, to_classes

if TYPE_CHECKING:
    from ilsim.imitation import Demonstrations

__all__ = ["GAILLearner", "MaxEntIRLLearner", "action_labels"]

Space = Literal["three", "five"]

_LABELS = {
    "three": ("sell", "hold", "buy"),
    "five": ("strong_sell", "sell", "hold", "buy", "strong_buy"),
}


def action_labels(action_space: str) -> tuple[str, ...]:
    """Readable names of the discrete levels, in level order (for tables and plots)."""
    return _LABELS[_check_space(action_space)]


def _check_space(action_space: str) -> str:
    """A discrete action space name, or a clear error."""
    if action_space not in _LABELS:
        raise ValueError(f"action_space must be 'three' or 'five' (discrete), got {action_space!r}")
    return action_space


def _levels(action_space: str) -> np.ndarray:
    """The action levels of a discrete space as a float array."""
    return np.asarray(ACTION_SPACES[_check_space(action_space)], dtype=np.float64)


def _demo_arrays(
    demos: Demonstrations, action_space: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated ``states`` [T, F] float32, expert classes [T] int64 and segment ids [T]."""
    x = np.asarray(demos.states, dtype=np.float32)
    a = np.asarray(demos.actions, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        raise ValueError(f"demos.states must be [T >= 2, F >= 1], got shape {x.shape}")
    if a.shape != (len(x),):
        raise ValueError(f"demos.actions must have shape ({len(x)},), got {a.shape}")
    if not np.isfinite(x).all():
        raise ValueError("demos.states contain NaN or inf")
    if not np.isfinite(a).all() or np.any(np.abs(a) > 1):
        raise ValueError("demos.actions must be finite and in [-1, 1]")
    seg = getattr(demos, "segment_ids", None)
    seg = np.zeros(len(x), dtype=np.int64) if seg is None else np.asarray(seg)
    if seg.shape != (len(x),):
        raise ValueError(f"demos.segment_ids must have shape ({len(x)},), got {seg.shape}")
    cls = np.asarray(to_classes(a, ACTION_SPACES[action_space]), dtype=np.int64)
    return x, cls, seg


def _check_states(states: np.ndarray, state_dim: int) -> np.ndarray:
    """``states`` as float32 [N, state_dim], finite, or a clear error."""
    x = np.asarray(states, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != state_dim:
        raise ValueError(f"states must be [N, {state_dim}], got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("states contain NaN or inf")
    return x


def _feature_names(demos: Demonstrations, given: Sequence[str] | None, n: int) -> list[str]:
    """Feature names: the given ones, the demonstrations' own, or ``f0 … f{n-1}``."""
    names = given if given is not None else getattr(demos, "feature_names", None)
    if names is None:
        return [f"f{i}" for i in range(n)]
    names = [str(s) for s in names]
    if len(names) != n:
        raise ValueError(f"expected {n} feature names, got {len(names)}")
    return names


# --------------------------------------------------------------------------- MaxEnt IRL


class MaxEntIRLLearner:
    """Maximum-entropy IRL with a linear reward ``r(s, a) = w_a · [z(s), 1]``.

    ``φ(s, a)`` is the standardised state ``z(s)`` (plus a bias) crossed with a one-hot of the
    action, so ``w`` has ``|A| · (F + 1)`` entries. The max-ent policy in static replay is the
    per-state softmax ``π(a|s) ∝ exp(r(s, a) / temperature)`` (module docstring). Fitting
    ascends ``E_expert[φ] − E_π[φ] − l2 · w`` over the demonstration states with Adam — the
    gradient of the expert's log-likelihood times the temperature — so the feature-expectation
    gap (``log``: iteration 0 is the uniform start) shrinks to what the L2 penalty leaves.

    ``act`` returns the most probable level (the mode): it is the action the recovered reward
    ranks first, and an expected level would be a fractional action the expert never takes.
    The seed only matters with ``batch_size`` (minibatch gradients); the full-batch problem
    is convex and starts from ``w = 0`` (the uniform policy).
    """

    name = "maxent_irl"

    def __init__(
        self,
        action_space: Space = "three",
        n_iter: int = 300,
        lr: float = 0.05,
        l2: float = 1e-3,
        temperature: float = 1.0,
        batch_size: int | None = None,
        feature_names: Sequence[str] | None = None,
    ) -> None:
        self.action_space = _check_space(action_space)
        if n_iter < 1 or lr <= 0 or l2 < 0 or temperature <= 0:
            raise ValueError("need n_iter >= 1, lr > 0, l2 >= 0 and temperature > 0")
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be >= 1 or None, got {batch_size}")
        self.n_iter, self.lr, self.l2 = n_iter, lr, l2
        self.temperature, self.batch_size = temperature, batch_size
        self.feature_names = None if feature_names is None else list(feature_names)
        self.levels = _levels(action_space)
        self._state_dim = 0
        self.log = pd.DataFrame()
        self.weights = np.zeros((len(self.levels), 1))  # [A, F + 1]
        self._mean = np.zeros(0)
        self._std = np.ones(0)
        self._names: list[str] = []

    @property
    def state_dim(self) -> int:
        """Columns ``act`` expects: F, the market features (set by ``fit``)."""
        if self._state_dim <= 0:
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit(demos) first")
        return self._state_dim

    def _phi_states(self, x: np.ndarray) -> np.ndarray:
        """Standardised states with a bias column, [N, F + 1] float64."""
        z = (np.asarray(x, dtype=np.float64) - self._mean) / self._std
        return np.concatenate([z, np.ones((len(z), 1))], axis=1)

    def _proba(self, zb: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Softmax policy ``π(a|s)`` [N, A] for standardised states ``zb`` and weights ``w``."""
        u = zb @ w.T / self.temperature
        u -= u.max(axis=1, keepdims=True)
        p = np.exp(u)
        return p / p.sum(axis=1, keepdims=True)

    def fit(
        self, demos: Demonstrations, *, seed: int = 0, progress: bool = False
    ) -> MaxEntIRLLearner:
        """Match the expert's feature expectations; see the class docstring."""
        x, cls, _ = _demo_arrays(demos, self.action_space)
        n, f = x.shape
        k = len(self.levels)
        self._names = _feature_names(demos, self.feature_names, f)
        self._mean = x.mean(axis=0).astype(np.float64)
        std = x.std(axis=0).astype(np.float64)
        self._std = np.where(std > 1e-8, std, 1.0)
        zb = self._phi_states(x)
        onehot = np.eye(k)[cls]
        rng = np.random.default_rng(seed)
        w = torch.zeros(k, f + 1, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.Adam([w], lr=self.lr)
        t0 = time.perf_counter()
        rows = []

        def record(it: int, pf: np.ndarray) -> None:
            """Log the full-data feature-expectation gap of the policy ``pf`` [N, A]."""
            full_gap = (onehot - pf).T @ zb / n
            rows.append(
                {
                    "iteration": it,
                    "gap_norm": float(np.linalg.norm(full_gap)),
                    "gap_max": float(np.abs(full_gap).max()),
                    "log_likelihood": float(np.log(pf[np.arange(n), cls] + 1e-300).mean()),
                    "accuracy": float(np.mean(pf.argmax(axis=1) == cls)),
                    "seconds": time.perf_counter() - t0,
                }
            )
            if progress and it % max(1, self.n_iter // 10) == 0:
                q = rows[-1]
                print(f"[maxent] it {it}: gap {q['gap_norm']:.4f} acc {q['accuracy']:.3f}")

        full = self.batch_size is None or self.batch_size >= n
        for it in range(self.n_iter):
            wn = w.detach().numpy()
            pf = self._proba(zb, wn)
            record(it, pf)
            if full:
                zi, oi, p = zb, onehot, pf
            else:
                pick = rng.integers(0, n, self.batch_size)
                zi, oi = zb[pick], onehot[pick]
                p = self._proba(zi, wn)
            # E[φ] as an [A, F + 1] table: row a = E[1{action = a} · [z(s), 1]].
            gap = (oi - p).T @ zi / len(zi)
            opt.zero_grad(set_to_none=True)
            w.grad = torch.as_tensor(-(gap - self.l2 * wn))  # Adam minimises; we ascend
            opt.step()
        record(self.n_iter, self._proba(zb, w.detach().numpy()))
        self.weights = w.detach().numpy().copy()
        self._state_dim = f
        self.log = pd.DataFrame(rows)
        return self

    def reward(self, states: np.ndarray) -> np.ndarray:
        """Recovered reward ``r(s, a)`` [N, A] of every level at each state."""
        x = _check_states(states, self.state_dim)
        return self._phi_states(x) @ self.weights.T

    def act_proba(self, states: np.ndarray) -> np.ndarray:
        """Max-ent policy ``π(a|s)`` [N, A] (columns in level order)."""
        x = _check_states(states, self.state_dim)
        return self._proba(self._phi_states(x), self.weights)

    def act(self, states: np.ndarray) -> np.ndarray:
        """The most probable level per state, [N] in [-1, 1]."""
        idx = self.act_proba(states).argmax(axis=1)
        return np.asarray(from_classes(idx, ACTION_SPACES[self.action_space]), dtype=np.float64)

    def reward_weights(self, centred: bool = True) -> pd.DataFrame:
        """Reward weights: rows = features (per standard deviation) and ``bias``, columns =
        actions. ``centred`` subtracts each row's mean over actions: a shift common to all
        actions does not change the policy, so only the differences between columns mean
        anything."""
        self.state_dim  # noqa: B018 - raises when not fitted
        w = self.weights.T.copy()  # [F + 1, A]
        if centred:
            w -= w.mean(axis=1, keepdims=True)
        return pd.DataFrame(
            w, index=[*self._names, "bias"], columns=list(action_labels(self.action_space))
        )


# --------------------------------------------------------------------------- GAIL


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


def _mlp(in_dim: int, hidden: Sequence[int], out_dim: int) -> nn.Sequential:
    """A tanh MLP ``in → hidden… → out`` (linear output)."""
    layers: list[nn.Module] = []
    d = in_dim
    for h in hidden:
        layers += [nn.Linear(d, h), nn.Tanh()]
        d = h
    layers.append(nn.Linear(d, out_dim))
    return nn.Sequential(*layers)


class GAILLearner:
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
    first fits the policy to the expert by cross-entropy (chapter 308's hybrid; ``bc_log``).
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
        self.action_space = _check_space(action_space)
        if (
            n_iter < 0
            or min(batch_size, bc_batch_size) < 2
            or disc_steps < 1
            or policy_steps < 1
            or horizon < 1
        ):
            raise ValueError(
                "need n_iter >= 0, batch_size >= 2, bc_batch_size >= 2, disc_steps >= 1, "
                "policy_steps >= 1 and horizon >= 1"
            )
        if not 0 <= gamma <= 1 or entropy_coef < 0 or max_grad_norm <= 0 or bc_pretrain_epochs < 0:
            raise ValueError(
                "need 0 <= gamma <= 1, entropy_coef >= 0, max_grad_norm > 0 and "
                "bc_pretrain_epochs >= 0"
            )
        if baseline not in ("value", "mean"):
            raise ValueError(f"baseline must be 'value' or 'mean', got {baseline!r}")
        if not 0 < d_eps < 0.5:
            raise ValueError(f"d_eps must be in (0, 0.5), got {d_eps}")
        self.hidden = tuple(hidden)
        self.n_iter, self.batch_size = n_iter, batch_size
        self.policy_lr, self.disc_lr, self.bc_lr = policy_lr, disc_lr, bc_lr
        self.disc_steps, self.policy_steps = disc_steps, policy_steps
        self.horizon, self.gamma, self.baseline = horizon, gamma, baseline
        self.entropy_coef, self.max_grad_norm = entropy_coef, max_grad_norm
        self.bc_pretrain_epochs, self.d_eps = bc_pretrain_epochs, d_eps
        self.bc_batch_size = bc_batch_size
        self.normalize_advantages, self.threads = normalize_advantages, threads
        self.levels = _levels(action_space)
        self._state_dim = 0
        self.log = pd.DataFrame()
        self.bc_log = pd.DataFrame()
        self.policy: nn.Sequential | None = None
        self.discriminator: nn.Sequential | None = None
        self.norm: RunningNorm | None = None

    # ---- pieces

    @property
    def state_dim(self) -> int:
        """Columns ``act`` expects: F, the market features (set by ``fit``)."""
        if self._state_dim <= 0:
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit(demos) first")
        return self._state_dim

    def _disc_in(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Discriminator input: normalised state and one-hot action."""
        return torch.cat([z, F.one_hot(a, len(self.levels)).float()], dim=1)

    def _reward(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """``−log(1 − D(s, a))`` with D clipped to ``[d_eps, 1 − d_eps]``, as ``softplus``."""
        assert self.discriminator is not None
        c = math.log((1 - self.d_eps) / self.d_eps)
        return F.softplus(self.discriminator(self._disc_in(z, a)).squeeze(-1).clamp(-c, c))

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
        assert self.policy is not None and self.norm is not None
        opt = torch.optim.Adam(self.policy.parameters(), lr=self.bc_lr)
        n = len(x)
        target = torch.as_tensor(cls)
        rows = []
        for epoch in range(1, self.bc_pretrain_epochs + 1):
            order = rng.permutation(n)
            tot, hit = 0.0, 0
            for s in range(0, n, self.bc_batch_size):
                b = order[s : s + self.bc_batch_size]
                self.norm.update(x[b])
                logits = self.policy(self.norm(x[b]))
                loss = F.cross_entropy(logits, target[b])
                self._clip_step(opt, self.policy, loss)
                tot += float(loss.detach()) * len(b)
                hit += int((logits.argmax(1) == target[b]).sum())
            rows.append({"epoch": epoch, "loss": tot / n, "accuracy": hit / n})
            if progress:
                print(f"[gail bc] epoch {epoch}: loss {tot / n:.4f} acc {hit / n:.3f}")
        self.bc_log = pd.DataFrame(rows)

    # ---- API

    def fit(self, demos: Demonstrations, *, seed: int = 0, progress: bool = False) -> GAILLearner:
        """Adversarial imitation of ``demos``; see the class docstring."""
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
            self.policy = _mlp(f, self.hidden, k)
            self.discriminator = _mlp(f + k, self.hidden, 1)
            value = _mlp(f, self.hidden, 1)
        self.norm = RunningNorm(f)
        self._state_dim = f
        self.bc_log = pd.DataFrame()
        if self.bc_pretrain_epochs:
            self._bc_pretrain(x, cls, rng, progress)

        opt_pi = torch.optim.Adam(self.policy.parameters(), lr=self.policy_lr)
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=self.disc_lr)
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
            self.norm.update(x[start])
            z = self.norm(x[flat])  # [B·H, F]
            a_exp = torch.as_tensor(cls[flat])
            with torch.no_grad():
                a_pol = torch.multinomial(F.softmax(self.policy(z), 1), 1, generator=gen)[:, 0]

            # 1. discriminator: expert (label 1) vs policy (label 0) at the same states.
            d_in = torch.cat([self._disc_in(z, a_exp), self._disc_in(z, a_pol)])
            d_lab = torch.cat([torch.ones(len(flat)), torch.zeros(len(flat))])
            for _ in range(self.disc_steps):
                d_logit = self.discriminator(d_in).squeeze(-1)
                d_loss = F.binary_cross_entropy_with_logits(d_logit, d_lab)
                self._clip_step(opt_d, self.discriminator, d_loss)
            with torch.no_grad():
                d_logit = self.discriminator(d_in).squeeze(-1)
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
                logp = F.log_softmax(self.policy(z0), 1)
                ent = -(logp.exp() * logp).sum(1).mean()
                pg = -(logp.gather(1, a0[:, None]).squeeze(1) * adv).mean()
                self._clip_step(opt_pi, self.policy, pg - self.entropy_coef * ent)
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
        self.log = pd.DataFrame(rows)
        self.policy.eval()
        self.discriminator.eval()

    @torch.no_grad()
    def act_proba(self, states: np.ndarray) -> np.ndarray:
        """Policy class probabilities [N, A] (columns in level order)."""
        x = _check_states(states, self.state_dim)
        assert self.policy is not None and self.norm is not None
        return F.softmax(self.policy(self.norm(x)), 1).numpy().astype(np.float64)

    def act(self, states: np.ndarray) -> np.ndarray:
        """The greedy (most probable) level per state, [N] in [-1, 1]."""
        idx = self.act_proba(states).argmax(axis=1)
        return np.asarray(from_classes(idx, ACTION_SPACES[self.action_space]), dtype=np.float64)

    @torch.no_grad()
    def reward(self, states: np.ndarray) -> np.ndarray:
        """The discriminator's reward ``−log(1 − D(s, a))`` [N, A] of every level at each state."""
        x = _check_states(states, self.state_dim)
        assert self.norm is not None
        z = self.norm(x)
        k = len(self.levels)
        cols = [self._reward(z, torch.full((len(z),), j, dtype=torch.long)) for j in range(k)]
        return torch.stack(cols, 1).numpy().astype(np.float64)
