"""Shared test data: price paths with known structure (imported by several test modules)."""

import numpy as np


def trending_walk(n: int = 3000, seed: int = 0) -> np.ndarray:
    """Random walk whose drift switches between up, flat and down every 100–500 bars."""
    rng = np.random.default_rng(seed)
    drift = np.empty(n)
    t = 0
    while t < n:
        length = int(rng.integers(100, 500))
        drift[t : t + length] = rng.choice([-1.5e-3, 0.0, 1.5e-3])
        t += length
    return 100.0 * np.exp(np.cumsum(drift + rng.normal(0.0, 2e-3, n)))
