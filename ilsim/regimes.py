"""Regime segments: extrema → segments → regime labels → roles (SPEC step 1).

A segment runs from one extremum date to the next: it holds the sessions ``d_i < day <= d_i+1``,
so it starts at the close of the extremum day it comes from (its first bars open there) and
ends at the close of the extremum day it reaches; segments never overlap. min→max is *bull*,
max→min is *bear*, and two extrema of the same kind bound a *sideways* segment. Segment ids
keep the position in the full extrema list (the paper's numbering), also when the data cover
only part of it.

Roles (``il_train``, ``validation``, ``sim_train``, ``backtest``, ``unused``) are listed
explicitly in the params, or made by :func:`assign_roles`: sideways segments go to the
backtests; the others in date order give the first ``n_il_train`` to IL training, the next
``n_validation`` to policy selection, the next ``n_sim_train`` to the synthesis network, and
the last ones fill the backtests up to ``n_backtest``.

A segment's *coverage* is the share of its sessions the data hold: sessions are the weekdays
``d_i < day <= d_i+1`` (every calendar day when the data trade on weekends), so holidays count
as missing. :func:`drop_sparse` drops segments below a share (``segments.min_coverage``).
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd

from ilsim.params import ROLES, RoleRule

REGIMES = ("bull", "bear", "sideways")
BUY_RULES = ("first_close", "first_open", "prev_close")
SEGMENT_COLUMNS = [
    "segment",
    "start_date",
    "end_date",
    "kind_from",
    "kind_to",
    "regime",
    "role",
    "first_bar",
    "last_bar",
    "bars",
    "start",
    "end",
    "bh_return_pct",
]
COVERAGE_COLUMNS = ["sessions", "expected_sessions", "coverage"]


def regime_of(kind_from: str, kind_to: str) -> str:
    """min→max is bull, max→min is bear, same kind is sideways."""
    if kind_from == kind_to:
        return "sideways"
    return "bull" if kind_from == "min" else "bear"


def _as_extrema(extrema: Sequence) -> list[tuple[dt.date, str]]:
    out = []
    for e in extrema:
        date = e["date"] if isinstance(e, dict) else e.date
        kind = e["kind"] if isinstance(e, dict) else e.kind
        out.append((pd.Timestamp(date).date(), str(kind)))
    return out


def segments_from_extrema(
    extrema: Sequence, bars: pd.DataFrame, first_date: dt.date | None = None
) -> pd.DataFrame:
    """Cut ``bars`` into segments between consecutive extrema that the data fully cover."""
    ext = _as_extrema(extrema)
    days = np.asarray(bars.index.date)
    if len(days) == 0:
        raise ValueError("no bars to segment")
    first_day, last_day = days[0], days[-1]
    session_days = np.unique(days).astype("datetime64[D]")
    weekends = bool((np.is_busday(session_days) == 0).any())  # data that trade every day
    rows = []
    for i in range(len(ext) - 1):
        (d0, k0), (d1, k1) = ext[i], ext[i + 1]
        if d0 < first_day or d1 > last_day or (first_date and d0 < first_date):
            continue
        mask = (days > d0) & (days <= d1)
        idx = np.flatnonzero(mask)
        if len(idx) < 2:
            continue
        a, b = int(idx[0]), int(idx[-1])
        close = bars["close"].to_numpy()
        lo, hi = np.datetime64(d0, "D") + 1, np.datetime64(d1, "D") + 1
        expected = (
            int((hi - lo) // np.timedelta64(1, "D")) if weekends else int(np.busday_count(lo, hi))
        )
        sessions = int(((session_days >= lo) & (session_days < hi)).sum())
        rows.append(
            {
                "segment": i + 1,
                "start_date": d0,
                "end_date": d1,
                "kind_from": k0,
                "kind_to": k1,
                "regime": regime_of(k0, k1),
                "role": "unused",
                "first_bar": a,
                "last_bar": b,
                "bars": b - a + 1,
                "start": bars.index[a],
                "end": bars.index[b],
                "bh_return_pct": 100.0 * (close[b] / close[a] - 1.0),
                "sessions": sessions,
                "expected_sessions": expected,
                "coverage": min(1.0, sessions / max(1, expected)),
            }
        )
    if not rows:
        raise ValueError(
            f"none of the {len(ext) - 1} segments between the extrema lies inside the data "
            f"({first_day} … {last_day})"
        )
    return pd.DataFrame(rows, columns=SEGMENT_COLUMNS + COVERAGE_COLUMNS)


def drop_sparse(segments: pd.DataFrame, min_coverage: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split segments into those whose ``coverage`` reaches ``min_coverage`` and those that do
    not (dropped: their extrema's dates would claim sessions the data lack). Fails when none
    is left, naming the key."""
    sparse = segments["coverage"].to_numpy() < min_coverage
    kept = segments[~sparse].reset_index(drop=True)
    dropped = segments[sparse].reset_index(drop=True)
    if kept.empty:
        worst = ", ".join(
            f"segment {r.segment}: {r.sessions} of {r.expected_sessions}"
            for r in dropped.itertuples(index=False)
        )
        raise ValueError(
            f"every segment inside the data has less than {min_coverage:.0%} of its sessions in "
            f"the data ({worst}): the file has gaps across the extrema's span; bring data that "
            "cover the segments, or lower segments.min_coverage"
        )
    return kept, dropped


def describe_rule(rule: RoleRule) -> str:
    """The role rule as words, from its numbers (:func:`assign_roles`)."""
    side = (
        "sideways segments are backtests; the bull and bear segments"
        if rule.sideways_to_backtest
        else "all segments"
    )
    return (
        f"ilsim.regimes.assign_roles with segments.rule: {side} in date order give the first "
        f"{rule.n_il_train} to IL training, the next {rule.n_validation} to validation (policy "
        f"selection), the next {rule.n_sim_train} to the synthesis network, and the last ones "
        f"fill the backtests up to {rule.n_backtest}; what is left is unused."
    )


def zigzag(close: pd.Series, threshold: float) -> list[dict]:
    """Alternating extrema of a (daily) close series: a swing counts once it exceeds ``threshold``.

    Returns ``[{"date", "kind"}, ...]``; the first and last points close the series.
    """
    values = close.to_numpy(dtype=float)
    dates = [pd.Timestamp(d).date() for d in close.index]
    if len(values) < 2:
        return []
    pivots: list[tuple[int, str]] = []
    trend = 0  # +1 rising (the running extreme is a max), -1 falling, 0 not yet known
    hi_i = lo_i = ext = 0
    for i in range(1, len(values)):  # daily closes: a few thousand points at most
        v = values[i]
        if trend == 0:
            hi_i = i if v > values[hi_i] else hi_i
            lo_i = i if v < values[lo_i] else lo_i
            if v >= values[lo_i] * (1 + threshold):
                pivots.append((lo_i, "min"))
                trend, ext = 1, i
            elif v <= values[hi_i] * (1 - threshold):
                pivots.append((hi_i, "max"))
                trend, ext = -1, i
        elif trend == 1:
            if v > values[ext]:
                ext = i
            elif v <= values[ext] * (1 - threshold):
                pivots.append((ext, "max"))
                trend, ext = -1, i
        else:
            if v < values[ext]:
                ext = i
            elif v >= values[ext] * (1 + threshold):
                pivots.append((ext, "min"))
                trend, ext = 1, i
    if trend != 0:
        pivots.append((ext, "max" if trend == 1 else "min"))
    return [{"date": dates[i], "kind": k} for i, k in pivots]


def match_extrema(auto: Sequence, reference: Sequence, trading_days: pd.Index) -> pd.DataFrame:
    """For each reference extremum inside ``trading_days``, the nearest automatic one of the
    same kind and how many trading days apart they are."""
    auto_e, ref_e = _as_extrema(auto), _as_extrema(reference)
    pos = {d: i for i, d in enumerate(pd.Index(trading_days).map(lambda x: pd.Timestamp(x).date()))}
    day_array = np.array(sorted(pos))

    def position(d: dt.date) -> int:
        return int(np.searchsorted(day_array, d))

    rows = []
    for d, k in ref_e:
        if not day_array[0] <= d <= day_array[-1]:
            continue
        same = [a for a, ak in auto_e if ak == k]
        if not same:
            rows.append({"date": d, "kind": k, "auto_date": None, "days_off": np.nan})
            continue
        best = min(same, key=lambda a: abs(position(a) - position(d)))
        rows.append(
            {"date": d, "kind": k, "auto_date": best, "days_off": abs(position(best) - position(d))}
        )
    return pd.DataFrame(rows)


def assign_roles(segments: pd.DataFrame, rule: RoleRule) -> list[str]:
    """Roles by the documented rule (module docstring); ``unused`` where the counts run out."""
    roles = ["unused"] * len(segments)
    regime = segments["regime"].tolist()
    sideways = (
        [i for i, r in enumerate(regime) if r == "sideways"] if rule.sideways_to_backtest else []
    )
    trending = [i for i in range(len(segments)) if i not in sideways]
    for i in trending[: rule.n_il_train]:
        roles[i] = "il_train"
    k = rule.n_il_train + rule.n_validation
    for i in trending[rule.n_il_train : k]:
        roles[i] = "validation"
    for i in trending[k : k + rule.n_sim_train]:
        roles[i] = "sim_train"
    n_side = min(len(sideways), rule.n_backtest)
    for i in sideways[:n_side]:
        roles[i] = "backtest"
    rest = trending[k + rule.n_sim_train :]
    n_trend_bt = rule.n_backtest - n_side
    for i in rest[len(rest) - n_trend_bt :] if n_trend_bt > 0 else []:
        roles[i] = "backtest"
    return roles


def with_roles(
    segments: pd.DataFrame,
    rule: RoleRule,
    explicit: Sequence[str] | None,
    dropped: Sequence[int] = (),
) -> pd.DataFrame:
    """Attach roles: the explicit list from params when given (checked), else the rule's.
    ``dropped``: ids of segments left out for their coverage (named in the count's error)."""
    out = segments.copy()
    if explicit is not None:
        if len(explicit) != len(out):
            ids = ", ".join(str(i) for i in out["segment"])
            gone = (
                f"; dropped for coverage below segments.min_coverage: "
                f"{', '.join(str(i) for i in dropped)}"
                if len(dropped)
                else ""
            )
            raise ValueError(
                f"segments.roles lists {len(explicit)} roles but the data give {len(out)} "
                f"segments (ids {ids}{gone}). List exactly one role per segment, in that order, "
                "in segments.roles, or delete segments.roles to assign roles by segments.rule"
                + (" (or lower segments.min_coverage to keep the dropped ones)" if gone else "")
            )
        bad = sorted(set(explicit) - set(ROLES))
        if bad:
            raise ValueError(f"segments.roles: unknown role(s) {bad}; allowed: {list(ROLES)}")
        out["role"] = list(explicit)
    else:
        out["role"] = assign_roles(out, rule)
    return out


def bar_segment_ids(segments: pd.DataFrame, n_bars: int) -> np.ndarray:
    """Segment id of every bar (−1 outside every segment)."""
    ids = np.full(n_bars, -1, dtype=np.int64)
    for seg, a, b in segments[["segment", "first_bar", "last_bar"]].itertuples(index=False):
        ids[a : b + 1] = seg
    return ids


def role_mask(segments: pd.DataFrame, n_bars: int, role: str) -> np.ndarray:
    """Boolean mask of the bars inside segments of one role."""
    keep = segments.loc[segments["role"] == role, "segment"].to_numpy()
    return np.isin(bar_segment_ids(segments, n_bars), keep)


def role_ranges(segments: pd.DataFrame, roles: str | Sequence[str]) -> list[tuple[int, int]]:
    """``[first_bar, last_bar]`` of every segment with one of ``roles``, in date order."""
    chosen = segments[segments["role"].isin([roles] if isinstance(roles, str) else roles)]
    return list(zip(chosen["first_bar"].tolist(), chosen["last_bar"].tolist(), strict=True))


def save_segments(segments: pd.DataFrame, path) -> None:
    """Write the segment table as CSV (dates ISO, timestamps with offsets)."""
    segments.to_csv(path, index=False, float_format="%.4f")


def load_segments(path) -> pd.DataFrame:
    """Read a segment table written by :func:`save_segments`."""
    seg = pd.read_csv(path)
    for c in ("start_date", "end_date"):
        seg[c] = pd.to_datetime(seg[c]).dt.date
    return seg


def zigzag_sweep(
    daily_close: pd.Series, reference: Sequence, thresholds: Sequence[float], tolerance: int = 5
) -> pd.DataFrame:
    """Agreement of the zig-zag with listed extrema for several thresholds.

    ``recall``: share of listed extrema with a same-kind zig-zag extremum within ``tolerance``
    trading days; ``precision``: share of zig-zag extrema with a listed one that near.
    """
    rows = []
    for th in thresholds:
        auto = zigzag(daily_close, th)
        listed = match_extrema(auto, reference, daily_close.index)
        found = match_extrema(reference, auto, daily_close.index)
        recall = float((listed["days_off"] <= tolerance).mean()) if len(listed) else np.nan
        precision = float((found["days_off"] <= tolerance).mean()) if len(found) else np.nan
        f1 = 2 * recall * precision / (recall + precision) if recall + precision > 0 else 0.0
        rows.append(
            {
                "threshold": th,
                "zigzag_extrema": len(auto),
                "listed": len(listed),
                "recall": recall,
                "precision": precision,
                "f1": f1,
            }
        )
    return pd.DataFrame(rows)


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
