"""The action synthesis network: shapes, scaling, learning, seeding, residuals, noise."""

import numpy as np
import pytest
import torch

from ilsim import synthesis
from ilsim.nn import split_train_val


def synthetic_pairs(t: int, m: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Actions in [−1, 1] and next returns = 0.001·(mean action) + small noise."""
    rng = np.random.default_rng(seed)
    a = np.tanh(rng.normal(0, 1.5, size=(t, m))).astype(np.float32)
    r = 0.001 * a.mean(1) + rng.normal(0, 1e-4, size=t)
    return a, r


@pytest.fixture(scope="module")
def fitted() -> tuple[np.ndarray, np.ndarray, synthesis.SynthesisResult]:
    a, r = synthetic_pairs(4000)
    res = synthesis.train_synthesis(
        a, r, hidden=(32, 16), lr=3e-3, batch_size=256, max_epochs=40, patience=6, progress=False
    )
    return a, r, res


def test_forward_shapes_and_weights_sum_to_one():
    net = synthesis.SynthesisNet(7)
    x = torch.rand(13, 7) * 2 - 1
    mean, w = net(x)
    assert mean.shape == (13,) and w.shape == (13, 10)
    assert torch.allclose(w.sum(1), torch.ones(13)) and (w >= 0).all()
    assert torch.equal(net.influence(x), w)
    infl = net.agent_influence(x)
    assert infl.shape == (13, 7) and torch.allclose(infl.sum(1), torch.ones(13))
    static = net.agent_influence(x, by_contribution=False)
    assert torch.allclose(static.sum(1), torch.ones(13))
    # a holding agent (action 0) has no share by contribution
    x[:, 2] = 0
    assert torch.all(net.agent_influence(x)[:, 2] == 0)
    # all agents holding: an even split
    assert torch.allclose(net.agent_influence(torch.zeros(2, 7)), torch.full((2, 7), 1 / 7))


def test_output_is_unscaled():
    net = synthesis.SynthesisNet(4, hidden=(8, 8))
    net.target_mean.fill_(2e-4)
    net.target_std.fill_(3e-3)
    x = torch.randn(9, 4)
    assert torch.allclose(net(x)[0], torch.full((9,), 2e-4))  # untrained: the target mean
    torch.nn.init.normal_(net.head.weight)
    raw, w = net.forward_standardised(x)
    mean, w2 = net(x)
    assert torch.allclose(mean, 2e-4 + 3e-3 * raw) and torch.equal(w, w2)


def test_learns_a_synthetic_relation(fitted):
    a, r, res = fitted
    q = res.quality
    assert q["val_corr"] > 0.8 and q["val_skill"] > 0.5
    _, va = split_train_val(len(r), 0.2)
    zero = synthesis.prediction_quality(np.zeros(len(va)), r[va])
    assert zero["skill"] == 0
    assert list(res.history.columns) == ["epoch", "train_mse", "val_mse"]
    assert res.history["val_mse"].min() < 0.5  # standardised units: 1 ≈ no skill


def test_residuals_are_actual_minus_predicted(fitted):
    a, r, res = fitted
    assert res.residuals.shape == (len(r),)
    pred = synthesis.predict_returns(res.model, a)
    assert np.allclose(res.residuals, r - pred, atol=1e-9)
    assert np.std(res.residuals) < 0.5 * np.std(r)


def test_seeded_and_best_epoch_restored():
    a, r = synthetic_pairs(1500, seed=3)
    kw = dict(hidden=(16, 8), max_epochs=8, patience=3, progress=False)
    threads = torch.get_num_threads()
    one = synthesis.train_synthesis(a, r, seed=5, **kw)
    assert torch.get_num_threads() == threads  # the fit's thread setting is restored
    two = synthesis.train_synthesis(a, r, seed=5, **kw)
    other = synthesis.train_synthesis(a, r, seed=6, **kw)
    for (k, p), q in zip(
        one.model.state_dict().items(), two.model.state_dict().values(), strict=True
    ):
        assert torch.equal(p, q), k
    assert not torch.equal(one.model.head.weight, other.model.head.weight)
    # the restored weights are those of the best validation epoch
    h = one.history
    best = int(h["val_mse"].idxmin())
    assert one.quality["best_epoch"] == h["epoch"][best]
    _, va = split_train_val(len(r), 0.2)
    x = torch.as_tensor(a[va])
    z = (torch.as_tensor(r[va]) - one.model.target_mean) / one.model.target_std
    with torch.no_grad():
        val = float(((one.model.forward_standardised(x)[0] - z) ** 2).mean())
    assert val == pytest.approx(h["val_mse"].min(), rel=1e-4)


def test_split_by_segments():
    a, r = synthetic_pairs(900, seed=1)
    seg = np.repeat([23, 24, 25], 300)
    res = synthesis.train_synthesis(
        a, r, segment_ids=seg, hidden=(8, 8), max_epochs=2, patience=2, progress=False
    )
    assert res.quality["val_n"] == 3 * len(split_train_val(300, 0.2)[1])
    with pytest.raises(ValueError):
        synthesis.train_synthesis(a, r, segment_ids=seg[:-1], progress=False)


def test_one_step_targets_stay_inside_segments_and_sessions():
    close = np.array([100.0, 101, 102, 103, 104, 105, 106])
    seg = np.array([-1, 1, 1, 1, 2, 2, 2])
    rows, ret, ids = synthesis.one_step_targets(close, seg)
    assert rows.tolist() == [1, 2, 4, 5] and ids.tolist() == [1, 1, 2, 2]
    assert np.allclose(ret, close[rows + 1] / close[rows] - 1)
    day = np.array([0, 0, 0, 1, 1, 1, 1])
    rows, _, _ = synthesis.one_step_targets(close, seg, session_ids=day)
    assert rows.tolist() == [1, 4, 5]


def test_prediction_quality_by_hand():
    actual = np.array([0.01, -0.02, 0.0, 0.03, -0.01])
    perfect = synthesis.prediction_quality(actual, actual)
    assert perfect["mse"] == 0 and perfect["skill"] == 1
    assert perfect["corr"] == pytest.approx(1) and perfect["direction"] == 1
    zero = synthesis.prediction_quality(np.zeros(5), actual)
    assert zero["skill"] == 0 and np.isnan(zero["corr"]) and zero["direction"] == 0
    assert zero["mse_zero"] == pytest.approx(np.mean(actual**2))
    flipped = synthesis.prediction_quality(-actual, actual)
    assert flipped["direction"] == 0 and flipped["skill"] == pytest.approx(-3)
    assert flipped["corr"] == pytest.approx(-1)


def test_save_load_round_trip(tmp_path, fitted):
    a, _, res = fitted
    path = tmp_path / "synthesis.pt"
    scale = np.arange(6.0)[::-1]  # a strided view, as the simulator's residual tables can be
    given = {"segments": [23, 24, 25], "sigma_bar": np.float64(2.5), "residual_scale": scale}
    synthesis.save_synthesis(res.model, res.residuals, path, given)
    torch.load(path, weights_only=True)  # plain data: no pickled object
    model, residuals, meta = synthesis.load_synthesis(path)
    assert meta["segments"] == [23, 24, 25] and meta["sigma_bar"] == 2.5
    assert isinstance(meta["residual_scale"], np.ndarray)
    assert np.array_equal(meta["residual_scale"], scale)
    assert np.array_equal(residuals, res.residuals)
    x = torch.as_tensor(a[:100])
    with torch.no_grad():
        assert torch.equal(model(x)[0], res.model(x)[0])
    assert model.target_std == res.model.target_std and model.hidden == (32, 16)
    # a file of the old format (numpy pickled) gets the refit message, not a pickle error
    old = tmp_path / "old.pt"
    torch.save({"residuals": np.zeros(3)}, old)
    with pytest.raises(ValueError, match="refit"):
        synthesis.load_synthesis(old)


def test_volatility_head_finds_a_planted_volatility_and_leaves_the_mean_head_alone():
    """|r| planted to grow with agent 1's action: the head's likelihood beats a constant
    variance out of sample and its σ tracks the planted one; the mean head is the same fit
    as without the head's data (it is fitted after, on the mean head's residuals)."""
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, (6000, 3)).astype(np.float32)
    sigma = 1e-3 * np.exp(0.8 * a[:, 1])
    r = 2e-4 * a[:, 0] + sigma * rng.standard_normal(6000)
    res = synthesis.train_synthesis(a, r, max_epochs=30, patience=5, progress=False, seed=1)
    q = res.quality
    assert q["val_vol_nll_gain"] > 0.05 and q["val_vol_abs_r2"] > 0.05, q
    corr = np.corrcoef(np.log(res.residual_scale), np.log(sigma))[0, 1]
    assert corr > 0.8, corr
    # fitting the head moves the head's weights only, never the mean head's
    import copy

    m2 = copy.deepcopy(res.model)
    m2.vol.net[2].weight.data.zero_()  # restart the head
    before = {k: v.clone() for k, v in m2.state_dict().items()}
    synthesis.fit_volatility(
        m2,
        torch.as_tensor(a),
        res.residuals,
        np.arange(5000),
        np.arange(5000, 6000),
        max_steps=3,
    )
    for k, v in m2.state_dict().items():
        same = torch.equal(v, before[k])
        assert same or k.startswith("vol."), k  # the mean head never moves
    assert not torch.equal(m2.vol.net[2].weight, before["vol.net.2.weight"])


def test_a_constant_volatility_gives_the_head_nothing():
    rng = np.random.default_rng(1)
    a = rng.uniform(-1, 1, (6000, 3)).astype(np.float32)
    r = 1e-3 * rng.standard_normal(6000)
    res = synthesis.train_synthesis(a, r, max_epochs=30, patience=5, progress=False, seed=1)
    assert abs(res.quality["val_vol_nll_gain"]) < 0.02, res.quality
    assert res.residual_scale.std() / res.residual_scale.mean() < 0.1
