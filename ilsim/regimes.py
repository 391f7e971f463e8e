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
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ilsim.params import ROLES, RoleRule

REGIMES = ("bull", "bear", "sideways")
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


def bar_span(bars: pd.DataFrame, idx: np.ndarray) -> dict[str, Any]:
    """A segment's span on ``bars`` from its bars' positions ``idx`` (sorted, contiguous, at
    least one): the first and last bar, their count and times, and buy and hold's return over
    them (%)."""
    a, b = int(idx[0]), int(idx[-1])
    close = bars["close"].to_numpy()
    return {
        "first_bar": a,
        "last_bar": b,
        "bars": b - a + 1,
        "start": bars.index[a],
        "end": bars.index[b],
        "bh_return_pct": 100.0 * (close[b] / close[a] - 1.0),
    }


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
                **bar_span(bars, idx),
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
