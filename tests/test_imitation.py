"""The batched IL agent pool: equivalence to separate MLPs, learning, seeding, early stopping."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from ilsim import imitation
from ilsim.nn import split_train_val


def separable(n: int, seed: int, flip: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Labels that a small MLP can represent: the sign of feature 0, hold near zero."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(n, 4)).astype(np.float32)
    z = x[:, 0] - 0.5
    y = np.where(z > 0.15, 1.0, np.where(z < -0.15, -1.0, 0.0)).astype(np.float32)
    return x, (-y if flip else y)


def test_ensemble_equals_separate_mlps():
    torch.manual_seed(0)
    ens = imitation.EnsembleMLP(3, 5, (7, 6))
    x = torch.randn(3, 11, 5)
    out = ens(x)
    for m in range(3):
        layers = []
        for i, (w, b) in enumerate(zip(ens.weights, ens.biases, strict=True)):
            lin = nn.Linear(w.shape[1], w.shape[2])
            lin.weight.data, lin.bias.data = w[m].T.detach(), b[m, 0].detach()
            layers += [lin, nn.Tanh() if i == len(ens.weights) - 1 else nn.ReLU()]
        ref = nn.Sequential(*layers)(x[m]).squeeze(-1)
        assert torch.allclose(out[m], ref, atol=1e-6)
    same = ens.act(x[0])
    ref = ens(x[0].expand(3, -1, -1))[1]
    assert same.shape == (11, 3) and torch.allclose(same[:, 1], ref, atol=1e-6)


def test_models_do_not_share_gradients():
    ens = imitation.EnsembleMLP(2, 3)
    x = torch.randn(2, 4, 3)
    ens(x)[0].sum().backward()
    for w in ens.weights:
        assert w.grad[0].abs().sum() > 0 and w.grad[1].abs().sum() == 0


def test_agents_learn_their_own_segment():
    data = [separable(1500, 1), separable(1500, 2, flip=True)]
    cfg = imitation.TrainConfig(hidden=(32, 32), lr=3e-3, max_epochs=40, patience=8, seed=0)
    res = imitation.train_ensemble(data, cfg, progress=False)
    for i, (x, y) in enumerate(data):
        pred = res.model.act(torch.as_tensor(x))[:, i].numpy()
        q = imitation.fit_quality(pred, y, hold_band=0.5)
        assert q["accuracy"] > 0.85 > q["majority_rate"] + 0.3
    # agent 2 learned the mirror image: the two disagree on clear cases
    x, y = data[0]
    both = res.model.act(torch.as_tensor(x)).numpy()
    clear = np.abs(y) == 1
    assert np.corrcoef(both[clear, 0], both[clear, 1])[0, 1] < -0.8


def test_seeded_and_best_epoch_restored():
    data = [separable(400, 3), separable(300, 4)]
    cfg = imitation.TrainConfig(hidden=(16,), max_epochs=6, patience=10, seed=5)
    a = imitation.train_ensemble(data, cfg, progress=False)
    b = imitation.train_ensemble(data, cfg, progress=False)
    for pa, pb in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(pa, pb)
    h = a.history
    for i in range(2):
        rows = h[h["agent"] == i + 1]
        best = rows["val_mse"].min()
        assert int(rows.loc[rows["val_mse"].idxmin(), "epoch"]) == a.best_epoch[i]
        x, y = data[i]
        _, va = split_train_val(len(y), cfg.val_fraction)
        pred = a.model.act(torch.as_tensor(x[va]))[:, i]
        assert float(((pred - torch.as_tensor(y[va])) ** 2).mean()) == pytest.approx(best, rel=1e-5)


def test_bad_inputs():
    x, y = separable(50, 0)
    x[3, 1] = np.nan
    with pytest.raises(ValueError, match="dataset 0: features contain NaN"):
        imitation.train_ensemble([(x, y)], imitation.TrainConfig(), progress=False)
    with pytest.raises(ValueError, match="no datasets"):
        imitation.train_ensemble([], imitation.TrainConfig(), progress=False)


def test_save_load_round_trip(tmp_path):
    ens = imitation.EnsembleMLP(2, 3, (8,))
    imitation.save_agents(ens, tmp_path / "a.pt", {"segments": [4, 7]})
    back, meta = imitation.load_agents(tmp_path / "a.pt")
    x = torch.randn(5, 3)
    assert torch.equal(ens.act(x), back.act(x)) and meta == {"segments": [4, 7]}


def test_diversity_helpers():
    acts = np.array([[0.5, 0.0, -0.5], [0.9, 0.0, -0.2], [-0.5, 0.0, 0.05]])
    s = imitation.diversity_summary(acts, hold_band=0.1)
    assert s["buy_share"].tolist() == pytest.approx([2 / 3, 0, 0])
    assert s["hold_share"].tolist() == pytest.approx([0, 1, 1 / 3])
    corr = imitation.action_correlation(acts)
    assert np.isnan(corr.loc["IL1", "IL2"]) and corr.loc["IL1", "IL1"] == pytest.approx(1.0)


def _forward_reference(ens: imitation.EnsembleMLP, x: torch.Tensor) -> torch.Tensor:
    """The training path on the inference task: every model on the same states, [B, M]."""
    with torch.no_grad():
        return ens(x.unsqueeze(0).expand(ens.n_models, -1, -1)).T


@pytest.mark.parametrize("fused_relu", [True, False])
@pytest.mark.parametrize("hidden", [(128, 128), (16,), (), (7, 6, 5)])
def test_act_equals_forward(hidden, fused_relu, monkeypatch):
    """The fused inference path (one first-layer matmul, reused scratch, chunked rows) gives
    the training forward's numbers, for any depth and batch size, chunk boundaries included,
    with or without the one-pass bias + ReLU kernel."""
    if not fused_relu:
        monkeypatch.setattr(imitation, "_ADD_RELU_", None)
    torch.manual_seed(1)
    ens = imitation.EnsembleMLP(10, 10, hidden)
    with torch.no_grad():  # larger biases than the default init, so ReLUs cut both ways
        for b in ens.biases:
            b.normal_(0.0, 0.5)
    ens.ACT_CHUNK_ROWS, ens.ACT_SMALL_BATCH = 64, 3
    for n in (1, 5, 64, 200, 130, 5, 3):  # small, growing, shrinking and chunked batches
        x = torch.randn(n, 10) * 2
        out = ens.act(x)
        assert out.shape == (n, 10) and out.dtype == torch.float32
        assert torch.allclose(out, _forward_reference(ens, x), atol=1e-5, rtol=0)
    assert ens.act(torch.randn(0, 10)).shape == (0, 10)
    with pytest.raises(ValueError, match="states must be"):
        ens.act(torch.randn(3, 9))


def test_act_returns_fresh_tensors_and_follows_weight_changes():
    """A result kept from one call is not overwritten by the next (the scratch is internal);
    training steps and reloaded weights are seen at once; the scratch is not pickled."""
    torch.manual_seed(2)
    ens = imitation.EnsembleMLP(3, 4, (32, 32))
    x1, x2 = torch.randn(300, 4), torch.randn(300, 4)  # above ACT_SMALL_BATCH
    a1 = ens.act(x1)
    keep = a1.clone()
    ens.act(x2)
    assert torch.equal(a1, keep)
    opt = torch.optim.SGD(ens.parameters(), lr=0.5)
    ens(x1.expand(3, -1, -1)).sum().backward()
    opt.step()
    assert torch.allclose(ens.act(x1), _forward_reference(ens, x1), atol=1e-5)
    assert not torch.allclose(ens.act(x1), keep, atol=1e-3)
    other = imitation.EnsembleMLP(3, 4, (32, 32))
    ens.load_state_dict(other.state_dict())
    assert torch.allclose(ens.act(x2), _forward_reference(other, x2), atol=1e-5)
    assert "_act_scratch" in vars(ens)
    clone = copy.deepcopy(ens)
    assert "_act_scratch" not in vars(clone)
    assert torch.equal(clone.act(x2), ens.act(x2))


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_act_other_dtypes(dtype):
    """A model cast to another dtype acts in it (bfloat16: no fused ReLU kernel there);
    float32 states are cast to the model's dtype."""
    torch.manual_seed(3)
    ens = imitation.EnsembleMLP(4, 6, (32, 32)).to(dtype)
    x = torch.randn(300, 6)
    out = ens.act(x)
    assert out.dtype == dtype and out.shape == (300, 4)
    tol = 1e-10 if dtype == torch.float64 else 2e-2
    assert torch.allclose(out, _forward_reference(ens, x.to(dtype)), atol=tol, rtol=0)
