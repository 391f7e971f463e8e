"""The action synthesis network (SPEC step 5) and the residual noise of the simulator (step 6).

:class:`SynthesisNet` follows the paper: the M IL actions → a dense layer with a 10-unit
softmax (the *influence weights*, Figure 4) → hidden 128 and 64 ReLU → one output, the next
bar's simple return. It is fitted one step ahead on the ``sim_train`` segments: the actions of
the IL agents at bar t (on real features) against the return from t to t + 1.
:func:`one_step_targets` builds those pairs, never across a segment boundary (nor, optionally,
across the overnight gap).

A deterministic network gives a price path with almost no volatility: its output is the
*conditional mean* of the next return, which is tiny next to the return itself. The simulator
therefore adds noise resampled from the network's training residuals (actual − predicted) in
blocks of consecutive bars, each starting at the time of day of the env's next bar (the
simulator's own block bootstrap, ``ilsim.market.env.VectorMarket._noise``): resampling keeps
their heavy tails, and whole blocks keep their volatility clustering and intraday shape.

**Volatility head (issue 15, ours):** the paper's network has a mean head only, yet the size of
the next return may be predictable from the IL actions (issue 15's claim; what the head finds
on a run's own ``sim_train`` bars is notebook 05's ``synthesis_quality.csv``, ``vol_abs_r2``).
:class:`VolatilityHead` maps the same actions to the log-variance of the residual; it is fitted
*after* the mean head, on the mean head's residuals, by a log-square regression
(:func:`fit_volatility`; the mean head is left exactly as the paper's fit). The simulator can
then scale its standardised bootstrap residuals by the head's volatility for the pool's current
state (``market.volatility: head``).
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from ilsim.nn import EarlyStopping, split_train_val
from ilsim.nn import cpu_threads as _threads
from ilsim.params import SynthesisParams, default


class SynthesisNet(nn.Module):
    """M actions → softmax(``n_weights``) influence weights → ReLU hidden → next-bar return.

    The last layer predicts a standardised target; ``target_mean`` and ``target_std`` (buffers,
    saved with the weights) turn it into return units, so callers only ever see returns. The
    last layer starts at zero, so an untrained net predicts the training mean.
    """

    def __init__(
        self, n_agents: int, n_weights: int = 10, hidden: Sequence[int] = (128, 64)
    ) -> None:
        super().__init__()
        self.n_agents, self.n_weights, self.hidden = n_agents, n_weights, tuple(hidden)
        self.influence_layer = nn.Linear(n_agents, n_weights)
        layers: list[nn.Module] = []
        dims = [n_weights, *self.hidden]
        for a, b in zip(dims[:-1], dims[1:], strict=True):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(dims[-1], 1)
        # Start at the target mean: an early stop on noisy targets (next-bar returns are
        # nearly unpredictable) must not leave a random offset, i.e. a spurious drift.
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.register_buffer("target_mean", torch.zeros(()))
        self.register_buffer("target_std", torch.ones(()))
        # made last, so the mean head's initial weights are those of the paper's network alone
        self.vol = VolatilityHead(n_agents)

    def influence(self, actions: torch.Tensor) -> torch.Tensor:
        """Influence weights: ``actions`` [B, M] → softmax probabilities [B, n_weights]."""
        return torch.softmax(self.influence_layer(actions), dim=-1)

    def forward_standardised(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The raw (standardised) prediction [B] and the influence weights [B, n_weights]."""
        w = self.influence(actions)
        return self.head(self.body(w)).squeeze(-1), w

    def forward(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``actions`` [B, M] → (mean next-bar return [B], influence weights [B, n_weights])."""
        raw, w = self.forward_standardised(actions)
        return self.target_mean + self.target_std * raw, w

    @torch.no_grad()
    def agent_influence(self, actions: torch.Tensor, by_contribution: bool = True) -> torch.Tensor:
        """Share of each of the M agents in the influence weights: [B, M], rows sum to 1.

        The softmax ignores a shift common to all its units, so only the centred weights
        W̃[k, m] = W[k, m] − mean_k W[k, m] move the probabilities. Agent m's share of unit k is
        |W̃[k, m]·a_m| normalised over the agents (``by_contribution``: an agent that holds,
        a_m = 0, moves nothing at that bar) or |W̃[k, m]| normalised (a static share); the
        agent's influence is its shares over the units weighted by their softmax probabilities
        p_k(a): Σ_k p_k·share[k, m].
        Figure 4 plots this over a simulated period as a stacked area.
        """
        w = self.influence_layer.weight  # [K, M]
        w = (w - w.mean(0, keepdim=True)).abs()
        p = self.influence(actions)  # [B, K]
        if by_contribution:
            c = w.unsqueeze(0) * actions.abs().unsqueeze(1)  # [B, K, M]
        else:
            c = w.unsqueeze(0).expand(actions.shape[0], -1, -1)
        tot = c.sum(-1, keepdim=True)
        share = torch.where(tot > 0, c / tot.clamp_min(1e-30), 1.0 / self.n_agents)
        return (p.unsqueeze(-1) * share).sum(1)


class VolatilityHead(nn.Module):
    """IL actions [B, M] → log-variance of the next return's residual (return units squared).

    ``log_var0`` (a buffer) is the training residuals' log mean square; the MLP adds a
    state-dependent correction and starts at zero, i.e. at a constant volatility."""

    def __init__(self, n_agents: int, hidden: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_agents, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        nn.init.zeros_(self.net[2].weight)
        nn.init.zeros_(self.net[2].bias)
        self.register_buffer("log_var0", torch.zeros(()))

    def relative_log_var(self, actions: torch.Tensor) -> torch.Tensor:
        return self.net(actions).squeeze(-1)

    def forward(self, actions: torch.Tensor) -> torch.Tensor:
        """The residual's log-variance [B]."""
        return self.log_var0 + self.relative_log_var(actions)

    def scale(self, actions: torch.Tensor) -> torch.Tensor:
        """The residual's standard deviation [B] (return units)."""
        return torch.exp(0.5 * self(actions))


def fit_volatility(
    model: SynthesisNet,
    x: torch.Tensor,
    residuals: np.ndarray,
    tr: np.ndarray,
    va: np.ndarray,
    *,
    lr: float = 1e-2,
    max_steps: int = 3000,
    patience: int = 200,
) -> dict[str, float]:
    """Fit ``model.vol`` on the mean head's residuals (only the head's weights move): the head's
    log-variance regresses log e² (full-batch Adam, early stopping on the validation rows), then
    its level is set so that the training rows' standardised residuals have unit mean square.

    Why log e² and not the Gaussian likelihood: 5-minute residuals are heavy-tailed, and on the
    real ``sim_train`` bars the likelihood's fit depended on the head's initial weights while
    the log-square regression (Harvey 1976) matched a linear regression of |e| on the
    actions. Returns the validation rows' scores: the Gaussian log-likelihood gained per row
    over a constant variance (nats) and the R² of |residual| predicted by σ·√(2/π)."""
    head = model.vol
    e = np.asarray(residuals, dtype=np.float64)
    ms = float(np.mean(e[tr] ** 2)) if len(tr) else 1.0
    head.log_var0.fill_(math.log(max(ms, 1e-30)))
    z2 = torch.as_tensor(e**2 / max(ms, 1e-30), dtype=torch.float32, device=x.device)
    tr_t = torch.as_tensor(tr, device=x.device)
    va_t = torch.as_tensor(va if len(va) else tr, device=x.device)
    target = torch.log(z2 + 1e-6)
    target = target - target[tr_t].mean()

    def loss(rows: torch.Tensor) -> torch.Tensor:
        return (head.relative_log_var(x[rows]) - target[rows]) ** 2

    opt = torch.optim.Adam(head.net.parameters(), lr=lr)
    stop = EarlyStopping(head, patience)
    for i in range(max_steps):
        step = loss(tr_t).mean()
        opt.zero_grad(set_to_none=True)
        step.backward()
        opt.step()
        with torch.no_grad():
            val = float(loss(va_t).mean())
        if stop.step(val, i + 1):
            break
    stop.restore()
    with torch.no_grad():
        s = head.relative_log_var(x)
        level = float(torch.log((z2[tr_t] * torch.exp(-s[tr_t])).mean()))
        head.log_var0.add_(level)  # E[z² / σ²] = 1 on the training rows
        s = s + level
        nll = 0.5 * (s[va_t] + z2[va_t] * torch.exp(-s[va_t]))
        gain = float(0.5 * z2[va_t].mean()) - float(nll.mean())  # vs a constant variance
        sigma = head.scale(x[va_t]).double().cpu().numpy()
    absd = np.abs(e[va_t.cpu().numpy()])
    fit = sigma * math.sqrt(2 / math.pi)
    r2 = 1 - float(np.sum((absd - fit) ** 2) / max(np.sum((absd - absd.mean()) ** 2), 1e-300))
    return {"vol_nll_gain": gain, "vol_abs_r2": r2}


@dataclass
class SynthesisResult:
    """A fitted network, its curves, its residuals (return units, time order) and its scores."""

    model: SynthesisNet
    history: pd.DataFrame  # epoch, train_mse, val_mse (standardised units: 1 ≈ no skill)
    residuals: np.ndarray  # [T] actual − predicted over all rows, in the input order
    quality: dict[str, float] = field(default_factory=dict)
    # [T] the volatility head's standard deviation at each row (return units)
    residual_scale: np.ndarray | None = None


def one_step_targets(
    close: np.ndarray, segment_ids: np.ndarray, session_ids: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The one-step-ahead pairs inside segments: rows t, returns close[t+1]/close[t] − 1, ids.

    A pair is kept only if bars t and t + 1 lie in the same segment (id ≥ 0) and, when
    ``session_ids`` (e.g. the bars' dates) are given, in the same session: the overnight gap
    is no one-bar return and would dominate the squared error.
    """
    close = np.asarray(close, dtype=np.float64)
    seg = np.asarray(segment_ids)
    if len(close) != len(seg):
        raise ValueError("close and segment_ids differ in length")
    ok = (seg[:-1] >= 0) & (seg[:-1] == seg[1:])
    if session_ids is not None:
        sess = np.asarray(session_ids)
        ok &= sess[:-1] == sess[1:]
    rows = np.flatnonzero(ok)
    return rows, close[rows + 1] / close[rows] - 1.0, seg[rows]


def prediction_quality(pred: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    """How well predicted returns match actual ones.

    ``mse``; ``mse_zero`` of the zero-return baseline; ``skill`` = 1 − mse/mse_zero (1 perfect,
    0 no better than predicting no move); Pearson ``corr`` (NaN if either is constant);
    ``direction``: share of bars with a nonzero actual return whose sign the prediction gets.
    """
    pred = np.asarray(pred, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    if pred.shape != actual.shape or pred.ndim != 1:
        raise ValueError("pred and actual must be 1-D arrays of the same length")
    mse = float(np.mean((pred - actual) ** 2)) if len(pred) else np.nan
    mse_zero = float(np.mean(actual**2)) if len(actual) else np.nan
    skill = 1.0 - mse / mse_zero if mse_zero > 0 else np.nan
    corr = np.nan
    if len(pred) > 1 and pred.std() > 0 and actual.std() > 0:
        corr = float(np.corrcoef(pred, actual)[0, 1])
    moved = actual != 0
    direction = (
        float(np.mean(np.sign(pred[moved]) == np.sign(actual[moved]))) if moved.any() else np.nan
    )
    return {
        "n": float(len(pred)),
        "mse": mse,
        "mse_zero": mse_zero,
        "skill": float(skill),
        "corr": corr,
        "direction": direction,
    }


@torch.no_grad()
def predict_returns(
    model: SynthesisNet, actions: np.ndarray, batch_size: int = 65536
) -> np.ndarray:
    """Mean next-bar returns [T] for ``actions`` [T, M] (NumPy in, NumPy out)."""
    model.eval()
    dev = next(model.parameters()).device
    x = torch.as_tensor(np.asarray(actions), dtype=torch.float32)
    out = [model(x[i : i + batch_size].to(dev))[0].cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(out).double().numpy() if out else np.zeros(0)


def _split(
    n: int, val_fraction: float, segment_ids: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Block split of :func:`split_train_val`, applied to each run of one segment id, so that
    every segment contributes validation blocks and no block spans two segments."""
    if segment_ids is None:
        return split_train_val(n, val_fraction)
    cuts = np.flatnonzero(np.diff(segment_ids) != 0) + 1
    tr, va = [], []
    for a, b in zip(np.r_[0, cuts], np.r_[cuts, n], strict=True):
        t, v = split_train_val(int(b - a), val_fraction)
        tr.append(t + a)
        va.append(v + a)
    return np.concatenate(tr), np.concatenate(va)


def train_synthesis(
    actions: np.ndarray,
    next_returns: np.ndarray,
    *,
    segment_ids: np.ndarray | None = None,
    hidden: Sequence[int] = default(SynthesisParams, "hidden"),
    n_weights: int = default(SynthesisParams, "n_weights"),
    lr: float = default(SynthesisParams, "lr"),
    batch_size: int = default(SynthesisParams, "batch_size"),
    max_epochs: int = default(SynthesisParams, "max_epochs"),
    patience: int = default(SynthesisParams, "patience"),
    val_fraction: float = default(SynthesisParams, "val_fraction"),
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
    cpu_threads: int | None = 1,
) -> SynthesisResult:
    """Fit :class:`SynthesisNet` by MSE: ``actions`` [T, M] at bar t → ``next_returns`` [T].

    The caller builds the pairs inside segments only (:func:`one_step_targets`) and passes
    the rows in time order; ``segment_ids`` [T] (optional) makes the block validation split
    run within each segment. The target is standardised with the training rows' mean and std
    (kept in the model). Early stopping on the validation MSE restores the best epoch.
    ``quality`` scores the train and validation rows in return units (:func:`prediction_quality`).
    On CPU the fit runs on ``cpu_threads`` threads (None: torch's setting; restored after):
    the net is so small that more threads only add synchronisation, and on a busy machine
    their spin-waiting made the fit 10-20 times slower.
    """
    x_np = np.asarray(actions, dtype=np.float32)
    y_np = np.asarray(next_returns, dtype=np.float64)
    if x_np.ndim != 2 or y_np.shape != (len(x_np),) or len(x_np) < 2:
        raise ValueError("need actions [T, M] and next_returns [T] with T ≥ 2")
    if not (np.isfinite(x_np).all() and np.isfinite(y_np).all()):
        raise ValueError("actions or next_returns contain NaN or inf")
    seg = None if segment_ids is None else np.asarray(segment_ids)
    if seg is not None and seg.shape != (len(x_np),):
        raise ValueError("segment_ids must have one id per row")
    tr, va = _split(len(x_np), val_fraction, seg)

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    dev = torch.device(device)
    model = SynthesisNet(x_np.shape[1], n_weights, hidden).to(dev)
    mu, sd = float(y_np[tr].mean()), float(y_np[tr].std())
    model.target_mean.fill_(mu)
    model.target_std.fill_(sd if sd > 0 else 1.0)
    x = torch.as_tensor(x_np, device=dev)
    z = torch.as_tensor((y_np - mu) / float(model.target_std), dtype=torch.float32, device=dev)
    xt, zt, xv, zv = x[tr], z[tr], x[va], z[va]
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = max(1, math.ceil(len(tr) / batch_size))

    with _threads(cpu_threads if dev.type == "cpu" else None):
        stop, rows = EarlyStopping(model, patience, min_delta=1e-6), []
        bar = tqdm(range(1, max_epochs + 1), desc="synthesis", disable=not progress, leave=False)
        for epoch in bar:
            model.train()
            order = torch.randperm(len(tr), generator=gen).to(dev)
            tot = 0.0
            for i in range(steps):
                pick = order[i * batch_size : (i + 1) * batch_size]
                loss = ((model.forward_standardised(xt[pick])[0] - zt[pick]) ** 2).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                tot += float(loss.detach()) * len(pick)
            model.eval()
            with torch.no_grad():
                val = (
                    float(((model.forward_standardised(xv)[0] - zv) ** 2).mean())
                    if len(va)
                    else tot / len(tr)
                )
            rows.append({"epoch": epoch, "train_mse": tot / len(tr), "val_mse": val})
            done = stop.step(val, epoch)
            bar.set_postfix(val=f"{val:.4f}", stale=stop.stale)
            if done:
                break
    stop.restore().eval()

    pred = predict_returns(model, x_np)
    residuals = y_np - pred
    quality: dict[str, float] = {"best_epoch": float(stop.best_epoch), "epochs": float(len(rows))}
    for name, idx in (("train", tr), ("val", va)):
        for k, v in prediction_quality(pred[idx], y_np[idx]).items():
            quality[f"{name}_{k}"] = v
    with _threads(cpu_threads if dev.type == "cpu" else None):
        vol = fit_volatility(model, x, residuals, np.asarray(tr), np.asarray(va))
    quality.update({f"val_{k}": v for k, v in vol.items()})
    model.eval()
    with torch.no_grad():
        scale = model.vol.scale(x).double().cpu().numpy()
    return SynthesisResult(model, pd.DataFrame(rows), residuals, quality, scale)


def save_synthesis(
    model: SynthesisNet, residuals: np.ndarray, path: str | Path, meta: dict | None = None
) -> None:
    """Checkpoint: weights (with the target scaling), architecture, residuals and ``meta``, as
    plain data: numpy arrays are stored as tensors, so the file loads with ``weights_only=True``
    (no pickled object)."""
    torch.save(
        {
            "n_agents": model.n_agents,
            "n_weights": model.n_weights,
            "hidden": model.hidden,
            "state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
            "residuals": torch.from_numpy(np.asarray(residuals, dtype=np.float64)),
            "meta": _to_plain(meta or {}),
        },
        path,
    )


def _to_plain(x: Any) -> Any:
    """``x`` with numpy arrays as tensors and numpy scalars as Python numbers, in its dicts and
    lists: what a ``weights_only`` load accepts."""
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x))
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, dict):
        return {k: _to_plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return type(x)(_to_plain(v) for v in x)
    return x


def _from_plain(x: Any) -> Any:
    """Undo :func:`_to_plain` for arrays: every tensor back to a numpy array."""
    if isinstance(x, torch.Tensor):
        return x.cpu().numpy()
    if isinstance(x, dict):
        return {k: _from_plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return type(x)(_from_plain(v) for v in x)
    return x


def load_synthesis(path: str | Path, device: str = "cpu") -> tuple[SynthesisNet, np.ndarray, dict]:
    """Rebuild what :func:`save_synthesis` wrote: (model in eval mode, residuals, meta)."""
    try:
        ck = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as err:
        raise ValueError(
            f"{path}: a synthesis network saved with pickled numpy arrays (before issue 12); "
            "refit it (notebook 05: snakemake --forcerun simulator)"
        ) from err
    model = SynthesisNet(ck["n_agents"], ck["n_weights"], ck["hidden"]).to(device)
    if not any(k.startswith("vol.") for k in ck["state_dict"]):
        raise ValueError(
            f"{path}: a synthesis network from before the volatility head (issue 15); refit it "
            "(notebook 05: snakemake --forcerun simulator)"
        )
    model.load_state_dict(ck["state_dict"])
    meta = _from_plain(ck["meta"])
    return model.eval(), ck["residuals"].cpu().numpy(), meta
