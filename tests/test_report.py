"""Tables written by the pipeline, and the paper's numbers beside ours."""

import numpy as np
import pandas as pd
import pytest
from test_claims import claim_grid

from ilsim import claims, report, reproduction
from ilsim.report import beside_paper, markdown_table, paper_table, project_root, write_table


def test_markdown_table_formats_and_blanks_nan():
    md = markdown_table(pd.DataFrame({"a": ["x", "y"], "b": [1.23456, np.nan]}), floatfmt=".2f")
    assert md.splitlines() == ["| a | b |", "|---|---|", "| x | 1.23 |", "| y |  |"]


def test_write_table(tmp_path):
    paths = write_table(pd.DataFrame({"a": [1, 2]}), tmp_path / "t", "x")
    assert [p.name for p in paths] == ["x.csv", "x.md"]
    assert pd.read_csv(paths[0])["a"].tolist() == [1, 2]


def test_paper_tables_are_the_papers():
    t1 = paper_table("table1_aggregate").set_index("metric")
    assert t1.loc["max_drawdown_pct", "final_rl"] == pytest.approx(-4.97)
    assert len(paper_table("table6_extrema")) == 37
    assert len(paper_table("table3_il_general")) == 10


def test_beside_paper_keeps_paper_order_and_diffs():
    ours = pd.DataFrame({"policy": ["IL10", "IL1"], "x": [3.0, 1.0]})
    paper = pd.DataFrame({"policy": ["IL1", "IL2", "IL10"], "x": [0.5, 2.0, 1.0]})
    out = beside_paper(ours, paper, "policy", ["x"])
    assert out["policy"].tolist() == ["IL1", "IL2", "IL10"]
    assert out["x_diff"].tolist()[0] == 0.5 and np.isnan(out["x"][1])


def test_project_root_found_and_missing(tmp_path):
    assert (project_root() / "Snakefile").exists()
    with pytest.raises(FileNotFoundError, match="no ilsim project"):
        project_root(tmp_path)


def fake_backtests() -> pd.DataFrame:
    """Three segments (bull, bear, sideways); RL seeds 0-2 beat long-only in bear. Long-only is
    degenerate (one buy), the learned strategies trade on half the bars."""
    rows = []
    spec = {"bull": (10.0, -3.0), "bear": (-12.0, -14.0), "sideways": (-2.0, -6.0)}
    for k, (regime, (ret, dd)) in enumerate(spec.items()):
        rows.append(
            {
                "segment": k + 1,
                "regime": regime,
                "strategy": "long_only",
                "seed": 0,
                "total_return_pct": ret,
                "max_drawdown_pct": dd,
                "volatility": 0.001,
                "sharpe_ratio": 0.01,
                "turnover": 1.0,
                "sharpe_annualised": 1.0,
                "position_change_frac": 0.001,
                "degenerate": True,
            }
        )
        for s in range(3):
            for strat, scale, vol in (
                ("final_rl", 0.5, 0.0007),
                ("rl_baseline", 1.0, 0.001),
                ("il_baseline", 0.05, 0.0001),
            ):
                r = ret * scale + (1.0 if regime == "sideways" and strat == "final_rl" else 0)
                rows.append(
                    {
                        "segment": k + 1,
                        "regime": regime,
                        "strategy": strat,
                        "seed": s,
                        "total_return_pct": r + 0.1 * s,
                        "max_drawdown_pct": dd * scale,
                        "volatility": vol,
                        "sharpe_ratio": 0.0,
                        "turnover": 2.0,
                        "sharpe_annualised": 0.0,
                        "position_change_frac": 0.5,
                        "degenerate": False,
                    }
                )
    return pd.DataFrame(rows)


def test_mean_ci():
    from ilsim.report import mean_ci

    m, lo, hi = mean_ci(np.array([1.0, 2.0, 3.0]))
    assert m == 2.0 and lo == pytest.approx(2 - 4.302653 / np.sqrt(3), rel=1e-5) and hi > 3
    m, lo, hi = mean_ci(np.array([5.0]))  # one seed: no interval, not a point
    assert m == 5.0 and np.isnan(lo) and np.isnan(hi)
    m, lo, hi = mean_ci(np.array([2.0, 2.0, 2.0]))  # seeds that agree say nothing of the noise
    assert m == 2.0 and np.isnan(lo) and np.isnan(hi)


def test_tables_claims_and_cases(tmp_path):
    from ilsim import report

    bt = fake_backtests()
    t1 = report.table1(bt, paper_table("table1_aggregate"))
    row = t1[(t1.metric == "total_return_pct") & (t1.strategy == "final_rl")].iloc[0]
    assert row["mean"] == pytest.approx(-1 / 3 + 0.1)  # (5 - 6 + 0) / 3 + 0.1 * mean seed
    assert row["ci_low"] < row["mean"] < row["ci_high"] and row["paper"] == 1.98
    assert (row["n_seeds"], row["n_degenerate"], row["note"]) == (3, 0, "")
    assert row["seed_min"] == pytest.approx(-1 / 3) and row["seed_max"] == pytest.approx(
        -1 / 3 + 0.2
    )
    t2 = report.table2(bt, paper_table("table2_regimes"))
    bear = t2[
        (t2.regime == "bear") & (t2.strategy == "long_only") & (t2.metric == "total_return_pct")
    ]
    assert bear["mean"].iloc[0] == -12.0 and bear["paper"].iloc[0] == -14.19
    c = claims.claims(bt).set_index("claim")["verdict"]
    # one segment per regime, three in all: too few for a verdict (claims.min_segments)
    on, off = "segments < 6), the estimate is on", "segments < 6), the estimate is not on"
    assert on in c["It loses less than long-only in bear regimes"]
    assert on in c["It is positive in sideways regimes"]  # -1 + 1 + 0.1 s: 0.1 on average
    assert off not in c["It is positive in sideways regimes"]
    assert on in c["It earns less than long-only in bull regimes"]
    assert c["The IL baseline is the most conservative (lowest volatility)"].startswith(
        "not shown: descriptive (3 segments"
    )
    assert report.case_segments(bt) == {"bear": 2, "volatile": 3}
    out = reproduction.write_reproduction(
        tmp_path / "r.md",
        t1,
        t2,
        claims.claims(bt),
        ["a deviation"],
        pd.DataFrame({"case": ["bear"]}),
        "header",
    )
    text = out.read_text()
    assert "## Deviations" in text and "- a deviation" in text and "descriptive" in text


def degenerate_backtests() -> pd.DataFrame:
    """:func:`fake_backtests` with final_rl's seeds all constant (all cash: 0 % return, no
    drawdown) and il_baseline's seed 1 constant on every backtest, seed 2 on the bear one only."""
    bt = fake_backtests()
    rl = bt["strategy"] == "final_rl"
    bt.loc[rl, ["total_return_pct", "max_drawdown_pct", "position_change_frac"]] = 0.0
    bt.loc[rl, "degenerate"] = True
    il = bt["strategy"] == "il_baseline"
    for mask in (il & (bt["seed"] == 1), il & (bt["seed"] == 2) & (bt["regime"] == "bear")):
        bt.loc[mask, ["position_change_frac", "degenerate"]] = [0.004, True]
    return bt


def test_per_seed_table_and_degenerate_counts():
    from ilsim import report

    ps = report.per_seed_table(degenerate_backtests())
    assert list(ps.columns) == [
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
    assert ps["strategy"].iloc[0] == "long_only" and len(ps) == 1 + 3 * 3
    il = ps[ps.strategy == "il_baseline"].set_index("seed")
    assert il["degenerate"].tolist() == ["no", "yes", "no"]
    assert il["n_degenerate_backtests"].tolist() == [0, 3, 1]
    assert il.loc[0, "position_change_frac"] == pytest.approx(0.5)
    assert ps.set_index("strategy").loc["long_only", "role"] == "benchmark"
    counts = report.degenerate_counts(ps).set_index("strategy")
    assert counts.loc["final_rl", ["n_seeds", "n_degenerate", "n_degenerate_runs"]].tolist() == [
        3,
        3,
        9,
    ]
    assert counts.loc["il_baseline", "degenerate_seeds"] == "1"
    assert counts.loc["rl_baseline", "n_degenerate"] == 0
    assert counts.loc["long_only", "note"].startswith("benchmark")


def test_tables_and_claims_flag_degenerate_seeds(tmp_path):
    from ilsim import report

    bt = degenerate_backtests()
    t1 = report.table1(bt, paper_table("table1_aggregate")).set_index(["metric", "strategy"])
    rl = t1.loc[("total_return_pct", "final_rl")]
    assert (rl["n_seeds"], rl["n_degenerate"]) == (3, 3) and "all 3 seeds degenerate" in rl["note"]
    assert t1.loc[("total_return_pct", "il_baseline"), "note"] == "1/3 seeds degenerate"
    assert t1.loc[("total_return_pct", "rl_baseline"), "note"] == ""
    assert t1.loc[("total_return_pct", "long_only"), "note"].startswith("benchmark")
    t2 = report.table2(bt, paper_table("table2_regimes"))
    il = t2[(t2.strategy == "il_baseline") & (t2.metric == "total_return_pct")]
    assert il.set_index("regime")["n_degenerate"].to_dict() == {"bull": 1, "bear": 2, "sideways": 1}

    c = claims.claims(bt).set_index("claim")
    bear = c.loc["It loses less than long-only in bear regimes"]
    assert "(all 3 final_rl seeds degenerate" in bear["verdict"]
    assert bear["note"] == "final_rl: 3/3 seeds degenerate in bear"
    conservative = c.loc["The IL baseline is the most conservative (lowest volatility)"]
    assert "degenerate" not in conservative["verdict"]  # il_baseline: not every seed is
    assert (
        conservative["note"] == "il_baseline: 1/3 seeds degenerate; final_rl: 3/3 seeds degenerate"
    )

    t1 = report.table1(bt, paper_table("table1_aggregate"))
    t1.to_csv(tmp_path / "t1.csv", index=False)  # notebook 08 reads Table 1 back from its CSV
    args = (report.table2(bt, paper_table("table2_regimes")), claims.claims(bt), [], t1.head(0))
    text = reproduction.write_reproduction(
        tmp_path / "r.md", pd.read_csv(tmp_path / "t1.csv"), *args, "h", report.per_seed_table(bt)
    ).read_text()
    section = text.split("## Degenerate seeds")[1].split("## Table 1")[0]
    assert "99 %" in section and "every backtest" in section
    assert "- `final_rl`: 3 of 3 seeds degenerate (seeds 0, 1, 2); 9 of 9" in section
    assert "- `il_baseline`: 1 of 3 seeds degenerate (seed 1); 4 of 9" in section
    assert "- `rl_baseline`: 0 of 3 seeds degenerate;" in section
    assert "`long_only`" not in section  # the benchmark is not listed as a failure
    assert "position unchanged on ≥ 99 % of bars" in text.split("## Table 1")[1]
    short = reproduction.write_reproduction(
        tmp_path / "s.md", pd.read_csv(tmp_path / "t1.csv"), *args, "h"
    ).read_text()  # without the per-seed table: the counts from Table 1
    assert "- `final_rl`: 3 of 3 seeds degenerate." in short


def test_backtests_without_degenerate_columns_are_refused():
    from ilsim import report

    bt = fake_backtests().drop(columns=["degenerate"])
    with pytest.raises(KeyError, match="rerun"):
        report.table1(bt, paper_table("table1_aggregate"))
    with pytest.raises(KeyError, match="rerun"):
        claims.claims(bt)


def test_table1_gains_the_impact_aware_columns():
    from ilsim import report

    bt = fake_backtests()
    assert not set(report.IMPACT_COLUMNS) & set(report.table1(bt, paper_table("table1_aggregate")))
    for m in ("total_return_pct", "volatility", "sharpe_ratio", "max_drawdown_pct"):
        bt[f"impact_{m}"] = bt[m] - 1.0
    t1 = report.table1(bt, paper_table("table1_aggregate"))
    row = t1[(t1.metric == "total_return_pct") & (t1.strategy == "final_rl")].iloc[0]
    assert row["impact_mean"] == pytest.approx(row["mean"] - 1.0)
    assert row["impact_ci_low"] < row["impact_mean"] < row["impact_ci_high"]
    assert list(t1.columns[5:8]) == list(report.IMPACT_COLUMNS)


def test_tables_do_not_carry_the_last_bits_of_a_float(tmp_path):
    """Two runs whose sums differ only in their order (the last bit) write the same bytes."""
    from ilsim.report import write_table

    x = 0.08844782780360504
    a = write_table(pd.DataFrame({"v": [x]}), tmp_path / "a", "t")[0].read_bytes()
    b = write_table(pd.DataFrame({"v": [np.nextafter(x, 1.0)]}), tmp_path / "b", "t")[0]
    assert a == b.read_bytes() and a.decode().splitlines()[1] == "0.0884478278036"


def test_reproduction_shows_each_fee_with_null_interval_and_mde(tmp_path):
    from ilsim.params import ClaimsParams

    grid = claim_grid(excess_bear=3.0)
    both = pd.concat([grid, grid.assign(fee=0.0001)])
    table = claims.claims(both, ClaimsParams(n_boot=200))
    assert list(dict.fromkeys(table["fee"])) == [0.005, 0.0001] and len(table) == 12
    bt = fake_backtests()
    text = reproduction.write_reproduction(
        tmp_path / "r.md",
        report.table1(bt, paper_table("table1_aggregate")),
        report.table2(bt, paper_table("table2_regimes")),
        table,
        [],
        pd.DataFrame({"case": ["bear"]}),
        "h",
    ).read_text()
    assert "### At a fee of 0.50%" in text and "### At a fee of 0.01%" in text
    assert "excess over null [95 %]" in text and "supported, beyond exposure" in text
