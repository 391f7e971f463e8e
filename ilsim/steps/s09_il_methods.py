"""Step 9 (notebook 09): the book chapters' IL methods (BC, DAgger, MaxEnt IRL, GAIL) compared
as pool members: imitation accuracy, the simulator they drive and its realism."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ilsim import (
    backtest,
    features,
    market,
    metrics,
    realism,
    regimes,
    timings,
)
from ilsim.learners import evaluate_learner
from ilsim.market.assemble import assemble_market, market_bars, market_config
from ilsim.params import Params
from ilsim.plots.imitation import plot_il_methods
from ilsim.pool import LearnerPool, il_actions, make_method_learner, method_demos
from ilsim.run import Run
from ilsim.steps.result import StepResult, run_sections
from ilsim.steps.s05_measures import simulated_pathset
from ilsim.steps.s05_simulator import fit_synthesis
from ilsim.steps.training import ddpg_config


def il_method_study(
    p: Params,
    method: str,
    demonstrator: str,
    bars: pd.DataFrame,
    scaled: pd.DataFrame,
    segments: pd.DataFrame,
    scaler: features.MinMaxScaler,
    simulate: bool = True,
    progress: bool = False,
) -> dict[str, Any]:
    """One IL method as the pool builder: fit one learner per ``il_train`` segment, score them
    on the held-out backtests (imitation and trading), and — with ``simulate`` — build the
    simulator from this pool (synthesis network, realism against held-out bars) and train a
    short DDPG run in it, backtested on the real backtest segments."""
    from ilsim import ddpg

    demos = method_demos(p, demonstrator, bars, scaled, segments)
    train_ids = segments.loc[segments["role"] == "il_train", "segment"].tolist()
    held = segments.loc[segments["role"] == "backtest", "segment"].tolist()
    t0 = time.perf_counter()
    learners = [
        make_method_learner(p, method).fit(demos.select_segments([s]), seed=p.seed)
        for s in train_ids
    ]
    fit_s = time.perf_counter() - t0
    test = demos.select_segments(held)
    bt = p.backtest
    evals = pd.DataFrame(
        [
            evaluate_learner(
                a, test, initial_cash=bt.initial_cash, fee=bt.fee, hold_band=p.il.hold_band
            )
            for a in learners
        ]
    )
    row: dict[str, Any] = {
        "method": method,
        "demonstrator": demonstrator,
        "agents": len(learners),
        "fit_seconds": fit_s,
        "accuracy": evals["accuracy"].mean(),
        "majority_rate": evals["majority_rate"].mean(),
        "total_return_pct": evals["total_return_pct"].mean(),
        "sharpe_ratio": evals["sharpe_ratio"].mean(),
        "max_drawdown_pct": evals["max_drawdown_pct"].mean(),
        "turnover": evals["turnover"].mean(),
    }
    if not simulate:
        return row
    pool = LearnerPool(learners, train_ids)
    acts = il_actions(pool, scaled)
    fit, quality, meta = fit_synthesis(p, bars, scaled, segments, acts, progress)
    row["synthesis_skill_heldout"] = float(quality.iloc[-1]["skill"])
    mdata = assemble_market(p, bars, segments, scaler, pool.act, fit.model, fit.residuals, meta)
    m = p.il_methods
    episode = market_bars(p, bars).episode
    real = realism.PathSet.from_bars(bars, regimes.role_ranges(segments, "backtest"), episode)
    sim = simulated_pathset(p, mdata, "paper", m.n_paths, episode, p.seed)
    table = realism.realism_table(
        real,
        {"simulator": sim},
        n_boot=p.il_methods.realism_boot,
        seed=p.seed,
        include_real_split=False,
    )
    row["realism_distance"] = float(table.loc[table["fact"] == "total", "distance"].iloc[0])
    train = assemble_market(
        p, bars, segments, scaler, pool.act, fit.model, fit.residuals, meta, p.rl.train_roles
    )
    env = market.VectorMarket(
        train, market_config(p, bars, impact="calibrated", stagger_starts=True), p.rl.n_envs
    )
    res = ddpg.train(
        env,
        ddpg_config(
            p,
            [p.seed],
            total_steps=m.rl_steps,
            checkpoint_every=m.rl_steps,
            learning_starts=min(p.rl.learning_starts, m.rl_steps // 3),
            eval_every=0,
        ),
        progress=progress,
    )
    rets, dds = [], []
    for seg in segments[segments["role"] == "backtest"].itertuples(index=False):
        sl = slice(seg.first_bar, seg.last_bar + 1)
        out, _ = backtest.run_policy_backtest(
            bars["close"].to_numpy()[sl],
            scaled.iloc[sl].to_numpy(np.float32),
            res.actor.cpu().policy(),
            1,
            initial_cash=bt.initial_cash,
            fee=bt.fee,
            mode=p.market.action_mode,
        )
        mt = metrics.compute_metrics(
            out.value[0], out.traded_notional[0], initial_value=bt.initial_cash
        )
        rets.append(mt["total_return_pct"])
        dds.append(mt["max_drawdown_pct"])
    row["rl_return_pct"] = float(np.mean(rets))
    row["rl_max_drawdown_pct"] = float(np.mean(dds))
    return row


def _study(p: Params, root: str | Path = ".") -> pd.DataFrame:
    """Every method × demonstrator of ``il_methods`` as the pool builder (the simulator study
    for the first demonstrator), one row each; the fit times go to ``timings.csv``."""
    run = Run(p, root)
    from tqdm.auto import tqdm

    bars = run.bars()
    segments = run.segments()
    scaled = run.features()
    scaler = run.scaler()
    m = p.il_methods
    rows = []
    jobs = [(meth, demo) for demo in m.demonstrators for meth in m.methods]
    for meth, demo in tqdm(jobs, desc="IL methods"):
        simulate = demo == m.demonstrators[0]  # the simulator study for the first demonstrator
        rows.append(
            il_method_study(p, meth, demo, bars, scaled, segments, scaler, simulate=simulate)
        )
    return timings.split_timings(
        pd.DataFrame(rows), "fit_seconds", "il_methods", ["method", "demonstrator"],
        p.results_dir(root),
    )  # fmt: skip


def method_study(p: Params, root: str | Path = ".") -> StepResult:
    """Section 1: each method builds the pool, scored on the held-out backtest segments, in a
    table and a figure (the fit times go to ``timings.csv``, not into the table, so reruns
    give the same bytes)."""
    run = Run(p, root)
    r = StepResult()
    segments = run.segments()
    r.values["segments"] = segments
    train_ids = segments.loc[segments["role"] == "il_train", "segment"].tolist()
    held = segments.loc[segments["role"] == "backtest", "segment"].tolist()
    r.notes["check"] = (
        f"one learner per il_train segment {train_ids}; scored on backtest segments {held}"
    )
    table = _study(p, root)
    r.write_table(table, p.tables_dir(root), "il_methods", floatfmt=".4g")
    r.save_figure(plot_il_methods(table), p.figures_dir(root), "fig_il_methods")
    return r


def comparison(p: Params, root: str | Path = ".") -> StepResult:
    """Section 2: the first demonstrator's methods side by side in one paragraph, from section
    1's table (numbers to 2–4 decimals: the table's 12 significant digits suffice)."""
    r = StepResult()
    r.notes["summary"] = _summary(p, pd.read_csv(p.tables_dir(root) / "il_methods.csv"))
    return r


SECTIONS = (method_study, comparison)


def run(p: Params, root: str | Path = ".") -> StepResult:
    """Step 9 whole (its notebook's sections in order): every method × demonstrator of
    ``il_methods`` as the pool builder; writes every output of rule ``il_methods``."""
    return run_sections(SECTIONS, p, root)


def _summary(p: Params, table: pd.DataFrame) -> str:
    """The first demonstrator's methods side by side, in one paragraph (no wall times: they
    change every run, so they stay in ``timings.csv`` and the tracked notebook stays put)."""
    demo = p.il_methods.demonstrators[0]
    first = table[table["demonstrator"] == demo].set_index("method")
    best = first["accuracy"].idxmax()
    return (
        f"With the `{demo}` demonstrator, held-out imitation accuracy ranges from "
        f"{first['accuracy'].min():.2f} to {first['accuracy'].max():.2f} (best: `{best}`) "
        f"against a majority-class rate of {first['majority_rate'].mean():.2f} (the pools' fit "
        f"times: `{p.results_dir()}/timings.csv`). "
        f"The simulators built from the {len(first)} pools score realism distances "
        f"{first['realism_distance'].min():.3f} … {first['realism_distance'].max():.3f} and "
        f"held-out synthesis skill {first['synthesis_skill_heldout'].min():.4f} … "
        f"{first['synthesis_skill_heldout'].max():.4f}; the short RL runs trained in them return "
        f"{first['rl_return_pct'].min():.2f} … {first['rl_return_pct'].max():.2f} % on average "
        "over the backtests."
    )
