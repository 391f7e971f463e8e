"""The paper's claims tested on the claims' backtests (paired differences against long-only and
against the exposure-matched constant position, a two-level bootstrap over segments and seeds,
no verdict without an interval). The premise A/B's verdict: :mod:`ilsim.premise_ab`.

A claim's verdict is one of three words (issue 25): *supported* (its interval lies on the
claim's side), *contradicted* (its interval lies wholly on the other side, so it excludes the
paper's value) or *not shown* (the interval straddles the boundary: the data cannot tell; the
verdict says the smallest detectable difference beside the paper's own value)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ilsim.metrics import DEGENERATE_THRESHOLD
from ilsim.params import ClaimsParams, default
from ilsim.report import (
    BENCHMARKS,
    _check_degeneracy_columns,
    paper_table,
)
from ilsim.stats import detectable_difference, percentile_interval, two_level_bootstrap


def _degenerate_seeds(
    bt: pd.DataFrame, strategy: str, regime: str | None = None
) -> tuple[int, int]:
    """(degenerate seeds, seeds) of ``strategy``, over the backtests of ``regime`` or all."""
    sub = bt[bt["strategy"] == strategy]
    if regime is not None:
        sub = sub[sub["regime"] == regime]
    per = sub.assign(degenerate=sub["degenerate"].astype(bool)).groupby("seed")["degenerate"].all()
    return int(per.sum()), len(per)


def untestable(bt: pd.DataFrame, strategies: tuple[str, ...], regime: str | None = None) -> str:
    """Why a claim about ``strategies`` (in ``regime``) cannot be tested on these backtests,
    naming the params key that would give it data; "" when it can."""
    if regime is not None and not (bt["regime"] == regime).any():
        key = "segments.rule." + ("sideways_to_backtest" if regime == "sideways" else "n_backtest")
        return (
            f"no {regime} backtest (give {regime} segments the role backtest: segments.roles or "
            f"{key})"
        )
    missing = [s for s in strategies if s not in set(bt["strategy"])]
    if missing:
        return f"no {', '.join(missing)} rows in the backtests"
    return ""


@dataclass(frozen=True)
class Claim:
    """One of the paper's claims as a statistic of the per-segment × seed results.

    ``kind``: ``diff`` (subject − long-only, mean), ``ratio`` (mean subject / mean long-only),
    ``level`` (mean subject) or ``lowest`` (subject − the lowest of ``others``' means);
    ``side``: ``">0"``, ``"<0"`` or ``"band"`` (the interval inside ``band``); ``better``: the
    direction in which the statistic is good for the subject (``+``: higher, e.g. a return;
    ``-``: lower, e.g. a drawdown ratio or a volatility), which decides whether an excess over
    the exposure-matched null is skill or the opposite."""

    text: str
    statistic: str
    metric: str
    kind: str
    side: str
    subject: str = "final_rl"
    regime: str | None = None
    others: tuple[str, ...] = ()
    band: tuple[float, float] = (np.nan, np.nan)
    better: str = "+"


def paper_claims(
    band: tuple[float, float] = default(ClaimsParams, "drawdown_band"),
) -> list[Claim]:
    """The paper's six claims (its abstract and Section 5)."""
    lo, hi = band
    return [
        Claim(
            "The RL agent's average return beats long-only",
            "final_rl − long_only, avg total return (pp)",
            "total_return_pct",
            "diff",
            ">0",
        ),
        Claim(
            f"Its average max drawdown is about half of long-only's (ratio within {lo:g}–{hi:g})",
            "final_rl / long_only, avg max drawdown",
            "max_drawdown_pct",
            "ratio",
            "band",
            band=band,
            better="-",
        ),
        Claim(
            "It loses less than long-only in bear regimes",
            "final_rl − long_only, bear avg return (pp)",
            "total_return_pct",
            "diff",
            ">0",
            regime="bear",
        ),
        Claim(
            "It is positive in sideways regimes",
            "final_rl sideways avg return (%)",
            "total_return_pct",
            "level",
            ">0",
            regime="sideways",
        ),
        Claim(
            "It earns less than long-only in bull regimes",
            "final_rl − long_only, bull avg return (pp)",
            "total_return_pct",
            "diff",
            "<0",
            regime="bull",
        ),
        Claim(
            "The IL baseline is the most conservative (lowest volatility)",
            "il_baseline − lowest other strategy, avg volatility",
            "volatility",
            "lowest",
            "<0",
            subject="il_baseline",
            others=("final_rl", "long_only", "rl_baseline"),
            better="-",
        ),
    ]


def _claim_value(c: Claim, d: dict, x: str) -> float:
    """The claim's statistic on one (resampled) draw, with ``x`` the subject's array."""
    a = float(np.mean(d[x]))
    if c.kind == "level":
        return a
    if c.kind == "lowest":
        return a - min(float(np.mean(d[o])) for o in c.others)
    b = float(np.mean(d["long_only"]))
    if c.kind == "ratio":
        return a / b if b != 0 else np.nan
    return a - b


def paper_value(c: Claim) -> float:
    """The paper's own value of the claim's statistic (Table 1, or Table 2 for a regime); NaN
    for the volatility claim, whose units differ (the paper's 1-minute bars, our 5-minute)."""
    if c.kind == "lowest":
        return np.nan
    if c.regime is None:
        t1 = paper_table("table1_aggregate").set_index("metric")
        a, b = float(t1.at[c.metric, c.subject]), float(t1.at[c.metric, "long_only"])
    else:
        t2 = paper_table("table2_regimes").set_index(["regime", "strategy"])
        col = f"avg_{c.metric}"
        a = float(t2.at[(c.regime, c.subject), col])
        b = float(t2.at[(c.regime, "long_only"), col])
    if c.kind == "level":
        return a
    return a / b if c.kind == "ratio" else a - b


def _off_side(c: Claim, lo: float, hi: float) -> bool:
    """The whole interval on the other side of the claim (for a band: outside it)."""
    if c.side == ">0":
        return hi < 0
    if c.side == "<0":
        return lo > 0
    return hi < c.band[0] or lo > c.band[1]


def _not_shown(c: Claim, mde: float, claimed: float) -> str:
    """'not shown', with the smallest detectable difference beside the effect the paper
    claims: its difference or level, or for a ratio its distance from 1 (no effect)."""
    if not np.isfinite(claimed):
        what = f"MDE {mde:.3g}; the paper's value is in other units"
    elif c.kind == "ratio":
        what = f"MDE {mde:.3g} vs the claimed effect {1 - claimed:.3g} (ratio {claimed:.3g})"
    else:
        what = f"MDE {mde:.3g} vs the claimed {claimed:.3g}"
    return f"not shown: the interval straddles the claim's boundary ({what})"


def _on_side(c: Claim, lo: float, hi: float) -> bool:
    if c.side == ">0":
        return lo > 0
    if c.side == "<0":
        return hi < 0
    return c.band[0] <= lo and hi <= c.band[1]


def _grid(cb: pd.DataFrame, strategy: str, kind: str, metric: str) -> pd.DataFrame:
    rows = cb[(cb["strategy"] == strategy) & (cb["kind"] == kind)]
    return rows.pivot_table(index="segment", columns="seed", values=metric, aggfunc="mean")


def claims(cb: pd.DataFrame, cfg: ClaimsParams | None = None, seed: int = 0) -> pd.DataFrame:
    """The paper's claims tested on the claims' backtests (``s07_backtest.claim_backtests``), at
    each fee: the claim's statistic (vs long-only, as the paper compares), the same statistic
    of the exposure-matched constant position (``null_estimate``) and the subject's excess over
    it (``excess``: the part exposure cannot explain), each with a two-level bootstrap
    interval over segments and seeds (:mod:`ilsim.stats`), and the smallest difference the
    data could detect (``mde``, ``excess_mde``).

    Verdicts, each starting with one of three words: *supported* when the whole interval lies
    on the claim's side (then whether the excess over the null does too, "beyond exposure", or
    the null meets the claim as well, "exposure explains it"); *contradicted* when it lies
    wholly on the other side; *not shown* when it straddles the boundary (with the MDE beside
    the paper's value, ``paper_value``), with fewer than ``cfg.min_segments`` segments
    (descriptive: a regime's 3-5) or without data (not testable). ``note`` lists degenerate
    seeds. Without ``kind``/``fee`` columns (plain ``backtests.csv``) the rows are
    the strategies at one fee and the null columns stay empty."""
    cfg = cfg or ClaimsParams()
    _check_degeneracy_columns(cb)
    cb = cb.copy()
    if "kind" not in cb:
        cb["kind"] = "strategy"
    if "fee" not in cb:
        cb["fee"] = np.nan
    out = []
    for fee, part in cb.groupby("fee", sort=False, dropna=False):
        for c in paper_claims(tuple(cfg.drawdown_band)):
            out.append({"fee": fee, **_test_claim(c, part, cfg, seed)})
    return pd.DataFrame(out)


def _test_claim(c: Claim, cb: pd.DataFrame, cfg: ClaimsParams, seed: int) -> dict:
    strat = cb[cb["kind"] == "strategy"]
    needs = (c.subject, *c.others) + (("long_only",) if c.kind in ("diff", "ratio") else ())
    row: dict = {"claim": c.text, "statistic": c.statistic}
    empty = dict.fromkeys(
        [
            "exposure",
            "null_exposure",
            "n_segments",
            "n_seeds",
            "estimate",
            "ci_low",
            "ci_high",
            "mde",
            "null_estimate",
            "null_ci_low",
            "null_ci_high",
            "excess",
            "excess_ci_low",
            "excess_ci_high",
            "excess_mde",
            "paper_value",
        ],
        np.nan,
    )
    why = untestable(strat, tuple(dict.fromkeys(needs)), c.regime)
    if why:
        return {**row, **empty, "verdict": f"not shown: not testable: {why}", "note": ""}
    sub = cb if c.regime is None else cb[cb["regime"] == c.regime]
    arrays = {"x": _grid(sub, c.subject, "strategy", c.metric)}
    segs = arrays["x"].index
    # a regime's claim against the exposure the subject held in that regime
    null_kind = "constant" if c.regime is None else "constant_regime"
    if not ((sub["strategy"] == c.subject) & (sub["kind"] == null_kind)).any():
        null_kind = "constant"  # claim backtests written before the regime nulls
    has_null = ((sub["strategy"] == c.subject) & (sub["kind"] == null_kind)).any()
    if has_null:
        arrays["n"] = _grid(sub, c.subject, null_kind, c.metric).reindex(segs)
    for o in dict.fromkeys((*c.others, "long_only")):
        if o in set(sub["strategy"]):
            g = _grid(sub, o, "strategy", c.metric).reindex(segs)
            arrays[o] = g.mean(axis=1).to_numpy() if g.shape[1] != arrays["x"].shape[1] else g
    arrays = {k: np.asarray(v, dtype=float) for k, v in arrays.items()}
    if any(not np.isfinite(v).all() for v in arrays.values()):
        return {
            **row,
            **empty,
            "verdict": "not shown: not testable: missing segment × seed results",
            "note": "",
        }

    def stat(d: dict) -> np.ndarray:
        est = _claim_value(c, d, "x")
        if "n" not in d:
            return np.array([est, np.nan, np.nan])
        nul = _claim_value(c, d, "n")
        return np.array([est, nul, est - nul])

    point = stat(arrays)
    held = (
        sub[sub["strategy"] == c.subject].groupby("kind")["exposure"].mean()
        if ("exposure" in sub)
        else pd.Series(dtype=float)
    )
    row["exposure"] = float(held.get("strategy", np.nan))
    row["null_exposure"] = float(held.get(null_kind, np.nan))
    reps = two_level_bootstrap(stat, arrays, cfg.n_boot, seed)
    ci = [percentile_interval(reps[:, j], cfg.level) for j in range(3)]
    se = reps.std(axis=0, ddof=1)
    n_seg, n_seed = arrays["x"].shape
    row.update(
        n_segments=n_seg,
        n_seeds=n_seed,
        estimate=point[0],
        ci_low=ci[0][0],
        ci_high=ci[0][1],
        mde=detectable_difference(se[0], cfg.level, cfg.power),
        null_estimate=point[1],
        null_ci_low=ci[1][0],
        null_ci_high=ci[1][1],
        excess=point[2],
        excess_ci_low=ci[2][0],
        excess_ci_high=ci[2][1],
        excess_mde=(
            detectable_difference(se[2], cfg.level, cfg.power) if np.isfinite(se[2]) else np.nan
        ),
    )
    row["paper_value"] = paper_value(c)
    if not np.isfinite(ci[0]).all():
        row["verdict"] = "not shown: not testable: the statistic is undefined on these backtests"
    elif n_seg < cfg.min_segments:
        side = (
            point[0] > 0
            if c.side == ">0"
            else point[0] < 0
            if c.side == "<0"
            else c.band[0] <= point[0] <= c.band[1]
        )
        row["verdict"] = (
            f"not shown: descriptive ({n_seg} segments < {cfg.min_segments}), the estimate is "
            + ("on" if side else "not on")
            + " the claim's side"
        )
    elif _off_side(c, *ci[0]):
        where = "outside the band" if c.side == "band" else "on the other side"
        row["verdict"] = f"contradicted: the whole interval lies {where}"
    elif not _on_side(c, *ci[0]):
        row["verdict"] = _not_shown(c, row["mde"], row["paper_value"])
    elif "n" not in arrays:
        row["verdict"] = "supported (no exposure-matched null to compare)"
    else:
        lo_x, hi_x = ci[2]
        good = lo_x > 0 if c.better == "+" else hi_x < 0
        bad = hi_x < 0 if c.better == "+" else lo_x > 0
        if good:
            row["verdict"] = (
                "supported, beyond exposure (it beats its exposure-matched constant position)"
            )
        elif bad:
            row["verdict"] = "supported, but its exposure-matched constant position does better"
        elif _on_side(c, *ci[1]):
            row["verdict"] = (
                "supported, and so is the exposure-matched constant position: exposure explains it"
            )
        else:
            row["verdict"] = "supported, but not distinguishably from the exposure-matched null"
    if np.isfinite(ci[0]).all():  # testable: count the degenerate seeds
        n_deg, n = _degenerate_seeds(strat, c.subject, c.regime)
        if n and n_deg == n:
            row["verdict"] += (
                f" (all {n} {c.subject} seeds degenerate: position unchanged on ≥ "
                f"{DEGENERATE_THRESHOLD * 100:g} % of bars)"
            )
    notes = []
    for s_ in dict.fromkeys((c.subject, *[o for o in c.others if o not in BENCHMARKS])):
        k, n_s = _degenerate_seeds(strat, s_, c.regime)
        if k and s_ not in BENCHMARKS:
            where = f" in {c.regime}" if c.regime else ""
            notes.append(f"{s_}: {k}/{n_s} seeds degenerate{where}")
    row["note"] = "; ".join(notes)
    return row


def paired_seeds(
    bt: pd.DataFrame,
    a: str = "final_rl",
    b: str = "rl_baseline",
    cfg: ClaimsParams | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Differences of two learned strategies, seed number by seed number: mean return over the
    backtests of ``a`` minus ``b`` per seed, how many backtests they trade identically on (same
    return to 1e-9 pp: both at the same constant position), and a last row with the mean
    difference, its two-level bootstrap interval over segments and seeds (issue 25: the
    segments are the sampling unit, as for the claims), the smallest detectable difference and
    a sign-flip permutation p-value across seeds. Since issue 15 each agent draws its own random
    stream, so the pairing by seed number is arbitrary (the two runs share nothing). Verdict, in
    the claims' three words (the paper's claim: ``a`` does better): *supported* when the
    interval lies above 0, *contradicted* below, else *not shown* with the MDE."""
    from itertools import product

    cfg = cfg or ClaimsParams()
    ret = bt.pivot_table(index=["seed", "segment"], columns="strategy", values="total_return_pct")[
        [a, b]
    ]
    d = (ret[a] - ret[b]).rename("diff")
    per = pd.DataFrame(
        {
            f"{a}_pct": ret[a].groupby("seed").mean(),
            f"{b}_pct": ret[b].groupby("seed").mean(),
            "diff_pp": d.groupby("seed").mean(),
            "identical_backtests": (d.abs() < 1e-9).groupby("seed").sum().astype(int),
            "n_backtests": d.groupby("seed").size(),
        }
    ).reset_index()
    x = per["diff_pp"].to_numpy()
    grid = d.unstack("seed").to_numpy(dtype=float)  # [segments, seeds]
    lo = hi = mde = np.nan
    if grid.size and np.isfinite(grid).all():
        reps = two_level_bootstrap(lambda g: np.mean(g["d"]), {"d": grid}, cfg.n_boot, seed)
        lo, hi = percentile_interval(reps, cfg.level)
        mde = detectable_difference(float(reps.std(ddof=1)), cfg.level, cfg.power)
    signs = np.array(list(product([1.0, -1.0], repeat=len(x))))  # every sign flip (2^K)
    flips = np.abs((signs * x).mean(1))
    p = float((flips >= abs(x.mean()) - 1e-12).mean()) if len(x) else np.nan
    summary = {
        "seed": "mean",
        f"{a}_pct": per[f"{a}_pct"].mean(),
        f"{b}_pct": per[f"{b}_pct"].mean(),
        "diff_pp": float(np.mean(grid)) if grid.size else np.nan,
        "ci_low": lo,
        "ci_high": hi,
        "mde": mde,
        "p_sign_flip": p,
        "identical_backtests": int(per["identical_backtests"].sum()),
        "n_backtests": int(per["n_backtests"].sum()),
    }
    n_same, n_all = summary["identical_backtests"], summary["n_backtests"]
    where = f"the two-level {cfg.level:.0%} interval (segments, seeds)"
    if n_all and n_same == n_all:
        verdict = "not shown: identical on every backtest (both hold the same constant positions)"
    elif not (np.isfinite(lo) and np.isfinite(hi)) or lo == hi:
        verdict = "not shown: not testable: no spread to resample"
    elif lo > 0:  # the paper's claim: the interactively trained agent does better
        verdict = f"supported: {a} above {b}, {where} lies above 0"
    elif hi < 0:
        verdict = f"contradicted: {a} below {b}, {where} lies below 0"
    else:
        verdict = f"not shown: the interval contains 0 (MDE {mde:.3g} pp)"
    summary["verdict"] = verdict
    return pd.concat([per.astype({"seed": object}), pd.DataFrame([summary])], ignore_index=True)
