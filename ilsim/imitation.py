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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from ilsim.backtest import run_backtest, run_policy_backtest, trade_step
from ilsim.metrics import compute_metrics

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

    hidden: tuple[int, ...] = (128, 128)
    lr: float = 1e-3
    batch_size: int = 256
    max_epochs: int = 40
    patience: int = 6
    val_fraction: float = 0.2
    seed: int = 0
    device: str = "cpu"


@dataclass
class TrainResult:
    model: EnsembleMLP
    history: pd.DataFrame  # epoch, agent, train_mse, val_mse
    best_epoch: list[int] = field(default_factory=list)


def split_train_val(n: int, val_fraction: float, block: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Split ``n`` consecutive rows into contiguous blocks of ``block`` bars and send every
    k-th block (k = 1 / ``val_fraction``) to validation: whole blocks keep neighbouring,
    autocorrelated bars on one side, and validation covers the whole segment (its labels near
    the end differ from those near the start)."""
    if n < 2:
        return np.arange(n), np.arange(0)
    k = max(2, int(round(1.0 / val_fraction)))
    block = max(1, min(block, n // (2 * k) or 1))
    idx = np.arange(n)
    is_val = (idx // block) % k == k - 1
    if not is_val.any():
        is_val[-1] = True
    return idx[~is_val], idx[is_val]


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

    best = torch.full((m,), float("inf"))
    best_epoch = [0] * m
    best_state = [p.detach().clone() for p in model.parameters()]
    rows, stale = [], 0
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
        improved = val < best - 1e-7
        for i in torch.nonzero(improved).flatten().tolist():
            best[i], best_epoch[i] = val[i], epoch
            for keep, p in zip(best_state, model.parameters(), strict=True):
                keep[i] = p.detach()[i]
        stale = 0 if improved.any() else stale + 1
        for i in range(m):
            rows.append(
                {
                    "epoch": epoch,
                    "agent": i + 1,
                    "train_mse": float(tot[i] / steps),
                    "val_mse": float(val[i]),
                }
            )
        bar.set_postfix(val=f"{float(val.mean()):.4f}", stale=stale)
        if stale >= cfg.patience:
            break
    with torch.no_grad():
        for keep, p in zip(best_state, model.parameters(), strict=True):
            p.copy_(keep)
    return TrainResult(model.eval(), pd.DataFrame(rows), best_epoch)


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
    ck = torch.load(path, map_location=device, weights_only=False)
    model = EnsembleMLP(ck["n_models"], ck["in_dim"], ck["hidden"]).to(device)
    model.load_state_dict(ck["state_dict"])
    return model.eval(), ck["meta"]


def action_classes(actions: np.ndarray, hold_band: float) -> np.ndarray:
    """Continuous actions → −1 (sell), 0 (hold, ``|a| <= hold_band``), +1 (buy)."""
    return np.where(actions > hold_band, 1, np.where(actions < -hold_band, -1, 0)).astype(np.int8)


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


# ============================================================================================
# Common interface of the imitation learners (BC, DAgger here; MaxEnt IRL and GAIL in
# :mod:`ilsim.irl`), after book chapters 306 and 308: demonstrations, action spaces, the
# ``Learner`` protocol, and evaluation as action accuracy plus trading metrics on replay.
# ============================================================================================

ACTION_SPACES: dict[str, tuple[float, ...] | None] = {
    "continuous": None,
    "three": (-1.0, 0.0, 1.0),
    "five": (-1.0, -0.5, 0.0, 0.5, 1.0),
}


def _space_levels(action_space: str) -> tuple[float, ...] | None:
    """Levels of a named action space (None: continuous), or a clear error."""
    if action_space not in ACTION_SPACES:
        raise ValueError(
            f"action_space must be one of {sorted(ACTION_SPACES)}, got {action_space!r}"
        )
    return ACTION_SPACES[action_space]


def to_classes(actions: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """Action values → index of the nearest level (ties: the lower level), int64."""
    lv = np.asarray(levels, dtype=np.float64)
    a = np.asarray(actions, dtype=np.float64)
    return np.abs(a[..., None] - lv).argmin(axis=-1).astype(np.int64)


def from_classes(idx: np.ndarray, levels: Sequence[float]) -> np.ndarray:
    """Level indices → action values (float64)."""
    return np.asarray(levels, dtype=np.float64)[np.asarray(idx, dtype=np.int64)]


def imitation_accuracy(
    pred: np.ndarray, expert: np.ndarray, hold_band: float = 0.1
) -> dict[str, float]:
    """Share of bars where the learner's action class equals the expert's, and the expert's
    majority-class rate (the accuracy of always answering the commonest action).

    Classes: when the expert acts in {−1, 0, 1}, sell / hold / buy by :func:`action_classes`
    (``|a| <= hold_band`` is hold, the project's reading of a continuous agent); when it uses
    the five levels, the nearest of them; otherwise (a continuous expert) sell / hold / buy.
    """
    p = np.asarray(pred, dtype=np.float64)
    e = np.asarray(expert, dtype=np.float64)
    if p.shape != e.shape:
        raise ValueError(f"pred shape {p.shape} != expert shape {e.shape}")
    if len(e) == 0:
        return {"accuracy": float("nan"), "majority_rate": float("nan")}
    five = ACTION_SPACES["five"]
    if np.isin(e, (-1.0, 0.0, 1.0)).all() or not np.isin(e, five).all():
        pc, ec = action_classes(p, hold_band), action_classes(e, hold_band)
    else:
        pc, ec = to_classes(p, five), to_classes(e, five)
    _, counts = np.unique(ec, return_counts=True)
    return {"accuracy": float(np.mean(pc == ec)), "majority_rate": float(counts.max() / len(ec))}


def segment_slices(segment_ids: np.ndarray) -> list[slice]:
    """Contiguous runs of equal ids as slices; rejects an id that reappears after another."""
    ids = np.asarray(segment_ids)
    if ids.ndim != 1:
        raise ValueError(f"segment_ids must be 1-D, got shape {ids.shape}")
    if len(ids) == 0:
        return []
    cut = np.flatnonzero(ids[1:] != ids[:-1]) + 1
    starts = np.concatenate(([0], cut))
    if len(np.unique(ids[starts])) != len(starts):
        raise ValueError("segment_ids must be contiguous: an id reappears after another id")
    ends = np.concatenate((cut, [len(ids)]))
    return [slice(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


class ActionLookup:
    """Queryable expert that returns recorded actions: ``expert(indices) = actions[indices]``
    (the hindsight and rule-based experts do not depend on the learner's portfolio)."""

    def __init__(self, actions: np.ndarray) -> None:
        self.actions = np.asarray(actions, dtype=np.float64)

    def __call__(self, indices: np.ndarray) -> np.ndarray:
        return self.actions[np.asarray(indices, dtype=np.int64)]


class _SubsetExpert:
    """An expert of a row subset: index ``k`` of the subset is row ``rows[k]`` of the parent."""

    def __init__(self, expert: Callable[[np.ndarray], np.ndarray], rows: np.ndarray) -> None:
        self.expert, self.rows = expert, rows

    def __call__(self, indices: np.ndarray) -> np.ndarray:
        return self.expert(self.rows[np.asarray(indices, dtype=np.int64)])


@dataclass
class Demonstrations:
    """Expert demonstrations on T bars.

    ``states`` [T, F] scaled market features (float32); ``actions`` [T] expert actions in
    [−1, 1]; ``prices`` [T] closes for replay; ``segment_ids`` [T] contiguous runs (replays and
    rollouts never cross a segment); ``expert`` the queryable expert: bar indices [K] into this
    set → its actions there (DAgger asks it about the states its learner visits).
    """

    states: np.ndarray
    actions: np.ndarray
    prices: np.ndarray
    segment_ids: np.ndarray
    expert: Callable[[np.ndarray], np.ndarray] | None = None

    def __post_init__(self) -> None:
        self.states = np.asarray(self.states, dtype=np.float32)
        self.actions = np.asarray(self.actions, dtype=np.float64)
        self.prices = np.asarray(self.prices, dtype=np.float64)
        self.segment_ids = np.asarray(self.segment_ids)
        n = len(self.states)
        if self.states.ndim != 2 or n == 0:
            raise ValueError(f"states must be a non-empty [T, F] array, got {self.states.shape}")
        for name in ("actions", "prices", "segment_ids"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"{name} must have shape ({n},)")
        if not np.isfinite(self.states).all():
            raise ValueError("states contain NaN or inf")
        if not np.isfinite(self.actions).all() or np.any(np.abs(self.actions) > 1):
            raise ValueError("actions must be finite and in [-1, 1]")
        if not np.isfinite(self.prices).all() or np.any(self.prices <= 0):
            raise ValueError("prices must be finite and positive")
        segment_slices(self.segment_ids)  # validates contiguity

    @classmethod
    def from_labels(
        cls,
        states: np.ndarray,
        actions: np.ndarray,
        prices: np.ndarray,
        segment_ids: np.ndarray | None = None,
    ) -> Demonstrations:
        """Demonstrations whose expert is a lookup of ``actions`` (``None`` ids: one segment)."""
        ids = np.zeros(len(prices), dtype=np.int64) if segment_ids is None else segment_ids
        return cls(states, actions, prices, ids, ActionLookup(np.asarray(actions)))

    def __len__(self) -> int:
        return len(self.actions)

    def __repr__(self) -> str:
        expert = "none" if self.expert is None else type(self.expert).__name__
        return (
            f"Demonstrations(T={len(self)}, F={self.n_features}, "
            f"segments={len(self.segments())}, expert={expert})"
        )

    @property
    def n_features(self) -> int:
        """F, the number of market features."""
        return int(self.states.shape[1])

    def segments(self) -> list[slice]:
        """The segments as slices, in order."""
        return segment_slices(self.segment_ids)

    def query_expert(self, indices: np.ndarray) -> np.ndarray:
        """The expert's actions at bar ``indices`` (error when there is no queryable expert)."""
        if self.expert is None:
            raise ValueError("these demonstrations have no queryable expert")
        out = np.asarray(self.expert(np.asarray(indices, dtype=np.int64)), dtype=np.float64)
        if out.shape != np.shape(indices):
            raise ValueError(f"expert returned shape {out.shape} for {np.shape(indices)} indices")
        return out

    def select_segments(self, ids: Sequence) -> Demonstrations:
        """The bars of the segments ``ids`` (in their original order), expert re-indexed."""
        rows = np.flatnonzero(np.isin(self.segment_ids, np.asarray(ids)))
        if rows.size == 0:
            raise ValueError(f"no bars in segments {list(ids)}")
        expert = None if self.expert is None else _SubsetExpert(self.expert, rows)
        return Demonstrations(
            self.states[rows], self.actions[rows], self.prices[rows], self.segment_ids[rows], expert
        )


class NotFittedError(ValueError, AttributeError):
    """A learner was used before ``fit`` (an AttributeError too, so ``hasattr`` is False)."""


@runtime_checkable
class Learner(Protocol):
    """What every imitation learner offers (scikit-learn style: configure, ``fit``, ``act``).

    ``state_dim`` is the number of columns ``act`` expects: F (market features only) or F + 2
    when the learner also sees its portfolio (cash / initial, holdings·price / initial).
    """

    name: str

    @property
    def state_dim(self) -> int: ...

    def fit(self, demos: Demonstrations, *, seed: int = 0, progress: bool = False) -> Learner: ...

    def act(self, states: np.ndarray) -> np.ndarray: ...


def mlp(in_dim: int, hidden: Sequence[int], out_dim: int) -> nn.Sequential:
    """Plain ReLU MLP ``in → hidden… → out`` (no output activation)."""
    dims = [in_dim, *hidden]
    layers: list[nn.Module] = []
    for a, b in zip(dims[:-1], dims[1:], strict=True):
        layers += [nn.Linear(a, b), nn.ReLU()]
    layers.append(nn.Linear(dims[-1], out_dim))
    return nn.Sequential(*layers)


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
        self.levels = _space_levels(action_space)
        self.hidden = tuple(hidden)
        self.lr, self.batch_size, self.max_epochs = lr, batch_size, max_epochs
        self.patience, self.val_fraction, self.weight_decay = patience, val_fraction, weight_decay
        self.hold_band, self.device = hold_band, device
        self.model_: nn.Sequential | None = None
        self.history_: pd.DataFrame = pd.DataFrame()

    @property
    def state_dim(self) -> int:
        """Columns ``act`` expects (set by ``fit``)."""
        if self.model_ is None:
            raise NotFittedError(f"{type(self).__name__} is not fitted")
        return int(self.model_[0].in_features)

    def _build(self, in_dim: int, seed: int) -> nn.Sequential:
        out_dim = 1 if self.levels is None else len(self.levels)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return mlp(in_dim, self.hidden, out_dim).to(self.device)

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
        if not warm_start or self.model_ is None or self.state_dim != x.shape[1]:
            self.model_ = self._build(x.shape[1], seed)
        model = self.model_
        gen = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        tr, va = split_train_val(len(x), self.val_fraction)
        xt = torch.as_tensor(x, device=self.device)
        yt = self._targets(y)
        x_tr, y_tr, x_va, y_va = xt[tr], yt[tr], xt[va], yt[va]
        epochs = self.max_epochs if max_epochs is None else max_epochs
        best = {"val_loss": float("inf"), "epoch": 0}
        best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        rows, stale = [], 0
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
            if val < best["val_loss"] - 1e-7:
                best = {"val_loss": val, "epoch": epoch}
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                stale = 0
            else:
                stale += 1
                if stale >= self.patience:
                    break
        model.load_state_dict(best_state)
        model.eval()
        self.history_ = pd.DataFrame(rows)
        row = self.history_.iloc[best["epoch"] - 1] if best["epoch"] else self.history_.iloc[-1]
        return {
            "train_loss": float(row["train_loss"]),
            "val_loss": float(row["val_loss"]),
            "val_accuracy": float(row["val_accuracy"]),
            "best_epoch": int(best["epoch"]),
            "epochs": len(rows),
        }

    @torch.no_grad()
    def act(self, states: np.ndarray) -> np.ndarray:
        """Actions [N] in [−1, 1] for states [N, state_dim]."""
        if self.model_ is None:
            raise NotFittedError(f"{type(self).__name__} is not fitted")
        x = torch.as_tensor(np.asarray(states, dtype=np.float32), device=self.device)
        return self._decode(self.model_(x))

    @torch.no_grad()
    def predict_proba(self, states: np.ndarray) -> np.ndarray:
        """Class probabilities [N, levels] (discrete action spaces only)."""
        if self.levels is None:
            raise ValueError("predict_proba needs a discrete action space")
        if self.model_ is None:
            raise NotFittedError(f"{type(self).__name__} is not fitted")
        x = torch.as_tensor(np.asarray(states, dtype=np.float32), device=self.device)
        return torch.softmax(self.model_(x), -1).double().cpu().numpy()


@dataclass
class Rollout:
    """One static-replay pass over every segment: what was observed and done at each bar."""

    observations: np.ndarray  # [T, F + 2]: features, cash / initial, holdings·price / initial
    actions: np.ndarray  # [T] executed (learner's or, with probability beta, the expert's)
    policy_actions: np.ndarray  # [T] the learner's own action (NaN where it was not asked)
    expert_actions: np.ndarray  # [T] the expert's action at each bar


def replay_rollout(
    demos: Demonstrations,
    policy: Callable[[np.ndarray], np.ndarray] | None = None,
    *,
    beta: float = 0.0,
    rng: np.random.Generator | None = None,
    initial_cash: float = 1e6,
    fee: float = 0.005,
) -> Rollout:
    """Trade every segment of ``demos`` on its static price path (fraction convention,
    :func:`ilsim.backtest.trade_step`) from ``initial_cash`` and no holdings.

    At bar t the trader observes ``[states[t], cash / initial_cash, holdings·price[t] /
    initial_cash]`` (after the fill of its previous order, at this close, as
    :func:`ilsim.backtest.run_policy_backtest`; its own order fills at the next close) and
    executes, with probability ``beta``, the expert's action, else ``policy(obs)`` (DAgger's
    mixture β·π* + (1 − β)·π̂). ``policy=None`` replays the expert alone. Segments run side by
    side, one policy call per bar offset.
    """
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must be in [0, 1], got {beta}")
    if policy is None:
        beta = 1.0
    rng = np.random.default_rng(0) if rng is None else rng
    n, f = len(demos), demos.n_features
    expert = demos.query_expert(np.arange(n))
    segs = demos.segments()
    starts = np.array([s.start for s in segs])
    lengths = np.array([s.stop - s.start for s in segs])
    obs = np.empty((n, f + 2), dtype=np.float32)
    obs[:, :f] = demos.states
    executed = np.empty(n)
    own = np.full(n, np.nan)
    cash = np.full(len(segs), float(initial_cash))
    held = np.zeros(len(segs))
    for t in range(int(lengths.max())):
        live = np.flatnonzero(t < lengths)
        idx = starts[live] + t
        price = demos.prices[idx]
        if t:  # the orders decided at bar t - 1 fill at this bar's close (the backtest's rule)
            cash[live], held[live], _ = trade_step(
                cash[live],
                held[live],
                executed[idx - 1],
                demos.prices[idx - 1],
                fee=fee,
                fill=price,
            )
        obs[idx, f] = cash[live] / initial_cash
        obs[idx, f + 1] = held[live] * price / initial_cash
        a = expert[idx].copy()
        ask = rng.random(len(live)) >= beta if beta < 1.0 else np.zeros(len(live), bool)
        if ask.any():
            mine = np.clip(np.asarray(policy(obs[idx[ask]]), dtype=np.float64), -1.0, 1.0)
            own[idx[ask]] = mine
            a[ask] = mine
        executed[idx] = a
    return Rollout(obs, executed, own, expert)


class DAggerLearner:
    """DAgger (Ross, Gordon & Bagnell 2011) on static replay, for a learner that sees its own
    portfolio — so its own actions change its future states.

    State: market features plus ``cash / initial`` and ``holdings·price / initial``.
    Iteration 0 is behavioural cloning on the expert's actions with the portfolio the expert
    itself would have had (its actions replayed, fraction convention, ``fee``). Iteration i
    (1 … ``n_iter``) rolls out β_i·π* + (1 − β_i)·π̂ with β_i = ``beta0``·``beta_decay``^(i−1)
    through every segment, labels each visited state with ``demos.expert`` at that bar,
    aggregates it with all earlier data (the dataset grows by T rows per iteration) and
    retrains from the current weights (``iter_epochs``).

    ``log_`` has one row per iteration: ``beta`` of the collecting rollout, rows added and
    aggregated, the retrain's losses, ``visited_accuracy`` (the previous policy's own actions
    against the expert on the states it collected) and ``accuracy`` (the new policy alone,
    β = 0, against the expert on the states it visits — DAgger's measure; row 0 is plain BC
    with the portfolio). ``act`` expects F + 2 columns.
    """

    name = "dagger"

    def __init__(
        self,
        action_space: str = "continuous",
        hidden: Sequence[int] = (128, 128),
        lr: float = 1e-3,
        batch_size: int = 256,
        max_epochs: int = 40,
        iter_epochs: int = 15,
        patience: int = 6,
        val_fraction: float = 0.2,
        n_iter: int = 4,
        beta0: float = 0.5,
        beta_decay: float = 0.5,
        initial_cash: float = 1e6,
        fee: float = 0.005,
        hold_band: float = 0.1,
        track_accuracy: bool = True,
        device: str = "cpu",
    ) -> None:
        self.action_space = action_space
        self.policy_ = BCLearner(
            action_space,
            hidden,
            lr,
            batch_size,
            max_epochs,
            patience,
            val_fraction,
            hold_band=hold_band,
            device=device,
        )
        self.iter_epochs, self.n_iter = iter_epochs, n_iter
        self.beta0, self.beta_decay = beta0, beta_decay
        self.initial_cash, self.fee, self.hold_band = initial_cash, fee, hold_band
        self.track_accuracy = track_accuracy
        self.log_: pd.DataFrame = pd.DataFrame()

    @property
    def state_dim(self) -> int:
        """F + 2 (market features, cash fraction, holdings value fraction)."""
        return self.policy_.state_dim

    def act(self, states: np.ndarray) -> np.ndarray:
        """Actions [N] for observations [N, F + 2]."""
        return self.policy_.act(states)

    def _on_policy_accuracy(self, demos: Demonstrations) -> float:
        ro = replay_rollout(demos, self.act, initial_cash=self.initial_cash, fee=self.fee)
        return imitation_accuracy(ro.actions, ro.expert_actions, self.hold_band)["accuracy"]

    def fit(self, demos: Demonstrations, *, seed: int = 0, progress: bool = False) -> DAggerLearner:
        """Run DAgger on ``demos`` (needs its queryable ``expert``)."""
        rng = np.random.default_rng(seed)
        expert_run = replay_rollout(demos, None, initial_cash=self.initial_cash, fee=self.fee)
        xs, ys = [expert_run.observations], [expert_run.expert_actions]
        fit = self.policy_.fit_arrays(xs[0], ys[0], seed=seed, progress=progress)
        nan = float("nan")
        rows = [
            {
                "iteration": 0,
                "beta": nan,
                "added": len(demos),
                "dataset_size": len(demos),
                "train_loss": fit["train_loss"],
                "val_loss": fit["val_loss"],
                "visited_accuracy": nan,
                "accuracy": self._on_policy_accuracy(demos) if self.track_accuracy else nan,
            }
        ]
        bar = tqdm(range(1, self.n_iter + 1), desc="DAgger", disable=not progress, leave=False)
        for i in bar:
            beta = self.beta0 * self.beta_decay ** (i - 1)
            ro = replay_rollout(
                demos,
                self.act,
                beta=beta,
                rng=rng,
                initial_cash=self.initial_cash,
                fee=self.fee,
            )
            asked = np.isfinite(ro.policy_actions)
            visited = imitation_accuracy(
                ro.policy_actions[asked], ro.expert_actions[asked], self.hold_band
            )["accuracy"]
            labels = demos.query_expert(np.arange(len(demos)))  # the expert on visited bars
            xs.append(ro.observations)
            ys.append(labels)
            fit = self.policy_.fit_arrays(
                np.concatenate(xs),
                np.concatenate(ys),
                seed=seed + i,
                warm_start=True,
                max_epochs=self.iter_epochs,
            )
            acc = self._on_policy_accuracy(demos) if self.track_accuracy else nan
            rows.append(
                {
                    "iteration": i,
                    "beta": beta,
                    "added": len(ro.actions),
                    "dataset_size": sum(len(y) for y in ys),
                    "train_loss": fit["train_loss"],
                    "val_loss": fit["val_loss"],
                    "visited_accuracy": visited,
                    "accuracy": acc,
                }
            )
            bar.set_postfix(acc=f"{acc:.3f}")
        self.log_ = pd.DataFrame(rows)
        return self


def evaluate_learner(
    learner: Learner,
    demos: Demonstrations,
    *,
    initial_cash: float = 1e6,
    fee: float = 0.005,
    hold_band: float = 0.1,
    bars_per_year: float | None = None,
) -> dict[str, float]:
    """How well a fitted learner imitates and trades on ``demos``.

    Accuracy against the expert (:func:`imitation_accuracy`) and the expert's majority-class
    rate; the learner as a trader on the static replay of each segment (fraction convention,
    from ``initial_cash``), metrics per segment by :func:`ilsim.metrics.compute_metrics`, then
    averaged over segments; the expert's own replay metrics beside them (``expert_…``). A
    learner with ``state_dim == F + 2`` trades through
    :func:`ilsim.backtest.run_policy_backtest`, which fills the portfolio columns from its own
    running account — so its accuracy is measured on the states it visits itself.
    """
    f = demos.n_features
    if learner.state_dim not in (f, f + 2):
        raise ValueError(f"learner expects {learner.state_dim} columns; demos have {f} features")
    sees_account = learner.state_dim == f + 2
    actions = np.empty(len(demos))
    keys = ("total_return_pct", "sharpe_ratio", "max_drawdown_pct", "turnover")
    if bars_per_year is not None:
        keys = (*keys, "sharpe_annualised")
    per_seg: list[dict[str, float]] = []
    expert_seg: list[dict[str, float]] = []
    open_loop = None if sees_account else np.asarray(learner.act(demos.states), dtype=np.float64)
    for s in demos.segments():
        prices = demos.prices[s]
        if sees_account:
            res, acts = run_policy_backtest(
                prices, demos.states[s], learner.act, 1, initial_cash=initial_cash, fee=fee
            )
            actions[s] = acts[0]
        else:
            actions[s] = np.clip(open_loop[s], -1.0, 1.0)
            res = run_backtest(prices, actions[s], initial_cash=initial_cash, fee=fee)
        expert_res = run_backtest(prices, demos.actions[s], initial_cash=initial_cash, fee=fee)
        for r_, out in ((res, per_seg), (expert_res, expert_seg)):
            r = r_.squeeze()
            m = compute_metrics(
                r.value, r.traded_notional, initial_value=initial_cash, bars_per_year=bars_per_year
            )
            out.append({k: m[k] for k in keys})
    result = {"n_bars": float(len(demos)), "n_segments": float(len(per_seg))}
    result.update(imitation_accuracy(actions, demos.actions, hold_band))
    result.update({k: float(np.mean([m[k] for m in per_seg])) for k in keys})
    result.update({f"expert_{k}": float(np.mean([m[k] for m in expert_seg])) for k in keys})
    return result


LEARNERS: dict[str, Callable[..., Learner]] = {"bc": BCLearner, "dagger": DAggerLearner}
_LAZY_LEARNERS = {"maxent_irl": "MaxEntIRLLearner", "gail": "GAILLearner"}


def learner_names() -> list[str]:
    """Every name :func:`make_learner` knows (the IRL ones resolve on use)."""
    return [*LEARNERS, *_LAZY_LEARNERS]


def make_learner(name: str, **kwargs) -> Learner:
    """A learner by registry name: "bc", "dagger", or (from :mod:`ilsim.irl`, imported on
    first use) "maxent_irl", "gail"; ``kwargs`` go to its constructor."""
    if name in LEARNERS:
        return LEARNERS[name](**kwargs)
    if name in _LAZY_LEARNERS:
        try:
            from ilsim import irl
        except ImportError as e:
            msg = f"learner {name!r} lives in ilsim.irl, which failed to import: {e}"
            raise ImportError(msg) from e
        cls = getattr(irl, _LAZY_LEARNERS[name], None)
        if cls is None:
            raise ImportError(f"ilsim.irl defines no {_LAZY_LEARNERS[name]} (learner {name!r})")
        return cls(**kwargs)
    raise ValueError(f"unknown learner {name!r}; choose from {learner_names()}")


@contextmanager
def cpu_threads(n: int | None) -> Iterator[None]:
    """Run the block on ``n`` intra-op threads (None: unchanged), then restore the setting:
    small networks train fastest on one thread and are then immune to oversubscription."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
