"""Demonstrators: rule-based and hindsight experts whose actions the IL learners imitate.

Book chapters 306 (imitation learning for trading) and 308 (GAIL for trading) generate
demonstrations from configurable expert policies — momentum, mean reversion and a hybrid —
and use a five-action space (strong sell, sell, hold, buy, strong buy). Here each demonstrator
maps a close-price series to one action per bar, vectorised:

* :func:`hindsight` — the paper's perfect-foresight expert (:func:`ilsim.experts.expert_labels`);
  it looks ahead by design.
* :func:`momentum` — trend following on the EMA spread ``(EMA_fast − EMA_slow) / std(close)``.
* :func:`mean_reversion` — fades the z-score of the close against its rolling mean.
* :func:`hybrid` — ``mode="switch"`` (default): momentum where the market trends (|EMA spread|
  above ``trend_threshold`` rolling standard deviations), mean reversion where it ranges — the
  regime-dependent expert of chapter 308; ``mode="blend"``: chapter 306's code, a fixed
  0.6 / 0.4 weighting of a momentum and a reversion signal against one threshold.

Every rule-based demonstrator uses bars ``<= t`` only (EMAs and trailing windows), so its
action at ``t`` is what a trader could have done at ``t``; warm-up bars (indicators not yet
defined) are "hold". Actions are in ``{-1, 0, 1}`` (``action_space="three"``) or in
``{-1, -0.5, 0, 0.5, 1}`` (``"five"``: a signal beyond its ``strong`` level is ±1, otherwise
±0.5). With ``segment_ids`` the indicators restart at each segment (for series that
concatenate unrelated paths); :func:`demonstrations` builds the :class:`Demonstrations` object
the learners take.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import pandas as pd

from ilsim.experts import expert_labels
from ilsim.learners.base import Demonstrations

__all__ = [
    "DEMONSTRATORS",
    "demonstrations",
    "hindsight",
    "hybrid",
    "hybrid_trending",
    "mean_reversion",
    "momentum",
    "price_zscore",
    "trend_strength",
]

Space = Literal["three", "five"]


# --------------------------------------------------------------------------- helpers


def _close(close: np.ndarray | pd.Series) -> np.ndarray:
    """Validated float64 closes [T]."""
    c = np.asarray(close, dtype=np.float64)
    if c.ndim != 1:
        raise ValueError(f"close must be 1-D, got shape {c.shape}")
    if not np.all(np.isfinite(c)) or np.any(c <= 0):
        raise ValueError("close must be finite and positive")
    return c


def _runs(segment_ids: np.ndarray | None, n: int) -> list[slice]:
    """Contiguous runs of equal ids (one run when ``None``)."""
    if segment_ids is None:
        return [slice(0, n)]
    ids = np.asarray(segment_ids)
    if ids.shape != (n,):
        raise ValueError(f"segment_ids must have shape ({n},), got {ids.shape}")
    cut = np.flatnonzero(ids[1:] != ids[:-1]) + 1
    bounds = np.concatenate(([0], cut, [n]))
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _per_segment(
    fn: Callable[[np.ndarray], np.ndarray], close: np.ndarray, segment_ids: np.ndarray | None
) -> np.ndarray:
    """Apply a causal series function to each segment alone (indicators restart)."""
    out = np.empty(len(close))
    for run in _runs(segment_ids, len(close)):
        out[run] = fn(close[run])
    return out


def _ema(x: np.ndarray, span: int) -> np.ndarray:
    """Recursive EMA (alpha = 2 / (span + 1)), NaN for the first ``span - 1`` bars."""
    return pd.Series(x).ewm(span=span, adjust=False, min_periods=span).mean().to_numpy()


def _rolling(x: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Trailing mean and (population) std over ``window`` bars including the current one."""
    r = pd.Series(x).rolling(window, min_periods=window)
    return r.mean().to_numpy(), r.std(ddof=0).to_numpy()


def _ratio(num: np.ndarray, den: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``num / den``, NaN (undefined signal → hold) where ``den`` is float noise relative to
    the price ``scale`` (a flat window)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 1e-9 * scale, num / den, np.nan)


def _to_levels(signal: np.ndarray, level: float, strong: float | None, space: Space) -> np.ndarray:
    """Signal → action: 0 inside ``±level`` (and NaN), else its sign; in the five-level
    space ±0.5, or ±1 beyond ``±strong``."""
    if space not in ("three", "five"):
        raise ValueError(f"action_space must be 'three' or 'five', got {space!r}")
    s = np.nan_to_num(np.asarray(signal, dtype=np.float64), nan=0.0)
    act = np.where(np.abs(s) > level, np.sign(s), 0.0)
    if space == "five":
        hi = 2.0 * level if strong is None else strong
        if hi < level:
            raise ValueError(f"strong level {hi} must be >= level {level}")
        act = act * np.where(np.abs(s) > hi, 1.0, 0.5)
    return act + 0.0  # no -0.0


def _check_windows(**windows: int) -> None:
    for name, w in windows.items():
        if int(w) != w or w < 1:
            raise ValueError(f"{name} must be a positive integer, got {w}")


# --------------------------------------------------------------------------- signals


def trend_strength(
    close: np.ndarray | pd.Series,
    fast: int = 12,
    slow: int = 26,
    vol_window: int | None = None,
    segment_ids: np.ndarray | None = None,
) -> np.ndarray:
    """Signed trend strength ``(EMA_fast − EMA_slow) / std(close over vol_window bars)``:
    the EMA spread in units of the recent price dispersion, so one threshold fits minute and
    daily bars alike. NaN in the warm-up. Causal."""
    c = _close(close)
    vw = slow if vol_window is None else vol_window
    _check_windows(fast=fast, slow=slow, vol_window=vw)
    if fast >= slow:
        raise ValueError(f"fast ({fast}) must be < slow ({slow})")

    def one(x: np.ndarray) -> np.ndarray:
        return _ratio(_ema(x, fast) - _ema(x, slow), _rolling(x, vw)[1], x)

    return _per_segment(one, c, segment_ids)


def price_zscore(
    close: np.ndarray | pd.Series, window: int = 20, segment_ids: np.ndarray | None = None
) -> np.ndarray:
    """``(close − rolling mean) / rolling std`` over ``window`` bars (Bollinger z). Causal."""
    c = _close(close)
    _check_windows(window=window)
    if window < 2:
        raise ValueError("window must be >= 2")

    def one(x: np.ndarray) -> np.ndarray:
        mean, std = _rolling(x, window)
        return _ratio(x - mean, std, x)

    return _per_segment(one, c, segment_ids)


# --------------------------------------------------------------------------- demonstrators


def hindsight(
    close: np.ndarray | pd.Series,
    theta: float = 0.10,
    segment_ids: np.ndarray | None = None,
    *,
    action_space: Space = "three",
    strong_theta: float | None = None,
) -> np.ndarray:
    """The paper's perfect-foresight expert: ±1 by which ``theta`` barrier the future close
    touches first (inside the segment), 0 if neither. Five levels: ±1 when the move also
    reaches the ``strong_theta`` (default ``2·theta``) barrier first in the same direction,
    else ±0.5. Looks ahead by design."""
    c = _close(close)
    base = expert_labels(c, theta, segment_ids).astype(np.float64)
    if action_space == "three":
        return base
    if action_space != "five":
        raise ValueError(f"action_space must be 'three' or 'five', got {action_space!r}")
    st = 2.0 * theta if strong_theta is None else strong_theta
    if st < theta:
        raise ValueError(f"strong_theta ({st}) must be >= theta ({theta})")
    strong = expert_labels(c, st, segment_ids).astype(np.float64)
    return base * np.where(strong == base, 1.0, 0.5) + 0.0


def momentum(
    close: np.ndarray | pd.Series,
    fast: int = 12,
    slow: int = 26,
    margin: float = 0.5,
    *,
    strong: float | None = None,
    vol_window: int | None = None,
    action_space: Space = "three",
    segment_ids: np.ndarray | None = None,
) -> np.ndarray:
    """Trend follower: +1 when the fast EMA is above the slow EMA by more than ``margin``
    rolling standard deviations of the close (:func:`trend_strength`), −1 when below by as
    much, else 0. Five levels: ±1 beyond ``strong`` (default ``2·margin``), else ±0.5."""
    ts = trend_strength(close, fast, slow, vol_window, segment_ids)
    return _to_levels(ts, margin, strong, action_space)


def mean_reversion(
    close: np.ndarray | pd.Series,
    window: int = 20,
    z: float = 1.5,
    *,
    strong_z: float | None = None,
    action_space: Space = "three",
    segment_ids: np.ndarray | None = None,
) -> np.ndarray:
    """Contrarian: −1 when the close is more than ``z`` rolling standard deviations above its
    ``window``-bar mean, +1 when as far below, else 0. Five levels: ±1 beyond ``strong_z``
    (default ``z + 0.5``), else ±0.5."""
    pz = price_zscore(close, window, segment_ids)
    return -_to_levels(pz, z, z + 0.5 if strong_z is None else strong_z, action_space) + 0.0


def hybrid_trending(
    close: np.ndarray | pd.Series,
    fast: int = 12,
    slow: int = 26,
    trend_threshold: float = 1.0,
    *,
    vol_window: int | None = None,
    segment_ids: np.ndarray | None = None,
) -> np.ndarray:
    """Boolean regime of :func:`hybrid`: True where ``|trend_strength| > trend_threshold``
    (trending: momentum acts), False where the market ranges (mean reversion acts)."""
    ts = trend_strength(close, fast, slow, vol_window, segment_ids)
    return np.nan_to_num(np.abs(ts), nan=0.0) > trend_threshold


def hybrid(
    close: np.ndarray | pd.Series,
    fast: int = 12,
    slow: int = 26,
    window: int = 20,
    *,
    margin: float = 0.5,
    z: float = 1.5,
    trend_threshold: float = 1.0,
    mode: Literal["switch", "blend"] = "switch",
    weights: tuple[float, float] = (0.6, 0.4),
    threshold: float = 0.1,
    strong: float | None = None,
    action_space: Space = "three",
    segment_ids: np.ndarray | None = None,
) -> np.ndarray:
    """Momentum in trending conditions, mean reversion in ranging ones.

    ``mode="switch"``: where :func:`hybrid_trending` holds, the :func:`momentum` action
    (``fast``, ``slow``, ``margin``, ``strong``), elsewhere the :func:`mean_reversion` action
    (``window``, ``z``, its default strong level).

    ``mode="blend"`` (chapter 306's code): ``weights[0]·tanh(trend_strength) +
    weights[1]·tanh(−price_zscore)``, traded when beyond ``±threshold`` (five levels: ±1
    beyond ``strong``, default ``2·threshold``).
    """
    if mode == "switch":
        kw = {"action_space": action_space, "segment_ids": segment_ids}
        mom = momentum(close, fast, slow, margin, strong=strong, **kw)
        rev = mean_reversion(close, window, z, **kw)
        trending = hybrid_trending(close, fast, slow, trend_threshold, segment_ids=segment_ids)
        return np.where(trending, mom, rev)
    if mode != "blend":
        raise ValueError(f"mode must be 'switch' or 'blend', got {mode!r}")
    w_mom, w_rev = weights
    ts = trend_strength(close, fast, slow, segment_ids=segment_ids)
    pz = price_zscore(close, window, segment_ids)
    combined = w_mom * np.tanh(ts) + w_rev * np.tanh(-pz)  # NaN in the warm-up → hold
    return _to_levels(combined, threshold, strong, action_space)


DEMONSTRATORS: dict[str, Callable[..., np.ndarray]] = {
    "hindsight": hindsight,
    "momentum": momentum,
    "mean_reversion": mean_reversion,
    "hybrid": hybrid,
}


def demonstrations(
    kind: str,
    bars: pd.DataFrame | np.ndarray | pd.Series,
    scaled_features: pd.DataFrame | np.ndarray,
    segment_ids: np.ndarray | None = None,
    *,
    reset_per_segment: bool = False,
    **kw,
) -> Demonstrations:
    """Demonstrations of demonstrator ``kind`` on a bar history.

    ``bars`` (a frame with ``close``, or the closes) and ``scaled_features`` [T, F] cover the
    same T bars; ``segment_ids`` [T] marks the bars to keep (ids < 0 are outside every
    segment; ``None``: one segment). Rows with non-finite features are dropped. The rule-based
    demonstrators run on the whole history (so a segment's first bars see earlier bars) unless
    ``reset_per_segment``; the hindsight expert never looks beyond its segment. ``kw`` go to
    the demonstrator (e.g. ``theta``, ``fast``, ``action_space``).
    """
    if kind not in DEMONSTRATORS:
        raise ValueError(f"unknown demonstrator {kind!r}; choose from {sorted(DEMONSTRATORS)}")
    close = bars["close"] if isinstance(bars, pd.DataFrame) else bars
    c = _close(close)
    x = np.asarray(scaled_features, dtype=np.float64)
    if x.ndim != 2 or len(x) != len(c):
        raise ValueError(f"scaled_features must be [T={len(c)}, F], got shape {x.shape}")
    ids = np.zeros(len(c), dtype=np.int64) if segment_ids is None else np.asarray(segment_ids)
    if ids.shape != (len(c),):
        raise ValueError(f"segment_ids must have shape ({len(c)},), got {ids.shape}")
    inside = ids >= 0
    if kind == "hindsight":
        # Label each segment alone; bars outside segments get an id of their own run.
        actions = np.zeros(len(c))
        if inside.any():
            actions[inside] = hindsight(c[inside], segment_ids=ids[inside], **kw)
    else:
        seg = ids if reset_per_segment else None
        actions = DEMONSTRATORS[kind](c, segment_ids=seg, **kw)
    keep = inside & np.isfinite(x).all(axis=1)
    if not keep.any():
        raise ValueError("no bar inside a segment has complete features")
    return Demonstrations.from_labels(
        states=x[keep].astype(np.float32),
        actions=actions[keep],
        prices=c[keep],
        segment_ids=ids[keep],
    )
