"""The steps (ilsim/steps) end to end on a tiny synthetic market, in a temporary project root."""

import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from ilsim import artifacts, claims, data, pool, regimes
from ilsim import market as sim
from ilsim.market.assemble import market_bars, market_config, run_market
from ilsim.params import params_from_dict
from ilsim.run import Run
from ilsim.steps import (
    premise,
    s01_segment,
    s02_features,
    s03_imitation,
    s04_il_diversity,
    s05_measures,
    s05_simulator,
    s06_train_rl,
    s07_backtest,
    s08_regime_analysis,
    s09_il_methods,
    training,
)


def test_steps_end_to_end(tmp_path):
    p = params_from_dict(
        {
            "name": "tiny",
            "seed": 1,
            "synthetic": {"n_regimes": 8, "regime_days": [2, 3], "bar_minutes": 5},
            "segments": {
                "rule": {"n_il_train": 3, "n_validation": 1, "n_sim_train": 1, "n_backtest": 3}
            },
            "experts": {"theta": 0.02},
            "il": {"hidden": [16, 16], "max_epochs": 3, "batch_size": 64},
            "synthesis": {"hidden": [16, 8], "max_epochs": 3},
            "market": {
                "episode_minutes": 300,  # 60 five-minute bars
                "n_paths": 8,
                "probe_horizon_minutes": 15,
                "noise_block_minutes": 100,
                "reward": "bar",
            },
            "rl": {
                "seeds": [0, 1],
                "n_envs": 2,
                "total_steps": 60,
                "learning_starts": 10,
                "actor_hidden": [8],
                "critic_hidden": [8, 8],
                "batch_size": 16,
                "checkpoint_every": 30,
                "eval_every": 10,
                "patience": 2,
                "min_steps": 20,
                "reward_scale": 1e4,  # the project's choices (params/*.yaml)
                "preact_penalty": 0.01,
            },
        }
    )
    market = s01_segment.prepare_bars(p, tmp_path)
    assert (tmp_path / "reports/tiny/data_import.md").exists()
    assert data.load_bars(tmp_path / "results/tiny/bars.parquet").equals(market.bars)
    assert s01_segment.load_extrema(p, tmp_path) == market.extrema

    segs = s01_segment.segment_market(p, market, tmp_path)
    assert (segs["role"] == "il_train").sum() == 3 and (segs["role"] == "validation").sum() == 1
    long_only, search = s01_segment.role_search(p, market, tmp_path)
    assert (
        len(long_only) == len(market.extrema) - 1 and search["max_miss_pp"].is_monotonic_increasing
    )
    assert (tmp_path / "reports/tiny/tables/segments.md").exists()

    raw, scaled, scaler = s02_features.build_features(p, market.bars, segs, tmp_path)
    fit = regimes.role_mask(segs, len(raw), "il_train") & ~raw.isna().any(axis=1).to_numpy()
    assert np.allclose(scaled[fit].min(), 0) and np.allclose(scaled[fit].max(), 1)

    labels = s03_imitation.segment_labels(p, market.bars, segs)
    labels.to_frame().to_parquet(tmp_path / "results/tiny/labels.parquet")  # as notebook 03
    assert labels[regimes.bar_segment_ids(segs, len(labels)) < 0].isna().all()
    mix = s03_imitation.label_mix(segs, labels)
    assert np.allclose(mix[["buy", "hold", "sell"]].sum(axis=1), 1)

    result, fit_table = s03_imitation.train_il_pool(
        p, segs, scaled, labels, tmp_path, progress=False
    )
    assert len(fit_table) == 3 and (tmp_path / "results/tiny/il_agents.pt").exists()

    seg = s01_segment.il_eval_segment(p, segs)
    assert seg["role"] == "backtest"
    actions, bt, table = s04_il_diversity.il_trade(p, market.bars, scaled, seg, result.model)
    assert actions.shape == (seg["bars"], 3) and np.abs(actions).max() <= 1
    assert (bt.cash >= 0).all() and (bt.holdings >= 0).all()
    assert table["policy"].tolist() == ["IL1", "IL2", "IL3"]
    t3, t4 = s04_il_diversity.il_paper_tables(p, table, tmp_path)
    assert t3["policy"].tolist()[:3] == ["IL1", "IL2", "IL3"] and len(t3) == 10
    assert (t4["max_drawdown_pct"].dropna() >= 0).all()
    d = s04_il_diversity.il_diversity(actions, table, p.il.hold_band, p.il.alike_correlation)
    assert d["turnover_min"] == table["turnover"].min()
    written = pd.read_csv(tmp_path / "reports/tiny/tables/table4_il_risk.csv")
    assert written["policy"].tolist() == t4["policy"].tolist()

    # the simulator: synthesis network, market data, impact measurement, realism
    _, quality = s05_simulator.train_synthesis_net(
        p, market.bars, scaled, segs, tmp_path, progress=False
    )
    assert quality["data"].tolist()[-1] == "backtest segments (held out)"
    law = s05_simulator.fit_impact(p, market.bars, scaled, segs, tmp_path)
    assert 0.2 <= law.exponent <= 1.2 and np.isfinite(law.permanent_coef)
    for name, (lo, hi) in law.ci.items():
        assert lo <= hi, name
    assert (tmp_path / "reports/tiny/tables/impact_law.csv").exists()
    mdata = run_market(Run(p, tmp_path), "sim_train")
    assert mdata.impact_law == law and mdata.pool_mean_action != 0.0
    assert len(mdata.residuals) == len(mdata.residual_volume) == len(mdata.residual_bar_of_day)
    assert abs(mdata.residuals.mean()) < 1e-12  # zero-mean noise
    cfg = market_config(p, market.bars, impact="calibrated")
    assert cfg.reward_window_bars == 1  # market.reward "bar"
    assert cfg.episode_bars == 60 and cfg.noise_block == 20  # 300 and 100 minutes of 5-minute bars
    window = p.model_copy(update={"market": p.market.model_copy(update={"reward": "window"})})
    assert market_config(window, market.bars).reward_window_bars == 46  # 230 min / 5
    resp = sim.impact_response(mdata, cfg, (0.0, 0.5, 1.0), 8, 3, seed=0)
    assert (resp["response_bp"].diff().dropna() > 0).all()
    curves, checks = s05_measures.impact_checks(p, mdata, root=tmp_path)
    learned = checks.set_index("impact").loc["learned"]
    assert bool(learned["monotone"]) and learned["peak_bp"] > 0
    assert set(curves["impact"]) == {*s05_measures.IMPACT_PROBE_MODES, "fitted law"}
    both = pd.concat([resp, resp.assign(impact="paper")])
    assert s05_measures.choose_impact_mode(p, both, tmp_path)["mode"] == "paper"
    assert (tmp_path / "results/tiny/impact_mode.json").exists()
    table = s05_measures.simulator_realism(p, mdata, root=tmp_path)
    assert set(table["candidate"]) >= {"simulator", "static replay", "GBM"}
    assert (table["distance"].dropna() >= 0).all()

    # the policies: every seed of an agent in one stacked run, selected on validation
    for agent in artifacts.LEARNED:
        summary = training.train_policy(Run(p, tmp_path), agent, progress=False)
        assert summary["seed"].tolist() == [0, 1]
        for seed in (0, 1):
            assert Run(p, tmp_path).policy_path(agent, seed).exists()
    runs = s06_train_rl.training_summary(p, tmp_path)
    assert len(runs) == 4 and (runs["best_step"] <= runs["vector_steps"]).all()
    assert (runs["vector_steps"] <= 60).all() and (runs["reward_window_bars"] == 1).all()
    curve = pd.read_csv(Run(p, tmp_path).policy_path("final_rl", 1).with_suffix(".csv"))
    assert (curve["seed"] == 1).all() and curve["val_score"].notna().any()
    # byte-identical reruns (issue 13): no wall time in results; it goes to timings.csv
    assert "wall_s" not in curve and (tmp_path / "results/tiny/timings.csv").exists()
    again = tmp_path / "again"
    shutil.copytree(tmp_path / "results", again / "results")
    shutil.rmtree(again / "results/tiny/checkpoints")
    training.train_policy(Run(p, again), "rl_baseline", progress=False)
    for seed in (0, 1):
        csv = Run(p, tmp_path).policy_path("rl_baseline", seed).with_suffix(".csv")
        rerun = Run(p, again).policy_path("rl_baseline", seed).with_suffix(".csv")
        assert csv.read_bytes() == rerun.read_bytes()
    val = s06_train_rl.validation_comparison(p, tmp_path)
    assert "constant 0%" in set(val["strategy"])
    assert val.loc[val["strategy"] == "constant 0%", "val_log_growth"].item() == 0.0
    bt, _ = s07_backtest.run_backtests(p, tmp_path)
    assert set(bt["strategy"]) == {"long_only", *artifacts.LEARNED} and "degenerate" in bt
    # the impact-aware backtest: the same trades never do better than on static prices (for
    # the strategies whose orders do not depend on their account, which the impact changes)
    fixed = bt[bt["strategy"].isin(["long_only", "il_baseline"])]
    assert (fixed["impact_total_return_pct"] <= fixed["total_return_pct"] + 1e-9).all()
    assert (bt["impact_total_return_pct"] != bt["total_return_pct"]).any()
    # the claims' backtests (issue 15): both fees, and each learned seed's exposure-matched
    # constant position, whose exposure is the strategy's (averaged over the segments)
    s07_backtest.claim_backtests(p, tmp_path)
    cb = pd.read_csv(Run(p, tmp_path).path("claim_backtests.csv"))  # as notebook 08 does
    kinds = {"strategy", "constant", "constant_regime"}
    assert set(cb["fee"]) == {0.005, 0.0001} and set(cb["kind"]) == kinds
    head = cb[(cb["fee"] == 0.005) & (cb["kind"] == "strategy")]
    same = head.merge(bt, on=["segment", "strategy", "seed"], suffixes=("", "_bt"))
    np.testing.assert_allclose(same["total_return_pct"], same["total_return_pct_bt"])
    for (agent, seed), g in cb[cb["fee"] == 0.005].groupby(["strategy", "seed"]):
        if agent == "long_only":
            continue
        held = g.groupby("kind")["exposure"].mean()
        assert held["constant"] == pytest.approx(held["strategy"], abs=0.05), (agent, seed)
        # a regime's null holds the strategy's exposure in that regime (issue 25)
        by_regime = g.groupby(["regime", "kind"])["exposure"].mean().unstack()
        np.testing.assert_allclose(
            by_regime["constant_regime"], by_regime["strategy"], atol=0.05, err_msg=agent
        )
    claim_table = claims.claims(cb, p.claims)
    assert len(claim_table) == 12 and claim_table["verdict"].str.len().gt(0).all()

    # the premise A/B (issue 25): arm impact per size, arm replay once per fee
    small = p.model_copy(
        update={
            "premise": p.premise.model_copy(
                update={"sizes": (1e6, 1e10), "seeds": (0, 1), "total_steps": 20, "eval_every": 10}
            )
        }
    )
    assert small.backtest.fees() == (0.005, 0.0001)  # the fee axis (issue 15)
    for fee in small.backtest.fees():
        rows = training.train_premise(Run(small, tmp_path), "replay", progress=False, fee=fee)
        assert set(rows["impact"]) == {"none"} and (rows["vector_steps"] == 20).all()
        for size in small.premise.sizes:
            rows = training.train_premise(Run(small, tmp_path), "impact", size, fee, progress=False)
            assert set(rows["impact"]) == {"own"} and set(rows["initial_cash"]) == {size}
    from ilsim import ddpg

    first = [
        ddpg.load_policy(Run(small, tmp_path).premise_policy_path(arm, 0, 1e6, 0.005))
        for arm in ("impact", "replay")
    ]
    assert first[0][1]["selection"] == first[1][1]["selection"] == "last"
    table, verdict = premise.write_premise(small, tmp_path)
    assert set(table["size"]) == {1e6, 1e10} and set(table["fee"]) == {0.005, 0.0001}
    assert set(table["arm"]) == {"impact", "replay", "difference"}
    assert verdict.count("**Fee ") == 2 and "negative control" in verdict
    assert (tmp_path / "figures/tiny/fig_premise_ab.png").exists()
    devs = s08_regime_analysis.deviations(p, tmp_path)
    assert any("validation" in d for d in devs)
    assert any("Roles by the rule: ilsim.regimes.assign_roles" in d for d in devs)
    assert any("episodes of 300 minutes (60 bars)" in d for d in devs)
    assert any(d.startswith("Case studies (Figures 5 and 6): bear: segment 7 (bear)") for d in devs)


def test_market_config_converts_minutes_once():
    """The same params on 1-minute bars: five times the bars of the 5-minute run."""
    p = params_from_dict(
        {
            "name": "x",
            "market": {"episode_minutes": 1950, "noise_block_minutes": 390, "reward": "window"},
        }
    )
    for minutes, bars in ((5, 1), (1, 5)):
        idx = pd.date_range("2021-01-04 09:30", periods=50, freq=f"{minutes}min", tz="UTC")
        cfg = market_config(p, pd.DataFrame({"close": 1.0}, index=idx))
        assert (cfg.episode_bars, cfg.noise_block) == (390 * bars, 78 * bars)
        assert cfg.reward_window_bars == 46 * bars
        assert market_bars(p, pd.DataFrame(index=idx)).probe_horizon == 2 * bars


def test_il_methods_build_pools_and_simulators(tmp_path):
    p = params_from_dict(
        {
            "name": "tiny",
            "seed": 2,
            "synthetic": {"n_regimes": 8, "regime_days": [2, 3], "bar_minutes": 5},
            "segments": {
                "rule": {"n_il_train": 3, "n_validation": 1, "n_sim_train": 1, "n_backtest": 3}
            },
            "experts": {"theta": 0.02},
            "il": {"method": "maxent_irl"},
            "synthesis": {"hidden": [16, 8], "max_epochs": 2},
            "market": {"episode_minutes": 200, "n_paths": 4, "noise_block_minutes": 100},
            "rl": {"n_envs": 4, "learning_starts": 5},
            "il_methods": {
                "irl_iterations": 30,
                "rl_steps": 20,
                "n_paths": 4,
                "max_epochs": 2,
                "hidden": [8],
            },
        }
    )
    market = s01_segment.prepare_bars(p, tmp_path)
    segs = s01_segment.segment_market(p, market, tmp_path)
    _, scaled, scaler = s02_features.build_features(p, market.bars, segs, tmp_path)
    labels = s03_imitation.segment_labels(p, market.bars, segs)
    labels.to_frame().to_parquet(tmp_path / "results/tiny/labels.parquet")  # as notebook 03

    # the pool built by another method, saved and loaded like the paper's
    result, fit = s03_imitation.train_il_pool(p, segs, scaled, labels, tmp_path, progress=False)
    assert result is None and len(fit) == 3 and (fit["method"] == "maxent_irl").all()
    learned = pool.load_pool(Run(p, tmp_path).path("il_agents.pt"))
    acts = learned.act(torch.as_tensor(scaled.dropna().to_numpy(np.float32)[:7]))
    assert acts.shape == (7, 3) and set(np.unique(acts.numpy())) <= {-1.0, 0.0, 1.0}

    row = s09_il_methods.il_method_study(
        p, "maxent_irl", "hindsight", market.bars, scaled, segs, scaler, simulate=True
    )
    assert row["agents"] == 3 and 0 <= row["accuracy"] <= 1
    for key in ("synthesis_skill_heldout", "realism_distance", "rl_return_pct"):
        assert np.isfinite(row[key])
    quick = s09_il_methods.il_method_study(
        p, "bc", "momentum", market.bars, scaled, segs, scaler, simulate=False
    )
    assert "realism_distance" not in quick and quick["method"] == "bc"


def test_il_diversity_reads_planted_actions():
    """Known answers: two agents act alike, one the opposite, one never trades."""
    a = np.sin(np.arange(200) / 5)
    actions = np.c_[a, a, -a, np.zeros(200)]
    table = pd.DataFrame(
        {"turnover": [1.0, 2.0, 3.0, 0.0], "total_return_pct": [-1.0, 0.5, 2.0, 0.0]}
    )
    d = s04_il_diversity.il_diversity(actions, table, hold_band=0.1, alike=0.9)
    assert (d["turnover_min"], d["turnover_max"]) == (0.0, 3.0)
    assert (d["return_min_pct"], d["return_max_pct"]) == (-1.0, 2.0)
    assert d["passive_agents"] == 1  # the agent that never trades
    assert (d["pairs"], d["pairs_alike"]) == (6, 1)  # agents 1 and 2 act as one
    assert d["max_correlation"] == pytest.approx(1.0)
    assert d["min_correlation"] == pytest.approx(-1.0)
    assert d["mean_abs_correlation"] == pytest.approx(1.0)


def test_choose_impact_mode_follows_the_measurement(tmp_path):
    """Planted responses: the paper mode is chosen only when its own response is above 0 with
    its interval and at least the threshold; else learned when it moves, else calibrated."""
    from ilsim.params import example_params, load_params

    p = load_params(example_params("default"))

    def response(paper_bp, paper_lo, learned_bp=2.0, learned_lo=1.0):
        rows = [
            ("paper", paper_bp, paper_lo),
            ("calibrated", 3.0, 2.0),
            ("learned", learned_bp, learned_lo),
        ]
        return pd.DataFrame(
            [
                {"impact": m, "size": 1.0, "response_bp": r, "ci_low": lo, "ci_high": r + 1}
                for m, r, lo in rows
            ]
        )

    pick = lambda *a: s05_measures.choose_impact_mode(p, response(*a), tmp_path)  # noqa: E731
    assert pick(1.0, 0.5)["mode"] == "paper"
    flat = pick(0.0, -0.2)
    assert flat["mode"] == "learned" and "includes 0" in flat["text"]
    assert "negative" in pick(-2.0, -3.0)["text"]  # interval -3 … -1
    assert "no interval" in pick(0.5, float("nan"))["text"]
    tiny = pick(p.market.impact_min_bp / 2, 0.01)
    assert tiny["mode"] == "learned" and "threshold" in tiny["text"]
    assert pick(0.0, -0.2, 0.0, -0.1)["mode"] == "calibrated"


def test_step5_notes_follow_their_numbers():
    """The synthesis note's reading depends on the held-out skill's sign; the checks note names
    only the impact modes (not the reference rows) and says when a slope is undefined."""
    from ilsim.steps import s05_notes

    def quality(skill: float) -> pd.DataFrame:
        return pd.DataFrame(
            {"data": ["sim_train validation blocks", "backtest segments (held out)"],
             "skill": [0.01, skill], "corr": [0.1, 0.1], "direction": [0.5, 0.5]}
        )  # fmt: skip

    assert "no better than predicting no move" in s05_notes.synthesis_note(quality(-1e-3))
    assert "explain 2.00%" in s05_notes.synthesis_note(quality(0.02))
    nan = float("nan")
    row = {"slope_ci_low": 0.4, "slope_ci_high": 0.6, "size_for_peak": 0.01, "peak_bp": 3.0,
           "left_at_end": 0.5, "end_lag": 10, "monotone": True}  # fmt: skip
    checks = pd.DataFrame(
        [
            {"impact": "calibrated", "slope": 0.5, **row},
            {"impact": "paper", "slope": nan, **row},
            {"impact": "empirical law", "slope": 0.5, **row},
            {"impact": "real (episode starts)", "slope": nan, **{k: nan for k in row}},
        ]
    )
    note = s05_notes.checks_note(checks)
    assert "`calibrated`: slope 0.50 [0.40, 0.60]" in note
    assert "`paper`: no log-log slope" in note
    assert "real (episode starts)" not in note and "nan" not in note
    assert note.endswith("Empirical laws: slope 0.5, peak 3 bp, 50% left at the close.")
    # with the drift columns and the training segments' row, the drifts side by side
    drift = {"drift_bp": 0.1, "drift_ci_low": -0.2, "drift_ci_high": 0.4}
    train = {"impact": "real (training segments)", "slope": nan}
    checks = pd.concat([checks.assign(**drift), pd.DataFrame([{**train, **drift}])])
    assert s05_notes.checks_note(checks).endswith(
        "bp/bar): `paper` +0.100 [-0.200, +0.400], `calibrated` +0.100 [-0.200, +0.400]; "
        "the training segments' +0.100 [-0.200, +0.400]."
    )


def test_a_shared_result_is_computed_once_while_the_inputs_stay(tmp_path):
    """``remembered``: the sections of a step that share a result compute it once while the
    step's inputs (its registered reads) stay; a changed input or other params compute it
    again; a file the step does not read changes nothing; each caller gets its own copy
    (issue 28)."""
    import time

    from ilsim.steps.result import forget, remembered

    forget()
    p = params_from_dict({"name": "memo"})
    bars = Run(p, tmp_path).path("bars.parquet")  # read by il_diversity
    bars.write_text("a")
    calls = []

    def compute(p, root):
        calls.append(1)
        return [len(calls)]

    first = remembered(compute, p, tmp_path, rule="il_diversity")
    first.append("edited by a reader")
    assert remembered(compute, p, tmp_path, rule="il_diversity") == [1]  # a copy, computed once
    Run(p, tmp_path).path("backtests.csv").write_text("not read by il_diversity")
    assert remembered(compute, p, tmp_path, rule="il_diversity") == [1]
    time.sleep(0.01)
    bars.write_text("bb")  # another size too: a coarse clock cannot hide the change
    assert remembered(compute, p, tmp_path, rule="il_diversity") == [2]
    other = p.model_copy(update={"seed": 9})
    assert remembered(compute, other, tmp_path, rule="il_diversity") == [3]


@pytest.mark.parametrize(
    "step",
    [s01_segment, s02_features, s03_imitation, s04_il_diversity, s05_simulator, s06_train_rl,
     s07_backtest, s08_regime_analysis, s09_il_methods],
    ids=lambda m: m.__name__.rsplit(".", 1)[-1],
)  # fmt: skip
def test_run_is_the_sections_in_order(step, monkeypatch):
    """A step's ``run`` (what the CLI and the end-to-end test call) runs each of its notebook's
    sections once, in order, and returns what they returned."""
    from ilsim.steps.result import StepResult

    calls = []

    def recorder(name):
        def section(p, root="."):
            calls.append(name)
            r = StepResult()
            r.notes[name] = name
            return r

        return section

    names = [f.__name__ for f in step.SECTIONS]
    monkeypatch.setattr(step, "SECTIONS", tuple(recorder(n) for n in names))
    r = step.run(params_from_dict({"name": "order"}))
    assert calls == names and list(r.notes) == names


def test_strategy_runs_backtests_each_strategy_as_its_own_backtest():
    """``policies.strategy_runs``: long-only first, then the agents, then the other policies
    (K paths, seeds 0 … K − 1), each the backtest it stands for, with the run's cash and fee."""
    from ilsim import backtest
    from ilsim.policies import strategy_runs

    p = params_from_dict({"name": "runs", "backtest": {"fee": 0.001}})
    prices = 100 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, 50)))
    scaled = pd.DataFrame({"x": np.linspace(-1, 1, 60)})

    def other(obs):  # [K, D + 2] -> [K]: path 0 long when the feature is positive, 1 opposite
        s = np.sign(obs[:, 0])
        return np.array([s[0], -s[1]])

    runs = strategy_runs(
        Run(p), slice(5, 55), scaled, prices, agents=(), others=[("other", other, 2, "fraction")]
    )
    assert list(runs) == ["long_only", "other"]
    assert runs["long_only"].seeds == [0] and runs["other"].seeds == [0, 1]
    kw = {"initial_cash": p.backtest.initial_cash, "fee": 0.001}
    lo = backtest.run_backtest(prices, backtest.long_only_actions(50)[None], **kw)
    np.testing.assert_array_equal(runs["long_only"].result.value, lo.value)
    states = scaled.iloc[5:55].to_numpy(np.float32)
    res, _ = backtest.run_policy_backtest(prices, states, other, 2, **kw)
    np.testing.assert_array_equal(runs["other"].result.value, res.value)


def test_strategy_runs_hands_each_agent_its_seeds_fee_law_and_sessions(monkeypatch):
    """``strategy_runs`` passes the slice, the law, the session starts, the seeds and the fee
    on to every learned agent's backtest, and reports the seeds its paths stand for."""
    from ilsim import policies

    seen = []

    def fake(p, agent, policy_file, sl, scaled, prices, law, new_session, seeds, fee):
        seen.append((agent, policy_file(3).name, sl, law, new_session, list(seeds), fee))
        return f"result of {agent}", None

    monkeypatch.setattr(policies, "policy_actions", fake)
    p = params_from_dict({"name": "runs", "rl": {"seeds": [0, 1]}})
    mask, law = np.ones(4, bool), object()
    runs = policies.strategy_runs(
        Run(p), slice(2, 6), pd.DataFrame({"x": range(8)}), np.ones(4), law=law,
        new_session=mask, fee=0.002, agents=("rl_baseline", "final_rl"), seeds=(3, 1),
        long_only=False,
    )  # fmt: skip
    assert list(runs) == ["rl_baseline", "final_rl"]
    assert [r.seeds for r in runs.values()] == [[3, 1], [3, 1]]
    assert runs["final_rl"].result == "result of final_rl"
    path = Run(p).policy_path("final_rl", 3).name
    assert seen[1] == ("final_rl", path, slice(2, 6), law, mask, [3, 1], 0.002)
