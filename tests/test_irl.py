"""MaxEnt IRL and GAIL learners: they learn a representable expert, log their training,
are seeded, and reject bad input clearly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from ilsim.learners import (
    ACTION_SPACES,
    Demonstrations,
    GAILLearner,
    Learner,
    MaxEntIRLLearner,
    NotFittedError,
)
from ilsim.learners.base import action_labels
from ilsim.learners.gail import RunningNorm

DECISIVE = 1  # the feature the synthetic expert looks at


def threshold_demos(n: int, seed: int, space: str = "three", f: int = 5) -> Demonstrations:
    """Expert action = a deterministic threshold rule on feature 1 (the rest is noise)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, f)).astype(np.float32)
    z = x[:, DECISIVE]
    if space == "three":
        y = np.where(z > 0.5, 1.0, np.where(z < -0.5, -1.0, 0.0))
    else:
        y = np.select([z < -1.0, z < -0.35, z < 0.35, z < 1.0], [-1.0, -0.5, 0.0, 0.5], 1.0)
    ids = np.repeat(np.arange(4), -(-n // 4))[:n]
    return Demonstrations.from_labels(x, y, np.full(n, 100.0), ids)


def majority(actions: np.ndarray) -> float:
    return float(np.unique(actions, return_counts=True)[1].max() / len(actions))


@pytest.fixture(scope="module")
def maxent() -> tuple[MaxEntIRLLearner, Demonstrations]:
    return MaxEntIRLLearner("three", n_iter=200).fit(threshold_demos(3000, 0)), threshold_demos(
        1500, 1
    )


@pytest.fixture(scope="module", params=["three", "five"])
def gail(request: pytest.FixtureRequest) -> tuple[GAILLearner, Demonstrations]:
    space = request.param
    learner = GAILLearner(space, hidden=(32, 32), n_iter=150).fit(threshold_demos(3000, 0, space))
    return learner, threshold_demos(1500, 1, space)


# --------------------------------------------------------------------------- MaxEnt IRL


def test_maxent_learns_the_threshold_expert(maxent):
    learner, test = maxent
    pred = learner.act(test.states)
    assert set(np.unique(pred)) <= set(ACTION_SPACES["three"])
    acc = float(np.mean(pred == test.actions))
    assert acc > majority(test.actions) + 0.2 and acc > 0.9


def test_maxent_feature_gap_shrinks_and_weights_point_at_the_decisive_feature(maxent):
    learner, _ = maxent
    log = learner.log_
    assert {"iteration", "gap_norm", "log_likelihood", "accuracy"} <= set(log.columns)
    assert log["gap_norm"].iloc[-1] < 0.2 * log["gap_norm"].iloc[0]
    assert log["log_likelihood"].iloc[-1] > log["log_likelihood"].iloc[0]
    w = learner.reward_weights()
    assert list(w.columns) == ["sell", "hold", "buy"] and w.index[-1] == "bias"
    spread = (w.max(axis=1) - w.min(axis=1)).drop("bias")
    assert spread.idxmax() == f"f{DECISIVE}"
    assert spread[f"f{DECISIVE}"] > 5 * spread.drop(f"f{DECISIVE}").max()
    assert (
        w.loc[f"f{DECISIVE}", "buy"] > w.loc[f"f{DECISIVE}", "hold"] > w.loc[f"f{DECISIVE}", "sell"]
    )
    np.testing.assert_allclose(w.sum(axis=1), 0.0, atol=1e-9)  # centred over actions


def test_maxent_policy_is_the_softmax_of_its_reward(maxent):
    learner, test = maxent
    r = learner.reward(test.states[:50])
    p = learner.act_proba(test.states[:50])
    e = np.exp(r - r.max(axis=1, keepdims=True))
    np.testing.assert_allclose(p, e / e.sum(axis=1, keepdims=True), atol=1e-12)
    assert np.array_equal(learner.act(test.states[:50]), np.array([-1.0, 0, 1])[r.argmax(1)])


def test_maxent_five_levels_and_minibatches_are_seeded():
    train, test = threshold_demos(2000, 2, "five"), threshold_demos(1000, 3, "five")
    a = MaxEntIRLLearner("five", n_iter=150, lr=0.1, batch_size=256).fit(train, seed=4)
    b = MaxEntIRLLearner("five", n_iter=150, lr=0.1, batch_size=256).fit(train, seed=4)
    c = MaxEntIRLLearner("five", n_iter=150, lr=0.1, batch_size=256).fit(train, seed=5)
    assert np.array_equal(a.weights_, b.weights_) and not np.array_equal(a.weights_, c.weights_)
    assert list(a.reward_weights().columns) == list(action_labels("five"))
    acc = float(np.mean(a.act(test.states) == test.actions))
    assert acc > majority(test.actions) + 0.2


# --------------------------------------------------------------------------- GAIL


def test_gail_learns_the_threshold_expert(gail):
    learner, test = gail
    pred = learner.act(test.states)
    assert set(np.unique(pred)) <= set(ACTION_SPACES[learner.action_space])
    acc = float(np.mean(pred == test.actions))
    assert acc > majority(test.actions) + 0.2


def test_gail_logs_discriminator_and_keeps_entropy(gail):
    learner, test = gail
    log = learner.log_
    cols = {"d_loss", "d_acc", "d_acc_expert", "d_acc_policy", "mean_reward", "entropy", "accuracy"}
    assert cols <= set(log.columns) and len(log) == learner.n_iter
    assert log[["d_acc", "d_acc_expert", "d_acc_policy"]].stack().between(0, 1).all()
    assert (log["mean_reward"] > 0).all()  # −log(1 − D) > 0
    assert log["entropy"].min() > 0.05
    assert log["accuracy"].iloc[-10:].mean() > log["accuracy"].iloc[:5].mean() + 0.2
    p = learner.act_proba(test.states[:20])
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)
    assert learner.reward(test.states[:20]).shape == (20, len(learner.levels))


def test_gail_entropy_bonus_keeps_the_policy_softer():
    demos = threshold_demos(1500, 0)
    kw = {"hidden": (32, 32), "n_iter": 80}
    soft = GAILLearner("three", entropy_coef=0.2, **kw).fit(demos)
    hard = GAILLearner("three", entropy_coef=0.0, **kw).fit(demos)
    assert soft.log_["entropy"].iloc[-10:].mean() > hard.log_["entropy"].iloc[-10:].mean()


def test_gail_is_seeded():
    demos, test = threshold_demos(800, 0), threshold_demos(300, 1)
    kw = {"hidden": (16,), "n_iter": 30, "batch_size": 128}
    a = GAILLearner("three", **kw).fit(demos, seed=3)
    b = GAILLearner("three", **kw).fit(demos, seed=3)
    c = GAILLearner("three", **kw).fit(demos, seed=4)
    assert np.array_equal(a.act(test.states), b.act(test.states))
    np.testing.assert_array_equal(a.act_proba(test.states), b.act_proba(test.states))
    pd.testing.assert_frame_equal(a.log_.drop(columns="seconds"), b.log_.drop(columns="seconds"))
    assert not np.array_equal(a.act_proba(test.states), c.act_proba(test.states))


def test_gail_variants_bc_pretrain_horizon_and_mean_baseline():
    demos, test = threshold_demos(1500, 0), threshold_demos(600, 1)
    before = torch.get_num_threads()
    pre = GAILLearner("three", hidden=(32, 32), n_iter=40, bc_pretrain_epochs=3).fit(demos)
    assert torch.get_num_threads() == before  # the thread setting is restored
    assert len(pre.bc_log_) == 3 and pre.bc_log_["accuracy"].iloc[-1] > 0.8
    assert pre.log_["accuracy"].iloc[0] > 0.8  # GAIL starts from the cloned policy
    for kw in ({"horizon": 4, "gamma": 0.8}, {"baseline": "mean"}):
        g = GAILLearner("three", hidden=(32, 32), n_iter=120, **kw).fit(demos)
        acc = float(np.mean(g.act(test.states) == test.actions))
        assert acc > majority(test.actions) + 0.2, kw


def test_running_norm_matches_batch_moments():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(1000, 3))
    norm = RunningNorm(3)
    for chunk in np.array_split(x, 7):
        norm.update(chunk)
    np.testing.assert_allclose(norm.mean, x.mean(0), rtol=1e-10)
    np.testing.assert_allclose(norm.var, x.var(0), rtol=1e-10)
    z = norm(x).numpy()
    np.testing.assert_allclose(z.mean(0), 0.0, atol=1e-5)


# --------------------------------------------------------------------------- interface


@pytest.mark.parametrize("cls", [MaxEntIRLLearner, GAILLearner])
def test_learner_interface_and_input_validation(cls):
    learner = cls(action_space="three")
    with pytest.raises(NotFittedError, match="not fitted"):
        learner.act(np.zeros((2, 5), dtype=np.float32))
    with pytest.raises(NotFittedError, match="not fitted"):
        _ = learner.state_dim
    with pytest.raises(ValueError, match="discrete"):
        cls(action_space="continuous").fit(threshold_demos(200, 0))
    small = {"n_iter": 3} if cls is MaxEntIRLLearner else {"n_iter": 2, "hidden": (8,)}
    learner = cls(action_space="three", **small).fit(threshold_demos(200, 0))
    assert isinstance(learner, Learner) and isinstance(learner.name, str)
    assert learner.state_dim == 5 and learner.act(np.zeros((4, 5))).shape == (4,)
    with pytest.raises(ValueError, match=r"states must be \[N, 5\]"):
        learner.act(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"states must be \[N, 5\]"):
        learner.act(np.zeros(5))
    with pytest.raises(ValueError, match="NaN"):
        learner.act(np.full((2, 5), np.nan))


def test_bad_hyperparameters_are_rejected_by_fit():
    demos = threshold_demos(50, 0)  # checked when fit starts, as in scikit-learn
    with pytest.raises(ValueError, match="temperature"):
        MaxEntIRLLearner(temperature=0.0).fit(demos)
    with pytest.raises(ValueError, match="batch_size"):
        MaxEntIRLLearner(batch_size=0).fit(demos)
    with pytest.raises(ValueError, match="horizon"):
        GAILLearner(horizon=0).fit(demos)
    with pytest.raises(ValueError, match="gamma"):
        GAILLearner(gamma=1.5).fit(demos)
    with pytest.raises(ValueError, match="baseline"):
        GAILLearner(baseline="critic").fit(demos)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="d_eps"):
        GAILLearner(d_eps=0.0).fit(demos)
