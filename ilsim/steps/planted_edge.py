"""The planted-edge study (rule ``planted_edge``, shown in notebook 06): does the learner
learn? DDPG, configured as the ``rl`` params, on planted markets whose best policy under the
fee is known exactly; one row per case and seed, as a fraction of that oracle. And the impact
known answer: trained with its own market impact, the learner trades more slowly and earns
more under that impact than trained without it. Its own rule so that it runs beside the
pipeline's trainings rather than after them."""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ilsim import data, regimes
from ilsim.params import Params, minutes_to_bars
from ilsim.plots.common import save_figure
from ilsim.plots.rl import plot_planted_edge, plot_planted_impact
from ilsim.report import write_table
from ilsim.run import Run
from ilsim.steps.training import ddpg_config

if TYPE_CHECKING:
    from ilsim.ddpg import DDPGConfig


def real_edge(p: Params, root: str | Path = ".") -> Any:
    """The planted market the real features could carry (:func:`ilsim.planted.edge_of_features`):
    a linear forecast of the next bar's return fitted on ``il_train`` bars, judged on the
    ``validation`` bars (or ``sim_train`` when there are none)."""
    run = Run(p, root)
    from ilsim import planted

    bars = run.bars()
    scaled = run.features().to_numpy(np.float64)
    segments = run.segments()
    nxt = np.r_[bars["close"].to_numpy()[1:] / bars["close"].to_numpy()[:-1] - 1, np.nan]
    same_day = np.r_[bars.index.date[1:] == bars.index.date[:-1], False]

    def rows(role: str) -> tuple[np.ndarray, np.ndarray]:
        m = regimes.role_mask(segments, len(bars), role) & same_day & np.isfinite(nxt)
        return scaled[m], nxt[m]

    test_role = "validation" if (segments["role"] == "validation").any() else "sim_train"
    return planted.edge_of_features(*rows("il_train"), *rows(test_role))


DRIFT_BP = 0.5  # bp per bar: a session's drift well above the 0.5 % fee
LONG_GAMMA = 0.999  # a horizon of about 1,000 bars, beside the paper's 0.99 (about 100)


def planted_learner(p: Params, seeds: tuple[int, ...]) -> DDPGConfig:
    """The planted checks' DDPG: the ``rl`` params at ``rl.planted_steps`` vector steps at most,
    selected every 250 steps on held-out planted paths, stopping after 8 evaluations without
    improvement but not before 2000 steps."""
    return ddpg_config(
        p, seeds, total_steps=p.rl.planted_steps, checkpoint_every=10**9, eval_every=250,
        patience=8, min_steps=2000,
    )  # fmt: skip


def planted_study(p: Params, root: str | Path = ".") -> pd.DataFrame:
    """Does the learner learn? The DDPG configuration of the ``rl`` params (the first two seeds,
    ``rl.planted_steps``, selection on held-out planted paths as set below) on planted markets
    with a known optimum: the one-bar reward, the old fill timing, the paper's reward window,
    the fee with a strong edge and with the edge the real features carry (also at
    ``backtest.low_fee``), and plain DDPG on the unscaled reward. One row per case and seed."""
    run = Run(p, root)
    from ilsim import ddpg, planted

    seeds = tuple(p.rl.seeds[:2])
    cfg = planted_learner(p, seeds)
    bars = run.bars()
    # the paper's window in bars, even when the run's own reward is one bar
    window = minutes_to_bars(p.market.reward_window_minutes, data.bar_minutes(bars))
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
    # A horizon that can see the fee (issue 25): no edge, a drift that pays for the fee within
    # an episode, so buy and hold is the optimum (the oracle); with gamma 0.99 the critic looks
    # about 100 bars ahead, where the drift earns about as much as the fee costs.
    holding = replace(base, edge_bp=0.0, drift_bp=DRIFT_BP, fee=fee)
    name = f"fee {fee:.2%}, drift {DRIFT_BP:g} bp/bar and no edge (buy and hold pays), gamma"
    steps = p.rl.planted_hold_steps or p.rl.planted_steps  # found late: its own budget, in full
    hold = replace(cfg, total_steps=steps, min_steps=steps)
    long = replace(hold, gamma=LONG_GAMMA)
    plain = replace(cfg, reward_scale=1.0, preact_penalty=0.0)  # plain DDPG on the reward
    studies = [  # (learner, cases): each study's rows carry its discount
        (cfg, cases),
        (hold, {f"{name} {hold.gamma:g}": holding}),
        (long, {f"{name} {long.gamma:g}": holding}),
        (plain, {"one-bar reward, unscaled (value change / initial value)": base}),
    ]
    return pd.concat(
        [
            planted.learner_study(partial(ddpg.train, cfg=c, progress=False), k, seeds).assign(
                gamma=c.gamma
            )
            for c, k in studies
        ],
        ignore_index=True,
    )


IMPACT_SEEDS = 3  # the impact known answer's seeds, the first of rl.seeds (default run: ~25 s)


def impact_study(p: Params) -> pd.DataFrame:
    """The impact known answer (:func:`ilsim.planted.impact_known_answer` on
    :data:`ilsim.planted.IMPACT_CASE`, the law fitted on real QQQ): the planted learner (the
    first ``IMPACT_SEEDS`` seeds, ``rl.planted_steps``) trained with and without its own impact,
    both judged under it. One row per arm and seed."""
    from ilsim import ddpg, planted

    seeds = tuple(p.rl.seeds[:IMPACT_SEEDS])
    train = partial(ddpg.train, cfg=planted_learner(p, seeds), progress=False)
    return planted.impact_known_answer(train, planted.IMPACT_CASE, seeds)


def write_planted_edge(p: Params, root: str | Path = ".") -> pd.DataFrame:
    """The rule's work: the study, its table ``planted_edge`` and figure ``fig_planted_edge``;
    the impact known answer, its table ``planted_impact`` and figure ``fig_planted_impact``."""
    study = planted_study(p, root)
    write_table(study, p.tables_dir(root), "planted_edge", floatfmt=".3g")
    fig = plot_planted_edge(study)
    save_figure(fig, p.figures_dir(root), "fig_planted_edge")
    plt.close(fig)
    known = impact_study(p)
    write_table(known, p.tables_dir(root), "planted_impact", floatfmt=".3g")
    fig = plot_planted_impact(known)
    save_figure(fig, p.figures_dir(root), "fig_planted_impact")
    plt.close(fig)
    return study
