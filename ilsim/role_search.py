"""The long-only return of every segment between consecutive extrema, and the search for the
backtest segments whose per-regime averages match published ones (how step 1 finds the paper's
backtest set when the paper does not list it)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd

from ilsim.regimes import _as_extrema, regime_of

BUY_RULES = ("first_close", "first_open", "prev_close")


def _row_days(index: pd.Index) -> np.ndarray:
    """Local calendar day (``datetime64[D]``) of every row of an intraday or daily index."""
    idx = pd.DatetimeIndex(index)
    wall = idx.tz_localize(None) if idx.tz is not None else idx
    return wall.as_unit("ns").normalize().to_numpy().astype("datetime64[D]")


def segment_long_only_returns(
    extrema: Sequence,
    bars: pd.DataFrame,
    *,
    fee: float = 0.005,
    buy: Literal["first_close", "first_open", "prev_close"] = "first_close",
) -> pd.DataFrame:
    """Long-only return and max drawdown of every segment between consecutive extrema.

    The long-only baseline puts all cash in at one price, fee included, and holds to the last
    row of the segment (the last session ``<= d_i+1``): its return is
    ``end_price / (buy_price * (1 + fee)) - 1``: the paper's Table 6 convention. The backtests'
    long-only (:func:`ilsim.backtest.long_only_actions`) decides at the segment's first bar and
    fills at its second close (issue 15's execution rule), so it differs from this by that
    bar's move. The
    drawdown follows :mod:`ilsim.metrics` (the initial cash is the path's first point, so the fee
    opens a drawdown); it sees only the rows' closes, so on daily rows it misses intraday lows.

    Parameters
    ----------
    extrema : sequence of ``{"date", "kind"}`` (or objects with those attributes)
        All extrema; segment ``i`` (1-based) runs from extremum ``i`` to ``i + 1``.
    bars : DataFrame with ``open`` and ``close``
        Intraday bars (tz-aware index, local sessions) or daily rows (date index).
    fee : float
        Proportional fee on the buy.
    buy : {"first_close", "first_open", "prev_close"}
        Buy price. ``first_close``: close of the segment's first row (first session after
        ``d_i``), the segment table's rule — exact on the bars it runs on. ``first_open``: open of
        that row; on daily rows the nearest stand-in for the pipeline's buy on 5-minute bars (the
        close of the 09:30 bar, five minutes after the open). ``prev_close``: close of the last
        row on or before ``d_i`` (the extremum day's close).

    Returns
    -------
    DataFrame, one row per segment (all of them): ``segment, start_date, end_date, regime,
    covered, rows, buy_time, buy_price, end_time, end_price, long_only_pct,
    max_drawdown_pct``. A segment is covered when the rows span ``d_i … d_i+1`` (as in
    :func:`segments_from_extrema`); uncovered ones have NaN values.
    """
    if buy not in BUY_RULES:
        raise ValueError(f"buy must be one of {BUY_RULES}, got {buy!r}")
    ext = _as_extrema(extrema)
    if len(ext) < 2:
        raise ValueError("need at least two extrema")
    days = _row_days(bars.index)
    if len(days) == 0:
        raise ValueError("no rows")
    close = bars["close"].to_numpy(dtype=np.float64)
    open_ = bars["open"].to_numpy(dtype=np.float64)
    d = np.array([e[0] for e in ext], dtype="datetime64[D]")
    d0, d1 = d[:-1], d[1:]
    first = np.searchsorted(days, d0, side="right")  # first row after d_i
    last = np.searchsorted(days, d1, side="right") - 1  # last row on or before d_i+1
    covered = (d0 >= days[0]) & (d1 <= days[-1]) & (last >= first)
    buy_row = first - 1 if buy == "prev_close" else first
    n = len(d0)
    out = pd.DataFrame(
        {
            "segment": np.arange(1, n + 1),
            "start_date": [e[0] for e in ext[:-1]],
            "end_date": [e[0] for e in ext[1:]],
            "regime": [regime_of(a[1], b[1]) for a, b in zip(ext[:-1], ext[1:], strict=True)],
            "covered": covered,
            "rows": np.where(covered, last - first + 1, 0),
        }
    )
    safe_buy = np.clip(buy_row, 0, len(days) - 1)
    safe_last = np.clip(last, 0, len(days) - 1)
    price = open_ if buy == "first_open" else close
    buy_price = np.where(covered, price[safe_buy], np.nan)
    end_price = np.where(covered, close[safe_last], np.nan)
    out["buy_time"] = pd.Series(bars.index[safe_buy]).where(covered)
    out["buy_price"] = buy_price
    out["end_time"] = pd.Series(bars.index[safe_last]).where(covered)
    out["end_price"] = end_price
    out["long_only_pct"] = 100.0 * (end_price / (buy_price * (1.0 + fee)) - 1.0)
    mdd = np.full(n, np.nan)
    for i in np.flatnonzero(covered):  # one slice per segment (36 in the paper)
        path = np.concatenate(
            ([1.0, 1.0 / (1.0 + fee)], close[first[i] : last[i] + 1] / (buy_price[i] * (1 + fee)))
        )
        mdd[i] = min(float((path / np.maximum.accumulate(path) - 1.0).min()), 0.0) * 100.0
    out["max_drawdown_pct"] = mdd
    return out


def _subsets(n: int, k: int) -> np.ndarray:
    """All ``k``-subsets of ``range(n)`` as an int array ``[C(n, k), k]`` (lexicographic)."""
    m = math.comb(n, k)
    flat = np.fromiter(
        itertools.chain.from_iterable(itertools.combinations(range(n), k)),
        dtype=np.int64,
        count=m * k,
    )
    return flat.reshape(m, k)


def _regime_candidates(
    pool: pd.DataFrame,
    goal: Mapping[str, float],
    sizes: Sequence[int],
    *,
    require: Sequence[int],
    case: float | None,
    case_tol: float,
    top: int,
    max_subsets: int,
) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Per subset size: the ``top`` subsets of one regime's pool by their miss.

    Returns ``{k: (segment_ids [m, k], miss [m], means [m, n_columns], case_miss [m])}``, best
    first; the miss of a subset is the largest ``|mean(column) - goal|`` over the goal's columns
    (pp), its case miss the smallest ``|long_only_pct - case|`` over its segments (NaN without a
    case). Subsets lacking a ``require``-d segment or a segment within ``case_tol`` of the case
    are left out.
    """
    cols = list(goal)
    values = pool[cols].to_numpy(dtype=np.float64)
    ids = pool["segment"].to_numpy()
    forced = np.isin(ids, np.asarray(require, dtype=ids.dtype))
    case_gap = (
        np.abs(pool["long_only_pct"].to_numpy(dtype=np.float64) - case)
        if case is not None
        else np.full(len(pool), np.nan)
    )
    target = np.array([goal[c] for c in cols])
    out = {}
    for k in sizes:
        if math.comb(len(pool), k) > max_subsets:
            raise ValueError(
                f"{math.comb(len(pool), k)} subsets of size {k} exceed max_subsets={max_subsets}"
            )
        combos = _subsets(len(pool), k)
        keep = forced[combos].sum(axis=1) == forced.sum()
        if case is not None:
            keep &= (case_gap[combos] <= case_tol).any(axis=1)
        combos = combos[keep]
        means = values[combos].mean(axis=1)  # [m, n_columns]
        miss = np.abs(means - target).max(axis=1)
        gap = case_gap[combos].min(axis=1) if len(combos) else np.empty(0)
        order = np.lexsort((np.arange(len(miss)), miss))[:top]
        out[k] = (ids[combos[order]], miss[order], means[order], gap[order])
    return out


def search_backtest_roles(
    returns: pd.DataFrame,
    targets: Mapping[str, float | Mapping[str, float]],
    *,
    n_backtest: int = 12,
    sizes: Mapping[str, int | Sequence[int]] | None = None,
    require: Sequence[int] = (),
    cases: Mapping[str, float] | None = None,
    case_tol: float = 0.05,
    column: str = "long_only_pct",
    top: int = 5,
    max_subsets: int = 5_000_000,
) -> pd.DataFrame:
    """Sets of backtest segments whose per-regime averages best match published ones.

    A candidate picks, for every regime in ``targets``, a subset of that regime's segments, the
    sizes adding up to ``n_backtest``. Its miss in a regime is the largest absolute difference
    (pp) between the subset's mean and the target over the target's columns; candidates are
    ranked by the largest miss over the regimes, then by the sum of the regimes' misses. The
    regimes' choices are independent given the sizes, so each regime's subsets are enumerated
    on their own (all of them, with numpy) and only each regime's ``top`` best per size are
    combined: a combination using a worse subset is beaten by ``top`` others on both keys, so
    the result is the exact top ``top`` (ties aside).

    Parameters
    ----------
    returns : DataFrame
        One row per segment: ``segment``, ``regime`` and the target columns (e.g. from
        :func:`segment_long_only_returns`); rows with NaN in them are left out, and so are
        segments the caller drops (to restrict the candidates, e.g. to a date range).
    targets : mapping regime -> float or mapping column -> float
        Published averages; a float is the target of ``column``. Regimes not listed get no
        backtests.
    n_backtest : int
        Number of backtests in all.
    sizes : mapping regime -> int or sequence of ints, optional
        Allowed numbers of backtests per regime (default 1 … n_backtest).
    require : sequence of segment ids
        Segments every candidate must contain.
    cases : mapping regime -> float, optional
        A published single backtest (in ``long_only_pct``) per regime: the regime's subset must
        contain a segment within ``case_tol`` of it (0.05: a value printed with one decimal;
        ``np.inf`` only reports the nearest as ``case_miss_<r>``).
    column : str
        The column a float target refers to.
    top : int
        Number of candidates returned.
    max_subsets : int
        Guard against pools too large to enumerate.

    Returns
    -------
    DataFrame ranked best first: ``rank, max_miss_pp, sum_miss_pp, backtests`` (all segment
    ids, sorted), then per regime ``n_<r>, segments_<r>, miss_<r>``, ``<column>_<r>`` (the
    subset's means) and, with a case, ``case_miss_<r>``. Empty when nothing satisfies the
    constraints.
    """
    goals = {r: ({column: float(t)} if np.isscalar(t) else dict(t)) for r, t in targets.items()}
    needed = {c for g in goals.values() for c in g} | ({"long_only_pct"} if cases else set())
    data = returns.dropna(subset=sorted(needed))
    regs = list(goals)
    pools = {r: data[data["regime"] == r].sort_values("segment") for r in regs}
    missing = sorted(set(require) - set(pd.concat(pools.values())["segment"].tolist()))
    if missing:
        raise ValueError(f"required segments {missing} are not among the candidates")
    allowed = {}
    for r in regs:
        s = (sizes or {}).get(r, range(1, n_backtest + 1))
        s = [s] if isinstance(s, int | np.integer) else list(s)
        allowed[r] = [k for k in s if 1 <= k <= len(pools[r])]
    cands = {
        r: _regime_candidates(
            pools[r],
            goals[r],
            allowed[r],
            require=list(require),
            case=(cases or {}).get(r),
            case_tol=case_tol,
            top=top,
            max_subsets=max_subsets,
        )
        for r in regs
    }
    scored = []  # (max miss, sum miss, split, picks) per split, vectorised over the picks
    for split in itertools.product(*(allowed[r] for r in regs)):
        if sum(split) != n_backtest:
            continue
        lists = [cands[r][k] for r, k in zip(regs, split, strict=True)]
        if any(len(c[1]) == 0 for c in lists):
            continue
        grids = np.meshgrid(*(np.arange(len(c[1])) for c in lists), indexing="ij")
        picks = np.stack([g.ravel() for g in grids], 1)  # [P, n_regimes]
        miss = np.stack([c[1][picks[:, j]] for j, c in enumerate(lists)], 1)
        scored.append((miss.max(1), miss.sum(1), split, picks))
    if not scored:
        return pd.DataFrame(columns=["rank", "max_miss_pp", "sum_miss_pp", "backtests"])
    max_miss = np.concatenate([s[0] for s in scored])
    sum_miss = np.concatenate([s[1] for s in scored])
    which = np.concatenate([np.full(len(s[0]), i) for i, s in enumerate(scored)])
    pick_rows = np.concatenate([s[3] for s in scored])
    best = np.lexsort((np.arange(len(max_miss)), sum_miss, max_miss))[:top]
    rows = []
    for i in best:  # only the ``top`` winners become rows
        split = scored[which[i]][2]
        row: dict = {"max_miss_pp": float(max_miss[i]), "sum_miss_pp": float(sum_miss[i])}
        chosen: list[int] = []
        for r, k, j in zip(regs, split, pick_rows[i], strict=True):
            seg_ids, miss, means, gap = cands[r][k]
            seg = [int(x) for x in seg_ids[j]]
            chosen += seg
            row[f"n_{r}"] = k
            row[f"segments_{r}"] = tuple(seg)
            row[f"miss_{r}"] = float(miss[j])
            for c, m in zip(goals[r], means[j], strict=True):
                row[f"{c}_{r}"] = float(m)
            if cases and r in cases:
                row[f"case_miss_{r}"] = float(gap[j])
        row["backtests"] = tuple(sorted(chosen))
        rows.append(row)
    out = pd.DataFrame(rows)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    lead = ["rank", "max_miss_pp", "sum_miss_pp", "backtests"]
    return out[lead + [c for c in out.columns if c not in lead]]
