"""Demonstrators: no look-ahead, shapes and value sets, the hybrid's regime switch, and the
:class:`Demonstrations` builder."""

import numpy as np
import pandas as pd
import pytest
from synthetic_paths import trending_walk

from ilsim import demonstrators as dm
from ilsim.experts import expert_labels
from ilsim.learners import ACTION_SPACES, Demonstrations

CAUSAL = {
    "momentum": {},
    "mean_reversion": {},
    "hybrid": {},
    "hybrid_blend": {"mode": "blend"},
}


def run(kind: str, close: np.ndarray, **kw) -> np.ndarray:
    fn = dm.hybrid if kind == "hybrid_blend" else dm.DEMONSTRATORS[kind]
    return fn(close, **CAUSAL[kind], **kw)


@pytest.fixture(scope="module")
def close() -> np.ndarray:
    return trending_walk()


@pytest.mark.parametrize("space", ["three", "five"])
@pytest.mark.parametrize("kind", list(CAUSAL))
def test_no_look_ahead(close, kind, space):
    base = run(kind, close, action_space=space)
    rng = np.random.default_rng(1)
    for t0 in (40, 700, 2222):
        moved = close.copy()
        moved[t0 + 1 :] *= np.exp(np.cumsum(rng.normal(0.0, 0.01, len(close) - t0 - 1)))
        out = run(kind, moved, action_space=space)
        np.testing.assert_array_equal(out[: t0 + 1], base[: t0 + 1])
        assert not np.array_equal(out, base)  # the perturbation does matter later


def test_no_look_ahead_with_segments(close):
    seg = np.repeat([0, 1, 2], len(close) // 3)
    base = dm.hybrid(close, segment_ids=seg)
    moved = close.copy()
    moved[1500:] *= 1.3
    np.testing.assert_array_equal(dm.hybrid(moved, segment_ids=seg)[:1500], base[:1500])


def test_hindsight_looks_ahead_and_wraps_expert_labels(close):
    seg = np.repeat([0, 1], len(close) // 2)
    a = dm.hindsight(close, 0.01, seg)
    np.testing.assert_array_equal(a, expert_labels(close, 0.01, seg))
    up, down = close.copy(), close.copy()
    up[500:] *= 1.05  # a jump right after bar 499 decides its label: the expert sees it
    down[500:] *= 0.95
    assert dm.hindsight(up, 0.01, seg)[499] == 1.0 and dm.hindsight(down, 0.01, seg)[499] == -1.0


def test_hindsight_five_levels(close):
    three = dm.hindsight(close, 0.01)
    five = dm.hindsight(close, 0.01, action_space="five")
    assert set(np.unique(five)) <= set(ACTION_SPACES["five"])
    np.testing.assert_array_equal(np.sign(five), three)  # same direction, graded strength
    strong = expert_labels(close, 0.02)
    np.testing.assert_array_equal(np.abs(five) == 1.0, (three != 0) & (strong == three))


@pytest.mark.parametrize("space", ["three", "five"])
@pytest.mark.parametrize("kind", [*CAUSAL, "hindsight"])
def test_shapes_and_value_sets(close, kind, space):
    kw = {"theta": 0.01} if kind == "hindsight" else {}
    a = (
        dm.hindsight(close, action_space=space, **kw)
        if kind == "hindsight"
        else run(kind, close, action_space=space)
    )
    assert a.shape == close.shape and a.dtype == np.float64
    values = set(np.unique(a))
    assert values <= set(ACTION_SPACES[space])
    assert len(values) >= 3  # every demonstrator buys, sells and holds on this series
    assert not np.any(np.signbit(a) & (a == 0))  # no -0.0
    if kind != "hindsight":
        assert np.all(a[:19] == 0)  # warm-up: indicators undefined → hold


def test_five_levels_refine_three(close):
    for kind in CAUSAL:
        three, five = run(kind, close), run(kind, close, action_space="five")
        np.testing.assert_array_equal(np.sign(five), three)
        assert np.isin(np.abs(five), (0.5, 1.0)).sum() == (three != 0).sum()
        assert (np.abs(five) == 0.5).any() and (np.abs(five) == 1.0).any()


def test_momentum_and_mean_reversion_directions():
    t = np.arange(300)
    up = 100.0 * (1.001**t) * (1 + 0.0005 * np.sin(t))
    assert np.all(dm.momentum(up)[40:] == 1.0)
    assert np.all(dm.momentum(up[::-1].copy())[40:] == -1.0)
    spike = np.full(100, 50.0) + 0.01 * np.sin(np.arange(100))
    spike[60] = 55.0
    spike[80] = 45.0
    mr = dm.mean_reversion(spike)
    assert mr[60] == -1.0 and mr[80] == 1.0


def test_flat_prices_hold():
    flat = np.full(200, 42.0)
    for kind in CAUSAL:
        assert np.all(run(kind, flat) == 0.0)


def test_hybrid_switches_between_behaviours(close):
    trending = dm.hybrid_trending(close)
    assert 0.05 < trending.mean() < 0.95  # both regimes occur
    hyb = dm.hybrid(close)
    mom, rev = dm.momentum(close), dm.mean_reversion(close)
    np.testing.assert_array_equal(hyb[trending], mom[trending])
    np.testing.assert_array_equal(hyb[~trending], rev[~trending])
    assert (hyb != mom).any() and (hyb != rev).any()
    # where the two behaviours disagree, the regime decides which one the hybrid follows
    differ = mom != rev
    assert (differ & trending).any() and (differ & ~trending).any()
    # the regime is the trend-strength threshold
    np.testing.assert_array_equal(
        trending, np.nan_to_num(np.abs(dm.trend_strength(close)), nan=0.0) > 1.0
    )


def test_hybrid_blend_reduces_to_each_signal(close):
    """With one weight zero the blend is the pure demonstrator at the tanh'ed threshold."""
    m = dm.hybrid(close, mode="blend", weights=(1.0, 0.0), threshold=float(np.tanh(0.5)))
    r = dm.hybrid(close, mode="blend", weights=(0.0, 1.0), threshold=float(np.tanh(1.5)))
    assert np.mean(m == dm.momentum(close, margin=0.5)) > 0.999
    assert np.mean(r == dm.mean_reversion(close, z=1.5)) > 0.999


def test_bad_arguments(close):
    with pytest.raises(ValueError, match="fast"):
        dm.momentum(close, fast=30, slow=20)
    with pytest.raises(ValueError, match="action_space"):
        dm.momentum(close, action_space="seven")
    with pytest.raises(ValueError, match="mode"):
        dm.hybrid(close, mode="vote")
    with pytest.raises(ValueError, match="positive"):
        dm.momentum(-close)


def frame(close: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """Bars and a few causal 'scaled' features (NaN in the warm-up)."""
    s = pd.Series(close)
    x = np.column_stack([s.pct_change(), s.ewm(span=12).mean() / s - 1, s.rolling(26).std() / s])
    return pd.DataFrame({"close": close}), x


@pytest.mark.parametrize("kind", ["hindsight", "momentum", "mean_reversion", "hybrid"])
def test_demonstrations_builder(close, kind):
    bars, x = frame(close)
    ids = np.full(len(close), -1)
    ids[100:1100], ids[1500:2500] = 3, 7
    kw = {"theta": 0.01} if kind == "hindsight" else {}
    d = dm.demonstrations(kind, bars, x, ids, **kw)
    assert isinstance(d, Demonstrations)
    assert len(d) == 2000 and d.states.shape == (2000, 3) and d.states.dtype == np.float32
    assert [s.stop - s.start for s in d.segments()] == [1000, 1000]
    np.testing.assert_array_equal(d.prices, np.concatenate([close[100:1100], close[1500:2500]]))
    np.testing.assert_array_equal(d.query_expert(np.arange(len(d))), d.actions)
    np.testing.assert_array_equal(d.query_expert(np.array([5, 1999])), d.actions[[5, 1999]])
    spans = [(100, 1100), (1500, 2500)]
    if kind == "hindsight":  # each segment labelled alone
        want = np.concatenate([expert_labels(close[a:b], 0.01) for a, b in spans])
    else:  # causal demonstrators run on the whole history
        want = np.concatenate([run(kind, close)[a:b] for a, b in spans])
    np.testing.assert_array_equal(d.actions, want)


def test_demonstrations_drop_incomplete_rows_and_reset(close):
    bars, x = frame(close)
    d = dm.demonstrations("momentum", bars["close"].to_numpy(), x)  # one segment
    assert len(d) == len(close) - 25  # the warm-up rows of the features are dropped
    ids = np.repeat([0, 1], len(close) // 2)
    whole = dm.demonstrations("momentum", bars, np.nan_to_num(x), ids)
    reset = dm.demonstrations("momentum", bars, np.nan_to_num(x), ids, reset_per_segment=True)
    half = len(close) // 2
    assert np.all(reset.actions[half : half + 25] == 0) and whole.actions[half : half + 25].any()
    with pytest.raises(ValueError, match="unknown demonstrator"):
        dm.demonstrations("oracle", bars, x)
