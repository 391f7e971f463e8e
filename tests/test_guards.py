"""Guards before work is spent (issue 11, item 3): data that cannot feed a step stop it with one
message naming the cause and the params key; prose says what was run."""

import copy

import numpy as np
import pandas as pd
import pytest

from ilsim import claims, regimes, report
from ilsim.params import params_from_dict
from ilsim.steps import s01_segment, s02_features, s03_imitation, s08_regime_analysis

# Five-minute bars, 78 a session; segments 1…8 are bull, bear, bull, sideways, bear, bull, bear,
# bull, and this rule makes 4, 7 and 8 the backtests (7 is the bear one).
TINY = {
    "name": "tiny",
    "seed": 1,
    "synthetic": {"n_regimes": 8, "regime_days": [2, 3], "bar_minutes": 5},
    "segments": {"rule": {"n_il_train": 3, "n_validation": 1, "n_sim_train": 1, "n_backtest": 3}},
    "experts": {"theta": 0.02},
    "il": {"hidden": [8], "max_epochs": 2, "batch_size": 64},
    "market": {"episode_minutes": 300},
}


def merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in over.items():
        both = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = merge(out[key], value) if both else value
    return out


def tiny(**sections) -> dict:
    return merge(TINY, sections)


def segmented(tmp_path, **sections):
    p = params_from_dict(tiny(**sections))
    market = s01_segment.prepare_bars(p, tmp_path)
    return p, market


def test_sparse_segments_are_dropped_and_reported(tmp_path):
    p, market = segmented(tmp_path)
    full = s01_segment.segment_market(p, market, tmp_path)
    assert (full["coverage"] == 1).all() and len(full) == 8
    # keep the last of segment 8's two sessions: 50 % of them, below the 80 % default
    last = full.set_index("segment").loc[8]
    days = pd.Index(market.bars.index.date)
    gone = sorted(set(days[last["first_bar"] : last["last_bar"] + 1]))[:-1]
    sparse = s01_segment.ImportedBars(
        market.bars[~days.isin(gone)], market.import_report, market.extrema
    )
    segs = s01_segment.segment_market(p, sparse, tmp_path)
    assert 8 not in set(segs["segment"]) and len(segs) == 7
    text = (tmp_path / "reports/tiny/data_import.md").read_text()
    assert text.startswith("# Data import report") and text.count("## Segment coverage") == 1
    assert "segment 8 (bull" in text and "1 of 2 sessions (50%)" in text
    assert "segments.min_coverage" in text
    table = pd.read_csv(tmp_path / "reports/tiny/tables/segments.csv")
    assert {"sessions", "coverage"} <= set(table.columns)
    # a lower share keeps it
    keep = params_from_dict(tiny(segments={"min_coverage": 0.5}))
    assert 8 in set(s01_segment.segment_market(keep, sparse, tmp_path)["segment"])
    # listed roles written for all 8 segments: the count's error names the dropped one
    listed = tiny(segments={"roles": full["role"].tolist()})
    with pytest.raises(
        ValueError,
        match=r"(?s)lists 8 roles but the data give 7 .*dropped for "
        r"coverage below segments.min_coverage: 8.*delete segments.roles",
    ):
        s01_segment.segment_market(params_from_dict(listed), sparse, tmp_path)


def test_no_segment_with_coverage_names_the_key():
    # sessions on Fri 1, Mon 4 and Mon 11 January: the segment (1 Jan, 11 Jan] has 2 of its 6
    day = pd.date_range("2021-01-01 09:30", periods=4, freq="5min", tz="America/New_York")
    idx = day.append([day + pd.Timedelta("3D"), day + pd.Timedelta("10D")])
    bars = pd.DataFrame({"close": np.arange(1.0, 13.0)}, index=idx)
    ext = [{"date": "2021-01-01", "kind": "min"}, {"date": "2021-01-11", "kind": "max"}]
    seg = regimes.segments_from_extrema(ext, bars)
    assert seg["sessions"].item() == 2 and seg["expected_sessions"].item() == 6
    with pytest.raises(
        ValueError,
        match=r"less than 80% of its sessions.*segment 1: 2 of 6.*lower "
        r"segments.min_coverage",
    ):
        regimes.drop_sparse(seg, 0.8)


def test_weekend_data_count_every_day():
    idx = pd.date_range("2021-01-01", periods=10, freq="D", tz="UTC") + pd.Timedelta("12h")
    bars = pd.DataFrame({"close": np.arange(1.0, 11.0)}, index=idx)
    ext = [{"date": "2021-01-01", "kind": "min"}, {"date": "2021-01-10", "kind": "max"}]
    seg = regimes.segments_from_extrema(ext, bars)
    assert seg["expected_sessions"].item() == 9 and seg["coverage"].item() == 1.0


def test_missing_role_names_the_key(tmp_path):
    # the rule gives every bull and bear segment to IL training: no sim_train is left
    p, market = segmented(tmp_path, segments={"rule": {"n_il_train": 20}})
    with pytest.raises(
        ValueError,
        match=r"(?s)no sim_train segment.*synthesis network.*"
        r"lower segments.rule.n_il_train or n_validation",
    ):
        s01_segment.segment_market(p, market, tmp_path)
    roles = [
        "il_train",
        "il_train",
        "il_train",
        "backtest",
        "validation",
        "unused",
        "backtest",
        "backtest",
    ]
    p, _ = segmented(tmp_path, segments={"roles": roles})
    with pytest.raises(ValueError, match="no sim_train segment.*list it in segments.roles"):
        s01_segment.segment_market(p, market, tmp_path)


def test_wrong_roles_count_says_what_to_do(tmp_path):
    p, market = segmented(tmp_path, segments={"roles": ["il_train", "sim_train", "backtest"]})
    with pytest.raises(
        ValueError,
        match=r"lists 3 roles but the data give 8 segments \(ids 1, 2, "
        r".*List exactly one role per segment.*or delete segments.roles",
    ):
        s01_segment.segment_market(p, market, tmp_path)


def test_bear_case_study_needs_a_bear_backtest(tmp_path):
    # with two backtests the rule picks sideways 4 and bull 8: no bear case study
    p, market = segmented(tmp_path, segments={"rule": {"n_backtest": 2}})
    with pytest.raises(
        ValueError,
        match=r"no bear backtest segment.*\[4, 8\] \(sideways, bull\)"
        r".*segments.rule.n_backtest",
    ):
        s01_segment.segment_market(p, market, tmp_path)


def test_episode_longer_than_the_segments_names_the_key(tmp_path):
    p, market = segmented(tmp_path, market={"episode_minutes": 5000})
    with pytest.raises(
        ValueError,
        match=r"market.episode_minutes 5000 = 1000 bars of 5 minutes"
        r".*lower market.episode_minutes to at most",
    ):
        s01_segment.segment_market(p, market, tmp_path)


def test_eval_segment_seen_in_training_names_the_key(tmp_path):
    p, market = segmented(tmp_path, il={"eval_segment": 1})
    with pytest.raises(ValueError, match="il.eval_segment 1: .*set il.eval_segment"):
        s01_segment.segment_market(p, market, tmp_path)


def test_all_hold_labels_name_theta(tmp_path):
    p, market = segmented(tmp_path, experts={"theta": 0.5})
    segs = s01_segment.segment_market(p, market, tmp_path)
    with pytest.raises(
        ValueError,
        match=r"every il_train bar is labelled hold.*experts.theta = "
        r"50.0%.*largest move inside an il_train segment is .*Set experts.theta "
        r"below",
    ):
        s03_imitation.segment_labels(p, market.bars, segs)
    assert s03_imitation.largest_move(np.array([100.0, 110.0, 99.0])) == pytest.approx(0.10)


def test_il_agents_stuck_in_one_class(tmp_path, capsys):
    assert s03_imitation.one_class_note(np.array([0, 0, 0]), np.array([0, 1, 0])) == (
        "only hold, its majority class"
    )
    assert s03_imitation.one_class_note(np.array([0, 0]), np.array([0, 0])).endswith("all hold")
    assert s03_imitation.one_class_note(np.array([0, 1]), np.array([0, 1])) == ""
    # the pool trained on labels that are hold but for one bar: every agent predicts hold
    p, market = segmented(tmp_path, il={"hold_band": 0.5})
    segs = s01_segment.segment_market(p, market, tmp_path)
    _, scaled, _ = s02_features.build_features(p, market.bars, segs, tmp_path)
    labels = pd.Series(0.0, index=market.bars.index, name="label")
    labels.iloc[int(segs.loc[segs["role"] == "il_train", "first_bar"].iloc[0]) + 40] = 1.0
    with pytest.raises(
        ValueError,
        match=r"every IL agent predicts hold on every bar.*IL1 "
        r"\(segment 1\): only hold.*experts.theta.*il.max_epochs",
    ):
        s03_imitation.train_il_pool(p, segs, scaled, labels, tmp_path, progress=False)
    fit = pd.read_csv(tmp_path / "reports/tiny/tables/il_fit.csv")
    assert fit["one_class"].str.startswith("only hold").all()
    # some agents stuck, or stuck in a class that is not their majority: a warning, no error
    fit.loc[0, "one_class"] = np.nan
    s03_imitation.check_pool(fit)
    assert "Warning: 2 of 3 IL agents never leave one action class" in capsys.readouterr().out
    mixed = fit.assign(one_class=["only buy, its majority class", "only sell", "only hold"])
    s03_imitation.check_pool(mixed)  # stuck, but in different classes: the pool still mixes them
    assert "Warning: 3 of 3" in capsys.readouterr().out
    assert s08_regime_analysis._pool_line(p, tmp_path)[0].startswith(
        "IL pool: 3 of 3 agents never leave"
    )


def test_roles_text_says_which_roles_ran(tmp_path):
    p, market = segmented(tmp_path, segments={"rule_text": "Why we chose it."})
    segs = s01_segment.segment_market(p, market, tmp_path)
    text = s01_segment.roles_text(p, segs)
    assert text.startswith("Roles by the rule: ilsim.regimes.assign_roles") and "first 3 " in text
    assert text.endswith("Note (segments.rule_text): Why we chose it.")
    same = params_from_dict(tiny(segments={"roles": segs["role"].tolist(), "rule_text": "x"}))
    assert s01_segment.roles_text(same, segs).startswith(
        "Roles listed in segments.roles; they are the rule's"
    )
    other = segs["role"].tolist()
    other[0], other[3] = "backtest", "il_train"  # segments 1 and 4 swap roles
    listed = params_from_dict(tiny(segments={"roles": other, "rule_text": "the old rule"}))
    text = s01_segment.roles_text(listed, segs.assign(role=other))
    assert "not those of segments.rule" in text and "1 (backtest, rule: il_train)" in text
    assert "the old rule" not in text and "first 3" not in text


def _backtests(regimes_by_segment: dict[int, str], long_only: dict[int, tuple[float, float]]):
    rows = []
    for seg, regime in regimes_by_segment.items():
        ret, dd = long_only[seg]
        for strategy, seeds in (
            ("long_only", [0]),
            ("final_rl", [0, 1]),
            ("rl_baseline", [0, 1]),
            ("il_baseline", [0, 1]),
        ):
            for s in seeds:
                rows.append(
                    {
                        "segment": seg,
                        "regime": regime,
                        "strategy": strategy,
                        "seed": s,
                        "total_return_pct": ret if strategy == "long_only" else 0.5 + s,
                        "max_drawdown_pct": dd if strategy == "long_only" else -1.0 - s,
                        "volatility": 0.001 * (s + 1),
                        "position_change_frac": 0.5,
                        "degenerate": strategy == "long_only",
                    }
                )
    return pd.DataFrame(rows)


def test_bear_case_is_a_bear_segment():
    # the bull segment has the deepest long-only loss: the bear case is still the bear one
    bt = _backtests(
        {1: "bull", 2: "bear", 3: "sideways"}, {1: (-9.0, -10.0), 2: (-3.0, -4.0), 3: (1.0, -2.0)}
    )
    assert report.case_segments(bt) == {"bear": 2, "volatile": 3}
    assert "bear: segment 2 (bear), the bear backtest" in report.case_text(bt)
    no_side = bt[bt["regime"] != "sideways"]
    assert "no sideways backtest" in report.case_text(no_side)
    with pytest.raises(
        ValueError,
        match=r"no bear backtest.*segments \[1, 3\] \(bull, sideways\)"
        r".*segments.roles, or segments.rule.n_backtest",
    ):
        report.case_segments(bt[bt["regime"] != "bear"])


def test_claims_without_data_are_not_testable():
    bt = _backtests({1: "bull", 2: "bear"}, {1: (5.0, -2.0), 2: (-3.0, -4.0)})
    table = claims.claims(bt).set_index("claim")
    side = table.loc["It is positive in sideways regimes"]
    assert side["verdict"].startswith("not shown: not testable: no sideways backtest")
    assert "segments.rule.sideways_to_backtest" in side["verdict"] and np.isnan(side["estimate"])
    assert not table["verdict"].str.contains("not testable").drop(side.name).any()
    no_il = claims.claims(bt[bt["strategy"] != "il_baseline"]).set_index("claim")
    verdict = no_il.loc["The IL baseline is the most conservative (lowest volatility)", "verdict"]
    assert verdict == "not shown: not testable: no il_baseline rows in the backtests"
    only_bull = claims.claims(bt[bt["regime"] == "bull"]).set_index("claim")
    bear = only_bull.loc["It loses less than long-only in bear regimes", "verdict"]
    assert bear.startswith("not shown: not testable: no bear backtest")
    assert "contradicted" not in bear
