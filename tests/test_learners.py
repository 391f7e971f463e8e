"""The imitation-learner interface: action spaces, Demonstrations, BC and DAgger learning,
evaluation, and the registry."""

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from synthetic_paths import trending_walk

from ilsim import demonstrators as dm
from ilsim import features
from ilsim import learners as im
from ilsim.backtest import run_backtest

SMALL = {"hidden": (64, 64), "max_epochs": 30}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny MLPs train fastest on one thread (and are not slowed by a busy machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def market() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Minute bars, the project's scaled features (plus a volatility column), 4 segments."""
    n = 4100
    close = trending_walk(n, seed=0)
    opens = np.concatenate(([close[0]], close[:-1]))
    bars = pd.DataFrame(
        {
            "open": opens,
            "high": np.maximum(opens, close) * 1.0005,
            "low": np.minimum(opens, close) * 0.9995,
            "close": close,
            "volume": 1000.0,
        },
        index=pd.date_range("2021-01-04 09:30", periods=n, freq="min"),
    )
    raw = features.compute_features(bars)
    raw["vol_26"] = bars["close"].rolling(26).std().to_numpy() / close
    scaled = features.MinMaxScaler().fit_transform(raw, features.valid_mask(raw))
    ids = np.full(n, -1)
    ids[100:] = np.repeat(np.arange(4), 1000)
    return bars, scaled.to_numpy(), ids


def split(bars, x, ids, kind="momentum", **kw) -> tuple[im.Demonstrations, im.Demonstrations]:
    d = dm.demonstrations(kind, bars, x, ids, **kw)
    return d.select_segments([0, 1, 2]), d.select_segments([3])


# ----------------------------------------------------------------------------- action spaces


def test_class_round_trip():
    for name in ("three", "five"):
        levels = im.ACTION_SPACES[name]
        idx = np.arange(len(levels))
        np.testing.assert_array_equal(im.to_classes(im.from_classes(idx, levels), levels), idx)
        back = im.from_classes(im.to_classes(levels, levels), levels)
        np.testing.assert_array_equal(back, levels)
    assert im.ACTION_SPACES["continuous"] is None
    np.testing.assert_array_equal(im.to_classes([0.3, -0.8, 0.05], (-1, 0, 1)), [1, 0, 1])
    np.testing.assert_array_equal(
        im.from_classes(
            im.to_classes([0.3, -0.8, 0.74], im.ACTION_SPACES["five"]), im.ACTION_SPACES["five"]
        ),
        [0.5, -1.0, 0.5],
    )


@given(st.lists(st.floats(-1, 1), min_size=1, max_size=30), st.sampled_from(["three", "five"]))
def test_from_classes_is_the_nearest_level(actions, name):
    levels = np.asarray(im.ACTION_SPACES[name])
    a = np.asarray(actions)
    got = im.from_classes(im.to_classes(a, levels), levels)
    assert np.all(np.abs(a - got) <= np.abs(a[:, None] - levels).min(axis=1) + 1e-12)


def test_imitation_accuracy_classes():
    e3 = np.array([1.0, 0.0, -1.0, 1.0])
    q = im.imitation_accuracy(np.array([0.8, 0.05, -0.3, -0.2]), e3, hold_band=0.1)
    assert q == {"accuracy": 0.75, "majority_rate": 0.5}
    e5 = np.array([0.5, 1.0, -0.5, 0.0])  # five levels: nearest level decides
    assert im.imitation_accuracy(np.array([0.6, 0.6, -0.4, 0.1]), e5)["accuracy"] == 0.75


# ----------------------------------------------------------------------------- Demonstrations


def test_demonstrations_validate_and_subset():
    x = np.arange(12, dtype=np.float64).reshape(6, 2)
    acts = np.array([1, 0, -1, 1, 0, -1.0])
    d = im.Demonstrations.from_labels(x, acts, np.linspace(1, 2, 6), np.array([4, 4, 9, 9, 9, 2]))
    assert d.states.dtype == np.float32 and len(d) == 6 and d.n_features == 2
    assert [(s.start, s.stop) for s in d.segments()] == [(0, 2), (2, 5), (5, 6)]
    sub = d.select_segments([9])
    np.testing.assert_array_equal(sub.query_expert(np.array([0, 2])), acts[[2, 4]])
    assert "T=3" in repr(sub)
    with pytest.raises(ValueError, match="contiguous"):
        im.Demonstrations.from_labels(x, acts, np.ones(6), np.array([0, 1, 0, 0, 0, 0]))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        im.Demonstrations.from_labels(x, acts * 2, np.ones(6))
    with pytest.raises(ValueError, match="no queryable expert"):
        im.Demonstrations(x, acts, np.ones(6), np.zeros(6)).query_expert(np.array([0]))


def test_replay_rollout_matches_backtest(market):
    bars, x, ids = market
    d = dm.demonstrations("momentum", bars, x, ids).select_segments([1, 2])
    ro = im.replay_rollout(d)  # the expert replayed alone
    np.testing.assert_array_equal(ro.actions, d.actions)
    assert np.isnan(ro.policy_actions).all()
    for s in d.segments():
        res = run_backtest(d.prices[s], d.actions[s]).squeeze()
        cash_seen = res.cash / 1e6  # after the fills at each bar's close, before its order
        held_value = res.holdings * d.prices[s] / 1e6
        np.testing.assert_allclose(ro.observations[s, -2], cash_seen, rtol=1e-6)
        np.testing.assert_allclose(ro.observations[s, -1], held_value, rtol=1e-6, atol=1e-9)
        assert ro.observations[s.start, -2] == 1.0  # every segment starts from cash


# ----------------------------------------------------------------------------- learners


@pytest.mark.parametrize(
    "space, kw",
    [("continuous", {}), ("three", {}), ("five", {"action_space": "five"})],
)
def test_bc_learns_momentum(market, space, kw):
    train, test = split(*market, **kw)
    learner = im.BCLearner(space, **SMALL).fit(train, seed=0)
    assert learner.state_dim == train.n_features and isinstance(learner, im.Learner)
    pred = learner.act(test.states)
    assert pred.shape == (len(test),) and np.all(np.abs(pred) <= 1)
    if space != "continuous":
        assert set(np.unique(pred)) <= set(im.ACTION_SPACES[space])
    q = im.imitation_accuracy(pred, test.actions)
    assert q["accuracy"] > q["majority_rate"] + 0.15, q  # held-out segment
    assert not learner.history_.empty


def test_bc_is_seeded(market):
    train, test = split(*market)
    fast = {"hidden": (16,), "max_epochs": 3}
    a = im.BCLearner("three", **fast).fit(train, seed=3).act(test.states)
    b = im.BCLearner("three", **fast).fit(train, seed=3).act(test.states)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(im.NotFittedError):
        im.BCLearner().act(test.states)


def test_dagger_improves_on_its_own_states(market):
    train, test = split(*market)
    learner = im.DAggerLearner("three", n_iter=3, iter_epochs=10, **SMALL).fit(train, seed=0)
    log = learner.log_
    assert list(log["iteration"]) == [0, 1, 2, 3]
    # every iteration aggregates one rollout over all T bars
    assert (log["added"] == len(train)).all()
    np.testing.assert_array_equal(log["dataset_size"], len(train) * np.arange(1, 5))
    np.testing.assert_allclose(log["beta"].iloc[1:], [0.5, 0.25, 0.125])
    # accuracy against the expert on the states the policy itself visits: iteration 0 is BC
    # with the portfolio in its state; DAgger's final policy is at least as good
    assert log["accuracy"].iloc[-1] >= log["accuracy"].iloc[0]
    assert log["accuracy"].iloc[-1] > 0.9
    assert learner.state_dim == train.n_features + 2 and isinstance(learner, im.Learner)
    r = im.evaluate_learner(learner, test)  # trades on its own running portfolio
    assert r["accuracy"] > r["majority_rate"] + 0.15


class Oracle:
    """Returns the expert's action of the bar whose index is stored in column 0."""

    name = "oracle"

    def __init__(self, actions: np.ndarray, with_account: bool) -> None:
        self.actions, self.with_account = actions, with_account

    @property
    def state_dim(self) -> int:
        return 3 if self.with_account else 1

    def fit(self, demos, *, seed=0, progress=False):
        return self

    def act(self, states: np.ndarray) -> np.ndarray:
        return self.actions[np.asarray(states)[:, 0].astype(int)]


@pytest.mark.parametrize("with_account", [False, True])
def test_evaluate_learner_oracle(market, with_account):
    bars, _, ids = market
    base = dm.demonstrations("momentum", bars, np.zeros((len(bars), 1)), ids)
    d = im.Demonstrations.from_labels(
        np.arange(len(base))[:, None], base.actions, base.prices, base.segment_ids
    )
    r = im.evaluate_learner(Oracle(d.actions, with_account), d, bars_per_year=98_280)
    assert all(np.isfinite(v) for v in r.values()), r
    assert r["accuracy"] == 1.0 and r["n_segments"] == 4 and r["n_bars"] == len(d)
    for k in ("total_return_pct", "sharpe_ratio", "max_drawdown_pct", "turnover"):
        assert r[k] == pytest.approx(r[f"expert_{k}"])  # same actions, same trades
    assert r["max_drawdown_pct"] <= 0 and r["turnover"] > 0
    wide = im.Demonstrations.from_labels(np.zeros((3, 5)), np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match="columns"):
        im.evaluate_learner(Oracle(d.actions, with_account), wide)


# ----------------------------------------------------------------------------- registry


def test_registry():
    assert im.learner_names() == ["bc", "dagger", "maxent_irl", "gail"]
    bc = im.make_learner("bc", action_space="five", hidden=(8,))
    assert isinstance(bc, im.BCLearner) and bc.levels == im.ACTION_SPACES["five"]
    assert isinstance(im.make_learner("dagger", n_iter=1), im.DAggerLearner)
    assert isinstance(im.make_learner("maxent_irl", n_iter=2), im.MaxEntIRLLearner)
    assert im.make_learner("gail", n_iter=2).n_iter == 2
    with pytest.raises(ValueError, match="unknown learner"):
        im.make_learner("svm")


# ---------------------------------------------------------------- the protocol, every learner

SMALL_BY_NAME = {
    "bc": {"hidden": (8,), "max_epochs": 3},
    "dagger": {"hidden": (8,), "max_epochs": 2, "iter_epochs": 1, "n_iter": 1},
    "maxent_irl": {"n_iter": 5},
    "gail": {"hidden": (8,), "n_iter": 2, "batch_size": 32},
}


def _protocol_demos(n: int = 240, f: int = 4) -> im.Demonstrations:
    rng = np.random.default_rng(0)
    states = rng.uniform(0, 1, (n, f)).astype(np.float32)
    actions = np.where(states[:, 0] > 0.5, 1.0, -1.0)
    prices = 100 * np.exp(np.cumsum(rng.normal(0, 1e-3, n)))
    return im.Demonstrations.from_labels(states, actions, prices, np.repeat([0, 1], n // 2))


@pytest.mark.parametrize("name", im.learner_names())
def test_every_registered_learner_follows_the_protocol(name):
    """scikit-learn's conventions, the same for all: the constructor only stores its arguments
    (no fitted attribute, nothing checked); before fit every use raises NotFittedError; a bad
    argument raises ValueError from fit; fit returns the learner; actions in [-1, 1]; the same
    seed gives the same actions."""
    kw = SMALL_BY_NAME[name]
    learner = im.make_learner(name, **kw)
    assert learner.name == name and isinstance(learner, im.Learner) is False  # no state_dim yet
    assert not [k for k in vars(learner) if k.endswith("_")], "fitted attributes before fit"
    for k, v in kw.items():
        assert getattr(learner, k) == v
    demos = _protocol_demos()
    f = demos.n_features
    with pytest.raises(im.NotFittedError):
        learner.act(np.zeros((2, f + 2), np.float32))
    with pytest.raises(im.NotFittedError):
        _ = learner.state_dim
    bad = im.make_learner(name, **{**kw, "action_space": "seven"})  # stored as given
    with pytest.raises(ValueError, match="action_space|seven"):
        bad.fit(demos)
    assert learner.fit(demos, seed=3) is learner
    assert isinstance(learner, im.Learner) and learner.state_dim in (f, f + 2)
    x = demos.states if learner.state_dim == f else np.c_[demos.states, np.ones((len(demos), 2))]
    a = np.asarray(learner.act(x))
    assert a.shape == (len(demos),) and np.isfinite(a).all() and np.abs(a).max() <= 1
    again = im.make_learner(name, **kw).fit(demos, seed=3)
    np.testing.assert_array_equal(np.asarray(again.act(x)), a)


@pytest.mark.parametrize("name", im.learner_names())
def test_every_learner_saves_as_plain_data(name, tmp_path):
    """A fitted learner goes to disk as its name, arguments and tensors — loaded back with
    ``weights_only=True`` (no pickled class), it acts exactly as before."""
    demos = _protocol_demos()
    learner = im.make_learner(name, **SMALL_BY_NAME[name]).fit(demos, seed=1)
    with pytest.raises(im.NotFittedError):
        im.to_state(im.make_learner(name))
    torch.save(im.to_state(learner), tmp_path / "l.pt")
    back = im.from_state(torch.load(tmp_path / "l.pt", weights_only=True))
    assert type(back) is type(learner) and im.get_params(back) == im.get_params(learner)
    f = demos.n_features
    x = demos.states if learner.state_dim == f else np.c_[demos.states, np.ones((len(demos), 2))]
    np.testing.assert_array_equal(back.act(x), learner.act(x))
