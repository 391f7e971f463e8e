"""Intervals for backtest claims (issue 15): a two-level bootstrap and the detectable effect.

Backtest results are a grid of segments × seeds. The segments are the sampling unit — a new
sample of market history would bring other segments — and the seeds are a second
source of variation (another training run of the same policy). An interval across seeds alone
conditions on these few segments; it answers "would retraining change the number?", not "does
the strategy beat the benchmark on markets like these?". :func:`two_level_bootstrap` resamples
both: segments with replacement, then seeds with replacement, and recomputes the statistic
(the design is crossed — every seed runs on every segment — so resampling rows and columns
is slightly conservative).

:func:`detectable_difference` turns the bootstrap's standard error into the smallest true
difference a two-sided test at ``1 − level`` would find with probability ``power`` (normal
approximation, ``(z_{1−α/2} + z_{power}) · se``): a claim of +1 pp is untestable when that
figure is 6 pp, whatever the point estimate says.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from scipy.stats import norm

__all__ = ["detectable_difference", "percentile_interval", "two_level_bootstrap"]


def two_level_bootstrap(
    statistic: Callable[[Mapping[str, np.ndarray]], np.ndarray],
    arrays: Mapping[str, np.ndarray],
    n_boot: int = 2000,
    seed: int = 0,
) -> np.ndarray:
    """Replicates of ``statistic`` under resampling of segments, then seeds.

    ``arrays`` maps names to ``[S, K]`` (segments × seeds) or ``[S]`` (seed-free, e.g. a
    benchmark) arrays over the same S segments; every ``[S, K]`` array has the same K, and the
    seed draw is shared, so paired arrays stay paired. ``statistic`` maps such a dict to a value
    or a 1-D array of values. Returns ``[n_boot]`` or ``[n_boot, n_values]``.
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    arrs = {k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()}
    sizes = {v.shape[0] for v in arrs.values()}
    seeds = {v.shape[1] for v in arrs.values() if v.ndim == 2}
    if len(sizes) != 1 or len(seeds) > 1 or any(v.ndim not in (1, 2) for v in arrs.values()):
        raise ValueError("arrays must be [S, K] or [S] over the same S segments and K seeds")
    s, k = sizes.pop(), (seeds.pop() if seeds else 1)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_boot):
        si, ki = rng.integers(0, s, s), rng.integers(0, k, k)
        draw = {n: (v[si][:, ki] if v.ndim == 2 else v[si]) for n, v in arrs.items()}
        out.append(np.asarray(statistic(draw), dtype=np.float64))
    return np.stack(out)


def percentile_interval(replicates: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The bootstrap percentile interval (NaN when any replicate is undefined)."""
    r = np.asarray(replicates, dtype=np.float64)
    if r.size == 0 or not np.isfinite(r).all():
        return np.nan, np.nan
    lo, hi = np.quantile(r, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return float(lo), float(hi)


def detectable_difference(se: float, level: float = 0.95, power: float = 0.8) -> float:
    """The smallest true difference a two-sided test at ``1 − level`` detects with probability
    ``power``, for an estimate with standard error ``se``."""
    if not 0 < level < 1 or not 0 < power < 1:
        raise ValueError("level and power must lie in (0, 1)")
    return float((norm.ppf(0.5 + level / 2) + norm.ppf(power)) * se)
