"""Step 6 (``ilsim train-policy``, notebook 06): DDPG agents trained inside the simulator
(final_rl), on static data (rl_baseline) and by imitation (il_baseline), chosen on
validation; their training summaries, shown beside the planted-edge study
(:mod:`ilsim.steps.planted_edge`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ilsim import (
    backtest,
    regimes,
)
from ilsim.artifacts import best_policy_path, last_policy_path
from ilsim.params import Params
from ilsim.plots.rl import (
    plot_action_histograms,
    plot_planted_edge,
    plot_rl_diagnostics,
    plot_training_curves_rl,
)
from ilsim.run import Run
from ilsim.steps.result import StepResult, run_sections, table_section
from ilsim.steps.training import validation_evaluator  # trainings apart from the figures


def training_summary(p: Params, root: str | Path = ".") -> pd.DataFrame:
    """One row per DDPG policy (agent × seed): its budget (vector steps, env steps, updates),
    whether it stopped on a validation plateau, and the step and score it was selected at."""
    run = Run(p, root)
    from ilsim import ddpg

    rows = []
    for agent in ("final_rl", "rl_baseline"):
        for seed in p.rl.seeds:
            rows.append(ddpg.load_policy(run.policy_path(agent, seed))[1])
    return pd.DataFrame(rows)


def validation_comparison(p: Params, root: str | Path = ".") -> pd.DataFrame:
    """Learned policies beside constant positions on the ``validation`` segments (static real
    prices, the backtest's rules): is a constant policy the honest optimum here? One row per
    strategy; ``val_log_growth`` is the mean over segments of log(V_T / V_0), as in selection."""
    run = Run(p, root)
    from ilsim import ddpg

    score = validation_evaluator(run)
    if score is None:
        return pd.DataFrame()
    rows = []
    for agent in ("final_rl", "rl_baseline"):
        loaded = [ddpg.load_policy(run.policy_path(agent, s))[0] for s in p.rl.seeds]
        for s, v in zip(p.rl.seeds, score(ddpg.stack_actors(loaded)), strict=True):
            rows.append({"strategy": agent, "seed": s, "val_log_growth": float(v)})
    # Constant exposure c: buy c of the cash at the first decision (it fills at the second
    # close, the execution rule), then hold.
    bars = run.bars()
    segments = run.segments()
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


def selection_table(p: Params, root: str | Path = ".") -> pd.DataFrame:
    """The winner's curse (issue 25): each DDPG seed's best validation checkpoint beside the
    training's last one, scored on the validation segments (where the selection looked) and on
    the held-out ``backtest`` segments (where it did not), both as mean log growth in the
    static backtest; ``saved`` marks the one ``rl.selection`` keeps. On the best row,
    ``val_gain`` is what picking it gained over the last checkpoint on validation,
    ``heldout_gain`` the same on the held-out segments and ``curse`` = val_gain −
    heldout_gain: the part of the selection's gain that does not carry over (the segments' own
    difference cancels)."""
    run = Run(p, root)
    from ilsim import ddpg

    val, held = validation_evaluator(run), validation_evaluator(run, role="backtest")
    if val is None or held is None:
        return pd.DataFrame()
    where = {"best": best_policy_path, "last": last_policy_path}
    rows = []
    for agent in ("final_rl", "rl_baseline"):
        for checkpoint, path_of in where.items():
            paths = [path_of(run.policy_path(agent, s)) for s in p.rl.seeds]
            loaded = [ddpg.load_policy(x) for x in paths]
            actor = ddpg.stack_actors([a for a, _ in loaded])
            scores = zip(p.rl.seeds, loaded, val(actor), held(actor), strict=True)
            for seed, (_, meta), v, h in scores:
                rows.append(
                    {
                        "agent": agent,
                        "seed": seed,
                        "checkpoint": checkpoint,
                        "saved": checkpoint == p.rl.selection,
                        "step": int(meta["step"]),
                        "val_score": float(v),
                        "heldout_score": float(h),
                    }
                )
    out = pd.DataFrame(rows)
    key = ["agent", "seed"]
    last = out[out["checkpoint"] == "last"].set_index(key)
    best = out[out["checkpoint"] == "best"].set_index(key)
    gains = pd.DataFrame(
        {
            "val_gain": best["val_score"] - last["val_score"],
            "heldout_gain": best["heldout_score"] - last["heldout_score"],
        }
    )
    gains["curse"] = gains["val_gain"] - gains["heldout_gain"]
    gains["checkpoint"] = "best"
    return out.merge(gains.reset_index(), on=[*key, "checkpoint"], how="left")


def _curves(p: Params, root: str | Path = ".") -> pd.DataFrame:
    """Every DDPG policy's training curve (agent × seed), as rule ``train_policy`` wrote it."""
    run = Run(p, root)
    curves = []
    for agent in ("final_rl", "rl_baseline"):
        for seed in p.rl.seeds:
            c = pd.read_csv(run.policy_path(agent, seed).with_suffix(".csv"))
            curves.append(c.assign(agent=agent, seed=seed))
    return pd.concat(curves, ignore_index=True)


def training_curves(p: Params, root: str | Path = ".") -> StepResult:
    """Section 1: the DDPG agents' training curves (the policies: rule ``train_policy``)."""
    run = Run(p, root)
    r = StepResult()
    curves = _curves(p, root)
    r.values.update(curves=curves, impact_mode=run.final_impact())
    r.notes["check"] = (
        f"final RL trained in `{r.values['impact_mode']}` mode; seeds {list(p.rl.seeds)}\n"
        f"{p.rl.n_envs} envs per seed, at most {p.rl.total_steps} vector steps"
    )
    r.save_figure(plot_training_curves_rl(curves), p.figures_dir(root), "fig_rl_training")
    return r


def diagnostics(p: Params, root: str | Path = ".") -> StepResult:
    """Section 2: critic, actor and action diagnostics along the trainings."""
    r = StepResult()
    from ilsim import ddpg

    curves, figs = _curves(p, root), p.figures_dir(root)
    r.save_figure(plot_rl_diagnostics(curves), figs, "fig_rl_diagnostics")
    r.save_figure(plot_action_histograms(curves), figs, "fig_rl_actions")
    fig = plot_action_histograms(curves, prefix="pre_", span=ddpg.PREACT_RANGE)
    r.save_figure(fig, figs, "fig_rl_preact")
    return r


def budgets(p: Params, root: str | Path = ".") -> StepResult:
    """Section 3: each policy's budget, stop and selection."""
    return table_section(training_summary(p, root), p.tables_dir(root), "rl_training")


def validation_constants(p: Params, root: str | Path = ".") -> StepResult:
    """Section 4: the learned policies beside constant positions on the validation segments."""
    return table_section(validation_comparison(p, root), p.tables_dir(root), "rl_validation")


def winners_curse(p: Params, root: str | Path = ".") -> StepResult:
    """Section 5: best on validation vs the training's last actor, on validation and held out."""
    return table_section(selection_table(p, root), p.tables_dir(root), "selection")


def planted_edges(p: Params, root: str | Path = ".") -> StepResult:
    """Section 6: does the learner learn? The planted-edge study and the impact known answer,
    made by rule ``planted_edge`` (:mod:`ilsim.steps.planted_edge`): shown from their tables,
    the figure redrawn for the notebook (the rule saved it)."""
    import matplotlib.pyplot as plt

    r = StepResult()
    study = pd.read_csv(p.tables_dir(root) / "planted_edge.csv")
    r.tables["planted_edge"] = study
    fig = plot_planted_edge(study)
    plt.close(fig)  # shown by its own cell, not again at the end of this one
    r.figures["fig_planted_edge"] = fig
    r.tables["planted_impact"] = pd.read_csv(p.tables_dir(root) / "planted_impact.csv")
    return r


def il_baseline(p: Params, root: str | Path = ".") -> StepResult:
    """Section 7: the IL baseline's best train and validation error per seed."""
    run = Run(p, root)
    r = StepResult()
    il = pd.concat(
        [
            pd.read_csv(run.policy_path("il_baseline", s).with_suffix(".csv")).assign(seed=s)
            for s in p.rl.seeds
        ]
    )
    r.tables["il_baseline"] = il.groupby("seed")[["train_mse", "val_mse"]].min()
    return r


SECTIONS = (
    training_curves, diagnostics, budgets, validation_constants, winners_curse, planted_edges,
    il_baseline,
)  # fmt: skip


def run(p: Params, root: str | Path = ".") -> StepResult:
    """Step 6's report, its notebook's sections in order (the policies themselves are trained
    by rule ``train_policy``): training curves and diagnostics, budgets and selection, the
    policies beside constant positions on validation, the planted-edge study (made by rule
    ``planted_edge``) and the IL baseline; writes every output of rule ``train_rl``."""
    return run_sections(SECTIONS, p, root)
