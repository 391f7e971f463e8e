"""The run object (ilsim/run.py, issue 27): a run's paths, what reading and writing do to its
folder, and the loaders of the impact law and the final agent's world."""

import json

import pytest

from ilsim.impact import ImpactLaw
from ilsim.params import params_from_dict
from ilsim.run import Run


def _law() -> ImpactLaw:
    return ImpactLaw(
        coef=0.5, exponent=0.5, half_life=10.0, permanent_coef=0.1, alpha=0.0, sigma_day=0.01,
        volume_day=1e6, bars_per_day=78, n_bars=1000, r2=0.1,
    )  # fmt: skip


def test_paths_and_reading_a_run_that_does_not_exist(tmp_path):
    run = Run(params_from_dict({"name": "r"}), str(tmp_path))  # a str root is taken
    assert run.results == tmp_path / "results/r" and run.tables == tmp_path / "reports/r/tables"
    assert run.file("bars.parquet") == tmp_path / "results/r/bars.parquet"
    assert run.impact() == (None, 0.0)  # before notebook 05
    assert not run.results.exists()  # reading never creates the run's folder
    assert run.policy_path("final_rl", 3) == tmp_path / "results/r/policies/final_rl_seed3.pt"
    assert run.policies("rl_baseline")(1).name == "rl_baseline_seed1.pt"
    assert (tmp_path / "results/r/policies").is_dir()  # writing does
    premise = run.premise_policy_path("impact", 0, 1e6, 0.005)
    assert premise.name == "impact_1e06_fee0.005_seed0.pt"


def test_impact_law_backtest_law_and_final_impact(tmp_path):
    p = params_from_dict({"name": "r", "backtest": {"impact": True}})
    run = Run(p, tmp_path)
    with pytest.raises(FileNotFoundError, match="notebook 05"):
        run.backtest_law()
    run.path("impact_law.json").write_text(
        json.dumps({**_law().to_dict(), "pool_mean_action": 0.25})
    )
    law, pool_mean = run.impact()
    assert law == _law() and pool_mean == 0.25
    assert run.backtest_law() == _law()
    coef = Run(
        p.model_copy(update={"backtest": p.backtest.model_copy(update={"impact_coef": 2.0})}),
        tmp_path,
    )
    assert coef.backtest_law().coef == 2.0 and coef.backtest_law().exponent == 0.5
    off = Run(params_from_dict({"name": "r", "backtest": {"impact": False}}), tmp_path)
    assert off.backtest_law() is None
    run.path("impact_mode.json").write_text(json.dumps({"mode": "learned"}))
    assert run.final_impact() == "learned"  # rl.final_impact "auto": notebook 05's choice
    fixed = Run(params_from_dict({"name": "r", "rl": {"final_impact": "paper"}}), tmp_path)
    assert fixed.final_impact() == "paper"
