"""Tables and reports: CSV plus Markdown, written by the pipeline (no number typed by hand)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ilsim.metrics import DEGENERATE_THRESHOLD, POSITION_RTOL
from ilsim.params import ClaimsParams
from ilsim.resources import shipped
from ilsim.stats import detectable_difference, percentile_interval, two_level_bootstrap


def markdown_table(df: pd.DataFrame, floatfmt: str = ".4g", index: bool = False) -> str:
    """A GitHub-flavoured Markdown table (no extra dependency)."""
    frame = df.reset_index() if index else df

    def fmt(v: object) -> str:
        if isinstance(v, float | np.floating):
            return "" if np.isnan(v) else format(float(v), floatfmt)
        return str(v)

    head = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *rows]) + "\n"


# Significant digits of a table's floats: far beyond any meaningful precision, and short of
# the last bits, which the order of a floating-point sum (thread scheduling) can change — so
# such differences rarely reach a table's bytes (a value on a rounding boundary still can).
CSV_FLOAT_FORMAT = "%.12g"


def write_table(
    df: pd.DataFrame, directory: str | Path, stem: str, floatfmt: str = ".4g"
) -> list[Path]:
    """Write ``stem.csv`` (floats to 12 significant digits) and ``stem.md`` into
    ``directory``; return both paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    csv, md = directory / f"{stem}.csv", directory / f"{stem}.md"
    df.to_csv(csv, index=False, float_format=CSV_FLOAT_FORMAT)
    md.write_text(markdown_table(df, floatfmt))
    return [csv, md]


def project_root(start: str | Path | None = None) -> Path:
    """The folder holding ``pyproject.toml`` and ``Snakefile``, searched upwards from ``start``."""
    here = Path(start or Path.cwd()).resolve()
    for p in (here, *here.parents):
        if (p / "Snakefile").exists() and (p / "pyproject.toml").exists():
            return p
    raise FileNotFoundError(f"no ilsim project (Snakefile + pyproject.toml) above {here}")


def paper_table(name: str, root: str | Path | None = None) -> pd.DataFrame:
    """One of the paper's own tables, ``paper/<name>.csv`` (see ``paper/README.md``): of the
    project at ``root``, else the copy shipped with ilsim (found from any folder)."""
    path = shipped("paper", f"{name}.csv") if root is None else Path(root) / "paper" / f"{name}.csv"
    return pd.read_csv(path)


def beside_paper(
    ours: pd.DataFrame, paper: pd.DataFrame, key: str, columns: list[str]
) -> pd.DataFrame:
    """Ours next to the paper's: for each column ``c``: ``c`` (ours), ``c_paper``, ``c_diff``.

    Rows follow the paper's order, then any rows only we have."""
    order = list(dict.fromkeys([*paper[key], *ours[key]]))
    a = ours.set_index(key)[columns].reindex(order)
    b = paper.set_index(key)[columns].reindex(order)
    out = pd.DataFrame({key: order})
    for c in columns:
        out[c] = a[c].to_numpy()
        out[f"{c}_paper"] = b[c].to_numpy()
        out[f"{c}_diff"] = out[c] - out[f"{c}_paper"]
    return out


# -- backtest tables, claims and the reproduction report ----------------------------------------

PAPER_METRICS = ("total_return_pct", "volatility", "sharpe_ratio", "max_drawdown_pct")
DEGENERATE_RULE_SHORT = "position unchanged on ≥ 99 % of the bars"
# Table 1's impact-aware columns (the same metric, real prices plus the strategy's own impact).
IMPACT_COLUMNS = ("impact_mean", "impact_ci_low", "impact_ci_high")
BENCHMARKS = ("long_only",)  # constant by design: degenerate, but a benchmark, never a failure
DEGENERACY_COLUMNS = ("position_change_frac", "degenerate")  # per row of backtests.csv
DEGENERATE_RULE = (
    "A policy is degenerate on a backtest when its position (the shares held after each bar's "
    f"trade) does not change on at least {DEGENERATE_THRESHOLD * 100:g} % of the backtest's "
    f"bars (a change below {POSITION_RTOL:.0e} of the holdings is float noise; the initial buy "
    "counts as a change); a seed is degenerate when it is degenerate on every backtest (in "
    "Table 2: every backtest of the regime). A seed average over degenerate seeds is an average "
    "of (nearly) constant positions — all in, all cash, or a handful of trades — not of "
    "trading behaviour. Long-only is "
    "degenerate by construction (one buy, then hold): it is the constant benchmark, not a "
    "failure."
)


def mean_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t interval across seeds. One seed, or seeds that all agree, say nothing
    about the noise: the interval is then undefined (NaN), never a point a claim could rest on
    (issue 12)."""
    from scipy import stats

    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return np.nan, np.nan, np.nan
    m = float(x.mean())
    if len(x) < 2 or x.std(ddof=1) == 0:
        return m, np.nan, np.nan
    half = float(stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))
    return m, m - half, m + half


def welch_ci(a: np.ndarray, b: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Difference of means ``mean(a) − mean(b)`` of two independent samples with a Welch
    interval (NaN bounds when either sample has fewer than 2 values or neither varies)."""
    from scipy import stats

    a, b = np.asarray(a, float), np.asarray(b, float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if len(a) == 0 or len(b) == 0:
        return np.nan, np.nan, np.nan
    d = float(a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2:
        return d, np.nan, np.nan
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = float(np.sqrt(va + vb))
    if se == 0:
        return d, np.nan, np.nan
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = float(stats.t.ppf(0.5 + level / 2, dof) * se)
    return d, d - half, d + half


def _check_degeneracy_columns(bt: pd.DataFrame) -> None:
    """Fail clearly on a ``backtests.csv`` written before the degenerate columns existed."""
    missing = [c for c in DEGENERACY_COLUMNS if c not in bt.columns]
    if missing:
        raise KeyError(
            f"backtests lack {missing}: rerun s07_backtest.run_backtests (notebook 07) to add them"
        )


def seed_averages(bt: pd.DataFrame, by: list[str], metrics: list[str]) -> pd.DataFrame:
    """Average each seed's metrics over the backtests (within ``by`` groups), one row per
    strategy × seed × group, with ``n_backtests``, ``n_degenerate_backtests`` and
    ``degenerate`` (degenerate on every backtest of the group)."""
    _check_degeneracy_columns(bt)
    g = bt.assign(degenerate=bt["degenerate"].astype(bool)).groupby(["strategy", "seed", *by])
    out = g[metrics].mean()
    out["n_backtests"] = g.size()
    out["n_degenerate_backtests"] = g["degenerate"].sum().astype(int)
    out["degenerate"] = g["degenerate"].all()
    return out.reset_index()


def degenerate_note(strategy: str, n_degenerate: int, n_seeds: int) -> str:
    """What a seed average of ``strategy`` means given its degenerate seeds ("" when none)."""
    if strategy in BENCHMARKS:
        return "benchmark: constant position by design"
    if n_degenerate <= 0 or n_seeds <= 0:
        return ""
    if n_degenerate == n_seeds:
        return (
            f"all {n_seeds} seeds degenerate (position unchanged on "
            f"≥ {DEGENERATE_THRESHOLD * 100:g} % of bars): not trading behaviour"
        )
    return f"{n_degenerate}/{n_seeds} seeds degenerate"


def summary_with_ci(per_seed: pd.DataFrame, by: list[str], metrics: list[str]) -> pd.DataFrame:
    """Long table: group, strategy, metric, mean and 95 % interval across seeds, the per-seed
    min and max, the seed count ``n_seeds``, the degenerate seeds ``n_degenerate`` and a
    ``note`` (see :func:`degenerate_note`) beside every mean."""
    rows = []
    for keys, g in per_seed.groupby([*by, "strategy"], sort=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        group = dict(zip([*by, "strategy"], keys, strict=True))
        n_deg = int(g["degenerate"].astype(bool).sum()) if "degenerate" in g else 0
        for m in metrics:
            mean, lo, hi = mean_ci(g[m].to_numpy())
            rows.append(
                {
                    **group,
                    "metric": m,
                    "mean": mean,
                    "ci_low": lo,
                    "ci_high": hi,
                    "seed_min": float(g[m].min()),
                    "seed_max": float(g[m].max()),
                    "n_seeds": len(g),
                    "n_degenerate": n_deg,
                    "note": degenerate_note(group["strategy"], n_deg, len(g)),
                }
            )
    return pd.DataFrame(rows)


_SPREAD = ["seed_min", "seed_max", "n_seeds", "n_degenerate"]


def per_seed_table(bt: pd.DataFrame) -> pd.DataFrame:
    """One row per strategy × seed: mean return, mean drawdown and mean position-change share
    over the backtests, how many backtests are degenerate, and whether the seed is (all are)."""
    ps = seed_averages(bt, [], ["total_return_pct", "max_drawdown_pct", "position_change_frac"])
    order = {s: i for i, s in enumerate(dict.fromkeys(bt["strategy"]))}
    ps = ps.sort_values(
        ["strategy", "seed"], key=lambda c: c.map(order) if c.name == "strategy" else c
    ).reset_index(drop=True)
    ps.insert(1, "role", ["benchmark" if s in BENCHMARKS else "learned" for s in ps["strategy"]])
    ps["degenerate"] = np.where(ps["degenerate"], "yes", "no")
    return ps[
        [
            "strategy",
            "role",
            "seed",
            "n_backtests",
            "total_return_pct",
            "max_drawdown_pct",
            "position_change_frac",
            "n_degenerate_backtests",
            "degenerate",
        ]
    ]


def degenerate_counts(per_seed: pd.DataFrame) -> pd.DataFrame:
    """Per strategy, from :func:`per_seed_table`: seeds, degenerate seeds (and which), and
    degenerate seed × backtest runs out of all."""
    rows = []
    for strategy, g in per_seed.groupby("strategy", sort=False):
        deg = g[g["degenerate"].astype(str) == "yes"]
        rows.append(
            {
                "strategy": strategy,
                "role": "benchmark" if strategy in BENCHMARKS else "learned",
                "n_seeds": len(g),
                "n_degenerate": len(deg),
                "degenerate_seeds": ", ".join(str(s) for s in deg["seed"]),
                "n_runs": int(g["n_backtests"].sum()),
                "n_degenerate_runs": int(g["n_degenerate_backtests"].sum()),
                "note": degenerate_note(str(strategy), len(deg), len(g)),
            }
        )
    return pd.DataFrame(rows)


def table1(bt: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """Table 1 (averages over the backtests) with intervals across seeds, beside the paper;
    every mean carries its per-seed min/max and the count of degenerate seeds."""
    metrics = [*PAPER_METRICS, "turnover", "sharpe_annualised"]
    ours = summary_with_ci(seed_averages(bt, [], metrics), [], metrics)
    long = paper.melt(id_vars="metric", var_name="strategy", value_name="paper")
    out = ours.merge(long, on=["metric", "strategy"], how="left")
    out["diff"] = out["mean"] - out["paper"]
    cols = ["metric", "strategy", "mean", "ci_low", "ci_high", *_SPREAD, "paper", "diff", "note"]
    aware = [f"impact_{m}" for m in metrics if f"impact_{m}" in bt]
    if aware:  # the impact-aware backtest's means beside the static ones (issue 10)
        imp = summary_with_ci(seed_averages(bt, [], aware), [], aware)
        imp = imp.assign(metric=imp["metric"].str.removeprefix("impact_"))
        imp = imp[["metric", "strategy", "mean", "ci_low", "ci_high"]].rename(
            columns={c: f"impact_{c}" for c in ("mean", "ci_low", "ci_high")}
        )
        out = out.merge(imp, on=["metric", "strategy"], how="left")
        cols[5:5] = list(IMPACT_COLUMNS)
    return out[cols]


def table2(bt: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """Table 2 (averages by regime) with intervals across seeds, beside the paper; a seed
    counts as degenerate in a regime when it is on every backtest of that regime."""
    metrics = ["total_return_pct", "max_drawdown_pct", "sharpe_ratio"]
    ours = summary_with_ci(seed_averages(bt, ["regime"], metrics), ["regime"], metrics)
    names = {
        "total_return_pct": "avg_total_return_pct",
        "max_drawdown_pct": "avg_max_drawdown_pct",
        "sharpe_ratio": "avg_sharpe_ratio",
    }
    long = paper.melt(id_vars=["regime", "strategy"], var_name="metric", value_name="paper")
    long["metric"] = long["metric"].map({v: k for k, v in names.items()})
    out = ours.merge(long, on=["regime", "strategy", "metric"], how="left")
    out["diff"] = out["mean"] - out["paper"]
    cols = ["regime", "strategy", "metric", "mean", "ci_low", "ci_high", *_SPREAD, "paper"]
    return out[[*cols, "diff", "note"]]


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


def paper_claims(band: tuple[float, float] = (0.35, 0.65)) -> list[Claim]:
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

    Verdicts: fewer than ``cfg.min_segments`` segments is *descriptive* (a regime's 3-5);
    otherwise a claim *holds* only when its whole interval lies on its side, and then says
    whether the excess over the null does too ("beyond exposure") or the null meets the claim
    as well ("exposure explains it"). A claim without data is "not testable"; ``note`` lists
    degenerate seeds. Without ``kind``/``fee`` columns (plain ``backtests.csv``) the rows are
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
        ],
        np.nan,
    )
    why = untestable(strat, tuple(dict.fromkeys(needs)), c.regime)
    if why:
        return {**row, **empty, "verdict": f"not testable: {why}", "note": ""}
    sub = cb if c.regime is None else cb[cb["regime"] == c.regime]
    arrays = {"x": _grid(sub, c.subject, "strategy", c.metric)}
    segs = arrays["x"].index
    has_null = ((sub["strategy"] == c.subject) & (sub["kind"] == "constant")).any()
    if has_null:
        arrays["n"] = _grid(sub, c.subject, "constant", c.metric).reindex(segs)
    for o in dict.fromkeys((*c.others, "long_only")):
        if o in set(sub["strategy"]):
            g = _grid(sub, o, "strategy", c.metric).reindex(segs)
            arrays[o] = g.mean(axis=1).to_numpy() if g.shape[1] != arrays["x"].shape[1] else g
    arrays = {k: np.asarray(v, dtype=float) for k, v in arrays.items()}
    if any(not np.isfinite(v).all() for v in arrays.values()):
        return {
            **row,
            **empty,
            "verdict": "not testable: missing segment × seed results",
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
    row["null_exposure"] = float(held.get("constant", np.nan))
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
    if not np.isfinite(ci[0]).all():
        row["verdict"] = "not testable: the statistic is undefined on these backtests"
    elif n_seg < cfg.min_segments:
        side = (
            point[0] > 0
            if c.side == ">0"
            else point[0] < 0
            if c.side == "<0"
            else c.band[0] <= point[0] <= c.band[1]
        )
        row["verdict"] = (
            f"descriptive ({n_seg} segments < {cfg.min_segments}): the estimate is "
            + ("on" if side else "not on")
            + " the claim's side"
        )
    elif not _on_side(c, *ci[0]):
        row["verdict"] = "does not hold"
    elif "n" not in arrays:
        row["verdict"] = "holds (no exposure-matched null to compare)"
    else:
        lo_x, hi_x = ci[2]
        good = lo_x > 0 if c.better == "+" else hi_x < 0
        bad = hi_x < 0 if c.better == "+" else lo_x > 0
        if good:
            row["verdict"] = (
                "holds beyond exposure (it beats its exposure-matched constant position)"
            )
        elif bad:
            row["verdict"] = "holds, but its exposure-matched constant position does better"
        elif _on_side(c, *ci[1]):
            row["verdict"] = (
                "holds, and so does the exposure-matched constant position: exposure explains it"
            )
        else:
            row["verdict"] = "holds, but not distinguishably from the exposure-matched null"
    if not row["verdict"].startswith("not testable"):
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


def case_segments(bt: pd.DataFrame) -> dict[str, int]:
    """The case studies by the SPEC rule: ``bear`` is the bear backtest with the deepest
    long-only loss (never another regime: without a bear backtest this fails, naming the
    key); ``volatile`` the sideways backtest with the largest long-only drawdown, or the
    backtest with the largest one when none is sideways (:func:`case_rules` says which)."""
    lo = bt[bt["strategy"] == "long_only"]
    bear_pool = lo[lo["regime"] == "bear"]
    if bear_pool.empty:
        raise ValueError(
            "no bear backtest for the bear case study (Figure 5): the backtests are segments "
            f"{sorted(lo['segment'].unique().tolist())} "
            f"({', '.join(sorted(lo['regime'].unique()))}). Give a bear segment the role "
            "backtest (segments.roles, or segments.rule.n_backtest)"
        )
    bear = int(bear_pool.loc[bear_pool["total_return_pct"].idxmin(), "segment"])
    side = lo[lo["regime"] == "sideways"]
    pool = side if len(side) else lo
    volatile = int(pool.loc[pool["max_drawdown_pct"].idxmin(), "segment"])
    return {"bear": bear, "volatile": volatile}


def case_rules(bt: pd.DataFrame) -> dict[str, str]:
    """The rule each case study of :func:`case_segments` was picked by, as run."""
    lo = bt[bt["strategy"] == "long_only"]
    volatile = (
        "the sideways backtest with the largest long-only drawdown"
        if (lo["regime"] == "sideways").any()
        else "the backtest with the largest long-only drawdown (there is no sideways backtest)"
    )
    return {"bear": "the bear backtest with the deepest long-only loss", "volatile": volatile}


def case_text(bt: pd.DataFrame) -> str:
    """The case studies as run: segment, its regime and the rule that picked it."""
    regime = bt.drop_duplicates("segment").set_index("segment")["regime"]
    rules = case_rules(bt)
    return "; ".join(
        f"{name}: segment {seg} ({regime[seg]}), {rules[name]}"
        for name, seg in case_segments(bt).items()
    )


def write_reproduction(
    path: str | Path,
    t1: pd.DataFrame,
    t2: pd.DataFrame,
    claim_table: pd.DataFrame,
    deviations: list[str],
    cases: pd.DataFrame,
    header: str,
    per_seed: pd.DataFrame | None = None,
    learner: dict[str, pd.DataFrame] | None = None,
    sweep: pd.DataFrame | None = None,
) -> Path:
    """``reproduction.md``: every paper table beside ours, the degenerate seeds, the claims,
    and the deviations. ``per_seed`` (:func:`per_seed_table`) lists the seeds one by one;
    without it the degenerate counts come from Table 1's ``n_degenerate``. ``learner`` adds
    the learner's evidence (notebooks 06-07): tables ``planted_edge``, ``rl_training``,
    ``rl_validation`` and ``paired_rl`` when present. ``sweep`` (the size sweep's rows,
    ``results/<name>/size_sweep.csv``) adds its summary and verdict."""
    fmt = ".4g"
    parts = [
        "# Reproduction report\n",
        header,
        _learner_section(learner or {}, fmt),
        "\n## Degenerate seeds\n\n",
        _degenerate_section(t1, per_seed, fmt),
        "\n## Table 1: averages over the backtests\n",
        "Ours: mean and 95 % interval across seeds (none where the seeds all agree, e.g. "
        "long-only), the per-seed min and max, the seed count and "
        "how many seeds are degenerate; `paper`: the paper's value; `diff`: ours minus the "
        "paper's; `note`: flags seed averages over degenerate seeds.\n\n",
        markdown_table(t1, fmt),
        "\n## Table 2: averages by regime\n\n",
        markdown_table(t2, fmt),
        "\n## Case studies (Figures 5 and 6)\n\n",
        markdown_table(cases, fmt),
        _claims_section(claim_table, fmt),
        _sweep_section(sweep, fmt),
        "\n## Deviations\n\n",
        "".join(f"- {d}\n" for d in deviations),
    ]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(parts))
    return path


def _interval(m: float, lo: float, hi: float, fmt: str) -> str:
    if not np.isfinite(m):
        return ""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{m:{fmt}}"
    return f"{m:{fmt}} [{lo:{fmt}}, {hi:{fmt}}]"


def _claims_section(claim_table: pd.DataFrame, fmt: str) -> str:
    """The claims, one table per fee: the claim against long-only, the exposure-matched
    constant position's value of the same statistic, the excess over it, and the smallest
    detectable differences (:func:`claims`)."""
    head = (
        "\n## The paper's claims\n\nEach claim is tested as a paired difference over the "
        "backtest segments: against long-only, as the paper compares (`estimate`), and against "
        "the *exposure-matched constant position* — a strategy that buys the subject's average "
        "share in shares (`exposure`, over its segments) once and holds that quantity (`null`, "
        "its own time-averaged share beside it, and the subject's `excess` over it: what "
        "exposure alone cannot explain; 'beyond exposure' only in the subject's favour). "
        "Intervals are two-level bootstraps (segments, then seeds, resampled; the segments "
        "are the sampling unit); `mde` is the smallest true difference the data would detect "
        "(`claims.power`, two-sided at `claims.level`). A claim holds only when "
        "its whole interval lies on its side; with fewer segments than `claims.min_segments` "
        "(a regime's 3-5) the result is descriptive. The same trained policies at each fee.\n"
    )
    if "n_segments" not in claim_table:  # an older table: as it is
        return head + "\n" + markdown_table(claim_table, fmt)
    parts = [head]
    for fee, g in claim_table.groupby("fee", sort=False, dropna=False):
        title = f"At a fee of {fee:.2%}" if np.isfinite(fee) else "At the backtests' fee"
        view = pd.DataFrame(
            {
                "claim": g["claim"],
                "statistic": g["statistic"],
                "exposure (null)": [
                    "" if not np.isfinite(a) else f"{a:.2f} ({b:.2f})"
                    for a, b in zip(g["exposure"], g["null_exposure"], strict=True)
                ],
                "segments × seeds": [
                    "" if not np.isfinite(a) else f"{a:.0f} × {b:.0f}"
                    for a, b in zip(g["n_segments"], g["n_seeds"], strict=True)
                ],
                "estimate [95 %]": [
                    _interval(*r, fmt)
                    for r in zip(g["estimate"], g["ci_low"], g["ci_high"], strict=True)
                ],
                "mde": g["mde"],
                "null [95 %]": [
                    _interval(*r, fmt)
                    for r in zip(
                        g["null_estimate"], g["null_ci_low"], g["null_ci_high"], strict=True
                    )
                ],
                "excess over null [95 %]": [
                    _interval(*r, fmt)
                    for r in zip(g["excess"], g["excess_ci_low"], g["excess_ci_high"], strict=True)
                ],
                "excess mde": g["excess_mde"],
                "verdict": g["verdict"],
                "note": g["note"],
            }
        )
        parts += [f"\n### {title}\n\n", markdown_table(view, fmt)]
    return "".join(parts)


SWEEP_METRICS = ["total_return_pct", "max_drawdown_pct", "position_change_frac"]


def _sweep_keys(sweep: pd.DataFrame) -> list[str]:
    return ["fee", "size"] if "fee" in sweep else ["size"]


def sweep_summary(sweep: pd.DataFrame) -> pd.DataFrame:
    """The size sweep per fee × size × strategy × metric: mean over seeds of each seed's
    average over the backtests, with its 95 % interval across seeds."""
    per = seed_averages(sweep, _sweep_keys(sweep), SWEEP_METRICS)
    return summary_with_ci(per, _sweep_keys(sweep), SWEEP_METRICS)


def sweep_verdict(sweep: pd.DataFrame) -> str:
    """From what portfolio size on (if any) final_rl, trained in the interactive simulator at
    that size, beats rl_baseline, trained on static replay, in the impact-aware backtest: the
    difference of the two strategies' mean returns over their seeds (independent trainings, so
    a Welch interval, not paired by seed number). One verdict per fee of the sweep."""
    if "fee" in sweep and sweep["fee"].nunique() > 1:
        return "\n\n".join(
            f"**At a fee of {fee:.4g}:** {_sweep_verdict(g)}"
            for fee, g in sweep.groupby("fee", sort=False)
        )
    return _sweep_verdict(sweep)


def _sweep_verdict(sweep: pd.DataFrame) -> str:
    per = sweep.groupby(["size", "strategy", "seed"])["total_return_pct"].mean()
    parts, wins, sizes, testable = [], [], [], []
    for size in sorted(sweep["size"].unique()):
        try:
            a, b = per.loc[(size, "final_rl")], per.loc[(size, "rl_baseline")]
        except KeyError:
            continue
        m, lo, hi = welch_ci(a.to_numpy(), b.to_numpy())
        testable.append(bool(np.isfinite(lo)))
        wins.append(bool(lo > 0))
        sizes.append(size)
        interval = f"[{lo:+.2f}, {hi:+.2f}]" if np.isfinite(lo) else "(not testable)"
        parts.append(f"{size:.0e}: {m:+.2f} pp {interval}")
    if not parts:
        return "The size sweep has no final_rl and rl_baseline rows to compare."
    first = next((i for i in range(len(wins)) if all(wins[i:])), None)
    diffs = "; ".join(parts)
    arms = sweep[sweep["strategy"].isin(["final_rl", "rl_baseline"])]
    if "degenerate" in arms and arms["degenerate"].astype(bool).all():
        return (
            "Uninformative: at every portfolio size both final_rl and rl_baseline hold a "
            f"constant position on every backtest (all seeds degenerate: {DEGENERATE_RULE_SHORT}), "
            "so the sweep cannot say whether interactive training pays off "
            f"(average return, final_rl − rl_baseline, per size: {diffs})."
        )
    if not any(testable):
        return (
            "Not testable: at no portfolio size do the seeds give an interval (one seed, or "
            "every seed the same difference), so the sweep cannot say whether interactive "
            f"training pays off (average return, final_rl − rl_baseline, per size: {diffs})."
        )
    if first is None:
        return (
            "At no portfolio size probed is the interactively trained final_rl better than the "
            "static-trained rl_baseline with 95 % confidence in the impact-aware backtest "
            f"(average return, final_rl − rl_baseline, per size: {diffs})."
        )
    return (
        f"Interactive training pays off from a portfolio of {sizes[first]:.0e} on: final_rl "
        "beats rl_baseline in the impact-aware backtest with the 95 % interval above 0 at that "
        f"size and every larger one (average return, final_rl − rl_baseline: {diffs})."
    )


def _sweep_section(sweep: pd.DataFrame | None, fmt: str) -> str:
    """The reproduction report's size-sweep section ("" without a sweep)."""
    if sweep is None or sweep.empty:
        return ""
    table = sweep_summary(sweep)
    return "".join(
        [
            "\n## When does interactive training pay off? (size sweep, issue 10)\n\n",
            "final_rl trained in the simulator at each portfolio size, rl_baseline trained once "
            "on static replay, long-only: all in the impact-aware backtest (real prices plus the "
            "strategy's own impact through the fitted law) at that size, on every backtest "
            "segment; a smaller training budget than the headline run (params `sweep`), "
            "trained and backtested at each fee of the fee axis (`backtest.fee`, "
            "`backtest.low_fee`). Figure: `fig_size_sweep`.\n\n",
            sweep_verdict(sweep),
            "\n\n",
            markdown_table(table, fmt),
        ]
    )


def _degenerate_section(t1: pd.DataFrame, per_seed: pd.DataFrame | None, fmt: str) -> str:
    """The "Degenerate seeds" section: the rule, per learned strategy how many seeds are
    degenerate and which, and the per-seed table when given."""
    parts = [DEGENERATE_RULE, "\n\n"]
    if per_seed is not None:
        counts = degenerate_counts(per_seed)
        for r in counts[counts["role"] == "learned"].itertuples(index=False):
            which = ""
            if r.n_degenerate:
                which = f" (seed{'s' if r.n_degenerate > 1 else ''} {r.degenerate_seeds})"
            parts.append(
                f"- `{r.strategy}`: {r.n_degenerate} of {r.n_seeds} seeds degenerate{which}; "
                f"{r.n_degenerate_runs} of {r.n_runs} seed × backtest runs degenerate.\n"
            )
        parts += ["\nPer seed (means over the backtests):\n\n", markdown_table(per_seed, fmt)]
    elif {"n_degenerate", "n_seeds"} <= set(t1.columns):
        first = t1.drop_duplicates("strategy")
        for r in first[~first["strategy"].isin(BENCHMARKS)].itertuples(index=False):
            parts.append(f"- `{r.strategy}`: {r.n_degenerate} of {r.n_seeds} seeds degenerate.\n")
    else:
        parts.append("(Table 1 was written without degenerate counts.)\n")
    return "".join(parts)


def paired_seeds(bt: pd.DataFrame, a: str = "final_rl", b: str = "rl_baseline") -> pd.DataFrame:
    """Differences of two learned strategies, seed number by seed number: mean return over the
    backtests of ``a`` minus ``b`` per seed, how many backtests they trade identically on (same
    return to 1e-9 pp: both at the same constant position), and a last row with the mean
    difference, its 95 % interval across seeds and a sign-flip permutation p-value. Since
    issue 15 each agent draws its own random stream, so the pairing by seed number is arbitrary
    (the two runs share nothing); the sign-flip test stays valid under the null that a and b
    are exchangeable. A difference the seeds' own spread cannot tell from zero is noise."""
    from itertools import product

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
    m, lo, hi = mean_ci(x)
    signs = np.array(list(product([1.0, -1.0], repeat=len(x))))  # every sign flip (2^K)
    flips = np.abs((signs * x).mean(1))
    p = float((flips >= abs(x.mean()) - 1e-12).mean()) if len(x) else np.nan
    summary = {
        "seed": "mean",
        f"{a}_pct": per[f"{a}_pct"].mean(),
        f"{b}_pct": per[f"{b}_pct"].mean(),
        "diff_pp": m,
        "ci_low": lo,
        "ci_high": hi,
        "p_sign_flip": p,
        "identical_backtests": int(per["identical_backtests"].sum()),
        "n_backtests": int(per["n_backtests"].sum()),
    }
    n_same, n_all = summary["identical_backtests"], summary["n_backtests"]
    if n_all and n_same == n_all:
        verdict = "identical on every backtest: both hold the same constant positions"
    elif not np.isfinite(lo):
        verdict = "not testable: fewer than two seeds, or every seed gives the same difference"
    elif lo > 0 or hi < 0:
        verdict = "differ beyond the seeds' noise (95 % interval excludes 0)"
    else:
        verdict = "differ, but within the seeds' noise (95 % interval includes 0)"
    summary["verdict"] = verdict
    return pd.concat([per.astype({"seed": object}), pd.DataFrame([summary])], ignore_index=True)


LEARNER_SECTIONS = {
    "planted_edge": (
        "Does the learner learn? Planted edges",
        "The same DDPG configuration on planted markets (next return = edge × an observed "
        "AR(1) feature + noise) whose best achievable growth under the fee is known: each "
        "seed's growth per bar as a fraction of the oracle's, on held-out paths (notebook 06).",
        [
            "case",
            "seed",
            "edge_bp",
            "phi",
            "fee",
            "reward_window_bars",
            "oracle_bp_per_bar",
            "learned_bp_per_bar",
            "fraction_of_oracle",
            "vector_steps",
        ],
    ),
    "rl_training": (
        "Training budget and selection",
        "Per policy: vector steps run (a cap, or a validation plateau), environment steps and "
        "gradient updates per seed, and the step and validation score it was selected at.",
        None,
    ),
    "rl_validation": (
        "Learned policies beside constant positions on the validation segments",
        "The selection score (mean log growth over the validation segments, static real "
        "prices, the fee) of every learned seed and of constant exposures bought at the first "
        "bar: when the learned seeds sit at a constant, this says whether a constant is the "
        "honest optimum there. Log growth penalises volatility, so on an equal bull and bear "
        "move it favours cash: the criterion is Kelly's, not a return average.",
        None,
    ),
    "paired_rl": (
        "Final RL against the RL baseline, seed by seed",
        "Different worlds (simulator vs static replay), each agent on its own random stream "
        "(seed numbers pair the rows, nothing else). The last row: mean difference, its 95 % "
        "interval across seeds and a sign-flip p-value.",
        None,
    ),
}


def _learner_section(tables: dict[str, pd.DataFrame], fmt: str) -> str:
    """The learner's evidence, table by table (those given)."""
    parts = []
    for key, (title, text, cols) in LEARNER_SECTIONS.items():
        if key in tables and len(tables[key]):
            t = tables[key]
            t = t[[c for c in cols if c in t]] if cols else t
            parts += [f"\n## {title}\n\n{text}\n\n", markdown_table(t, fmt)]
    return "".join(parts)
