"""Behavioural cloning (chapter 302; the paper's IL agent with ``action_space="continuous"``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from ilsim.learners.base import (
    Demonstrations,
    NotFittedError,
    _space_levels,
    frame_state,
    from_classes,
    imitation_accuracy,
    module_state,
    to_classes,
)
from ilsim.nn import EarlyStopping, mlp, split_train_val


class BCLearner:
    """Behavioural cloning: supervised regression / classification of the expert's actions.

    ``action_space="continuous"``: one tanh output fitted by MSE — the paper's IL agent (two
    hidden layers of 128 ReLU). ``"three"`` / ``"five"``: one logit per level, softmax
    cross-entropy on the nearest level of each expert action; ``act`` returns the level of the
    argmax. Adam, shuffled minibatches, every k-th block of 100 rows validates
    (:func:`split_train_val`); the best validation epoch's weights are kept and training stops
    after ``patience`` epochs without improvement.
    """

    name = "bc"

    def __init__(
        self,
        action_space: str = "continuous",
        hidden: Sequence[int] = (128, 128),
        lr: float = 1e-3,
        batch_size: int = 256,
        max_epochs: int = 40,
        patience: int = 6,
        val_fraction: float = 0.2,
        weight_decay: float = 0.0,
        hold_band: float = 0.1,
        device: str = "cpu",
    ) -> None:
        self.action_space = action_space
        self.hidden = hidden
        self.lr, self.batch_size, self.max_epochs = lr, batch_size, max_epochs
        self.patience, self.val_fraction, self.weight_decay = patience, val_fraction, weight_decay
        self.hold_band, self.device = hold_band, device

    @property
    def levels(self) -> tuple[float, ...] | None:
        """The action levels of ``action_space`` (None: continuous)."""
        return _space_levels(self.action_space)

    @property
    def state_dim(self) -> int:
        """Columns ``act`` expects (set by ``fit``)."""
        if not hasattr(self, "model_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted")
        return int(self.model_[0].in_features)

    def _build(self, in_dim: int, seed: int) -> nn.Sequential:
        out_dim = 1 if self.levels is None else len(self.levels)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return mlp(in_dim, tuple(self.hidden), out_dim).to(self.device)

    def _targets(self, y: np.ndarray) -> torch.Tensor:
        if self.levels is None:
            return torch.as_tensor(y, dtype=torch.float32, device=self.device)
        return torch.as_tensor(to_classes(y, self.levels), device=self.device)

    def _loss(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.levels is None:
            return ((torch.tanh(out.squeeze(-1)) - target) ** 2).mean()
        return nn.functional.cross_entropy(out, target)

    def _decode(self, out: torch.Tensor) -> np.ndarray:
        if self.levels is None:
            return torch.tanh(out.squeeze(-1)).double().cpu().numpy()
        return from_classes(out.argmax(-1).cpu().numpy(), self.levels)

    def fit(self, demos: Demonstrations, *, seed: int = 0, progress: bool = False) -> BCLearner:
        """Clone the expert actions of ``demos`` from its market features."""
        self.fit_arrays(demos.states, demos.actions, seed=seed, progress=progress)
        return self

    def fit_arrays(
        self,
        x: np.ndarray,
        y: np.ndarray,
        *,
        seed: int = 0,
        warm_start: bool = False,
        max_epochs: int | None = None,
        progress: bool = False,
    ) -> dict[str, float]:
        """Fit on states ``x`` [N, D] and expert actions ``y`` [N]; ``warm_start`` continues
        from the current weights (DAgger). Returns the best epoch's losses and accuracy."""
        x = np.asarray(x, dtype=np.float32)
        y = np.asarray(y, dtype=np.float64)
        if x.ndim != 2 or len(x) != len(y) or len(x) < 2:
            raise ValueError("need >= 2 rows of states [N, D] and matching actions [N]")
        if not np.isfinite(x).all():
            raise ValueError("states contain NaN or inf")
        if not warm_start or not hasattr(self, "model_") or self.state_dim != x.shape[1]:
            self.model_ = self._build(x.shape[1], seed)
        model = self.model_
        gen = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        tr, va = split_train_val(len(x), self.val_fraction)
        xt = torch.as_tensor(x, device=self.device)
        yt = self._targets(y)
        x_tr, y_tr, x_va, y_va = xt[tr], yt[tr], xt[va], yt[va]
        epochs = self.max_epochs if max_epochs is None else max_epochs
        stop = EarlyStopping(model, self.patience, min_delta=1e-7)
        rows = []
        bar = tqdm(range(1, epochs + 1), desc=self.name, disable=not progress, leave=False)
        for epoch in bar:
            model.train()
            perm = torch.randperm(len(tr), generator=gen).to(self.device)
            tot, n_b = 0.0, 0
            for i in range(0, len(tr), self.batch_size):
                b = perm[i : i + self.batch_size]
                loss = self._loss(model(x_tr[b]), y_tr[b])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                tot, n_b = tot + float(loss.detach()), n_b + 1
            model.eval()
            with torch.no_grad():
                out = model(x_va) if len(va) else None
                val = float(self._loss(out, y_va)) if out is not None else tot / n_b
                acc = (
                    imitation_accuracy(self._decode(out), y[va], self.hold_band)["accuracy"]
                    if out is not None
                    else float("nan")
                )
            rows.append(
                {"epoch": epoch, "train_loss": tot / n_b, "val_loss": val, "val_accuracy": acc}
            )
            bar.set_postfix(val=f"{val:.4f}")
            if stop.step(val, epoch):
                break
        stop.restore().eval()
        self.history_ = pd.DataFrame(rows)
        row = self.history_.iloc[stop.best_epoch - 1] if stop.best_epoch else self.history_.iloc[-1]
        return {
            "train_loss": float(row["train_loss"]),
            "val_loss": float(row["val_loss"]),
            "val_accuracy": float(row["val_accuracy"]),
            "best_epoch": int(stop.best_epoch),
            "epochs": len(rows),
        }

    def fitted_state(self) -> dict[str, Any]:
        """The fitted network and its curve as plain data (:func:`ilsim.learners.to_state`)."""
        if not hasattr(self, "model_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted")
        return {
            "in_dim": self.state_dim,
            "model": module_state(self.model_),
            "history": frame_state(getattr(self, "history_", pd.DataFrame())),
        }

    def load_fitted_state(self, state: dict[str, Any]) -> BCLearner:
        """Restore what :meth:`fitted_state` returned."""
        self.model_ = self._build(int(state["in_dim"]), 0)
        self.model_.load_state_dict(state["model"])
        self.history_ = pd.DataFrame(state["history"])
        return self

    @torch.no_grad()
    def act(self, states: np.ndarray) -> np.ndarray:
        """Actions [N] in [−1, 1] for states [N, state_dim]."""
        if not hasattr(self, "model_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted")
        x = torch.as_tensor(np.asarray(states, dtype=np.float32), device=self.device)
        return self._decode(self.model_(x))

    @torch.no_grad()
    def act_proba(self, states: np.ndarray) -> np.ndarray:
        """Class probabilities [N, levels] (discrete action spaces only)."""
        if self.levels is None:
            raise ValueError("act_proba needs a discrete action space")
        if not hasattr(self, "model_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted")
        x = torch.as_tensor(np.asarray(states, dtype=np.float32), device=self.device)
        return torch.softmax(self.model_(x), -1).double().cpu().numpy()
