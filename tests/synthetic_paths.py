"""Shared test data: price paths with known structure (imported by several test modules)."""

import numpy as np
from scipy.signal import lfilter

from ilsim.stylized_facts import PathSet


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


# ----------------------------------------------------------------------------------------------
# Path sets for the stylized facts and realism tests (5-minute bars, full sessions)
# ----------------------------------------------------------------------------------------------

B = 78  # bars per day (5-minute bars)
NEW_FACTS = ("skew", "kurtosis_agg", "leverage", "ret_vol_corr", "fano")  # ABIDES / MarS facts


def layout(p: int, t: int) -> np.ndarray:
    """Bar of day of consecutive full sessions, [T]."""
    return np.arange(t) % B


def u_volume(p: int, t: int, rng: np.random.Generator, depth: float = 2.0) -> np.ndarray:
    """Lognormal volume around an intraday U-shape of the given depth."""
    x = (layout(p, t) + 0.5) / B
    shape = 1.0 + depth * ((2 * x - 1) ** 2)
    return 1e5 * shape * rng.lognormal(0.0, 0.3, (p, t))


def sv_paths(p: int = 60, t: int = 2000, seed: int = 1) -> PathSet:
    """Stochastic volatility (AR(1) log-vol) with Student-t shocks; volume follows |r|."""
    rng = np.random.default_rng(seed)
    h = lfilter([1.0], [1.0, -0.98], 0.1 * rng.standard_normal((p, t)), axis=1)
    r = 1e-3 * np.exp(h) * rng.standard_t(5, (p, t)) / np.sqrt(5 / 3)
    vol = u_volume(p, t, rng) * np.exp(h)
    return PathSet(r, vol, layout(p, t), B)


def gbm_like(p: int = 60, t: int = 2000, seed: int = 2) -> PathSet:
    """I.i.d. normal returns with U-shaped volume."""
    rng = np.random.default_rng(seed)
    return PathSet(1e-3 * rng.standard_normal((p, t)), u_volume(p, t, rng), layout(p, t), B)


def leverage_paths(
    p: int, t: int, seed: int, skewed: bool = False, c: float = 0.15, phi: float = 0.95
) -> PathSet:
    """EGARCH-like returns: log-vol h_t = phi h_t-1 - c e_t-1, so a fall raises the later
    volatility (leverage) and volatility clusters; ``skewed`` draws negatively skewed shocks."""
    rng = np.random.default_rng(seed)
    if skewed:
        e = -(rng.gamma(4.0, 1.0, (p, t)) - 4.0) / 2.0  # mean 0, std 1, skew -1
    else:
        e = rng.standard_normal((p, t))
    h = lfilter([0.0, -c], [1.0, -phi], e, axis=1)
    return PathSet(1e-3 * np.exp(h) * e, None, layout(p, t), B)
