"""Time expert labelling of 100k and 2M random-walk bars (SPEC step 3: seconds, not minutes).

Run: ``python benchmarks/bench_experts.py``. Prints figures only; no assertions on time.
"""

from __future__ import annotations

import time

import numpy as np

from ilsim.experts import expert_labels, label_counts


def random_walk(n_bars: int, sigma: float = 0.0007, seed: int = 0) -> np.ndarray:
    """Geometric random walk of closes, about one-minute QQQ volatility per bar."""
    rng = np.random.default_rng(seed)
    return 300.0 * np.exp(np.cumsum(rng.normal(0.0, sigma, n_bars)))


def time_labels(n_bars: int, theta: float = 0.10, n_segments: int = 1, repeats: int = 3) -> float:
    """Best wall time of ``repeats`` labelling runs, in seconds."""
    close = random_walk(n_bars)
    seg = np.repeat(np.arange(n_segments), -(-n_bars // n_segments))[:n_bars]
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        labels = expert_labels(close, theta, seg)
        best = min(best, time.perf_counter() - start)
    print(
        f"{n_bars:>9,} bars  {n_segments:>3} segment(s)  theta={theta:.2f}  "
        f"{best:7.3f} s  counts={label_counts(labels)}"
    )
    return best


if __name__ == "__main__":
    time_labels(100_000)
    time_labels(100_000, n_segments=36)
    time_labels(2_000_000)
    time_labels(2_000_000, n_segments=36)
    time_labels(2_000_000, theta=0.01)
