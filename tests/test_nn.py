"""The shared torch parts: the MLP builder, the thread guard, the block split."""

import numpy as np
import torch
from torch import nn

from ilsim.nn import cpu_threads, mlp, split_train_val


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
