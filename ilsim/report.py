"""Tables: CSV plus Markdown, written by the pipeline (no number typed by hand); the per-seed and
aggregate tables with their intervals across seeds, degenerate seeds, paired seeds, the case
studies, and the paper's own tables beside ours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ilsim.metrics import DEGENERATE_THRESHOLD, POSITION_RTOL
from ilsim.resources import shipped


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


# The range each bounded metric can take: a t-interval reaching outside it is clipped to it
# (issue 25; e.g. a drawdown is never above 0, a position-change share never below 0).
BOUNDS: dict[str, tuple[float, float]] = {
    "max_drawdown_pct": (-100.0, 0.0),
    "volatility": (0.0, np.inf),
    "turnover": (0.0, np.inf),
    "position_change_frac": (0.0, 1.0),
    "total_return_pct": (-100.0, np.inf),
}


def clip_interval(metric: str, lo: float, hi: float) -> tuple[float, float]:
    """A t-interval of ``metric`` clipped to the metric's possible range (:data:`BOUNDS`)."""
    a, b = BOUNDS.get(metric.removeprefix("impact_"), (-np.inf, np.inf))
    return float(np.clip(lo, a, b)), float(np.clip(hi, a, b))


def summary_with_ci(per_seed: pd.DataFrame, by: list[str], metrics: list[str]) -> pd.DataFrame:
    """Long table: group, strategy, metric, mean and 95 % interval across seeds (clipped to
    the metric's possible range, :data:`BOUNDS`), the per-seed min and max, the seed count
    ``n_seeds``, the degenerate seeds ``n_degenerate`` and a ``note`` (see
    :func:`degenerate_note`) beside every mean."""
    rows = []
    for keys, g in per_seed.groupby([*by, "strategy"], sort=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        group = dict(zip([*by, "strategy"], keys, strict=True))
        n_deg = int(g["degenerate"].astype(bool).sum()) if "degenerate" in g else 0
        for m in metrics:
            mean, lo, hi = mean_ci(g[m].to_numpy())
            lo, hi = clip_interval(m, lo, hi)
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


PAPER_BAR_MINUTES = 1.0  # the paper's bars; its per-bar volatility and Sharpe are per minute
PER_BAR = ("volatility", "sharpe_ratio")  # scale with √(bar length) for i.i.d. returns


def in_paper_units(out: pd.DataFrame, bar_minutes: float) -> pd.Series:
    """Our means in the paper's units (issue 25): a per-bar volatility or Sharpe ratio of
    ``bar_minutes`` bars rescaled to the paper's 1-minute bars (÷ √(bar_minutes / 1), exact
    for i.i.d. returns); every other metric (returns, drawdowns in %) is unit-free as it is."""
    scale = np.sqrt(bar_minutes / PAPER_BAR_MINUTES)
    return out["mean"] / np.where(out["metric"].isin(PER_BAR), scale, 1.0)


def table1(bt: pd.DataFrame, paper: pd.DataFrame, bar_minutes: float = 1.0) -> pd.DataFrame:
    """Table 1 (averages over the backtests) with intervals across seeds, beside the paper;
    every mean carries its per-seed min/max and the count of degenerate seeds. ``diff``
    compares in the paper's units (``mean_paper_units``, :func:`in_paper_units`)."""
    metrics = [*PAPER_METRICS, "turnover", "sharpe_annualised"]
    ours = summary_with_ci(seed_averages(bt, [], metrics), [], metrics)
    long = paper.melt(id_vars="metric", var_name="strategy", value_name="paper")
    out = ours.merge(long, on=["metric", "strategy"], how="left")
    out["mean_paper_units"] = in_paper_units(out, bar_minutes)
    out["diff"] = out["mean_paper_units"] - out["paper"]
    cols = ["metric", "strategy", "mean", "ci_low", "ci_high", *_SPREAD]
    cols += ["mean_paper_units", "paper", "diff", "note"]
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


def table2(bt: pd.DataFrame, paper: pd.DataFrame, bar_minutes: float = 1.0) -> pd.DataFrame:
    """Table 2 (averages by regime) with intervals across seeds, beside the paper; a seed
    counts as degenerate in a regime when it is on every backtest of that regime. ``diff``
    compares in the paper's units (:func:`in_paper_units`)."""
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
    out["mean_paper_units"] = in_paper_units(out, bar_minutes)
    out["diff"] = out["mean_paper_units"] - out["paper"]
    cols = ["regime", "strategy", "metric", "mean", "ci_low", "ci_high", *_SPREAD]
    cols += ["mean_paper_units", "paper"]
    return out[[*cols, "diff", "note"]]


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
