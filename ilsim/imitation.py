"""The imitation-learning agent pool (SPEC step 4): one MLP per ``il_train`` segment.

Each agent is an MLP (two hidden layers of 128 ReLU, tanh output) fitted by MSE to the
perfect-foresight expert labels of its own segment, with Adam. The M agents are one batched
model (:class:`EnsembleMLP`: stacked weights, one ``baddbmm`` per layer), so training ten costs
about as much as training one, and the simulator evaluates all of them in one call.

Training: every step draws one minibatch from each agent's own segment. Every k-th block of
100 bars of a segment validates (:func:`split_train_val`); each agent keeps the weights of its
best validation epoch (early stopping per agent), and training ends when no agent has improved
for ``patience`` epochs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from ilsim.learners.base import action_classes
from ilsim.nn import EarlyStopping, split_train_val
from ilsim.params import ILParams, default

# In-place ``relu(h + b)`` in one pass (an ATen CPU kernel PyTorch's JIT fuser uses); act()
# falls back to separate ops where it is missing or does not apply.
_ADD_RELU_ = getattr(torch.ops.aten, "_add_relu_", None)
_ADD_RELU_DTYPES = (torch.float32, torch.float64)  # what that kernel takes


class EnsembleMLP(nn.Module):
    """M independent MLPs ``in → hidden… → 1`` (ReLU, tanh output) with stacked weights."""

    def __init__(self, n_models: int, in_dim: int, hidden: Sequence[int] = (128, 128)) -> None:
        super().__init__()
        dims = [in_dim, *hidden, 1]
        self.n_models, self.in_dim, self.hidden = n_models, in_dim, tuple(hidden)
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for a, b in zip(dims[:-1], dims[1:], strict=True):
            bound = 1.0 / math.sqrt(a)  # nn.Linear's default initialisation, per model
            self.weights.append(nn.Parameter(torch.empty(n_models, a, b).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(n_models, 1, b).uniform_(-bound, bound)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [M, B, in] (each model its own batch) → actions [M, B] in [−1, 1]."""
        h = x
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = torch.baddbmm(b, h, w)
            h = torch.tanh(h) if i == last else torch.relu(h)
        return h.squeeze(-1)

    # -- inference ---------------------------------------------------------------------------
    # ``act`` runs once per simulator step on every environment's state (N × in), so it is
    # written for speed rather than reuse of ``forward``. Activations are kept feature-major
    # ([M, width, B]: every operand of every product is then contiguous). All M agents see
    # the same states, so layer 1 is ONE matmul [M·h1, in + 1] × [in + 1, B] (a row of ones
    # carries the biases; ``forward`` would expand the input M times and run a batched
    # product). The later layers are batched products, the hidden ones followed by one fused
    # bias-add + ReLU pass on CPU. Every hidden output goes to a scratch buffer kept between
    # calls (no fresh 20 MB tensors, and their page faults, at B = 4096). The numbers equal
    # ``forward``'s up to float32 rounding (tests/test_imitation.py). Batches longer than
    # ``ACT_CHUNK_ROWS`` run in chunks of that many rows, which bounds the scratch; batches of
    # at most ``ACT_SMALL_BATCH`` rows take ``forward`` itself, which has fewer operations
    # (a single environment's step pays mostly per-operation overhead).

    ACT_CHUNK_ROWS = 4096
    ACT_SMALL_BATCH = 128

    @torch.no_grad()
    def act(self, states: torch.Tensor) -> torch.Tensor:
        """All M agents on the same states: ``states`` [B, in] → actions [B, M] in [−1, 1].

        A fresh tensor every call (only the hidden layers' scratch is reused), so results
        kept from an earlier call never change. Not safe to call from two threads at once
        on the same model (they would share the scratch).
        """
        w0 = self.weights[0]
        if states.dim() != 2 or states.shape[1] != self.in_dim:
            raise ValueError(f"states must be [B, {self.in_dim}], got {tuple(states.shape)}")
        x = states.to(device=w0.device, dtype=w0.dtype)
        m, n = self.n_models, x.shape[0]
        if n <= self.ACT_SMALL_BATCH:
            return self.forward(x.unsqueeze(0).expand(m, -1, -1)).T
        # Layer 1 of all models stacked: row block k is model k's [h1, in], and the last
        # column holds the biases (the input gets a row of ones).
        w_first = torch.cat(
            [w0.transpose(1, 2).reshape(-1, self.in_dim), self.biases[0].reshape(-1, 1)], 1
        )
        rows = self.ACT_CHUNK_ROWS
        chunks = [self._act_chunk(x[i : i + rows], w_first) for i in range(0, n, rows)]
        out = chunks[0] if len(chunks) == 1 else torch.cat(chunks, 1)
        return out.T

    def _act_chunk(self, x: torch.Tensor, w_first: torch.Tensor) -> torch.Tensor:
        """``x`` [c, in] (c ≤ ACT_CHUNK_ROWS) → tanh outputs [M, c] (a fresh tensor)."""
        m, c, k = self.n_models, x.shape[0], self.in_dim
        xa = self._scratch(-1, (k + 1, c), x)
        xa[:k] = x.T
        xa[k] = 1.0
        last = len(self.weights) - 1
        if last == 0:  # no hidden layer: the fused matmul is the whole network
            return torch.mm(w_first, xa).tanh_()
        h = torch.mm(w_first, xa, out=self._scratch(0, (w_first.shape[0], c), x)).relu_()
        h = h.view(m, -1, c)  # [M, h1, c]
        fused = _ADD_RELU_ is not None and x.device.type == "cpu" and x.dtype in _ADD_RELU_DTYPES
        for i in range(1, last):
            w, b = self.weights[i].transpose(1, 2), self.biases[i].transpose(1, 2)
            buf = self._scratch(i, (m, w.shape[1], c), x)
            if fused:
                h = _ADD_RELU_(torch.bmm(w, h, out=buf), b)  # one pass for bias and ReLU
            else:
                h = torch.baddbmm(b, w, h, out=buf).relu_()
        w, b = self.weights[last].transpose(1, 2), self.biases[last]
        return torch.baddbmm(b, w, h).tanh_().view(m, c)

    def _scratch(self, layer: int, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        """A reusable buffer of ``shape`` for layer ``layer``'s output (−1: the input with its
        row of ones), kept in the instance and grown on demand; a view of its first elements.
        At B = 4096 with hidden (128, 128) and 10 models the scratch holds about 42 MB."""
        store: dict[int, torch.Tensor] | None = self.__dict__.get("_act_scratch")
        if store is None:
            store = self.__dict__["_act_scratch"] = {}
        need = math.prod(shape)
        buf = store.get(layer)
        stale = buf is None or buf.device != like.device or buf.dtype != like.dtype
        if stale or buf.numel() < need:
            buf = store[layer] = torch.empty(need, device=like.device, dtype=like.dtype)
        return buf[:need].view(shape)

    def __getstate__(self) -> dict:
        """Pickle and deepcopy without the inference scratch."""
        state = super().__getstate__()
        state.pop("_act_scratch", None)
        return state


@dataclass
class TrainConfig:
    """Training knobs (``il`` section of the params)."""

    hidden: tuple[int, ...] = default(ILParams, "hidden")
    lr: float = default(ILParams, "lr")
    batch_size: int = default(ILParams, "batch_size")
    max_epochs: int = default(ILParams, "max_epochs")
    patience: int = default(ILParams, "patience")
    val_fraction: float = default(ILParams, "val_fraction")
    seed: int = 0
    device: str = "cpu"


@dataclass
class TrainResult:
    model: EnsembleMLP
    history: pd.DataFrame  # epoch, agent, train_mse, val_mse
    best_epoch: list[int] = field(default_factory=list)


def train_ensemble(
    datasets: Sequence[tuple[np.ndarray, np.ndarray]],
    cfg: TrainConfig,
    progress: bool = True,
) -> TrainResult:
    """Fit one agent per ``(X, y)`` dataset by MSE, all at once; see the module docstring."""
    if not datasets:
        raise ValueError("no datasets to imitate")
    in_dim = datasets[0][0].shape[1]
    for i, (x, y) in enumerate(datasets):
        if x.shape[1] != in_dim or len(x) != len(y) or len(x) < 2:
            raise ValueError(f"dataset {i}: need ≥ 2 rows of {in_dim} features and matching labels")
        if not np.isfinite(x).all():
            raise ValueError(f"dataset {i}: features contain NaN or inf")
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    dev = torch.device(cfg.device)
    m = len(datasets)
    model = EnsembleMLP(m, in_dim, cfg.hidden).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)

    tr, va = [], []
    for x, y in datasets:
        a, b = split_train_val(len(x), cfg.val_fraction)
        xt = torch.as_tensor(x, dtype=torch.float32, device=dev)
        yt = torch.as_tensor(y, dtype=torch.float32, device=dev)
        tr.append((xt[a], yt[a]))
        va.append((xt[b], yt[b]))
    n_train = torch.tensor([len(t[1]) for t in tr])
    steps = max(1, int(math.ceil(int(n_train.max()) / cfg.batch_size)))

    # Validation sets padded into one [M, V, in] batch with a mask.
    v_len = max(len(v[1]) for v in va)
    xv = torch.zeros(m, v_len, in_dim, device=dev)
    yv = torch.zeros(m, v_len, device=dev)
    mv = torch.zeros(m, v_len, device=dev)
    for i, (x, y) in enumerate(va):
        xv[i, : len(y)], yv[i, : len(y)], mv[i, : len(y)] = x, y, 1.0

    stop = EarlyStopping(model, cfg.patience, min_delta=1e-7, members=m)
    rows = []
    bar = tqdm(range(1, cfg.max_epochs + 1), desc="IL agents", disable=not progress, leave=False)
    for epoch in bar:
        model.train()
        tot = torch.zeros(m)
        for _ in range(steps):
            pick = (torch.rand(m, cfg.batch_size, generator=gen) * n_train[:, None]).long()
            xb = torch.stack([tr[i][0][pick[i].to(dev)] for i in range(m)])
            yb = torch.stack([tr[i][1][pick[i].to(dev)] for i in range(m)])
            per_model = ((model(xb) - yb) ** 2).mean(dim=1)
            opt.zero_grad(set_to_none=True)
            per_model.sum().backward()  # models share no weights: the sum trains each alone
            opt.step()
            tot += per_model.detach().cpu()
        model.eval()
        with torch.no_grad():
            val = (((model(xv) - yv) ** 2 * mv).sum(1) / mv.sum(1)).cpu()
        done = stop.step(val, epoch)
        for i in range(m):
            rows.append(
                {
                    "epoch": epoch,
                    "agent": i + 1,
                    "train_mse": float(tot[i] / steps),
                    "val_mse": float(val[i]),
                }
            )
        bar.set_postfix(val=f"{float(val.mean()):.4f}", stale=stop.stale)
        if done:
            break
    return TrainResult(stop.restore().eval(), pd.DataFrame(rows), stop.best_epoch)


def save_agents(model: EnsembleMLP, path: str | Path, meta: dict | None = None) -> None:
    """Checkpoint: weights plus what is needed to rebuild the model."""
    torch.save(
        {
            "n_models": model.n_models,
            "in_dim": model.in_dim,
            "hidden": model.hidden,
            "state_dict": model.state_dict(),
            "meta": meta or {},
        },
        path,
    )


def load_agents(path: str | Path, device: str = "cpu") -> tuple[EnsembleMLP, dict]:
    """Rebuild an :class:`EnsembleMLP` saved by :func:`save_agents`."""
    ck = torch.load(path, map_location=device, weights_only=True)
    model = EnsembleMLP(ck["n_models"], ck["in_dim"], ck["hidden"]).to(device)
    model.load_state_dict(ck["state_dict"])
    return model.eval(), ck["meta"]


def fit_quality(pred: np.ndarray, labels: np.ndarray, hold_band: float) -> dict[str, float]:
    """How well an agent imitates: MSE, accuracy of its action class, the majority-class rate."""
    cls = action_classes(pred, hold_band)
    counts = np.bincount(labels.astype(int) + 1, minlength=3)
    return {
        "mse": float(np.mean((pred - labels) ** 2)),
        "accuracy": float(np.mean(cls == labels)),
        "majority_rate": float(counts.max() / max(1, counts.sum())),
    }


def diversity_summary(actions: np.ndarray, hold_band: float) -> pd.DataFrame:
    """Per agent: share of buy / hold / sell bars and mean |action| (``actions`` [T, M])."""
    cls = action_classes(actions, hold_band)
    return pd.DataFrame(
        {
            "agent": [f"IL{i + 1}" for i in range(actions.shape[1])],
            "buy_share": (cls == 1).mean(0),
            "hold_share": (cls == 0).mean(0),
            "sell_share": (cls == -1).mean(0),
            "mean_abs_action": np.abs(actions).mean(0),
        }
    )


def action_correlation(actions: np.ndarray) -> pd.DataFrame:
    """Pairwise Pearson correlation of the agents' action sequences (constant agents: NaN)."""
    names = [f"IL{i + 1}" for i in range(actions.shape[1])]
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(actions.T)
    return pd.DataFrame(np.atleast_2d(corr), index=names, columns=names)
