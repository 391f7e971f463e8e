"""The claims' statistics: the two-level bootstrap over segments and seeds, the smallest
detectable difference."""

import numpy as np
import pytest


def test_two_level_bootstrap_resamples_segments_and_seeds():
    from ilsim import stats

    rng = np.random.default_rng(1)
    seg_effect = rng.normal(0, 1, 12)[:, None]
    x = seg_effect + rng.normal(0, 0.01, (12, 5))  # segments vary, seeds barely
    reps = stats.two_level_bootstrap(lambda d: d["x"].mean(), {"x": x}, 2000, seed=0)
    # the segment-level spread dominates: se ≈ sd(segments) / sqrt(12)
    assert reps.std() == pytest.approx(seg_effect.std(ddof=1) / np.sqrt(12), rel=0.2)
    seeds_only = x.mean(0)  # what a seed-only interval sees
    assert reps.std() > 20 * seeds_only.std(ddof=1) / np.sqrt(5)
    assert stats.detectable_difference(1.0) == pytest.approx(1.959964 + 0.841621, rel=1e-5)
    with pytest.raises(ValueError):
        stats.two_level_bootstrap(lambda d: 0.0, {"x": x, "y": x[:3]}, 10)


def test_two_level_bootstrap_keeps_paired_arrays_paired():
    """Protects the shared seed draw that ``claims`` relies on for "subject − exposure-matched
    null": arrays over the same segments × seeds are resampled with one segment draw and one
    seed draw, so the paired difference of ``x + 3`` and ``x`` is 3 in every replicate (a seed
    draw of its own per array would pair seed i of one with seed j of the other)."""
    from ilsim import stats

    rng = np.random.default_rng(2)
    x = rng.normal(0, 1, (8, 5))  # segments × seeds, seeds differ
    bench = rng.normal(0, 1, 8)  # a seed-free [S] array alongside, as claims passes

    def stat(d):
        return np.array([(d["n"] - d["x"]).mean(), np.abs(d["n"] - d["x"] - 3).max()])

    reps = stats.two_level_bootstrap(stat, {"x": x, "n": x + 3, "long_only": bench}, 200, 0)
    assert reps.shape == (200, 2)
    np.testing.assert_allclose(reps[:, 0], 3.0, rtol=0, atol=1e-12)
    assert reps[:, 1].max() <= 1e-12, "a replicate broke the pairing of seeds"
