"""Tables and reports: CSV plus Markdown, written by the pipeline (no number typed by hand)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


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


def write_table(
    df: pd.DataFrame, directory: str | Path, stem: str, floatfmt: str = ".4g"
) -> list[Path]:
    """Write ``stem.csv`` and ``stem.md`` into ``directory``; return both paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    csv, md = directory / f"{stem}.csv", directory / f"{stem}.md"
    df.to_csv(csv, index=False)
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
    """One of the paper's own tables, from ``paper/<name>.csv`` (see ``paper/README.md``)."""
    base = project_root() if root is None else Path(root)
    return pd.read_csv(base / "paper" / f"{name}.csv")


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


def mean_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t interval across seeds (a single value: the interval is the point)."""
    from scipy import stats

    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return np.nan, np.nan, np.nan
    m = float(x.mean())
    if len(x) < 2 or x.std(ddof=1) == 0:
        return m, m, m
    half = float(stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))
    return m, m - half, m + half


def seed_averages(bt: pd.DataFrame, by: list[str], metrics: list[str]) -> pd.DataFrame:
    """Average each seed's metrics over the backtests (within ``by`` groups), one row per
    strategy × seed × group."""
    return bt.groupby(["strategy", "seed", *by])[metrics].mean().reset_index()


def summary_with_ci(per_seed: pd.DataFrame, by: list[str], metrics: list[str]) -> pd.DataFrame:
    """Long table: group, strategy, metric, mean and 95 % interval across seeds, seed count."""
    rows = []
    for keys, g in per_seed.groupby([*by, "strategy"], sort=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        for m in metrics:
            mean, lo, hi = mean_ci(g[m].to_numpy())
            rows.append(
                {
                    **dict(zip([*by, "strategy"], keys, strict=True)),
                    "metric": m,
                    "mean": mean,
                    "ci_low": lo,
                    "ci_high": hi,
                    "seeds": len(g),
                }
            )
    return pd.DataFrame(rows)


def table1(bt: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """Table 1 (averages over the backtests) with intervals across seeds, beside the paper."""
    metrics = [*PAPER_METRICS, "turnover", "sharpe_annualised"]
    ours = summary_with_ci(seed_averages(bt, [], metrics), [], metrics)
    long = paper.melt(id_vars="metric", var_name="strategy", value_name="paper")
    out = ours.merge(long, on=["metric", "strategy"], how="left")
    out["diff"] = out["mean"] - out["paper"]
    return out[["metric", "strategy", "mean", "ci_low", "ci_high", "seeds", "paper", "diff"]]


def table2(bt: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """Table 2 (averages by regime) with intervals across seeds, beside the paper."""
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
    return out[
        ["regime", "strategy", "metric", "mean", "ci_low", "ci_high", "seeds", "paper", "diff"]
    ]


def _diff_ci(bt: pd.DataFrame, metric: str, a: str, b: str, regime: str | None = None):
    """Per-seed average of ``metric`` of strategy a minus strategy b (b's mean over its seeds)."""
    sub = bt if regime is None else bt[bt["regime"] == regime]
    per = sub.groupby(["strategy", "seed"])[metric].mean()
    if a not in per.index.get_level_values(0) or b not in per.index.get_level_values(0):
        return np.nan, np.nan, np.nan
    return mean_ci(per.loc[a].to_numpy() - float(per.loc[b].mean()))


def claims(bt: pd.DataFrame) -> pd.DataFrame:
    """The paper's claims, each marked holds / does not hold from our numbers.

    A claim holds only when the whole 95 % interval across seeds lies on its side.
    """
    rows = []

    def add(claim: str, stat: str, est: tuple[float, float, float], ok: bool) -> None:
        m, lo, hi = est
        rows.append(
            {
                "claim": claim,
                "statistic": stat,
                "estimate": m,
                "ci_low": lo,
                "ci_high": hi,
                "verdict": "holds" if ok else "does not hold",
            }
        )

    d = _diff_ci(bt, "total_return_pct", "final_rl", "long_only")
    add(
        "The RL agent's average return beats long-only",
        "final_rl − long_only, avg total return (pp)",
        d,
        d[1] > 0,
    )
    per = bt.groupby(["strategy", "seed"])["max_drawdown_pct"].mean()
    ratio = mean_ci(per.loc["final_rl"].to_numpy() / float(per.loc["long_only"].mean()))
    add(
        "Its average max drawdown is about half of long-only's (ratio within 0.35–0.65)",
        "final_rl / long_only, avg max drawdown",
        ratio,
        0.35 <= ratio[1] and ratio[2] <= 0.65,
    )
    d = _diff_ci(bt, "total_return_pct", "final_rl", "long_only", "bear")
    add(
        "It loses less than long-only in bear regimes",
        "final_rl − long_only, bear avg return (pp)",
        d,
        d[1] > 0,
    )
    side = bt[(bt["regime"] == "sideways") & (bt["strategy"] == "final_rl")]
    s = mean_ci(side.groupby("seed")["total_return_pct"].mean().to_numpy())
    add("It is positive in sideways regimes", "final_rl sideways avg return (%)", s, s[1] > 0)
    d = _diff_ci(bt, "total_return_pct", "final_rl", "long_only", "bull")
    add(
        "It earns less than long-only in bull regimes",
        "final_rl − long_only, bull avg return (pp)",
        d,
        d[2] < 0,
    )
    vol = bt.groupby(["strategy", "seed"])["volatility"].mean()
    others = min(float(vol.loc[s_].mean()) for s_ in ("final_rl", "long_only", "rl_baseline"))
    v = mean_ci(vol.loc["il_baseline"].to_numpy() - others)
    add(
        "The IL baseline is the most conservative (lowest volatility)",
        "il_baseline − lowest other strategy, avg volatility",
        v,
        v[2] < 0,
    )
    return pd.DataFrame(rows)


def case_segments(bt: pd.DataFrame) -> dict[str, int]:
    """The case studies by the SPEC rule: ``bear`` is the backtest with the deepest long-only
    loss; ``volatile`` the sideways backtest with the largest long-only drawdown."""
    lo = bt[bt["strategy"] == "long_only"]
    bear = int(lo.loc[lo["total_return_pct"].idxmin(), "segment"])
    side = lo[lo["regime"] == "sideways"]
    pool = side if len(side) else lo
    volatile = int(pool.loc[pool["max_drawdown_pct"].idxmin(), "segment"])
    return {"bear": bear, "volatile": volatile}


def write_reproduction(
    path: str | Path,
    t1: pd.DataFrame,
    t2: pd.DataFrame,
    claim_table: pd.DataFrame,
    deviations: list[str],
    cases: pd.DataFrame,
    header: str,
) -> Path:
    """``reproduction.md``: every paper table beside ours, the claims, and the deviations."""
    fmt = ".4g"
    parts = [
        "# Reproduction report\n",
        header,
        "\n## Table 1: averages over the backtests\n",
        "Ours: mean and 95 % interval across seeds; `paper`: the paper's value; `diff`: ours "
        "minus the paper's.\n\n",
        markdown_table(t1, fmt),
        "\n## Table 2: averages by regime\n\n",
        markdown_table(t2, fmt),
        "\n## Case studies (Figures 5 and 6)\n\n",
        markdown_table(cases, fmt),
        "\n## The paper's claims\n\nA claim holds only when the whole 95 % interval across "
        "seeds lies on its side.\n\n",
        markdown_table(claim_table, fmt),
        "\n## Deviations\n\n",
        "".join(f"- {d}\n" for d in deviations),
    ]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(parts))
    return path
