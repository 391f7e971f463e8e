"""Maximum-entropy IRL (chapter 306); with :mod:`ilsim.learners.gail` (308) the reward
learners.

Both learners imitate :class:`~ilsim.learners.base.Demonstrations` on the market features alone
(``state_dim`` = F) over a discrete action space (``"three"``: sell / hold / buy, ``"five"``:
strong sell … strong buy, see :data:`~ilsim.learners.base.ACTION_SPACES`); expert actions are
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

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from ilsim.learners.base import (
    ACTION_SPACES,
    Demonstrations,
    DiscreteLearner,
    NotFittedError,
    Space,
    _check_space,
    _check_states,
    _demo_arrays,
    _feature_names,
    action_labels,
    frame_state,
    from_classes,
)


class MaxEntIRLLearner(DiscreteLearner):
    """Maximum-entropy IRL with a linear reward ``r(s, a) = w_a · [z(s), 1]``.

    ``φ(s, a)`` is the standardised state ``z(s)`` (plus a bias) crossed with a one-hot of the
    action, so ``w`` has ``|A| · (F + 1)`` entries. The max-ent policy in static replay is the
    per-state softmax ``π(a|s) ∝ exp(r(s, a) / temperature)`` (module docstring). Fitting
    ascends ``E_expert[φ] − E_π[φ] − l2 · w`` over the demonstration states with Adam — the
    gradient of the expert's log-likelihood times the temperature — so the feature-expectation
    gap (``log_``: iteration 0 is the uniform start) shrinks to what the L2 penalty leaves.

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
        self.action_space = action_space
        self.n_iter, self.lr, self.l2 = n_iter, lr, l2
        self.temperature, self.batch_size = temperature, batch_size
        self.feature_names = feature_names

    def _validate(self) -> None:
        """The constructor's arguments, checked when ``fit`` starts (scikit-learn's rule)."""
        _check_space(self.action_space)
        if self.n_iter < 1 or self.lr <= 0 or self.l2 < 0 or self.temperature <= 0:
            raise ValueError("need n_iter >= 1, lr > 0, l2 >= 0 and temperature > 0")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1 or None, got {self.batch_size}")

    def _phi_states(self, x: np.ndarray) -> np.ndarray:
        """Standardised states with a bias column, [N, F + 1] float64."""
        z = (np.asarray(x, dtype=np.float64) - self.mean_) / self.std_
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
        self._validate()
        x, cls, _ = _demo_arrays(demos, self.action_space)
        n, f = x.shape
        k = len(self.levels)
        self.feature_names_ = _feature_names(demos, self.feature_names, f)
        self.mean_ = x.mean(axis=0).astype(np.float64)
        std = x.std(axis=0).astype(np.float64)
        self.std_ = np.where(std > 1e-8, std, 1.0)
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
        self.weights_ = w.detach().numpy().copy()  # [A, F + 1]
        self.n_features_in_ = f
        self.log_ = pd.DataFrame(rows)
        return self

    def fitted_state(self) -> dict[str, Any]:
        """The recovered reward and the standardisation as plain data."""
        if not hasattr(self, "weights_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted")
        return {
            "weights": torch.as_tensor(self.weights_),
            "mean": torch.as_tensor(self.mean_),
            "std": torch.as_tensor(self.std_),
            "n_features_in": self.n_features_in_,
            "feature_names": list(self.feature_names_),
            "log": frame_state(self.log_),
        }

    def load_fitted_state(self, state: dict[str, Any]) -> MaxEntIRLLearner:
        """Restore what :meth:`fitted_state` returned."""
        self.weights_ = state["weights"].numpy().copy()
        self.mean_, self.std_ = state["mean"].numpy().copy(), state["std"].numpy().copy()
        self.n_features_in_ = int(state["n_features_in"])
        self.feature_names_ = list(state["feature_names"])
        self.log_ = pd.DataFrame(state["log"])
        return self

    def reward(self, states: np.ndarray) -> np.ndarray:
        """Recovered reward ``r(s, a)`` [N, A] of every level at each state."""
        x = _check_states(states, self.state_dim)
        return self._phi_states(x) @ self.weights_.T

    def act_proba(self, states: np.ndarray) -> np.ndarray:
        """Max-ent policy ``π(a|s)`` [N, A] (columns in level order)."""
        x = _check_states(states, self.state_dim)
        return self._proba(self._phi_states(x), self.weights_)

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
        w = self.weights_.T.copy()  # [F + 1, A]
        if centred:
            w -= w.mean(axis=1, keepdims=True)
        return pd.DataFrame(
            w, index=[*self.feature_names_, "bias"], columns=list(action_labels(self.action_space))
        )
