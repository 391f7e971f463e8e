"""Expert labels: the fast labeller against an O(n^2) reference, plus hand-made edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ilsim import experts
from ilsim.experts import expert_labels, label_counts


def brute_force_labels(
    close: np.ndarray, theta: float, segment_ids: np.ndarray | None = None
) -> np.ndarray:
    """Reference: walk forward from every bar until a barrier is touched or the segment ends."""
    n = len(close)
    seg = np.zeros(n, dtype=np.int64) if segment_ids is None else np.asarray(segment_ids)
    out = np.zeros(n, dtype=np.int8)
    for t in range(n):
        up, down = close[t] * (1 + theta), close[t] * (1 - theta)
        for s in range(t + 1, n):
            if seg[s] != seg[t]:
                break
            if close[s] >= up:
                out[t] = 1
                break
            if close[s] <= down:
                out[t] = -1
                break
    return out


@st.composite
def price_paths(draw: st.DrawFn) -> tuple[np.ndarray, float, np.ndarray]:
    """Random paths mixing random-walk steps, plateaus and exact barrier touches."""
    theta = draw(st.sampled_from([0.01, 0.05, 0.1, 0.25, 0.9, 1.0, 3.0]))
    n = draw(st.integers(1, 120))
    prices = [draw(st.floats(1.0, 1000.0))]
    for _ in range(n - 1):
        kind = draw(st.sampled_from(["walk", "flat", "up_hit", "down_hit"]))
        if kind == "walk":
            step = draw(st.floats(-2.5 * theta, 2.5 * theta))
            prices.append(max(prices[-1] * (1 + step), 1e-3))
        elif kind == "flat":
            prices.append(prices[-1])
        else:
            j = draw(st.integers(0, len(prices) - 1))
            level = prices[j] * (1 + theta) if kind == "up_hit" else prices[j] * (1 - theta)
            prices.append(level if level > 0 else prices[-1])
    runs = draw(st.lists(st.integers(1, 40), min_size=1, max_size=8))
    seg = np.repeat(np.arange(len(runs)), runs)
    seg = np.concatenate([seg, np.full(max(n - len(seg), 0), len(runs))])[:n]
    return np.asarray(prices), theta, seg


@settings(max_examples=150, deadline=None)
@given(price_paths(), st.sampled_from([1, 2, 3, 16]))
def test_matches_brute_force(path: tuple[np.ndarray, float, np.ndarray], block: int) -> None:
    close, theta, seg = path
    old = experts._BLOCK
    experts._BLOCK = block  # small blocks exercise the lifting over many blocks
    try:
        got_seg = expert_labels(close, theta, seg)
        got_one = expert_labels(close, theta)
    finally:
        experts._BLOCK = old
    np.testing.assert_array_equal(got_seg, brute_force_labels(close, theta, seg))
    np.testing.assert_array_equal(got_one, brute_force_labels(close, theta))
    ends = np.r_[np.flatnonzero(np.diff(seg)), len(seg) - 1]
    assert np.all(got_seg[ends] == 0)


def test_random_walk_long_matches_brute_force() -> None:
    rng = np.random.default_rng(7)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, 1500)))
    seg = np.repeat(np.arange(4), [400, 1, 700, 399])
    np.testing.assert_array_equal(
        expert_labels(close, 0.1, seg), brute_force_labels(close, 0.1, seg)
    )


def test_exact_threshold_touch_counts() -> None:
    theta = 0.1
    close = np.array([100.0, 105.0, 100.0 * (1 + theta)])
    assert expert_labels(close, theta).tolist() == [1, 0, 0]
    close = np.array([100.0, 95.0, 100.0 * (1 - theta)])
    assert expert_labels(close, theta).tolist() == [-1, 0, 0]
    # just short of the barrier: no label
    close = np.array([100.0, np.nextafter(100.0 * (1 + theta), 0)])
    assert expert_labels(close, theta).tolist() == [0, 0]


def test_first_barrier_wins() -> None:
    close = np.array([100.0, 89.0, 111.0, 100.0])
    assert expert_labels(close, 0.1).tolist() == [-1, 1, 0, 0]


def test_plateau_labels_follow_the_break() -> None:
    close = np.array([100.0, 100.0, 100.0, 120.0])
    assert expert_labels(close, 0.1).tolist() == [1, 1, 1, 0]


def test_segment_boundary_blocks_lookahead() -> None:
    close = np.array([100.0, 100.0, 200.0, 200.0])
    assert expert_labels(close, 0.1, np.array([0, 0, 1, 1])).tolist() == [0, 0, 0, 0]
    assert expert_labels(close, 0.1).tolist() == [1, 1, 0, 0]


def test_single_bar_segments_are_zero() -> None:
    close = np.array([100.0, 50.0, 200.0, 10.0])
    assert expert_labels(close, 0.1, np.arange(4)).tolist() == [0, 0, 0, 0]


def test_large_theta_gives_all_zero() -> None:
    rng = np.random.default_rng(0)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 500)))
    assert not expert_labels(close, 5.0).any()


def test_string_segment_ids_and_dtype() -> None:
    labels = expert_labels(np.array([1.0, 2.0, 3.0]), 0.1, np.array(["a", "a", "b"]))
    assert labels.dtype == np.int8
    assert labels.tolist() == [1, 0, 0]


def test_empty_and_single() -> None:
    assert expert_labels(np.array([])).shape == (0,)
    assert expert_labels(np.array([5.0])).tolist() == [0]


@pytest.mark.parametrize(
    ("close", "theta", "seg"),
    [
        (np.array([1.0, -1.0]), 0.1, None),
        (np.array([1.0, np.nan]), 0.1, None),
        (np.array([1.0, 2.0]), 0.0, None),
        (np.ones((2, 2)), 0.1, None),
        (np.ones(3), 0.1, np.array([0, 1, 0])),
        (np.ones(3), 0.1, np.array([0, 1])),
    ],
)
def test_invalid_inputs_raise(close: np.ndarray, theta: float, seg: np.ndarray | None) -> None:
    with pytest.raises(ValueError):
        expert_labels(close, theta, seg)


def test_label_counts() -> None:
    assert label_counts(np.array([1, 1, 0, -1], dtype=np.int8)) == {-1: 1, 0: 1, 1: 2}
    assert label_counts(np.array([], dtype=np.int8)) == {-1: 0, 0: 0, 1: 0}
    with pytest.raises(ValueError):
        label_counts(np.array([2]))
