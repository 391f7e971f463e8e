"""Step 6 (``ilsim train-policy``, notebook 06): DDPG agents trained inside the simulator
(final_rl), on static data (rl_baseline) and by imitation (il_baseline), chosen on
validation; their training summaries and the planted-edge and real-edge probes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ilsim import (
    backtest,
    data,
    regimes,
)
from ilsim.artifacts import artifact, policy_path
from ilsim.params import Params, minutes_to_bars
from ilsim.plots.rl import (
    plot_action_histograms,
    plot_planted_edge,
    plot_rl_diagnostics,
    plot_training_curves_rl,
)
from ilsim.steps.result import StepResult
from ilsim.steps.training import (  # the trainings live apart from the step's figures
    ddpg_config,
    validation_evaluator,
)
from ilsim.world import (
    bar_minutes,
    final_impact_mode,
)


def training_summary(p: Params, root: str | Path = ".") -> pd.DataFrame:
    """One row per DDPG policy (agent × seed): its budget (vector steps, env steps, updates),
    whether it stopped on a validation plateau, and the step and score it was selected at."""
    from ilsim import ddpg

    rows = []
    for agent in ("final_rl", "rl_baseline"):
        for seed in p.rl.seeds:
            rows.append(ddpg.load_policy(policy_path(p, agent, seed, root))[1])
    return pd.DataFrame(rows)


def validation_comparison(p: Params, root: str | Path = ".") -> pd.DataFrame:
    """Learned policies beside constant positions on the ``validation`` segments (static real
    prices, the backtest's rules): is a constant policy the honest optimum here? One row per
    strategy; ``val_log_growth`` is the mean over segments of log(V_T / V_0), as in selection."""
    from ilsim import ddpg

    score = validation_evaluator(p, root)
    if score is None:
        return pd.DataFrame()
    rows = []
    for agent in ("final_rl", "rl_baseline"):
        loaded = [ddpg.load_policy(policy_path(p, agent, s, root))[0] for s in p.rl.seeds]
        for s, v in zip(p.rl.seeds, score(ddpg.stack_actors(loaded)), strict=True):
            rows.append({"strategy": agent, "seed": s, "val_log_growth": float(v)})
    # Constant exposure c: buy c of the cash at the first decision (it fills at the second
    # close, the execution rule), then hold.
    bars = data.load_bars(artifact(p, "bars.parquet", root))
    segments = regimes.load_segments(artifact(p, "segments.csv", root))
    close = bars["close"].to_numpy()
    for c in (0.0, 0.25, 0.5, 0.75, 1.0):
        vals = []
        for a, b in regimes.role_ranges(segments, "validation"):
            res = backtest.run_backtest(
                close[a : b + 1],
                np.r_[c, np.zeros(b - a)],  # buy c of the cash at once, then hold
                initial_cash=p.backtest.initial_cash,
                fee=p.backtest.fee,
            )
            vals.append(np.log(res.value[0, -1] / p.backtest.initial_cash))
        rows.append(
            {"strategy": f"constant {c:.0%}", "seed": None, "val_log_growth": np.mean(vals)}
        )
    return pd.DataFrame(rows)


def real_edge(p: Params, root: str | Path = ".") -> Any:
    """The planted market the real features could carry (:func:`ilsim.planted.edge_of_features`):
    a linear forecast of the next bar's return fitted on ``il_train`` bars, judged on the
    ``validation`` bars (or ``sim_train`` when there are none)."""
    from ilsim import planted

    bars = data.load_bars(artifact(p, "bars.parquet", root))
    scaled = pd.read_parquet(artifact(p, "features.parquet", root)).to_numpy(np.float64)
    segments = regimes.load_segments(artifact(p, "segments.csv", root))
    nxt = np.r_[bars["close"].to_numpy()[1:] / bars["close"].to_numpy()[:-1] - 1, np.nan]
    same_day = np.r_[bars.index.date[1:] == bars.index.date[:-1], False]

    def rows(role: str) -> tuple[np.ndarray, np.ndarray]:
        m = regimes.role_mask(segments, len(bars), role) & same_day & np.isfinite(nxt)
        return scaled[m], nxt[m]

    test_role = "validation" if (segments["role"] == "validation").any() else "sim_train"
    return planted.edge_of_features(*rows("il_train"), *rows(test_role))


def run(p: Params, root: str | Path = ".") -> StepResult:
    """Step 6's report (the policies themselves are trained by rule ``train_policy``): training
    curves and diagnostics, budgets and selection, the policies beside constant positions on
    validation, and the planted-edge study; writes every output of rule ``train_rl``."""
    from ilsim import ddpg

    r = StepResult()
    curves = []
    for agent in ("final_rl", "rl_baseline"):
        for seed in p.rl.seeds:
            c = pd.read_csv(policy_path(p, agent, seed, root).with_suffix(".csv"))
            curves.append(c.assign(agent=agent, seed=seed))
    curves = pd.concat(curves, ignore_index=True)
    r.values.update(curves=curves, impact_mode=final_impact_mode(p, root))
    r.notes["check"] = (
        f"final RL trained in `{r.values['impact_mode']}` mode; seeds {list(p.rl.seeds)}\n"
        f"{p.rl.n_envs} envs per seed, at most {p.rl.total_steps} vector steps"
    )
    figs, tables = p.figures_dir(root), p.tables_dir(root)
    r.save_figure(plot_training_curves_rl(curves), figs, "fig_rl_training")
    r.save_figure(plot_rl_diagnostics(curves), figs, "fig_rl_diagnostics")
    r.save_figure(plot_action_histograms(curves), figs, "fig_rl_actions")
    fig = plot_action_histograms(curves, prefix="pre_", span=ddpg.PREACT_RANGE)
    r.save_figure(fig, figs, "fig_rl_preact")

    r.write_table(training_summary(p, root), tables, "rl_training", floatfmt=".4g")
    r.write_table(validation_comparison(p, root), tables, "rl_validation", floatfmt=".4g")

    study = planted_study(p, root)
    r.write_table(study, tables, "planted_edge", floatfmt=".3g")
    r.save_figure(plot_planted_edge(study), figs, "fig_planted_edge")

    il = pd.concat(
        [
            pd.read_csv(policy_path(p, "il_baseline", s, root).with_suffix(".csv")).assign(seed=s)
            for s in p.rl.seeds
        ]
    )
    r.tables["il_baseline"] = il.groupby("seed")[["train_mse", "val_mse"]].min()
    return r


def planted_study(p: Params, root: str | Path = ".") -> pd.DataFrame:
    """Does the learner learn? The DDPG configuration of the ``rl`` params (the first two seeds,
    ``rl.planted_steps``, selection on held-out planted paths as set below) on planted markets
    with a known optimum: the one-bar reward, the old fill timing, the paper's reward window,
    the fee with a strong edge and with the edge the real features carry (also at
    ``backtest.low_fee``), and plain DDPG on the unscaled reward. One row per case and seed."""
    from functools import partial

    from ilsim import ddpg, planted

    seeds = tuple(p.rl.seeds[:2])
    cfg = ddpg_config(
        p, seeds, total_steps=p.rl.planted_steps, checkpoint_every=10**9, eval_every=250,
        patience=8, min_steps=2000,
    )  # fmt: skip
    bars = data.load_bars(artifact(p, "bars.parquet", root))
    # the paper's window in bars, even when the run's own reward is one bar
    window = minutes_to_bars(p.market.reward_window_minutes, bar_minutes(bars))
    real = real_edge(p, root)
    base = planted.PlantedConfig(n_features=real.n_features)
    fee = p.backtest.fee
    cases = {
        "one-bar reward": base,
        "one-bar reward, filled at the decision's own close (the old backtest timing)": replace(
            base, fill="now"
        ),
        f"paper's window ({window} bars)": replace(base, reward_window_bars=window),
        f"fee {fee:.2%}, strong edge": replace(base, fee=fee, edge_bp=4.0, phi=0.995),
        f"fee {fee:.2%}, edge of the real features": replace(real, fee=fee),
    }
    low = p.backtest.low_fee
    if low is not None:
        cases[f"fee {low * 1e4:g} bp, edge of the real features"] = replace(real, fee=low)
    study = planted.learner_study(partial(ddpg.train, cfg=cfg, progress=False), cases, seeds)
    plain = replace(cfg, reward_scale=1.0, preact_penalty=0.0)  # plain DDPG on the reward
    unscaled = planted.learner_study(
        partial(ddpg.train, cfg=plain, progress=False),
        {"one-bar reward, unscaled (value change / initial value)": base},
        seeds,
    )
    return pd.concat([study, unscaled], ignore_index=True)
