"""Perfect-foresight expert labels for imitation learning (SPEC step 3).

At bar ``t`` the expert looks ahead, inside the same segment only, and asks which of two
barriers the close price touches first: the upper one ``close[t] * (1 + theta)`` (label +1,
"buy") or the lower one ``close[t] * (1 - theta)`` (label -1, "sell"). If neither is touched
before the segment ends the label is 0 ("hold").

All bars are labelled at once in ``O(n log n)`` time and ``O(n)`` memory: the first bar at or
above (below) each bar's barrier is found by a blocked search — a scan of the bar's own block
of ``_BLOCK`` bars, binary lifting over a sparse table of block maxima (minima), and a scan of
the block that holds the hit. Labelling two million bars takes a few seconds in NumPy.
"""

from __future__ import annotations

import numpy as np

__all__ = ["expert_labels", "label_counts"]

_BLOCK = 16  # bars per block in the first-hit search: a speed knob, results do not depend on it


def _segment_ends(segment_ids: np.ndarray | None, n: int) -> np.ndarray:
    """Index of the last bar of the segment that holds each bar.

    A segment is a maximal run of equal consecutive ids; an id that comes back after a
    different one is rejected, because "later in the same segment" would then jump a gap.
    """
    if segment_ids is None:
        return np.full(n, n - 1, dtype=np.int64)
    ids = np.asarray(segment_ids)
    if ids.shape != (n,):
        raise ValueError(f"segment_ids must have shape ({n},), got {ids.shape}")
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    change = np.flatnonzero(ids[1:] != ids[:-1]) + 1  # first bar of every run but the first
    starts = np.concatenate(([0], change))
    run_ids = ids[starts]
    if len(np.unique(run_ids)) != len(run_ids):
        raise ValueError("segment_ids must be contiguous: an id reappears after another id")
    ends = np.concatenate((change - 1, [n - 1]))
    run_start = np.zeros(n, dtype=np.int64)
    run_start[change] = 1
    return ends[np.cumsum(run_start)].astype(np.int64)  # cumsum: run number of every bar


def _sparse_max(x: np.ndarray) -> list[np.ndarray]:
    """Sparse table: level ``k`` holds ``max(x[i : i + 2**k])`` for every valid ``i``."""
    levels = [x]
    k = 1
    while 2 * k <= len(x):
        prev = levels[-1]
        levels.append(np.maximum(prev[: len(prev) - k], prev[k:]))
        k *= 2
    return levels


def _first_at_least(values: np.ndarray, barrier: np.ndarray) -> np.ndarray:
    """For each ``t``: the smallest ``s > t`` with ``values[s] >= barrier[t]``, or ``n`` if none.

    Blocked search, vectorised over all ``t`` at once (see the module docstring). The search
    runs over the whole array; callers discard hits that fall beyond a segment's end, which is
    exact because a first hit beyond the end means no hit inside the segment.
    """
    n = len(values)
    result = np.full(n, n, dtype=np.int64)
    if n < 2:
        return result
    b = _BLOCK
    n_blocks = -(-n // b)
    padded = np.full(n_blocks * b, -np.inf)
    padded[:n] = values
    blocks = padded.reshape(n_blocks, b)
    # suffix maximum inside each block: max(values[j : end of j's block])
    suffix = np.maximum.accumulate(blocks[:, ::-1], axis=1)[:, ::-1].ravel()

    t = np.arange(n - 1, dtype=np.int64)
    lo = t + 1  # the search starts at the next bar
    x = barrier[:-1]
    in_own_block = suffix[lo] >= x
    start = np.where(in_own_block, lo, -1)  # first bar to scan in the block that holds the hit

    # Bars whose hit is not in the rest of their own block: binary lifting over block maxima.
    rest = np.flatnonzero(~in_own_block)
    if rest.size:
        table = _sparse_max(blocks.max(axis=1))
        pos = lo[rest] // b + 1  # first whole block after the own block
        xr = x[rest]
        for k in range(len(table) - 1, -1, -1):
            level = table[k]
            valid = pos < len(level)
            idx = np.where(valid, pos, 0)
            pos = pos + np.where(valid & (level[idx] < xr), 1 << k, 0)
        start[rest] = np.where(pos < n_blocks, pos * b, -1)

    # Scan the block that holds the hit, from its start bar, for the first bar at the barrier.
    has = np.flatnonzero(start >= 0)
    s0 = start[has]
    block_end = (s0 // b + 1) * b
    xs = x[has]
    found = np.full(has.size, -1, dtype=np.int64)
    for d in range(b):
        s = s0 + d
        inside = s < block_end
        hit = inside & (found < 0) & (padded[np.where(inside, s, 0)] >= xs)
        found[hit] = s[hit]
    result[has] = found
    return result


def expert_labels(
    close: np.ndarray,
    theta: float = 0.10,
    segment_ids: np.ndarray | None = None,
) -> np.ndarray:
    """Label every bar +1 / -1 / 0 by which ``theta`` barrier the future close touches first.

    At bar ``t`` with ``u = close[t] * (1 + theta)`` and ``d = close[t] * (1 - theta)``
    (both computed in float64 exactly as written), let ``s_up`` be the first later bar of
    the same segment with ``close[s] >= u`` and ``s_dn`` the first with ``close[s] <= d``.
    The label is +1 if ``s_up`` exists and comes before ``s_dn`` (or ``s_dn`` does not exist),
    -1 in the mirror case, and 0 if neither exists before the segment ends. Touching a barrier
    exactly counts as reaching it.

    Ties: both barriers first reached at the same bar cannot happen, since one close cannot be
    both ``>= u`` and ``<= d`` when ``theta > 0`` and prices are positive (``u > d``); so the
    order of ``s_up`` and ``s_dn`` is always strict. The last bar of every segment (and every
    single-bar segment) is 0: nothing lies ahead of it. With ``theta >= 1`` the lower barrier is
    ``<= 0`` and never reached, so no bar is -1.

    Parameters
    ----------
    close : array of shape (n,)
        Positive, finite close prices in time order.
    theta : float
        Barrier distance as a fraction of the price (the paper: 0.10); must be positive.
    segment_ids : array of shape (n,), optional
        Segment id per bar. A segment is a contiguous run of equal ids; look-ahead never crosses
        into the next segment. ``None``: one segment.

    Returns
    -------
    labels : int8 array of shape (n,) with values in {-1, 0, 1}.
    """
    c = np.asarray(close, dtype=np.float64)
    if c.ndim != 1:
        raise ValueError(f"close must be 1-D, got shape {c.shape}")
    if not np.all(np.isfinite(c)) or np.any(c <= 0):
        raise ValueError("close must be finite and positive")
    if not (np.isfinite(theta) and theta > 0):
        raise ValueError(f"theta must be positive and finite, got {theta}")
    n = len(c)
    seg_end = _segment_ends(segment_ids, n)
    up = _first_at_least(c, c * (1 + theta))
    dn = _first_at_least(-c, -(c * (1 - theta)))  # first close <= lower barrier
    up_ok = up <= seg_end
    dn_ok = dn <= seg_end
    labels = np.zeros(n, dtype=np.int8)
    labels[up_ok & (~dn_ok | (up < dn))] = 1
    labels[dn_ok & (~up_ok | (dn < up))] = -1
    return labels


def label_counts(labels: np.ndarray) -> dict[int, int]:
    """Count the labels -1, 0 and +1 (all three keys always present) — for class balance checks."""
    arr = np.asarray(labels)
    unknown = np.setdiff1d(np.unique(arr), [-1, 0, 1])
    if unknown.size:
        raise ValueError(f"labels must be in {{-1, 0, 1}}, found {unknown.tolist()}")
    return {k: int(np.count_nonzero(arr == k)) for k in (-1, 0, 1)}
