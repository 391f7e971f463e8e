"""``ilsim backtest``: saved policies of a finished run on any data and period, read only."""

import hashlib

import numpy as np
import pandas as pd
import pytest
import yaml

from ilsim import artifacts, cli, data, evaluate
from ilsim.params import params_from_dict
from ilsim.run import Run
from ilsim.steps import (
    s01_segment,
    s02_features,
    s03_imitation,
    s05_simulator,
    s07_backtest,
    training,
)

CONFIG = {
    "name": "tiny",
    "seed": 1,
    "synthetic": {"n_regimes": 8, "regime_days": [2, 3], "bar_minutes": 5},
    "segments": {"rule": {"n_il_train": 3, "n_validation": 1, "n_sim_train": 1, "n_backtest": 3}},
    "experts": {"theta": 0.02},
    "il": {"hidden": [16, 16], "max_epochs": 2, "batch_size": 64},
    "synthesis": {"hidden": [16, 8], "max_epochs": 2},
    "market": {"episode_minutes": 300, "n_paths": 4, "noise_block_minutes": 100, "reward": "bar"},
    "rl": {
        "seeds": [0, 1],
        "n_envs": 2,
        "total_steps": 30,
        "learning_starts": 10,
        "actor_hidden": [8],
        "critic_hidden": [8, 8],
        "batch_size": 16,
        "eval_every": 10,
        "patience": 1,
        "min_steps": 10,
        "final_impact": "learned",
        "reward_scale": 1e4,  # the project's choices (params/*.yaml)
        "preact_penalty": 0.01,
    },
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished tiny run: every artifact the backtest reads, and its own backtests."""
    root = tmp_path_factory.mktemp("run")
    p = params_from_dict(CONFIG)
    market = s01_segment.prepare_bars(p, root)
    segs = s01_segment.segment_market(p, market, root)
    _, scaled, _ = s02_features.build_features(p, market.bars, segs, root)
    labels = s03_imitation.segment_labels(p, market.bars, segs)
    labels.to_frame().to_parquet(root / "results/tiny/labels.parquet")
    s03_imitation.train_il_pool(p, segs, scaled, labels, root, progress=False)
    s05_simulator.train_synthesis_net(p, market.bars, scaled, segs, root, progress=False)
    s05_simulator.fit_impact(p, market.bars, scaled, segs, root)
    for agent in artifacts.LEARNED:
        training.train_policy(Run(p, root), agent, progress=False)
    bt, _ = s07_backtest.run_backtests(p, root)
    # the bars as a user would bring them: a vendor CSV with a time column
    csv = root / "bars.csv"
    market.bars.rename_axis("timestamp").reset_index().to_csv(csv, index=False)
    return p, root, bt, csv, market.bars


def _digest(folder):
    return {
        str(f.relative_to(folder)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(folder.rglob("*"))
        if f.is_file()
    }


def test_saved_policies_on_the_run_own_segments_reproduce_its_backtests(run):
    p, root, bt, csv, _ = run
    before = _digest(root / "results/tiny")
    res = evaluate.backtest_saved(p, [csv], split="extrema", out="tiny-eval", root=root)
    assert _digest(root / "results/tiny") == before  # nothing of the run is touched
    merged = bt.merge(res.rows, on=["segment", "strategy", "seed"], suffixes=("_run", "_new"))
    assert len(merged) == len(bt)  # every backtest of the run is among the new segments
    for col in ("total_return_pct", "max_drawdown_pct", "impact_total_return_pct"):
        assert np.allclose(merged[f"{col}_run"], merged[f"{col}_new"], rtol=0, atol=1e-9), col
    for name in ("backtest_metrics.csv", "backtest_summary.csv"):
        assert (root / "reports/tiny-eval/tables" / name).exists()
    assert (root / "figures/tiny-eval/fig_equity.png").exists()
    assert "## Segments" in (root / "reports/tiny-eval/backtest.md").read_text()
    # the run's roles come along: its training segments are flagged as seen
    seen = res.rows.groupby("run_role")["overlaps_training"].mean()
    assert seen["backtest"] == 0.0 and seen["il_train"] == 1.0


def test_a_period_equal_to_a_backtest_segment_reproduces_it(run):
    p, root, bt, csv, _ = run
    seg = pd.read_csv(root / "results/tiny/segments.csv").query("role == 'backtest'").iloc[-1]
    first, last = pd.Timestamp(seg["start"]).date(), pd.Timestamp(seg["end"]).date()
    res = evaluate.backtest_saved(p, [csv], start=first, end=last, root=root, out="tiny-one")
    ours = res.rows.set_index(["strategy", "seed"])
    theirs = bt[bt["segment"] == seg["segment"]].set_index(["strategy", "seed"])
    for col in ("total_return_pct", "sharpe_ratio", "impact_total_return_pct"):
        assert np.allclose(ours.loc[theirs.index, col], theirs[col], rtol=0, atol=1e-9), col


def test_files_are_concatenated_and_deduplicated(run, tmp_path):
    p, root, _, _, bars = run
    days = np.unique(bars.index.date)
    cut_a, cut_b = days[len(days) // 2], days[len(days) // 2 - 2]  # two days overlap
    a = bars[bars.index.date < cut_a].rename_axis("timestamp").reset_index()
    b = bars[bars.index.date >= cut_b].rename_axis("timestamp").reset_index()
    fa, fb = tmp_path / "a.csv", tmp_path / "b.csv"
    a.to_csv(fa, index=False)
    b.to_csv(fb, index=False)
    joined, info = evaluate.load_bars_files(p, [fb, fa])
    assert joined.equals(bars) and [i["bars"] for i in info] == [len(b), len(a)]
    # where the files overlap, the first file listed wins
    b_moved = b.copy()
    overlap = b_moved["timestamp"] < pd.Timestamp(cut_a, tz=bars.index.tz)
    b_moved.loc[overlap, ["open", "high", "low", "close"]] *= 1.01
    fm = tmp_path / "b_moved.csv"
    b_moved.to_csv(fm, index=False)
    first_wins, _ = evaluate.load_bars_files(p, [fa, fm])
    assert first_wins.equals(bars)
    moved, _ = evaluate.load_bars_files(p, [fm, fa])
    assert not moved.equals(bars) and len(moved) == len(bars)
    whole = evaluate.backtest_saved(p, [fa, fb], start=days[-6], end=days[-1], root=root)
    assert list(whole.segments["regime"]) == ["period"] and whole.segments["bars"].item() > 10
    assert set(whole.rows["strategy"]) == {"long_only", *artifacts.LEARNED}


def test_clear_errors(run, tmp_path):
    p, root, _, csv, bars = run
    days = np.unique(bars.index.date)
    with pytest.raises(evaluate.EvaluationError, match="must differ"):
        evaluate.backtest_saved(p, [csv], out="tiny", root=root)
    with pytest.raises(ValueError, match="history"):
        evaluate.backtest_saved(p, [csv], start=days[0], end=days[2], root=root)
    with pytest.raises(ValueError, match="starts .* after it ends"):
        evaluate.backtest_saved(p, [csv], start=days[5], end=days[2], root=root)
    with pytest.raises(FileNotFoundError, match="run the pipeline"):
        evaluate.backtest_saved(p, [csv], root=tmp_path)
    assert not (tmp_path / "results").exists()  # a wrong name leaves no folder behind
    coarse = bars.iloc[::2].rename_axis("timestamp").reset_index()
    fc = tmp_path / "coarse.csv"
    coarse.to_csv(fc, index=False)
    with pytest.raises(evaluate.EvaluationError, match="10-minute bars"):
        evaluate.backtest_saved(p, [fc], root=root)


def test_cli_reads_artifacts_without_the_training_data(run, tmp_path, monkeypatch, capsys):
    p, root, _, csv, bars = run
    params_file = root / "tiny.yaml"
    cfg = {
        **CONFIG,
        "data": {"source": "file", "path": "${ILSIM_NOT_SET_ANYWHERE}"},
        "segments": {**CONFIG["segments"], "method": "zigzag"},
    }
    params_file.write_text(yaml.safe_dump(cfg))
    monkeypatch.delenv("ILSIM_NOT_SET_ANYWHERE", raising=False)
    monkeypatch.chdir(root)
    days = np.unique(bars.index.date)
    code = cli.main(
        [
            "backtest",
            "--params",
            str(params_file),
            "--data",
            str(csv),
            "--from",
            str(days[-8]),
            "--agent",
            "final_rl",
            "--seed",
            "0",
            "--policy",
            str(Run(p, root).policy_path("rl_baseline", 1)),
            "--out",
            "cli-eval",
        ]
    )
    assert code == 0, capsys.readouterr().err
    rows = pd.read_csv(root / "reports/cli-eval/tables/backtest_metrics.csv")
    assert set(rows["strategy"]) == {"long_only", "final_rl", "policy:rl_baseline_seed1"}
    assert cli.main(["backtest", "--params", str(params_file), "--data", "missing.csv"]) == 1
    assert "missing.csv" in capsys.readouterr().err


def test_canonical_bars_read_back(run):
    """The pipeline's own bars file imports as data (times in the index)."""
    p, root, _, _, bars = run
    back, _ = evaluate.load_bars_files(p, [root / "results/tiny/bars.parquet"])
    assert back.equals(bars) and data.load_bars(root / "results/tiny/bars.parquet").equals(bars)
