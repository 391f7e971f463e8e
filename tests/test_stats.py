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
