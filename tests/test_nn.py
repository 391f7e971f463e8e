"""The shared torch parts: the MLP builder, the thread guard, the block split, early stopping."""

import numpy as np
import pytest
import torch
from torch import nn

from ilsim.nn import EarlyStopping, cpu_threads, mlp, split_train_val


def test_mlp_layers_and_activation():
    net = mlp(5, (8, 4), 2)
    kinds = [type(m) for m in net]
    assert kinds == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]
    assert net(torch.zeros(3, 5)).shape == (3, 2)
    tanh = mlp(5, (8,), 1, nn.Tanh)
    assert [type(m) for m in tanh] == [nn.Linear, nn.Tanh, nn.Linear]
    torch.manual_seed(0)
    a = mlp(5, (8,), 1)
    torch.manual_seed(0)
    b = mlp(5, (8,), 1, nn.Tanh)  # the activation draws nothing: same initial weights
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))


def test_cpu_threads_restores_the_setting():
    before = torch.get_num_threads()
    with cpu_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with cpu_threads(None):
        assert torch.get_num_threads() == before


def test_split_is_disjoint_blocked_and_covers():
    tr, va = split_train_val(1000, 0.2)
    assert len(np.intersect1d(tr, va)) == 0 and len(tr) + len(va) == 1000
    assert 0.15 < len(va) / 1000 < 0.25
    assert va.min() < 500 < va.max()  # validation spans the segment
    assert np.sum(np.diff(va) > 1) <= 5  # a few whole blocks, not scattered bars
    assert split_train_val(1, 0.2)[1].size == 0


def _set(net: nn.Module, value: float) -> None:
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(value)


def test_early_stopping_keeps_the_best_weights_and_stops_after_patience():
    net = nn.Linear(2, 1)
    stop = EarlyStopping(net, patience=2, min_delta=0.1)
    scores = [1.0, 0.5, 0.45, 0.3, 0.7, 0.8]  # 0.45 is not better by more than 0.1
    stopped = []
    for epoch, score in enumerate(scores, start=1):
        _set(net, float(epoch))
        stopped.append(stop.step(score, epoch))
    assert stopped == [False, False, False, False, False, True]
    assert stop.best_epoch == 4 and stop.best == 0.3
    stop.restore()
    assert all(torch.all(p == 4.0) for p in net.parameters())
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(net, patience=-1)


def test_early_stopping_per_member_of_an_ensemble():
    net = nn.Linear(3, 2)  # the weight's first dimension stands for two members
    stop = EarlyStopping(net, patience=1, members=2)
    _set(net, 1.0)
    assert not stop.step(torch.tensor([0.5, 0.5]), 1)
    _set(net, 2.0)
    assert not stop.step(torch.tensor([0.4, 0.9]), 2)  # member 0 improves, member 1 does not
    _set(net, 3.0)
    assert stop.step(torch.tensor([0.6, 0.6]), 3)  # nobody improves: patience 1 is spent
    assert stop.best_epoch == [2, 1]
    stop.restore()
    assert torch.all(net.weight[0] == 2.0) and torch.all(net.weight[1] == 1.0)


def test_early_stopping_higher_is_better_later_ties_and_no_patience():
    """DDPG's selection: the highest score wins, a tie keeps the later (longer-trained) weights
    without resetting the patience, NaN never counts, patience 0 never stops; a member never
    scored is left alone by a restore of the scored ones; state_dict resumes exactly."""
    net = nn.Linear(3, 3)  # three members
    stop = EarlyStopping(
        net, patience=0, members=3, higher_is_better=True, later_ties=True, dtype=torch.float64
    )
    nan = float("nan")
    for epoch, scores in enumerate([[0.0, 1.0, nan], [0.0, 2.0, nan], [-1.0, 1.5, nan]], 1):
        _set(net, float(epoch))
        assert not stop.step(torch.tensor(scores, dtype=torch.float64), epoch)
    assert stop.best_epoch == [2, 2, 0] and stop.stale == 1
    assert stop.scored() == [True, True, False]
    saved = stop.state_dict()
    other = EarlyStopping(
        net, patience=2, members=3, higher_is_better=True, later_ties=True, dtype=torch.float64
    )
    other.load_state_dict(saved)
    assert other.step(torch.tensor([-1.0, 0.0, nan], dtype=torch.float64), 4)  # stale 2
    copy_ = nn.Linear(3, 3)
    _set(copy_, 9.0)
    stop.restore(into=copy_, members=[0, 1])
    assert torch.all(copy_.weight[:2] == 2.0) and torch.all(copy_.weight[2] == 9.0)
    assert torch.all(net.weight == 3.0)  # the model itself is untouched
    single = EarlyStopping(net, patience=1, higher_is_better=True, later_ties=True)
    _set(net, 1.0)
    single.step(0.5, 1)
    _set(net, 2.0)
    assert single.step(0.5, 2) and single.best_epoch == 2  # a tie: later weights, stale 1
